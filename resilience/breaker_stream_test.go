package resilience_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"iter"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/internal/clock"
	"github.com/chronicle-go/chronicle/resilience"
)

// flakyStore wraps a Store and fails every operation while down, ending its
// live subscriptions as a lost connection would.
type flakyStore struct {
	eventstore.Store
	down atomic.Bool

	mu      sync.Mutex
	cancels map[int]context.CancelFunc
	next    int
}

func newFlaky(s eventstore.Store) *flakyStore {
	return &flakyStore{Store: s, cancels: make(map[int]context.CancelFunc)}
}

func (f *flakyStore) setDown(down bool) {
	f.down.Store(down)
	if down {
		f.mu.Lock()
		for _, cancel := range f.cancels {
			cancel()
		}
		f.mu.Unlock()
	}
}

var errUnavailable = errors.Join(eventstore.ErrUnavailable, errors.New("connection refused"))

func (f *flakyStore) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if f.down.Load() {
		return eventstore.AppendResult{}, errUnavailable
	}
	return f.Store.Append(ctx, stream, expected, events...)
}

func (f *flakyStore) ReadStream(ctx context.Context, stream string, opts eventstore.ReadOptions) iter.Seq2[eventstore.RecordedEvent, error] {
	if f.down.Load() {
		return func(yield func(eventstore.RecordedEvent, error) bool) {
			yield(eventstore.RecordedEvent{}, errUnavailable)
		}
	}
	return f.Store.ReadStream(ctx, stream, opts)
}

func (f *flakyStore) GetStreamMetadata(ctx context.Context, stream string) (eventstore.MetadataResult, error) {
	if f.down.Load() {
		return eventstore.MetadataResult{}, errUnavailable
	}
	return f.Store.GetStreamMetadata(ctx, stream)
}

func (f *flakyStore) SubscribeToStream(ctx context.Context, stream string, opts eventstore.SubscribeOptions) iter.Seq2[eventstore.Message, error] {
	return func(yield func(eventstore.Message, error) bool) {
		if f.down.Load() {
			yield(eventstore.Message{}, errUnavailable)
			return
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		f.mu.Lock()
		id := f.next
		f.next++
		f.cancels[id] = cancel
		f.mu.Unlock()
		defer func() {
			f.mu.Lock()
			delete(f.cancels, id)
			f.mu.Unlock()
		}()
		for msg, err := range f.Store.SubscribeToStream(ctx, stream, opts) {
			if f.down.Load() {
				yield(eventstore.Message{}, errUnavailable)
				return
			}
			if !yield(msg, err) || err != nil {
				return
			}
		}
	}
}

// cluster is a set of breaker instances sharing one store and one clock.
type cluster struct {
	t     *testing.T
	store *memory.Store
	clk   *clock.Fake
	cfg   resilience.BreakerConfig
}

func newCluster(t *testing.T, cfg resilience.BreakerConfig) *cluster {
	s := memory.New()
	t.Cleanup(func() { _ = s.Close() })
	return &cluster{t: t, store: s, clk: newClock(), cfg: cfg}
}

// instance starts a synced breaker instance over store (the cluster's by
// default).
func (c *cluster) instance(id string, store eventstore.Store, opts ...resilience.Option) *resilience.Breaker {
	c.t.Helper()
	if store == nil {
		store = c.store
	}
	opts = append([]resilience.Option{resilience.WithClock(c.clk), resilience.WithStore(store), resilience.WithInstanceID(id)}, opts...)
	b, err := resilience.NewBreaker("payments", c.cfg, opts...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { _ = b.Close() })
	if store == eventstore.Store(c.store) {
		if err := b.Sync(c.t.Context()); err != nil {
			c.t.Fatal(err)
		}
	}
	return b
}

// flakyInstance starts a synced instance over a store that fails on demand.
func (c *cluster) flakyInstance(id string, opts ...resilience.Option) (*flakyStore, *resilience.Breaker) {
	c.t.Helper()
	flaky := newFlaky(c.store)
	b := c.instance(id, flaky, opts...)
	if err := b.Sync(c.t.Context()); err != nil {
		c.t.Fatal(err)
	}
	return flaky, b
}

// events returns the types and instances of the breaker stream's events.
func (c *cluster) events() []string {
	c.t.Helper()
	var out []string
	for rec, err := range c.store.ReadStream(c.t.Context(), resilience.BreakerStream("payments"), eventstore.ReadOptions{}) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			break
		}
		if err != nil {
			c.t.Fatal(err)
		}
		var ev resilience.BreakerEvent
		_ = json.Unmarshal(rec.Data, &ev) // foreign events may not decode
		out = append(out, rec.Type+"/"+ev.Instance)
	}
	return out
}

