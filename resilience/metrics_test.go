package resilience_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/chronicle-go/chronicle/resilience"
)

// collect returns every data point as "metric{k=v,…}" → value.
func collect(t *testing.T, reader *sdkmetric.ManualReader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != "github.com/chronicle-go/chronicle/resilience" {
			t.Fatalf("scope %q", sm.Scope.Name)
		}
		for _, m := range sm.Metrics {
			var points []metricdata.DataPoint[int64]
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				points = d.DataPoints
			case metricdata.Gauge[int64]:
				points = d.DataPoints
			default:
				t.Fatalf("%s: unexpected data %T", m.Name, m.Data)
			}
			for _, p := range points {
				var kv []string
				for _, a := range p.Attributes.ToSlice() {
					kv = append(kv, fmt.Sprintf("%s=%s", strings.TrimPrefix(string(a.Key), "resilience."), a.Value.String()))
				}
				sort.Strings(kv)
				out[m.Name+"{"+strings.Join(kv, ",")+"}"] = p.Value
			}
		}
	}
	return out
}

func TestMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	clk := newClock()
	opts := []resilience.Option{resilience.WithMeterProvider(mp), resilience.WithClock(clk), resilience.WithName("p")}

	to := must[*resilience.Timeout](t)(resilience.NewTimeout(time.Second, opts...))
	re := must[*resilience.Retry](t)(resilience.NewRetry(resilience.RetryConfig{MaxAttempts: 2, DelayHint: func(error) (time.Duration, bool) { return 0, true }}, opts...))
	bh := must[*resilience.Bulkhead](t)(resilience.NewBulkhead(resilience.BulkheadConfig{MaxConcurrent: 1}, opts...))
	fb := must[*resilience.Fallback](t)(resilience.NewFallback(resilience.FallbackConfig{Func: func(context.Context, error) error { return nil }}, opts[0], opts[2]))
	br := must[*resilience.Breaker](t)(resilience.NewBreaker("b", resilience.BreakerConfig{ConsecutiveFailures: 2}, opts[:2]...))
	ctx := t.Context()

	_ = resilience.Run(ctx, ok, to, re, br, bh)
	_ = resilience.Run(ctx, fail, to, re, br, bh) // two failures: the breaker opens
	_ = resilience.Run(ctx, ok, fb, br)           // rejected, the fallback answers
	_ = to.Wrap(func(context.Context) error { clk.Advance(time.Second); return errBoom })(ctx)
	h := newHolder()
	go func() { _ = resilience.Run(ctx, h.call, bh) }()
	<-h.started
	_ = resilience.Run(ctx, ok, bh)
	close(h.release)

	got := collect(t, reader)
	for key, want := range map[string]int64{
		"resilience.timeout.calls{name=p,outcome=success}":                       1,
		"resilience.timeout.calls{name=p,outcome=failure}":                       1,
		"resilience.timeout.calls{name=p,outcome=timeout}":                       1,
		"resilience.retry.calls{name=p,outcome=success}":                         1,
		"resilience.retry.calls{name=p,outcome=exhausted}":                       1,
		"resilience.retry.retries{name=p}":                                       1,
		"resilience.bulkhead.rejections{name=p,reason=full}":                     1,
		"resilience.fallback.calls{name=p,outcome=fallback}":                     1,
		"resilience.breaker.calls{name=b,outcome=success,state=closed}":          1,
		"resilience.breaker.calls{name=b,outcome=failure,state=closed}":          2,
		"resilience.breaker.calls{name=b,outcome=rejected,state=open}":           1,
		"resilience.breaker.transitions{from_state=closed,name=b,to_state=open}": 1,
		"resilience.breaker.state{name=b,state=open}":                            1,
		"resilience.breaker.state{name=b,state=closed}":                          0,
		"resilience.breaker.state{name=b,state=half-open}":                       0,
	} {
		if got[key] != want {
			t.Errorf("%s = %d, want %d", key, got[key], want)
		}
	}
	if _, ok := got["resilience.bulkhead.queue_length{name=p}"]; ok && got["resilience.bulkhead.queue_length{name=p}"] != 0 {
		t.Errorf("queue length %d", got["resilience.bulkhead.queue_length{name=p}"])
	}
	if t.Failed() {
		for k, v := range got {
			t.Logf("%s = %d", k, v)
		}
	}
}

func TestQueueLengthMetric(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	bh := must[*resilience.Bulkhead](t)(resilience.NewBulkhead(resilience.BulkheadConfig{MaxConcurrent: 1, MaxQueue: 2},
		resilience.WithMeterProvider(mp), resilience.WithName("q")))
	h := newHolder()
	done := make(chan error, 2)
	for range 2 {
		go func() { done <- resilience.Run(t.Context(), h.call, bh) }()
	}
	<-h.started
	eventually(t, "a queued call", func() bool { return bh.Queued() == 1 })
	// The gauge is updated right after the queue counter: poll it too.
	eventually(t, "queue length 1", func() bool {
		return collect(t, reader)["resilience.bulkhead.queue_length{name=q}"] == 1
	})
	close(h.release)
	<-done
	<-done
	if got := collect(t, reader)["resilience.bulkhead.queue_length{name=q}"]; got != 0 {
		t.Fatalf("queue length %d after the calls, want 0", got)
	}
}
