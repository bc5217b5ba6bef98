package saga_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/saga"
)

// stuck starts saga o1 of the fulfilment workflow so that it stops in
// NeedsAttention at charge's compensation; undo-charge fails while *broken.
func stuck(t *testing.T, store *memory.Store, svc *service, broken *bool, mu *sync.Mutex) *saga.Engine[Order] {
	t.Helper()
	svc.fail = func(op string, sc saga.StepContext[Order]) error {
		mu.Lock()
		defer mu.Unlock()
		if op == "ship" || (op == "undo-charge" && *broken) {
			return errDown
		}
		return nil
	}
	e := newEngine(t, store, fulfilment(svc, 2))
	st, err := e.Start(t.Context(), "o1", Order{"o1", 10})
	if err != nil || st.Status != saga.NeedsAttention {
		t.Fatalf("Start = %+v, %v; want needs attention", st, err)
	}
	return e
}

func streamLength(t *testing.T, store eventstore.Store, stream string) int {
	t.Helper()
	n := 0
	for _, err := range store.ReadStream(t.Context(), stream, eventstore.ReadOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

func TestRequestRetryAndSkip(t *testing.T) {
	for _, how := range []string{"retry", "skip"} {
		t.Run(how, func(t *testing.T) {
			store := newMemory(t)
			svc := newService()
			var mu sync.Mutex
			broken := true
			e := stuck(t, store, svc, &broken, &mu)
			stream := saga.StreamOf("fulfilment", "o1")
			before := streamLength(t, store, stream)

			// Bad requests are refused and write nothing.
			bad := []struct {
				name string
				run  func() error
				want error
			}{
				{"unknown saga", func() error { _, err := saga.RequestRetry(t.Context(), store, "fulfilment", "nope"); return err }, saga.ErrUnknownSaga},
				{"unknown workflow", func() error { _, err := saga.RequestRetry(t.Context(), store, "shipping", "o1"); return err }, saga.ErrUnknownSaga},
				{"bad workflow name", func() error { _, err := saga.RequestRetry(t.Context(), store, "ful-filment", "o1"); return err }, saga.ErrUnknownSaga},
				{"empty ID", func() error { _, err := saga.RequestSkip(t.Context(), store, "fulfilment", "", "charge"); return err }, saga.ErrUnknownSaga},
				{"step without a failed compensation", func() error {
					_, err := saga.RequestSkip(t.Context(), store, "fulfilment", "o1", "reserve")
					return err
				}, saga.ErrNotNeedsAttention},
				{"unknown step", func() error { _, err := saga.RequestSkip(t.Context(), store, "fulfilment", "o1", "pack"); return err }, saga.ErrNotNeedsAttention},
				{"nil store", func() error { _, err := saga.RequestRetry(t.Context(), nil, "fulfilment", "o1"); return err }, saga.ErrInvalidDefinition},
			}
			for _, b := range bad {
				if err := b.run(); !errors.Is(err, b.want) {
					t.Errorf("%s: %v, want %v", b.name, err, b.want)
				}
			}
			if n := streamLength(t, store, stream); n != before {
				t.Fatalf("refused requests wrote %d events", n-before)
			}

			var st saga.State
			var err error
			if how == "retry" {
				mu.Lock()
				broken = false
				mu.Unlock()
				st, err = saga.RequestRetry(t.Context(), store, "fulfilment", "o1")
			} else {
				st, err = saga.RequestSkip(t.Context(), store, "fulfilment", "o1", "charge")
			}
			if err != nil || st.Status != saga.Compensating || st.Revision != uint64(before) {
				t.Fatalf("request = %+v, %v; want compensating at revision %d", st, err, before)
			}
			if how == "skip" && st.Steps[1].Status != saga.StepCompensated {
				t.Errorf("skipped step is %s", st.Steps[1].Status)
			}
			// The request ran nothing: no compensation was called.
			callsBefore := len(svc.ops())
			if ids, err := e.Unfinished(t.Context()); err != nil || len(ids) != 1 || ids[0] != "o1" {
				t.Fatalf("Unfinished after the request = %v, %v; want [o1]", ids, err)
			}
			if len(svc.ops()) != callsBefore {
				t.Fatal("the request ran step code")
			}
			// A running engine picks the request up.
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- e.Run(ctx, 5*time.Millisecond) }()
			deadline := time.Now().Add(20 * time.Second)
			for {
				st, err = e.Load(t.Context(), "o1")
				if err != nil || st.Status == saga.Compensated || time.Now().After(deadline) {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if err != nil || st.Status != saga.Compensated {
				t.Fatalf("after Run: %+v, %v; want compensated", st, err)
			}
			undo := map[string]int{}
			for _, c := range svc.ops()[callsBefore:] {
				undo[c]++
			}
			want := map[string]int{"undo-reserve fulfilment/o1/reserve/compensate/1": 1}
			if how == "retry" {
				want["undo-charge fulfilment/o1/charge/compensate/3"] = 1
			}
			if len(undo) != len(want) {
				t.Errorf("calls after the request: %v, want %v", undo, want)
			}
			for k, n := range want {
				if undo[k] != n {
					t.Errorf("calls after the request: %v, want %v", undo, want)
				}
			}
			if _, err := saga.RequestRetry(t.Context(), store, "fulfilment", "o1"); !errors.Is(err, saga.ErrNotNeedsAttention) {
				t.Errorf("retry of a compensated saga: %v", err)
			}
		})
	}
}

// TestRequestRetryConcurrent: of many concurrent requests on one saga, the
// expected revision lets exactly one through.
func TestRequestRetryConcurrent(t *testing.T) {
	store := newMemory(t)
	var mu sync.Mutex
	broken := true
	stuck(t, store, newService(), &broken, &mu)
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				_, errs[i] = saga.RequestRetry(t.Context(), store, "fulfilment", "o1")
			} else {
				_, errs[i] = saga.RequestSkip(t.Context(), store, "fulfilment", "o1", "charge")
			}
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, eventstore.ErrWrongExpectedVersion), errors.Is(err, saga.ErrNotNeedsAttention):
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	requests := 0
	for ev, err := range store.ReadStream(t.Context(), saga.StreamOf("fulfilment", "o1"), eventstore.ReadOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == saga.EventRetryRequested || ev.Type == saga.EventStepSkipped {
			requests++
		}
	}
	if ok != 1 || requests != 1 {
		t.Fatalf("%d requests succeeded and %d were recorded; want 1 and 1", ok, requests)
	}
}

// failingAppend is a store whose appends fail.
type failingAppend struct{ eventstore.Store }

var errDisk = errors.New("disk full")

func (failingAppend) Append(context.Context, string, eventstore.ExpectedRevision, ...eventstore.EventData) (eventstore.AppendResult, error) {
	return eventstore.AppendResult{}, errDisk
}

func TestRequestAppendFails(t *testing.T) {
	store := newMemory(t)
	var mu sync.Mutex
	broken := true
	stuck(t, store, newService(), &broken, &mu)
	st, err := saga.RequestRetry(t.Context(), failingAppend{store}, "fulfilment", "o1")
	if !errors.Is(err, errDisk) || st.Status != saga.NeedsAttention {
		t.Fatalf("RequestRetry over a failing store = %+v, %v", st, err)
	}
}