func waitState(t *testing.T, b *resilience.Breaker, want resilience.State) {
	t.Helper()
	eventually(t, b.InstanceID()+" "+want.String(), func() bool { return b.State() == want })
}

func TestSharedBreakersConverge(t *testing.T) {
	c := newCluster(t, resilience.BreakerConfig{ConsecutiveFailures: 2, OpenDuration: 10 * time.Second})
	a, b, d := c.instance("a", nil), c.instance("b", nil), c.instance("c", nil)
	all := []*resilience.Breaker{a, b, d}

	// One opens → all open, following the stream live.
	calls(t, a, 2, fail)
	wantState(t, a, resilience.StateOpen)
	waitState(t, b, resilience.StateOpen)
	waitState(t, d, resilience.StateOpen)
	coe := wantRejected(t, b)
	if coe.Reason != "opened by a: 2 consecutive failures" || !coe.Until.Equal(t0.Add(10*time.Second)) || coe.Err != nil {
		t.Fatalf("b's rejection: %+v", coe)
	}

	// Exactly one half-open probe across the instances.
	c.clk.Advance(10 * time.Second)
	release := make(chan struct{})
	var running, rejected atomic.Int32
	var wg sync.WaitGroup
	const perInstance = 5
	for _, br := range all {
		for range perInstance {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := br.Run(t.Context(), func(context.Context) error {
					running.Add(1)
					<-release
					return nil
				})
				if errors.Is(err, resilience.ErrCircuitOpen) {
					rejected.Add(1)
				} else if err != nil {
					t.Error(err)
				}
			}()
		}
	}
	eventually(t, "every call to probe or be rejected", func() bool { return running.Load()+rejected.Load() == 3*perInstance })
	if running.Load() != 1 {
		t.Fatalf("%d probes ran across the instances, want exactly 1", running.Load())
	}
	close(release)
	wg.Wait()
	for _, br := range all {
		waitState(t, br, resilience.StateClosed)
	}

	// Only transitions were written, the claim by the instance that probed.
	evs := c.events()
	if len(evs) != 3 || evs[0] != "BreakerOpened/a" || !strings.HasPrefix(evs[1], "BreakerHalfOpened/") ||
		!strings.HasPrefix(evs[2], "BreakerClosed/") || evs[1][len("BreakerHalfOpened/"):] != evs[2][len("BreakerClosed/"):] {
		t.Fatalf("stream %v", evs)
	}
	meta, err := c.store.GetStreamMetadata(t.Context(), resilience.BreakerStream("payments"))
	if err != nil || meta.Metadata.MaxCount != resilience.DefaultStreamMaxCount {
		t.Fatalf("metadata %+v, %v", meta, err)
	}
}

func TestOpenedEventCarriesTheWindow(t *testing.T) {
	c := newCluster(t, resilience.BreakerConfig{FailureRatio: 0.5, CountWindow: 4})
	a := c.instance("a", nil)
	calls(t, a, 2, ok)
	calls(t, a, 2, fail)
	if err := a.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	for rec, err := range c.store.ReadStream(t.Context(), resilience.BreakerStream("payments"), eventstore.ReadOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		var ev resilience.BreakerEvent
		if err := json.Unmarshal(rec.Data, &ev); err != nil {
			t.Fatal(err)
		}
		want := resilience.WindowSnapshot{Calls: 4, Failures: 2, ConsecutiveFailures: 2}
		if rec.Type != resilience.EventBreakerOpened || ev.Window == nil || *ev.Window != want || ev.Instance != "a" ||
			ev.Opens != 1 || !ev.At.Equal(t0) || !ev.OpenUntil.Equal(t0.Add(resilience.DefaultOpenDuration)) || ev.Reason != "failure ratio 2/4" {
			t.Fatalf("event %s %+v (window %+v)", rec.Type, ev, ev.Window)
		}
	}
}

