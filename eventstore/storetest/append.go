package storetest

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chronicle-go/chronicle/eventstore"
)

// testAppend checks what a successful append writes and returns.
func (s *suite) testAppend(t *testing.T) {
	s.run(t, "RoundTrip", func(e *env) {
		evs := newEvents(3, "Created")
		evs[1].ContentType = "" // the default: JSON
		evs[1].Metadata = nil
		evs[2].ContentType = eventstore.ContentTypeBinary
		evs[2].Data = []byte{0xff, 0x00, 'x'} // not JSON: fine for binary data
		evs[2].Metadata = []byte("not json either")
		e.append("order-1", eventstore.NoStream, evs...)
		got := e.mustRead("order-1", eventstore.ReadOptions{})
		wantStream(e.t, "ReadStream", got, "order-1", 0, false, evs)
		if got[1].ContentType != eventstore.ContentTypeJSON {
			e.t.Fatalf("empty ContentType read back as %q, want %q", got[1].ContentType, eventstore.ContentTypeJSON)
		}
	})
	s.run(t, "EmptyData", func(e *env) {
		evs := []eventstore.EventData{{ID: uuid.New(), Type: "Empty"}, {ID: uuid.New(), Type: "Empty", ContentType: eventstore.ContentTypeBinary}}
		e.append("order-1", eventstore.NoStream, evs...)
		wantStream(e.t, "ReadStream", e.mustRead("order-1", eventstore.ReadOptions{}), "order-1", 0, false, evs)
	})
	s.run(t, "Result", func(e *env) {
		mark := e.head()
		r1 := e.append("order-1", eventstore.NoStream, newEvents(2, "A")...)
		r2 := e.append("order-2", eventstore.Any, newEvent("B"))
		r3 := e.append("order-1", eventstore.Exact(1), newEvents(3, "C")...)
		if r1.Next != eventstore.Exact(1) || r2.Next != eventstore.Exact(0) || r3.Next != eventstore.Exact(4) {
			e.t.Fatalf("Next = %v, %v, %v; want 1, 0, 4", r1.Next, r2.Next, r3.Next)
		}
		for i, r := range []eventstore.AppendResult{r1, r2, r3} {
			if r.Position.IsZero() {
				e.t.Fatalf("append %d returned the zero position", i)
			}
			if r.Position.Compare(mark) <= 0 {
				e.t.Fatalf("append %d returned position %v, not after the previous %v", i, r.Position, mark)
			}
			mark = r.Position
		}
		// Each result's position is that of the append's last event.
		all := e.readAllAfter(eventstore.Position{}, nil)
		at := make(map[eventstore.Position]eventstore.RecordedEvent, len(all))
		for _, ev := range all {
			at[ev.Position] = ev
		}
		for i, want := range []struct {
			r      eventstore.AppendResult
			stream string
			rev    uint64
		}{{r1, "order-1", 1}, {r2, "order-2", 0}, {r3, "order-1", 4}} {
			ev, ok := at[want.r.Position]
			if !ok || ev.Stream != want.stream || ev.Revision != want.rev {
				e.t.Fatalf("append %d: position %v holds %q@%d (found %v), want its last event %q@%d", i, want.r.Position, ev.Stream, ev.Revision, ok, want.stream, want.rev)
			}
		}
	})
	s.run(t, "GeneratedIDs", func(e *env) {
		evs := newEvents(3, "NoID")
		evs[0].ID, evs[2].ID = uuid.Nil, uuid.Nil // zero IDs: the store assigns them
		e.append("order-1", eventstore.Any, evs...)
		got := e.mustRead("order-1", eventstore.ReadOptions{})
		wantStream(e.t, "ReadStream", got, "order-1", 0, false, evs)
		seen := map[uuid.UUID]bool{}
		for i, ev := range got {
			if ev.ID == uuid.Nil {
				e.t.Fatalf("event %d was stored with the zero ID", i)
			}
			if seen[ev.ID] {
				e.t.Fatalf("event %d: ID %v assigned twice", i, ev.ID)
			}
			seen[ev.ID] = true
		}
		for _, i := range []int{0, 2} {
			if v := got[i].ID.Version(); v != 4 {
				e.t.Fatalf("generated ID %v of event %d is a version %d UUID, want version 4 (random)", got[i].ID, i, v)
			}
		}
		// Two zero IDs in one append are not duplicates.
		e.append("order-2", eventstore.Any, eventstore.EventData{Type: "A"}, eventstore.EventData{Type: "B"})
	})
	s.run(t, "Created", func(e *env) {
		before := time.Now()
		e.append("order-1", eventstore.Any, newEvents(2, "Stamped")...)
		after := time.Now()
		// Generous bounds: a remote store's clock may drift a little.
		const slack = time.Minute
		for _, ev := range e.mustRead("order-1", eventstore.ReadOptions{}) {
			switch {
			case ev.Created.IsZero():
				e.t.Fatalf("event %d: Created is not set", ev.Revision)
			case ev.Created.Location() != time.UTC:
				e.t.Fatalf("event %d: Created %v is in %v, want UTC", ev.Revision, ev.Created, ev.Created.Location())
			case ev.Created.Before(before.Add(-slack)) || ev.Created.After(after.Add(slack)):
				e.t.Fatalf("event %d: Created %v, want between %v and %v", ev.Revision, ev.Created, before, after)
			}
		}
	})
}

