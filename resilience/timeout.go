package resilience

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/metric"
)

// Timeout bounds how long a call may run. The call gets a context that ends
// with context.DeadlineExceeded after the timeout (or earlier, with its
// parent); the Timeout is cooperative: it waits for the call to return,
// which a call that honours its context does promptly. If the deadline
// expired and the call failed, Run returns a *TimeoutError (ErrTimeout)
// that unwraps to the call's error; a call that succeeded despite the
// deadline succeeds.
//
// When the parent context's deadline is earlier than the timeout, the call
// gets the parent context unchanged. Otherwise the derived context costs one
// small allocation and no timer per call (see the package documentation).
type Timeout struct {
	name    string
	timeout time.Duration
	clock   Clock
	w       watcher
	obs     observer

	calls                      metric.Int64Counter
	okOpts, failOpts, slowOpts []metric.AddOption
}

// NewTimeout returns a Timeout of d, which must be positive. It takes
// WithName, WithClock, WithMeterProvider, WithTracerProvider and
// WithListener.
func NewTimeout(d time.Duration, opts ...Option) (*Timeout, error) {
	o, err := buildOptions("timeout", opts)
	if err != nil {
		return nil, err
	}
	if d <= 0 {
		return nil, &ConfigError{Policy: "timeout", Field: "duration", Reason: "must be positive"}
	}
	oc := newOutcomeCounter(o.meter.Meter(meterName), MetricTimeoutCalls,
		"Calls through a Timeout, by outcome (success, failure, timeout).", o.name, "success", "failure", "timeout")
	return &Timeout{
		name: o.name, timeout: d, clock: o.clock, w: watcher{clock: o.clock}, obs: newObserver("timeout", o.name, o),
		calls: oc.c, okOpts: oc.opts["success"], failOpts: oc.opts["failure"], slowOpts: oc.opts["timeout"],
	}, nil
}

// Duration returns the timeout.
func (t *Timeout) Duration() time.Duration { return t.timeout }

// Wrap implements Policy.
func (t *Timeout) Wrap(next func(context.Context) error) func(context.Context) error {
	return wrap(t, next)
}

func (t *Timeout) run(ctx context.Context, next chain) (err error) {
	ctx, span := t.obs.start(ctx)
	if span != nil {
		defer func() { t.obs.end(span, err) }()
	}
	now := t.clock.Now()
	deadline := now.Add(t.timeout)
	if d, ok := ctx.Deadline(); ok && !d.After(deadline) {
		err := next.call(ctx)
		t.count(ctx, err, false)
		return err
	}
	c := &deadlineCtx{Context: ctx, deadline: deadline}
	t.w.add(c, now)
	err = next.call(c)
	expired := t.w.finish(c)
	t.count(ctx, err, expired)
	if expired {
		t.obs.notify(ctx, Event{Kind: TimeoutFired, Err: err})
	}
	if err != nil && expired {
		return &TimeoutError{Name: t.name, Timeout: t.timeout, Err: err}
	}
	return err
}

func (t *Timeout) count(ctx context.Context, err error, expired bool) {
	switch {
	case err == nil:
		t.calls.Add(ctx, 1, t.okOpts...)
	case expired:
		t.calls.Add(ctx, 1, t.slowOpts...)
	default:
		t.calls.Add(ctx, 1, t.failOpts...)
	}
}
