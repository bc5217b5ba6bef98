package feed_test

import (
	"context"
	"errors"
	"iter"
	"testing"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/internal/feed"
)

var errBroken = errors.New("storage is broken")

// brokenReads is a store whose reads fail with errBroken.
type brokenReads struct{ *memory.Store }

func (brokenReads) ReadAll(context.Context, eventstore.ReadAllOptions) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) { yield(eventstore.RecordedEvent{}, errBroken) }
}

func (brokenReads) ReadStream(context.Context, string, eventstore.ReadOptions) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) { yield(eventstore.RecordedEvent{}, errBroken) }
}

// firstError ranges over seq and returns the error it ends with, failing if
// it delivers an event first.
func firstError(t *testing.T, seq iter.Seq2[eventstore.Message, error]) error {
	t.Helper()
	for m, err := range seq {
		if err != nil {
			return err
		}
		if m.Kind == eventstore.MessageEvent {
			t.Fatalf("got an event, want an error")
		}
	}
	return nil
}

func TestReadErrorsEndSubscriptions(t *testing.T) {
	ctx := context.Background()
	mem := memory.New()
	defer mem.Close()
	s, hub := brokenReads{mem}, feed.NewHub()
	defer hub.Close()
	for name, seq := range map[string]iter.Seq2[eventstore.Message, error]{
		"stream from end": feed.SubscribeToStream(ctx, s, hub, "x-1", eventstore.SubscribeOptions{From: eventstore.End}),
		"stream":          feed.SubscribeToStream(ctx, s, hub, "x-1", eventstore.SubscribeOptions{}),
		"all from end":    feed.SubscribeToAll(ctx, s, hub, eventstore.SubscribeAllOptions{From: eventstore.End}),
		"all":             feed.SubscribeToAll(ctx, s, hub, eventstore.SubscribeAllOptions{}),
	} {
		if err := firstError(t, seq); !errors.Is(err, errBroken) {
			t.Errorf("%s: ended with %v, want the read error", name, err)
		}
	}
}

func TestFromEndOfDeletedStreams(t *testing.T) {
	ctx := context.Background()
	s := memory.New()
	defer s.Close()
	appendN(t, s, "x-1", 2)
	if _, err := s.Delete(ctx, "x-1", eventstore.Any); err != nil {
		t.Fatal(err)
	}
	// Soft-deleted: from End waits for the stream to be written again.
	next, stop := pull(t, func(ctx context.Context) iter.Seq2[eventstore.Message, error] {
		return s.SubscribeToStream(ctx, "x-1", eventstore.SubscribeOptions{From: eventstore.End})
	})
	defer stop()
	nextKind(t, next, eventstore.MessageCaughtUp)
	appendN(t, s, "x-1", 1)
	if m := nextKind(t, next, eventstore.MessageEvent); m.Event.Revision != 2 {
		t.Fatalf("got revision %d, want 2", m.Event.Revision)
	}
	// Tombstoned: from End fails at once.
	if _, err := s.Tombstone(ctx, "x-1", eventstore.Any); err != nil {
		t.Fatal(err)
	}
	if err := firstError(t, s.SubscribeToStream(ctx, "x-1", eventstore.SubscribeOptions{From: eventstore.End})); !errors.Is(err, eventstore.ErrStreamDeleted) {
		t.Fatalf("from End of a tombstoned stream: %v", err)
	}
}

func TestCancelDuringCatchUp(t *testing.T) {
	s := memory.New()
	defer s.Close()
	appendN(t, s, "x-1", 600)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	var err error
	for m, e := range s.SubscribeToAll(ctx, eventstore.SubscribeAllOptions{}) {
		if e != nil {
			err = e
			break
		}
		if m.Kind == eventstore.MessageCaughtUp {
			t.Fatal("caught up although canceled during the catch-up")
		}
		if n++; n == 1 {
			cancel()
		}
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("ended with %v after %d events, want context.Canceled", err, n)
	}
}

func TestFromPosition(t *testing.T) {
	s := memory.New()
	defer s.Close()
	appendN(t, s, "x-1", 3)
	next, stop := pull(t, func(ctx context.Context) iter.Seq2[eventstore.Message, error] {
		return s.SubscribeToAll(ctx, eventstore.SubscribeAllOptions{From: eventstore.FromPosition(eventstore.Position{Commit: 2, Prepare: 2})})
	})
	defer stop()
	if m := nextKind(t, next, eventstore.MessageEvent); m.Event.Position.Commit != 3 {
		t.Fatalf("first event at %v, want the one after position 2", m.Event.Position)
	}
}

