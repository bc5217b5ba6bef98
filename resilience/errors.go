package resilience

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Callers branch with errors.Is; the typed errors below carry
// the details, match these, and unwrap to the underlying cause, so that
// errors.Is also still finds the error of the call itself (for example
// eventstore.ErrWrongExpectedVersion).
var (
	// ErrTimeout: the call did not finish within the Timeout. The error is a
	// *TimeoutError.
	ErrTimeout = errors.New("resilience: timeout")
	// ErrRetriesExhausted: Retry gave up. The error is a *RetryError.
	ErrRetriesExhausted = errors.New("resilience: retries exhausted")
	// ErrBulkheadFull: the Bulkhead rejected the call. The error is a
	// *BulkheadError.
	ErrBulkheadFull = errors.New("resilience: bulkhead full")
	// ErrFallbackFailed: the call failed and so did its fallback. The error
	// is a *FallbackError.
	ErrFallbackFailed = errors.New("resilience: fallback failed")
	// ErrCircuitOpen: the Breaker rejected the call. The error is a
	// *CircuitOpenError.
	ErrCircuitOpen = errors.New("resilience: circuit open")
	// ErrInvalidConfig: a policy was constructed with an invalid
	// configuration. The error is a *ConfigError.
	ErrInvalidConfig = errors.New("resilience: invalid configuration")
	// ErrUnknownBreaker: a Registry has no breaker of that name.
	ErrUnknownBreaker = errors.New("resilience: unknown breaker")
)

// A ConfigError reports an invalid policy configuration.
type ConfigError struct {
	Policy string // "timeout", "retry", "bulkhead", "fallback", "breaker", "registry", "budget"
	Field  string // the offending field or option
	Reason string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("resilience: invalid %s configuration: %s %s", e.Policy, e.Field, e.Reason)
}

func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }

// A TimeoutError reports a call that was still running when its Timeout
// expired and then failed. Err is the call's error (usually
// context.DeadlineExceeded).
type TimeoutError struct {
	Name    string
	Timeout time.Duration
	Err     error
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("resilience: timeout %s: call did not finish within %v: %v", label(e.Name), e.Timeout, e.Err)
}

func (e *TimeoutError) Is(target error) bool { return target == ErrTimeout }
func (e *TimeoutError) Unwrap() error        { return e.Err }

// StopReason says why Retry gave up.
type StopReason uint8

const (
	// StopMaxAttempts: MaxAttempts calls were made.
	StopMaxAttempts StopReason = iota + 1
	// StopMaxElapsed: the next delay would have gone past MaxElapsed.
	StopMaxElapsed
	// StopBudget: the shared RetryBudget had no token left.
	StopBudget
	// StopCanceled: the context ended while waiting to retry.
	StopCanceled
)

func (r StopReason) String() string {
	switch r {
	case StopMaxAttempts:
		return "max attempts reached"
	case StopMaxElapsed:
		return "max elapsed time reached"
	case StopBudget:
		return "retry budget exhausted"
	case StopCanceled:
		return "context ended while waiting"
	}
	return "unknown"
}

// A RetryError reports that Retry gave up after Attempts calls. It unwraps to
// the last call's error (Err) and, when the context ended, to the context's
// error too.
type RetryError struct {
	Name     string
	Attempts int
	Reason   StopReason
	Err      error // the last call's error
	CtxErr   error // the context's error, for StopCanceled
}

func (e *RetryError) Error() string {
	return fmt.Sprintf("resilience: retry %s: gave up after %d attempts (%v): %v", label(e.Name), e.Attempts, e.Reason, e.Err)
}

func (e *RetryError) Is(target error) bool { return target == ErrRetriesExhausted }

func (e *RetryError) Unwrap() []error {
	if e.CtxErr != nil {
		return []error{e.Err, e.CtxErr}
	}
	return []error{e.Err}
}

// RejectReason says why a Bulkhead rejected a call.
type RejectReason uint8

const (
	// RejectFull: every slot was busy and the queue was full (or there is no
	// queue).
	RejectFull RejectReason = iota + 1
	// RejectQueueTimeout: the call waited in the queue for QueueTimeout.
	RejectQueueTimeout
	// RejectCanceled: the context ended while the call waited in the queue.
	RejectCanceled
)

func (r RejectReason) String() string {
	switch r {
	case RejectFull:
		return "full"
	case RejectQueueTimeout:
		return "queue_timeout"
	case RejectCanceled:
		return "canceled"
	}
	return "unknown"
}

// A BulkheadError reports a call the Bulkhead did not run. Err is the
// context's error for RejectCanceled, else nil.
type BulkheadError struct {
	Name   string
	Reason RejectReason
	Err    error
}

func (e *BulkheadError) Error() string {
	msg := fmt.Sprintf("resilience: bulkhead %s rejected the call: %v", label(e.Name), e.Reason)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *BulkheadError) Is(target error) bool { return target == ErrBulkheadFull }
func (e *BulkheadError) Unwrap() error        { return e.Err }

// A FallbackError reports a failed call whose fallback failed too. It
// unwraps to both: the fallback's error (the last cause) and the call's.
type FallbackError struct {
	Name        string
	Err         error // the call's error
	FallbackErr error // the fallback's error
}

func (e *FallbackError) Error() string {
	return fmt.Sprintf("resilience: fallback %s: %v (after: %v)", label(e.Name), e.FallbackErr, e.Err)
}

func (e *FallbackError) Is(target error) bool { return target == ErrFallbackFailed }
func (e *FallbackError) Unwrap() []error      { return []error{e.FallbackErr, e.Err} }

// A CircuitOpenError reports a call the Breaker rejected. Err is the failure
// that last opened the breaker when this instance saw it (nil when another
// instance opened it, or it was forced open).
type CircuitOpenError struct {
	Breaker string
	State   State
	// Until is when the breaker lets a probe through; zero when unknown or
	// forced open.
	Until  time.Time
	Reason string
	Err    error
}

func (e *CircuitOpenError) Error() string {
	msg := fmt.Sprintf("resilience: breaker %q is %v", e.Breaker, e.State)
	if e.Reason != "" {
		msg += " (" + e.Reason + ")"
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *CircuitOpenError) Is(target error) bool { return target == ErrCircuitOpen }
func (e *CircuitOpenError) Unwrap() error        { return e.Err }

func label(name string) string {
	if name == "" {
		return "(unnamed)"
	}
	return fmt.Sprintf("%q", name)
}
