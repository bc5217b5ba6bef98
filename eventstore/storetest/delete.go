package storetest

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/chronicle-go/chronicle/eventstore"
)

// deleteTable is the expected-revision table of Delete (tombstone false) and
// Tombstone: Append's, where "writes" means the delete record is written,
// except that soft-deleting a stream that never existed is a wrong
// expected version whatever the expectation.
func deleteTable(st streamState, tombstone bool) []tableRow {
	rows := appendTable(st)
	if st == absent && !tombstone {
		for i := range rows {
			rows[i].outcome = wrongVersion(eventstore.NoStream)
		}
	}
	return rows
}

// testDelete checks soft deletes.
func (s *suite) testDelete(t *testing.T) {
	s.deleteTable(t, false)
	s.run(t, "SoftDelete", func(e *env) {
		evs := e.seed("order-1", 3)
		mark := e.head()
		r, err := e.s.Delete(e.ctx, "order-1", eventstore.Exact(2))
		if err != nil {
			e.t.Fatalf("Delete: %v", err)
		}
		e.wantDeleteRecord(mark, r, "order-1", false)
		e.wantNotFound("order-1")
		if evs, err := e.read("order-1", eventstore.ReadOptions{Direction: eventstore.Backwards, From: eventstore.End}); err == nil || len(evs) > 0 {
			e.t.Fatalf("backwards ReadStream of a deleted stream: %s, %v; want ErrStreamNotFound", revisions(evs), err)
		}
		// The events stay in $all.
		var kept int
		for _, ev := range e.readAllAfter(eventstore.Position{}, eventstore.StreamPrefixFilter("order-1")) {
			if ev.Stream == "order-1" && ev.ID == evs[ev.Revision].ID {
				kept++
			}
		}
		if kept != 3 {
			e.t.Fatalf("$all holds %d of the deleted stream's 3 events, want all", kept)
		}
	})
	s.run(t, "WritesOnlyTruncateBefore", func(e *env) {
		// As EventStoreDB: the delete record is {"$tb": max}, whatever
		// metadata the stream had.
		e.seed("order-1", 2)
		e.setMetadata("order-1", eventstore.NoStream, eventstore.StreamMetadata{MaxCount: 7, Custom: map[string]json.RawMessage{"owner": json.RawMessage(`"ops"`)}})
		if _, err := e.s.Delete(e.ctx, "order-1", eventstore.Any); err != nil {
			e.t.Fatalf("Delete: %v", err)
		}
		e.wantMetadata("order-1", eventstore.Exact(1), eventstore.StreamMetadata{TruncateBefore: eventstore.TombstoneRevision})
	})
	s.run(t, "AppendContinuesRevisions", func(e *env) {
		e.seed("order-1", 2)
		if _, err := e.s.Delete(e.ctx, "order-1", eventstore.Exact(1)); err != nil {
			e.t.Fatalf("Delete: %v", err)
		}
		first, second := newEvents(3, "Again"), newEvents(2, "Again")
		if r := e.append("order-1", eventstore.Any, first...); r.Next != eventstore.Exact(4) {
			e.t.Fatalf("first append after the delete: Next = %v, want 4", r.Next)
		}
		if r := e.append("order-1", eventstore.Any, second...); r.Next != eventstore.Exact(6) {
			e.t.Fatalf("second append after the delete: Next = %v, want 6", r.Next)
		}
		wantStream(e.t, "ReadStream", e.mustRead("order-1", eventstore.ReadOptions{}), "order-1", 2, false, append(first, second...))
		wantStream(e.t, "ReadStream backwards", e.mustRead("order-1", eventstore.ReadOptions{Direction: eventstore.Backwards, From: eventstore.End}),
			"order-1", 6, true, reversed(append(first, second...)))
		// One metadata event for the delete, one for the undelete.
		e.wantMetadata("order-1", eventstore.Exact(1), eventstore.StreamMetadata{TruncateBefore: 2})
	})
	s.run(t, "RecreateOnlyOnceWithNoStream", func(e *env) {
		e.seed("order-1", 2)
		if _, err := e.s.Delete(e.ctx, "order-1", eventstore.Exact(1)); err != nil {
			e.t.Fatalf("Delete: %v", err)
		}
		if r := e.append("order-1", eventstore.NoStream, newEvents(3, "Again")...); r.Next != eventstore.Exact(4) {
			e.t.Fatalf("append with NoStream after the delete: Next = %v, want 4", r.Next)
		}
		_, err := e.s.Append(e.ctx, "order-1", eventstore.NoStream, newEvent("Again"))
		wantWrongVersion(e.t, "second append with NoStream", err, "order-1", eventstore.NoStream, eventstore.Exact(4))
	})
	s.run(t, "UndeleteKeepsOtherMetadataKeys", func(e *env) {
		// A stream soft-deleted through its metadata ($tb = max) keeps its
		// other metadata when an append recreates it; only $tb changes.
		e.seed("order-1", 2)
		meta := eventstore.StreamMetadata{
			MaxCount:       100,
			TruncateBefore: eventstore.TombstoneRevision,
			ACL:            json.RawMessage(`{"$d":"some-role"}`),
			Custom:         map[string]json.RawMessage{"key1": json.RawMessage(`true`), "key2": json.RawMessage(`17`), "key3": json.RawMessage(`"some value"`)},
		}
		e.setMetadata("order-1", eventstore.NoStream, meta)
		e.wantNotFound("order-1")
		evs := newEvents(3, "Again")
		e.append("order-1", eventstore.Exact(1), evs...)
		wantStream(e.t, "ReadStream", e.mustRead("order-1", eventstore.ReadOptions{}), "order-1", 2, false, evs)
		meta.TruncateBefore = 2
		e.wantMetadata("order-1", eventstore.Exact(1), meta)
	})
	s.run(t, "MetadataOnlyStream", func(e *env) {
		// A stream with metadata but no events can be soft-deleted.
		e.setMetadata("order-1", eventstore.NoStream, eventstore.StreamMetadata{MaxCount: 3})
		mark := e.head()
		r, err := e.s.Delete(e.ctx, "order-1", eventstore.Any)
		if err != nil {
			e.t.Fatalf("Delete of a stream that has only metadata: %v", err)
		}
		e.wantDeleteRecord(mark, r, "order-1", false)
	})
	s.run(t, "Twice", func(e *env) {
		e.seed("order-1", 3)
		r1, err := e.s.Delete(e.ctx, "order-1", eventstore.Exact(2))
		if err != nil {
			e.t.Fatalf("Delete: %v", err)
		}
		r2, err := e.s.Delete(e.ctx, "order-1", eventstore.Any)
		if err != nil {
			e.t.Fatalf("second Delete with Any: %v", err)
		}
		e.wantDeleteRecord(r1.Position, r2, "order-1", false)
		r3, err := e.s.Delete(e.ctx, "order-1", eventstore.Exact(2))
		if err != nil {
			e.t.Fatalf("third Delete with the last revision: %v", err)
		}
		e.wantDeleteRecord(r2.Position, r3, "order-1", false)
		e.wantNotFound("order-1")
	})
}