func TestQueueBoundedByEvents(t *testing.T) {
	// Big batches overflow the queue's event bound long before its batch
	// bound (the first one is taken by the blocked subscription, the next
	// two exceed the bound): the subscriber falls behind and still loses
	// nothing.
	ctx := context.Background()
	s := memory.New()
	defer s.Close()
	next, stop := pull(t, func(ctx context.Context) iter.Seq2[eventstore.Message, error] {
		return s.SubscribeToStream(ctx, "x-1", eventstore.SubscribeOptions{})
	})
	defer stop()
	nextKind(t, next, eventstore.MessageCaughtUp)
	const batch = 9000
	for range 3 {
		evs := make([]eventstore.EventData, batch)
		for i := range evs {
			evs[i] = eventstore.EventData{Type: "E"}
		}
		if _, err := s.Append(ctx, "x-1", eventstore.Any, evs...); err != nil {
			t.Fatal(err)
		}
	}
	if !revisionsInOrder(t, next, 0, 3*batch) {
		t.Fatal("no FellBehind")
	}
}

// revisionsInOrder reads events until revision end (exclusive), failing
// unless they are revisions from, from+1, …; it reports whether a
// FellBehind came along.
func revisionsInOrder(t *testing.T, next func() (eventstore.Message, error), from, end uint64) (fellBehind bool) {
	t.Helper()
	for want := from; want < end; {
		m, err := next()
		if err != nil {
			t.Fatal(err)
		}
		switch m.Kind {
		case eventstore.MessageFellBehind:
			fellBehind = true
		case eventstore.MessageEvent:
			if m.Event.Revision != want {
				t.Fatalf("got revision %d, want %d", m.Event.Revision, want)
			}
			want++
		}
	}
	return fellBehind
}

func TestLaggedDuringCatchUp(t *testing.T) {
	// The consumer stops reading in the middle of its catch-up while more
	// batches than a queue holds are committed: the subscription reads
	// again instead of switching to a queue that lost events.
	s := memory.New()
	defer s.Close()
	appendN(t, s, "x-1", 3)
	next, stop := pull(t, func(ctx context.Context) iter.Seq2[eventstore.Message, error] {
		return s.SubscribeToStream(ctx, "x-1", eventstore.SubscribeOptions{})
	})
	defer stop()
	nextKind(t, next, eventstore.MessageEvent)
	appendN(t, s, "x-1", 1100)
	revisionsInOrder(t, next, 1, 1103)
}

// TestHubFailAndCloseWith: Fail ends the current subscriptions with its
// error and lets new ones start; CloseWith ends every subscription, current
// and later, with its error, and the first close wins.
func TestHubFailAndCloseWith(t *testing.T) {
	mem := memory.New()
	defer mem.Close()
	h := feed.NewHub()
	sub := func(ctx context.Context, stream string) iter.Seq2[eventstore.Message, error] {
		if stream == "" {
			return feed.SubscribeToAll(ctx, mem, h, eventstore.SubscribeAllOptions{})
		}
		return feed.SubscribeToStream(ctx, mem, h, stream, eventstore.SubscribeOptions{})
	}
	for _, stream := range []string{"", "x-1"} {
		next, stop := pull(t, func(ctx context.Context) iter.Seq2[eventstore.Message, error] { return sub(ctx, stream) })
		nextKind(t, next, eventstore.MessageCaughtUp)
		h.Fail(errBroken)
		if _, err := next(); !errors.Is(err, errBroken) {
			t.Fatalf("subscription %q after Fail: %v, want errBroken", stream, err)
		}
		stop()
		next, stop = pull(t, func(ctx context.Context) iter.Seq2[eventstore.Message, error] { return sub(ctx, stream) })
		nextKind(t, next, eventstore.MessageCaughtUp) // a new subscription starts as usual
		stop()
	}
	next, stop := pull(t, func(ctx context.Context) iter.Seq2[eventstore.Message, error] { return sub(ctx, "") })
	defer stop()
	nextKind(t, next, eventstore.MessageCaughtUp)
	h.CloseWith(errBroken)
	h.Close() // the first close's error stays
	if _, err := next(); !errors.Is(err, errBroken) {
		t.Fatalf("after CloseWith: %v, want errBroken", err)
	}
	if err := firstError(t, sub(context.Background(), "x-1")); !errors.Is(err, errBroken) {
		t.Fatalf("subscription after CloseWith: %v, want errBroken", err)
	}
}

func TestQueueBoundedByBytes(t *testing.T) {
	// Few, large events: far under the queue's event and batch bounds, but
	// over its byte bound after a few appends (the first batch is taken by
	// the blocked subscription): the subscriber falls behind, and loses
	// nothing.
	defer feed.SetMaxQueuedBytes(1 << 20)()
	ctx := context.Background()
	s := memory.New()
	defer s.Close()
	next, stop := pull(t, func(ctx context.Context) iter.Seq2[eventstore.Message, error] {
		return s.SubscribeToStream(ctx, "x-1", eventstore.SubscribeOptions{})
	})
	defer stop()
	nextKind(t, next, eventstore.MessageCaughtUp)
	const appends = 8
	for range appends {
		ev := eventstore.EventData{Type: "Big", ContentType: eventstore.ContentTypeBinary, Data: make([]byte, 300<<10)}
		if _, err := s.Append(ctx, "x-1", eventstore.Any, ev); err != nil {
			t.Fatal(err)
		}
	}
	if !revisionsInOrder(t, next, 0, appends) {
		t.Fatal("no FellBehind: the queue held more bytes than its bound")
	}
}
