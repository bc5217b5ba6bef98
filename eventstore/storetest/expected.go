package storetest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/chronicle-go/chronicle/eventstore"
)

// The states of a stream in Store.Append's expected-revision table. The
// existing and soft-deleted streams hold revisions 0..lastRev.
type streamState int

const (
	absent streamState = iota
	existing
	softDeleted
	tombstoned
)

const lastRev = 2

func (st streamState) String() string {
	return [...]string{"Absent", "Existing", "SoftDeleted", "Tombstoned"}[st]
}

// prepare puts stream in state st and returns the events it holds.
func (e *env) prepare(stream string, st streamState) []eventstore.EventData {
	e.t.Helper()
	if st == absent {
		return nil
	}
	evs := e.seed(stream, lastRev+1)
	switch st {
	case softDeleted:
		if _, err := e.s.Delete(e.ctx, stream, eventstore.Exact(lastRev)); err != nil {
			e.t.Fatalf("Delete: %v", err)
		}
	case tombstoned:
		if _, err := e.s.Tombstone(e.ctx, stream, eventstore.Exact(lastRev)); err != nil {
			e.t.Fatalf("Tombstone: %v", err)
		}
	}
	return evs
}

// What an append in the table must do.
type outcomeKind int

const (
	writes     outcomeKind = iota // writes at revision rev
	wrong                         // fails with a wrong expected version, actual
	deleted                       // fails with ErrStreamDeleted
	checksOnly                    // an empty append that succeeds and writes nothing
)

type outcome struct {
	kind   outcomeKind
	rev    uint64
	actual eventstore.ExpectedRevision
}

func writeAt(rev uint64) outcome                         { return outcome{kind: writes, rev: rev} }
func wrongVersion(a eventstore.ExpectedRevision) outcome { return outcome{kind: wrong, actual: a} }

var isDeleted = outcome{kind: deleted}

type tableRow struct {
	name     string
	expected eventstore.ExpectedRevision
	outcome  outcome
}

// appendTable is Store.Append's expected-revision table for a non-empty
// append, by stream state.
func appendTable(st streamState) []tableRow {
	L := uint64(lastRev)
	exactL := eventstore.Exact(L)
	switch st {
	case absent:
		return []tableRow{
			{"Any", eventstore.Any, writeAt(0)},
			{"NoStream", eventstore.NoStream, writeAt(0)},
			{"StreamExists", eventstore.StreamExists, wrongVersion(eventstore.NoStream)},
			{"Exact(0)", eventstore.Exact(0), wrongVersion(eventstore.NoStream)},
			{"Exact(5)", eventstore.Exact(5), wrongVersion(eventstore.NoStream)},
		}
	case existing:
		return []tableRow{
			{"Any", eventstore.Any, writeAt(L + 1)},
			{"NoStream", eventstore.NoStream, wrongVersion(exactL)},
			{"StreamExists", eventstore.StreamExists, writeAt(L + 1)},
			{"Exact(R=L)", exactL, writeAt(L + 1)},
			{"Exact(R<L)", eventstore.Exact(L - 1), wrongVersion(exactL)},
			{"Exact(R>L)", eventstore.Exact(L + 1), wrongVersion(exactL)},
		}
	case softDeleted:
		return []tableRow{
			{"Any", eventstore.Any, writeAt(L + 1)},
			{"NoStream", eventstore.NoStream, writeAt(L + 1)},
			{"StreamExists", eventstore.StreamExists, isDeleted},
			{"Exact(R=L)", exactL, writeAt(L + 1)},
			{"Exact(R<L)", eventstore.Exact(L - 1), wrongVersion(exactL)},
			{"Exact(R>L)", eventstore.Exact(L + 1), wrongVersion(exactL)},
		}
	}
	return []tableRow{
		{"Any", eventstore.Any, isDeleted},
		{"NoStream", eventstore.NoStream, isDeleted},
		{"StreamExists", eventstore.StreamExists, isDeleted},
		{"Exact(R=L)", exactL, isDeleted},
		{"Exact(R<L)", eventstore.Exact(L - 1), isDeleted},
		{"Exact(R>L)", eventstore.Exact(L + 1), isDeleted},
		{"Exact(TombstoneRevision)", eventstore.Exact(eventstore.TombstoneRevision), isDeleted},
	}
}

// emptyTable is the same table for an append of no events: a consistency
// check that writes nothing (and, with R<L, cannot be an idempotent replay).
func emptyTable(st streamState) []tableRow {
	rows := appendTable(st)
	for i := range rows {
		if rows[i].outcome.kind == writes {
			rows[i].outcome = outcome{kind: checksOnly}
		}
	}
	return rows
}

