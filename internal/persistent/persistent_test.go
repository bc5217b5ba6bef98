package persistent_test

import (
	"context"
	"errors"
	"iter"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/eventstore/storetest"
	"github.com/chronicle-go/chronicle/internal/clock"
	"github.com/chronicle-go/chronicle/internal/persistent"
)

// sysPrefix stands in, inside the wrapped store, for the '$' of the
// engine's system streams, which the public Append refuses: the engine
// runs here over a Store it can only reach through the public API, as it
// would over any backend.
const sysPrefix = "sys~"

func hide(stream string) string {
	if strings.HasPrefix(stream, "$persistent") {
		return sysPrefix + stream[1:]
	}
	if of, ok := eventstore.IsMetadataStream(stream); ok && strings.HasPrefix(of, "$persistent") {
		return "$$" + hide(of)
	}
	return stream
}

func show(e eventstore.RecordedEvent) eventstore.RecordedEvent {
	if strings.HasPrefix(e.Stream, sysPrefix) {
		e.Stream = "$" + e.Stream[len(sysPrefix):]
	}
	return e
}

// renamed is a Store whose '$persistent…' streams are user streams of an
// inner store, with the engine on top.
type renamed struct {
	eventstore.Store
	*persistent.Engine
	fail   atomic.Int32 // appends of the engine to fail
	faults faultSet     // reads and metadata calls to fail
}

// The calls of the Store a test can make fail, by stream (as the engine
// names it; "" for ReadAll and SubscribeToAll).
const (
	opRead         = "ReadStream"
	opReadAll      = "ReadAll"
	opSubscribe    = "SubscribeToStream"
	opSubscribeAll = "SubscribeToAll"
	opGetMeta      = "GetStreamMetadata"
	opSetMeta      = "SetStreamMetadata"
)

var errInjected = errors.New("injected store failure")

// faultSet holds how many more times each call on each stream fails with
// errInjected (-1: until cleared), and what to do when it fails.
type faultSet struct {
	mu   sync.Mutex
	n    map[[2]string]int
	fn   map[[2]string]func()
	skip map[[2]string]int // calls to let through before failing
}

func (f *faultSet) set(op, stream string, n int) { f.setThen(op, stream, n, nil) }

// setAfter makes op on stream fail n times after it has succeeded skip
// more times.
func (f *faultSet) setAfter(op, stream string, skip, n int) {
	f.set(op, stream, n)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.skip == nil {
		f.skip = map[[2]string]int{}
	}
	f.skip[[2]string{op, stream}] = skip
}

// setThen is set, with fn to run each time the call fails, before it
// returns.
func (f *faultSet) setThen(op, stream string, n int, fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == nil {
		f.n, f.fn = map[[2]string]int{}, map[[2]string]func(){}
	}
	f.n[[2]string{op, stream}] = n
	f.fn[[2]string{op, stream}] = fn
}

// left is how many more times op on stream fails.
func (f *faultSet) left(op, stream string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n[[2]string{op, stream}]
}

// hit returns errInjected when op on stream is to fail, counting it.
func (f *faultSet) hit(op, stream string) error {
	f.mu.Lock()
	k := [2]string{op, stream}
	if f.skip[k] > 0 {
		f.skip[k]--
		f.mu.Unlock()
		return nil
	}
	n, fn := f.n[k], f.fn[k]
	if n > 0 {
		f.n[k] = n - 1
	}
	f.mu.Unlock()
	if n == 0 {
		return nil
	}
	if fn != nil {
		fn()
	}
	return errInjected
}

// failed is a sequence that yields err.
func failed[T any](err error) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		yield(zero, err)
	}
}

func (r *renamed) appendSystem(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events []eventstore.EventData) (eventstore.AppendResult, error) {
	if r.fail.Load() > 0 {
		r.fail.Add(-1)
		return eventstore.AppendResult{}, errors.New("injected append failure")
	}
	return r.Store.Append(ctx, hide(stream), expected, events...)
}

