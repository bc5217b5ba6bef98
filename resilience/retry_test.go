package resilience_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/internal/clock"
	"github.com/chronicle-go/chronicle/resilience"
)

func TestRetryConfig(t *testing.T) {
	for field, cfg := range map[string]resilience.RetryConfig{
		"MaxAttempts":  {MaxAttempts: -1},
		"InitialDelay": {InitialDelay: -1},
		"MaxDelay":     {MaxDelay: -1},
		"Multiplier":   {Multiplier: 0.5},
		"MaxElapsed":   {MaxElapsed: -1},
		"Jitter":       {Jitter: 9},
	} {
		_, err := resilience.NewRetry(cfg)
		wantConfigError(t, err, field)
	}
	_, err := resilience.NewRetry(resilience.RetryConfig{Multiplier: math.Inf(1)})
	wantConfigError(t, err, "Multiplier")
	_, err = resilience.NewRetry(resilience.RetryConfig{InitialDelay: time.Second, MaxDelay: time.Millisecond})
	wantConfigError(t, err, "MaxDelay")
	_, err = resilience.NewRetry(resilience.RetryConfig{}, nil)
	wantConfigError(t, err, "option")
}

func TestRetryBudgetConfig(t *testing.T) {
	for _, c := range []struct {
		max   int
		ratio float64
		field string
	}{{0, 1, "maxTokens"}, {math.MaxInt32 + 1, 1, "maxTokens"}, {1, 0, "ratio"}, {1, math.NaN(), "ratio"}, {2, 3, "ratio"}} {
		_, err := resilience.NewRetryBudget(c.max, c.ratio)
		wantConfigError(t, err, c.field)
	}
}

// flaky fails its first n calls with err.
func flaky(n int, err error) (func(context.Context) error, *atomic.Int32) {
	var calls atomic.Int32
	return func(context.Context) error {
		if int(calls.Add(1)) <= n {
			return err
		}
		return nil
	}, &calls
}

// runAsync runs p over fn in a goroutine.
func runAsync(ctx context.Context, p resilience.Policy, fn func(context.Context) error) chan error {
	errc := make(chan error, 1)
	go func() { errc <- resilience.Run(ctx, fn, p) }()
	return errc
}

// expectDelay waits for the retry's timer, checks its delay and fires it.
func expectDelay(t *testing.T, clk *clock.Fake, want time.Duration) {
	t.Helper()
	waitTimers(t, clk, 1)
	d, _ := clk.Next()
	if want >= 0 && d != want {
		t.Fatalf("delay = %v, want %v", d, want)
	}
	clk.Advance(d)
}

func TestRetrySucceedsAfterBackoff(t *testing.T) {
	clk := newClock()
	r := must[*resilience.Retry](t)(resilience.NewRetry(resilience.RetryConfig{
		MaxAttempts: 4, InitialDelay: 100 * time.Millisecond, Multiplier: 3, Jitter: resilience.NoJitter,
	}, resilience.WithClock(clk)))
	fn, calls := flaky(3, errBoom)
	errc := runAsync(t.Context(), r, fn)
	expectDelay(t, clk, 100*time.Millisecond)
	expectDelay(t, clk, 300*time.Millisecond)
	expectDelay(t, clk, 900*time.Millisecond)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 4 {
		t.Fatalf("%d calls, want 4", calls.Load())
	}
}

func TestRetryGivesUpAndUnwrapsToTheLastCause(t *testing.T) {
	clk := newClock()
	r := must[*resilience.Retry](t)(resilience.NewRetry(resilience.RetryConfig{Jitter: resilience.NoJitter},
		resilience.WithClock(clk), resilience.WithName("append")))
	var n atomic.Int32
	errc := runAsync(t.Context(), r, func(context.Context) error {
		n.Add(1)
		return &eventstore.WrongExpectedVersionError{Stream: "order-1", Expected: eventstore.Exact(uint64(n.Load())), Actual: eventstore.NoStream}
	})
	expectDelay(t, clk, 100*time.Millisecond)
	expectDelay(t, clk, 200*time.Millisecond)
	err := <-errc
	var re *resilience.RetryError
	var wev *eventstore.WrongExpectedVersionError
	if !errors.Is(err, resilience.ErrRetriesExhausted) || !errors.Is(err, eventstore.ErrWrongExpectedVersion) ||
		!errors.As(err, &re) || !errors.As(err, &wev) {
		t.Fatalf("err = %v", err)
	}
	if re.Attempts != 3 || re.Reason != resilience.StopMaxAttempts || re.Name != "append" {
		t.Fatalf("RetryError = %+v", re)
	}
	if r, _ := wev.Expected.Revision(); r != 3 {
		t.Fatalf("unwrapped to the error of attempt %d, want the last (3)", r)
	}
	if !strings.Contains(err.Error(), "gave up after 3 attempts (max attempts reached)") {
		t.Fatalf("message %q", err)
	}
}

func TestRetryOnlyRetryableErrors(t *testing.T) {
	permanent := errors.New("permanent")
	r := must[*resilience.Retry](t)(resilience.NewRetry(resilience.RetryConfig{
		RetryIf: func(err error) bool { return !errors.Is(err, permanent) },
	}, resilience.WithClock(newClock())))
	fn, calls := flaky(5, permanent)
	if err := resilience.Run(t.Context(), fn, r); err != permanent {
		t.Fatalf("err = %v, want the permanent error unchanged", err)
	}
	if calls.Load() != 1 {
		t.Fatalf("%d calls", calls.Load())
	}
}

