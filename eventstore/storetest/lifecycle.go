package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
)

// testLifecycle checks context cancellation and Close.
func (s *suite) testLifecycle(t *testing.T) {
	s.run(t, "CancelLive", func(e *env) {
		e.seed("order-1", 2)
		for _, sub := range []*subscription{
			e.subscribeStream("order-1", eventstore.SubscribeOptions{}),
			e.subscribeAll(eventstore.SubscribeAllOptions{}),
			e.subscribeAll(eventstore.SubscribeAllOptions{Filter: eventstore.StreamPrefixFilter("order-")}),
		} {
			sub.caughtUp()
			sub.cancel()
			sub.wantEnd(context.Canceled, nil)
		}
	})
	s.run(t, "CancelCatchUp", func(e *env) {
		e.seed("order-1", 1000)
		for _, sub := range []*subscription{
			e.subscribeStream("order-1", eventstore.SubscribeOptions{}),
			e.subscribeAll(eventstore.SubscribeAllOptions{}),
		} {
			sub.events(10)
			sub.cancel()
			// Events already on their way may still arrive; then the end.
			sub.wantEnd(context.Canceled, anyMessage)
		}
	})
	s.run(t, "Deadline", func(e *env) {
		e.seed("order-1", 1)
		ctx, cancel := context.WithTimeout(e.ctx, 20*time.Millisecond)
		defer cancel()
		sub := e.pull("SubscribeToStream with a deadline", false, cancel, e.s.SubscribeToStream(ctx, "order-1", eventstore.SubscribeOptions{}))
		sub.wantEnd(context.DeadlineExceeded, anyMessage)
	})
	s.run(t, "CanceledBeforeRanging", func(e *env) {
		e.seed("order-1", 1)
		ctx, cancel := context.WithCancel(e.ctx)
		cancel()
		sub := e.pull("SubscribeToAll with a canceled context", false, cancel, e.s.SubscribeToAll(ctx, eventstore.SubscribeAllOptions{From: eventstore.End}))
		sub.wantEnd(context.Canceled, isSignal)
	})
	s.run(t, "Close", func(e *env) {
		e.seed("order-1", 3)
		subs := []*subscription{
			e.subscribeStream("order-1", eventstore.SubscribeOptions{}),
			e.subscribeStream("order-2", eventstore.SubscribeOptions{From: eventstore.End}),
			e.subscribeAll(eventstore.SubscribeAllOptions{}),
			e.subscribeAll(eventstore.SubscribeAllOptions{From: eventstore.End, Filter: eventstore.ExcludeSystemEventsFilter()}),
		}
		for _, sub := range subs {
			sub.caughtUp()
		}
		catchingUp := e.subscribeAll(eventstore.SubscribeAllOptions{})
		catchingUp.events(1)
		if err := e.s.Close(); err != nil {
			e.t.Fatalf("Close: %v", err)
		}
		for _, sub := range append(subs, catchingUp) {
			sub.wantEnd(eventstore.ErrClosed, anyMessage)
		}
		e.wantClosed()
		if err := e.s.Close(); err != nil {
			e.t.Fatalf("second Close: %v", err)
		}
	})
}

// wantClosed checks every operation of a closed store fails with ErrClosed.
func (e *env) wantClosed() {
	e.t.Helper()
	want := func(what string, err error) {
		e.t.Helper()
		if !errors.Is(err, eventstore.ErrClosed) {
			e.t.Fatalf("%s after Close: %v, want ErrClosed", what, err)
		}
	}
	_, err := e.s.Append(e.ctx, "order-1", eventstore.Any, newEvent("Late"))
	want("Append", err)
	_, err = collect(e.t, e.s.ReadStream(e.ctx, "order-1", eventstore.ReadOptions{}))
	want("ReadStream", err)
	_, err = collect(e.t, e.s.ReadAll(e.ctx, eventstore.ReadAllOptions{}))
	want("ReadAll", err)
	want("SubscribeToStream", e.endOf("SubscribeToStream after Close", e.s.SubscribeToStream(e.ctx, "order-1", eventstore.SubscribeOptions{})))
	want("SubscribeToAll", e.endOf("SubscribeToAll after Close", e.s.SubscribeToAll(e.ctx, eventstore.SubscribeAllOptions{From: eventstore.End})))
	_, err = e.s.Delete(e.ctx, "order-1", eventstore.Any)
	want("Delete", err)
	_, err = e.s.Tombstone(e.ctx, "order-1", eventstore.Any)
	want("Tombstone", err)
	_, err = e.s.GetStreamMetadata(e.ctx, "order-1")
	want("GetStreamMetadata", err)
	_, err = e.s.SetStreamMetadata(e.ctx, "order-1", eventstore.Any, eventstore.StreamMetadata{MaxCount: 1})
	want("SetStreamMetadata", err)
}
