package testkit

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/saga"
	"github.com/chronicle-go/chronicle/schema"
)

// waitTimeout bounds how long a fixture waits for the code under test.
const waitTimeout = 10 * time.Second

// A ProcessFixture is a given-when-then test of a process manager
// (saga.Process):
//
//	testkit.ForProcess(t, registry, paymentTimeout).
//		Given("payments-o1", OrderPlaced{OrderID: "o1"}).
//		WhenTimeElapses(31 * time.Minute).
//		ThenEvents("order-o1", OrderCancelled{OrderID: "o1"}).
//		ThenCancelled().
//		ThenScheduled()
//
// It runs a real saga.Manager over an in-memory store with the fixture's
// fake Clock (so deadlines come only when the test moves time), and every
// event passes through the registry as in production.
type ProcessFixture[S any] struct {
	tb    testing.TB
	reg   *schema.Registry
	p     *saga.Process[S]
	store *memory.Store
	clock *Clock
	m     *saga.Manager[S]
	stop  func()
}

// ForProcess starts a test of p, whose events reg encodes. The manager runs
// until the test ends.
func ForProcess[S any](tb testing.TB, reg *schema.Registry, p *saga.Process[S]) *ProcessFixture[S] {
	tb.Helper()
	clock := NewClock(Epoch)
	store := memory.New(memory.WithClock(clock.Now))
	m, err := saga.NewManager(store, p, saga.WithProcessClock(clock), saga.WithRescan(24*365*time.Hour))
	if err != nil {
		tb.Fatalf("testkit: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	f := &ProcessFixture[S]{tb: tb, reg: reg, p: p, store: store, clock: clock, m: m}
	f.stop = func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("testkit: the process manager stopped: %v", err)
		}
		store.Close()
	}
	tb.Cleanup(f.stop)
	return f
}

// Clock returns the fixture's clock.
func (f *ProcessFixture[S]) Clock() *Clock { return f.clock }

// Store returns the fixture's store.
func (f *ProcessFixture[S]) Store() eventstore.Store { return f.store }

// Given appends events to stream and waits until the process has handled
// them. It may be called several times.
func (f *ProcessFixture[S]) Given(stream string, events ...any) *ProcessFixture[S] {
	f.tb.Helper()
	f.append(stream, events)
	return f
}