func (r *renamed) ReadStream(ctx context.Context, stream string, opts eventstore.ReadOptions) iter.Seq2[eventstore.RecordedEvent, error] {
	if err := r.faults.hit(opRead, stream); err != nil {
		return failed[eventstore.RecordedEvent](err)
	}
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		for e, err := range r.Store.ReadStream(ctx, hide(stream), opts) {
			var nf *eventstore.StreamNotFoundError
			if errors.As(err, &nf) {
				err = &eventstore.StreamNotFoundError{Stream: stream}
			}
			if !yield(show(e), err) {
				return
			}
		}
	}
}

func (r *renamed) ReadAll(ctx context.Context, opts eventstore.ReadAllOptions) iter.Seq2[eventstore.RecordedEvent, error] {
	if err := r.faults.hit(opReadAll, ""); err != nil {
		return failed[eventstore.RecordedEvent](err)
	}
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		for e, err := range r.Store.ReadAll(ctx, opts) {
			if !yield(show(e), err) {
				return
			}
		}
	}
}

func (r *renamed) SubscribeToStream(ctx context.Context, stream string, opts eventstore.SubscribeOptions) iter.Seq2[eventstore.Message, error] {
	if err := r.faults.hit(opSubscribe, stream); err != nil {
		return failed[eventstore.Message](err)
	}
	return r.Store.SubscribeToStream(ctx, stream, opts)
}

func (r *renamed) SubscribeToAll(ctx context.Context, opts eventstore.SubscribeAllOptions) iter.Seq2[eventstore.Message, error] {
	if err := r.faults.hit(opSubscribeAll, ""); err != nil {
		return failed[eventstore.Message](err)
	}
	return func(yield func(eventstore.Message, error) bool) {
		for m, err := range r.Store.SubscribeToAll(ctx, opts) {
			m.Event = show(m.Event)
			if !yield(m, err) {
				return
			}
		}
	}
}

func (r *renamed) GetStreamMetadata(ctx context.Context, stream string) (eventstore.MetadataResult, error) {
	if err := r.faults.hit(opGetMeta, stream); err != nil {
		return eventstore.MetadataResult{}, err
	}
	return r.Store.GetStreamMetadata(ctx, hide(stream))
}

func (r *renamed) SetStreamMetadata(ctx context.Context, stream string, expected eventstore.ExpectedRevision, meta eventstore.StreamMetadata) (eventstore.AppendResult, error) {
	if err := r.faults.hit(opSetMeta, stream); err != nil {
		return eventstore.AppendResult{}, err
	}
	return r.Store.SetStreamMetadata(ctx, hide(stream), expected, meta)
}

func (r *renamed) Close() error {
	_ = r.Engine.Close()
	return r.Store.Close()
}

// newRenamed returns the engine over a memory store reached only through
// the public API.
func newRenamed(inner eventstore.Store, opts ...persistent.Option) *renamed {
	r := &renamed{Store: inner}
	r.Engine = persistent.New(r, r.appendSystem, opts...)
	return r
}

// TestConformance runs the suite against the engine over a store it
// reaches only through the public API, with a restart by a new engine over
// the same data.
func TestConformance(t *testing.T) {
	f := storetest.Features{Reopen: func(t *testing.T, s eventstore.Store) eventstore.Store {
		r := s.(*renamed)
		_ = r.Engine.Close()
		return newRenamed(r.Store)
	}}
	storetest.RunPersistent(t, f, func(t *testing.T) eventstore.Store {
		inner := memory.New()
		t.Cleanup(func() { _ = inner.Close() })
		r := newRenamed(inner)
		t.Cleanup(func() { _ = r.Close() })
		return r
	})
}

// fakeEnv is an engine with a fake clock over a fresh store.
type fakeEnv struct {
	t   *testing.T
	ctx context.Context
	clk *clock.Fake
	r   *renamed
}

