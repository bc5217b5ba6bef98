package storetest

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/chronicle-go/chronicle/eventstore"
)

// testLeaks checks that iterators release everything when a loop breaks or
// a subscription ends: no goroutine is left behind. These subtests do not
// run in parallel: goleak sees every goroutine of the process.
func (s *suite) testLeaks(t *testing.T) {
	s.leak(t, "BreakReadStream", func(e *env) error {
		for range e.s.ReadStream(e.ctx, "order-1", eventstore.ReadOptions{}) {
			break
		}
		return nil
	})
	s.leak(t, "BreakReadAll", func(e *env) error {
		for range e.s.ReadAll(e.ctx, eventstore.ReadAllOptions{Filter: eventstore.EventTypePrefixFilter("Seeded")}) {
			break
		}
		return nil
	})
	s.leak(t, "BreakStreamSubscriptionCatchingUp", func(e *env) error {
		for range e.s.SubscribeToStream(e.ctx, "order-1", eventstore.SubscribeOptions{}) {
			break
		}
		return nil
	})
	s.leak(t, "BreakStreamSubscriptionLive", func(e *env) error {
		return e.breakLive(e.s.SubscribeToStream(e.ctx, "order-1", eventstore.SubscribeOptions{}), "order-1")
	})
	s.leak(t, "BreakAllSubscriptionLive", func(e *env) error {
		return e.breakLive(e.s.SubscribeToAll(e.ctx, eventstore.SubscribeAllOptions{From: eventstore.End}), "order-2")
	})
	s.leak(t, "BreakFilteredSubscriptionLive", func(e *env) error {
		f := eventstore.StreamPrefixFilter("order-2")
		f.CheckpointInterval = 1
		return e.breakLive(e.s.SubscribeToAll(e.ctx, eventstore.SubscribeAllOptions{Filter: f}), "order-2")
	})
	s.leak(t, "BreakAfterFallingBehind", func(e *env) error {
		n := 0
		for m, err := range e.s.SubscribeToAll(e.ctx, eventstore.SubscribeAllOptions{From: eventstore.End}) {
			if err != nil {
				return err
			}
			if m.Kind == eventstore.MessageCaughtUp && n == 0 {
				// Append more than a live queue holds while not reading.
				if err := e.appendConcurrently([]string{"order-3"}, 4, loadSize()); err != nil {
					return err
				}
			}
			if n++; n == 100 {
				break
			}
		}
		return nil
	})
	s.leak(t, "Canceled", func(e *env) error {
		ctx, cancel := context.WithCancel(e.ctx)
		defer cancel()
		for m, err := range e.s.SubscribeToStream(ctx, "order-1", eventstore.SubscribeOptions{}) {
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					return fmt.Errorf("canceled subscription ended with %w", err)
				}
				return nil
			}
			if m.Kind == eventstore.MessageCaughtUp {
				cancel()
			}
		}
		return errors.New("canceled subscription ended without an error")
	})
	s.leak(t, "Tombstoned", func(e *env) error {
		for m, err := range e.s.SubscribeToStream(e.ctx, "order-1", eventstore.SubscribeOptions{}) {
			if err != nil {
				if !errors.Is(err, eventstore.ErrStreamDeleted) {
					return fmt.Errorf("subscription to a tombstoned stream ended with %w", err)
				}
				return nil
			}
			if m.Kind == eventstore.MessageCaughtUp {
				if _, err := e.s.Tombstone(e.ctx, "order-1", eventstore.Any); err != nil {
					return err
				}
			}
		}
		return errors.New("subscription to a tombstoned stream ended without an error")
	})
	s.leak(t, "ManySubscribers", func(e *env) error {
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
		return <-errs
	})
}

// leak runs fn as a serial subtest on a warmed-up store and checks that no
// goroutine started during fn is still running afterwards. fn runs in a
// goroutine of its own, guarded against hanging, so it reports failures by
// returning them.
func (s *suite) leak(t *testing.T, name string, fn func(e *env) error) {
	t.Helper()
	s.serial(t, name, func(e *env) {
		e.warmUp()
		opts := append([]goleak.Option{goleak.IgnoreCurrent()}, e.f.IgnoreGoroutines...)
		var err error
		within(e.t, e.f.timeout()/2, name, func() { err = fn(e) })
		if err != nil {
			e.t.Fatal(err)
		}
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
	sub := e.subscribeAll(eventstore.SubscribeAllOptions{Filter: eventstore.StreamPrefixFilter("order-")})
	sub.caughtUp()
	sub.close()
}

// breakLive ranges over a subscription until it is live, appends an event
// to stream from inside the loop, and breaks out when that event arrives.
func (e *env) breakLive(seq iter.Seq2[eventstore.Message, error], stream string) error {
	want := newEvent("Live")
	for m, err := range seq {
		if err != nil {
			return fmt.Errorf("subscription: %w", err)
		}
		if m.Kind == eventstore.MessageCaughtUp {
			if _, err := e.s.Append(e.ctx, stream, eventstore.Any, want); err != nil {
				return err
			}
		}
		if m.Kind == eventstore.MessageEvent && m.Event.ID == want.ID {
			return nil
		}
	}
	return errors.New("the subscription ended without an error")
}
