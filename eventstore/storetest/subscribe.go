package storetest

import (
	"fmt"
	"iter"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/chronicle-go/chronicle/eventstore"
)

// testSubscribe checks catch-up subscriptions: start points, the switch to
// live delivery, metadata, deletes, and load.
func (s *suite) testSubscribe(t *testing.T) {
	t.Run("Stream", s.subscribeStream)
	t.Run("All", s.subscribeAll)
	t.Run("Load", s.subscribeLoad)
}

func (s *suite) subscribeStream(t *testing.T) {
	s.run(t, "FromStart", func(e *env) {
		evs := e.seed("order-1", 5)
		e.seed("order-2", 2)
		sub := e.subscribeStream("order-1", eventstore.SubscribeOptions{})
		wantStream(e.t, "catch-up", sub.caughtUp(), "order-1", 0, false, evs)
		more := newEvents(3, "Live")
		e.append("order-2", eventstore.Any, newEvent("Other"))
		e.append("order-1", eventstore.Exact(4), more...)
		wantStream(e.t, "live", sub.events(3), "order-1", 5, false, more)
	})
	s.run(t, "FromRevision", func(e *env) {
		evs := e.seed("order-1", 5)
		sub := e.subscribeStream("order-1", eventstore.SubscribeOptions{From: eventstore.FromRevision(2)})
		wantStream(e.t, "catch-up from revision 2 (exclusive)", sub.caughtUp(), "order-1", 3, false, evs[3:])
		more := newEvents(2, "Live")
		e.append("order-1", eventstore.Any, more...)
		wantStream(e.t, "live", sub.events(2), "order-1", 5, false, more)
	})
	s.run(t, "FromLastRevision", func(e *env) {
		e.seed("order-1", 3)
		e.wantNothingThenLive(e.subscribeStream("order-1", eventstore.SubscribeOptions{From: eventstore.FromRevision(2)}), "order-1", 3, 1)
	})
	s.run(t, "FromRevisionAhead", func(e *env) {
		// Nothing at or before the start revision is delivered, even when it
		// is written after the subscription started.
		e.seed("order-1", 3)
		sub := e.subscribeStream("order-1", eventstore.SubscribeOptions{From: eventstore.FromRevision(5)})
		if got := sub.caughtUp(); len(got) > 0 {
			e.t.Fatalf("caught up with %s, want nothing", revisions(got))
		}
		more := newEvents(5, "Live") // revisions 3..7
		e.append("order-1", eventstore.Any, more...)
		wantStream(e.t, "live after revision 5", sub.events(2), "order-1", 6, false, more[3:])
	})
	s.run(t, "FromEnd", func(e *env) {
		e.seed("order-1", 5)
		e.wantNothingThenLive(e.subscribeStream("order-1", eventstore.SubscribeOptions{From: eventstore.End}), "order-1", 5, 2)
	})
	for _, from := range []eventstore.From{eventstore.Start, eventstore.End} {
		s.run(t, "NotYetExisting/"+from.String(), func(e *env) {
			sub := e.subscribeStream("order-1", eventstore.SubscribeOptions{From: from})
			e.seed("order-2", 1)
			e.wantNothingThenLive(sub, "order-1", 0, 3)
		})
	}
	s.run(t, "SoftDeleted", func(e *env) {
		e.seed("order-1", 3)
		if _, err := e.s.Delete(e.ctx, "order-1", eventstore.Any); err != nil {
			e.t.Fatalf("Delete: %v", err)
		}
		e.wantNothingThenLive(e.subscribeStream("order-1", eventstore.SubscribeOptions{}), "order-1", 3, 2)
	})
	s.run(t, "DeletedWhileLive", func(e *env) {
		e.seed("order-1", 2)
		sub := e.subscribeStream("order-1", eventstore.SubscribeOptions{})
		sub.caughtUp()
		if _, err := e.s.Delete(e.ctx, "order-1", eventstore.Any); err != nil {
			e.t.Fatalf("Delete: %v", err)
		}
		evs := newEvents(2, "Again")
		e.append("order-1", eventstore.Any, evs...)
		wantStream(e.t, "live after delete and recreation", sub.events(2), "order-1", 2, false, evs)
	})
	metadata := []struct {
		name  string
		meta  eventstore.StreamMetadata
		first uint64
	}{
		{"MaxCount", eventstore.StreamMetadata{MaxCount: 3}, 7},
		{"TruncateBefore", eventstore.StreamMetadata{TruncateBefore: 6}, 6},
	}
	for _, m := range metadata {
		s.run(t, m.name, func(e *env) {
			evs := e.seed("order-1", 10)
			e.setMetadata("order-1", eventstore.NoStream, m.meta)
			sub := e.subscribeStream("order-1", eventstore.SubscribeOptions{})
			wantStream(e.t, "catch-up under "+m.name, sub.caughtUp(), "order-1", m.first, false, evs[m.first:])
			more := newEvents(2, "Live")
			e.append("order-1", eventstore.Any, more...)
			wantStream(e.t, "live", sub.events(2), "order-1", 10, false, more)
		})
	}
	s.run(t, "TombstonedWhileLive", func(e *env) {
		e.seed("order-1", 2)
		sub := e.subscribeStream("order-1", eventstore.SubscribeOptions{})
		sub.caughtUp()
		if _, err := e.s.Tombstone(e.ctx, "order-1", eventstore.Any); err != nil {
			e.t.Fatalf("Tombstone: %v", err)
		}
		// EventStoreDB delivers the $streamDeleted record, then ends.
		err := sub.wantEnd(eventstore.ErrStreamDeleted, func(m eventstore.Message) bool {
			return m.Kind != eventstore.MessageEvent || (m.Event.Type == eventstore.StreamDeletedEventType && m.Event.Stream == "order-1")
		})
		wantDeleted(e.t, "live subscription to a stream being tombstoned", err, "order-1")
	})
	s.run(t, "IsLazy", func(e *env) {
		// From End means from when the loop starts, not from the call.
		seq := e.s.SubscribeToStream(e.ctx, "order-1", eventstore.SubscribeOptions{From: eventstore.End})
		e.seed("order-1", 1)
		// A subscription that started at the call would deliver revision 0.
		e.wantNothingThenLive(e.pull("SubscribeToStream(order-1, end)", false, func() {}, seq), "order-1", 1, 1)
	})
	s.run(t, "ConsumerWrites", func(e *env) {
		// A consumer may write to the store from inside its loop, during
		// catch-up and live, without deadlocking the subscription.
		e.seed("order-1", 3)
		e.consumerWrites(e.subscribeStream("order-1", eventstore.SubscribeOptions{}), 6)
	})
}

