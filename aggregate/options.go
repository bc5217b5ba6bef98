package aggregate

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/chronicle-go/chronicle/internal/backoff"
	"github.com/chronicle-go/chronicle/internal/clock"
	"github.com/chronicle-go/chronicle/schema"
)

// A Clock tells the time and runs functions later: schema.Clock, the one
// clock type of Chronicle's packages (testkit.Clock is a fake one).
type Clock = schema.Clock

// An Option configures a Repository.
type Option func(*options) error

type options struct {
	snapshotEvery  int
	snapshotKeep   int
	maxRetries     int
	tracerProvider trace.TracerProvider
	meterProvider  metric.MeterProvider
	logger         *slog.Logger
	clock          clock.Clock
	backoff        backoff.Policy // zero Initial: retry at once
	afterAppend    AfterAppend
	decoding       decoding // parallel decoding of long loads
}

// An AfterAppend hook runs after a command's events were appended, in the
// command's goroutine and context, before the command returns: to write an
// outbox, refresh a cache, publish. events are the appended events as
// decoded (with revisions and, on the last one, the position). An error
// does not undo the append: the command returns its Result with an
// *AfterAppendError.
type AfterAppend func(ctx context.Context, stream string, events []schema.Event) error

// Defaults.
const (
	// DefaultMaxRetries is how many times a command is decided again after
	// a concurrency conflict, unless WithMaxRetries says otherwise.
	DefaultMaxRetries = 3
	// DefaultSnapshotRetention is how many snapshots a snapshot stream
	// keeps ($maxCount), unless WithSnapshotRetention says otherwise.
	DefaultSnapshotRetention = 3
	// DefaultConflictBackoff and DefaultMaxConflictBackoff bound the wait
	// before a command is decided again after a conflict, unless
	// WithConflictBackoff says otherwise.
	DefaultConflictBackoff    = time.Millisecond
	DefaultMaxConflictBackoff = 100 * time.Millisecond
)

func defaultOptions() options {
	return options{
		maxRetries: DefaultMaxRetries, snapshotKeep: DefaultSnapshotRetention, clock: clock.System, decoding: defaultDecoding(),
		backoff: backoff.Policy{Initial: DefaultConflictBackoff, Max: DefaultMaxConflictBackoff, Multiplier: 2, Jitter: backoff.Full},
	}
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

// WithConflictBackoff sets how long a command waits before it loads and
// decides again after a concurrency conflict: retry n waits a random time
// in [0, min(max, initial×2^(n-1))) ("full jitter"), so that writers that
// collided spread out instead of colliding again. The wait ends early, with
// the command, when the context ends. WithConflictBackoff(0, 0) retries at
// once. The defaults are DefaultConflictBackoff and
// DefaultMaxConflictBackoff.
func WithConflictBackoff(initial, max time.Duration) Option {
	return func(o *options) error {
		switch {
		case initial == 0 && max == 0:
			o.backoff = backoff.Policy{}
		case initial <= 0 || max < initial:
			return fmt.Errorf("%w: WithConflictBackoff(%v, %v): want 0 < initial <= max, or both 0", ErrInvalidOption, initial, max)
		default:
			o.backoff = backoff.Policy{Initial: initial, Max: max, Multiplier: 2, Jitter: backoff.Full}
		}
		return nil
	}
}

// WithAfterAppend sets a hook that runs after every successful append of a
// command (not after commands that append nothing, and not for snapshots).
func WithAfterAppend(hook AfterAppend) Option {
	return func(o *options) error {
		if hook == nil {
			return fmt.Errorf("%w: WithAfterAppend(nil)", ErrInvalidOption)
		}
		o.afterAppend = hook
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

// WithClock sets the clock that times commands, dates snapshots and waits
// between conflict retries; the default is the system clock. Event times
// come from the schema registry's clock.
func WithClock(c Clock) Option {
	return func(o *options) error {
		if c == nil {
			return fmt.Errorf("%w: WithClock(nil)", ErrInvalidOption)
		}
		o.clock = c
		return nil
	}
}
