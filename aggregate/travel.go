package aggregate

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/schema"
)

// LoadAt returns an aggregate as it was right after the event at revision
// rev: the newest usable snapshot not after rev (with WithSnapshotEvery) and
// the events up to rev. A stream that does not reach rev is a
// *NotFoundError.
func (r *Repository[S]) LoadAt(ctx context.Context, id string, rev uint64) (Root[S], error) {
	if rev == head {
		return Root[S]{ID: id, Revision: eventstore.NoStream}, &NotFoundError{Stream: r.typ.Stream(id), At: "revision " + strconv.FormatUint(rev, 10)}
	}
	l, err := r.load(ctx, id, rev, r.opts.snapshotEvery > 0)
	if err != nil {
		return Root[S]{ID: id, Revision: eventstore.NoStream}, err
	}
	if !l.exists || l.rev != rev {
		return l.aggregate(id), &NotFoundError{Stream: r.typ.Stream(id), At: "revision " + strconv.FormatUint(rev, 10)}
	}
	return l.aggregate(id), nil
}

// LoadAsOf returns an aggregate as it was at time t: the events in stream
// order up to the first one that happened after t. An event happened when
// its decided-at metadata says (schema.Metadata.DecidedAt), or when the
// store recorded it if it has none. Snapshots are not used. An aggregate
// with no event at or before t is a *NotFoundError.
func (r *Repository[S]) LoadAsOf(ctx context.Context, id string, t time.Time) (Root[S], error) {
	a := Root[S]{ID: id, State: r.typ.initial(), Revision: eventstore.NoStream}
	for step, err := range r.Replay(ctx, id) {
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				break
			}
			return a, err
		}
		if step.At().After(t) {
			break
		}
		a.State, a.Revision = step.State, eventstore.Exact(step.Event.Record.Revision)
	}
	if !a.Exists() {
		return a, &NotFoundError{Stream: r.typ.Stream(id), At: "as of " + t.UTC().Format(time.RFC3339Nano)}
	}
	return a, nil
}

// A Step is one event of a Replay and the state right after it.
type Step[S any] struct {
	// Event is the event as the registry decoded it; Event.Record is the
	// event as stored (revision, position, times).
	Event schema.Event
	// State is the aggregate's state after Event.
	State S
}

// At returns when the step's event happened: its decided-at metadata, or
// when the store recorded it.
func (s Step[S]) At() time.Time {
	if !s.Event.Metadata.DecidedAt.IsZero() {
		return s.Event.Metadata.DecidedAt
	}
	return s.Event.Record.Created
}

// Replay rebuilds an aggregate event by event from its first event,
// yielding the state after each one; snapshots are not used, and events the
// registry skips are not yielded. The iterator reads lazily and stops when
// the loop breaks. A missing aggregate yields one *NotFoundError; a failure
// yields one error and stops.
func (r *Repository[S]) Replay(ctx context.Context, id string) iter.Seq2[Step[S], error] {
	return func(yield func(Step[S], error) bool) {
		if err := r.checkID(id); err != nil {
			yield(Step[S]{}, err)
			return
		}
		stream := r.typ.Stream(id)
		state := r.typ.initial()
		for rec, err := range r.store.ReadStream(ctx, stream, eventstore.ReadOptions{}) {
			if errors.Is(err, eventstore.ErrStreamNotFound) {
				err = &NotFoundError{Stream: stream}
			} else if err != nil {
				err = fmt.Errorf("aggregate: replay %q: %w", stream, err)
			}
			if err != nil {
				yield(Step[S]{}, err)
				return
			}
			var (
				ev      schema.Event
				applied bool
			)
			if state, ev, applied, err = r.apply(state, rec); err != nil {
				yield(Step[S]{}, err)
				return
			}
			if applied && !yield(Step[S]{Event: ev, State: state}, nil) {
				return
			}
		}
	}
}
