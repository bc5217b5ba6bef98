package resilience_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/resilience"
)

func TestBulkheadConfig(t *testing.T) {
	for field, cfg := range map[string]resilience.BulkheadConfig{
		"MaxConcurrent": {},
		"MaxQueue":      {MaxConcurrent: 1, MaxQueue: -1},
		"QueueTimeout":  {MaxConcurrent: 1, MaxQueue: 1, QueueTimeout: -1},
	} {
		_, err := resilience.NewBulkhead(cfg)
		wantConfigError(t, err, field)
	}
	_, err := resilience.NewBulkhead(resilience.BulkheadConfig{MaxConcurrent: 1, QueueTimeout: time.Second})
	wantConfigError(t, err, "QueueTimeout")
	_, err = resilience.NewBulkhead(resilience.BulkheadConfig{MaxConcurrent: 1}, nil)
	wantConfigError(t, err, "option")
}

// holder runs calls through a bulkhead that block until released.
type holder struct {
	release chan struct{}
	started chan struct{}
}

func newHolder() *holder {
	return &holder{release: make(chan struct{}), started: make(chan struct{}, 100)}
}

func (h *holder) call(context.Context) error {
	h.started <- struct{}{}
	<-h.release
	return nil
}

func TestBulkheadRejectsWhenFull(t *testing.T) {
	b := must[*resilience.Bulkhead](t)(resilience.NewBulkhead(resilience.BulkheadConfig{MaxConcurrent: 2}, resilience.WithName("pg")))
	h := newHolder()
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- resilience.Run(t.Context(), h.call, b) }()
		<-h.started
	}
	if b.Running() != 2 {
		t.Fatalf("Running = %d", b.Running())
	}
	err := resilience.Run(t.Context(), ok, b)
	var be *resilience.BulkheadError
	if !errors.Is(err, resilience.ErrBulkheadFull) || !errors.As(err, &be) || be.Reason != resilience.RejectFull || be.Name != "pg" {
		t.Fatalf("err = %v", err)
	}
	if errors.Unwrap(err) != nil {
		t.Fatalf("a full rejection unwraps to %v", errors.Unwrap(err))
	}
	if !strings.Contains(err.Error(), `bulkhead "pg" rejected the call: full`) {
		t.Fatalf("message %q", err)
	}
	close(h.release)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if b.Running() != 0 {
		t.Fatalf("Running = %d after the calls", b.Running())
	}
}

func TestBulkheadQueues(t *testing.T) {
	b := must[*resilience.Bulkhead](t)(resilience.NewBulkhead(resilience.BulkheadConfig{MaxConcurrent: 1, MaxQueue: 1}))
	h := newHolder()
	first := make(chan error, 1)
	go func() { first <- resilience.Run(t.Context(), h.call, b) }()
	<-h.started
	second := make(chan error, 1)
	go func() { second <- resilience.Run(t.Context(), h.call, b) }()
	eventually(t, "a queued call", func() bool { return b.Queued() == 1 })
	if err := resilience.Run(t.Context(), ok, b); !errors.Is(err, resilience.ErrBulkheadFull) {
		t.Fatalf("third call: err = %v, want a rejection (queue full)", err)
	}
	h.release <- struct{}{} // the first finishes, the queued one starts
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	<-h.started
	if b.Queued() != 0 {
		t.Fatalf("Queued = %d", b.Queued())
	}
	close(h.release)
	if err := <-second; err != nil {
		t.Fatal(err)
	}
}

func TestBulkheadQueueTimeoutAndCancel(t *testing.T) {
	clk := newClock()
	b := must[*resilience.Bulkhead](t)(resilience.NewBulkhead(
		resilience.BulkheadConfig{MaxConcurrent: 1, MaxQueue: 5, QueueTimeout: time.Second}, resilience.WithClock(clk)))
	h := newHolder()
	defer close(h.release)
	go func() { _ = resilience.Run(t.Context(), h.call, b) }()
	<-h.started

	queued := make(chan error, 1)
	go func() { queued <- resilience.Run(t.Context(), ok, b) }()
	waitTimers(t, clk, 1)
	clk.Advance(time.Second)
	var be *resilience.BulkheadError
	if err := <-queued; !errors.As(err, &be) || be.Reason != resilience.RejectQueueTimeout {
		t.Fatalf("err = %v, want a queue timeout", err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	go func() { queued <- resilience.Run(ctx, ok, b) }()
	waitTimers(t, clk, 1)
	cancel()
	err := <-queued
	if !errors.As(err, &be) || be.Reason != resilience.RejectCanceled || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want a canceled wait", err)
	}
	if !strings.HasSuffix(err.Error(), ": canceled: context canceled") {
		t.Fatalf("message %q", err)
	}
	eventually(t, "the queue to empty", func() bool { return b.Queued() == 0 && clk.Pending() == 0 })
}

func TestBulkheadReleasesTheSlotOnPanic(t *testing.T) {
	b := must[*resilience.Bulkhead](t)(resilience.NewBulkhead(resilience.BulkheadConfig{MaxConcurrent: 1}))
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic did not propagate")
			}
		}()
		_ = resilience.Run(t.Context(), func(context.Context) error { panic("x") }, b)
	}()
	if err := resilience.Run(t.Context(), ok, b); err != nil {
		t.Fatalf("the slot leaked: %v", err)
	}
}

// TestBulkheadManyGoroutines runs thousands of goroutines through a bulkhead
// (run it with -race) and checks the bound and that queued calls all run.
func TestBulkheadManyGoroutines(t *testing.T) {
	const limit, n = 8, 3000
	b := must[*resilience.Bulkhead](t)(resilience.NewBulkhead(resilience.BulkheadConfig{MaxConcurrent: limit, MaxQueue: n}))
	var running, peak, done atomic.Int64
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := resilience.Run(t.Context(), func(context.Context) error {
				r := running.Add(1)
				for {
					p := peak.Load()
					if r <= p || peak.CompareAndSwap(p, r) {
						break
					}
				}
				running.Add(-1)
				done.Add(1)
				return nil
			}, b)
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if done.Load() != n || peak.Load() > limit {
		t.Fatalf("done %d of %d, peak concurrency %d (limit %d)", done.Load(), n, peak.Load(), limit)
	}
}

func TestRejectReasonStrings(t *testing.T) {
	for r, want := range map[resilience.RejectReason]string{
		resilience.RejectFull: "full", resilience.RejectQueueTimeout: "queue_timeout", resilience.RejectCanceled: "canceled", 0: "unknown",
	} {
		if r.String() != want {
			t.Errorf("%d: %q", r, r.String())
		}
	}
}
