package sqlite

import (
	"context"
	"fmt"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/backend"
)

// Append implements eventstore.Store. The append is durable (fsynced) when
// it returns; concurrent appends share one commit. Besides the Store
// errors it returns ErrReadOnly on a read-only store.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	evs, err := backend.PrepareAppend(stream, events)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	return s.submit(ctx, "append", &request{kind: opAppend, stream: stream, expected: expected, events: evs, size: size(evs)})
}

// SetStreamMetadata implements eventstore.Store.
func (s *Store) SetStreamMetadata(ctx context.Context, stream string, expected eventstore.ExpectedRevision, meta eventstore.StreamMetadata) (eventstore.AppendResult, error) {
	ev, err := backend.PrepareMetadata(stream, meta)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	evs := []eventstore.EventData{ev}
	return s.submit(ctx, "set metadata", &request{kind: opAppend, stream: eventstore.MetadataStreamName(stream), expected: expected, events: evs, size: size(evs)})
}

// Delete implements eventstore.Store.
func (s *Store) Delete(ctx context.Context, stream string, expected eventstore.ExpectedRevision) (eventstore.DeleteResult, error) {
	return s.remove(ctx, "delete", opDelete, stream, expected)
}

// Tombstone implements eventstore.Store.
func (s *Store) Tombstone(ctx context.Context, stream string, expected eventstore.ExpectedRevision) (eventstore.DeleteResult, error) {
	return s.remove(ctx, "tombstone", opTombstone, stream, expected)
}

func (s *Store) remove(ctx context.Context, op string, kind opKind, stream string, expected eventstore.ExpectedRevision) (eventstore.DeleteResult, error) {
	if err := eventstore.ValidateStreamName(op, stream, false); err != nil {
		return eventstore.DeleteResult{}, err
	}
	res, err := s.submit(ctx, op, &request{kind: kind, stream: stream, expected: expected})
	return eventstore.DeleteResult{Position: res.Position}, err
}

func (s *Store) submit(ctx context.Context, op string, r *request) (eventstore.AppendResult, error) {
	if s.w == nil {
		if s.closed.Load() {
			return eventstore.AppendResult{}, eventstore.ErrClosed
		}
		return eventstore.AppendResult{}, fmt.Errorf("sqlite: %s %q: %w", op, r.stream, ErrReadOnly)
	}
	return s.w.submit(ctx, r)
}

func size(evs []eventstore.EventData) int {
	n := 0
	for i := range evs {
		n += backend.EventSize(&evs[i])
	}
	return n
}
