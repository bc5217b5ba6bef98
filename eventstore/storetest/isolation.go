package storetest

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/chronicle-go/chronicle/eventstore"
)

// readPage is more events than one page of any backend's reads (memory
// copies 256 per lock, sqlite queries 512 rows), so that a read spans pages.
const readPage = 600

// testIsolation checks that callers cannot change the store through the
// byte slices they hand in or get back, and what a read sees of appends
// made while it runs.
func (s *suite) testIsolation(t *testing.T) {
	s.run(t, "MutateAppendedData", func(e *env) {
		ev := newEvent("A")
		want := ev
		want.Data, want.Metadata = bytes.Clone(ev.Data), bytes.Clone(ev.Metadata)
		e.append("order-1", eventstore.NoStream, ev)
		ev.Data[0], ev.Metadata[0] = 'X', 'X' // the caller reuses its buffers
		wantStream(e.t, "ReadStream after the caller changed its buffers", e.mustRead("order-1", eventstore.ReadOptions{}), "order-1", 0, false, []eventstore.EventData{want})
	})
	s.run(t, "MutateReadEvent", func(e *env) {
		evs := e.seed("order-1", 2)
		for _, read := range []func() []eventstore.RecordedEvent{
			func() []eventstore.RecordedEvent { return e.mustRead("order-1", eventstore.ReadOptions{}) },
			func() []eventstore.RecordedEvent { return e.readAll(eventstore.ReadAllOptions{}) },
		} {
			for _, r := range read() {
				if len(r.Data) > 0 {
					r.Data[0] = 'X'
				}
				if len(r.Metadata) > 0 {
					r.Metadata[0] = 'X'
				}
			}
		}
		wantStream(e.t, "ReadStream after the reader changed what it read", e.mustRead("order-1", eventstore.ReadOptions{}), "order-1", 0, false, evs)
	})
	s.run(t, "MutateSubscribedEvent", func(e *env) {
		evs := e.seed("order-1", 2)
		n := 0
		for m, err := range e.s.SubscribeToStream(e.ctx, "order-1", eventstore.SubscribeOptions{}) {
			if err != nil {
				e.t.Fatalf("SubscribeToStream: %v", err)
			}
			if m.Kind != eventstore.MessageEvent {
				continue
			}
			m.Event.Data[0] = 'X'
			if n++; n == len(evs) {
				break
			}
		}
		wantStream(e.t, "ReadStream after a subscriber changed what it got", e.mustRead("order-1", eventstore.ReadOptions{}), "order-1", 0, false, evs)
	})

	// EventStoreDB does not document whether a read that is under way sees
	// events appended meanwhile; what every backend must do is yield, in
	// order and without gaps or repeats, at least every event there was when
	// the read started. Backends with snapshot reads (memory, sqlite) end
	// there: Features.SnapshotReads.
	appendDuring := func(name string, read func(e *env) func(yield func(eventstore.RecordedEvent, error) bool), pick func(eventstore.RecordedEvent) (uint64, bool)) {
		s.run(t, name, func(e *env) {
			mark := e.head()
			before := e.seed("order-1", readPage)
			var got []uint64
			extra := newEvents(3, "During")
			appended := false
			read(e)(func(r eventstore.RecordedEvent, err error) bool {
				if err != nil {
					e.t.Fatalf("read: %v", err)
				}
				if r.Position.Compare(mark) <= 0 {
					return true // a remote store's own events
				}
				if !appended {
					e.append("order-1", eventstore.Any, extra...)
					appended = true
				}
				if rev, ok := pick(r); ok {
					got = append(got, rev)
				}
				return true
			})
			for i, rev := range got {
				if rev != uint64(i) {
					e.t.Fatalf("the read yielded revision %d at %d: out of order, a gap or a repeat", rev, i)
				}
			}
			switch {
			case len(got) < len(before):
				e.t.Fatalf("the read yielded %d events, want at least the %d there were when it started", len(got), len(before))
			case e.f.SnapshotReads && len(got) != len(before):
				e.t.Fatalf("the read yielded %d events, want the %d there were when it started (Features.SnapshotReads)", len(got), len(before))
			case len(got) > len(before)+len(extra):
				e.t.Fatalf("the read yielded %d events, more than were ever appended", len(got))
			}
		})
	}
	appendDuring("AppendDuringReadStream", func(e *env) func(yield func(eventstore.RecordedEvent, error) bool) {
		return e.s.ReadStream(e.ctx, "order-1", eventstore.ReadOptions{})
	}, func(r eventstore.RecordedEvent) (uint64, bool) { return r.Revision, true })
	appendDuring("AppendDuringReadAll", func(e *env) func(yield func(eventstore.RecordedEvent, error) bool) {
		return e.s.ReadAll(e.ctx, eventstore.ReadAllOptions{})
	}, func(r eventstore.RecordedEvent) (uint64, bool) { return r.Revision, r.Stream == "order-1" })
}

