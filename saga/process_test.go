package saga_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/internal/clock"
	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/saga"
	"github.com/chronicle-go/chronicle/schema"
	"github.com/chronicle-go/chronicle/testkit"
)

type OrderPlaced struct {
	OrderID string `json:"orderId" jsonschema:"required"`
}
type PaymentReceived struct {
	OrderID string `json:"orderId" jsonschema:"required"`
}
type OrderConfirmed struct {
	OrderID string `json:"orderId" jsonschema:"required"`
}
type OrderCancelled struct {
	OrderID string `json:"orderId" jsonschema:"required"`
	Reason  string `json:"reason"`
}

type payState struct {
	OrderID string `json:"orderId"`
	Placed  bool   `json:"placed"`
}

func processRegistry() *schema.Registry {
	reg := newRegistry()
	schema.MustRegister[OrderPlaced](reg, "OrderPlaced", 1)
	schema.MustRegister[PaymentReceived](reg, "PaymentReceived", 1)
	schema.MustRegister[OrderConfirmed](reg, "OrderConfirmed", 1)
	schema.MustRegister[OrderCancelled](reg, "OrderCancelled", 1)
	return reg
}

// paymentTimeout cancels orders not paid within 30 minutes.
func paymentTimeout(reg *schema.Registry, calls *sync.Map) *saga.Process[payState] {
	p := saga.NewProcess("payment_timeout", projection.Category("payments"), reg, func() payState { return payState{} })
	saga.On(p, func(ev projection.Event[OrderPlaced]) string { return ev.Data.OrderID },
		func(ctx context.Context, pc *saga.Context[payState], ev projection.Event[OrderPlaced]) error {
			pc.State = payState{OrderID: ev.Data.OrderID, Placed: true}
			pc.Schedule("pay", 30*time.Minute)
			return nil
		})
	saga.On(p, func(ev projection.Event[PaymentReceived]) string { return ev.Data.OrderID },
		func(ctx context.Context, pc *saga.Context[payState], ev projection.Event[PaymentReceived]) error {
			if calls != nil {
				n, _ := calls.LoadOrStore(ev.Record.ID.String(), new(int))
				*n.(*int)++
			}
			pc.Cancel("pay")
			pc.Complete()
			_, err := pc.Emit(ctx, "order-"+pc.Key, eventstore.Any, OrderConfirmed{pc.Key})
			return err
		})
	p.OnDeadline("pay", func(ctx context.Context, pc *saga.Context[payState], d saga.Deadline) error {
		pc.Complete()
		_, err := pc.Emit(ctx, "order-"+pc.Key, eventstore.Any, OrderCancelled{pc.Key, "not paid by " + d.At.Format(time.RFC3339)})
		return err
	})
	return p
}

func emit(t *testing.T, store eventstore.Store, reg *schema.Registry, ctx context.Context, stream string, ev any) eventstore.AppendResult {
	t.Helper()
	data, err := reg.Encode(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	res, err := store.Append(ctx, stream, eventstore.Any, data)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func runManager(t *testing.T, m *saga.Manager[payState]) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}
}

func waitFor(t *testing.T, m *saga.Manager[payState], p eventstore.Position) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := m.Runner().WaitFor(ctx, p); err != nil {
		t.Fatalf("WaitFor: %v", err)
	}
}

func types(t *testing.T, store eventstore.Store, stream string) []string {
	var out []string
	for _, r := range testkit.Records(t, store, stream) {
		out = append(out, r.Type)
	}
	return out
}

