package aggregate

import (
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// An Option configures a Repository.
type Option func(*options) error

type options struct {
	snapshotEvery  int
	snapshotKeep   int
	maxRetries     int
	tracerProvider trace.TracerProvider
	meterProvider  metric.MeterProvider
	logger         *slog.Logger
	clock          func() time.Time
}

// Defaults.
const (
	// DefaultMaxRetries is how many times a command is decided again after
	// a concurrency conflict, unless WithMaxRetries says otherwise.
	DefaultMaxRetries = 3
	// DefaultSnapshotRetention is how many snapshots a snapshot stream
	// keeps ($maxCount), unless WithSnapshotRetention says otherwise.
	DefaultSnapshotRetention = 3
)

func defaultOptions() options {
	return options{maxRetries: DefaultMaxRetries, snapshotKeep: DefaultSnapshotRetention, clock: time.Now}
}

// WithSnapshotEvery makes the repository read snapshots when it loads and
// take one after a command whenever at least n events were appended since
// the snapshot it loaded from (or since the start). 0, the default,
// disables snapshots: loads replay the whole stream.
func WithSnapshotEvery(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("%w: WithSnapshotEvery(%d): must not be negative", ErrInvalidOption, n)
		}
		o.snapshotEvery = n
		return nil
	}
}

// WithSnapshotRetention sets how many snapshots each snapshot stream keeps
// (its $maxCount, set when the stream is created); n ≥ 1. Older ones are
// only useful to LoadAt. The default is DefaultSnapshotRetention.
func WithSnapshotRetention(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("%w: WithSnapshotRetention(%d): must be at least 1", ErrInvalidOption, n)
		}
		o.snapshotKeep = n
		return nil
	}
}

// WithMaxRetries bounds how many times a command is loaded and decided again
// after its append lost a concurrency race; 0 means a single attempt. The
// default is DefaultMaxRetries.
func WithMaxRetries(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("%w: WithMaxRetries(%d): must not be negative", ErrInvalidOption, n)
		}
		o.maxRetries = n
		return nil
	}
}

// WithTracerProvider sets where command spans go; the default is the global
// provider (otel.GetTracerProvider), a no-op until the program installs an
// SDK.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) error { o.tracerProvider = tp; return nil }
}

// WithMeterProvider sets where metrics go; the default is the global
// provider (otel.GetMeterProvider).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(o *options) error { o.meterProvider = mp; return nil }
}

// WithLogger sets the logger for conflicts, snapshots and ignored
// snapshots; nil (the default) is silent.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error { o.logger = l; return nil }
}

// WithClock sets the clock that times commands and dates snapshots; the
// default is time.Now. Event times come from the schema registry's clock.
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return fmt.Errorf("%w: WithClock(nil)", ErrInvalidOption)
		}
		o.clock = now
		return nil
	}
}
