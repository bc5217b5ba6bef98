package resilience

import (
	"context"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// EventKind says what an Event reports.
type EventKind uint8

const (
	// AttemptFailed: a call under a Retry failed (Attempt, Err), whether
	// it will be retried or not.
	AttemptFailed EventKind = iota + 1
	// RetryScheduled: a Retry will call again after Delay (Attempt is the
	// attempt it will make, Err the error that caused it).
	RetryScheduled
	// BreakerStateChanged: a Breaker moved From one state To another,
	// because of a call, a manual transition or another instance's event.
	BreakerStateChanged
	// BulkheadRejected: a Bulkhead did not run a call (Reason; Err is the
	// context's error for RejectCanceled).
	BulkheadRejected
	// TimeoutFired: a call under a Timeout returned after its deadline had
	// fired (Err is the call's error, nil if it succeeded anyway).
	TimeoutFired
)

func (k EventKind) String() string {
	switch k {
	case AttemptFailed:
		return "attempt_failed"
	case RetryScheduled:
		return "retry_scheduled"
	case BreakerStateChanged:
		return "breaker_state_changed"
	case BulkheadRejected:
		return "bulkhead_rejected"
	case TimeoutFired:
		return "timeout_fired"
	}
	return "unknown"
}

// An Event is something a policy did, as listeners (WithListener) receive
// it. Fields that do not apply to the Kind are zero.
type Event struct {
	Kind EventKind
	// Policy is "timeout", "retry", "bulkhead" or "breaker"; Name is the
	// policy's name (WithName, or the breaker's name).
	Policy, Name string
	// At is the policy clock's time.
	At time.Time
	// Attempt is the attempt that failed (AttemptFailed) or the one
	// scheduled (RetryScheduled), 1 for the first call.
	Attempt int
	// Delay is the wait before the scheduled attempt.
	Delay time.Duration
	// Err is the call's error, or the context's (BulkheadRejected).
	Err error
	// From and To are the states of a BreakerStateChanged.
	From, To State
	// Reason is why a Bulkhead rejected a call.
	Reason RejectReason
}

// A Listener receives a policy's events, synchronously, in the goroutine
// of the call they concern (for a Breaker, the goroutine that made the
// transition, with no lock held), in the order they happen. It must return
// quickly; ctx is the call's context (context.Background() for breaker
// transitions, which may come from the store).
type Listener func(ctx context.Context, e Event)

// observer is what every policy shares: its listeners and its tracer.
type observer struct {
	policy, name string
	clock        Clock
	listeners    []Listener
	tracer       trace.Tracer
	spanName     string
	spanAttrs    trace.SpanStartEventOption
}

func newObserver(policy, name string, o *options) observer {
	tp := o.tracer
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	spanName := "resilience." + policy
	if name != "" {
		spanName += " " + name
	}
	return observer{
		policy: policy, name: name, clock: o.clock, listeners: o.listeners,
		tracer: tp.Tracer(meterName), spanName: spanName,
		spanAttrs: trace.WithAttributes(attribute.String("resilience.policy", policy), AttrName.String(name)),
	}
}

// start starts the span of one policy execution, a child of the caller's
// span; without a recording span in ctx it starts none (a policy never
// starts a trace of its own) and costs nothing.
func (o *observer) start(ctx context.Context) (context.Context, trace.Span) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, nil
	}
	return o.tracer.Start(ctx, o.spanName, o.spanAttrs, trace.WithSpanKind(trace.SpanKindInternal))
}

// end ends a span from start with the execution's error.
func (o *observer) end(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// notify reports e to the listeners and, as a span event, to the span in
// ctx.
func (o *observer) notify(ctx context.Context, e Event) {
	if len(o.listeners) == 0 && !trace.SpanFromContext(ctx).IsRecording() {
		return
	}
	e.Policy, e.Name = o.policy, o.name
	if e.At.IsZero() {
		e.At = o.clock.Now()
	}
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		kv := []attribute.KeyValue{attribute.Int("resilience.attempt", e.Attempt)}
		switch e.Kind {
		case RetryScheduled:
			kv = append(kv, attribute.String("resilience.delay", e.Delay.String()))
		case BreakerStateChanged:
			kv = []attribute.KeyValue{AttrFrom.String(e.From.String()), AttrTo.String(e.To.String())}
		case BulkheadRejected:
			kv = []attribute.KeyValue{AttrReason.String(e.Reason.String())}
		}
		if e.Err != nil {
			kv = append(kv, attribute.String("error.message", e.Err.Error()))
		}
		span.AddEvent(e.Kind.String(), trace.WithAttributes(kv...))
	}
	for _, l := range o.listeners {
		l(ctx, e)
	}
}
