package saga_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/saga"
)

func TestRunResumesUnfinished(t *testing.T) {
	store := newMemory(t)
	svc := newService()
	// Unfinished sagas: their engine crashed in the first step.
	for _, id := range []string{"a", "b"} {
		ctx, crash := context.WithCancel(t.Context())
		def := saga.New("fulfilment", saga.Step[Order]{Name: "reserve", Action: func(ctx context.Context, sc saga.StepContext[Order]) error {
			crash()
			return ctx.Err()
		}}, saga.Step[Order]{Name: "charge", Action: func(context.Context, saga.StepContext[Order]) error { return nil }},
			saga.Step[Order]{Name: "ship", Action: func(context.Context, saga.StepContext[Order]) error { return nil }})
		e := newEngine(t, store, def, saga.WithInstanceID("node-1"))
		if _, err := e.Start(ctx, id, Order{id, 1}); !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
	}
	// The same node restarted takes its leases back at once.
	e := newEngine(t, store, fulfilment(svc, 1), saga.WithInstanceID("node-1"))
	ids, err := e.Unfinished(t.Context())
	if err != nil || !cmp.Equal(ids, []string{"a", "b"}) {
		t.Fatalf("Unfinished = %v, %v", ids, err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, time.Millisecond) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ids, _ := e.Unfinished(t.Context())
		if len(ids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Run left %v unfinished", ids)
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b"} {
		if st, _ := e.Load(t.Context(), id); st.Status != saga.Completed {
			t.Errorf("%s: %s", id, st.Status)
		}
	}
}

func TestStepWithoutCompensationAndPanics(t *testing.T) {
	store := newMemory(t)
	def := saga.New("p",
		saga.Step[Order]{Name: "note", Action: func(context.Context, saga.StepContext[Order]) error { return nil }},
		saga.Step[Order]{Name: "boom", Retry: fastRetry(1), Action: func(context.Context, saga.StepContext[Order]) error { panic("kaboom") }},
	)
	e := newEngine(t, store, def)
	st, err := e.Start(t.Context(), "x", Order{"x", 1})
	if err != nil || st.Status != saga.Compensated || !strings.Contains(st.Error, "kaboom") || st.Steps[0].Status != saga.StepCompensated {
		t.Fatalf("Start = %+v, %v", st, err)
	}
}

func TestMalformedStreams(t *testing.T) {
	store := newMemory(t)
	e := newEngine(t, store, fulfilment(newService(), 1))
	started := `{"name":"fulfilment","id":"x","steps":["reserve","charge","ship"],"input":{"orderId":"x","amount":1},"inputType":"OrderToFulfil"}`
	for name, events := range map[string][]eventstore.EventData{
		"not json":      {{Type: saga.EventStarted, Data: []byte(`[1]`)}},
		"before start":  {{Type: saga.EventCompleted, Data: []byte(`{}`)}},
		"unknown type":  {{Type: saga.EventStarted, Data: []byte(started)}, {Type: "Other", Data: []byte(`{}`)}},
		"unknown step":  {{Type: saga.EventStarted, Data: []byte(started)}, {Type: saga.EventStepStarted, Data: []byte(`{"step":"nope"}`)}},
		"no step":       {{Type: saga.EventStarted, Data: []byte(started)}, {Type: saga.EventStepSucceeded, Data: []byte(`{}`)}},
		"second start":  {{Type: saga.EventStarted, Data: []byte(started)}, {Type: saga.EventStarted, Data: []byte(started)}},
		"steps changed": {{Type: saga.EventStarted, Data: []byte(`{"name":"fulfilment","id":"x","steps":["a"]}`)}},
	} {
		id := strings.ReplaceAll(name, " ", "_")
		if _, err := store.Append(t.Context(), saga.StreamOf("fulfilment", id), eventstore.Any, events...); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Resume(t.Context(), id); !errors.Is(err, saga.ErrMalformed) {
			t.Errorf("%s: Resume = %v; want ErrMalformed", name, err)
		}
	}
	if _, err := listAll(t.Context(), store, nil); !errors.Is(err, saga.ErrMalformed) {
		t.Errorf("List over malformed streams = %v", err)
	}
	if _, err := saga.History(t.Context(), store, saga.StreamOf("fulfilment", "not_json")); !errors.Is(err, saga.ErrMalformed) {
		t.Errorf("History of a malformed stream = %v", err)
	}
	if _, err := saga.History(t.Context(), store, "nope"); !errors.Is(err, saga.ErrUnknownSaga) {
		t.Errorf("History of a missing stream = %v", err)
	}
	// An input that no longer decodes.
	bad := `{"name":"fulfilment","id":"y","steps":["reserve","charge","ship"],"input":{"orderId":1},"inputType":"OrderToFulfil"}`
	store.Append(t.Context(), saga.StreamOf("fulfilment", "y"), eventstore.Any, eventstore.EventData{Type: saga.EventStarted, Data: []byte(bad)})
	if _, err := e.Resume(t.Context(), "y"); err == nil || !strings.Contains(err.Error(), "input") {
		t.Errorf("Resume with an undecodable input = %v", err)
	}
}

func TestStoreClosed(t *testing.T) {
	store := newMemory(t)
	e := newEngine(t, store, fulfilment(newService(), 1))
	store.Close()
	if _, err := e.Start(t.Context(), "x", Order{"x", 1}); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("Start on a closed store = %v", err)
	}
	if _, err := e.Unfinished(t.Context()); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("Unfinished on a closed store = %v", err)
	}
	if _, err := e.ResumeAll(t.Context()); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("ResumeAll on a closed store = %v", err)
	}
	if _, err := listAll(t.Context(), store, nil); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("List on a closed store = %v", err)
	}
	if _, err := e.Load(t.Context(), "x"); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("Load on a closed store = %v", err)
	}
}

