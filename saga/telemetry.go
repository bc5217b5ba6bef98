package saga

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

const instrumentationName = "github.com/chronicle-go/chronicle/saga"

// telemetry holds an engine's tracer and instruments:
//
//	chronicle.saga.started          counter
//	chronicle.saga.ended            counter, by chronicle.saga.status (completed, compensated, needs-attention)
//	chronicle.saga.step.duration    histogram (s), by step and outcome
//
// each with the attribute chronicle.saga = name.
type telemetry struct {
	tracer   trace.Tracer
	name     string
	attrs    metric.MeasurementOption
	started  metric.Int64Counter
	end      metric.Int64Counter
	duration metric.Float64Histogram
}

func newTelemetry(name string, o options) (*telemetry, error) {
	m := o.meter.Meter(instrumentationName)
	t := &telemetry{tracer: o.tracer.Tracer(instrumentationName), name: name,
		attrs: metric.WithAttributes(attribute.String("chronicle.saga", name))}
	var err error
	if t.started, err = m.Int64Counter("chronicle.saga.started", metric.WithUnit("{saga}"),
		metric.WithDescription("Sagas started.")); err != nil {
		return nil, err
	}
	if t.end, err = m.Int64Counter("chronicle.saga.ended", metric.WithUnit("{saga}"),
		metric.WithDescription("Sagas that completed, were compensated, or need attention.")); err != nil {
		return nil, err
	}
	if t.duration, err = m.Float64Histogram("chronicle.saga.step.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of step and compensation attempts.")); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *telemetry) ended(ctx context.Context, s Status) {
	t.end.Add(ctx, 1, metric.WithAttributes(attribute.String("chronicle.saga", t.name), attribute.String("chronicle.saga.status", string(s))))
}

// attempt starts the span of one attempt and returns the function that
// ends it with the attempt's error.
func (t *telemetry) attempt(ctx context.Context, st *State, step string, attempt int, compensate bool) (context.Context, func(error)) {
	kind := "step"
	if compensate {
		kind = "compensate"
	}
	start := time.Now()
	ctx, span := t.tracer.Start(ctx, "saga "+st.Name+" "+kind+" "+step, trace.WithAttributes(
		attribute.String("chronicle.saga", st.Name), attribute.String("chronicle.saga.id", st.ID),
		attribute.String("chronicle.saga.step", step), attribute.Int("chronicle.saga.attempt", attempt),
		attribute.Bool("chronicle.saga.compensation", compensate)))
	return ctx, func(err error) {
		outcome := "ok"
		if err != nil {
			outcome = "error"
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
		t.duration.Record(ctx, time.Since(start).Seconds(), metric.WithAttributes(
			attribute.String("chronicle.saga", st.Name), attribute.String("chronicle.saga.step", step),
			attribute.String("chronicle.saga.kind", kind), attribute.String("outcome", outcome)))
	}
}
