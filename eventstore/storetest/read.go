package storetest

import (
	"fmt"
	"testing"

	"github.com/chronicle-go/chronicle/eventstore"
)

// testReadStream checks ReadStream's ranges in both directions.
func (s *suite) testReadStream(t *testing.T) {
	fwd, back := eventstore.Forwards, eventstore.Backwards
	cases := []struct {
		name  string
		opts  eventstore.ReadOptions
		first uint64 // first revision returned
		n     int    // how many
	}{
		{"Forwards/Start", eventstore.ReadOptions{Direction: fwd}, 0, 10},
		{"Forwards/StartMaxCount", eventstore.ReadOptions{Direction: fwd, MaxCount: 3}, 0, 3},
		{"Forwards/MaxCountAboveLength", eventstore.ReadOptions{Direction: fwd, MaxCount: 50}, 0, 10},
		{"Forwards/FromRevision", eventstore.ReadOptions{Direction: fwd, From: eventstore.FromRevision(4)}, 4, 6},
		{"Forwards/FromRevisionMaxCount", eventstore.ReadOptions{Direction: fwd, From: eventstore.FromRevision(4), MaxCount: 2}, 4, 2},
		{"Forwards/FromLastRevision", eventstore.ReadOptions{Direction: fwd, From: eventstore.FromRevision(9)}, 9, 1},
		{"Forwards/FromPastTheEnd", eventstore.ReadOptions{Direction: fwd, From: eventstore.FromRevision(10)}, 0, 0},
		{"Forwards/FromFarPastTheEnd", eventstore.ReadOptions{Direction: fwd, From: eventstore.FromRevision(1 << 40)}, 0, 0},
		{"Forwards/End", eventstore.ReadOptions{Direction: fwd, From: eventstore.End}, 0, 0},
		{"Backwards/End", eventstore.ReadOptions{Direction: back, From: eventstore.End}, 9, 10},
		{"Backwards/EndMaxCount", eventstore.ReadOptions{Direction: back, From: eventstore.End, MaxCount: 3}, 9, 3},
		{"Backwards/FromRevision", eventstore.ReadOptions{Direction: back, From: eventstore.FromRevision(4)}, 4, 5},
		{"Backwards/FromRevisionMaxCount", eventstore.ReadOptions{Direction: back, From: eventstore.FromRevision(4), MaxCount: 2}, 4, 2},
		{"Backwards/FromRevision0", eventstore.ReadOptions{Direction: back, From: eventstore.FromRevision(0)}, 0, 1},
		{"Backwards/Start", eventstore.ReadOptions{Direction: back, From: eventstore.Start}, 0, 1},
	}
	for _, c := range cases {
		s.run(t, c.name, func(e *env) {
			evs := e.seed("order-1", 10)
			e.seed("order-2", 3) // another stream: never part of the read
			got := e.mustRead("order-1", c.opts)
			var want []eventstore.EventData
			if c.opts.Direction == back {
				want = reversed(evs[c.first+1-uint64(c.n) : c.first+1])
			} else if c.n > 0 {
				want = evs[c.first : c.first+uint64(c.n)]
			}
			wantStream(e.t, fmt.Sprintf("ReadStream(%+v)", c.opts), got, "order-1", c.first, c.opts.Direction == back, want)
			increasingOrReversed(e.t, got, c.opts.Direction == back)
		})
	}
	s.run(t, "Missing", func(e *env) {
		e.seed("order-2", 1)
		for _, opts := range []eventstore.ReadOptions{
			{},
			{Direction: back, From: eventstore.End},
			{From: eventstore.FromRevision(3), MaxCount: 1},
			{From: eventstore.End},
		} {
			evs, err := e.read("order-1", opts)
			if len(evs) > 0 {
				e.t.Fatalf("ReadStream(%+v) of a missing stream yielded %d events", opts, len(evs))
			}
			wantErr(e.t, fmt.Sprintf("ReadStream(%+v) of a missing stream", opts), err, eventstore.ErrStreamNotFound)
		}
		e.wantNotFound(eventstore.MetadataStreamName("order-2")) // no metadata was set
	})
}

// increasingOrReversed checks the positions of a stream read follow its
// direction.
func increasingOrReversed(t *testing.T, evs []eventstore.RecordedEvent, backwards bool) {
	t.Helper()
	if backwards {
		evs = reversed(evs)
	}
	increasing(t, "stream read positions", evs)
}

