package projection

import (
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/resilience"
)

// Policy says what a Runner does with an event it cannot handle: one its
// registry cannot decode (unknown type or version, malformed data, failed
// upcast), or one whose handler still fails after the retry policy.
type Policy uint8

const (
	// Park records the event in the projection's parked stream with the
	// error, and goes on; the event's partition key is blocked (its later
	// events are parked too) until the parked events are replayed.
	Park Policy = iota
	// Skip counts the event (State.Skipped) and goes on.
	Skip
	// Stop ends Run with a *HandlerError matching ErrStopped; the event is
	// handled again at the next start.
	Stop
)

func (p Policy) String() string {
	switch p {
	case Park:
		return "park"
	case Skip:
		return "skip"
	case Stop:
		return "stop"
	}
	return fmt.Sprintf("Policy(%d)", p)
}

// Defaults of the Runner options.
const (
	DefaultBatchSize        = 256
	DefaultResubscribeDelay = 100 * time.Millisecond
	DefaultMaxResubscribe   = 10 * time.Second
	// DefaultIdleCheckpointEvery bounds how many events a runner examines
	// without handling any before it writes its checkpoint anyway (filtered
	// subscriptions that match nothing still advance).
	DefaultIdleCheckpointEvery = 4096
)

// An Option configures a Runner.
type Option func(*options) error

type options struct {
	batchSize   int
	workers     int
	key         func(*eventstore.RecordedEvent) string
	keySet      bool
	retry       resilience.Policy
	undecodable Policy
	failures    Policy
	resubscribe [2]time.Duration
	idleEvery   int
	logger      *slog.Logger
	tracer      trace.TracerProvider
	meter       metric.MeterProvider
	now         func() time.Time
	persistent  *persistentMode // WithPersistentGroup
	consumer    string          // WithConsumerName
}

func defaultOptions() options {
	return options{
		batchSize:   DefaultBatchSize,
		workers:     1,
		key:         func(e *eventstore.RecordedEvent) string { return e.Stream },
		undecodable: Park,
		failures:    Park,
		resubscribe: [2]time.Duration{DefaultResubscribeDelay, DefaultMaxResubscribe},
		idleEvery:   DefaultIdleCheckpointEvery,
		logger:      slog.New(slog.DiscardHandler),
		tracer:      otel.GetTracerProvider(),
		meter:       otel.GetMeterProvider(),
		now:         time.Now,
	}
}

// WithBatchSize sets how many events at most one target transaction
// handles (default DefaultBatchSize). Batches form from what the
// subscription has ready: during catch-up they are full, live they are as
// small as the traffic.
func WithBatchSize(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("%w: batch size %d < 1", ErrInvalidProjection, n)
		}
		o.batchSize = n
		return nil
	}
}

// WithWorkers handles events in n partitions in parallel (default 1).
// Events are partitioned by stream (or by WithPartitionKey); order is kept
// within a partition. Each partition commits its own checkpoint with its
// writes, so exactly-once holds per partition, and the runner's own
// checkpoint moves only past positions every partition has finished. The
// number of workers of a projection version must not change between runs
// (the SQL targets refuse it): bump the version instead.
func WithWorkers(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 1024 {
			return fmt.Errorf("%w: workers %d not in [1, 1024]", ErrInvalidProjection, n)
		}
		o.workers = n
		return nil
	}
}

// WithPartitionKey sets what partitions events among workers and what a
// parked event blocks (default: the stream name). Events with equal keys
// are handled in order by one worker.
func WithPartitionKey(key func(*eventstore.RecordedEvent) string) Option {
	return func(o *options) error {
		if key == nil {
			return fmt.Errorf("%w: nil partition key", ErrInvalidProjection)
		}
		o.key, o.keySet = key, true
		return nil
	}
}

// WithRetry sets the policy that retries a failing handler (one event in
// its own transaction) before the failure policy applies; by default a
// resilience.Retry of 3 attempts from 100 ms. Fenced checkpoints and
// context errors are never retried.
func WithRetry(p resilience.Policy) Option {
	return func(o *options) error {
		if p == nil {
			return fmt.Errorf("%w: nil retry policy", ErrInvalidProjection)
		}
		o.retry = p
		return nil
	}
}

// OnUndecodable sets the policy for events the registry cannot decode
// (default Park).
func OnUndecodable(p Policy) Option {
	return policyOption(p, func(o *options) *Policy { return &o.undecodable })
}

// OnFailure sets the policy for events whose handler still fails after
// retries (default Park).
func OnFailure(p Policy) Option {
	return policyOption(p, func(o *options) *Policy { return &o.failures })
}

func policyOption(p Policy, field func(*options) *Policy) Option {
	return func(o *options) error {
		if p > Stop {
			return fmt.Errorf("%w: unknown policy %v", ErrInvalidProjection, p)
		}
		*field(o) = p
		return nil
	}
}

// WithResubscribe sets the backoff between resubscriptions after the
// subscription drops: full jitter from initial, doubling, capped at max.
func WithResubscribe(initial, max time.Duration) Option {
	return func(o *options) error {
		if initial <= 0 || max < initial {
			return fmt.Errorf("%w: resubscribe backoff %v..%v", ErrInvalidProjection, initial, max)
		}
		o.resubscribe = [2]time.Duration{initial, max}
		return nil
	}
}

// WithLogger sets where the runner logs drops, resubscriptions, parked
// events and promotions (default: nowhere).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrInvalidProjection)
		}
		o.logger = l
		return nil
	}
}

// WithTracerProvider sets the tracer provider (default: the global one).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) error {
		if tp == nil {
			return fmt.Errorf("%w: nil tracer provider", ErrInvalidProjection)
		}
		o.tracer = tp
		return nil
	}
}

// WithMeterProvider sets the meter provider (default: the global one).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(o *options) error {
		if mp == nil {
			return fmt.Errorf("%w: nil meter provider", ErrInvalidProjection)
		}
		o.meter = mp
		return nil
	}
}