func TestTelemetry(t *testing.T) {
	store := newMemory(t)
	svc := newService()
	svc.fail = failOn("ship")
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	e := newEngine(t, store, fulfilment(svc, 2), saga.WithTracerProvider(tp), saga.WithMeterProvider(mp))
	if st, err := e.Start(t.Context(), "o1", Order{"o1", 1}); err != nil || st.Status != saga.Compensated {
		t.Fatal(st, err)
	}
	var names []string
	for _, s := range spans.Ended() {
		names = append(names, s.Name())
	}
	want := []string{"saga fulfilment step reserve", "saga fulfilment step charge", "saga fulfilment step ship", "saga fulfilment step ship",
		"saga fulfilment compensate charge", "saga fulfilment compensate reserve"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("spans (-want +got):\n%s", diff)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					got[m.Name] += p.Value
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					got[m.Name] += int64(p.Count)
				}
			}
		}
	}
	if diff := cmp.Diff(map[string]int64{"chronicle.saga.started": 1, "chronicle.saga.ended": 1, "chronicle.saga.step.duration": 6}, got); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
	se := &saga.StepError{Saga: "s", ID: "i", Step: "x", Attempt: 2, Compensation: true, Err: errDown}
	if !strings.Contains(se.Error(), `compensation of step "x" attempt 2`) || !errors.Is(se, errDown) {
		t.Errorf("StepError = %q", se.Error())
	}
	if !saga.Completed.Done() || saga.NeedsAttention.Done() {
		t.Error("Status.Done")
	}
}

// TestListPages: List reads the log in pages and finds every saga, of one
// workflow or of all.
func TestListPages(t *testing.T) {
	store := newMemory(t)
	noop := func(context.Context, saga.StepContext[Order]) error { return nil }
	a := newEngine(t, store, saga.New("a", saga.Step[Order]{Name: "s", Action: noop}))
	b := newEngine(t, store, saga.New("b", saga.Step[Order]{Name: "s", Action: noop}))
	for i := range 300 {
		id := fmt.Sprintf("o%d", i)
		e := a
		if i%3 == 0 {
			e = b
		}
		if _, err := e.Start(t.Context(), id, Order{id, 1}); err != nil {
			t.Fatal(err)
		}
	}
	count := func(workflow string) int {
		n := 0
		for st, err := range saga.List(t.Context(), store, workflow) {
			if err != nil {
				t.Fatal(err)
			}
			if st.Status != saga.Completed {
				t.Fatalf("%s: %s", st.ID, st.Status)
			}
			n++
		}
		return n
	}
	if all, na, nb := count(""), count("a"), count("b"); all != 300 || na != 200 || nb != 100 {
		t.Errorf("List found %d sagas, %d of a, %d of b; want 300, 200, 100", all, na, nb)
	}
	for range saga.List(t.Context(), store, "") {
		break // stopping early is fine
	}
}
