package projection_test

import (
	"context"
	"errors"
	"iter"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/schema"
)

// flaky is a store whose first subscriptions drop after a few messages.
type flaky struct {
	eventstore.Store
	drops atomic.Int64 // subscriptions left to drop
	after int
	subs  atomic.Int64
}

var errDropped = errors.New("connection reset")

func (f *flaky) SubscribeToAll(ctx context.Context, opts eventstore.SubscribeAllOptions) iter.Seq2[eventstore.Message, error] {
	f.subs.Add(1)
	inner := f.Store.SubscribeToAll(ctx, opts)
	if f.drops.Add(-1) < 0 {
		return inner
	}
	return func(yield func(eventstore.Message, error) bool) {
		n := 0
		for m, err := range inner {
			if n == f.after {
				yield(eventstore.Message{}, errDropped)
				return
			}
			n++
			if !yield(m, err) {
				return
			}
		}
	}
}

func TestResubscribesAfterDrops(t *testing.T) {
	mem := newMemory(t)
	store := &flaky{Store: mem, after: 7}
	store.drops.Store(3)
	reg := newRegistry(t)
	db := newMemDB()
	var last eventstore.Position
	for i := range 30 {
		last = appendTyped(t, mem, reg, account(i%4), Deposited{account(i % 4), i + 1}).Position
	}
	r, err := projection.NewRunner(store, ledger(reg, "ledger"), db, projection.WithBatchSize(3),
		projection.WithResubscribe(time.Millisecond, 2*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, r)
	waitFor(t, r, last)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	st := r.State()
	if st.Resubscriptions != 3 || !errors.Is(st.LastError, errDropped) || store.subs.Load() != 4 {
		t.Errorf("state = %+v after %d subscriptions; want 3 resubscriptions, one per drop", st, store.subs.Load())
	}
	if diff := cmp.Diff(fold(t, mem, reg), modelOf(db, "ledger", 1)); diff != "" {
		t.Fatalf("gap or duplicate after resubscribing (-want +got):\n%s", diff)
	}
}

func TestFatalStoreErrors(t *testing.T) {
	reg := newRegistry(t)
	t.Run("closed store", func(t *testing.T) {
		store := newMemory(t)
		r, _ := projection.NewRunner(store, ledger(reg, "ledger"), newMemDB())
		stop := start(t, r)
		waitCaughtUp(t, r)
		store.Close()
		err := r.WaitFor(t.Context(), eventstore.Position{Commit: 1 << 40})
		if !errors.Is(err, projection.ErrNotRunning) || !errors.Is(err, eventstore.ErrClosed) {
			t.Fatalf("WaitFor after the store closed = %v", err)
		}
		if err := stop(); !errors.Is(err, eventstore.ErrClosed) {
			t.Fatalf("Run = %v; want ErrClosed", err)
		}
	})
	t.Run("tombstoned stream", func(t *testing.T) {
		store := newMemory(t)
		appendTyped(t, store, reg, "account-1", Deposited{"account-1", 1})
		p := projection.New[*memTx]("one", projection.Stream("account-1"), reg)
		projection.On(p, func(ctx context.Context, tx *memTx, ev projection.Event[Deposited]) error { return nil })
		r, _ := projection.NewRunner(store, p, newMemDB())
		stop := start(t, r)
		waitCaughtUp(t, r)
		if _, err := store.Tombstone(t.Context(), "account-1", eventstore.Any); err != nil {
			t.Fatal(err)
		}
		if err := r.WaitFor(t.Context(), eventstore.Position{Commit: 1 << 40}); !errors.Is(err, eventstore.ErrStreamDeleted) {
			t.Fatalf("WaitFor = %v; want ErrStreamDeleted", err)
		}
		stop()
	})
}

// TestTwoRunnersFenced: two runners of one projection over one checkpoint
// store: only one keeps advancing it; the other stops with ErrFenced.
func TestTwoRunnersFenced(t *testing.T) {
	reg := newRegistry(t)
	check := func(t *testing.T, store eventstore.Store, a, b interface {
		Run(context.Context) error
		State() projection.State
	}) {
		errs := make(chan error, 2)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go func() { errs <- a.Run(ctx) }()
		go func() { errs <- b.Run(ctx) }()
		var first error
		for i := 0; first == nil; i++ {
			appendTyped(t, store, reg, "account-1", Deposited{"account-1", i + 1})
			select {
			case first = <-errs:
			case <-time.After(time.Millisecond):
			}
			if i > 10000 {
				t.Fatal("neither runner stopped")
			}
		}
		if !errors.Is(first, projection.ErrFenced) {
			t.Fatalf("the first runner to stop returned %v; want ErrFenced", first)
		}
		cancel()
		if err := <-errs; err != nil {
			t.Fatalf("the runner that kept the claim returned %v", err)
		}
	}
	t.Run("transactional", func(t *testing.T) {
		store := newMemory(t)
		db := newMemDB()
		a, _ := projection.NewRunner(store, ledger(reg, "ledger"), db)
		b, _ := projection.NewRunner(store, ledger(reg, "ledger"), db)
		check(t, store, a, b)
	})
	t.Run("stream checkpoints", func(t *testing.T) {
		store := newMemory(t)
		mk := func() *projection.Runner[projection.NoTx] {
			r, err := projection.NewRunner(store, newBalances().define(reg, "bal", projection.Category("account")),
				projection.AtLeastOnce(projection.NewStreamCheckpoints(store), 1, 0))
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		check(t, store, mk(), mk())
	})
}

func TestDefinitionErrors(t *testing.T) {
	reg := newRegistry(t)
	other := schema.MustNewRegistry()
	type Unregistered struct{}
	noop := func(context.Context, projection.Event[Deposited]) error { return nil }
	cases := map[string]*projection.Projection[projection.NoTx]{
		"no handlers": projection.New[projection.NoTx]("a", projection.AllStreams(), reg),
		"two handlers for one type": func() *projection.Projection[projection.NoTx] {
			p := projection.New[projection.NoTx]("a", projection.AllStreams(), reg)
			projection.Handle(p, noop)
			projection.Handle(p, noop)
			return p
		}(),
		"unregistered type": func() *projection.Projection[projection.NoTx] {
			p := projection.New[projection.NoTx]("a", projection.AllStreams(), other)
			projection.Handle(p, noop)
			projection.Handle(p, func(context.Context, projection.Event[Unregistered]) error { return nil })
			return p
		}(),
		"bad name":      withNoop(projection.New[projection.NoTx]("bad-name", projection.AllStreams(), reg), noop),
		"empty name":    withNoop(projection.New[projection.NoTx]("", projection.AllStreams(), reg), noop),
		"no registry":   withNoop(projection.New[projection.NoTx]("a", projection.AllStreams(), nil), noop),
		"stream+filter": withNoop(projection.New[projection.NoTx]("a", projection.Source{Stream: "s", Filter: eventstore.StreamPrefixFilter("x")}, reg), noop),
		"system stream": withNoop(projection.New[projection.NoTx]("a", projection.Stream("$all"), reg), noop),
		"bad filter":    withNoop(projection.New[projection.NoTx]("a", projection.Filtered(eventstore.StreamRegexFilter("(")), reg), noop),
		"version 0":     withNoop(projection.New[projection.NoTx]("a", projection.AllStreams(), reg).Version(0), noop),
		"older version": func() *projection.Projection[projection.NoTx] {
			r := schema.MustNewRegistry()
			schema.MustRegister[Noted](r, "Noted", 1)
			schema.MustRegister[Deposited](r, "Noted", 2, schema.UpcastFrom(schema.Identity))
			p := projection.New[projection.NoTx]("a", projection.AllStreams(), r)
			projection.Handle(p, func(context.Context, projection.Event[Noted]) error { return nil })
			return p
		}(),
	}
	store := newMemory(t)
	for name, p := range cases {
		_, err := projection.NewRunner(store, p, projection.AtLeastOnce(&projection.MemoryCheckpoints{}, 0, 0))
		if !errors.Is(err, projection.ErrInvalidProjection) {
			t.Errorf("%s: NewRunner = %v; want ErrInvalidProjection", name, err)
		}
	}
	good := withNoop(projection.New[projection.NoTx]("a", projection.AllStreams(), reg), noop)
	target := projection.AtLeastOnce(&projection.MemoryCheckpoints{}, 0, 0)
	for name, opt := range map[string]projection.Option{
		"nil option":  nil,
		"batch 0":     projection.WithBatchSize(0),
		"workers 0":   projection.WithWorkers(0),
		"nil key":     projection.WithPartitionKey(nil),
		"bad policy":  projection.OnFailure(projection.Policy(9)),
		"bad decode":  projection.OnUndecodable(projection.Policy(9)),
		"bad backoff": projection.WithResubscribe(time.Second, time.Millisecond),
		"nil logger":  projection.WithLogger(nil),
		"nil retry":   projection.WithRetry(nil),
		"nil tracer":  projection.WithTracerProvider(nil),
		"nil meter":   projection.WithMeterProvider(nil),
	} {
		if _, err := projection.NewRunner(store, good, target, opt); !errors.Is(err, projection.ErrInvalidProjection) {
			t.Errorf("%s: NewRunner = %v; want ErrInvalidProjection", name, err)
		}
	}
	if _, err := projection.NewRunner(nil, good, target); !errors.Is(err, projection.ErrInvalidProjection) {
		t.Errorf("nil store: %v", err)
	}
	if _, err := projection.NewRunner[projection.NoTx](store, good, nil); !errors.Is(err, projection.ErrInvalidProjection) {
		t.Errorf("nil target: %v", err)
	}
	if _, err := projection.NewRunner[projection.NoTx](store, nil, target); !errors.Is(err, projection.ErrInvalidProjection) {
		t.Errorf("nil projection: %v", err)
	}
	if n := len(allEvents(t, store)); n != 0 {
		t.Errorf("rejected definitions wrote %d events", n)
	}
	if got := good.EventTypes(); !cmp.Equal(got, []string{"Deposited"}) || good.Name() != "a" {
		t.Errorf("EventTypes = %v, Name = %q", got, good.Name())
	}
}

func withNoop(p *projection.Projection[projection.NoTx], h func(context.Context, projection.Event[Deposited]) error) *projection.Projection[projection.NoTx] {
	projection.Handle(p, h)
	return p
}

func allEvents(t testing.TB, s eventstore.Store) []eventstore.RecordedEvent {
	var out []eventstore.RecordedEvent
	for e, err := range s.ReadAll(context.Background(), eventstore.ReadAllOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func TestCheckpointKindMismatch(t *testing.T) {
	store := newMemory(t)
	reg := newRegistry(t)
	appendTyped(t, store, reg, "account-1", Deposited{"account-1", 1})
	db := newMemDB()
	if err := db.Save(t.Context(), projection.Key{Projection: "one", Version: 1}, projection.Checkpoint{}, projection.At(eventstore.Position{Commit: 1, Prepare: 1})); err != nil {
		t.Fatal(err)
	}
	p := projection.New[*memTx]("one", projection.Stream("account-1"), reg)
	projection.On(p, func(ctx context.Context, tx *memTx, ev projection.Event[Deposited]) error { tx.Add("x", 1); return nil })
	r, _ := projection.NewRunner(store, p, db)
	if err := r.Run(t.Context()); !errors.Is(err, projection.ErrCheckpointMismatch) {
		t.Fatalf("Run with a $all checkpoint for a stream source = %v; want ErrCheckpointMismatch", err)
	}
	if rows := db.Rows("one", 1); len(rows) != 0 {
		t.Errorf("a refused start wrote %v", rows)
	}
}

func TestStreamSource(t *testing.T) {
	store := newMemory(t)
	reg := newRegistry(t)
	appendTyped(t, store, reg, "account-2", Deposited{"account-2", 50})
	appendTyped(t, store, reg, "account-1", Deposited{"account-1", 1}, Withdrawn{"account-1", 1}, Deposited{"account-1", 5})
	db := newMemDB()
	p := projection.New[*memTx]("one", projection.Stream("account-1"), reg)
	projection.On(p, func(ctx context.Context, tx *memTx, ev projection.Event[Deposited]) error {
		tx.Add(ev.Record.Stream, ev.Data.Amount)
		return nil
	})
	r, _ := projection.NewRunner(store, p, db)
	stop := start(t, r)
	res := appendTyped(t, store, reg, "account-1", Deposited{"account-1", 10})
	waitFor(t, r, res.Position)
	stop()
	if diff := cmp.Diff(map[string]int{"account-1": 16}, db.Rows("one", 1)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	cp, _ := db.Load(t.Context(), projection.Key{Projection: "one", Version: 1})
	if cp != projection.AtRevision(3) {
		t.Errorf("checkpoint = %v; want stream:3", cp)
	}
	// A restart resumes after revision 3.
	more := appendTyped(t, store, reg, "account-1", Deposited{"account-1", 100})
	r2, _ := projection.NewRunner(store, p, db)
	stop = start(t, r2)
	waitFor(t, r2, more.Position)
	stop()
	if got := db.Rows("one", 1)["account-1"]; got != 116 {
		t.Errorf("after restart: %d; want 116", got)
	}
}

func TestFrameworkStreamsLeftOut(t *testing.T) {
	reg := newRegistry(t)
	for _, include := range []bool{false, true} {
		store := newMemory(t)
		appendTyped(t, store, reg, "chronicle-snapshot-account-1", Deposited{"account-1", 1000})
		res := appendTyped(t, store, reg, "account-1", Deposited{"account-1", 1})
		b := newBalances()
		p := b.define(reg, "all", projection.Source{IncludeFramework: include})
		r, _ := projection.NewRunner(store, p, projection.AtLeastOnce(&projection.MemoryCheckpoints{}, 0, 0))
		stop := start(t, r)
		waitFor(t, r, res.Position)
		stop()
		want := 1
		if include {
			want = 1001
		}
		if bal, _ := b.snapshot(); bal["account-1"] != want {
			t.Errorf("IncludeFramework=%v: balance %d; want %d", include, bal["account-1"], want)
		}
	}
}

func TestCheckpointValues(t *testing.T) {
	for _, c := range []projection.Checkpoint{{}, projection.AtRevision(42), projection.At(eventstore.Position{Commit: 7, Prepare: 6})} {
		got, err := projection.ParseCheckpoint(c.String())
		if err != nil || got != c {
			t.Errorf("ParseCheckpoint(%q) = %v, %v", c.String(), got, err)
		}
	}
	for _, bad := range []string{"", "stream:", "stream:x", "all:C:1", "all:C:x/P:1", "all:C:1/P:y", "other"} {
		if _, err := projection.ParseCheckpoint(bad); err == nil {
			t.Errorf("ParseCheckpoint(%q) succeeded", bad)
		}
	}
	at := func(c uint64) projection.Checkpoint { return projection.At(eventstore.Position{Commit: c, Prepare: c}) }
	if at(1).Compare(at(2)) != -1 || at(2).Compare(at(1)) != 1 || at(1).Compare(at(1)) != 0 ||
		(projection.Checkpoint{}).Compare(at(1)) != -1 || at(1).Compare(projection.Checkpoint{}) != 1 ||
		projection.AtRevision(1).Compare(projection.AtRevision(2)) != -1 || projection.AtRevision(2).Compare(projection.AtRevision(1)) != 1 ||
		(projection.Checkpoint{}).Compare(projection.Checkpoint{}) != 0 || at(1).Compare(projection.AtRevision(0)) != -1 || projection.AtRevision(0).Compare(at(1)) != 1 {
		t.Error("Compare")
	}
	for k, want := range map[projection.CheckpointKind]string{projection.NoCheckpoint: "none", projection.AllCheckpoint: "all", projection.StreamCheckpoint: "stream", 9: "CheckpointKind(9)"} {
		if k.String() != want {
			t.Errorf("%d.String() = %q", k, k.String())
		}
	}
	if s := (projection.Checkpoint{Kind: 9}).String(); s != "CheckpointKind(9)" {
		t.Errorf("bad kind String = %q", s)
	}
	if s := (projection.Key{Projection: "p", Version: 2, Partition: 3}).String(); s != "p/v2/p3" {
		t.Errorf("Key.String = %q", s)
	}
	for p, want := range map[projection.Policy]string{projection.Park: "park", projection.Skip: "skip", projection.Stop: "stop", 9: "Policy(9)"} {
		if p.String() != want {
			t.Errorf("Policy %d = %q", p, p.String())
		}
	}
	he := &projection.HandlerError{Projection: "p", Stream: "s", Revision: 1, Type: "T", Err: errPoison}
	if !strings.Contains(he.Error(), "s@1 (T): poison") || !errors.Is(he, errPoison) {
		t.Errorf("HandlerError = %q", he.Error())
	}
}

// TestStopFinishesBatchInHand: canceling Run while a handler runs lets the
// batch commit, and Run returns nil.
func TestStopFinishesBatchInHand(t *testing.T) {
	store := newMemory(t)
	reg := newRegistry(t)
	db := newMemDB()
	entered := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	p := ledger(reg, "ledger", func(h *ledgerHooks) {
		h.before = func(e eventstore.RecordedEvent) error {
			once.Do(func() {
				close(entered)
				<-release
			})
			return nil
		}
	})
	appendTyped(t, store, reg, "account-1", Deposited{"account-1", 1}, Deposited{"account-1", 2})
	r, _ := projection.NewRunner(store, p, db)
	stop := start(t, r)
	<-entered
	done := make(chan error, 1)
	go func() { done <- stop() }()
	time.Sleep(10 * time.Millisecond)
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The batch in hand (the first event, or both if they came in one
	// batch) committed with its checkpoint.
	got := balancesOf(db)["balance:account-1"]
	cp, _ := db.Load(t.Context(), projection.Key{Projection: "ledger", Version: 1})
	if want := map[int]uint64{1: 1, 3: 2}[got]; want == 0 || cp.Position.Commit != want {
		t.Errorf("balance = %d with checkpoint %v; want the batch in hand committed with its checkpoint", got, cp)
	}
}

func TestPartitionCountErrorMessages(t *testing.T) {
	for _, c := range []struct {
		err  *projection.PartitionCountError
		want string
	}{
		{&projection.PartitionCountError{Projection: "p", Version: 2, Stored: 4, Requested: 2}, `projection "p" version 2 runs with 4 partition(s), not 2; bump the version to change the count`},
		{&projection.PartitionCountError{Projection: "p", Version: 2, Stored: 4, Partition: 7}, `projection "p" version 2 runs with 4 partition(s), which have no partition 7; bump the version to change the count`},
	} {
		if got := c.err.Error(); got != c.want || !errors.Is(c.err, projection.ErrPartitionCount) {
			t.Errorf("Error() = %q; want %q, matching ErrPartitionCount", got, c.want)
		}
	}
}
