package backend_test

import (
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/backend"
)

// fakeLookup is a stream whose event at revision i has ids[i].
type fakeLookup struct {
	ids []uuid.UUID
	err error
}

func (f fakeLookup) EventAt(rev uint64) (uuid.UUID, eventstore.Position, bool, error) {
	if f.err != nil {
		return uuid.Nil, eventstore.Position{}, false, f.err
	}
	if rev >= uint64(len(f.ids)) {
		return uuid.Nil, eventstore.Position{}, false, nil
	}
	return f.ids[rev], eventstore.Position{Commit: 100 + rev, Prepare: 100 + rev}, true, nil
}

func (f fakeLookup) RevisionOf(id uuid.UUID) (uint64, bool, error) {
	if f.err != nil {
		return 0, false, f.err
	}
	for i, x := range f.ids {
		if x == id {
			return uint64(i), true, nil
		}
	}
	return 0, false, nil
}

func ids(n int) []uuid.UUID {
	out := make([]uuid.UUID, n)
	for i := range out {
		out[i] = uuid.New()
	}
	return out
}

func events(ids ...uuid.UUID) []eventstore.EventData {
	out := make([]eventstore.EventData, len(ids))
	for i, id := range ids {
		out[i] = eventstore.EventData{ID: id, Type: "T"}
	}
	return out
}