func TestRestartedInstanceComesBackInTheStreamsState(t *testing.T) {
	c := newCluster(t, resilience.BreakerConfig{ConsecutiveFailures: 1, OpenDuration: 10 * time.Second, ProbeTimeout: 5 * time.Second})
	a := c.instance("a", nil)
	calls(t, a, 1, fail)
	if err := a.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	restarted := c.instance("a2", nil)
	wantState(t, restarted, resilience.StateOpen)
	if u := wantRejected(t, restarted).Until; !u.Equal(t0.Add(10 * time.Second)) {
		t.Fatalf("restarted instance open until %v", u)
	}

	// An instance that restarts while another probes waits for the claim to lapse.
	c.clk.Advance(10 * time.Second)
	hold := make(chan struct{})
	started := make(chan struct{})
	go func() { _ = a.Run(t.Context(), func(context.Context) error { close(started); <-hold; return nil }) }()
	<-started
	again := c.instance("a3", nil)
	wantState(t, again, resilience.StateHalfOpen)
	wantRejected(t, again)
	c.clk.Advance(5 * time.Second) // a's claim lapses: a3 may claim
	calls(t, again, 1, ok)
	wantState(t, again, resilience.StateClosed)
	waitState(t, a, resilience.StateClosed)
	close(hold)
}

func TestStreamIsKeptShort(t *testing.T) {
	c := newCluster(t, resilience.BreakerConfig{ConsecutiveFailures: 1, OpenDuration: time.Second})
	a := c.instance("a", nil, resilience.WithStreamMaxCount(3))
	for range 4 { // open, half-open, closed: 12 transitions
		calls(t, a, 1, fail)
		c.clk.Advance(time.Second)
		calls(t, a, 1, ok)
	}
	calls(t, a, 1, fail)
	if err := a.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if evs := c.events(); len(evs) != 3 || evs[2] != "BreakerOpened/a" {
		t.Fatalf("visible events %v, want the last 3", evs)
	}
	wantState(t, c.instance("b", nil), resilience.StateOpen)
}

func TestManualStatesAcrossInstances(t *testing.T) {
	c := newCluster(t, resilience.BreakerConfig{})
	a, b := c.instance("a", nil), c.instance("b", nil)
	ctx := t.Context()
	for _, step := range []struct {
		act  func(context.Context) error
		want resilience.State
	}{
		{a.ForceOpen, resilience.StateForcedOpen},
		{b.ForceClose, resilience.StateForcedClosed},
		{a.Disable, resilience.StateDisabled},
		{b.Reset, resilience.StateClosed},
	} {
		if err := step.act(ctx); err != nil {
			t.Fatal(err)
		}
		waitState(t, a, step.want)
		waitState(t, b, step.want)
	}
	want := []string{"BreakerForcedOpen/a", "BreakerForcedClosed/b", "BreakerDisabled/a", "BreakerClosed/b"}
	if evs := c.events(); strings.Join(evs, " ") != strings.Join(want, " ") {
		t.Fatalf("stream %v, want %v", evs, want)
	}
}