// testIdempotency checks re-appends of events by ID (EventStoreDB's
// idempotent writes) and the partial matches that are wrong versions.
func (s *suite) testIdempotency(t *testing.T) {
	// replay appends a and b, then c, re-appends a+b with expected and
	// checks the re-append returned the first result and wrote nothing.
	replay := func(name string, first, expected eventstore.ExpectedRevision) {
		s.run(t, name, func(e *env) {
			ab, c := newEvents(2, "A"), newEvent("C")
			r1 := e.append("order-1", first, ab...)
			e.append("order-1", eventstore.Exact(1), c)
			mark := e.head()
			r, err := e.s.Append(e.ctx, "order-1", expected, ab...)
			if err != nil {
				e.t.Fatalf("re-append with %v: %v, want the earlier result", expected, err)
			}
			if !sameResult(r, r1) {
				e.t.Fatalf("re-append with %v returned %+v, want the earlier result %+v", expected, r, r1)
			}
			e.wantUnchanged(mark, "order-1", append(ab, c))
		})
	}
	replay("Any", eventstore.NoStream, eventstore.Any)
	replay("StreamExists", eventstore.NoStream, eventstore.StreamExists)
	replay("NoStream", eventstore.NoStream, eventstore.NoStream)
	replay("NoStreamAfterAny", eventstore.Any, eventstore.NoStream)

	s.run(t, "Exact(R<L)", func(e *env) {
		a, bc, d := newEvent("A"), newEvents(2, "B"), newEvent("D")
		e.append("order-1", eventstore.NoStream, a)
		r2 := e.append("order-1", eventstore.Exact(0), bc...)
		e.append("order-1", eventstore.Exact(2), d)
		mark := e.head()
		r, err := e.s.Append(e.ctx, "order-1", eventstore.Exact(0), bc...)
		if err != nil || !sameResult(r, r2) {
			e.t.Fatalf("re-append with Exact(0) = %+v, %v; want the earlier result %+v", r, err, r2)
		}
		// A suffix of an earlier append at its place is idempotent too.
		r, err = e.s.Append(e.ctx, "order-1", eventstore.Exact(1), bc[1])
		if err != nil || !sameResult(r, r2) {
			e.t.Fatalf("re-append of the last event with Exact(1) = %+v, %v; want %+v", r, err, r2)
		}
		e.wantUnchanged(mark, "order-1", []eventstore.EventData{a, bc[0], bc[1], d})
	})
	s.run(t, "LastEventAny", func(e *env) {
		a, b := newEvent("A"), newEvent("B")
		e.append("order-1", eventstore.Any, a)
		r2 := e.append("order-1", eventstore.Any, b)
		mark := e.head()
		for range 2 {
			if r, err := e.s.Append(e.ctx, "order-1", eventstore.Any, b); err != nil || !sameResult(r, r2) {
				e.t.Fatalf("re-append of the last event = %+v, %v; want %+v", r, err, r2)
			}
		}
		e.wantUnchanged(mark, "order-1", []eventstore.EventData{a, b})
	})

	// Partial matches: the first ID was written but the rest does not match,
	// which EventStoreDB answers with a wrong expected version.
	partial := func(name string, expected eventstore.ExpectedRevision, batch func(abc []eventstore.EventData) []eventstore.EventData) {
		s.run(t, "Partial/"+name, func(e *env) {
			abc := newEvents(3, "A")
			e.append("order-1", eventstore.NoStream, abc...)
			mark := e.head()
			_, err := e.s.Append(e.ctx, "order-1", expected, batch(abc)...)
			wantWrongVersion(e.t, "Append", err, "order-1", expected, eventstore.Exact(2))
			e.wantUnchanged(mark, "order-1", abc)
		})
	}
	partial("AnyNewSecond", eventstore.Any, func(abc []eventstore.EventData) []eventstore.EventData {
		return []eventstore.EventData{abc[0], newEvent("X")}
	})
	partial("AnyBeyondEnd", eventstore.Any, func(abc []eventstore.EventData) []eventstore.EventData {
		return append(abc[1:3:3], newEvent("X"))
	})
	partial("StreamExistsNewSecond", eventstore.StreamExists, func(abc []eventstore.EventData) []eventstore.EventData {
		return []eventstore.EventData{abc[0], newEvent("X")}
	})
	partial("NoStreamNewSecond", eventstore.NoStream, func(abc []eventstore.EventData) []eventstore.EventData {
		return []eventstore.EventData{abc[0], newEvent("X")}
	})
	partial("NoStreamNotAtStart", eventstore.NoStream, func(abc []eventstore.EventData) []eventstore.EventData {
		return abc[1:2]
	})
	partial("Exact(R<L)Mismatch", eventstore.Exact(0), func(abc []eventstore.EventData) []eventstore.EventData {
		return []eventstore.EventData{abc[1], newEvent("X")}
	})
	partial("Exact(R<L)Shifted", eventstore.Exact(0), func(abc []eventstore.EventData) []eventstore.EventData {
		return abc[2:3]
	})
}

// sameResult reports whether an idempotent re-append's result r matches the
// first append's. EventStoreDB's rule: the re-append reports the same next
// expected revision; its position is the original one or absent (zero), as
// servers differ. This package's backends return the original position.
func sameResult(r, first eventstore.AppendResult) bool {
	return r.Next == first.Next && (r.Position == first.Position || r.Position.IsZero())
}

// wantUnchanged fails unless $all still ends at mark and stream holds
// exactly want from revision 0: the check that a failed (or idempotent)
// write wrote nothing.
func (e *env) wantUnchanged(mark eventstore.Position, stream string, want []eventstore.EventData) {
	e.t.Helper()
	e.wantNothingAfter("the write", mark)
	if want == nil {
		e.wantNotFound(stream)
		return
	}
	wantStream(e.t, "ReadStream after the write", e.mustRead(stream, eventstore.ReadOptions{}), stream, 0, false, want)
}