func TestProcessManager(t *testing.T) {
	store := newMemory(t)
	reg := processRegistry()
	fake := clock.NewFake(testkit.Epoch)
	m, err := saga.NewManager(store, paymentTimeout(reg, nil), saga.WithProcessClock(fake))
	if err != nil {
		t.Fatal(err)
	}
	stop := runManager(t, m)
	ctx := schema.WithCorrelation(t.Context(), "checkout-1", "")
	emit(t, store, reg, ctx, "payments-o1", OrderPlaced{"o1"})
	emit(t, store, reg, t.Context(), "payments-o2", OrderPlaced{"o2"})
	paid := emit(t, store, reg, ctx, "payments-o1", PaymentReceived{"o1"})
	waitFor(t, m, paid.Position)

	inst, err := m.Load(t.Context(), "o1")
	if err != nil || !inst.Completed || len(inst.Pending) != 0 || !inst.State.Placed {
		t.Fatalf("o1 = %+v, %v; want completed with its deadline cancelled", inst, err)
	}
	o2, _ := m.Load(t.Context(), "o2")
	if o2.Completed || len(o2.Pending) != 1 {
		t.Fatalf("o2 = %+v; want one pending deadline", o2)
	}
	// The confirmation carries the payment as cause and the checkout's
	// correlation.
	recs := testkit.Records(t, store, "order-o1")
	if len(recs) != 1 || recs[0].Type != "OrderConfirmed" {
		t.Fatalf("order-o1 = %v", types(t, store, "order-o1"))
	}
	var md schema.Metadata
	if err := md.UnmarshalJSON(recs[0].Metadata); err != nil || md.CorrelationID != "checkout-1" {
		t.Errorf("confirmation metadata %+v, %v; want correlation checkout-1", md, err)
	}
	payRecs := testkit.Records(t, store, "payments-o1")
	if md.CausationID != payRecs[1].ID.String() {
		t.Errorf("causation %q; want the payment %s", md.CausationID, payRecs[1].ID)
	}

	// o2 is not paid: its deadline arrives after 30 minutes, not before.
	fake.Advance(29 * time.Minute)
	if got := types(t, store, "order-o2"); len(got) != 0 {
		t.Fatalf("deadline arrived early: %v", got)
	}
	fake.Advance(2 * time.Minute)
	deadline := time.Now().Add(10 * time.Second)
	for len(types(t, store, "order-o2")) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := types(t, store, "order-o2"); len(got) != 1 || got[0] != "OrderCancelled" {
		t.Fatalf("order-o2 = %v; want OrderCancelled", got)
	}
	if got := types(t, store, "order-o1"); len(got) != 1 {
		t.Errorf("the cancelled deadline of o1 fired: %v", got)
	}
	stop()
	if inst, _ := m.Load(t.Context(), "o2"); !inst.Completed {
		t.Errorf("o2 not completed after its deadline: %+v", inst)
	}
}

// TestProcessDeadlineSurvivesRestart: a deadline scheduled before a stop is
// delivered by the next manager.
func TestProcessDeadlineSurvivesRestart(t *testing.T) {
	store := newMemory(t)
	reg := processRegistry()
	fake := clock.NewFake(testkit.Epoch)
	m1, _ := saga.NewManager(store, paymentTimeout(reg, nil), saga.WithProcessClock(fake))
	stop := runManager(t, m1)
	placed := emit(t, store, reg, t.Context(), "payments-o3", OrderPlaced{"o3"})
	waitFor(t, m1, placed.Position)
	stop()
	fake.Advance(time.Hour) // nobody is running: nothing happens
	if got := types(t, store, "order-o3"); len(got) != 0 {
		t.Fatalf("a stopped manager delivered a deadline: %v", got)
	}
	m2, _ := saga.NewManager(store, paymentTimeout(reg, nil), saga.WithProcessClock(fake))
	stop = runManager(t, m2)
	defer stop()
	deadline := time.Now().Add(10 * time.Second)
	for len(types(t, store, "order-o3")) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := types(t, store, "order-o3"); len(got) != 1 || got[0] != "OrderCancelled" {
		t.Fatalf("order-o3 after restart = %v; want the overdue deadline delivered", got)
	}
}

// TestProcessRedelivery: events delivered again (a lost checkpoint) are
// absorbed by each instance's inbox: no handler runs twice, nothing is
// emitted twice.
func TestProcessRedelivery(t *testing.T) {
	store := newMemory(t)
	reg := processRegistry()
	fake := clock.NewFake(testkit.Epoch)
	var calls sync.Map
	m1, _ := saga.NewManager(store, paymentTimeout(reg, &calls), saga.WithProcessClock(fake))
	stop := runManager(t, m1)
	emit(t, store, reg, t.Context(), "payments-o4", OrderPlaced{"o4"})
	paid := emit(t, store, reg, t.Context(), "payments-o4", PaymentReceived{"o4"})
	waitFor(t, m1, paid.Position)
	stop()
	// Lose the checkpoint: the next manager reads everything again.
	if _, err := store.Delete(t.Context(), projection.CheckpointStream(projection.Key{Projection: "payment_timeout", Version: 1}), eventstore.Any); err != nil {
		t.Fatal(err)
	}
	before := len(testkit.Records(t, store, saga.InstanceStream("payment_timeout", "o4")))
	m2, _ := saga.NewManager(store, paymentTimeout(reg, &calls), saga.WithProcessClock(fake))
	stop = runManager(t, m2)
	waitFor(t, m2, paid.Position)
	stop()
	calls.Range(func(k, v any) bool {
		if *v.(*int) != 1 {
			t.Errorf("payment %v handled %d times", k, *v.(*int))
		}
		return true
	})
	if after := len(testkit.Records(t, store, saga.InstanceStream("payment_timeout", "o4"))); after != before {
		t.Errorf("redelivery wrote %d instance events", after-before)
	}
	if got := types(t, store, "order-o4"); len(got) != 1 {
		t.Errorf("order-o4 = %v; want one confirmation", got)
	}
}