// testReadAll checks ReadAll's order, ranges and filters.
func (s *suite) testReadAll(t *testing.T) {
	// populate writes events to three streams, interleaved, plus a metadata
	// event, and returns what $all holds after mark.
	populate := func(e *env) (mark eventstore.Position, all []eventstore.RecordedEvent) {
		mark = e.head()
		e.append("order-1", eventstore.Any, newEvents(2, "OrderPlaced")...)
		e.append("invoice-1", eventstore.Any, newEvent("InvoiceSent"))
		e.append("order-2", eventstore.Any, newEvents(3, "OrderPlaced")...)
		if _, err := e.s.SetStreamMetadata(e.ctx, "order-2", eventstore.Any, eventstore.StreamMetadata{MaxCount: 2}); err != nil {
			e.t.Fatalf("SetStreamMetadata: %v", err)
		}
		e.append("order-1", eventstore.Any, newEvent("OrderShipped"))
		e.append("invoice-1", eventstore.Any, newEvent("InvoicePaid"))
		return mark, e.readAllAfter(mark, nil)
	}
	s.run(t, "Order", func(e *env) {
		_, all := populate(e)
		want := []string{"order-1@0", "order-1@1", "invoice-1@0", "order-2@0", "order-2@1", "order-2@2", "$$order-2@0", "order-1@2", "invoice-1@1"}
		if len(all) != len(want) {
			e.t.Fatalf("$all holds %s, want %v", revisions(all), want)
		}
		for i, ev := range all {
			if got := fmt.Sprintf("%s@%d", ev.Stream, ev.Revision); got != want[i] {
				e.t.Fatalf("$all event %d is %s, want %s (all: %s)", i, got, want[i], revisions(all))
			}
		}
		increasing(e.t, "$all", all)
		if md := all[6]; md.Type != eventstore.MetadataEventType || md.ContentType != eventstore.ContentTypeJSON {
			e.t.Fatalf("metadata event has type %q and content type %q, want %q, %q", md.Type, md.ContentType, eventstore.MetadataEventType, eventstore.ContentTypeJSON)
		}
		// $all ignores stream metadata: order-2's $maxCount hides revision 0
		// from stream reads only.
		if got := e.mustRead("order-2", eventstore.ReadOptions{}); len(got) != 2 {
			e.t.Fatalf("ReadStream(order-2) with $maxCount 2 returned %s", revisions(got))
		}
	})
	s.run(t, "ForwardsFromPosition", func(e *env) {
		_, all := populate(e)
		for k := range all {
			got := e.readAll(eventstore.ReadAllOptions{From: eventstore.FromPosition(all[k].Position), MaxCount: 2})
			want := all[k:min(k+2, len(all))]
			samePositions(e.t, fmt.Sprintf("forwards from the position of event %d (inclusive)", k), got, want)
		}
	})
	s.run(t, "BackwardsFromPosition", func(e *env) {
		mark, all := populate(e)
		for k := range all {
			got := e.readAll(eventstore.ReadAllOptions{Direction: eventstore.Backwards, From: eventstore.FromPosition(all[k].Position), MaxCount: 2})
			want := reversed(all[max(k-2, 0):k])
			if k < 2 && !mark.IsZero() { // events from before the suite's
				got = got[:min(len(got), k)]
			}
			samePositions(e.t, fmt.Sprintf("backwards from the position of event %d (exclusive)", k), got, want)
		}
	})
	s.run(t, "BackwardsFromEnd", func(e *env) {
		_, all := populate(e)
		got := e.readAll(eventstore.ReadAllOptions{Direction: eventstore.Backwards, From: eventstore.End, MaxCount: 4})
		samePositions(e.t, "backwards from End", got, reversed(all[len(all)-4:]))
		got = e.readAll(eventstore.ReadAllOptions{Direction: eventstore.Backwards, From: eventstore.End})
		if len(got) < len(all) {
			e.t.Fatalf("backwards from End without MaxCount returned %d events, want at least %d", len(got), len(all))
		}
		samePositions(e.t, "backwards from End", got[:len(all)], reversed(all))
	})
	s.run(t, "BackwardsFromStart", func(e *env) {
		populate(e)
		if got := e.readAll(eventstore.ReadAllOptions{Direction: eventstore.Backwards, From: eventstore.Start}); len(got) > 0 {
			e.t.Fatalf("backwards from Start returned %s, want nothing", revisions(got))
		}
	})
	s.run(t, "ForwardsFromEnd", func(e *env) {
		populate(e)
		if got := e.readAll(eventstore.ReadAllOptions{From: eventstore.End}); len(got) > 0 {
			e.t.Fatalf("forwards from End returned %s, want nothing", revisions(got))
		}
	})
	s.run(t, "ForwardsFromStart", func(e *env) {
		_, all := populate(e)
		got := e.readAll(eventstore.ReadAllOptions{})
		if len(got) < len(all) {
			e.t.Fatalf("forwards from Start returned %d events, want at least %d", len(got), len(all))
		}
		increasing(e.t, "$all from Start", got)
		samePositions(e.t, "forwards from Start", got[len(got)-len(all):], all)
	})

	filters := []struct {
		name   string
		filter *eventstore.Filter
		match  func(ev eventstore.RecordedEvent) bool
	}{
		{"StreamPrefix", eventstore.StreamPrefixFilter("order-"), func(ev eventstore.RecordedEvent) bool {
			return hasPrefix(ev.Stream, "order-")
		}},
		{"StreamPrefixes", eventstore.StreamPrefixFilter("invoice-", "$$order"), func(ev eventstore.RecordedEvent) bool {
			return hasPrefix(ev.Stream, "invoice-") || hasPrefix(ev.Stream, "$$order")
		}},
		{"EventTypePrefix", eventstore.EventTypePrefixFilter("Invoice"), func(ev eventstore.RecordedEvent) bool {
			return hasPrefix(ev.Type, "Invoice")
		}},
		{"EventTypePrefixes", eventstore.EventTypePrefixFilter("OrderS", "$meta"), func(ev eventstore.RecordedEvent) bool {
			return hasPrefix(ev.Type, "OrderS") || hasPrefix(ev.Type, "$meta")
		}},
		{"StreamRegex", eventstore.StreamRegexFilter(`der-[13]$`), func(ev eventstore.RecordedEvent) bool { // unanchored
			return ev.Stream == "order-1" || ev.Stream == "order-3"
		}},
		{"EventTypeRegex", eventstore.EventTypeRegexFilter(`^Order(Placed|Shipped)$`), func(ev eventstore.RecordedEvent) bool {
			return ev.Type == "OrderPlaced" || ev.Type == "OrderShipped"
		}},
		{"ExcludeSystemEvents", eventstore.ExcludeSystemEventsFilter(), func(ev eventstore.RecordedEvent) bool {
			return !hasPrefix(ev.Type, "$")
		}},
	}
	for _, f := range filters {
		s.run(t, "Filter/"+f.name, func(e *env) {
			mark, _ := populate(e)
			e.append("order-3", eventstore.Any, newEvent("OrderPlaced"))
			if _, err := e.s.Tombstone(e.ctx, "order-3", eventstore.Any); err != nil { // a $streamDeleted record
				e.t.Fatalf("Tombstone: %v", err)
			}
			all := e.readAllAfter(mark, nil)
			var want []eventstore.RecordedEvent
			for _, ev := range all {
				if f.match(ev) {
					want = append(want, ev)
				}
			}
			if len(want) == 0 || len(want) == len(all) {
				e.t.Fatalf("bad test data: the filter keeps %d of %d events", len(want), len(all))
			}
			got := e.readAllAfter(mark, f.filter)
			samePositions(e.t, "filtered forwards read", got, want)
			// Backwards, with MaxCount counting matching events only.
			got = e.readAll(eventstore.ReadAllOptions{Direction: eventstore.Backwards, From: eventstore.End, MaxCount: 2, Filter: f.filter})
			samePositions(e.t, "filtered backwards read", got, reversed(want)[:min(2, len(want))])
		})
	}
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

// samePositions fails unless got and want are the same events (by
// position, stream, revision and ID), in order, and says where they first
// differ.
func samePositions(t *testing.T, what string, got, want []eventstore.RecordedEvent) {
	t.Helper()
	for i := range min(len(got), len(want)) {
		if got[i].Position != want[i].Position || got[i].Stream != want[i].Stream || got[i].Revision != want[i].Revision || got[i].ID != want[i].ID {
			t.Fatalf("%s: event %d is %s@%d at %v, want %s@%d at %v (got %d events, want %d)", what, i,
				got[i].Stream, got[i].Revision, got[i].Position, want[i].Stream, want[i].Revision, want[i].Position, len(got), len(want))
		}
	}
	switch {
	case len(got) > len(want):
		t.Fatalf("%s: got %d events, want %d; the first extra one is %s@%d at %v", what, len(got), len(want), got[len(want)].Stream, got[len(want)].Revision, got[len(want)].Position)
	case len(got) < len(want):
		t.Fatalf("%s: got %d events, want %d; the first missing one is %s@%d at %v", what, len(got), len(want), want[len(got)].Stream, want[len(got)].Revision, want[len(got)].Position)
	}
}