func newFake(t *testing.T) *fakeEnv {
	t.Helper()
	inner := memory.New()
	t.Cleanup(func() { _ = inner.Close() })
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	r := newRenamed(inner, persistent.WithClock(clk))
	t.Cleanup(func() { _ = r.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return &fakeEnv{t: t, ctx: ctx, clk: clk, r: r}
}

func (f *fakeEnv) seed(stream string, n int) {
	f.t.Helper()
	for range n {
		if _, err := f.r.Append(f.ctx, stream, eventstore.Any, eventstore.EventData{Type: "Seeded"}); err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f *fakeEnv) info(g eventstore.PersistentGroup) eventstore.PersistentSubscriptionInfo {
	f.t.Helper()
	info, err := f.r.GetPersistentSubscriptionInfo(f.ctx, g)
	if err != nil {
		f.t.Fatal(err)
	}
	return info
}

// eventually polls cond (real time: the engine's goroutines run on their
// own), failing after the test's minute.
func (f *fakeEnv) eventually(what string, cond func() bool) {
	f.t.Helper()
	for !cond() {
		select {
		case <-f.ctx.Done():
			f.t.Fatalf("%s: not true before the deadline", what)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (f *fakeEnv) recv(sub eventstore.PersistentSubscription) eventstore.PersistentEvent {
	f.t.Helper()
	ev, err := sub.Recv(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	return ev
}

func TestTimeoutsAndCheckpointTiming(t *testing.T) {
	f := newFake(t)
	g := eventstore.PersistentGroupOf("order-1", "g")
	st := eventstore.DefaultPersistentSettings()
	st.MessageTimeout, st.MaxRetryCount = 10*time.Second, 1
	st.MinCheckpointCount, st.MaxCheckpointCount, st.CheckpointAfter = 1, 3, 5*time.Second
	if err := f.r.CreatePersistentSubscription(f.ctx, g, st); err != nil {
		t.Fatal(err)
	}
	f.seed("order-1", 6)
	sub, err := f.r.SubscribePersistent(f.ctx, g, eventstore.PersistentSubscribeOptions{BufferSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var evs []eventstore.PersistentEvent
	for range 6 {
		evs = append(evs, f.recv(sub))
	}
	// Two acks pass MinCheckpointCount; the checkpoint waits for
	// CheckpointAfter.
	if err := sub.Ack(evs[0].ID(), evs[1].ID()); err != nil {
		t.Fatal(err)
	}
	f.eventually("a timer is armed", func() bool { return f.clk.Pending() > 0 })
	if got := f.info(g).LastCheckpointed; !got.IsStart() {
		t.Fatalf("checkpoint before CheckpointAfter: %v", got)
	}
	f.clk.Advance(5 * time.Second)
	f.eventually("checkpoint at 1 after CheckpointAfter", func() bool { return f.info(g).LastCheckpointed == eventstore.FromRevision(1) })
	// Three acks reach MaxCheckpointCount: at once.
	if err := sub.Ack(evs[2].ID(), evs[3].ID(), evs[4].ID()); err != nil {
		t.Fatal(err)
	}
	f.eventually("checkpoint at 4 without waiting", func() bool { return f.info(g).LastCheckpointed == eventstore.FromRevision(4) })
	// The last event times out: retried once, then parked.
	f.clk.Advance(10 * time.Second)
	if ev := f.recv(sub); ev.RetryCount != 1 || ev.ID() != evs[5].ID() {
		t.Fatalf("after a timeout: %v retry %d", ev.ID(), ev.RetryCount)
	}
	if info := f.info(g); info.InFlightMessages != 1 || info.Connections[0].InFlightMessages != 1 {
		t.Fatalf("in flight after the redelivery: %+v", info)
	}
	f.eventually("the retry's timer", func() bool { return f.clk.Pending() > 0 })
	f.clk.Advance(10 * time.Second)
	f.eventually("parked after max retries", func() bool { return f.info(g).ParkedMessageCount == 1 })
	// Parking finished the last message: the checkpoint reaches it once
	// CheckpointAfter has passed.
	f.clk.Advance(5 * time.Second)
	f.eventually("checkpoint at 5", func() bool { return f.info(g).LastCheckpointed == eventstore.FromRevision(5) })
}

func TestWriteFailuresAreRetried(t *testing.T) {
	f := newFake(t)
	g := eventstore.PersistentGroupOf("order-1", "g")
	st := eventstore.DefaultPersistentSettings()
	st.MinCheckpointCount, st.MaxCheckpointCount, st.CheckpointAfter = 1, 1, 0
	if err := f.r.CreatePersistentSubscription(f.ctx, g, st); err != nil {
		t.Fatal(err)
	}
	f.seed("order-1", 2)
	sub, err := f.r.SubscribePersistent(f.ctx, g, eventstore.PersistentSubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	a, b := f.recv(sub), f.recv(sub)
	f.r.fail.Store(1) // the park fails once
	if err := sub.Nack(eventstore.NackPark, "bad", a.ID()); err != nil {
		t.Fatal(err)
	}
	f.eventually("the failed write's retry is scheduled", func() bool { return f.clk.Pending() > 0 && f.r.fail.Load() == 0 })
	f.clk.Advance(time.Second)
	f.eventually("parked after the retry", func() bool { return f.info(g).ParkedMessageCount == 1 })
	f.r.fail.Store(1) // the checkpoint fails once
	if err := sub.Ack(b.ID()); err != nil {
		t.Fatal(err)
	}
	f.eventually("the failed checkpoint's retry is scheduled", func() bool { return f.clk.Pending() > 0 && f.r.fail.Load() == 0 })
	f.clk.Advance(time.Second)
	f.eventually("checkpoint after the retry", func() bool { return f.info(g).LastCheckpointed == eventstore.FromRevision(1) })
	// A failing config write changes nothing.
	f.r.fail.Store(1)
	if err := f.r.CreatePersistentSubscription(f.ctx, eventstore.PersistentGroupOf("order-1", "h"), st); err == nil {
		t.Fatal("create with a failing write succeeded")
	}
	if list, err := f.r.ListPersistentSubscriptions(f.ctx, ""); err != nil || len(list) != 1 {
		t.Fatalf("groups after a failed create: %v, %v", list, err)
	}
}

func TestReloadAndAllFromEnd(t *testing.T) {
	inner := memory.New()
	t.Cleanup(func() { _ = inner.Close() })
	ctx := t.Context()
	r := newRenamed(inner)
	all := eventstore.PersistentGroupOf(eventstore.AllStream, "end")
	if _, err := r.Append(ctx, "order-1", eventstore.Any, eventstore.EventData{Type: "Before"}); err != nil {
		t.Fatal(err)
	}
	st := eventstore.DefaultPersistentSettings()
	st.From = eventstore.End
	st.Filter = eventstore.StreamPrefixFilter("order-")
	if err := r.CreatePersistentSubscription(ctx, all, st); err != nil {
		t.Fatal(err)
	}
	if err := r.Engine.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.CreatePersistentSubscription(ctx, all, st); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("create on a closed engine: %v", err)
	}
	if _, err := r.Append(ctx, "order-1", eventstore.Any, eventstore.EventData{Type: "After"}); err != nil {
		t.Fatal(err)
	}
	// A new engine over the same data knows the group and where it starts.
	r2 := newRenamed(inner)
	defer r2.Engine.Close()
	if err := r2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	sub, err := r2.SubscribePersistent(ctx, all, eventstore.PersistentSubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ev, err := sub.Recv(ctx)
	if err != nil || ev.Event.Type != "After" {
		t.Fatalf("first event of a $all group from End: %v %v, want the one appended after its creation", ev.Event.Type, err)
	}
	if err := sub.Ack(ev.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Recv(canceled(ctx)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Recv with a canceled context: %v", err)
	}
}

func canceled(ctx context.Context) context.Context {
	c, cancel := context.WithCancel(ctx)
	cancel()
	return c
}

func TestBadConfig(t *testing.T) {
	for _, data := range []string{`{`, `{"groups":[{"stream":"s","group":"","settings":{}}]}`, `{"groups":[{"stream":"s","group":"g","settings":{"from":{"kind":"sideways"}}}]}`} {
		inner := memory.New()
		r := newRenamed(inner)
		if _, err := inner.Append(t.Context(), hide(persistent.ConfigStream), eventstore.Any, eventstore.EventData{Type: persistent.ConfigEventType, ContentType: eventstore.ContentTypeBinary, Data: []byte(data)}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.ListPersistentSubscriptions(t.Context(), ""); err == nil {
			t.Fatalf("config %s: list succeeded", data)
		}
		_ = r.Close()
	}
}
