package storetest

import (
	"fmt"
	"testing"

	"github.com/chronicle-go/chronicle/eventstore"
)

// testCheckpoints checks the Checkpoint messages of filtered $all
// subscriptions: during catch-up one per CheckpointInterval examined events
// and one right before CaughtUp, at positions that never decrease, never
// pass the last examined event, and never skip an event that matches.
func (s *suite) testCheckpoints(t *testing.T) {
	for _, c := range []struct {
		name     string
		interval uint32
		n        int // events examined during catch-up
		every    int // one event in every is a match
	}{
		{"Interval8", 8, 100, 10},
		{"Interval1", 1, 20, 3},
		{"DefaultInterval", 0, 3*eventstore.DefaultCheckpointInterval + 5, 7},
		{"NothingMatches", 5, 23, 0},
	} {
		s.run(t, c.name, func(e *env) {
			mark := e.head()
			for i := range c.n {
				stream := fmt.Sprintf("other-%d", i%4)
				if c.every > 0 && i%c.every == c.every-1 {
					stream = "match-1"
				}
				e.append(stream, eventstore.Any, newEvent("Examined"))
			}
			filter := eventstore.StreamPrefixFilter("match-")
			filter.CheckpointInterval = c.interval
			examined := e.readAllAfter(mark, nil)
			if len(examined) != c.n {
				e.t.Fatalf("$all holds %d new events, want %d", len(examined), c.n)
			}
			sub := e.subscribeAll(eventstore.SubscribeAllOptions{From: after(mark), Filter: filter})
			e.checkCatchUpCheckpoints(sub, examined, int(filter.Interval()))

			// Live: matching events still arrive, and checkpoints (which
			// EventStoreDB may send while live) stay within what was
			// examined.
			e.seed("other-9", 2*int(filter.Interval())+1)
			want := e.seed("match-2", 1)
			for {
				m := sub.recv()
				if m.Kind == eventstore.MessageCheckpoint {
					if m.Position.Compare(e.head()) > 0 {
						e.t.Fatalf("live checkpoint %v is past the end of $all", m.Position)
					}
					continue
				}
				if m.Kind != eventstore.MessageEvent || m.Event.ID != want[0].ID {
					e.t.Fatalf("live: got a %v message (%s@%d), want the matching event", m.Kind, m.Event.Stream, m.Event.Revision)
				}
				break
			}
		})
	}
}

// checkCatchUpCheckpoints reads a filtered subscription up to its CaughtUp
// and checks its checkpoints against the examined events (all of $all after
// the start point): the k-th is at the (k×interval)-th examined event, and
// the last one, right before CaughtUp, at the last examined event (when the
// count is a multiple of the interval, the two may be one checkpoint).
func (e *env) checkCatchUpCheckpoints(sub *subscription, examined []eventstore.RecordedEvent, interval int) {
	e.t.Helper()
	var (
		delivered   []eventstore.RecordedEvent
		checkpoints []eventstore.Position
		last        eventstore.MessageKind
	)
	for {
		m := sub.recv()
		if m.Kind == eventstore.MessageCaughtUp {
			break
		}
		switch m.Kind {
		case eventstore.MessageEvent:
			// A consumer restarting from the last checkpoint must not miss
			// this event.
			if len(checkpoints) > 0 && m.Event.Position.Compare(checkpoints[len(checkpoints)-1]) <= 0 {
				e.t.Fatalf("event at %v delivered after checkpoint %v", m.Event.Position, checkpoints[len(checkpoints)-1])
			}
			delivered = append(delivered, m.Event)
		case eventstore.MessageCheckpoint:
			checkpoints = append(checkpoints, m.Position)
		}
		last = m.Kind
	}
	var matches []eventstore.RecordedEvent
	for _, ev := range examined {
		if hasPrefix(ev.Stream, "match-") {
			matches = append(matches, ev)
		}
	}
	samePositions(e.t, "filtered catch-up", delivered, matches)

	var want []eventstore.Position
	for k := interval; k <= len(examined); k += interval {
		want = append(want, examined[k-1].Position)
	}
	end := examined[len(examined)-1].Position
	if len(examined)%interval != 0 || len(checkpoints) == len(want)+1 {
		want = append(want, end)
	}
	if fmt.Sprint(checkpoints) != fmt.Sprint(want) {
		e.t.Fatalf("catch-up over %d events with interval %d: checkpoints at %v, want %v (one per interval, at the last event examined, and one before CaughtUp)",
			len(examined), interval, checkpoints, want)
	}
	if last != eventstore.MessageCheckpoint {
		e.t.Fatalf("the message before CaughtUp is a %v, want a checkpoint", last)
	}
	if sub.caughtUpAt != end {
		e.t.Fatalf("CaughtUp position %v, want the last examined event %v", sub.caughtUpAt, end)
	}
}
