package projection

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/chronicle-go/chronicle/schema"
)

const instrumentationName = "github.com/chronicle-go/chronicle/projection"

// telemetry holds a runner's tracer and instruments:
//
//	chronicle.projection.events.handled   counter, events handed to handlers and committed
//	chronicle.projection.errors           counter, handler failures and undecodable events
//	chronicle.projection.events.parked    counter, events parked
//	chronicle.projection.lag.events       gauge, positions between the checkpoint and the head
//	chronicle.projection.lag.seconds      gauge, age of the last handled event against the head's
//
// each with the attribute chronicle.projection = name.
type telemetry struct {
	tracer  trace.Tracer
	meter   metric.Meter
	attrs   metric.MeasurementOption
	kv      attribute.KeyValue
	handled metric.Int64Counter
	errors  metric.Int64Counter
	parked  metric.Int64Counter
	lagEv   metric.Int64ObservableGauge
	lagSec  metric.Float64ObservableGauge
}

func newTelemetry(name string, o options) (*telemetry, error) {
	t := &telemetry{tracer: o.tracer.Tracer(instrumentationName), meter: o.meter.Meter(instrumentationName)}
	t.kv = attribute.String("chronicle.projection", name)
	t.attrs = metric.WithAttributes(t.kv)
	var err error
	if t.handled, err = t.meter.Int64Counter("chronicle.projection.events.handled", metric.WithUnit("{event}"),
		metric.WithDescription("Events handed to the projection's handlers and committed.")); err != nil {
		return nil, err
	}
	if t.errors, err = t.meter.Int64Counter("chronicle.projection.errors", metric.WithUnit("{error}"),
		metric.WithDescription("Handler failures and undecodable events.")); err != nil {
		return nil, err
	}
	if t.parked, err = t.meter.Int64Counter("chronicle.projection.events.parked", metric.WithUnit("{event}"),
		metric.WithDescription("Events parked in the projection's parked stream.")); err != nil {
		return nil, err
	}
	if t.lagEv, err = t.meter.Int64ObservableGauge("chronicle.projection.lag.events", metric.WithUnit("{event}"),
		metric.WithDescription("Positions between the projection's checkpoint and the store's head.")); err != nil {
		return nil, err
	}
	if t.lagSec, err = t.meter.Float64ObservableGauge("chronicle.projection.lag.seconds", metric.WithUnit("s"),
		metric.WithDescription("How much older the last handled event is than the newest one in the store.")); err != nil {
		return nil, err
	}
	return t, nil
}

// observe registers the lag gauges' callback.
func (t *telemetry) observe(values func(ctx context.Context) (int64, float64, bool)) {
	_, _ = t.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ev, sec, ok := values(ctx)
		if ok {
			o.ObserveInt64(t.lagEv, ev, t.attrs)
			o.ObserveFloat64(t.lagSec, sec, t.attrs)
		}
		return nil
	}, t.lagEv, t.lagSec)
}

// gaugeValues computes the lag gauges of a running runner.
func (r *Runner[Tx]) gaugeValues(ctx context.Context) (int64, float64, bool) {
	if !r.State().Running {
		return 0, 0, false
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	st, err := r.Status(ctx)
	if err != nil {
		return 0, 0, false
	}
	return int64(st.LagEvents), st.LagTime.Seconds(), true
}

// traced runs commit in a span for the batch, linked to the trace of every
// event that carries one (the events come from many traces, so they are
// links rather than parents).
func (r *Runner[Tx]) traced(ctx context.Context, jobs []job[Tx], commit func(ctx context.Context) error) error {
	links := make([]trace.Link, 0, len(jobs))
	seen := make(map[trace.SpanID]bool, len(jobs))
	for _, j := range jobs {
		if sc := spanContext(j.ev.Metadata); sc.IsValid() && !seen[sc.SpanID()] {
			seen[sc.SpanID()] = true
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	first, last := jobs[0].it.rec, jobs[len(jobs)-1].it.rec
	ctx, span := r.tel.tracer.Start(ctx, "projection "+r.p.name+" handle",
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithLinks(links...),
		trace.WithAttributes(r.tel.kv,
			attribute.Int("chronicle.projection.version", r.p.version),
			attribute.Int("messaging.batch.message_count", len(jobs)),
			attribute.String("chronicle.projection.first_position", first.Position.String()),
			attribute.String("chronicle.projection.last_position", last.Position.String())))
	defer span.End()
	err := commit(ctx)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	return err
}

func spanContext(m schema.Metadata) trace.SpanContext { return m.SpanContext() }
