package projection_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/schema"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type Deposited struct {
	Account string `json:"account" jsonschema:"required,minLength=1"`
	Amount  int    `json:"amount" jsonschema:"required,minimum=1"`
}

type Withdrawn struct {
	Account string `json:"account" jsonschema:"required,minLength=1"`
	Amount  int    `json:"amount" jsonschema:"required,minimum=1"`
}

type Noted struct {
	Text string `json:"text"`
}

func newRegistry(t testing.TB) *schema.Registry {
	t.Helper()
	reg := schema.MustNewRegistry()
	schema.MustRegister[Deposited](reg, "Deposited", 1)
	schema.MustRegister[Withdrawn](reg, "Withdrawn", 1)
	schema.MustRegister[Noted](reg, "Noted", 1)
	return reg
}

// balances is an in-memory read model that also records every event it
// applied, so that a duplicate shows.
type balances struct {
	mu      sync.Mutex
	balance map[string]int
	applied map[string]int // event ID → times applied
	fail    func(ev projection.Event[Withdrawn]) error
	before  func() // called before each event is applied
}

func newBalances() *balances {
	return &balances{balance: make(map[string]int), applied: make(map[string]int)}
}

func (b *balances) snapshot() (map[string]int, map[string]int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(b.balance), maps.Clone(b.applied)
}

// define returns the projection of b over source.
func (b *balances) define(reg *schema.Registry, name string, source projection.Source) *projection.Projection[projection.NoTx] {
	p := projection.New[projection.NoTx](name, source, reg)
	projection.Handle(p, func(ctx context.Context, ev projection.Event[Deposited]) error {
		if b.before != nil {
			b.before()
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		b.balance[ev.Data.Account] += ev.Data.Amount
		b.applied[ev.Record.ID.String()]++
		return nil
	})
	projection.Handle(p, func(ctx context.Context, ev projection.Event[Withdrawn]) error {
		if b.fail != nil {
			if err := b.fail(ev); err != nil {
				return err
			}
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		b.balance[ev.Data.Account] -= ev.Data.Amount
		b.applied[ev.Record.ID.String()]++
		return nil
	})
	return p
}

func appendTyped(t testing.TB, s eventstore.Store, reg *schema.Registry, stream string, events ...any) eventstore.AppendResult {
	t.Helper()
	data, err := reg.EncodeAll(context.Background(), events...)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Append(context.Background(), stream, eventstore.Any, data...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// start runs r until the test ends and returns a function that stops it and
// returns Run's error.
func start[Tx any](t testing.TB, r *projection.Runner[Tx]) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				err = errors.New("runner did not stop within 30s")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func waitCaughtUp[Tx any](t testing.TB, r *projection.Runner[Tx]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.WaitCaughtUp(ctx); err != nil {
		t.Fatalf("WaitCaughtUp: %v (state %+v)", err, r.State())
	}
}

func waitFor[Tx any](t testing.TB, r *projection.Runner[Tx], p eventstore.Position) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.WaitFor(ctx, p); err != nil {
		t.Fatalf("WaitFor(%v): %v (state %+v)", p, err, r.State())
	}
}

func newMemory(t testing.TB) *memory.Store {
	s := memory.New()
	t.Cleanup(func() { s.Close() })
	return s
}

func account(i int) string { return fmt.Sprintf("account-%d", i) }

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed)) }