func TestStoreFailsMidway(t *testing.T) {
	c := newCluster(t, resilience.BreakerConfig{ConsecutiveFailures: 1, OpenDuration: 10 * time.Second})
	logs := &syncBuffer{}
	flaky, a := c.flakyInstance("a", resilience.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	b := c.instance("b", nil)

	flaky.setDown(true)
	calls(t, a, 1, fail) // opens locally
	wantState(t, a, resilience.StateOpen)
	if err := a.Sync(t.Context()); !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("Sync with the store down: %v", err)
	}
	if err := b.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	wantState(t, b, resilience.StateClosed) // nothing was written

	// a keeps working on its own: it probes, closes, and opens again.
	c.clk.Advance(10 * time.Second)
	calls(t, a, 1, ok)
	wantState(t, a, resilience.StateClosed)
	calls(t, a, 1, fail)
	wantState(t, a, resilience.StateOpen)
	eventually(t, "a warning in the log", func() bool {
		return strings.Contains(logs.String(), "breaker store unreachable, working locally")
	})

	// The store comes back: a writes its latest transition on its own.
	flaky.setDown(false)
	eventually(t, "b to learn that a opened", func() bool {
		c.clk.Advance(reconnectMax)
		return b.State() == resilience.StateOpen
	})
	want := "BreakerOpened/a BreakerHalfOpened/a BreakerClosed/a BreakerOpened/a"
	if evs := c.events(); strings.Join(evs, " ") != want {
		t.Fatalf("stream %v, want a's transitions %v", evs, want)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// reconnectMax is above the breaker's largest reconnect delay.
const reconnectMax = 16 * time.Second

func TestReconcileStreamStateWins(t *testing.T) {
	c := newCluster(t, resilience.BreakerConfig{ConsecutiveFailures: 1})
	flaky, a := c.flakyInstance("a")
	b := c.instance("b", nil)
	flaky.setDown(true)
	calls(t, a, 1, fail) // pending: opened
	if err := b.Disable(t.Context()); err != nil {
		t.Fatal(err)
	}
	flaky.setDown(false)
	if err := a.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	wantState(t, a, resilience.StateDisabled)
	if evs := c.events(); len(evs) != 1 || evs[0] != "BreakerDisabled/b" {
		t.Fatalf("stream %v", evs)
	}
}

func TestReconcileManualTransitionWins(t *testing.T) {
	c := newCluster(t, resilience.BreakerConfig{ConsecutiveFailures: 1})
	flaky, a := c.flakyInstance("a")
	b := c.instance("b", nil)
	flaky.setDown(true)
	if err := a.ForceOpen(t.Context()); !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("ForceOpen with the store down: %v", err)
	}
	wantState(t, a, resilience.StateForcedOpen) // applied locally all the same
	calls(t, b, 1, fail)
	if err := b.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	flaky.setDown(false)
	if err := a.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	wantState(t, a, resilience.StateForcedOpen)
	waitState(t, b, resilience.StateForcedOpen)
	if evs := c.events(); strings.Join(evs, " ") != "BreakerOpened/b BreakerForcedOpen/a" {
		t.Fatalf("stream %v", evs)
	}
}

func TestClaimWithTheStoreDownProbesLocally(t *testing.T) {
	c := newCluster(t, resilience.BreakerConfig{ConsecutiveFailures: 1, OpenDuration: time.Second})
	flaky, a := c.flakyInstance("a")
	calls(t, a, 1, fail)
	if err := a.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	c.clk.Advance(time.Second)
	flaky.setDown(true)
	ran := false
	if err := a.Run(t.Context(), func(context.Context) error { ran = true; return nil }); err != nil || !ran {
		t.Fatalf("local probe: ran=%v err=%v", ran, err)
	}
	wantState(t, a, resilience.StateClosed)
	flaky.setDown(false)
	if err := a.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if evs := c.events(); strings.Join(evs, " ") != "BreakerOpened/a BreakerHalfOpened/a BreakerClosed/a" {
		t.Fatalf("stream %v", evs)
	}
}

func TestForeignEventsTheBreakerDoesNotKnow(t *testing.T) {
	c := newCluster(t, resilience.BreakerConfig{ConsecutiveFailures: 1})
	a := c.instance("a", nil)
	stream := resilience.BreakerStream("payments")
	if _, err := c.store.Append(t.Context(), stream, eventstore.Any,
		eventstore.EventData{Type: "BreakerRenamed", Data: []byte(`{}`)},
		eventstore.EventData{Type: resilience.EventBreakerOpened, Data: []byte(`[1]`)}); err != nil {
		t.Fatal(err)
	}
	if err := a.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	wantState(t, a, resilience.StateClosed)
	calls(t, a, 1, fail) // appends after the unknown events without a conflict loop
	if err := a.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if evs := c.events(); len(evs) != 3 || evs[2] != "BreakerOpened/a" {
		t.Fatalf("stream %v", evs)
	}
}

func TestCloseSharedBreaker(t *testing.T) {
	c := newCluster(t, resilience.BreakerConfig{ConsecutiveFailures: 1})
	flaky, a := c.flakyInstance("a")
	flaky.setDown(true)
	calls(t, a, 1, fail)
	if err := a.Close(); !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("Close with a transition not written: %v", err)
	}
	if err := a.Close(); !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("second Close: %v", err)
	}
	flaky.setDown(false)
	if err := a.Reset(t.Context()); err != nil {
		t.Fatal(err)
	}
	calls(t, a, 1, fail) // works locally after Close, writes nothing
	wantState(t, a, resilience.StateOpen)
	if evs := c.events(); len(evs) != 0 {
		t.Fatalf("a closed breaker wrote %v", evs)
	}

	b := c.instance("b", nil)
	calls(t, b, 1, fail)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if evs := c.events(); len(evs) != 1 {
		t.Fatalf("Close did not write the last transition: %v", evs)
	}
}