func (f *ProcessFixture[S]) append(stream string, events []any) eventstore.Position {
	f.tb.Helper()
	if len(events) == 0 {
		return eventstore.Position{}
	}
	data, err := f.reg.EncodeAll(context.Background(), events...)
	if err != nil {
		f.tb.Fatalf("testkit: encode events of %s: %v", stream, err)
	}
	res, err := f.store.Append(context.Background(), stream, eventstore.Any, data...)
	if err != nil {
		f.tb.Fatalf("testkit: append to %s: %v", stream, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := f.m.Runner().WaitFor(ctx, res.Position); err != nil {
		f.tb.Fatalf("testkit: the process did not handle %s: %v (%+v)", stream, err, f.m.Runner().State())
	}
	return res.Position
}

// When appends event to stream, waits until the process has handled it,
// and returns what happened.
func (f *ProcessFixture[S]) When(stream string, event any) *ProcessOutcome[S] {
	f.tb.Helper()
	before := f.snapshot()
	before.input = f.append(stream, []any{event})
	return f.outcome(before)
}

// WhenTimeElapses moves the fixture's clock by d, delivering the deadlines
// that come due, and returns what happened.
func (f *ProcessFixture[S]) WhenTimeElapses(d time.Duration) *ProcessOutcome[S] {
	f.tb.Helper()
	before := f.snapshot()
	f.clock.Advance(d)
	return f.outcome(before)
}

// processSnapshot is what the outcome is measured against.
type processSnapshot struct {
	head    eventstore.Position
	input   eventstore.Position      // the When's event, left out of the outcome
	pending map[string]saga.Deadline // deadline ID → deadline, of every instance
}

func (f *ProcessFixture[S]) snapshot() processSnapshot {
	f.tb.Helper()
	s := processSnapshot{pending: make(map[string]saga.Deadline)}
	for e, err := range f.store.ReadAll(context.Background(), eventstore.ReadAllOptions{Direction: eventstore.Backwards, From: eventstore.End, MaxCount: 1}) {
		if err != nil {
			f.tb.Fatalf("testkit: %v", err)
		}
		s.head = e.Position
	}
	for _, key := range f.keys() {
		inst, err := f.m.Load(context.Background(), key)
		if err != nil {
			f.tb.Fatalf("testkit: load instance %s: %v", key, err)
		}
		maps.Copy(s.pending, inst.Pending)
	}
	return s
}

// keys lists the process's instances.
func (f *ProcessFixture[S]) keys() []string {
	prefix := saga.InstanceStream(f.p.Name(), "")
	seen := make(map[string]bool)
	for e, err := range f.store.ReadAll(context.Background(), eventstore.ReadAllOptions{Filter: eventstore.StreamPrefixFilter(prefix)}) {
		if err != nil {
			f.tb.Fatalf("testkit: %v", err)
		}
		seen[strings.TrimPrefix(e.Stream, prefix)] = true
	}
	return slices.Sorted(maps.Keys(seen))
}

func (f *ProcessFixture[S]) outcome(before processSnapshot) *ProcessOutcome[S] {
	f.tb.Helper()
	after := f.snapshot()
	o := &ProcessOutcome[S]{f: f, emitted: make(map[string][]eventstore.RecordedEvent)}
	from := eventstore.Start
	if !before.head.IsZero() {
		from = eventstore.FromPosition(before.head)
	}
	for e, err := range f.store.ReadAll(context.Background(), eventstore.ReadAllOptions{From: from}) {
		if err != nil {
			f.tb.Fatalf("testkit: %v", err)
		}
		if e.Position == before.head || e.Position == before.input || eventstore.IsFrameworkStream(e.Stream) || eventstore.IsSystemStream(e.Stream) {
			continue
		}
		o.emitted[e.Stream] = append(o.emitted[e.Stream], e)
	}
	for id, d := range after.pending {
		if _, ok := before.pending[id]; !ok {
			o.scheduled = append(o.scheduled, d.Name)
		}
	}
	for id, d := range before.pending {
		if _, ok := after.pending[id]; !ok && f.clock.Now().Before(d.At) {
			o.cancelled = append(o.cancelled, d.Name)
		}
	}
	slices.Sort(o.scheduled)
	slices.Sort(o.cancelled)
	return o
}

// A ProcessOutcome is what a When did: the events appended outside
// Chronicle's own streams (by commands the process sent or events it
// emitted; the When's own event is left out), and the deadlines it
// scheduled and cancelled.
type ProcessOutcome[S any] struct {
	f                    *ProcessFixture[S]
	emitted              map[string][]eventstore.RecordedEvent
	scheduled, cancelled []string
	checked              map[string]bool
}

// ThenEvents expects exactly these events in stream, compared decoded
// (go-cmp diff, -want +got).
func (o *ProcessOutcome[S]) ThenEvents(stream string, want ...any) *ProcessOutcome[S] {
	o.f.tb.Helper()
	if o.checked == nil {
		o.checked = make(map[string]bool)
	}
	o.checked[stream] = true
	var got []any
	for _, e := range o.emitted[stream] {
		ev, err := o.f.reg.Decode(e)
		if err != nil {
			o.f.tb.Errorf("testkit: decode %s@%d: %v", e.Stream, e.Revision, err)
			return o
		}
		got = append(got, ev.Data)
	}
	if len(want) == 0 {
		want = nil
	}
	if diff := cmp.Diff(want, got); diff != "" {
		o.f.tb.Errorf("testkit: events in %s (-want +got):\n%s", stream, diff)
	}
	return o
}

// ThenScheduled expects exactly the deadlines with these names to have been
// scheduled (and still be pending).
func (o *ProcessOutcome[S]) ThenScheduled(names ...string) *ProcessOutcome[S] {
	o.f.tb.Helper()
	o.compareNames("scheduled", names, o.scheduled)
	return o
}

// ThenCancelled expects exactly the deadlines with these names to have been
// cancelled before their time.
func (o *ProcessOutcome[S]) ThenCancelled(names ...string) *ProcessOutcome[S] {
	o.f.tb.Helper()
	o.compareNames("cancelled", names, o.cancelled)
	return o
}

func (o *ProcessOutcome[S]) compareNames(what string, want, got []string) {
	o.f.tb.Helper()
	want = slices.Sorted(slices.Values(want))
	if len(want) == 0 {
		want = nil
	}
	if diff := cmp.Diff(want, got); diff != "" {
		o.f.tb.Errorf("testkit: deadlines %s (-want +got):\n%s", what, diff)
	}
}

// ThenState expects the state of instance key.
func (o *ProcessOutcome[S]) ThenState(key string, want S) *ProcessOutcome[S] {
	o.f.tb.Helper()
	inst, err := o.f.m.Load(context.Background(), key)
	if err != nil {
		o.f.tb.Errorf("testkit: load instance %s: %v", key, err)
		return o
	}
	if diff := cmp.Diff(want, inst.State); diff != "" {
		o.f.tb.Errorf("testkit: state of %s (-want +got):\n%s", key, diff)
	}
	return o
}

// ThenNothingHappened expects no event outside Chronicle's own streams and
// no deadline scheduled or cancelled.
func (o *ProcessOutcome[S]) ThenNothingHappened() {
	o.f.tb.Helper()
	for stream, events := range o.emitted {
		o.f.tb.Errorf("testkit: want nothing to happen, but %d events were appended to %s", len(events), stream)
	}
	if len(o.scheduled) > 0 || len(o.cancelled) > 0 {
		o.f.tb.Errorf("testkit: want nothing to happen, but deadlines were scheduled %v and cancelled %v", o.scheduled, o.cancelled)
	}
}

// A WorkflowFixture tests a workflow (saga.Definition) on an in-memory
// store with the fixture's clock:
//
//	testkit.ForWorkflow(t, registry, fulfilment).
//		Start("o1", order).
//		ThenCompensated("charge", "reserve")
type WorkflowFixture[In any] struct {
	tb    testing.TB
	store *memory.Store
	e     *saga.Engine[In]
	clock *Clock
}

// ForWorkflow starts a test of def, whose input type reg encodes.
func ForWorkflow[In any](tb testing.TB, reg *schema.Registry, def *saga.Definition[In]) *WorkflowFixture[In] {
	tb.Helper()
	clock := NewClock(Epoch)
	store := memory.New(memory.WithClock(clock.Now))
	tb.Cleanup(func() { store.Close() })
	e, err := saga.NewEngine(store, reg, def, saga.WithClock(clock))
	if err != nil {
		tb.Fatalf("testkit: %v", err)
	}
	return &WorkflowFixture[In]{tb: tb, store: store, e: e, clock: clock}
}

// Start runs the saga id with input to its end (or until it needs
// attention) and returns what happened.
func (f *WorkflowFixture[In]) Start(id string, input In) *WorkflowOutcome {
	f.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	st, err := f.e.Start(ctx, id, input)
	h, herr := saga.History(context.Background(), f.store, saga.StreamOf(st.Name, id))
	if err == nil && herr != nil && !errors.Is(herr, saga.ErrUnknownSaga) {
		err = herr
	}
	return &WorkflowOutcome{tb: f.tb, state: st, err: err, history: h}
}

// A WorkflowOutcome is how a saga ended and the transitions it recorded.
type WorkflowOutcome struct {
	tb      testing.TB
	state   saga.State
	err     error
	history []saga.Timeline
}

// State returns the saga's final state.
func (o *WorkflowOutcome) State() saga.State { return o.state }

func (o *WorkflowOutcome) expect(status saga.Status) bool {
	o.tb.Helper()
	if o.err != nil {
		o.tb.Errorf("testkit: saga failed: %v", o.err)
		return false
	}
	if o.state.Status != status {
		o.tb.Errorf("testkit: saga ended %s, want %s (error %q)", o.state.Status, status, o.state.Error)
		return false
	}
	return true
}

// ThenCompleted expects every step to have succeeded.
func (o *WorkflowOutcome) ThenCompleted() {
	o.tb.Helper()
	o.expect(saga.Completed)
}

// ThenCompensated expects the saga compensated, with exactly these steps
// compensated in this order.
func (o *WorkflowOutcome) ThenCompensated(steps ...string) {
	o.tb.Helper()
	if !o.expect(saga.Compensated) {
		return
	}
	o.compareCompensations(steps)
}

// ThenNeedsAttention expects the saga stopped in NeedsAttention after
// compensating steps (in this order) and failing to compensate failed.
func (o *WorkflowOutcome) ThenNeedsAttention(failed string, compensated ...string) {
	o.tb.Helper()
	if !o.expect(saga.NeedsAttention) {
		return
	}
	o.compareCompensations(compensated)
	for _, s := range o.state.Steps {
		if s.Name == failed && s.Status != saga.StepCompensationFailed {
			o.tb.Errorf("testkit: step %s is %s, want %s", failed, s.Status, saga.StepCompensationFailed)
		}
	}
}

func (o *WorkflowOutcome) compareCompensations(want []string) {
	o.tb.Helper()
	var got []string
	for _, h := range o.history {
		if h.Type == saga.EventStepCompensated {
			got = append(got, h.Step)
		}
	}
	if len(want) == 0 {
		want = nil
	}
	if diff := cmp.Diff(want, got); diff != "" {
		o.tb.Errorf("testkit: compensations in order (-want +got):\n%s", diff)
	}
}

// ThenAttempts expects step to have been attempted n times.
func (o *WorkflowOutcome) ThenAttempts(step string, n int) *WorkflowOutcome {
	o.tb.Helper()
	for _, s := range o.state.Steps {
		if s.Name == step {
			if s.Attempts != n {
				o.tb.Errorf("testkit: step %s attempted %d times, want %d", step, s.Attempts, n)
			}
			return o
		}
	}
	o.tb.Errorf("testkit: no step %s in %s", step, fmt.Sprint(o.state.Steps))
	return o
}