// testExpectedRevision runs the whole expected-revision table of
// Store.Append, with and without events.
func (s *suite) testExpectedRevision(t *testing.T) {
	for _, st := range []streamState{absent, existing, softDeleted, tombstoned} {
		t.Run(st.String(), func(t *testing.T) {
			for _, row := range appendTable(st) {
				s.run(t, row.name, func(e *env) { e.checkAppendRow(st, row, 2) })
			}
			t.Run("Empty", func(t *testing.T) {
				for _, row := range emptyTable(st) {
					s.run(t, row.name, func(e *env) { e.checkAppendRow(st, row, 0) })
				}
			})
		})
	}
	s.run(t, "ErrorsIs", func(e *env) {
		e.seed("order-1", 1)
		_, err := e.s.Append(e.ctx, "order-1", eventstore.NoStream, newEvent("A"))
		wantWrongVersion(e.t, "Append", err, "order-1", eventstore.NoStream, eventstore.Exact(0))
		wrapped := fmt.Errorf("handler: %w", err)
		wantWrongVersion(e.t, "wrapped error", wrapped, "order-1", eventstore.NoStream, eventstore.Exact(0))
		for _, other := range []error{eventstore.ErrStreamNotFound, eventstore.ErrStreamDeleted, eventstore.ErrInvalidArgument, eventstore.ErrClosed} {
			if errors.Is(err, other) {
				e.t.Fatalf("a wrong expected version also matches %v", other)
			}
		}
	})
}

// checkAppendRow appends n new events to a stream in state st and checks the
// row's outcome.
func (e *env) checkAppendRow(st streamState, row tableRow, n int) {
	e.t.Helper()
	const stream = "order-1"
	prior := e.prepare(stream, st)
	mark := e.head()
	meta, err := e.s.GetStreamMetadata(e.ctx, stream)
	if st == tombstoned {
		err = nil // not the point here
	}
	if err != nil {
		e.t.Fatalf("GetStreamMetadata: %v", err)
	}
	evs := newEvents(n, "Appended")
	res, err := e.s.Append(e.ctx, stream, row.expected, evs...)
	what := fmt.Sprintf("Append(%v, %d events) to a %v stream", row.expected, n, st)

	// What the stream reads as when nothing was written.
	var visible []eventstore.EventData
	if st == existing {
		visible = prior
	}
	switch o := row.outcome; o.kind {
	case writes:
		if err != nil {
			e.t.Fatalf("%s: %v, want a write at revision %d", what, err, o.rev)
		}
		last := o.rev + uint64(n) - 1
		if res.Next != eventstore.Exact(last) {
			e.t.Fatalf("%s: Next = %v, want %d", what, res.Next, last)
		}
		if res.Position.IsZero() || res.Position.Compare(mark) <= 0 {
			e.t.Fatalf("%s: Position = %v, want one after %v", what, res.Position, mark)
		}
		got := e.mustRead(stream, eventstore.ReadOptions{})
		if st == softDeleted { // only the new events are visible
			wantStream(e.t, what+": ReadStream", got, stream, o.rev, false, evs)
			m, err := e.s.GetStreamMetadata(e.ctx, stream)
			if err != nil {
				e.t.Fatalf("GetStreamMetadata: %v", err)
			}
			if m.Metadata.TruncateBefore != o.rev {
				e.t.Fatalf("%s: metadata $tb = %d after the undelete, want %d", what, m.Metadata.TruncateBefore, o.rev)
			}
			return
		}
		wantStream(e.t, what+": ReadStream", got, stream, 0, false, append(visible, evs...))
		return
	case checksOnly:
		if err != nil {
			e.t.Fatalf("%s: %v, want success", what, err)
		}
		if !res.Position.IsZero() {
			e.t.Fatalf("%s: Position = %v, want zero (nothing written)", what, res.Position)
		}
		if st != softDeleted {
			want := eventstore.NoStream
			if st == existing {
				want = eventstore.Exact(lastRev)
			}
			if res.Next != want {
				e.t.Fatalf("%s: Next = %v, want %v", what, res.Next, want)
			}
		}
		e.wantNothingAfter(what, mark)
	default:
		e.wantRejected(what, err, stream, row, mark)
	}
	switch st {
	case absent, softDeleted:
		e.wantNotFound(stream)
		if st == softDeleted {
			m, err := e.s.GetStreamMetadata(e.ctx, stream)
			if err != nil || m.Revision != meta.Revision {
				e.t.Fatalf("%s: metadata revision %v (%v), want it unchanged at %v", what, m.Revision, err, meta.Revision)
			}
		}
	case existing:
		wantStream(e.t, what+": ReadStream", e.mustRead(stream, eventstore.ReadOptions{}), stream, 0, false, visible)
	case tombstoned:
		_, err := e.read(stream, eventstore.ReadOptions{})
		wantDeleted(e.t, "ReadStream", err, stream)
	}
}

// wantRejected checks a write of a table row failed as the row says
// (wrong expected version or stream deleted) and wrote nothing after mark.
func (e *env) wantRejected(what string, err error, stream string, row tableRow, mark eventstore.Position) {
	e.t.Helper()
	switch row.outcome.kind {
	case wrong:
		wantWrongVersion(e.t, what, err, stream, row.expected, row.outcome.actual)
	case deleted:
		wantDeleted(e.t, what, err, stream)
	default:
		e.t.Fatalf("%s: bad table row %+v", what, row)
	}
	e.wantNothingAfter(what, mark)
}

// wantNothingAfter fails if $all holds events after mark.
func (e *env) wantNothingAfter(what string, mark eventstore.Position) {
	e.t.Helper()
	if evs := e.readAllAfter(mark, nil); len(evs) > 0 {
		e.t.Fatalf("%s: $all grew by %s, want nothing written", what, revisions(evs))
	}
}
