package resilience

import (
	"context"
	"errors"
	"math"
	"time"
)

// Outcome is how a Breaker counts a call's result.
type Outcome uint8

const (
	// OutcomeSuccess counts as a success.
	OutcomeSuccess Outcome = iota
	// OutcomeFailure counts as a failure.
	OutcomeFailure
	// OutcomeIgnored is not counted: neither a success nor a failure.
	OutcomeIgnored
)

func (o Outcome) String() string {
	switch o {
	case OutcomeSuccess:
		return "success"
	case OutcomeFailure:
		return "failure"
	case OutcomeIgnored:
		return "ignored"
	}
	return "unknown"
}

// DefaultClassify is the error classification of a Breaker without
// BreakerConfig.Classify: context.Canceled (the caller gave up) and
// ErrBulkheadFull (the caller's own overload) are ignored; every other error
// is a failure.
func DefaultClassify(err error) Outcome {
	if errors.Is(err, context.Canceled) || errors.Is(err, ErrBulkheadFull) {
		return OutcomeIgnored
	}
	return OutcomeFailure
}

// Defaults of BreakerConfig.
const (
	DefaultConsecutiveFailures = 5
	DefaultOpenDuration        = 30 * time.Second
	DefaultTimeWindowMinCalls  = 10
	// timeBuckets is how many buckets a time window is split into.
	timeBuckets = 10
)

// BreakerConfig configures a Breaker. The zero value opens after
// DefaultConsecutiveFailures consecutive failures, stays open for
// DefaultOpenDuration, then lets one probe call through.
//
// Trip rules (any of them opens the breaker; with none set,
// ConsecutiveFailures is DefaultConsecutiveFailures):
//   - ConsecutiveFailures;
//   - FailureRatio over a window of the last CountWindow calls, or failure
//     rate over the calls of the last TimeWindow (one window, not both),
//     once the window holds MinimumCalls calls;
//   - SlowCallRatio over the same window, a call being slow when it takes
//     SlowCallDuration or more (successes and failures alike).
//
// Each rule costs O(1) per call: the count window is a ring buffer, the time
// window ten buckets of TimeWindow/10.
type BreakerConfig struct {
	ConsecutiveFailures int
	FailureRatio        float64 // in (0, 1]
	SlowCallRatio       float64 // in (0, 1]; needs SlowCallDuration
	SlowCallDuration    time.Duration
	CountWindow         int           // the last N calls
	TimeWindow          time.Duration // the calls of the last TimeWindow (±10%)
	// MinimumCalls is how many calls the window must hold before the ratio
	// rules apply; 0 means CountWindow for a count window and
	// DefaultTimeWindowMinCalls for a time window.
	MinimumCalls int

	// OpenDuration is how long the breaker stays open before a probe; 0
	// means DefaultOpenDuration.
	OpenDuration time.Duration
	// RecoveryDelay, when set, computes the open duration from the number
	// of consecutive openings (1, 2, … until the breaker closes), for an
	// exponential recovery delay; a non-positive result means OpenDuration.
	RecoveryDelay func(opens int) time.Duration
	// HalfOpenCalls is how many probe calls half-open permits; 0 means 1.
	HalfOpenCalls int
	// HalfOpenSuccesses is how many probes must succeed to close; 0 means
	// HalfOpenCalls. A failed probe opens the breaker again.
	HalfOpenSuccesses int
	// ProbeTimeout is how long a half-open claim holds: when its probes
	// have not settled by then, another call (or instance) may claim
	// half-open again. 0 means OpenDuration.
	ProbeTimeout time.Duration

	// Classify sorts call errors (never nil) into failures and ignored
	// errors; nil means DefaultClassify. Returning OutcomeSuccess counts
	// the error as a success.
	Classify func(error) Outcome
}

// normalize checks cfg and fills in the defaults.
func (cfg BreakerConfig) normalize() (BreakerConfig, error) {
	bad := func(field, reason string) (BreakerConfig, error) {
		return BreakerConfig{}, &ConfigError{Policy: "breaker", Field: field, Reason: reason}
	}
	ratio := func(r float64) bool { return r > 0 && r <= 1 }
	switch {
	case cfg.ConsecutiveFailures < 0:
		return bad("ConsecutiveFailures", "must not be negative")
	case cfg.FailureRatio != 0 && !ratio(cfg.FailureRatio):
		return bad("FailureRatio", "must be in (0, 1]")
	case cfg.SlowCallRatio != 0 && !ratio(cfg.SlowCallRatio):
		return bad("SlowCallRatio", "must be in (0, 1]")
	case cfg.SlowCallDuration < 0:
		return bad("SlowCallDuration", "must not be negative")
	case (cfg.SlowCallRatio > 0) != (cfg.SlowCallDuration > 0):
		return bad("SlowCallRatio", "and SlowCallDuration go together")
	case cfg.CountWindow < 0:
		return bad("CountWindow", "must not be negative")
	case cfg.TimeWindow < 0:
		return bad("TimeWindow", "must not be negative")
	case cfg.CountWindow > 0 && cfg.TimeWindow > 0:
		return bad("CountWindow", "and TimeWindow are exclusive: choose one window")
	case cfg.TimeWindow > 0 && cfg.TimeWindow < timeBuckets*time.Millisecond:
		return bad("TimeWindow", "must be at least 10ms")
	case cfg.MinimumCalls < 0:
		return bad("MinimumCalls", "must not be negative")
	case cfg.OpenDuration < 0:
		return bad("OpenDuration", "must not be negative")
	case cfg.HalfOpenCalls < 0:
		return bad("HalfOpenCalls", "must not be negative")
	case cfg.HalfOpenSuccesses < 0:
		return bad("HalfOpenSuccesses", "must not be negative")
	case cfg.ProbeTimeout < 0:
		return bad("ProbeTimeout", "must not be negative")
	}
	windowed := cfg.CountWindow > 0 || cfg.TimeWindow > 0
	ratios := cfg.FailureRatio > 0 || cfg.SlowCallRatio > 0
	switch {
	case ratios && !windowed:
		return bad("FailureRatio", "and SlowCallRatio need CountWindow or TimeWindow")
	case windowed && !ratios:
		return bad("CountWindow", "and TimeWindow need FailureRatio or SlowCallRatio")
	case cfg.CountWindow > 0 && cfg.MinimumCalls > cfg.CountWindow:
		return bad("MinimumCalls", "must not exceed CountWindow")
	case cfg.CountWindow > math.MaxInt32:
		return bad("CountWindow", "is too large")
	}
	if cfg.ConsecutiveFailures == 0 && !ratios {
		cfg.ConsecutiveFailures = DefaultConsecutiveFailures
	}
	if cfg.MinimumCalls == 0 {
		cfg.MinimumCalls = cfg.CountWindow
		if cfg.TimeWindow > 0 {
			cfg.MinimumCalls = DefaultTimeWindowMinCalls
		}
	}
	cfg.OpenDuration = orDefault(cfg.OpenDuration, DefaultOpenDuration)
	cfg.HalfOpenCalls = orDefault(cfg.HalfOpenCalls, 1)
	cfg.HalfOpenSuccesses = orDefault(cfg.HalfOpenSuccesses, cfg.HalfOpenCalls)
	if cfg.HalfOpenSuccesses > cfg.HalfOpenCalls {
		return bad("HalfOpenSuccesses", "must not exceed HalfOpenCalls")
	}
	cfg.ProbeTimeout = orDefault(cfg.ProbeTimeout, cfg.OpenDuration)
	if cfg.Classify == nil {
		cfg.Classify = DefaultClassify
	}
	return cfg, nil
}
