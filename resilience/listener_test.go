package resilience_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/resilience"
)

// recorder is a Listener that keeps the events it hears.
type recorder struct {
	mu     sync.Mutex
	events []resilience.Event
}

func (r *recorder) listen(_ context.Context, e resilience.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) kinds() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, e.Kind.String()+" "+e.Policy+"/"+e.Name)
	}
	return out
}

func TestListenersHearEveryPolicy(t *testing.T) {
	clk := newClock()
	var rec recorder
	opts := []resilience.Option{resilience.WithClock(clk), resilience.WithListener(rec.listen)}

	t.Run("retry", func(t *testing.T) {
		rec.events = nil
		re := must[*resilience.Retry](t)(resilience.NewRetry(resilience.RetryConfig{MaxAttempts: 3, Jitter: resilience.NoJitter, InitialDelay: time.Second},
			append(opts, resilience.WithName("api"))...))
		calls := 0
		errc := make(chan error, 1)
		go func() {
			errc <- re.Wrap(func(context.Context) error {
				calls++
				if calls < 3 {
					return errBoom
				}
				return nil
			})(t.Context())
		}()
		waitTimers(t, clk, 1)
		clk.Advance(time.Second)
		waitTimers(t, clk, 1)
		clk.Advance(2 * time.Second)
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		want := []resilience.Event{
			{Kind: resilience.AttemptFailed, Policy: "retry", Name: "api", At: t0, Attempt: 1, Err: errBoom},
			{Kind: resilience.RetryScheduled, Policy: "retry", Name: "api", At: t0, Attempt: 2, Delay: time.Second, Err: errBoom},
			{Kind: resilience.AttemptFailed, Policy: "retry", Name: "api", At: t0.Add(time.Second), Attempt: 2, Err: errBoom},
			{Kind: resilience.RetryScheduled, Policy: "retry", Name: "api", At: t0.Add(time.Second), Attempt: 3, Delay: 2 * time.Second, Err: errBoom},
		}
		if diff := cmp.Diff(want, rec.events, cmp.Comparer(func(a, b error) bool { return a == b })); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		rec.events = nil
		to := must[*resilience.Timeout](t)(resilience.NewTimeout(time.Second, opts...))
		_ = to.Wrap(func(context.Context) error { return nil })(t.Context())
		err := to.Wrap(func(ctx context.Context) error { clk.Advance(time.Second); return ctx.Err() })(t.Context())
		if diff := cmp.Diff([]string{"timeout_fired timeout/"}, rec.kinds()); diff != "" || !errors.Is(rec.events[0].Err, context.DeadlineExceeded) {
			t.Errorf("events (-want +got):\n%s (err %v)", diff, err)
		}
	})

	t.Run("bulkhead", func(t *testing.T) {
		rec.events = nil
		bh := must[*resilience.Bulkhead](t)(resilience.NewBulkhead(resilience.BulkheadConfig{MaxConcurrent: 1}, append(opts, resilience.WithName("db"))...))
		_ = bh.Wrap(func(ctx context.Context) error { return bh.Wrap(ok)(ctx) })(t.Context()) // the inner call finds no slot
		if diff := cmp.Diff([]string{"bulkhead_rejected bulkhead/db"}, rec.kinds()); diff != "" || rec.events[0].Reason != resilience.RejectFull {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})

	t.Run("breaker", func(t *testing.T) {
		rec.events = nil
		store := memory.New()
		defer store.Close()
		heard := make(chan struct{}, 10)
		locked := func(context.Context, resilience.Event) { heard <- struct{}{} }
		br := must[*resilience.Breaker](t)(resilience.NewBreaker("pay", resilience.BreakerConfig{ConsecutiveFailures: 1, OpenDuration: time.Second},
			append(opts, resilience.WithListener(locked))...))
		_ = br.Run(t.Context(), fail) // opens
		clk.Advance(time.Second)
		_ = br.Run(t.Context(), ok) // half-open probe, closes
		if err := br.ForceOpen(t.Context()); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range rec.events {
			got = append(got, e.From.String()+"→"+e.To.String())
		}
		if diff := cmp.Diff([]string{"closed→open", "open→half-open", "half-open→closed", "closed→forced-open"}, got); diff != "" {
			t.Errorf("transitions (-want +got):\n%s", diff)
		}
		if len(heard) != 4 {
			t.Errorf("second listener heard %d events, want 4", len(heard))
		}
		if br.State() != resilience.StateForcedOpen { // listeners run without the lock: State would deadlock otherwise
			t.Error("state")
		}
	})
}

// A listener may call the breaker it listens to: it runs with no lock held.
func TestBreakerListenerMayCallTheBreaker(t *testing.T) {
	var br *resilience.Breaker
	var states []resilience.State
	listen := func(_ context.Context, e resilience.Event) { states = append(states, br.State()) }
	br = must[*resilience.Breaker](t)(resilience.NewBreaker("x", resilience.BreakerConfig{ConsecutiveFailures: 1}, resilience.WithListener(listen)))
	_ = br.Run(t.Context(), fail)
	if diff := cmp.Diff([]resilience.State{resilience.StateOpen}, states); diff != "" {
		t.Errorf("states seen by the listener (-want +got):\n%s", diff)
	}
}

// Each policy execution is a span, a child of the caller's; the policy's
// events are span events. Without a recording span, no span is started.
func TestPolicySpans(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	defer tp.Shutdown(context.Background())
	clk := newClock()
	opts := []resilience.Option{resilience.WithTracerProvider(tp), resilience.WithClock(clk)}
	re := must[*resilience.Retry](t)(resilience.NewRetry(resilience.RetryConfig{MaxAttempts: 2, DelayHint: func(error) (time.Duration, bool) { return 0, true }}, append(opts, resilience.WithName("api"))...))
	to := must[*resilience.Timeout](t)(resilience.NewTimeout(time.Minute, opts...))
	bh := must[*resilience.Bulkhead](t)(resilience.NewBulkhead(resilience.BulkheadConfig{MaxConcurrent: 1}, opts...))
	br := must[*resilience.Breaker](t)(resilience.NewBreaker("b", resilience.BreakerConfig{}, opts...))
	fb := must[*resilience.Fallback](t)(resilience.NewFallback(resilience.FallbackConfig{Func: func(context.Context, error) error { return nil }}, resilience.WithTracerProvider(tp)))
	p := resilience.Compose(fb, to, re, br, bh)

	_ = p.Run(t.Context(), fail) // no span in the context: none started
	if n := len(sr.Ended()); n != 0 {
		t.Fatalf("%d spans without a parent span", n)
	}
	ctx, parent := tp.Tracer("test").Start(t.Context(), "request")
	if err := p.Run(ctx, fail); err != nil {
		t.Fatalf("fallback: %v", err)
	}
	parent.End()
	var names []string
	var retryEvents []string
	for _, s := range sr.Ended() {
		names = append(names, s.Name())
		if s.Name() == "resilience.retry api" {
			for _, e := range s.Events() {
				retryEvents = append(retryEvents, e.Name)
			}
			if s.Status().Code.String() != "Error" {
				t.Errorf("retry span status %v", s.Status())
			}
		}
		if s.Name() != "request" && s.Parent().SpanID() == (parent.SpanContext().SpanID()) && s.Name() != "resilience.fallback" {
			t.Errorf("span %q is a child of the request, want it nested in the outer policy", s.Name())
		}
	}
	want := []string{"resilience.bulkhead", "resilience.breaker b", "resilience.bulkhead", "resilience.breaker b", "resilience.retry api", "resilience.timeout", "resilience.fallback", "request"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("spans (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"attempt_failed", "retry_scheduled", "attempt_failed", "exception"}, retryEvents); diff != "" {
		t.Errorf("retry span events (-want +got):\n%s", diff)
	}
}

// An option that does not apply to what is built is an error, not ignored.
func TestOptionsThatDoNotApply(t *testing.T) {
	store := memory.New()
	defer store.Close()
	tests := []struct {
		name  string
		build func() error
		field string
	}{
		{"store on a retry", func() error {
			_, err := resilience.NewRetry(resilience.RetryConfig{}, resilience.WithStore(store))
			return err
		}, "WithStore"},
		{"logger on a timeout", func() error { _, err := resilience.NewTimeout(time.Second, resilience.WithLogger(nil)); return err }, "WithLogger"},
		{"instance on a bulkhead", func() error {
			_, err := resilience.NewBulkhead(resilience.BulkheadConfig{MaxConcurrent: 1}, resilience.WithInstanceID("i"))
			return err
		}, "WithInstanceID"},
		{"clock on a fallback", func() error {
			_, err := resilience.NewFallback(resilience.FallbackConfig{Func: func(context.Context, error) error { return nil }}, resilience.WithClock(newClock()))
			return err
		}, "WithClock"},
		{"listener on a fallback", func() error {
			_, err := resilience.NewFallback(resilience.FallbackConfig{Func: func(context.Context, error) error { return nil }}, resilience.WithListener(func(context.Context, resilience.Event) {}))
			return err
		}, "WithListener"},
		{"name on a breaker", func() error {
			_, err := resilience.NewBreaker("b", resilience.BreakerConfig{}, resilience.WithName("n"))
			return err
		}, "WithName"},
		{"name on a registry", func() error {
			_, err := resilience.NewRegistry(resilience.BreakerConfig{}, resilience.WithName("n"))
			return err
		}, "WithName"},
		{"stream max count on a retry", func() error {
			_, err := resilience.NewRetry(resilience.RetryConfig{}, resilience.WithStreamMaxCount(3))
			return err
		}, "WithStreamMaxCount"},
		{"nil listener", func() error {
			_, err := resilience.NewRetry(resilience.RetryConfig{}, resilience.WithListener(nil))
			return err
		}, "WithListener"},
		{"nil tracer provider", func() error {
			_, err := resilience.NewRetry(resilience.RetryConfig{}, resilience.WithTracerProvider(nil))
			return err
		}, "WithTracerProvider"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantConfigError(t, tt.build(), tt.field) })
	}
}
