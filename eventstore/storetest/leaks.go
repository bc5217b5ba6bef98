package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/chronicle-go/chronicle/eventstore"
)

// testLeaks checks that iterators release everything when a loop breaks or
// a subscription ends: no goroutine is left behind. These subtests do not
// run in parallel: goleak sees every goroutine of the process.
func (s *suite) testLeaks(t *testing.T) {
	s.leak(t, "BreakReadStream", func(e *env) {
		for range e.s.ReadStream(e.ctx, "order-1", eventstore.ReadOptions{}) {
			break
		}
	})
	s.leak(t, "BreakReadAll", func(e *env) {
		for range e.s.ReadAll(e.ctx, eventstore.ReadAllOptions{Filter: eventstore.EventTypePrefixFilter("Seeded")}) {
			break
		}
	})
	s.leak(t, "BreakStreamSubscriptionCatchingUp", func(e *env) {
		for range e.s.SubscribeToStream(e.ctx, "order-1", eventstore.SubscribeOptions{}) {
			break
		}
	})
	s.leak(t, "BreakStreamSubscriptionLive", func(e *env) {
		e.breakLive(e.s.SubscribeToStream(e.ctx, "order-1", eventstore.SubscribeOptions{}), "order-1")
	})
	s.leak(t, "BreakAllSubscriptionLive", func(e *env) {
		e.breakLive(e.s.SubscribeToAll(e.ctx, eventstore.SubscribeAllOptions{From: eventstore.End}), "order-2")
	})
	s.leak(t, "BreakFilteredSubscriptionLive", func(e *env) {
		f := eventstore.StreamPrefixFilter("order-2")
		f.CheckpointInterval = 1
		e.breakLive(e.s.SubscribeToAll(e.ctx, eventstore.SubscribeAllOptions{Filter: f}), "order-2")
	})
	s.leak(t, "BreakAfterFallingBehind", func(e *env) {
		var errs []error
		n := 0
		for m, err := range e.s.SubscribeToAll(e.ctx, eventstore.SubscribeAllOptions{From: eventstore.End}) {
			if err != nil {
				errs = append(errs, err)
				break
			}
			if m.Kind == eventstore.MessageCaughtUp && n == 0 {
				// Append more than a live queue holds while not reading.
				if err := e.appendConcurrently([]string{"order-3"}, 4, loadSize(), nil); err != nil {
					errs = append(errs, err)
					break
				}
			}
			if n++; n == 100 {
				break
			}
		}
		if err := errors.Join(errs...); err != nil {
			e.t.Fatal(err)
		}
	})
	s.leak(t, "Canceled", func(e *env) {
		ctx, cancel := context.WithCancel(e.ctx)
		defer cancel()
		var err error
		for m, err2 := range e.s.SubscribeToStream(ctx, "order-1", eventstore.SubscribeOptions{}) {
			if err2 != nil {
				err = err2
				break
			}
			if m.Kind == eventstore.MessageCaughtUp {
				cancel()
			}
		}
		if !errors.Is(err, context.Canceled) {
			e.t.Fatalf("canceled subscription ended with %v", err)
		}
	})
	s.leak(t, "Tombstoned", func(e *env) {
		var err error
		for m, err2 := range e.s.SubscribeToStream(e.ctx, "order-1", eventstore.SubscribeOptions{}) {
			if err2 != nil {
				err = err2
				break
			}
			if m.Kind == eventstore.MessageCaughtUp {
				if _, err := e.s.Tombstone(e.ctx, "order-1", eventstore.Any); err != nil {
					e.t.Fatalf("Tombstone: %v", err)
				}
			}
		}
		wantDeleted(e.t, "subscription to a tombstoned stream", err, "order-1")
	})
	s.leak(t, "ManySubscribers", func(e *env) {
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for i := range 16 {
			wg.Go(func() {
				seq := e.s.SubscribeToAll(e.ctx, eventstore.SubscribeAllOptions{})
				if i%2 == 0 {
					seq = e.s.SubscribeToStream(e.ctx, "order-1", eventstore.SubscribeOptions{From: eventstore.FromRevision(uint64(i))})
				}
				for m, err := range seq {
					if err != nil {
						errs <- fmt.Errorf("subscriber %d: %w", i, err)
						return
					}
					if m.Kind == eventstore.MessageCaughtUp {
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			e.t.Fatal(err)
		}
	})
}

// leak runs fn as a serial subtest on a warmed-up store and checks that no
// goroutine started during fn is still running afterwards.
func (s *suite) leak(t *testing.T, name string, fn func(e *env)) {
	t.Helper()
	s.serial(t, name, func(e *env) {
		e.warmUp()
		opts := append([]goleak.Option{goleak.IgnoreCurrent()}, e.f.IgnoreGoroutines...)
		fn(e)
		goleak.VerifyNone(e.t, opts...)
	})
}

// warmUp uses every kind of operation once, so that goroutines a backend
// starts on first use (and keeps until Close) are running before the leak
// check takes its snapshot.
func (e *env) warmUp() {
	e.t.Helper()
	e.seed("order-1", 40)
	e.seed("order-2", 2)
	e.mustRead("order-1", eventstore.ReadOptions{MaxCount: 1})
	e.readAll(eventstore.ReadAllOptions{MaxCount: 1})
	e.setMetadata("order-2", eventstore.Any, eventstore.StreamMetadata{MaxCount: 100})
	for m, err := range e.s.SubscribeToAll(e.ctx, eventstore.SubscribeAllOptions{Filter: eventstore.StreamPrefixFilter("order-")}) {
		if err != nil {
			e.t.Fatalf("warm-up subscription: %v", err)
		}
		if m.Kind == eventstore.MessageCaughtUp {
			break
		}
	}
}

// breakLive ranges over a subscription until it is live, appends an event
// to stream from inside the loop, and breaks out when that event arrives.
func (e *env) breakLive(seq func(yield func(eventstore.Message, error) bool), stream string) {
	e.t.Helper()
	want := newEvent("Live")
	for m, err := range seq {
		if err != nil {
			e.t.Fatalf("subscription: %v", err)
		}
		if m.Kind == eventstore.MessageCaughtUp {
			if _, err := e.s.Append(e.ctx, stream, eventstore.Any, want); err != nil {
				e.t.Fatalf("Append: %v", err)
			}
		}
		if m.Kind == eventstore.MessageEvent && m.Event.ID == want.ID {
			return
		}
	}
	e.t.Fatal("the subscription ended without an error")
}