func TestRetryDelayHint(t *testing.T) {
	clk := newClock()
	r := must[*resilience.Retry](t)(resilience.NewRetry(resilience.RetryConfig{
		MaxDelay: time.Second,
		DelayHint: func(err error) (time.Duration, bool) {
			if errors.Is(err, errBoom) {
				return 7 * time.Second, true
			}
			return -time.Second, true // negative means at once
		},
	}, resilience.WithClock(clk)))
	var n atomic.Int32
	errc := runAsync(t.Context(), r, func(context.Context) error {
		switch n.Add(1) {
		case 1:
			return errBoom
		case 2:
			return errors.New("other")
		}
		return nil
	})
	expectDelay(t, clk, 7*time.Second) // above MaxDelay: the server knows best
	if err := <-errc; err != nil || n.Load() != 3 {
		t.Fatalf("err = %v after %d calls", err, n.Load())
	}
}

func TestRetryMaxElapsed(t *testing.T) {
	clk := newClock()
	r := must[*resilience.Retry](t)(resilience.NewRetry(resilience.RetryConfig{
		MaxAttempts: 10, InitialDelay: time.Second, Jitter: resilience.NoJitter, MaxElapsed: 2500 * time.Millisecond,
	}, resilience.WithClock(clk)))
	errc := runAsync(t.Context(), r, fail)
	expectDelay(t, clk, time.Second) // 1s: within 2.5s; the next (2s) would end at 3s
	err := <-errc
	var re *resilience.RetryError
	if !errors.As(err, &re) || re.Reason != resilience.StopMaxElapsed || re.Attempts != 2 || !errors.Is(err, errBoom) {
		t.Fatalf("err = %v (%+v)", err, re)
	}
}

func TestRetryBudgetIsShared(t *testing.T) {
	budget := must[*resilience.RetryBudget](t)(resilience.NewRetryBudget(2, 0.5))
	cfg := resilience.RetryConfig{MaxAttempts: 10, Budget: budget, DelayHint: func(error) (time.Duration, bool) { return 0, true }}
	a := must[*resilience.Retry](t)(resilience.NewRetry(cfg))
	b := must[*resilience.Retry](t)(resilience.NewRetry(cfg))
	fn, calls := flaky(100, errBoom)
	err := resilience.Run(t.Context(), fn, a)
	var re *resilience.RetryError
	if !errors.As(err, &re) || re.Reason != resilience.StopBudget || calls.Load() != 3 {
		t.Fatalf("err = %v after %d calls", err, calls.Load())
	}
	if budget.Tokens() != 0 {
		t.Fatalf("Tokens = %v", budget.Tokens())
	}
	if err := resilience.Run(t.Context(), fn, b); !errors.As(err, &re) || re.Attempts != 1 {
		t.Fatalf("second policy: err = %v, want no retry", err)
	}
	for range 5 {
		if err := resilience.Run(t.Context(), ok, b); err != nil {
			t.Fatal(err)
		}
	}
	if budget.Tokens() != 2 {
		t.Fatalf("Tokens = %v after 5 successes, want the maximum 2", budget.Tokens())
	}
}

func TestRetryStopsWhenTheContextEnds(t *testing.T) {
	clk := newClock()
	r := must[*resilience.Retry](t)(resilience.NewRetry(resilience.RetryConfig{}, resilience.WithClock(clk)))
	ctx, cancel := context.WithCancel(t.Context())
	errc := runAsync(ctx, r, fail)
	waitTimers(t, clk, 1)
	cancel()
	err := <-errc
	var re *resilience.RetryError
	if !errors.As(err, &re) || re.Reason != resilience.StopCanceled || !errors.Is(err, context.Canceled) || !errors.Is(err, errBoom) {
		t.Fatalf("err = %v", err)
	}
	if clk.Pending() != 0 {
		t.Fatal("the backoff timer was not stopped")
	}

	// A context that ended during the call stops the retries at once.
	ctx, cancel = context.WithCancel(t.Context())
	err = resilience.Run(ctx, func(context.Context) error { cancel(); return errBoom }, r)
	if !errors.As(err, &re) || re.Reason != resilience.StopCanceled || re.Attempts != 1 {
		t.Fatalf("err = %v", err)
	}
}

func TestRetryJitterBounds(t *testing.T) {
	for _, j := range []resilience.Jitter{resilience.FullJitter, resilience.DecorrelatedJitter} {
		clk := newClock()
		r := must[*resilience.Retry](t)(resilience.NewRetry(resilience.RetryConfig{
			MaxAttempts: 6, InitialDelay: 100 * time.Millisecond, MaxDelay: time.Second, Jitter: j,
		}, resilience.WithClock(clk)))
		fn, _ := flaky(5, errBoom)
		errc := runAsync(t.Context(), r, fn)
		prev := time.Duration(0)
		for n := 1; n <= 5; n++ {
			waitTimers(t, clk, 1)
			d, _ := clk.Next()
			if d > time.Second {
				t.Fatalf("jitter %d: delay %v above MaxDelay", j, d)
			}
			if j == resilience.FullJitter && d >= 100*time.Millisecond<<(n-1) {
				t.Fatalf("full jitter: delay %d = %v", n, d)
			}
			if j == resilience.DecorrelatedJitter && (d < 100*time.Millisecond || d > 3*max(prev, 100*time.Millisecond)) {
				t.Fatalf("decorrelated jitter: delay %d = %v after %v", n, d, prev)
			}
			prev = d
			clk.Advance(d)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

func TestRetryReasonStrings(t *testing.T) {
	for r, want := range map[resilience.StopReason]string{
		resilience.StopMaxAttempts: "max attempts reached", resilience.StopMaxElapsed: "max elapsed time reached",
		resilience.StopBudget: "retry budget exhausted", resilience.StopCanceled: "context ended while waiting", 0: "unknown",
	} {
		if r.String() != want {
			t.Errorf("%d: %q", r, r.String())
		}
	}
}
