package storetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/chronicle-go/chronicle/eventstore"
)

// testConcurrency checks appends racing each other (run it under -race).
func (s *suite) testConcurrency(t *testing.T) {
	s.run(t, "ExactRace", s.exactRace)
	s.run(t, "OptimisticRetry", s.optimisticRetry)
	s.run(t, "ManyStreams", s.manyStreams)
	s.run(t, "Linearizable", s.linearizable)
}

// exactRace has 32 goroutines append to one stream with the same Exact
// expectation, round after round: exactly one wins each revision, every
// loser sees the winner's revision, and revisions stay dense.
func (s *suite) exactRace(e *env) {
	const goroutines, rounds = 32, 12
	const stream = "order-1"
	var winners []uuid.UUID
	for r := range rounds {
		expected := eventstore.NoStream
		if r > 0 {
			expected = eventstore.Exact(uint64(r - 1))
		}
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			mu    sync.Mutex
			wins  []uuid.UUID
			errs  []error
		)
		for range goroutines {
			ev := newEvent("Raced")
			wg.Go(func() {
				<-start
				res, err := e.s.Append(e.ctx, stream, expected, ev)
				mu.Lock()
				defer mu.Unlock()
				var wev *eventstore.WrongExpectedVersionError
				switch {
				case err == nil:
					if res.Next != eventstore.Exact(uint64(r)) {
						errs = append(errs, fmt.Errorf("winner got Next %v, want %d", res.Next, r))
					}
					wins = append(wins, ev.ID)
				case errors.As(err, &wev):
					if wev.Actual != eventstore.Exact(uint64(r)) || wev.Expected != expected || wev.Stream != stream {
						errs = append(errs, fmt.Errorf("loser got %+v, want actual %d", *wev, r))
					}
				default:
					errs = append(errs, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			e.t.Fatalf("round %d: %v", r, err)
		}
		if len(wins) != 1 {
			e.t.Fatalf("round %d (expected %v): %d appends succeeded, want exactly 1", r, expected, len(wins))
		}
		winners = append(winners, wins[0])
	}
	got := e.mustRead(stream, eventstore.ReadOptions{})
	if len(got) != rounds {
		e.t.Fatalf("stream holds %s, want %d events", revisions(got), rounds)
	}
	for i, ev := range got {
		if ev.Revision != uint64(i) || ev.ID != winners[i] {
			e.t.Fatalf("revision %d holds %v@%d, want the winner %v", i, ev.ID, ev.Revision, winners[i])
		}
	}
}

// optimisticRetry has goroutines each write events to one stream with
// Exact, retrying from the actual revision a conflict reports: every
// acknowledged event is at the revision its append returned, and revisions
// are dense.
func (s *suite) optimisticRetry(e *env) {
	const goroutines, each = 16, 4
	const stream = "order-1"
	type ack struct {
		id  uuid.UUID
		rev uint64
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		acks []ack
		errs []error
	)
	for g := range goroutines {
		wg.Go(func() {
			expected := eventstore.NoStream
			for written := 0; written < each; {
				ev := newEvent("Retried")
				res, err := e.s.Append(e.ctx, stream, expected, ev)
				var wev *eventstore.WrongExpectedVersionError
				switch {
				case err == nil:
					rev, _ := res.Next.Revision()
					mu.Lock()
					acks = append(acks, ack{ev.ID, rev})
					mu.Unlock()
					expected = res.Next
					written++
				case errors.As(err, &wev):
					if wev.Actual == expected {
						mu.Lock()
						errs = append(errs, fmt.Errorf("goroutine %d: wrong expected version with actual = expected = %v", g, expected))
						mu.Unlock()
						return
					}
					expected = wev.Actual
				default:
					mu.Lock()
					errs = append(errs, fmt.Errorf("goroutine %d: %w", g, err))
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		e.t.Fatal(err)
	}
	got := e.mustRead(stream, eventstore.ReadOptions{})
	if len(got) != goroutines*each {
		e.t.Fatalf("stream holds %d events, want %d", len(got), goroutines*each)
	}
	for i, ev := range got {
		if ev.Revision != uint64(i) {
			e.t.Fatalf("event %d has revision %d", i, ev.Revision)
		}
	}
	for _, a := range acks {
		if a.rev >= uint64(len(got)) || got[a.rev].ID != a.id {
			e.t.Fatalf("acknowledged event %v at revision %d is not there", a.id, a.rev)
		}
	}
}

// manyStreams has goroutines append to many streams while a reader tails
// $all: positions are strictly increasing, every acknowledged append is in
// $all, contiguous and where its result said, each stream's revisions are
// dense, and no event ever appears behind the tailing reader (a gap that
// fills later).
func (s *suite) manyStreams(e *env) {
	const writers, appends, streams = 16, 25, 8
	mark := e.head()
	type ack struct {
		stream string
		events []eventstore.EventData
		res    eventstore.AppendResult
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		acks    []ack
		errs    []error
		writing atomic.Bool
	)
	writing.Store(true)
	for w := range writers {
		wg.Go(func() {
			for i := range appends {
				stream := fmt.Sprintf("order-%d", (w*appends+i)%streams)
				evs := newEvents(1+(w+i)%3, "Many")
				res, err := e.s.Append(e.ctx, stream, eventstore.Any, evs...)
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Errorf("writer %d: %w", w, err))
				} else {
					acks = append(acks, ack{stream, evs, res})
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	// The tailer reads forwards from the last position it saw until the
	// writers are done, then once more.
	var tailed []eventstore.RecordedEvent
	var tailErr error
	tailDone := make(chan struct{})
	go func() {
		defer close(tailDone)
		last := mark
		for {
			more := writing.Load()
			for ev, err := range e.s.ReadAll(e.ctx, eventstore.ReadAllOptions{From: after(last)}) {
				if err != nil {
					tailErr = err
					return
				}
				if ev.Position.Compare(last) <= 0 {
					continue
				}
				tailed = append(tailed, ev)
				last = ev.Position
			}
			if !more {
				return
			}
		}
	}()
	wg.Wait()
	writing.Store(false)
	<-tailDone
	if err := errors.Join(append(errs, tailErr)...); err != nil {
		e.t.Fatal(err)
	}

	all := e.readAllAfter(mark, nil)
	increasing(e.t, "$all", all)
	samePositions(e.t, "what the tailing reader saw vs. the final $all", tailed, all)
	index := make(map[eventstore.Position]int, len(all))
	for i, ev := range all {
		index[ev.Position] = i
	}
	total := 0
	for _, a := range acks {
		n := len(a.events)
		total += n
		end, ok := index[a.res.Position]
		if !ok {
			e.t.Fatalf("append to %s acknowledged at %v is not in $all", a.stream, a.res.Position)
		}
		last, _ := a.res.Next.Revision()
		for j := range n {
			ev := all[end-n+1+j]
			if ev.Stream != a.stream || ev.ID != a.events[j].ID || ev.Revision != last-uint64(n-1-j) {
				e.t.Fatalf("append of %d events to %s (result %+v): $all holds %s@%d where its event %d should be", n, a.stream, a.res, ev.Stream, ev.Revision, j)
			}
		}
	}
	if total != len(all) {
		e.t.Fatalf("$all holds %d new events, %d were acknowledged", len(all), total)
	}
	next := map[string]uint64{}
	for _, ev := range all {
		if ev.Revision != next[ev.Stream] {
			e.t.Fatalf("%s@%d follows revision %d in $all", ev.Stream, ev.Revision, next[ev.Stream])
		}
		next[ev.Stream]++
	}
}
