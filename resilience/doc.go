// Package resilience wraps calls to unreliable dependencies in policies —
// [Timeout], [Retry], [Bulkhead], [Fallback] and the circuit [Breaker] —
// that compose in one documented order, and shares each breaker's state
// between the instances of a service as an event stream.
//
// # Policies and composition
//
// A [Policy] wraps a func(context.Context) error. [Run] and [Compose] apply
// policies outermost first: Run(ctx, fn, a, b) runs a(b(fn)). The order this
// package recommends is
//
//	Fallback → Timeout → Retry → Breaker → Bulkhead → call
//
// (see [Compose] for why). Build a [Pipeline] once with Compose and reuse
// it: its Run allocates nothing of its own, and the policies of this package
// take a fast path through it that needs no closure per call.
//
// Every policy is built by a constructor that validates its configuration
// and returns a *[ConfigError] ([ErrInvalidConfig]) naming the bad field.
// Every policy has a sentinel error and a typed error that unwraps to the
// last cause, so errors.Is finds both:
//
//	policy     sentinel               typed error          unwraps to
//	Timeout    ErrTimeout             *TimeoutError        the call's error
//	Retry      ErrRetriesExhausted    *RetryError          the last call's error (and ctx's)
//	Bulkhead   ErrBulkheadFull        *BulkheadError       ctx's error, when canceled while queued
//	Fallback   ErrFallbackFailed      *FallbackError       the fallback's error and the call's
//	Breaker    ErrCircuitOpen         *CircuitOpenError    the failure that opened it (if seen here)
//
// Errors that a policy merely passes on (a non-retryable error, a failing
// call under a closed breaker) are returned unchanged.
//
// # Timeout
//
// A Timeout gives the call a context that ends after the timeout and waits
// for the call to return (it is cooperative: the call must honour its
// context). Instead of context.WithTimeout, which costs four allocations and
// a runtime timer per call, it uses its own context type: one allocation per
// call, and one clock timer per Timeout armed for the earliest deadline in
// flight. Its Done channel, and the link that propagates the parent's
// cancellation, are made only when someone calls Done. It has the
// AfterFunc method that package context looks for, so contexts the callee
// derives from it (context.WithCancel, WithTimeout, as gRPC and database/sql
// clients do) and context.AfterFunc start no goroutine: a callee that
// derives two contexts costs about what it costs under context.WithTimeout
// (BenchmarkTimeoutDerivingCallee). When the parent's deadline comes first
// the call gets the parent context unchanged.
//
// # Retry
//
// [Retry] retries failed calls with exponential backoff and full
// ([FullJitter]) or decorrelated ([DecorrelatedJitter]) jitter, bounded by
// MaxAttempts and MaxElapsed, filtered by RetryIf, with a hook for a
// server-given delay (DelayHint) and an optional [RetryBudget] shared by
// several Retry policies. Waiting honours the context.
//
// # Bulkhead and Fallback
//
// A [Bulkhead] bounds concurrent calls, with a bounded queue and an
// optional queue timeout. A [Fallback] replaces a failure with the result
// of a fallback function.
//
// # Circuit breaker
//
// A [Breaker] is closed (calls go through and their outcomes are counted),
// open (calls are rejected with ErrCircuitOpen) or half-open (a limited
// number of probe calls go through: enough successes close it, a failure
// opens it again). It opens on consecutive failures, on a failure ratio over
// a count window, on a failure rate over a time window with a minimum
// number of calls, or on a slow-call ratio; each rule costs O(1) per call.
// The recovery delay is fixed or computed from the number of consecutive
// openings. Errors are classified by [BreakerConfig].Classify (by default
// context.Canceled and ErrBulkheadFull are ignored). ForceOpen, ForceClose,
// Disable (metrics only) and Reset are the manual controls; State and
// Metrics report it. A [Registry] holds named breakers with their
// configurations.
//
// # Breaker state as an event stream
//
// With [WithStore], a breaker named n shares its state through the stream
// "chronicle-breaker-n" of an eventstore.Store. Only transitions are written — opened
// (with the reason, a window snapshot and the instance ID), half-opened,
// closed, forced open, forced closed, disabled ([BreakerEvent]) — never call
// outcomes, each appended with the stream's last revision as the expected
// revision. Every instance follows the stream with a subscription, so when
// one instance opens the breaker, all do. Leaving the open state takes a
// claim: the instance appends a half-opened event expecting the revision it
// knows; one instance wins, the others get ErrWrongExpectedVersion, read
// the winner's claim and keep rejecting, so exactly one instance probes at a
// time (a claim lapses after ProbeTimeout if its prober goes away). A new or
// restarted instance reads the state from the stream ([Breaker.Sync]); the
// stream is kept short with $maxCount ([WithStreamMaxCount]), since its last
// event determines the state.
//
// Transitions are written in order, in the background (the calls that
// cause them do not wait for the store), except the half-open claim, which
// the probing call makes itself. When the store cannot be reached, the
// breaker keeps working locally: it opens, probes and closes on its own and
// queues its transitions (the latest 32). When the store is back it
// reconciles: it reads what other instances wrote meanwhile; if nothing, it
// writes its queued transitions; if something, the stream's state wins,
// except over a manual transition, which is written on top. A caller whose
// context ends does not make the store count as unreachable.
//
// # Metrics
//
// Policies report through the OpenTelemetry metric API (the global meter
// provider unless [WithMeterProvider] is given), instrumentation scope
// "github.com/chronicle-go/chronicle/resilience". Every instrument carries
// resilience.name (the policy's [WithName], or the breaker's name):
//
//	resilience.timeout.calls         counter   resilience.outcome: success, failure, timeout
//	resilience.retry.calls           counter   resilience.outcome: success, failure (not retryable), exhausted, canceled
//	resilience.retry.retries         counter   calls after the first
//	resilience.bulkhead.rejections   counter   resilience.reason: full, queue_timeout, canceled
//	resilience.bulkhead.queue_length updown    calls waiting for a slot
//	resilience.fallback.calls        counter   resilience.outcome: success, failure (not handled), fallback, fallback_failure
//	resilience.breaker.calls         counter   resilience.state, resilience.outcome: success, failure, ignored, rejected
//	resilience.breaker.state         gauge     resilience.state: 1 for the current state, 0 for the others
//	resilience.breaker.transitions   counter   resilience.from_state, resilience.to_state
//
// The attribute sets are computed when a policy is built, so recording adds
// no allocation to a call.
//
// # Events and spans
//
// Listeners ([WithListener]) receive what policies do as [Event]s, in
// order and synchronously: a Retry's [AttemptFailed] and [RetryScheduled]
// (attempt, delay, error), a Timeout's [TimeoutFired], a Bulkhead's
// [BulkheadRejected] (reason) and a Breaker's [BreakerStateChanged] (from,
// to; reported after the breaker's lock is released, so a listener may call
// the breaker). A saga can record its attempts as events from them.
//
// Each policy execution is an OpenTelemetry span ("resilience.retry
// <name>", "resilience.breaker <name>", …; [WithTracerProvider], else the
// global provider) when the call's context holds a recording span: policies
// never start a trace of their own, and cost nothing extra without one. The
// events above are also added to the policy's span.
//
// # Options
//
// Each constructor takes the options that apply to it (its doc lists them);
// any other option is a *ConfigError, not silently ignored (WithStore on a
// Retry, WithName on a Breaker, whose name is an argument).
//
// # Testing
//
// Policies take a [Clock] ([WithClock]); tests drive deadlines, delays and
// recovery with a fake clock instead of sleeping.
package resilience
