package saga_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/resilience"
	"github.com/chronicle-go/chronicle/saga"
	"github.com/chronicle-go/chronicle/schema"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type Order struct {
	OrderID string `json:"orderId" jsonschema:"required,minLength=1"`
	Amount  int    `json:"amount" jsonschema:"required,minimum=1"`
}

type StockReserved struct {
	OrderID string `json:"orderId" jsonschema:"required"`
}

func newRegistry() *schema.Registry {
	reg := schema.MustNewRegistry()
	schema.MustRegister[Order](reg, "OrderToFulfil", 1)
	schema.MustRegister[StockReserved](reg, "StockReserved", 1)
	return reg
}

func newMemory(t testing.TB) *memory.Store {
	s := memory.New()
	t.Cleanup(func() { s.Close() })
	return s
}

// service is a fake external service: it records every call's idempotency
// key, applies each key's effect once, and can be told to fail.
type service struct {
	mu      sync.Mutex
	calls   []string
	applied map[string]int
	running map[string]int // step key without attempt → concurrent calls
	maxConc int
	fail    func(op string, sc saga.StepContext[Order]) error
	delay   time.Duration
}

func newService() *service {
	return &service{applied: make(map[string]int), running: make(map[string]int)}
}

func (s *service) call(ctx context.Context, op string, sc saga.StepContext[Order]) error {
	who := sc.Saga + "/" + sc.ID + "/" + op
	s.mu.Lock()
	s.calls = append(s.calls, op+" "+sc.Key)
	s.running[who]++
	if s.running[who] > s.maxConc {
		s.maxConc = s.running[who]
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.running[who]--
		s.mu.Unlock()
	}()
	if s.delay > 0 {
		select {
		case <-time.After(s.delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if s.fail != nil {
		if err := s.fail(op, sc); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.applied[op+" "+sc.Key]++
	s.mu.Unlock()
	return nil
}

func (s *service) ops() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, c := range s.calls {
		out = append(out, c)
	}
	return out
}

func fastRetry(attempts int) resilience.Policy {
	r, err := resilience.NewRetry(resilience.RetryConfig{MaxAttempts: attempts, InitialDelay: time.Microsecond, MaxDelay: time.Microsecond})
	if err != nil {
		panic(err)
	}
	return r
}

// fulfilment is the three-step workflow of the tests.
func fulfilment(svc *service, attempts int) *saga.Definition[Order] {
	step := func(name string) saga.Step[Order] {
		return saga.Step[Order]{
			Name:       name,
			Action:     func(ctx context.Context, sc saga.StepContext[Order]) error { return svc.call(ctx, name, sc) },
			Compensate: func(ctx context.Context, sc saga.StepContext[Order]) error { return svc.call(ctx, "undo-"+name, sc) },
			Retry:      fastRetry(attempts),
			Timeout:    5 * time.Second,
		}
	}
	return saga.New("fulfilment", step("reserve"), step("charge"), step("ship"))
}

func newEngine(t testing.TB, store *memory.Store, def *saga.Definition[Order], opts ...saga.Option) *saga.Engine[Order] {
	t.Helper()
	e, err := saga.NewEngine(store, newRegistry(), def, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

var errDown = errors.New("service down")

func failOn(op string) func(string, saga.StepContext[Order]) error {
	return func(o string, sc saga.StepContext[Order]) error {
		if o == op {
			return fmt.Errorf("%s: %w", op, errDown)
		}
		return nil
	}
}

// listAll collects saga.List, keeping the states keep accepts (nil: all).
func listAll(ctx context.Context, store eventstore.Store, keep func(*saga.State) bool) ([]saga.State, error) {
	var out []saga.State
	for st, err := range saga.List(ctx, store, "") {
		if err != nil {
			return out, err
		}
		if keep == nil || keep(&st) {
			out = append(out, st)
		}
	}
	return out, nil
}
