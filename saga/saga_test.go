package saga_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/internal/clock"
	"github.com/chronicle-go/chronicle/saga"
	"github.com/chronicle-go/chronicle/schema"
	"github.com/chronicle-go/chronicle/testkit"
)

func TestCompleted(t *testing.T) {
	store := newMemory(t)
	svc := newService()
	e := newEngine(t, store, fulfilment(svc, 3))
	st, err := e.Start(t.Context(), "o1", Order{"o1", 10})
	if err != nil || st.Status != saga.Completed {
		t.Fatalf("Start = %+v, %v", st, err)
	}
	want := []string{"reserve fulfilment/o1/reserve/1", "charge fulfilment/o1/charge/1", "ship fulfilment/o1/ship/1"}
	if diff := cmp.Diff(want, svc.ops()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	h, err := saga.History(t.Context(), store, saga.StreamOf("fulfilment", "o1"))
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, x := range h {
		types = append(types, x.Type+" "+x.Step)
	}
	wantTypes := []string{"SagaStarted ", "SagaStepStarted reserve", "SagaStepSucceeded reserve", "SagaStepStarted charge",
		"SagaStepSucceeded charge", "SagaStepStarted ship", "SagaStepSucceeded ship", "SagaCompleted "}
	if diff := cmp.Diff(wantTypes, types); diff != "" {
		t.Errorf("timeline (-want +got):\n%s", diff)
	}
	// Starting again with the same input returns the ended saga.
	if st, err := e.Start(t.Context(), "o1", Order{"o1", 10}); err != nil || st.Status != saga.Completed || len(svc.ops()) != 3 {
		t.Errorf("second Start = %+v, %v (%d calls)", st, err, len(svc.ops()))
	}
	if _, err := e.Start(t.Context(), "o1", Order{"o1", 11}); !errors.Is(err, saga.ErrAlreadyStarted) {
		t.Errorf("Start with another input = %v; want ErrAlreadyStarted", err)
	}
}

func TestCompensatedInReverseOrder(t *testing.T) {
	store := newMemory(t)
	svc := newService()
	svc.fail = failOn("ship")
	e := newEngine(t, store, fulfilment(svc, 3))
	st, err := e.Start(t.Context(), "o1", Order{"o1", 10})
	if err != nil || st.Status != saga.Compensated {
		t.Fatalf("Start = %+v, %v", st, err)
	}
	want := []string{
		"reserve fulfilment/o1/reserve/1", "charge fulfilment/o1/charge/1",
		"ship fulfilment/o1/ship/1", "ship fulfilment/o1/ship/2", "ship fulfilment/o1/ship/3",
		"undo-charge fulfilment/o1/charge/compensate/1", "undo-reserve fulfilment/o1/reserve/compensate/1",
	}
	if diff := cmp.Diff(want, svc.ops()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if st.Steps[2].Status != saga.StepFailed || st.Steps[2].Attempts != 3 || st.Steps[1].Status != saga.StepCompensated ||
		st.Error == "" || st.Steps[2].LastError == "" {
		t.Errorf("state = %+v", st)
	}
}

func TestNeedsAttentionRetryAndSkip(t *testing.T) {
	for _, how := range []string{"retry", "skip"} {
		t.Run(how, func(t *testing.T) {
			store := newMemory(t)
			svc := newService()
			var mu sync.Mutex
			undoBroken := true
			svc.fail = func(op string, sc saga.StepContext[Order]) error {
				mu.Lock()
				defer mu.Unlock()
				if op == "ship" || (op == "undo-charge" && undoBroken) {
					return errDown
				}
				return nil
			}
			e := newEngine(t, store, fulfilment(svc, 2))
			st, err := e.Start(t.Context(), "o1", Order{"o1", 10})
			if err != nil || st.Status != saga.NeedsAttention || st.Steps[1].Status != saga.StepCompensationFailed {
				t.Fatalf("Start = %+v, %v; want needs attention at charge's compensation", st, err)
			}
			if _, err := e.Retry(t.Context(), "nope"); !errors.Is(err, saga.ErrUnknownSaga) {
				t.Errorf("Retry of an unknown saga = %v", err)
			}
			if _, err := e.SkipStep(t.Context(), "o1", "reserve"); !errors.Is(err, saga.ErrNotNeedsAttention) {
				t.Errorf("SkipStep of a step without a failed compensation = %v", err)
			}
			ids, _ := e.Unfinished(t.Context())
			if len(ids) != 0 {
				t.Errorf("a saga needing attention is listed as unfinished: %v", ids)
			}
			if how == "retry" {
				mu.Lock()
				undoBroken = false
				mu.Unlock()
				st, err = e.Retry(t.Context(), "o1")
			} else {
				st, err = e.SkipStep(t.Context(), "o1", "charge")
			}
			if err != nil || st.Status != saga.Compensated {
				t.Fatalf("%s = %+v, %v; want compensated", how, st, err)
			}
			undoReserve := 0
			for _, c := range svc.ops() {
				if c == "undo-reserve fulfilment/o1/reserve/compensate/1" {
					undoReserve++
				}
			}
			if undoReserve != 1 {
				t.Errorf("reserve compensated %d times; want once, after charge's", undoReserve)
			}
			if _, err := e.Retry(t.Context(), "o1"); !errors.Is(err, saga.ErrNotNeedsAttention) {
				t.Errorf("Retry of a compensated saga = %v", err)
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	store := newMemory(t)
	reg := newRegistry()
	act := func(context.Context, saga.StepContext[Order]) error { return nil }
	for name, def := range map[string]*saga.Definition[Order]{
		"no steps":       saga.New[Order]("s"),
		"duplicate step": saga.New("s", saga.Step[Order]{Name: "a", Action: act}, saga.Step[Order]{Name: "a", Action: act}),
		"no action":      saga.New("s", saga.Step[Order]{Name: "a"}),
		"no step name":   saga.New("s", saga.Step[Order]{Action: act}),
		"bad name":       saga.New("a-b", saga.Step[Order]{Name: "a", Action: act}),
		"bad timeout":    saga.New("s", saga.Step[Order]{Name: "a", Action: act, Timeout: -1}),
	} {
		if _, err := saga.NewEngine(store, reg, def); !errors.Is(err, saga.ErrInvalidDefinition) {
			t.Errorf("%s: NewEngine = %v; want ErrInvalidDefinition", name, err)
		}
	}
	good := saga.New("s", saga.Step[Order]{Name: "a", Action: act})
	if _, err := saga.NewEngine(store, schema.MustNewRegistry(), good); !errors.Is(err, saga.ErrInvalidDefinition) {
		t.Errorf("unregistered input type: %v", err)
	}
	if _, err := saga.NewEngine[Order](store, reg, nil); !errors.Is(err, saga.ErrInvalidDefinition) {
		t.Errorf("nil definition: %v", err)
	}
	if _, err := saga.NewEngine(nil, reg, good); !errors.Is(err, saga.ErrInvalidDefinition) {
		t.Errorf("nil store: %v", err)
	}
	for name, opt := range map[string]saga.Option{"nil": nil, "clock": saga.WithClock(nil), "instance": saga.WithInstanceID(""),
		"logger": saga.WithLogger(nil), "tracer": saga.WithTracerProvider(nil), "meter": saga.WithMeterProvider(nil)} {
		if _, err := saga.NewEngine(store, reg, good, opt); !errors.Is(err, saga.ErrInvalidDefinition) {
			t.Errorf("option %s: %v", name, err)
		}
	}
	e, _ := saga.NewEngine(store, reg, good)
	if _, err := e.Start(t.Context(), "o1", Order{"", 0}); !errors.Is(err, schema.ErrValidation) {
		t.Errorf("Start with an invalid input = %v; want schema.ErrValidation", err)
	}
	for _, id := range []string{"", "a\nb"} {
		if _, err := e.Start(t.Context(), id, Order{"o", 1}); !errors.Is(err, saga.ErrUnknownSaga) {
			t.Errorf("Start(%q) = %v", id, err)
		}
	}
	if _, err := e.Resume(t.Context(), "never"); !errors.Is(err, saga.ErrUnknownSaga) {
		t.Errorf("Resume of an unknown saga = %v", err)
	}
	if _, err := e.Load(t.Context(), "never"); !errors.Is(err, saga.ErrUnknownSaga) {
		t.Errorf("Load of an unknown saga = %v", err)
	}
	if err := e.Run(t.Context(), 0); !errors.Is(err, saga.ErrInvalidDefinition) {
		t.Errorf("Run(0) = %v", err)
	}
	var n int
	for _, err := range store.ReadAll(t.Context(), eventstore.ReadAllOptions{}) {
		if err == nil {
			n++
		}
	}
	if n != 0 {
		t.Errorf("bad input wrote %d events", n)
	}
}

// TestManyEngines: engines over one store start and resume the same sagas
// concurrently; no step of a saga ever runs twice at once, and every saga
// completes with each step applied once.
func TestManyEngines(t *testing.T) {
	store := newMemory(t)
	svc := newService()
	svc.delay = 200 * time.Microsecond
	const engines, sagas = 4, 15
	var wg sync.WaitGroup
	for i := range engines {
		e := newEngine(t, store, fulfilment(svc, 3), saga.WithInstanceID(fmt.Sprintf("engine-%d", i)))
		wg.Go(func() {
			for j := range sagas {
				id := fmt.Sprintf("o%d", j)
				_, err := e.Start(t.Context(), id, Order{id, 5})
				if err != nil && !errors.Is(err, saga.ErrLeased) {
					t.Errorf("engine %d, %s: %v", i, id, err)
				}
			}
		})
	}
	wg.Wait()
	// Sagas left leased by an engine that moved on are finished by anyone
	// once they are free.
	e := newEngine(t, store, fulfilment(svc, 3), saga.WithInstanceID("finisher"))
	deadline := time.Now().Add(20 * time.Second)
	for {
		ids, err := e.Unfinished(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("unfinished sagas: %v", ids)
		}
		e.ResumeAll(t.Context())
		time.Sleep(time.Millisecond)
	}
	if svc.maxConc > 1 {
		t.Errorf("a step ran %d times at once", svc.maxConc)
	}
	for j := range sagas {
		for _, step := range []string{"reserve", "charge", "ship"} {
			n := 0
			for k, v := range svc.applied {
				if len(k) > len(step) && k[:len(step)+1] == step+" " && containsID(k, fmt.Sprintf("o%d", j)) {
					n += v
				}
			}
			if n != 1 {
				t.Errorf("o%d %s applied %d times; want 1", j, step, n)
			}
		}
	}
	all, err := listAll(t.Context(), store, func(st *saga.State) bool { return st.Status == saga.Completed })
	if err != nil || len(all) != sagas {
		t.Errorf("List(completed) = %d sagas, %v; want %d", len(all), err, sagas)
	}
}

func containsID(key, id string) bool {
	return len(key) > 0 && (contains(key, "/"+id+"/"))
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// TestInterruptedAttemptResumesWithSameKey: an engine that stops in the
// middle of a step (a crash) leaves the step running; the same instance
// resumes it at once with the same attempt and key, another instance only
// after the lease expires.
func TestInterruptedAttemptResumesWithSameKey(t *testing.T) {
	store := newMemory(t)
	fake := clock.NewFake(testkit.Epoch)
	svc := newService()
	crashed := false
	crashCtx, crash := context.WithCancel(t.Context())
	blocking := saga.New("fulfilment",
		saga.Step[Order]{Name: "reserve", Action: func(ctx context.Context, sc saga.StepContext[Order]) error { return svc.call(ctx, "reserve", sc) }},
		saga.Step[Order]{Name: "charge", Timeout: time.Minute, Action: func(ctx context.Context, sc saga.StepContext[Order]) error {
			if err := svc.call(ctx, "charge", sc); err != nil {
				return err
			}
			if !crashed {
				crashed = true
				crash()
				<-ctx.Done()
				return ctx.Err()
			}
			return nil
		}},
		saga.Step[Order]{Name: "ship", Action: func(ctx context.Context, sc saga.StepContext[Order]) error { return svc.call(ctx, "ship", sc) }},
	)
	a := newEngine(t, store, blocking, saga.WithInstanceID("a"), saga.WithClock(fake))
	if _, err := a.Start(crashCtx, "o1", Order{"o1", 1}); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted Start = %v", err)
	}
	st, _ := a.Load(t.Context(), "o1")
	if st.Status != saga.Running || st.Steps[1].Status != saga.StepRunning || st.Steps[1].Owner != "a" {
		t.Fatalf("after the crash: %+v", st)
	}
	b := newEngine(t, store, blocking, saga.WithInstanceID("b"), saga.WithClock(fake))
	if _, err := b.Resume(t.Context(), "o1"); !errors.Is(err, saga.ErrLeased) {
		t.Fatalf("another engine resumed before the lease expired: %v", err)
	}
	fake.Advance(time.Minute + saga.LeaseMargin + time.Second)
	st, err := b.Resume(t.Context(), "o1")
	if err != nil || st.Status != saga.Completed {
		t.Fatalf("Resume after the lease = %+v, %v", st, err)
	}
	// The interrupted attempt 1 was run again under its own key.
	want := []string{"reserve fulfilment/o1/reserve/1", "charge fulfilment/o1/charge/1", "charge fulfilment/o1/charge/1", "ship fulfilment/o1/ship/1"}
	if diff := cmp.Diff(want, svc.ops()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if st.Steps[1].Attempts != 1 {
		t.Errorf("charge attempts = %d; want 1 (the interrupted attempt, run again)", st.Steps[1].Attempts)
	}
}

// TestStepAppendIsIdempotent: events a step appends get IDs derived from the
// saga and step, so appending them again (a retry after an unknown outcome)
// writes nothing.
func TestStepAppendIsIdempotent(t *testing.T) {
	store := newMemory(t)
	calls := 0
	def := saga.New("reserve", saga.Step[Order]{Name: "reserve", Retry: fastRetry(3), Action: func(ctx context.Context, sc saga.StepContext[Order]) error {
		calls++
		if _, err := sc.Append(ctx, "stock-1", eventstore.Any, StockReserved{sc.Input.OrderID}); err != nil {
			return err
		}
		if calls == 1 {
			return errors.New("the append's outcome was unknown")
		}
		return nil
	}})
	e := newEngine(t, store, def)
	st, err := e.Start(schema.WithCorrelation(t.Context(), "corr-1", ""), "o1", Order{"o1", 1})
	if err != nil || st.Status != saga.Completed || calls != 2 {
		t.Fatalf("Start = %+v, %v after %d calls", st, err, calls)
	}
	recs := testkit.Records(t, store, "stock-1")
	if len(recs) != 1 {
		t.Fatalf("stock-1 has %d events; want 1: the retry's append was absorbed", len(recs))
	}
}