// TestProcessHandlerRunAgainAfterFailure: a handler that fails after its
// input was recorded runs again (the runner's retry), and its effects are
// recorded once.
func TestProcessHandlerRunAgainAfterFailure(t *testing.T) {
	store := newMemory(t)
	reg := processRegistry()
	fails := 1
	p := saga.NewProcess[payState]("flaky", projection.Category("payments"), reg, nil)
	saga.On(p, func(ev projection.Event[OrderPlaced]) string { return ev.Data.OrderID },
		func(ctx context.Context, pc *saga.Context[payState], ev projection.Event[OrderPlaced]) error {
			if _, err := pc.Emit(ctx, "order-"+pc.Key, eventstore.Any, OrderConfirmed{pc.Key}); err != nil {
				return err
			}
			if fails > 0 {
				fails--
				return errors.New("crash after the emit")
			}
			pc.State.Placed = true
			return nil
		})
	m, err := saga.NewManager(store, p, saga.WithRunnerOptions(projection.WithRetry(fastRetry(3))))
	if err != nil {
		t.Fatal(err)
	}
	stop := runManager(t, m)
	placed := emit(t, store, reg, t.Context(), "payments-o5", OrderPlaced{"o5"})
	waitFor(t, m, placed.Position)
	stop()
	if got := types(t, store, "order-o5"); len(got) != 1 {
		t.Errorf("order-o5 = %v; want one event: the second emit is absorbed", got)
	}
	if inst, _ := m.Load(t.Context(), "o5"); !inst.State.Placed {
		t.Errorf("o5 = %+v", inst)
	}
	if got := types(t, store, saga.InstanceStream("flaky", "o5")); len(got) != 2 || got[0] != saga.EventInputReceived || got[1] != saga.EventInputHandled {
		t.Errorf("instance stream = %v", got)
	}
}

func TestProcessBadInput(t *testing.T) {
	store := newMemory(t)
	reg := processRegistry()
	noop := func(context.Context, *saga.Context[payState], saga.Deadline) error { return nil }
	dup := saga.NewProcess[payState]("p", projection.AllStreams(), reg, nil)
	dup.OnDeadline("x", noop)
	dup.OnDeadline("x", noop)
	empty := saga.NewProcess[payState]("p", projection.AllStreams(), reg, nil)
	empty.OnDeadline("", noop)
	for name, p := range map[string]*saga.Process[payState]{
		"bad name":           saga.NewProcess[payState]("a-b", projection.AllStreams(), reg, nil),
		"duplicate deadline": dup,
		"empty deadline":     empty,
		"no handlers":        saga.NewProcess[payState]("p", projection.AllStreams(), reg, nil),
	} {
		if _, err := saga.NewManager(store, p); err == nil {
			t.Errorf("%s: NewManager succeeded", name)
		}
	}
	good := paymentTimeout(reg, nil)
	if _, err := saga.NewManager[payState](store, nil); !errors.Is(err, saga.ErrInvalidDefinition) {
		t.Errorf("nil process: %v", err)
	}
	if _, err := saga.NewManager(nil, good); !errors.Is(err, saga.ErrInvalidDefinition) {
		t.Errorf("nil store: %v", err)
	}
	for name, opt := range map[string]saga.ManagerOption{"nil": nil, "clock": saga.WithProcessClock(nil), "logger": saga.WithProcessLogger(nil), "rescan": saga.WithRescan(0)} {
		if _, err := saga.NewManager(store, good, opt); !errors.Is(err, saga.ErrInvalidDefinition) {
			t.Errorf("option %s: %v", name, err)
		}
	}
	if good.Name() != "payment_timeout" {
		t.Error(good.Name())
	}
	// An event without a correlation key is parked, not dropped.
	p := saga.NewProcess[payState]("nokey", projection.Category("payments"), reg, nil)
	saga.On(p, func(projection.Event[OrderPlaced]) string { return "" },
		func(context.Context, *saga.Context[payState], projection.Event[OrderPlaced]) error { return nil })
	m, _ := saga.NewManager(store, p, saga.WithRunnerOptions(projection.WithRetry(fastRetry(1))))
	stop := runManager(t, m)
	data, _ := reg.Encode(t.Context(), OrderPlaced{"x"})
	data.Metadata = nil
	res, _ := store.Append(t.Context(), "payments-x", eventstore.Any, data)
	waitFor(t, m, res.Position)
	stop()
	parked, _ := projection.ListParked(t.Context(), store, "nokey")
	if len(parked) != 1 {
		t.Errorf("event without a key: %d parked; want 1", len(parked))
	}
}

