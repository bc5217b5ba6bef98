package testkit

import (
	"context"
	"errors"
	"testing"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/schema"
)

// NewStore returns an in-memory store with events appended to stream (none
// when events is empty); it is closed when the test ends. Use Events to
// encode typed events for it.
func NewStore(tb testing.TB, stream string, events ...eventstore.EventData) *memory.Store {
	tb.Helper()
	s := memory.New()
	tb.Cleanup(func() { s.Close() })
	if len(events) > 0 {
		if _, err := s.Append(context.Background(), stream, eventstore.Any, events...); err != nil {
			tb.Fatalf("testkit: seed %q: %v", stream, err)
		}
	}
	return s
}

// Events encodes events through the registry, as production code would:
// an event the registry rejects (unregistered, or invalid under its schema)
// fails the test.
func Events(tb testing.TB, reg *schema.Registry, events ...any) []eventstore.EventData {
	tb.Helper()
	return encode(tb, reg, "event", events)
}

// Records returns the events of a stream as the store reads them, or nil
// when the stream does not exist (or is soft-deleted); any other read error
// fails the test. It is the read-back half of "nothing was written" checks.
func Records(tb testing.TB, s eventstore.Store, stream string) []eventstore.RecordedEvent {
	tb.Helper()
	var out []eventstore.RecordedEvent
	for rec, err := range s.ReadStream(context.Background(), stream, eventstore.ReadOptions{}) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return nil
		}
		if err != nil {
			tb.Fatalf("testkit: read %q: %v", stream, err)
		}
		out = append(out, rec)
	}
	return out
}
