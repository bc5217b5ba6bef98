package backend

import (
	"github.com/google/uuid"

	"github.com/chronicle-go/chronicle/eventstore"
)

// This file holds the write rules every backend shares, so that they behave
// identically: backends describe a stream with StreamState, ask DecideAppend
// or DecideDelete what to do, and then do it inside their own transaction.

// StreamState is what a backend knows about a stream before a write.
type StreamState struct {
	// Exists: at least one event was ever written to the stream (it may be
	// soft-deleted since).
	Exists bool
	// Last is the revision of the stream's last event, when Exists.
	Last uint64
	// Deleted: the stream is soft-deleted (its metadata's $tb is
	// TombstoneRevision).
	Deleted bool
	// Tombstoned: the stream was hard-deleted.
	Tombstoned bool
}

// Actual returns the state a WrongExpectedVersionError reports.
func (s StreamState) Actual() eventstore.ExpectedRevision {
	if !s.Exists {
		return eventstore.NoStream
	}
	return eventstore.Exact(s.Last)
}

// EventLookup gives DecideAppend the stream's existing events for
// idempotency checks.
type EventLookup interface {
	// EventAt returns the ID and position of the event at rev in the stream;
	// ok is false when there is none.
	EventAt(rev uint64) (id uuid.UUID, pos eventstore.Position, ok bool, err error)
	// RevisionOf returns the revision of the stream's event with this ID; ok
	// is false when the stream has none (a backend may remember only recent
	// IDs, as EventStoreDB does).
	RevisionOf(id uuid.UUID) (rev uint64, ok bool, err error)
}

// WritePlan is what DecideAppend decided.
type WritePlan struct {
	// Write: append the events at revisions First, First+1, ….
	Write bool
	First uint64
	// Undelete: the stream was soft-deleted; in the same transaction,
	// rewrite its metadata with TruncateBefore = First (other keys kept).
	Undelete bool
	// Result is the append's result when Write is false (an empty append or
	// an idempotent re-append). When Write is true the backend fills in the
	// position; Next is already set.
	Result eventstore.AppendResult
}

// DecideAppend applies the expected-revision table and the idempotency rules
// (see Store.Append) to an append of events (already prepared) to a stream in
// state st.
func DecideAppend(stream string, expected eventstore.ExpectedRevision, st StreamState, events []eventstore.EventData, lookup EventLookup) (WritePlan, error) {
	if err := ValidateExpected("append", stream, expected); err != nil {
		return WritePlan{}, err
	}
	if st.Tombstoned {
		return WritePlan{}, &eventstore.StreamDeletedError{Stream: stream}
	}
	n := uint64(len(events))
	wrong := func() (WritePlan, error) {
		return WritePlan{}, &eventstore.WrongExpectedVersionError{Stream: stream, Expected: expected, Actual: st.Actual()}
	}
	next := uint64(0)
	if st.Exists {
		next = st.Last + 1
	}
	write := func() (WritePlan, error) {
		if n == 0 {
			return WritePlan{Result: eventstore.AppendResult{Next: st.Actual()}}, nil
		}
		return WritePlan{Write: true, First: next, Undelete: st.Deleted, Result: eventstore.AppendResult{Next: eventstore.Exact(next + n - 1)}}, nil
	}
	r, _ := expected.Revision()
	switch {
	case expected.IsAny() || expected.IsStreamExists():
		if expected.IsStreamExists() {
			if !st.Exists {
				return wrong()
			}
			if st.Deleted {
				return WritePlan{}, &eventstore.StreamDeletedError{Stream: stream}
			}
		}
		if n > 0 && st.Exists {
			rev, found, err := lookup.RevisionOf(events[0].ID)
			if err != nil {
				return WritePlan{}, err
			}
			if found {
				plan, match, err := replayAt(rev, st, events, lookup)
				if err != nil || match {
					return plan, err
				}
				return wrong() // the first ID was written, the rest do not match
			}
		}
		return write()
	case expected.IsNoStream():
		if !st.Exists || st.Deleted {
			return write()
		}
		if n > 0 {
			if plan, match, err := replayAt(0, st, events, lookup); err != nil || match {
				return plan, err
			}
		}
		return wrong()
	default: // Exact(r)
		switch {
		case !st.Exists:
			return wrong()
		case r == st.Last:
			return write()
		case r < st.Last && n > 0:
			if plan, match, err := replayAt(r+1, st, events, lookup); err != nil || match {
				return plan, err
			}
		}
		return wrong()
	}
}

// replayAt reports whether the stream holds exactly the events' IDs at
// revisions first, first+1, …; if so the append is an idempotent re-append.
func replayAt(first uint64, st StreamState, events []eventstore.EventData, lookup EventLookup) (WritePlan, bool, error) {
	n := uint64(len(events))
	if first+n-1 > st.Last {
		return WritePlan{}, false, nil
	}
	var pos eventstore.Position
	for i := range events {
		id, p, ok, err := lookup.EventAt(first + uint64(i))
		if err != nil {
			return WritePlan{}, false, err
		}
		if !ok || id != events[i].ID {
			return WritePlan{}, false, nil
		}
		pos = p
	}
	return WritePlan{Result: eventstore.AppendResult{Next: eventstore.Exact(first + n - 1), Position: pos}}, true, nil
}

// DecideDelete applies the expected-revision rules to Delete (tombstone
// false) or Tombstone (true) of a stream in state st; hasMetadata says
// whether the stream's metadata stream exists. A nil error means: write the
// delete record.
func DecideDelete(stream string, expected eventstore.ExpectedRevision, st StreamState, hasMetadata, tombstone bool) error {
	op := "delete"
	if tombstone {
		op = "tombstone"
	}
	if err := ValidateExpected(op, stream, expected); err != nil {
		return err
	}
	if st.Tombstoned {
		return &eventstore.StreamDeletedError{Stream: stream}
	}
	if !tombstone && !st.Exists && !hasMetadata {
		return &eventstore.WrongExpectedVersionError{Stream: stream, Expected: expected, Actual: eventstore.NoStream}
	}
	_, err := DecideAppend(stream, expected, st, nil, nil)
	return err
}