func TestProcessEdges(t *testing.T) {
	store := newMemory(t)
	reg := processRegistry()
	fake := clock.NewFake(testkit.Epoch)
	var pending []saga.Deadline
	p := saga.NewProcess[payState]("edges", projection.Category("payments"), reg, nil)
	saga.On(p, func(ev projection.Event[OrderPlaced]) string { return ev.Data.OrderID },
		func(ctx context.Context, pc *saga.Context[payState], ev projection.Event[OrderPlaced]) error {
			pc.Schedule("a", time.Minute)
			pc.Schedule("b", time.Hour)
			pc.Cancel("b") // scheduled in this handler: dropped
			pending = pc.Pending()
			return nil
		})
	saga.On(p, func(ev projection.Event[PaymentReceived]) string { return ev.Data.OrderID },
		func(ctx context.Context, pc *saga.Context[payState], ev projection.Event[PaymentReceived]) error {
			pending = pc.Pending()
			return nil
		})
	// "a" has no handler: its delivery fails and is logged; the deadline stays pending.
	m, err := saga.NewManager(store, p, saga.WithProcessClock(fake), saga.WithRescan(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	stop := runManager(t, m)
	emit(t, store, reg, t.Context(), "payments-e1", OrderPlaced{"e1"})
	paid := emit(t, store, reg, t.Context(), "payments-e1", PaymentReceived{"e1"})
	waitFor(t, m, paid.Position)
	if len(pending) != 1 || pending[0].Name != "a" {
		t.Fatalf("pending = %+v; want deadline a", pending)
	}
	fake.Advance(2 * time.Minute)
	stop()
	if inst, _ := m.Load(t.Context(), "e1"); len(inst.Pending) != 1 {
		t.Errorf("a deadline without a handler left %+v", inst.Pending)
	}
	// A malformed instance stream.
	store.Append(t.Context(), saga.InstanceStream("edges", "bad"), eventstore.Any, eventstore.EventData{Type: "Other", Data: []byte(`{}`)})
	if _, err := m.Load(t.Context(), "bad"); !errors.Is(err, saga.ErrMalformed) {
		t.Errorf("Load of a malformed instance = %v", err)
	}
	store.Append(t.Context(), saga.InstanceStream("edges", "bad2"), eventstore.Any, eventstore.EventData{Type: saga.EventInputHandled, Data: []byte(`{"input":{"kind":"event","id":"x"},"state":[1]}`)})
	if _, err := m.Load(t.Context(), "bad2"); !errors.Is(err, saga.ErrMalformed) {
		t.Errorf("Load of a bad state = %v", err)
	}
	store.Append(t.Context(), saga.InstanceStream("edges", "bad3"), eventstore.Any, eventstore.EventData{Type: saga.EventInputHandled, Data: []byte(`[1]`)})
	if _, err := m.Load(t.Context(), "bad3"); !errors.Is(err, saga.ErrMalformed) {
		t.Errorf("Load of a bad record = %v", err)
	}
	// A closed store ends Run with its error.
	store.Close()
	if err := m.Run(t.Context()); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("Run on a closed store = %v", err)
	}
	if _, err := m.Load(t.Context(), "e1"); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("Load on a closed store = %v", err)
	}
}