func TestDecideAppendTable(t *testing.T) {
	existing := ids(3) // revisions 0..2
	fresh := ids(2)
	absent := backend.StreamState{}
	live := backend.StreamState{Exists: true, Last: 2}
	deleted := backend.StreamState{Exists: true, Last: 2, Deleted: true}
	tomb := backend.StreamState{Exists: true, Last: 2, Tombstoned: true}
	lk := fakeLookup{ids: existing}

	type want struct {
		err        error
		write      bool
		first      uint64
		undelete   bool
		next       eventstore.ExpectedRevision
		idempotent bool
	}
	cases := []struct {
		name     string
		expected eventstore.ExpectedRevision
		st       backend.StreamState
		evs      []eventstore.EventData
		want     want
	}{
		{"any/absent", eventstore.Any, absent, events(fresh...), want{write: true, first: 0, next: eventstore.Exact(1)}},
		{"any/live", eventstore.Any, live, events(fresh...), want{write: true, first: 3, next: eventstore.Exact(4)}},
		{"any/deleted", eventstore.Any, deleted, events(fresh...), want{write: true, first: 3, undelete: true, next: eventstore.Exact(4)}},
		{"any/tombstoned", eventstore.Any, tomb, events(fresh...), want{err: eventstore.ErrStreamDeleted}},
		{"nostream/absent", eventstore.NoStream, absent, events(fresh...), want{write: true, first: 0, next: eventstore.Exact(1)}},
		{"nostream/live", eventstore.NoStream, live, events(fresh...), want{err: eventstore.ErrWrongExpectedVersion}},
		{"nostream/deleted", eventstore.NoStream, deleted, events(fresh...), want{write: true, first: 3, undelete: true, next: eventstore.Exact(4)}},
		{"nostream/tombstoned", eventstore.NoStream, tomb, events(fresh...), want{err: eventstore.ErrStreamDeleted}},
		{"exists/absent", eventstore.StreamExists, absent, events(fresh...), want{err: eventstore.ErrWrongExpectedVersion}},
		{"exists/live", eventstore.StreamExists, live, events(fresh...), want{write: true, first: 3, next: eventstore.Exact(4)}},
		{"exists/deleted", eventstore.StreamExists, deleted, events(fresh...), want{err: eventstore.ErrStreamDeleted}},
		{"exact/absent", eventstore.Exact(0), absent, events(fresh...), want{err: eventstore.ErrWrongExpectedVersion}},
		{"exact=last", eventstore.Exact(2), live, events(fresh...), want{write: true, first: 3, next: eventstore.Exact(4)}},
		{"exact>last", eventstore.Exact(5), live, events(fresh...), want{err: eventstore.ErrWrongExpectedVersion}},
		{"exact<last", eventstore.Exact(0), live, events(fresh...), want{err: eventstore.ErrWrongExpectedVersion}},
		{"exact=last/deleted", eventstore.Exact(2), deleted, events(fresh...), want{write: true, first: 3, undelete: true, next: eventstore.Exact(4)}},
		{"exact/tombstoned", eventstore.Exact(2), tomb, events(fresh...), want{err: eventstore.ErrStreamDeleted}},
		// idempotency
		{"idem/any", eventstore.Any, live, events(existing[1:]...), want{idempotent: true, next: eventstore.Exact(2)}},
		{"idem/exists", eventstore.StreamExists, live, events(existing[:2]...), want{idempotent: true, next: eventstore.Exact(1)}},
		{"idem/any partial", eventstore.Any, live, events(existing[1], fresh[0]), want{err: eventstore.ErrWrongExpectedVersion}},
		{"idem/any past end", eventstore.Any, live, events(existing[2], fresh[0]), want{err: eventstore.ErrWrongExpectedVersion}},
		{"idem/nostream", eventstore.NoStream, live, events(existing[:2]...), want{idempotent: true, next: eventstore.Exact(1)}},
		{"idem/nostream mismatch", eventstore.NoStream, live, events(existing[1:]...), want{err: eventstore.ErrWrongExpectedVersion}},
		{"idem/exact<last", eventstore.Exact(0), live, events(existing[1:]...), want{idempotent: true, next: eventstore.Exact(2)}},
		{"idem/exact<last mismatch", eventstore.Exact(0), live, events(existing[2]), want{err: eventstore.ErrWrongExpectedVersion}},
		// empty appends are checks
		{"empty/any/absent", eventstore.Any, absent, nil, want{next: eventstore.NoStream}},
		{"empty/nostream/absent", eventstore.NoStream, absent, nil, want{next: eventstore.NoStream}},
		{"empty/exists/absent", eventstore.StreamExists, absent, nil, want{err: eventstore.ErrWrongExpectedVersion}},
		{"empty/exact/live", eventstore.Exact(2), live, nil, want{next: eventstore.Exact(2)}},
		{"empty/nostream/live", eventstore.NoStream, live, nil, want{err: eventstore.ErrWrongExpectedVersion}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			plan, err := backend.DecideAppend("s", c.expected, c.st, c.evs, lk)
			if c.want.err != nil {
				if !errors.Is(err, c.want.err) {
					t.Fatalf("err = %v, want %v", err, c.want.err)
				}
				var wrong *eventstore.WrongExpectedVersionError
				if errors.As(err, &wrong) {
					if wrong.Stream != "s" || wrong.Expected != c.expected || wrong.Actual != c.st.Actual() {
						t.Fatalf("details = %+v", wrong)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if plan.Write != c.want.write || plan.First != c.want.first || plan.Undelete != c.want.undelete || plan.Result.Next != c.want.next {
				t.Fatalf("plan = %+v, want %+v", plan, c.want)
			}
			if c.want.idempotent && plan.Result.Position.IsZero() {
				t.Fatalf("idempotent result has no position: %+v", plan)
			}
		})
	}
}

func TestDecideAppendLookupError(t *testing.T) {
	boom := errors.New("boom")
	live := backend.StreamState{Exists: true, Last: 2}
	if _, err := backend.DecideAppend("s", eventstore.Any, live, events(uuid.New()), fakeLookup{err: boom}); !errors.Is(err, boom) {
		t.Fatalf("any: %v", err)
	}
	if _, err := backend.DecideAppend("s", eventstore.Exact(0), live, events(uuid.New()), fakeLookup{err: boom}); !errors.Is(err, boom) {
		t.Fatalf("exact: %v", err)
	}
	// RevisionOf succeeds, EventAt fails.
	id := uuid.New()
	if _, err := backend.DecideAppend("s", eventstore.Any, live, events(id), errAt{fakeLookup{ids: []uuid.UUID{id}}, boom}); !errors.Is(err, boom) {
		t.Fatalf("any/eventAt: %v", err)
	}
}

type errAt struct {
	fakeLookup
	err error
}

func (e errAt) EventAt(uint64) (uuid.UUID, eventstore.Position, bool, error) {
	return uuid.Nil, eventstore.Position{}, false, e.err
}

func TestDecideDelete(t *testing.T) {
	absent := backend.StreamState{}
	live := backend.StreamState{Exists: true, Last: 4}
	cases := []struct {
		name      string
		expected  eventstore.ExpectedRevision
		st        backend.StreamState
		meta      bool
		tombstone bool
		err       error
	}{
		{"delete absent", eventstore.Any, absent, false, false, eventstore.ErrWrongExpectedVersion},
		{"delete absent with metadata", eventstore.Any, absent, true, false, nil},
		{"delete live any", eventstore.Any, live, false, false, nil},
		{"delete live exact", eventstore.Exact(4), live, false, false, nil},
		{"delete live wrong", eventstore.Exact(3), live, false, false, eventstore.ErrWrongExpectedVersion},
		{"delete tombstoned", eventstore.Any, backend.StreamState{Tombstoned: true}, false, false, eventstore.ErrStreamDeleted},
		{"tombstone absent any", eventstore.Any, absent, false, true, nil},
		{"tombstone absent nostream", eventstore.NoStream, absent, false, true, nil},
		{"tombstone absent exists", eventstore.StreamExists, absent, false, true, eventstore.ErrWrongExpectedVersion},
		{"tombstone live nostream", eventstore.NoStream, live, false, true, eventstore.ErrWrongExpectedVersion},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := backend.DecideDelete("s", c.expected, c.st, c.meta, c.tombstone)
			if c.err == nil && err != nil || c.err != nil && !errors.Is(err, c.err) {
				t.Fatalf("err = %v, want %v", err, c.err)
			}
		})
	}
}
