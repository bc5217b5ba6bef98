package resilience_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/internal/clock"
	"github.com/chronicle-go/chronicle/resilience"
)

func TestBreakerConfig(t *testing.T) {
	for field, cfg := range map[string]resilience.BreakerConfig{
		"ConsecutiveFailures": {ConsecutiveFailures: -1},
		"FailureRatio":        {FailureRatio: 1.5, CountWindow: 10},
		"SlowCallRatio":       {SlowCallRatio: -0.5, SlowCallDuration: time.Second, CountWindow: 10},
		"SlowCallDuration":    {SlowCallDuration: -1},
		"CountWindow":         {CountWindow: -1},
		"TimeWindow":          {TimeWindow: -1},
		"MinimumCalls":        {MinimumCalls: -1},
		"OpenDuration":        {OpenDuration: -1},
		"HalfOpenCalls":       {HalfOpenCalls: -1},
		"HalfOpenSuccesses":   {HalfOpenSuccesses: -1},
		"ProbeTimeout":        {ProbeTimeout: -1},
	} {
		_, err := resilience.NewBreaker("b", cfg)
		wantConfigError(t, err, field)
	}
	for name, c := range map[string]struct {
		cfg   resilience.BreakerConfig
		field string
	}{
		"slow ratio without duration": {resilience.BreakerConfig{SlowCallRatio: 0.5, CountWindow: 10}, "SlowCallRatio"},
		"two windows":                 {resilience.BreakerConfig{FailureRatio: 0.5, CountWindow: 10, TimeWindow: time.Second}, "CountWindow"},
		"tiny time window":            {resilience.BreakerConfig{FailureRatio: 0.5, TimeWindow: time.Millisecond}, "TimeWindow"},
		"ratio without window":        {resilience.BreakerConfig{FailureRatio: 0.5}, "FailureRatio"},
		"window without ratio":        {resilience.BreakerConfig{CountWindow: 10}, "CountWindow"},
		"minimum above window":        {resilience.BreakerConfig{FailureRatio: 0.5, CountWindow: 10, MinimumCalls: 11}, "MinimumCalls"},
		"huge window":                 {resilience.BreakerConfig{FailureRatio: 0.5, CountWindow: 1 << 40}, "CountWindow"},
		"successes above calls":       {resilience.BreakerConfig{HalfOpenCalls: 2, HalfOpenSuccesses: 3}, "HalfOpenSuccesses"},
	} {
		_, err := resilience.NewBreaker("b", c.cfg)
		t.Run(name, func(t *testing.T) { wantConfigError(t, err, c.field) })
	}
	_, err := resilience.NewBreaker("", resilience.BreakerConfig{})
	wantConfigError(t, err, "name")
	store := memory.New()
	defer store.Close()
	_, err = resilience.NewBreaker("b", resilience.BreakerConfig{FailureRatio: 2}, resilience.WithStore(store), resilience.WithStoreTimeout(time.Second))
	wantConfigError(t, err, "FailureRatio")
	for _, err := range store.ReadAll(t.Context(), eventstore.ReadAllOptions{}) {
		t.Fatalf("an invalid breaker wrote to the store (%v)", err)
	}
	_, err = resilience.NewBreaker(strings.Repeat("x", 2000), resilience.BreakerConfig{})
	wantConfigError(t, err, "name")
	_, err = resilience.NewBreaker("b", resilience.BreakerConfig{}, resilience.WithStore(nil))
	wantConfigError(t, err, "WithStore")
	for field, opt := range map[string]resilience.Option{
		"WithInstanceID":     resilience.WithInstanceID(""),
		"WithStoreTimeout":   resilience.WithStoreTimeout(0),
		"WithStreamMaxCount": resilience.WithStreamMaxCount(0),
	} {
		_, err := resilience.NewBreaker("b", resilience.BreakerConfig{}, opt)
		wantConfigError(t, err, field)
		if !strings.Contains(err.Error(), "invalid breaker configuration") {
			t.Fatalf("message %q", err)
		}
	}
}

