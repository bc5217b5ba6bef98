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
// the start point) by EventStoreDB's rule, stated below.
func (e *env) checkCatchUpCheckpoints(sub *subscription, examined []eventstore.RecordedEvent, interval int) {
	e.t.Helper()
	var (
		delivered   []eventstore.RecordedEvent
		checkpoints []eventstore.Position
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
	}
	var matches []eventstore.RecordedEvent
	for _, ev := range examined {
		if hasPrefix(ev.Stream, "match-") {
			matches = append(matches, ev)
		}
	}
	samePositions(e.t, "filtered catch-up", delivered, matches)

	// EventStoreDB's rule: while searching, the server sends a checkpoint
	// after a number of examined events that the interval (times its
	// search window) bounds, never past what it examined, so that a
	// filtered consumer can advance. It does not promise one at exactly
	// every interval, nor one right before CaughtUp (this package's
	// backends do both); the suite checks only the rule.
	end := examined[len(examined)-1].Position
	for i, c := range checkpoints {
		if c.Compare(end) > 0 {
			e.t.Fatalf("checkpoint %v is past the last examined event %v", c, end)
		}
		if i > 0 && c.Compare(checkpoints[i-1]) < 0 {
			e.t.Fatalf("checkpoints go backwards: %v after %v", c, checkpoints[i-1])
		}
	}
	if len(examined) >= interval && len(checkpoints) == 0 {
		e.t.Fatalf("catch-up over %d events with interval %d sent no checkpoint", len(examined), interval)
	}
	if sub.caughtUpAt.Compare(end) > 0 {
		e.t.Fatalf("CaughtUp position %v is past the last examined event %v", sub.caughtUpAt, end)
	}
}