// testTombstone checks hard deletes.
func (s *suite) testTombstone(t *testing.T) {
	s.deleteTable(t, true)
	s.run(t, "Forever", func(e *env) {
		const stream = "order-1"
		e.seed(stream, 3)
		mark := e.head()
		r, err := e.s.Tombstone(e.ctx, stream, eventstore.Exact(2))
		if err != nil {
			e.t.Fatalf("Tombstone: %v", err)
		}
		e.wantDeleteRecord(mark, r, stream, true)
		e.wantTombstoned(stream)
		// Other activity, including on related names, changes nothing.
		e.seed("order-10", 2)
		e.setMetadata("order-10", eventstore.Any, eventstore.StreamMetadata{MaxCount: 1})
		e.wantTombstoned(stream)
		// The events stay in $all.
		if got := e.readAllAfter(eventstore.Position{}, eventstore.StreamRegexFilter(`^order-1$`)); len(got) != 4 {
			e.t.Fatalf("$all holds %s for the tombstoned stream, want its 3 events and the tombstone", revisions(got))
		}
	})
	s.run(t, "AfterSoftDelete", func(e *env) {
		e.seed("order-1", 2)
		if _, err := e.s.Delete(e.ctx, "order-1", eventstore.Exact(1)); err != nil {
			e.t.Fatalf("Delete: %v", err)
		}
		mark := e.head()
		r, err := e.s.Tombstone(e.ctx, "order-1", eventstore.Any)
		if err != nil {
			e.t.Fatalf("Tombstone of a soft-deleted stream: %v", err)
		}
		e.wantDeleteRecord(mark, r, "order-1", true)
		e.wantTombstoned("order-1")
	})
}

// deleteTable runs the expected-revision table of Delete or Tombstone.
func (s *suite) deleteTable(t *testing.T, tombstone bool) {
	op := "Delete"
	if tombstone {
		op = "Tombstone"
	}
	t.Run("ExpectedRevision", func(t *testing.T) {
		for _, st := range []streamState{absent, existing, softDeleted, tombstoned} {
			t.Run(st.String(), func(t *testing.T) {
				for _, row := range deleteTable(st, tombstone) {
					s.run(t, row.name, func(e *env) {
						const stream = "order-1"
						e.prepare(stream, st)
						mark := e.head()
						del := e.s.Delete
						if tombstone {
							del = e.s.Tombstone
						}
						r, err := del(e.ctx, stream, row.expected)
						what := fmt.Sprintf("%s(%v) of a %v stream", op, row.expected, st)
						switch o := row.outcome; o.kind {
						case writes:
							if err != nil {
								e.t.Fatalf("%s: %v", what, err)
							}
							e.wantDeleteRecord(mark, r, stream, tombstone)
							if tombstone {
								e.wantTombstoned(stream)
							} else {
								e.wantNotFound(stream)
							}
							return
						}
						e.wantRejected(what, err, stream, row, mark)
					})
				}
			})
		}
	})
}

