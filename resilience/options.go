package resilience

import (
	"log/slog"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/internal/clock"
)

// A Clock tells the time and runs functions later; policies use it for
// deadlines, backoff delays, queue timeouts and recovery delays, so that
// tests can drive them with a fake clock. The zero configuration uses the
// system clock.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc runs f in its own goroutine once d has elapsed and returns a
	// function that cancels it (reporting whether it did, as
	// time.Timer.Stop).
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// An Option configures a policy, a Breaker or a Registry. Options that do
// not apply to what is being built are ignored (each option's doc says where
// it applies).
type Option func(*options) error

type options struct {
	name         string
	clock        Clock
	meter        metric.MeterProvider
	logger       *slog.Logger
	store        eventstore.Store
	instance     string
	storeTimeout time.Duration
	maxCount     uint64
}

// Defaults of the store-related options.
const (
	// DefaultStoreTimeout bounds each store operation of a Breaker.
	DefaultStoreTimeout = 5 * time.Second
	// DefaultStreamMaxCount is the $maxCount a Breaker sets on its stream.
	DefaultStreamMaxCount = 100
)

func buildOptions(policy string, opts []Option) (*options, error) {
	o := &options{clock: clock.System, storeTimeout: DefaultStoreTimeout, maxCount: DefaultStreamMaxCount}
	for _, opt := range opts {
		if opt == nil {
			return nil, &ConfigError{Policy: policy, Field: "option", Reason: "is nil"}
		}
		if err := opt(o); err != nil {
			if ce, ok := err.(*ConfigError); ok {
				ce.Policy = policy
			}
			return nil, err
		}
	}
	if o.meter == nil {
		o.meter = otel.GetMeterProvider()
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// WithName names a Timeout, Retry, Bulkhead or Fallback in metrics and
// errors. (A Breaker's name is an argument of NewBreaker.)
func WithName(name string) Option {
	return func(o *options) error { o.name = name; return nil }
}

// WithClock sets the clock (default: the system clock).
func WithClock(c Clock) Option {
	return func(o *options) error {
		if c == nil {
			return &ConfigError{Field: "WithClock", Reason: "is nil"}
		}
		o.clock = c
		return nil
	}
}

// WithMeterProvider sets the OpenTelemetry meter provider (default: the
// global one, a no-op until the application installs an SDK).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(o *options) error {
		if mp == nil {
			return &ConfigError{Field: "WithMeterProvider", Reason: "is nil"}
		}
		o.meter = mp
		return nil
	}
}

// WithLogger sets the logger a Breaker reports transitions and store
// failures to (default: none).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error { o.logger = l; return nil }
}

// WithStore makes a Breaker share its state through the event store: its
// transitions become events of the stream "chronicle-breaker-<name>", which every
// instance follows. Without it a Breaker is local to the process.
func WithStore(s eventstore.Store) Option {
	return func(o *options) error {
		if s == nil {
			return &ConfigError{Field: "WithStore", Reason: "is nil"}
		}
		o.store = s
		return nil
	}
}

// WithInstanceID sets the ID a Breaker writes into its events (default: a
// random UUID per Breaker). It must differ between live instances.
func WithInstanceID(id string) Option {
	return func(o *options) error {
		if id == "" {
			return &ConfigError{Field: "WithInstanceID", Reason: "is empty"}
		}
		o.instance = id
		return nil
	}
}

// WithStoreTimeout bounds each store operation of a Breaker (default
// DefaultStoreTimeout).
func WithStoreTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return &ConfigError{Field: "WithStoreTimeout", Reason: "must be positive"}
		}
		o.storeTimeout = d
		return nil
	}
}

// WithStreamMaxCount sets the $maxCount a Breaker keeps on its stream
// (default DefaultStreamMaxCount): the stream stays short, and its last
// event alone determines the state.
func WithStreamMaxCount(n uint64) Option {
	return func(o *options) error {
		if n == 0 {
			return &ConfigError{Field: "WithStreamMaxCount", Reason: "must be positive"}
		}
		o.maxCount = n
		return nil
	}
}