// wantNothingThenLive checks sub catches up without an event, then delivers
// n events appended to stream, at revisions first, first+1, ….
func (e *env) wantNothingThenLive(sub *subscription, stream string, first uint64, n int) {
	e.t.Helper()
	if got := sub.caughtUp(); len(got) > 0 {
		e.t.Fatalf("%s caught up with %s, want nothing", sub.name, revisions(got))
	}
	more := newEvents(n, "Live")
	e.append(stream, eventstore.Any, more...)
	wantStream(e.t, sub.name+": live", sub.events(n), stream, first, false, more)
}

// consumerWrites reads n events of order-1 from sub and, from inside the
// loop, appends one more to order-1 for each of the first three: the
// subscription must neither deadlock nor miss them.
func (e *env) consumerWrites(sub *subscription, n int) {
	e.t.Helper()
	for i := range n {
		ev := sub.event()
		if ev.Stream != "order-1" || ev.Revision != uint64(i) {
			e.t.Fatalf("%s: event %d is %s@%d, want order-1@%d", sub.name, i, ev.Stream, ev.Revision, i)
		}
		if i >= 3 {
			continue
		}
		var err error
		within(e.t, e.f.timeout()/2, "Append from inside a subscription loop", func() {
			_, err = e.s.Append(e.ctx, "order-1", eventstore.Any, newEvent("Reaction"))
		})
		if err != nil {
			e.t.Fatalf("Append from inside a subscription loop: %v", err)
		}
	}
}