// wantDeleteRecord checks the result of a Delete or Tombstone written after
// mark: its position is non-zero, after mark, and holds the record the
// operation writes.
func (e *env) wantDeleteRecord(mark eventstore.Position, r eventstore.DeleteResult, stream string, tombstone bool) {
	e.t.Helper()
	if r.Position.IsZero() || r.Position.Compare(mark) <= 0 {
		e.t.Fatalf("delete result position %v, want a non-zero position after %v", r.Position, mark)
	}
	evs := e.readAll(eventstore.ReadAllOptions{From: eventstore.FromPosition(r.Position), MaxCount: 1})
	if len(evs) != 1 || evs[0].Position != r.Position {
		e.t.Fatalf("no event at the delete result's position %v (found %s)", r.Position, revisions(evs))
	}
	rec := evs[0]
	if tombstone {
		if rec.Stream != stream || rec.Type != eventstore.StreamDeletedEventType || rec.Revision != eventstore.TombstoneRevision {
			e.t.Fatalf("tombstone record is %s@%d of type %q, want %s@%d of type %q", rec.Stream, rec.Revision, rec.Type, stream, eventstore.TombstoneRevision, eventstore.StreamDeletedEventType)
		}
		return
	}
	var meta eventstore.StreamMetadata
	if err := json.Unmarshal(rec.Data, &meta); err != nil {
		e.t.Fatalf("delete record %q: %v", rec.Data, err)
	}
	if rec.Stream != eventstore.MetadataStreamName(stream) || rec.Type != eventstore.MetadataEventType || !meta.IsDeleted() {
		e.t.Fatalf("delete record is %s@%d of type %q with data %s, want a %q event of %s with $tb = %d", rec.Stream, rec.Revision, rec.Type, rec.Data, eventstore.MetadataEventType, eventstore.MetadataStreamName(stream), eventstore.TombstoneRevision)
	}
}

// wantTombstoned checks every operation on a tombstoned stream fails with
// ErrStreamDeleted and writes nothing.
func (e *env) wantTombstoned(stream string) {
	e.t.Helper()
	mark := e.head()
	for _, exp := range []eventstore.ExpectedRevision{eventstore.Any, eventstore.NoStream, eventstore.StreamExists, eventstore.Exact(2)} {
		_, err := e.s.Append(e.ctx, stream, exp, newEvent("Zombie"))
		wantDeleted(e.t, fmt.Sprintf("Append(%v) to a tombstoned stream", exp), err, stream)
	}
	_, err := e.s.Append(e.ctx, stream, eventstore.Any)
	wantDeleted(e.t, "empty Append to a tombstoned stream", err, stream)
	for _, opts := range []eventstore.ReadOptions{{}, {Direction: eventstore.Backwards, From: eventstore.End, MaxCount: 1}} {
		evs, err := e.read(stream, opts)
		if len(evs) > 0 {
			e.t.Fatalf("ReadStream(%+v) of a tombstoned stream yielded %s", opts, revisions(evs))
		}
		wantDeleted(e.t, fmt.Sprintf("ReadStream(%+v) of a tombstoned stream", opts), err, stream)
	}
	_, err = e.s.Delete(e.ctx, stream, eventstore.Any)
	wantDeleted(e.t, "Delete of a tombstoned stream", err, stream)
	_, err = e.s.Tombstone(e.ctx, stream, eventstore.Any)
	wantDeleted(e.t, "Tombstone of a tombstoned stream", err, stream)
	// As EventStoreDB, the metadata stream goes with it.
	evs, err := e.read(eventstore.MetadataStreamName(stream), eventstore.ReadOptions{})
	if len(evs) > 0 {
		e.t.Fatalf("ReadStream of a tombstoned stream's metadata stream yielded %s", revisions(evs))
	}
	wantDeleted(e.t, "ReadStream of a tombstoned stream's metadata stream", err, "")
	_, err = e.s.GetStreamMetadata(e.ctx, stream)
	wantDeleted(e.t, "GetStreamMetadata of a tombstoned stream", err, "")
	_, err = e.s.SetStreamMetadata(e.ctx, stream, eventstore.Any, eventstore.StreamMetadata{MaxCount: 1})
	wantDeleted(e.t, "SetStreamMetadata of a tombstoned stream", err, "")
	for _, from := range []eventstore.From{eventstore.Start, eventstore.End, eventstore.FromRevision(0)} {
		sub := e.subscribeStream(stream, eventstore.SubscribeOptions{From: from})
		err := sub.wantEnd(eventstore.ErrStreamDeleted, isSignal)
		wantDeleted(e.t, "subscription to a tombstoned stream", err, stream)
	}
	e.wantNothingAfter("operations on a tombstoned stream", mark)
}
