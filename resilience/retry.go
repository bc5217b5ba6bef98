package resilience

import (
	"context"
	"math"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/chronicle-go/chronicle/internal/backoff"
	"github.com/chronicle-go/chronicle/internal/clock"
)

// Jitter selects how Retry randomises its delays.
type Jitter uint8

const (
	// FullJitter (the default) waits a random time in
	// [0, min(MaxDelay, InitialDelay×Multiplier^(n-1))) before retry n.
	FullJitter Jitter = iota
	// DecorrelatedJitter waits a random time in [InitialDelay, 3×previous
	// delay), capped at MaxDelay.
	DecorrelatedJitter
	// NoJitter waits exactly min(MaxDelay, InitialDelay×Multiplier^(n-1)).
	NoJitter
)

// Defaults of RetryConfig.
const (
	DefaultMaxAttempts  = 3
	DefaultInitialDelay = 100 * time.Millisecond
	DefaultMaxDelay     = 30 * time.Second
	DefaultMultiplier   = 2.0
)

// RetryConfig configures a Retry. The zero value retries every error twice
// (three attempts) with full-jitter exponential backoff from 100 ms.
type RetryConfig struct {
	// MaxAttempts is the number of calls, the first included; 0 means
	// DefaultMaxAttempts, 1 means no retry.
	MaxAttempts int
	// InitialDelay is the backoff base; 0 means DefaultInitialDelay.
	InitialDelay time.Duration
	// MaxDelay caps each delay; 0 means DefaultMaxDelay.
	MaxDelay time.Duration
	// Multiplier is the growth factor of the delays; 0 means
	// DefaultMultiplier.
	Multiplier float64
	// Jitter randomises the delays; the zero value is FullJitter.
	Jitter Jitter
	// MaxElapsed, when positive, bounds the time from the first call: Retry
	// gives up rather than wait past it.
	MaxElapsed time.Duration
	// RetryIf reports whether an error is worth retrying; nil means every
	// error. Errors it rejects are returned as they are.
	RetryIf func(error) bool
	// DelayHint, when set, may return a delay the failed call asked for
	// (such as a server's Retry-After); it replaces the computed delay for
	// that retry and is not capped by MaxDelay.
	DelayHint func(error) (time.Duration, bool)
	// Budget, when set, is a retry budget shared with other Retry policies:
	// each retry spends a token, each success earns some back.
	Budget *RetryBudget
}

// Retry calls again a call that failed with a retryable error, waiting a
// growing, jittered delay in between, until it succeeds, MaxAttempts calls
// were made, MaxElapsed would be exceeded, the shared budget is empty, or
// the context ends. Giving up returns a *RetryError (ErrRetriesExhausted)
// that unwraps to the last call's error.
type Retry struct {
	name       string
	clock      Clock
	attempts   int
	backoff    backoff.Policy
	maxElapsed time.Duration
	retryIf    func(error) bool
	hint       func(error) (time.Duration, bool)
	budget     *RetryBudget
	obs        observer

	calls, retries                                    metric.Int64Counter
	okOpts, failOpts, exhaustedOpts, retryOpts, cOpts []metric.AddOption
}

