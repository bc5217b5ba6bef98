package resilience

import (
	"log/slog"
	"slices"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/internal/clock"
)

// A Clock tells the time and runs functions later; policies use it for
// deadlines, backoff delays, queue timeouts and recovery delays, so that
// tests can drive them with a fake clock (testkit.Clock). The zero
// configuration uses the system clock. It is schema.Clock, the one clock
// type of Chronicle's packages:
//
//	Now() time.Time
//	// AfterFunc runs f in its own goroutine once d has elapsed and returns
//	// a function that cancels it (reporting whether it did, as
//	// time.Timer.Stop).
//	AfterFunc(d time.Duration, f func()) (stop func() bool)
type Clock = clock.Clock

// An Option configures a policy, a Breaker or a Registry. An option that
// does not apply to what is being built (each option's doc says where it
// applies) makes the constructor fail with a *ConfigError, rather than be
// ignored.
type Option func(*options) error

// applies lists the options each constructor takes.
var applies = map[string][]string{
	"timeout":  {"WithName", "WithClock", "WithMeterProvider", "WithTracerProvider", "WithListener"},
	"retry":    {"WithName", "WithClock", "WithMeterProvider", "WithTracerProvider", "WithListener"},
	"bulkhead": {"WithName", "WithClock", "WithMeterProvider", "WithTracerProvider", "WithListener"},
	"fallback": {"WithName", "WithMeterProvider", "WithTracerProvider"},
	"breaker": {"WithClock", "WithMeterProvider", "WithTracerProvider", "WithListener", "WithLogger",
		"WithStore", "WithInstanceID", "WithStoreTimeout", "WithStreamMaxCount"},
}

func init() { applies["registry"] = applies["breaker"] }

// option returns an Option named name that sets what set sets.
func option(name string, set func(*options) error) Option {
	return func(o *options) error {
		o.given = append(o.given, name)
		return set(o)
	}
}

type options struct {
	given        []string // names of the options applied
	tracer       trace.TracerProvider
	listeners    []Listener
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
	for _, name := range o.given {
		if !slices.Contains(applies[policy], name) {
			return nil, &ConfigError{Policy: policy, Field: name, Reason: "does not apply to a " + policy}
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

// WithName names a Timeout, Retry, Bulkhead or Fallback in metrics, spans,
// events and errors. (A Breaker's name is an argument of NewBreaker, so
// NewBreaker rejects WithName.)
func WithName(name string) Option {
	return option("WithName", func(o *options) error { o.name = name; return nil })
}

// WithClock sets the clock of a Timeout, Retry, Bulkhead, Breaker or
// Registry (default: the system clock).
func WithClock(c Clock) Option {
	return option("WithClock", func(o *options) error {
		if c == nil {
			return &ConfigError{Field: "WithClock", Reason: "is nil"}
		}
		o.clock = c
		return nil
	})
}

// WithMeterProvider sets the OpenTelemetry meter provider (default: the
// global one, a no-op until the application installs an SDK).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return option("WithMeterProvider", func(o *options) error {
		if mp == nil {
			return &ConfigError{Field: "WithMeterProvider", Reason: "is nil"}
		}
		o.meter = mp
		return nil
	})
}

// WithLogger sets the logger a Breaker (or a Registry's breakers) reports
// transitions and store failures to (default: none).
func WithLogger(l *slog.Logger) Option {
	return option("WithLogger", func(o *options) error { o.logger = l; return nil })
}

// WithStore makes a Breaker share its state through the event store: its
// transitions become events of the stream "chronicle-breaker-<name>", which every
// instance follows. Without it a Breaker is local to the process.
func WithStore(s eventstore.Store) Option {
	return option("WithStore", func(o *options) error {
		if s == nil {
			return &ConfigError{Field: "WithStore", Reason: "is nil"}
		}
		o.store = s
		return nil
	})
}

// WithInstanceID sets the ID a Breaker writes into its events (default: a
// random UUID per Breaker). It must differ between live instances.
func WithInstanceID(id string) Option {
	return option("WithInstanceID", func(o *options) error {
		if id == "" {
			return &ConfigError{Field: "WithInstanceID", Reason: "is empty"}
		}
		o.instance = id
		return nil
	})
}

// WithStoreTimeout bounds each store operation of a Breaker (default
// DefaultStoreTimeout).
func WithStoreTimeout(d time.Duration) Option {
	return option("WithStoreTimeout", func(o *options) error {
		if d <= 0 {
			return &ConfigError{Field: "WithStoreTimeout", Reason: "must be positive"}
		}
		o.storeTimeout = d
		return nil
	})
}

// WithStreamMaxCount sets the $maxCount a Breaker keeps on its stream
// (default DefaultStreamMaxCount): the stream stays short, and its last
// event alone determines the state.
func WithStreamMaxCount(n uint64) Option {
	return option("WithStreamMaxCount", func(o *options) error {
		if n == 0 {
			return &ConfigError{Field: "WithStreamMaxCount", Reason: "must be positive"}
		}
		o.maxCount = n
		return nil
	})
}

// WithTracerProvider sets where policy spans go (default: the global
// provider). Every policy, Breaker and Registry takes it. A policy starts a
// span per execution ("resilience.retry <name>", …) only as a child of a
// recording span in the call's context, and records its events (see
// WithListener) on it.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return option("WithTracerProvider", func(o *options) error {
		if tp == nil {
			return &ConfigError{Field: "WithTracerProvider", Reason: "is nil"}
		}
		o.tracer = tp
		return nil
	})
}

// WithListener adds a listener for the events of a Timeout (TimeoutFired),
// Retry (AttemptFailed, RetryScheduled), Bulkhead (BulkheadRejected) or
// Breaker (BreakerStateChanged; through a Registry, of every breaker). It
// may be given more than once.
func WithListener(l Listener) Option {
	return option("WithListener", func(o *options) error {
		if l == nil {
			return &ConfigError{Field: "WithListener", Reason: "is nil"}
		}
		o.listeners = append(o.listeners, l)
		return nil
	})
}
