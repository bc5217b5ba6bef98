package esdb

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Defaults of the options.
const (
	// DefaultRetries is how many times a safe operation is retried after a
	// transient error (see Store).
	DefaultRetries = 3
	// DefaultMinBackoff and DefaultMaxBackoff bound the wait before a retry,
	// a resubscription or a reconnection probe.
	DefaultMinBackoff = 50 * time.Millisecond
	DefaultMaxBackoff = 5 * time.Second
	// DefaultReconnectTimeout is how long an operation waits for an
	// unreachable server to come back before it fails with
	// eventstore.ErrUnavailable.
	DefaultReconnectTimeout = 10 * time.Second
)

// An Option configures a Store. Options are validated by New and Open.
type Option func(*options) error

type options struct {
	logger           *slog.Logger
	retries          int
	minBackoff       time.Duration
	maxBackoff       time.Duration
	reconnectTimeout time.Duration
	closeTimeout     time.Duration
}

func newOptions(opts []Option) (options, error) {
	o := options{
		retries:          DefaultRetries,
		minBackoff:       DefaultMinBackoff,
		maxBackoff:       DefaultMaxBackoff,
		reconnectTimeout: DefaultReconnectTimeout,
		closeTimeout:     DefaultCloseTimeout,
	}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return options{}, err
		}
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// WithLogger makes the store log reconnections and dropped subscriptions to
// l; Open also routes the client's own log lines there, at debug level. Nil,
// the default, discards logs.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		o.logger = l
		return nil
	}
}

// WithRetries sets how many times an operation that is safe to repeat is
// retried after a transient error (default DefaultRetries; 0 disables
// retries). Subscriptions resume after every drop regardless.
func WithRetries(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("esdb: retries must not be negative, got %d", n)
		}
		o.retries = n
		return nil
	}
}

// WithBackoff sets the bounds of the exponential backoff before retries,
// resubscriptions and reconnection probes: the n-th wait is initial·2ⁿ⁻¹
// capped at ceiling, of which a random half is jitter (defaults
// DefaultMinBackoff and DefaultMaxBackoff).
func WithBackoff(initial, ceiling time.Duration) Option {
	return func(o *options) error {
		if initial <= 0 || ceiling < initial {
			return fmt.Errorf("esdb: backoff needs 0 < initial <= ceiling, got %v and %v", initial, ceiling)
		}
		o.minBackoff, o.maxBackoff = initial, ceiling
		return nil
	}
}

// WithReconnectTimeout sets how long an operation waits for an unreachable
// server to come back before failing with eventstore.ErrUnavailable
// (default DefaultReconnectTimeout). Subscriptions wait without limit.
func WithReconnectTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("esdb: reconnect timeout must be positive, got %v", d)
		}
		o.reconnectTimeout = d
		return nil
	}
}

// DefaultCloseTimeout is how long Close waits for operations in flight by
// default.
const DefaultCloseTimeout = 5 * time.Second

// WithCloseTimeout bounds how long Close waits for operations in flight to
// return before it closes the client (default DefaultCloseTimeout).
func WithCloseTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("esdb: close timeout must be positive, got %v", d)
		}
		o.closeTimeout = d
		return nil
	}
}

// backoff returns the wait before the n-th consecutive retry (n >= 1):
// min·2ⁿ⁻¹ capped at max, half of it fixed and half random ("equal
// jitter"), so that clients that failed together do not retry together and
// never retry without a pause.
func (o *options) backoff(n int) time.Duration {
	d := o.maxBackoff
	if n < 1 {
		n = 1
	}
	if n <= 32 {
		if b := o.minBackoff << (n - 1); b > 0 && b < d {
			d = b
		}
	}
	half := d / 2
	return half + rand.N(d-half+1)
}