func (s *suite) subscribeAll(t *testing.T) {
	// populate writes to a few streams, plus metadata, after mark.
	populate := func(e *env) (mark eventstore.Position, all []eventstore.RecordedEvent) {
		mark = e.head()
		e.seed("order-1", 3)
		e.seed("invoice-1", 2)
		e.setMetadata("order-1", eventstore.Any, eventstore.StreamMetadata{MaxCount: 1})
		e.seed("order-2", 2)
		return mark, e.readAllAfter(mark, nil)
	}
	// live appends a few events and checks the subscription delivers all of
	// them, system ones included.
	live := func(e *env, sub *subscription) {
		mark := e.head()
		e.seed("order-3", 2)
		e.setMetadata("order-3", eventstore.Any, eventstore.StreamMetadata{MaxCount: 5})
		if _, err := e.s.Tombstone(e.ctx, "order-2", eventstore.Any); err != nil {
			e.t.Fatalf("Tombstone: %v", err)
		}
		want := e.readAllAfter(mark, nil)
		samePositions(e.t, "live $all", sub.events(len(want)), want)
	}
	s.run(t, "FromStart", func(e *env) {
		populate(e)
		all := e.readAll(eventstore.ReadAllOptions{})
		sub := e.subscribeAll(eventstore.SubscribeAllOptions{})
		got := sub.caughtUp()
		samePositions(e.t, "catch-up from Start", got, all)
		if n := len(got); n > 0 && sub.caughtUpAt != got[n-1].Position {
			e.t.Fatalf("CaughtUp position %v, want the last event examined, %v", sub.caughtUpAt, got[n-1].Position)
		}
		live(e, sub)
	})
	s.run(t, "FromPosition", func(e *env) {
		_, all := populate(e)
		for _, k := range []int{0, 3, len(all) - 1} {
			sub := e.subscribeAll(eventstore.SubscribeAllOptions{From: eventstore.FromPosition(all[k].Position)})
			samePositions(e.t, fmt.Sprintf("catch-up from the position of event %d (exclusive)", k), sub.caughtUp(), all[k+1:])
			if k == len(all)-1 {
				live(e, sub)
			}
			sub.close()
		}
	})
	s.run(t, "FromEnd", func(e *env) {
		populate(e)
		sub := e.subscribeAll(eventstore.SubscribeAllOptions{From: eventstore.End})
		if got := sub.caughtUp(); len(got) > 0 {
			e.t.Fatalf("a subscription from End caught up with %s, want nothing", revisions(got))
		}
		live(e, sub)
	})
	s.run(t, "IsLazy", func(e *env) {
		seq := e.s.SubscribeToAll(e.ctx, eventstore.SubscribeAllOptions{From: eventstore.End})
		e.seed("order-1", 1)
		sub := e.pull("SubscribeToAll(end)", false, func() {}, seq)
		if got := sub.caughtUp(); len(got) > 0 {
			e.t.Fatalf("a subscription from End ranged after an append delivered %s: it started before it was ranged", revisions(got))
		}
		live(e, sub)
	})
	filters := []*eventstore.Filter{
		eventstore.StreamPrefixFilter("order-", "$$"),
		eventstore.EventTypePrefixFilter("$"),
		eventstore.StreamRegexFilter(`^invoice|-3$`),
		eventstore.EventTypeRegexFilter(`^Seeded$`),
		eventstore.ExcludeSystemEventsFilter(),
	}
	for i, f := range filters {
		s.run(t, fmt.Sprintf("Filtered/%d", i), func(e *env) {
			mark, _ := populate(e)
			want := e.readAllAfter(mark, f)
			sub := e.subscribeAll(eventstore.SubscribeAllOptions{From: after(mark), Filter: f})
			samePositions(e.t, "filtered catch-up", sub.caughtUp(), want)
			mark = e.head()
			e.seed("order-3", 2)
			e.seed("invoice-2", 1)
			e.setMetadata("invoice-2", eventstore.Any, eventstore.StreamMetadata{MaxCount: 5})
			if _, err := e.s.Tombstone(e.ctx, "order-2", eventstore.Any); err != nil {
				e.t.Fatalf("Tombstone: %v", err)
			}
			e.seed("order-4", 1)
			want = e.readAllAfter(mark, f)
			samePositions(e.t, "filtered live", sub.events(len(want)), want)
		})
	}
	s.run(t, "ConsumerWrites", func(e *env) {
		mark := e.head()
		e.seed("order-1", 2)
		sub := e.subscribeAll(eventstore.SubscribeAllOptions{From: after(mark), Filter: eventstore.StreamPrefixFilter("order-")})
		e.consumerWrites(sub, 5)
	})
}

// loadSize is how many events the load tests append: thousands, or a few
// hundred with -short.
func loadSize() int {
	if testing.Short() {
		return 400
	}
	return 3000
}