// NewRetry validates cfg and returns a Retry. It takes WithName, WithClock,
// WithMeterProvider, WithTracerProvider and WithListener.
func NewRetry(cfg RetryConfig, opts ...Option) (*Retry, error) {
	o, err := buildOptions("retry", opts)
	if err != nil {
		return nil, err
	}
	bad := func(field, reason string) (*Retry, error) {
		return nil, &ConfigError{Policy: "retry", Field: field, Reason: reason}
	}
	switch {
	case cfg.MaxAttempts < 0:
		return bad("MaxAttempts", "must not be negative")
	case cfg.InitialDelay < 0:
		return bad("InitialDelay", "must not be negative")
	case cfg.MaxDelay < 0:
		return bad("MaxDelay", "must not be negative")
	case cfg.Multiplier != 0 && (cfg.Multiplier < 1 || math.IsInf(cfg.Multiplier, 0) || math.IsNaN(cfg.Multiplier)):
		return bad("Multiplier", "must be at least 1 and finite")
	case cfg.MaxElapsed < 0:
		return bad("MaxElapsed", "must not be negative")
	case cfg.Jitter > NoJitter:
		return bad("Jitter", "is unknown")
	}
	b := backoff.Policy{
		Initial:    orDefault(cfg.InitialDelay, DefaultInitialDelay),
		Max:        orDefault(cfg.MaxDelay, DefaultMaxDelay),
		Multiplier: orDefault(cfg.Multiplier, DefaultMultiplier),
		Jitter:     backoff.Jitter(cfg.Jitter),
	}
	if b.Max < b.Initial {
		return bad("MaxDelay", "must not be less than InitialDelay")
	}
	m := o.meter.Meter(meterName)
	oc := newOutcomeCounter(m, MetricRetryCalls,
		"Calls through a Retry, by outcome (success, failure: not retryable, exhausted, canceled).",
		o.name, "success", "failure", "exhausted", "canceled")
	return &Retry{
		name: o.name, clock: o.clock, attempts: orDefault(cfg.MaxAttempts, DefaultMaxAttempts),
		backoff: b, maxElapsed: cfg.MaxElapsed, retryIf: cfg.RetryIf, hint: cfg.DelayHint, budget: cfg.Budget,
		obs:   newObserver("retry", o.name, o),
		calls: oc.c, okOpts: oc.opts["success"], failOpts: oc.opts["failure"],
		exhaustedOpts: oc.opts["exhausted"], cOpts: oc.opts["canceled"],
		retries:   newCounter(m, MetricRetryRetries, "Retries (calls after the first) made by a Retry."),
		retryOpts: attrs(AttrName.String(o.name)),
	}, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Wrap implements Policy.
func (r *Retry) Wrap(next func(context.Context) error) func(context.Context) error {
	return wrap(r, next)
}

func (r *Retry) run(ctx context.Context, next chain) (err error) {
	ctx, span := r.obs.start(ctx)
	if span != nil {
		defer func() { r.obs.end(span, err) }()
	}
	var start time.Time
	if r.maxElapsed > 0 {
		start = r.clock.Now()
	}
	if err = next.call(ctx); err == nil {
		r.succeeded(ctx)
		return nil
	}
	return r.retry(ctx, next, err, start)
}

func (r *Retry) succeeded(ctx context.Context) {
	if r.budget != nil {
		r.budget.earn()
	}
	r.calls.Add(ctx, 1, r.okOpts...)
}

// retry is the slow path, after a first failure.
func (r *Retry) retry(ctx context.Context, next chain, err error, start time.Time) error {
	var delay time.Duration
	for attempt := 1; ; attempt++ {
		r.obs.notify(ctx, Event{Kind: AttemptFailed, Attempt: attempt, Err: err})
		if r.retryIf != nil && !r.retryIf(err) {
			r.calls.Add(ctx, 1, r.failOpts...)
			return err
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return r.giveUp(ctx, attempt, StopCanceled, err, ctxErr)
		}
		if attempt >= r.attempts {
			return r.giveUp(ctx, attempt, StopMaxAttempts, err, nil)
		}
		hinted := false
		if r.hint != nil {
			var d time.Duration
			if d, hinted = r.hint(err); hinted {
				delay = max(d, 0)
			}
		}
		if !hinted {
			delay = r.backoff.Delay(attempt, delay, rand.Float64())
		}
		if r.maxElapsed > 0 && r.clock.Now().Add(delay).Sub(start) > r.maxElapsed {
			return r.giveUp(ctx, attempt, StopMaxElapsed, err, nil)
		}
		if r.budget != nil && !r.budget.spend() {
			return r.giveUp(ctx, attempt, StopBudget, err, nil)
		}
		r.obs.notify(ctx, Event{Kind: RetryScheduled, Attempt: attempt + 1, Delay: delay, Err: err})
		if waitErr := clock.Sleep(ctx, r.clock, delay); waitErr != nil {
			return r.giveUp(ctx, attempt, StopCanceled, err, waitErr)
		}
		r.retries.Add(ctx, 1, r.retryOpts...)
		if err = next.call(ctx); err == nil {
			r.succeeded(ctx)
			return nil
		}
	}
}

func (r *Retry) giveUp(ctx context.Context, attempts int, why StopReason, err, ctxErr error) error {
	if why == StopCanceled {
		r.calls.Add(ctx, 1, r.cOpts...)
	} else {
		r.calls.Add(ctx, 1, r.exhaustedOpts...)
	}
	return &RetryError{Name: r.name, Attempts: attempts, Reason: why, Err: err, CtxErr: ctxErr}
}