func TestLocalBreakerSyncAndClose(t *testing.T) {
	b := newBreaker(t, newClock(), resilience.BreakerConfig{})
	if err := b.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCanceledCallerDoesNotMarkTheStoreDown(t *testing.T) {
	c := newCluster(t, resilience.BreakerConfig{})
	logs := &syncBuffer{}
	a := c.instance("a", nil, resilience.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	b := c.instance("b", nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	// The writer may write the transition before ForceOpen tries with its
	// canceled context: either way is right.
	if err := a.ForceOpen(ctx); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("ForceOpen with a canceled context: %v", err)
	}
	if err := a.Sync(ctx); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("Sync with a canceled context: %v", err)
	}
	waitState(t, b, resilience.StateForcedOpen)
	if strings.Contains(logs.String(), "unreachable") {
		t.Fatalf("a canceled caller made the store count as unreachable:\n%s", logs)
	}
}

// TestSharedBreakersUnderLoad hammers three instances sharing a stream from
// many goroutines (run with -race) while time passes, then checks that they
// all end in the state of the stream's last event.
func TestSharedBreakersUnderLoad(t *testing.T) {
	c := newCluster(t, resilience.BreakerConfig{FailureRatio: 0.5, CountWindow: 20, OpenDuration: time.Second, HalfOpenCalls: 2})
	all := []*resilience.Breaker{c.instance("a", nil), c.instance("b", nil), c.instance("c", nil)}
	var wg sync.WaitGroup
	for g := range 600 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			br := all[g%3]
			for i := range 20 {
				_ = br.Run(t.Context(), func(context.Context) error {
					if (g*7+i)%5 < 2+g%2 {
						return errBoom
					}
					return nil
				})
				if i%10 == 0 && g%20 == 0 {
					c.clk.Advance(500 * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	for range 2 { // a flush by one instance may follow another's read
		for _, br := range all {
			if err := br.Sync(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
	}
	evs := c.events()
	if len(evs) == 0 {
		t.Fatal("no transition was written")
	}
	last := strings.SplitN(evs[len(evs)-1], "/", 2)[0]
	want := map[string]resilience.State{
		resilience.EventBreakerOpened: resilience.StateOpen, resilience.EventBreakerHalfOpened: resilience.StateHalfOpen,
		resilience.EventBreakerClosed: resilience.StateClosed,
	}[last]
	for _, br := range all {
		if br.State() != want {
			t.Errorf("%s is %v, the stream's last event is %s", br.InstanceID(), br.State(), last)
		}
	}
	t.Logf("%d transitions written", len(evs))
}