func newBreaker(t *testing.T, clk *clock.Fake, cfg resilience.BreakerConfig, opts ...resilience.Option) *resilience.Breaker {
	t.Helper()
	b, err := resilience.NewBreaker("svc", cfg, append([]resilience.Option{resilience.WithClock(clk)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// calls runs fn n times through b and fails the test on unexpected errors.
func calls(t *testing.T, b *resilience.Breaker, n int, fn func(context.Context) error) {
	t.Helper()
	for range n {
		if err := b.Run(t.Context(), fn); err != nil && !errors.Is(err, errBoom) {
			t.Fatalf("unexpected error %v", err)
		}
	}
}

func wantState(t *testing.T, b *resilience.Breaker, want resilience.State) {
	t.Helper()
	if got := b.State(); got != want {
		t.Fatalf("state %v, want %v", got, want)
	}
}

func wantRejected(t *testing.T, b *resilience.Breaker) *resilience.CircuitOpenError {
	t.Helper()
	ran := false
	err := b.Run(t.Context(), func(context.Context) error { ran = true; return nil })
	var coe *resilience.CircuitOpenError
	if ran || !errors.Is(err, resilience.ErrCircuitOpen) || !errors.As(err, &coe) {
		t.Fatalf("call ran=%v err=%v, want a rejection", ran, err)
	}
	return coe
}

func TestBreakerConsecutiveFailures(t *testing.T) {
	clk := newClock()
	b := newBreaker(t, clk, resilience.BreakerConfig{}) // default: 5 in a row, 30s open
	if b.Name() != "svc" || b.InstanceID() == "" {
		t.Fatalf("Name %q, InstanceID %q", b.Name(), b.InstanceID())
	}
	calls(t, b, 4, fail)
	calls(t, b, 1, ok) // a success resets the count
	calls(t, b, 4, fail)
	wantState(t, b, resilience.StateClosed)
	if w := b.Metrics().Window; w.ConsecutiveFailures != 4 {
		t.Fatalf("window %+v", w)
	}
	calls(t, b, 1, fail)
	wantState(t, b, resilience.StateOpen)
	coe := wantRejected(t, b)
	if !errors.Is(coe, errBoom) || coe.Breaker != "svc" || coe.State != resilience.StateOpen ||
		!coe.Until.Equal(t0.Add(30*time.Second)) || coe.Reason != "5 consecutive failures" {
		t.Fatalf("CircuitOpenError %+v", coe)
	}
	if want := `resilience: breaker "svc" is open (5 consecutive failures): boom`; coe.Error() != want {
		t.Fatalf("message %q, want %q", coe.Error(), want)
	}
}

func TestBreakerFailureRatioOverCountWindow(t *testing.T) {
	clk := newClock()
	b := newBreaker(t, clk, resilience.BreakerConfig{FailureRatio: 0.5, CountWindow: 10})
	calls(t, b, 5, fail) // 5/5 failed but the window needs 10 calls
	calls(t, b, 4, ok)
	wantState(t, b, resilience.StateClosed)
	calls(t, b, 1, ok) // 5/10: trips
	wantState(t, b, resilience.StateOpen)
	if r := wantRejected(t, b).Reason; r != "failure ratio 5/10" {
		t.Fatalf("reason %q", r)
	}

	// The ring forgets the oldest calls.
	b = newBreaker(t, clk, resilience.BreakerConfig{FailureRatio: 0.75, CountWindow: 4, MinimumCalls: 2})
	calls(t, b, 1, fail)
	calls(t, b, 4, ok) // the failure left the window
	calls(t, b, 1, fail)
	if w := b.Metrics().Window; w.Calls != 4 || w.Failures != 1 {
		t.Fatalf("window %+v", w)
	}
	calls(t, b, 1, fail)
	wantState(t, b, resilience.StateClosed)
	calls(t, b, 1, fail) // 3/4
	wantState(t, b, resilience.StateOpen)
}

func TestBreakerFailureRateOverTimeWindow(t *testing.T) {
	clk := newClock()
	b := newBreaker(t, clk, resilience.BreakerConfig{FailureRatio: 0.5, TimeWindow: 10 * time.Second, MinimumCalls: 4})
	calls(t, b, 3, fail)
	clk.Advance(11 * time.Second) // those failures leave the window
	calls(t, b, 2, ok)
	calls(t, b, 1, fail)
	if w := b.Metrics().Window; w.Calls != 3 || w.Failures != 1 {
		t.Fatalf("window %+v", w)
	}
	clk.Advance(5 * time.Second)
	calls(t, b, 1, fail) // 2/4
	wantState(t, b, resilience.StateOpen)
	if r := wantRejected(t, b).Reason; r != "failure rate 2/4 over 10s" {
		t.Fatalf("reason %q", r)
	}

	// A default minimum of 10 calls.
	b = newBreaker(t, clk, resilience.BreakerConfig{FailureRatio: 1, TimeWindow: time.Minute})
	calls(t, b, 9, fail)
	wantState(t, b, resilience.StateClosed)
	calls(t, b, 1, fail)
	wantState(t, b, resilience.StateOpen)
}

func TestBreakerTimeWindowSlidesBucketByBucket(t *testing.T) {
	clk := newClock()
	b := newBreaker(t, clk, resilience.BreakerConfig{FailureRatio: 1, TimeWindow: 10 * time.Second, MinimumCalls: 1000})
	for range 20 {
		calls(t, b, 1, fail)
		clk.Advance(time.Second)
	}
	if w := b.Metrics().Window; w.Calls < 9 || w.Calls > 10 {
		t.Fatalf("window of 10s holds %d calls made one per second", w.Calls)
	}
}

func TestBreakerSlowCalls(t *testing.T) {
	clk := newClock()
	b := newBreaker(t, clk, resilience.BreakerConfig{SlowCallRatio: 0.5, SlowCallDuration: time.Second, CountWindow: 4})
	slow := func(context.Context) error { clk.Advance(time.Second); return nil }
	calls(t, b, 2, ok)
	calls(t, b, 1, slow)
	wantState(t, b, resilience.StateClosed)
	calls(t, b, 1, slow) // 2 slow of 4
	wantState(t, b, resilience.StateOpen)
	m := b.Metrics()
	if m.ByState[resilience.StateClosed].SlowCalls != 2 {
		t.Fatalf("metrics %+v", m)
	}
	if r := wantRejected(t, b).Reason; r != "slow calls 2/4 (>= 1s)" {
		t.Fatalf("reason %q", r)
	}
}

func TestBreakerHalfOpen(t *testing.T) {
	clk := newClock()
	b := newBreaker(t, clk, resilience.BreakerConfig{ConsecutiveFailures: 1, OpenDuration: 10 * time.Second})
	calls(t, b, 1, fail)
	clk.Advance(9 * time.Second)
	wantRejected(t, b)
	clk.Advance(time.Second)

	// The first call after the delay probes; others are rejected meanwhile.
	release := make(chan struct{})
	probe := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		probe <- b.Run(t.Context(), func(context.Context) error { close(started); <-release; return nil })
	}()
	<-started
	wantState(t, b, resilience.StateHalfOpen)
	if r := wantRejected(t, b).Reason; r != "half-open: probe in progress" {
		t.Fatalf("reason %q", r)
	}
	close(release)
	if err := <-probe; err != nil {
		t.Fatal(err)
	}
	wantState(t, b, resilience.StateClosed)

	// A failed probe opens again.
	calls(t, b, 1, fail)
	clk.Advance(10 * time.Second)
	calls(t, b, 1, fail)
	wantState(t, b, resilience.StateOpen)
	if coe := wantRejected(t, b); coe.Reason != "probe failed" || !coe.Until.Equal(clk.Now().Add(10*time.Second)) {
		t.Fatalf("after a failed probe: %+v", coe)
	}
}

func TestBreakerHalfOpenSuccessThresholdAndIgnoredProbes(t *testing.T) {
	clk := newClock()
	ignorable := errors.New("ignorable")
	b := newBreaker(t, clk, resilience.BreakerConfig{
		ConsecutiveFailures: 1, HalfOpenCalls: 3, HalfOpenSuccesses: 2,
		Classify: func(err error) resilience.Outcome {
			if errors.Is(err, ignorable) {
				return resilience.OutcomeIgnored
			}
			return resilience.OutcomeFailure
		},
	})
	calls(t, b, 1, fail)
	clk.Advance(resilience.DefaultOpenDuration)
	// Hold three probes; a fourth call is rejected.
	release := make(chan error)
	done := make(chan error, 3)
	var started sync.WaitGroup
	for range 3 {
		started.Add(1)
		go func() {
			done <- b.Run(t.Context(), func(context.Context) error { started.Done(); return <-release })
		}()
	}
	started.Wait()
	wantRejected(t, b)
	release <- ignorable // gives its slot back
	<-done
	ran := make(chan struct{})
	go func() {
		done <- b.Run(t.Context(), func(context.Context) error { close(ran); return <-release })
	}()
	<-ran
	release <- nil
	<-done
	wantState(t, b, resilience.StateHalfOpen) // 1 of 2 successes
	release <- nil
	<-done
	wantState(t, b, resilience.StateClosed)
	release <- nil // the last probe finishes after the close: stale, not counted for the rules
	<-done
	wantState(t, b, resilience.StateClosed)
	if w := b.Metrics().Window; w.Calls != 0 {
		t.Fatalf("a stale probe entered the window: %+v", w)
	}
}

func TestBreakerProbeClaimLapses(t *testing.T) {
	clk := newClock()
	b := newBreaker(t, clk, resilience.BreakerConfig{ConsecutiveFailures: 1, OpenDuration: time.Second, ProbeTimeout: 5 * time.Second})
	calls(t, b, 1, fail)
	clk.Advance(time.Second)
	stuck := make(chan struct{})
	defer close(stuck)
	started := make(chan struct{})
	go func() { _ = b.Run(t.Context(), func(context.Context) error { close(started); <-stuck; return nil }) }()
	<-started
	clk.Advance(4 * time.Second)
	wantRejected(t, b)
	clk.Advance(time.Second) // the stuck probe's claim lapsed: a new probe goes through
	calls(t, b, 1, ok)
	wantState(t, b, resilience.StateClosed)
}

func TestBreakerRecoveryDelay(t *testing.T) {
	clk := newClock()
	var seen []int
	b := newBreaker(t, clk, resilience.BreakerConfig{
		ConsecutiveFailures: 1, OpenDuration: time.Second,
		RecoveryDelay: func(opens int) time.Duration {
			seen = append(seen, opens)
			if opens > 2 {
				return 0 // falls back to OpenDuration
			}
			return time.Duration(opens) * time.Minute
		},
	})
	calls(t, b, 1, fail)
	if u := wantRejected(t, b).Until; !u.Equal(clk.Now().Add(time.Minute)) {
		t.Fatalf("first opening until %v", u)
	}
	clk.Advance(time.Minute)
	calls(t, b, 1, fail) // probe fails
	if u := wantRejected(t, b).Until; !u.Equal(clk.Now().Add(2 * time.Minute)) {
		t.Fatalf("second opening until %v", u)
	}
	clk.Advance(2 * time.Minute)
	calls(t, b, 1, fail)
	if u := wantRejected(t, b).Until; !u.Equal(clk.Now().Add(time.Second)) {
		t.Fatalf("third opening until %v", u)
	}
	clk.Advance(time.Second)
	calls(t, b, 1, ok)
	calls(t, b, 1, fail) // after closing, the count starts again
	if len(seen) != 4 || seen[3] != 1 {
		t.Fatalf("RecoveryDelay saw %v", seen)
	}
}

func TestBreakerClassification(t *testing.T) {
	clk := newClock()
	b := newBreaker(t, clk, resilience.BreakerConfig{ConsecutiveFailures: 2})
	bulkheadFull := &resilience.BulkheadError{Reason: resilience.RejectFull}
	for _, err := range []error{context.Canceled, bulkheadFull, context.Canceled} {
		if got := b.Run(t.Context(), func(context.Context) error { return err }); got != err {
			t.Fatalf("err = %v", got)
		}
	}
	calls(t, b, 1, fail)
	wantState(t, b, resilience.StateClosed)
	if m := b.Metrics().ByState[resilience.StateClosed]; m.Ignored != 3 || m.Failures != 1 {
		t.Fatalf("counts %+v", m)
	}
	for o, want := range map[resilience.Outcome]string{resilience.OutcomeSuccess: "success", resilience.OutcomeFailure: "failure", resilience.OutcomeIgnored: "ignored", 9: "unknown"} {
		if o.String() != want {
			t.Errorf("%d: %q", o, o.String())
		}
	}

	// Errors classified as successes reset the count.
	notFound := errors.New("not found")
	b = newBreaker(t, clk, resilience.BreakerConfig{ConsecutiveFailures: 2, Classify: func(err error) resilience.Outcome {
		if err == notFound {
			return resilience.OutcomeSuccess
		}
		return resilience.DefaultClassify(err)
	}})
	calls(t, b, 1, fail)
	_ = b.Run(t.Context(), func(context.Context) error { return notFound })
	calls(t, b, 1, fail)
	wantState(t, b, resilience.StateClosed)
}

func TestBreakerManualStates(t *testing.T) {
	clk := newClock()
	b := newBreaker(t, clk, resilience.BreakerConfig{ConsecutiveFailures: 1})
	ctx := t.Context()
	if err := b.ForceOpen(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	if r := wantRejected(t, b).Reason; r != "forced open" {
		t.Fatalf("reason %q", r)
	}
	if err := b.ForceClose(ctx); err != nil {
		t.Fatal(err)
	}
	calls(t, b, 10, fail)
	wantState(t, b, resilience.StateForcedClosed)
	if err := b.Disable(ctx); err != nil {
		t.Fatal(err)
	}
	calls(t, b, 3, fail)
	wantState(t, b, resilience.StateDisabled)
	if m := b.Metrics(); m.ByState[resilience.StateDisabled].Failures != 3 || m.Window.ConsecutiveFailures != 3 {
		t.Fatalf("disabled breaker does not count: %+v", m)
	}
	if err := b.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	wantState(t, b, resilience.StateClosed)
	calls(t, b, 1, fail)
	wantState(t, b, resilience.StateOpen)
	m := b.Metrics()
	if m.Total.Failures != 14 || m.Total.Rejections != 1 || m.ByState[resilience.StateForcedClosed].Failures != 10 {
		t.Fatalf("metrics %+v", m)
	}
	for s, want := range map[resilience.State]string{
		resilience.StateClosed: "closed", resilience.StateOpen: "open", resilience.StateHalfOpen: "half-open",
		resilience.StateForcedOpen: "forced-open", resilience.StateForcedClosed: "forced-closed", resilience.StateDisabled: "disabled", 9: "unknown",
	} {
		if s.String() != want {
			t.Errorf("%d: %q", s, s.String())
		}
	}
}

func TestBreakerPanicCountsAsFailure(t *testing.T) {
	b := newBreaker(t, newClock(), resilience.BreakerConfig{ConsecutiveFailures: 1})
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic did not propagate")
			}
		}()
		_ = b.Run(t.Context(), func(context.Context) error { panic("x") })
	}()
	wantState(t, b, resilience.StateOpen)
}

func TestBreakerOutcomeOfAStaleCallIsNotCounted(t *testing.T) {
	clk := newClock()
	b := newBreaker(t, clk, resilience.BreakerConfig{ConsecutiveFailures: 1})
	release := make(chan struct{})
	started := make(chan struct{})
	done := make(chan error)
	go func() {
		done <- b.Run(t.Context(), func(context.Context) error { close(started); <-release; return errBoom })
	}()
	<-started
	if err := b.ForceClose(t.Context()); err != nil {
		t.Fatal(err)
	}
	close(release)
	<-done
	if w := b.Metrics().Window; w.ConsecutiveFailures != 0 {
		t.Fatalf("stale failure counted: %+v", w)
	}
}

// TestBreakerManyGoroutines runs thousands of goroutines through one breaker
// (run with -race) while it trips and recovers.
func TestBreakerManyGoroutines(t *testing.T) {
	clk := newClock()
	b := newBreaker(t, clk, resilience.BreakerConfig{FailureRatio: 0.5, CountWindow: 100, HalfOpenCalls: 5})
	var wg sync.WaitGroup
	var ran, rejected atomic.Int64
	for g := range 2000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5 {
				err := b.Run(t.Context(), func(context.Context) error {
					ran.Add(1)
					if (g+i)%3 == 0 {
						return errBoom
					}
					return nil
				})
				if errors.Is(err, resilience.ErrCircuitOpen) {
					rejected.Add(1)
				}
				if g%100 == 0 && i == 0 {
					clk.Advance(10 * time.Second)
					_ = b.State()
					_ = b.Metrics()
				}
			}
		}()
	}
	wg.Wait()
	m := b.Metrics()
	if int64(m.Total.Calls) != ran.Load() || int64(m.Total.Rejections) != rejected.Load() || ran.Load()+rejected.Load() != 10000 {
		t.Fatalf("ran %d rejected %d, metrics %+v", ran.Load(), rejected.Load(), m.Total)
	}
}