// appendConcurrently appends n events to streams from the given number of
// goroutines, in batches of 1 to 3 events with Any, and reports the first
// failure.
func (e *env) appendConcurrently(streams []string, writers, n int) error {
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	var next atomic.Int64
	for w := range writers {
		wg.Go(func() {
			for i := 0; ; i++ {
				size := 1 + (w+i)%3
				end := next.Add(int64(size))
				if end-int64(size) >= int64(n) {
					return
				}
				size -= int(max(0, end-int64(n)))
				stream := streams[(w+i)%len(streams)]
				if _, err := e.s.Append(e.ctx, stream, eventstore.Any, newEvents(size, "Load")...); err != nil {
					errs <- fmt.Errorf("writer %d: append to %s: %w", w, stream, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// switchUnderLoad runs subscribers while writers append to streams without
// pause, so that every switch from catch-up to live races appends. The
// subscribers start one by one as the writers make progress, and the
// writers stop only once every subscriber is live (or after a cap). A last
// event to streams[0] then marks the end: each subscriber reads up to it.
// filtered says the subscription has a filter (and may yield checkpoints).
// It returns what each subscriber received and what stored returns then.
func (e *env) switchUnderLoad(streams []string, filtered bool, subscribe func() iter.Seq2[eventstore.Message, error], stored func() []eventstore.RecordedEvent) (got [][]eventstore.RecordedEvent, all []eventstore.RecordedEvent) {
	e.t.Helper()
	const subscribers, writers = 4, 8
	n := loadSize()
	e.seed(streams[0], n/10)

	// Writers: subscriber i starts when started[i] closes, after
	// i×n/subscribers events; they stop when every subscriber is live.
	started := make([]chan struct{}, subscribers)
	for i := range started {
		started[i] = make(chan struct{})
	}
	close(started[0])
	var (
		written  atomic.Int64
		liveSubs atomic.Int64
		wg       sync.WaitGroup
		errs     = make(chan error, writers+subscribers)
		sentinel = newEvent("Sentinel")
	)
	for w := range writers {
		wg.Go(func() {
			for i := 0; liveSubs.Load() < subscribers && written.Load() < int64(50*n); i++ {
				size := 1 + (w+i)%3
				stream := streams[(w+i)%len(streams)]
				if _, err := e.s.Append(e.ctx, stream, eventstore.Any, newEvents(size, "Load")...); err != nil {
					errs <- fmt.Errorf("writer %d: append to %s: %w", w, stream, err)
					return
				}
				now := written.Add(int64(size))
				for k := 1; k < subscribers; k++ {
					if before := now - int64(size); before < int64(k*n/subscribers) && now >= int64(k*n/subscribers) {
						close(started[k])
					}
				}
			}
		})
	}
	got = make([][]eventstore.RecordedEvent, subscribers)
	var subs sync.WaitGroup
	for i := range subscribers {
		subs.Go(func() {
			select {
			case <-started[i]:
			case <-e.ctx.Done():
				return
			}
			p := protocol{filtered: filtered}
			counted := false
			for m, err := range subscribe() {
				if err != nil {
					errs <- fmt.Errorf("subscriber %d: after %d events: %w", i, len(got[i]), err)
					break
				}
				if err := p.check(m); err != nil {
					errs <- fmt.Errorf("subscriber %d: %w", i, err)
					break
				}
				if m.Kind != eventstore.MessageEvent {
					continue
				}
				got[i] = append(got[i], m.Event)
				if m.Event.ID == sentinel.ID {
					break
				}
				if p.live && !counted {
					counted = true
					liveSubs.Add(1)
				}
			}
			if !counted { // let the writers stop anyway
				liveSubs.Add(1)
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		e.t.Fatal(err)
	default:
	}
	// The writers stopped: close any start gate they did not reach, and
	// mark the end.
	for k := 1; k < subscribers; k++ {
		if written.Load() < int64(k*n/subscribers) {
			close(started[k])
		}
	}
	e.append(streams[0], eventstore.Any, sentinel)
	within(e.t, e.f.timeout()/2, "every subscriber receives the last event appended", subs.Wait)
	close(errs)
	if err := <-errs; err != nil {
		e.t.Fatal(err)
	}
	return got, stored()
}

func (s *suite) subscribeLoad(t *testing.T) {
	s.run(t, "StreamSwitchUnderLoad", func(e *env) {
		got, stored := e.switchUnderLoad([]string{"order-1"}, false,
			func() iter.Seq2[eventstore.Message, error] {
				return e.s.SubscribeToStream(e.ctx, "order-1", eventstore.SubscribeOptions{})
			},
			func() []eventstore.RecordedEvent { return e.mustRead("order-1", eventstore.ReadOptions{}) })
		for i, evs := range got {
			samePositions(e.t, fmt.Sprintf("subscriber %d vs. ReadStream", i), evs, stored)
		}
		for i, ev := range stored {
			if ev.Revision != uint64(i) {
				e.t.Fatalf("event %d has revision %d", i, ev.Revision)
			}
		}
	})
	s.run(t, "AllSwitchUnderLoad", func(e *env) {
		mark := e.head()
		got, stored := e.switchUnderLoad([]string{"order-1", "order-2", "order-3", "invoice-1"}, false,
			func() iter.Seq2[eventstore.Message, error] {
				return e.s.SubscribeToAll(e.ctx, eventstore.SubscribeAllOptions{From: after(mark)})
			},
			func() []eventstore.RecordedEvent { return e.readAllAfter(mark, nil) })
		for i, evs := range got {
			samePositions(e.t, fmt.Sprintf("subscriber %d vs. ReadAll", i), evs, stored)
		}
	})
	s.run(t, "FilteredSwitchUnderLoad", func(e *env) {
		mark := e.head()
		f := eventstore.StreamPrefixFilter("order-")
		got, stored := e.switchUnderLoad([]string{"order-1", "invoice-1", "invoice-2", "order-2"}, true,
			func() iter.Seq2[eventstore.Message, error] {
				return e.s.SubscribeToAll(e.ctx, eventstore.SubscribeAllOptions{From: after(mark), Filter: f})
			},
			func() []eventstore.RecordedEvent { return e.readAllAfter(mark, f) })
		for i, evs := range got {
			samePositions(e.t, fmt.Sprintf("subscriber %d vs. filtered ReadAll", i), evs, stored)
		}
	})
	s.run(t, "SlowConsumer", func(e *env) {
		// Subscribers that do not read while thousands of events are
		// appended get every one of them afterwards.
		n := loadSize()
		mark := e.head()
		all := e.subscribeAll(eventstore.SubscribeAllOptions{From: eventstore.End})
		one := e.subscribeStream("order-1", eventstore.SubscribeOptions{From: eventstore.End})
		filtered := e.subscribeAll(eventstore.SubscribeAllOptions{From: eventstore.End, Filter: eventstore.StreamPrefixFilter("order-1")})
		for _, sub := range []*subscription{all, one, filtered} {
			if got := sub.caughtUp(); len(got) > 0 {
				e.t.Fatalf("%s caught up with %s, want nothing", sub.name, revisions(got))
			}
		}
		if err := e.appendConcurrently([]string{"order-1", "order-2"}, 8, n); err != nil {
			e.t.Fatal(err)
		}
		stored := e.readAllAfter(mark, nil)
		samePositions(e.t, "slow $all subscriber", all.events(len(stored)), stored)
		ones := e.mustRead("order-1", eventstore.ReadOptions{})
		samePositions(e.t, "slow stream subscriber", one.events(len(ones)), ones)
		samePositions(e.t, "slow filtered subscriber", filtered.events(len(ones)), ones)
		e.t.Run("SignalsFellBehind", func(t *testing.T) {
			switch {
			case !e.f.FallsBehind:
				t.Skip("the backend does not declare Features.FallsBehind")
			case testing.Short():
				t.Skip("-short appends too few events to make Features.FallsBehind certain")
			}
			// The stream subscriber is not required to: a backend may queue
			// only its own stream's events for it, and order-1 alone may fit
			// its queue. That it lost nothing is checked above.
			for _, sub := range []*subscription{all, filtered} {
				if sub.fellBehind == 0 {
					t.Errorf("%s never yielded MessageFellBehind after %d unread events", sub.name, n)
				}
			}
		})
		// Live again afterwards.
		more := e.seed("order-1", 1)
		for _, sub := range []*subscription{all, one, filtered} {
			if ev := sub.event(); ev.ID != more[0].ID {
				e.t.Fatalf("%s delivered %s@%d after catching up, want the new event", sub.name, ev.Stream, ev.Revision)
			}
		}
	})
}
