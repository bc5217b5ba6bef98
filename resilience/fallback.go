package resilience

import (
	"context"

	"go.opentelemetry.io/otel/metric"
)

// FallbackConfig configures a Fallback.
type FallbackConfig struct {
	// Func is called with the call's error when the call fails and If
	// accepts the error; its result replaces the call's. Required.
	Func func(ctx context.Context, err error) error
	// If reports whether an error should fall back; nil means every error.
	If func(error) bool
}

// Fallback replaces the error of a failed call with the result of a
// fallback function (a cached value, a default, a degraded answer). When
// the fallback fails too, Run returns a *FallbackError (ErrFallbackFailed)
// that unwraps to both errors.
type Fallback struct {
	name string
	fn   func(context.Context, error) error
	when func(error) bool
	obs  observer

	calls                                metric.Int64Counter
	okOpts, skipOpts, fbOpts, fbFailOpts []metric.AddOption
}

// NewFallback validates cfg and returns a Fallback. It takes WithName,
// WithMeterProvider and WithTracerProvider.
func NewFallback(cfg FallbackConfig, opts ...Option) (*Fallback, error) {
	o, err := buildOptions("fallback", opts)
	if err != nil {
		return nil, err
	}
	if cfg.Func == nil {
		return nil, &ConfigError{Policy: "fallback", Field: "Func", Reason: "is required"}
	}
	oc := newOutcomeCounter(o.meter.Meter(meterName), MetricFallbackCalls,
		"Calls through a Fallback, by outcome (success, failure: not handled, fallback, fallback_failure).",
		o.name, "success", "failure", "fallback", "fallback_failure")
	return &Fallback{
		name: o.name, fn: cfg.Func, when: cfg.If, calls: oc.c, obs: newObserver("fallback", o.name, o),
		okOpts: oc.opts["success"], skipOpts: oc.opts["failure"], fbOpts: oc.opts["fallback"], fbFailOpts: oc.opts["fallback_failure"],
	}, nil
}

// Wrap implements Policy.
func (f *Fallback) Wrap(next func(context.Context) error) func(context.Context) error {
	return wrap(f, next)
}

func (f *Fallback) run(ctx context.Context, next chain) (err error) {
	ctx, span := f.obs.start(ctx)
	if span != nil {
		defer func() { f.obs.end(span, err) }()
	}
	err = next.call(ctx)
	switch {
	case err == nil:
		f.calls.Add(ctx, 1, f.okOpts...)
		return nil
	case f.when != nil && !f.when(err):
		f.calls.Add(ctx, 1, f.skipOpts...)
		return err
	}
	if fbErr := f.fn(ctx, err); fbErr != nil {
		f.calls.Add(ctx, 1, f.fbFailOpts...)
		return &FallbackError{Name: f.name, Err: err, FallbackErr: fbErr}
	}
	f.calls.Add(ctx, 1, f.fbOpts...)
	return nil
}