// testIdempotencyWindow checks the bounded idempotency rule of
// Features.IdempotencyWindow (see internal/recentids for the rule the
// in-process backends share). EventStoreDB's rule, for comparison: a
// re-append with NoStream or an exact revision is recognised by comparing
// the IDs at the stream's revisions, whatever their age; one with Any or
// StreamExists only while its first event ID is in the node's bounded cache
// of recently committed IDs, which a restart empties.
func (s *suite) testIdempotencyWindow(t *testing.T) {
	s.run(t, "SameIDTwoStreams", func(e *env) {
		// An ID written to one stream says nothing about another: the
		// append to the second stream is written, not taken for a retry.
		ev := newEvent("A")
		e.append("order-1", eventstore.NoStream, ev)
		r := e.append("order-2", eventstore.Any, ev)
		if r.Next != eventstore.Exact(0) {
			e.t.Fatalf("append of an ID written to another stream: %+v, want it written at revision 0", r)
		}
		wantStream(e.t, "order-1", e.mustRead("order-1", eventstore.ReadOptions{}), "order-1", 0, false, []eventstore.EventData{ev})
		wantStream(e.t, "order-2", e.mustRead("order-2", eventstore.ReadOptions{}), "order-2", 0, false, []eventstore.EventData{ev})
	})
	w := s.f.IdempotencyWindow
	if w <= 0 {
		s.run(t, "OlderThanWindow", func(e *env) { e.t.Skip("Features.IdempotencyWindow is 0: the window is unknown") })
		return
	}
	s.run(t, "OlderThanWindow", func(e *env) {
		ab := newEvents(2, "A")
		r1 := e.append("order-1", eventstore.NoStream, ab...)
		e.seed("order-1", 1)
		for i := range w {
			e.append(fmt.Sprintf("other-%d", i%7), eventstore.Any, newEvent("Filler"))
		}
		mark := e.head()
		// Exact and NoStream retries compare IDs at their revisions: still
		// idempotent, however old.
		for _, expected := range []eventstore.ExpectedRevision{eventstore.NoStream} {
			r, err := e.s.Append(e.ctx, "order-1", expected, ab...)
			if err != nil || r.Next != r1.Next {
				e.t.Fatalf("retry with %v older than the window: %+v, %v; want the earlier result %+v", expected, r, err, r1)
			}
		}
		e.wantNothingAfter("retries older than the window", mark)
		// An Any retry older than the window is not recognised (the rule
		// of the in-process backends): it is written again after the
		// stream's last event.
		r, err := e.s.Append(e.ctx, "order-1", eventstore.Any, ab...)
		if err != nil || r.Next != eventstore.Exact(4) {
			e.t.Fatalf("Any retry older than the window: %+v, %v; want it written at revisions 3 and 4", r, err)
		}
	})
	s.run(t, "WithinWindow", func(e *env) {
		ab := newEvents(2, "A")
		r1 := e.append("order-1", eventstore.Any, ab...)
		for i := range w - len(ab) {
			e.append(fmt.Sprintf("other-%d", i%7), eventstore.Any, newEvent("Filler"))
		}
		mark := e.head()
		r, err := e.s.Append(e.ctx, "order-1", eventstore.Any, ab...)
		if err != nil || r.Next != r1.Next {
			e.t.Fatalf("Any retry within the window: %+v, %v; want the earlier result %+v", r, err, r1)
		}
		e.wantNothingAfter("a retry within the window", mark)
	})
}
