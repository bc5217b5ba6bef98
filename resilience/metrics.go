package resilience

import (
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// meterName is the instrumentation scope of every instrument of this package.
const meterName = "github.com/chronicle-go/chronicle/resilience"

// Metric names; doc.go describes them and their attributes.
const (
	MetricTimeoutCalls        = "resilience.timeout.calls"
	MetricRetryCalls          = "resilience.retry.calls"
	MetricRetryRetries        = "resilience.retry.retries"
	MetricBulkheadCalls       = "resilience.bulkhead.calls"
	MetricBulkheadRejections  = "resilience.bulkhead.rejections"
	MetricBulkheadQueueLength = "resilience.bulkhead.queue_length"
	MetricFallbackCalls       = "resilience.fallback.calls"
	MetricBreakerCalls        = "resilience.breaker.calls"
	MetricBreakerState        = "resilience.breaker.state"
	MetricBreakerTransitions  = "resilience.breaker.transitions"
)

// Attribute keys of the metrics.
const (
	AttrName    = attribute.Key("resilience.name")
	AttrOutcome = attribute.Key("resilience.outcome")
	AttrState   = attribute.Key("resilience.state")
	AttrFrom    = attribute.Key("resilience.from_state")
	AttrTo      = attribute.Key("resilience.to_state")
	AttrReason  = attribute.Key("resilience.reason")
)

// instrument creation errors go to otel.Handle: the API still returns a
// usable (no-op) instrument with them.

func newCounter(m metric.Meter, name, desc string) metric.Int64Counter {
	c, err := m.Int64Counter(name, metric.WithDescription(desc), metric.WithUnit("{call}"))
	if err != nil {
		otel.Handle(err)
	}
	return c
}

func newUpDown(m metric.Meter, name, desc string) metric.Int64UpDownCounter {
	c, err := m.Int64UpDownCounter(name, metric.WithDescription(desc), metric.WithUnit("{call}"))
	if err != nil {
		otel.Handle(err)
	}
	return c
}

func newGauge(m metric.Meter, name, desc string) metric.Int64Gauge {
	g, err := m.Int64Gauge(name, metric.WithDescription(desc))
	if err != nil {
		otel.Handle(err)
	}
	return g
}

// attrs returns measurement options for a fixed attribute set, computed once
// so that recording a measurement allocates nothing.
func attrs(kv ...attribute.KeyValue) []metric.AddOption {
	return []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(kv...))}
}

func recordAttrs(kv ...attribute.KeyValue) []metric.RecordOption {
	return []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(kv...))}
}

// outcomeCounter counts calls of one named policy by outcome.
type outcomeCounter struct {
	c    metric.Int64Counter
	opts map[string][]metric.AddOption
}

func newOutcomeCounter(m metric.Meter, metricName, desc, name string, outcomes ...string) outcomeCounter {
	oc := outcomeCounter{c: newCounter(m, metricName, desc), opts: make(map[string][]metric.AddOption, len(outcomes))}
	for _, o := range outcomes {
		oc.opts[o] = attrs(AttrName.String(name), AttrOutcome.String(o))
	}
	return oc
}
