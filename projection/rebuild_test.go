package projection_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/projection"
)

// TestRebuildBesideLive: version 2 builds beside version 1 while 1 serves,
// then takes over; version 1's runner is fenced and retires.
func TestRebuildBesideLive(t *testing.T) {
	store := newMemory(t)
	reg := newRegistry(t)
	db := newMemDB()
	rng := newRand(7)
	appendRandom(t, store, reg, rng, 200, 5)
	setups := 0
	define := func(version int) *projection.Projection[*memTx] {
		return ledger(reg, "ledger").Version(version).
			Setup(func(ctx context.Context, tx *memTx) error {
				setups++
				tx.Add("table:balances", 0)
				return nil
			}).Tables("balances")
	}
	v1, _ := projection.NewRunner(store, define(1), db)
	stop1 := start(t, v1)
	waitCaughtUp(t, v1)
	if live, _ := db.Live(t.Context(), "ledger"); live != 1 || !v1.State().Live {
		t.Fatalf("first version not live: %d, %+v", live, v1.State())
	}

	v2, _ := projection.NewRunner(store, define(2), db, projection.WithBatchSize(8))
	errs2 := make(chan error, 1)
	ctx2, cancel2 := context.WithCancel(t.Context())
	defer cancel2()
	go func() { errs2 <- v2.Run(ctx2) }()
	last := appendRandom(t, store, reg, rng, 50, 5)
	waitFor(t, v2, last)
	waitCaughtUp(t, v2)
	for deadline := time.Now().Add(10 * time.Second); !v2.State().Live && time.Now().Before(deadline); {
		// The live version may be ahead for a moment; the next batch
		// promotes.
		appendTyped(t, store, reg, "account-9", Deposited{"account-9", 1})
		time.Sleep(time.Millisecond)
	}
	if live, _ := db.Live(t.Context(), "ledger"); live != 2 || !v2.State().Live {
		t.Fatalf("version 2 did not take over: live %d, %+v", live, v2.State())
	}
	// Version 1 is fenced at its next write and retires.
	appendTyped(t, store, reg, "account-1", Deposited{"account-1", 1})
	var err1 error
	select {
	case <-time.After(10 * time.Second):
		t.Fatal("version 1 kept running after version 2 took over")
	case <-func() chan struct{} {
		c := make(chan struct{})
		go func() { err1 = v1.WaitFor(context.Background(), eventstore.Position{Commit: 1 << 60}); close(c) }()
		return c
	}():
	}
	if !errors.Is(err1, projection.ErrRetired) {
		t.Fatalf("version 1 ended with %v; want ErrRetired", err1)
	}
	stop1()
	final := appendRandom(t, store, reg, rng, 10, 5)
	waitFor(t, v2, final)
	cancel2()
	if err := <-errs2; err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fold(t, store, reg), modelOf(db, "ledger", 2)); diff != "" {
		t.Fatalf("version 2's read model (-want +got):\n%s", diff)
	}
	if setups != 2 {
		t.Errorf("setup ran %d times; want once per version", setups)
	}
	// An old deployment of version 1 refuses to start.
	old, _ := projection.NewRunner(store, define(1), db)
	if err := old.Run(t.Context()); !errors.Is(err, projection.ErrRetired) {
		t.Errorf("version 1 after version 2 is live: %v; want ErrRetired", err)
	}
}

func TestMissingTable(t *testing.T) {
	store := newMemory(t)
	reg := newRegistry(t)
	db := newMemDB()
	r, _ := projection.NewRunner(store, ledger(reg, "ledger").Tables("balances"), db)
	if err := r.Run(t.Context()); !errors.Is(err, projection.ErrMissingTable) {
		t.Fatalf("Run without the declared table = %v; want ErrMissingTable", err)
	}
	if n := len(allEvents(t, store)); n != 0 {
		t.Errorf("a refused start wrote %d events", n)
	}
}

func TestStatusLagAndProgress(t *testing.T) {
	store := newMemory(t)
	reg := newRegistry(t)
	r, _ := projection.NewRunner(store, ledger(reg, "ledger"), newMemDB())
	st, err := r.Status(t.Context())
	if err != nil || st.LagEvents != 0 || !st.Head.IsZero() {
		t.Fatalf("Status of an empty store = %+v, %v", st, err)
	}
	last := appendRandom(t, store, reg, newRand(3), 40, 3)
	st, err = r.Status(t.Context())
	if err != nil || st.LagEvents != last.Commit || st.Head != last || st.Progress.Total != last.Commit || st.LagTime < 0 {
		t.Fatalf("Status before running = %+v, %v; want lag %d", st, err, last.Commit)
	}
	stop := start(t, r)
	waitFor(t, r, last)
	waitCaughtUp(t, r)
	st, err = r.Status(t.Context())
	if err != nil || st.LagEvents != 0 || st.LagTime != 0 || st.Progress.Done != last.Commit || st.Progress.Rate <= 0 || !st.Running {
		t.Fatalf("Status when caught up = %+v, %v", st, err)
	}
	stop()
	closed := newMemory(t)
	closed.Close()
	r2, _ := projection.NewRunner(closed, ledger(reg, "ledger"), newMemDB())
	if _, err := r2.Status(t.Context()); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("Status on a closed store = %v", err)
	}
}

// TestTelemetry: a span per batch linked to the events' traces, and the
// handled, parked and lag metrics.
func TestTelemetry(t *testing.T) {
	store := newMemory(t)
	reg := newRegistry(t)
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))

	ctx, producer := tp.Tracer("test").Start(t.Context(), "command")
	data, err := reg.EncodeAll(ctx, Deposited{"account-1", 1}, Withdrawn{"account-1", 1})
	producer.End()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Append(t.Context(), "account-1", eventstore.Any, data...); err != nil {
		t.Fatal(err)
	}
	bad, _ := store.Append(t.Context(), "account-2", eventstore.Any, eventstore.EventData{Type: "Deposited", Data: []byte(`{"amount":"x"}`)})
	r, err := projection.NewRunner(store, ledger(reg, "ledger"), newMemDB(),
		projection.WithTracerProvider(tp), projection.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, r)
	waitFor(t, r, bad.Position)
	// The parked record is a framework event after bad: wait until the
	// runner has examined it too.
	for deadline := time.Now().Add(10 * time.Second); ; {
		st, err := r.Status(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if st.LagEvents == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lag never reached 0: %+v", st)
		}
		time.Sleep(time.Millisecond)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	stop()
	got := map[string]float64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					got[m.Name] += float64(p.Value)
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					got[m.Name] = float64(p.Value)
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					got[m.Name] = p.Value
				}
			}
		}
	}
	want := map[string]float64{
		"chronicle.projection.events.handled": 2,
		"chronicle.projection.events.parked":  1,
		"chronicle.projection.errors":         1,
		"chronicle.projection.lag.events":     0,
		"chronicle.projection.lag.seconds":    0,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
	var batch sdktrace.ReadOnlySpan
	for _, s := range spans.Ended() {
		if s.Name() == "projection ledger handle" {
			batch = s
		}
	}
	if batch == nil {
		t.Fatalf("no batch span among %d spans", len(spans.Ended()))
	}
	if batch.SpanKind() != trace.SpanKindConsumer || len(batch.Links()) != 1 ||
		batch.Links()[0].SpanContext.TraceID() != producer.SpanContext().TraceID() {
		t.Errorf("batch span kind %v links %+v; want one link to the producer's trace %v", batch.SpanKind(), batch.Links(), producer.SpanContext().TraceID())
	}
}
