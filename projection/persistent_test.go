package projection_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/schema"
)

// capable is a store that claims the persistent-subscription capability,
// for the checks NewRunner makes without calling it.
type capable struct {
	eventstore.Store
	eventstore.PersistentSubscriptions
}

// plainTarget is a Target that is not a Transactor.
type plainTarget struct {
	projection.Target[projection.NoTx]
}

func TestPersistentGroupDefinitionErrors(t *testing.T) {
	reg := newRegistry(t)
	store := newMemory(t)
	withCap := capable{Store: store}
	without := struct{ eventstore.Store }{store} // hides the capability
	good := newBalances().define(reg, "shared", projection.AllStreams())
	target := projection.AtLeastOnce(&projection.MemoryCheckpoints{}, 0, 0)
	set := eventstore.DefaultPersistentSettings()
	filtered := set
	filtered.Filter = eventstore.StreamPrefixFilter("account-")
	badSettings := set
	badSettings.ReadBatchSize = 0
	fromPos := set
	fromPos.From = eventstore.FromPosition(eventstore.Position{Commit: 1, Prepare: 1})
	streamProj := newBalances().define(reg, "one", projection.Stream("account-1"))
	cases := []struct {
		name   string
		store  eventstore.Store
		p      *projection.Projection[projection.NoTx]
		target projection.Target[projection.NoTx]
		opts   []projection.Option
	}{
		{"store without the capability", without, good, target, []projection.Option{projection.WithPersistentGroup("g", set)}},
		{"target without Transact", withCap, good, plainTarget{target}, []projection.Option{projection.WithPersistentGroup("g", set)}},
		{"empty group", withCap, good, target, []projection.Option{projection.WithPersistentGroup("", set)}},
		{"group with a control character", withCap, good, target, []projection.Option{projection.WithPersistentGroup("a\x01", set)}},
		{"workers", withCap, good, target, []projection.Option{projection.WithPersistentGroup("g", set), projection.WithWorkers(2)}},
		{"partition key", withCap, good, target, []projection.Option{projection.WithPersistentGroup("g", set),
			projection.WithPartitionKey(func(*eventstore.RecordedEvent) string { return "" })}},
		{"settings filter", withCap, good, target, []projection.Option{projection.WithPersistentGroup("g", filtered)}},
		{"bad settings", withCap, good, target, []projection.Option{projection.WithPersistentGroup("g", badSettings)}},
		{"zero settings", withCap, good, target, []projection.Option{projection.WithPersistentGroup("g", eventstore.PersistentSettings{})}},
		{"position on a stream group", withCap, streamProj, target, []projection.Option{projection.WithPersistentGroup("g", fromPos)}},
		{"empty consumer name", withCap, good, target, []projection.Option{projection.WithPersistentGroup("g", set), projection.WithConsumerName("")}},
	}
	for _, c := range cases {
		_, err := projection.NewRunner(c.store, c.p, c.target, c.opts...)
		if !errors.Is(err, projection.ErrInvalidProjection) {
			t.Errorf("%s: NewRunner = %v; want ErrInvalidProjection", c.name, err)
		} else {
			t.Logf("%s: %v", c.name, err)
		}
	}
	if n := len(allEvents(t, store)); n != 0 {
		t.Errorf("rejected definitions wrote %d events", n)
	}

	// What does not apply in the mode fails at once.
	r, err := projection.NewRunner(withCap, good, target, projection.WithPersistentGroup("g", set), projection.WithConsumerName("c1"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.WaitFor(ctx, eventstore.Position{Commit: 1, Prepare: 1}); !errors.Is(err, projection.ErrInvalidProjection) {
		t.Errorf("WaitFor = %v; want ErrInvalidProjection", err)
	}
	if err := r.WaitCaughtUp(ctx); !errors.Is(err, projection.ErrInvalidProjection) {
		t.Errorf("WaitCaughtUp = %v; want ErrInvalidProjection", err)
	}
}

func TestTransactorKeyChecks(t *testing.T) {
	target := projection.AtLeastOnce(&projection.MemoryCheckpoints{}, 0, 0)
	called := 0
	apply := func(context.Context, projection.NoTx) error { called++; return nil }
	for _, key := range []projection.Key{{}, {Projection: "a"}, {Projection: "a", Version: 1, Partition: -1}} {
		if err := target.Transact(context.Background(), key, apply); !errors.Is(err, projection.ErrInvalidCheckpoint) {
			t.Errorf("Transact(%v) = %v; want ErrInvalidCheckpoint", key, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := target.Transact(ctx, projection.Key{Projection: "a", Version: 1}, apply); !errors.Is(err, context.Canceled) {
		t.Errorf("Transact(canceled) = %v", err)
	}
	if err := target.Transact(context.Background(), projection.Key{Projection: "a", Version: 1}, apply); err != nil || called != 1 {
		t.Errorf("Transact = %v, applied %d times", err, called)
	}
}

// groupSettings are settings for tests: short timeouts, few retries.
func groupSettings(retries int) eventstore.PersistentSettings {
	s := eventstore.DefaultPersistentSettings()
	s.MaxRetryCount = retries
	s.MessageTimeout = 0
	s.CheckpointAfter = 10 * time.Millisecond
	s.MinCheckpointCount = 1
	return s
}

// sharedRunner is one instance of a projection on a persistent group, with
// its own in-memory model.
func sharedRunner(t *testing.T, store eventstore.Store, reg *schema.Registry, name string, set eventstore.PersistentSettings, opts ...projection.Option) (*projection.Runner[projection.NoTx], *balances) {
	t.Helper()
	b := newBalances()
	p := b.define(reg, "shared", projection.AllStreams())
	opts = append([]projection.Option{projection.WithPersistentGroup("workers", set), projection.WithConsumerName(name),
		projection.WithResubscribe(time.Millisecond, 20*time.Millisecond)}, opts...)
	r, err := projection.NewRunner(store, p, projection.AtLeastOnce(&projection.MemoryCheckpoints{}, 0, 0), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return r, b
}

var workersGroup = eventstore.PersistentGroupOf(eventstore.AllStream, "workers")

// waitConsumers waits until the group has n consumers connected.
func waitConsumers(t *testing.T, ps eventstore.PersistentSubscriptions, g eventstore.PersistentGroup, n int) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d consumers on %s", n, g), func() bool {
		info, err := ps.GetPersistentSubscriptionInfo(context.Background(), g)
		return err == nil && len(info.Connections) == n
	})
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// deposits appends n deposits of 1 over 10 accounts and returns their IDs.
func deposits(t *testing.T, store eventstore.Store, reg *schema.Registry, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		appendTyped(t, store, reg, account(i%10), Deposited{Account: account(i % 10), Amount: 1})
	}
	for _, e := range allEvents(t, store) {
		if e.Type == "Deposited" {
			ids = append(ids, e.ID.String())
		}
	}
	if len(ids) < n {
		t.Fatalf("appended %d deposits, found %d", n, len(ids))
	}
	return ids
}

// union adds up the models' applied counts.
func union(models ...*balances) map[string]int {
	out := make(map[string]int)
	for _, m := range models {
		_, applied := m.snapshot()
		for id, n := range applied {
			out[id] += n
		}
	}
	return out
}

func TestPersistentGroupSharesTheEvents(t *testing.T) {
	reg := newRegistry(t)
	store := newMemory(t)
	set := groupSettings(3)
	r1, b1 := sharedRunner(t, store, reg, "one", set, projection.WithBatchSize(8))
	r2, b2 := sharedRunner(t, store, reg, "two", set, projection.WithBatchSize(8))
	stop1, stop2 := start(t, r1), start(t, r2)
	waitConsumers(t, store, workersGroup, 2)
	const n = 400
	ids := deposits(t, store, reg, n)
	eventually(t, "every deposit handled", func() bool { return len(union(b1, b2)) == n })
	if err := errors.Join(stop1(), stop2()); err != nil {
		t.Fatal(err)
	}
	all := union(b1, b2)
	for _, id := range ids {
		if all[id] != 1 {
			t.Errorf("event %s handled %d times; want exactly once with nothing failing", id, all[id])
		}
	}
	_, a1 := b1.snapshot()
	_, a2 := b2.snapshot()
	if len(a1) == 0 || len(a2) == 0 {
		t.Errorf("instance one handled %d, two %d: the group should share the events", len(a1), len(a2))
	}
	s1, s2 := r1.State(), r2.State()
	if s1.Handled+s2.Handled != n || !s1.Checkpoint.IsZero() || !s1.Live {
		t.Errorf("states: %+v / %+v", s1, s2)
	}
	t.Logf("one handled %d, two %d", len(a1), len(a2))
	// The group's checkpoint, not the runner's, moved.
	eventually(t, "the group checkpointed", func() bool {
		info, err := store.GetPersistentSubscriptionInfo(context.Background(), workersGroup)
		return err == nil && !info.LastCheckpointed.IsStart()
	})
}

func TestPersistentGroupSurvivesAnInstanceClosedMidway(t *testing.T) {
	reg := newRegistry(t)
	store := newMemory(t)
	set := groupSettings(3)
	r1, b1 := sharedRunner(t, store, reg, "one", set, projection.WithBatchSize(4))
	r2, b2 := sharedRunner(t, store, reg, "two", set, projection.WithBatchSize(4))
	// Instance one slows down, so that it holds events in flight when it
	// is closed.
	var mu sync.Mutex
	seen := 0
	p1slow := make(chan struct{})
	b1.before = func() {
		mu.Lock()
		seen++
		k := seen
		mu.Unlock()
		if k == 20 {
			close(p1slow)
		}
		if k >= 20 {
			time.Sleep(time.Millisecond)
		}
	}
	stop1, stop2 := start(t, r1), start(t, r2)
	waitConsumers(t, store, workersGroup, 2)
	const n = 300
	ids := deposits(t, store, reg, n)
	<-p1slow
	if err := stop1(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "every deposit handled at least once", func() bool { return len(union(b1, b2)) == n })
	if err := stop2(); err != nil {
		t.Fatal(err)
	}
	all := union(b1, b2)
	for _, id := range ids {
		if all[id] < 1 {
			t.Errorf("event %s never handled", id)
		}
	}
	_, a2 := b2.snapshot()
	if len(a2) == 0 {
		t.Error("instance two handled nothing")
	}
}

func TestPersistentGroupRedeliversWhatAHungInstanceHolds(t *testing.T) {
	reg := newRegistry(t)
	store := newMemory(t)
	set := groupSettings(5)
	set.MessageTimeout = 100 * time.Millisecond
	r1, b1 := sharedRunner(t, store, reg, "one", set, projection.WithBatchSize(4))
	r2, b2 := sharedRunner(t, store, reg, "two", set, projection.WithBatchSize(4))
	release := make(chan struct{})
	var once sync.Once
	b1.before = func() { once.Do(func() { <-release }) } // hangs on its first event
	stop1, stop2 := start(t, r1), start(t, r2)
	defer func() {
		close(release)
		if err := errors.Join(stop1(), stop2()); err != nil {
			t.Error(err)
		}
	}()
	waitConsumers(t, store, workersGroup, 2)
	const n = 60
	ids := deposits(t, store, reg, n)
	// Instance one holds up to 4 events and handles none until released:
	// their message timeout hands them to instance two.
	eventually(t, "instance two handled every deposit", func() bool {
		_, a2 := b2.snapshot()
		return len(a2) == n
	})
	all := union(b1, b2)
	for _, id := range ids {
		if all[id] < 1 {
			t.Errorf("event %s never handled", id)
		}
	}
}

func TestPersistentGroupFailuresRetryThenPark(t *testing.T) {
	reg := newRegistry(t)
	store := newMemory(t)
	// Batches of one: the deposit is not applied again when the batch it
	// would share with the failing withdrawal fails (a NoTx model has no
	// rollback).
	r, b := sharedRunner(t, store, reg, "one", groupSettings(2), projection.WithRetry(noRetry{}), projection.WithBatchSize(1))
	var mu sync.Mutex
	attempts := map[string]int{}
	broken := true
	b.fail = func(ev projection.Event[Withdrawn]) error {
		mu.Lock()
		defer mu.Unlock()
		attempts[ev.Record.ID.String()]++
		if broken && ev.Data.Amount == 13 {
			return errors.New("unlucky")
		}
		return nil
	}
	stop := start(t, r)
	appendTyped(t, store, reg, account(1), Deposited{Account: account(1), Amount: 100}, Withdrawn{Account: account(1), Amount: 13},
		Withdrawn{Account: account(1), Amount: 1})
	eventually(t, "the failing event parked", func() bool { return r.State().Parked == 1 })
	eventually(t, "the others handled", func() bool { return r.State().Handled == 2 })
	mu.Lock()
	for id, n := range attempts {
		if n != 1 && n != 3 {
			t.Errorf("event %s attempted %d times; want 1, or 3 (first delivery and 2 retries) for the failing one", id, n)
		}
	}
	mu.Unlock()
	// The group writes the parked message after the nack returned.
	eventually(t, "one parked message in the group", func() bool {
		info, err := store.GetPersistentSubscriptionInfo(context.Background(), workersGroup)
		return err == nil && info.ParkedMessageCount == 1
	})
	// Fixed: replay the group's parked message through the runner.
	mu.Lock()
	broken = false
	mu.Unlock()
	res, err := r.ReplayParked(context.Background())
	if err != nil || res.Replayed != 1 {
		t.Fatalf("ReplayParked = %+v, %v", res, err)
	}
	eventually(t, "the parked event handled", func() bool { return r.State().Handled == 3 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	bal, _ := b.snapshot()
	if bal[account(1)] != 86 {
		t.Errorf("balance %d, want 86", bal[account(1)])
	}
}

func TestPersistentGroupFailurePolicies(t *testing.T) {
	for _, policy := range []projection.Policy{projection.Skip, projection.Stop} {
		t.Run(policy.String(), func(t *testing.T) {
			reg := newRegistry(t)
			store := newMemory(t)
			r, b := sharedRunner(t, store, reg, "one", groupSettings(1), projection.WithRetry(noRetry{}), projection.OnFailure(policy))
			b.fail = func(ev projection.Event[Withdrawn]) error { return errors.New("always") }
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- r.Run(ctx) }()
			appendTyped(t, store, reg, account(1), Withdrawn{Account: account(1), Amount: 5}, Deposited{Account: account(1), Amount: 7})
			if policy == projection.Stop {
				err := <-done
				if !errors.Is(err, projection.ErrStopped) {
					t.Fatalf("Run = %v; want ErrStopped", err)
				}
				var he *projection.HandlerError
				if !errors.As(err, &he) || he.Type != "Withdrawn" {
					t.Errorf("error %v names no Withdrawn event", err)
				}
				return
			}
			eventually(t, "skipped and handled", func() bool { st := r.State(); return st.Skipped == 1 && st.Handled == 1 })
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			info, err := store.GetPersistentSubscriptionInfo(context.Background(), workersGroup)
			if err != nil || info.ParkedMessageCount != 0 {
				t.Errorf("info %+v, %v: a skipped event is not parked", info, err)
			}
		})
	}
}

func TestPersistentGroupUndecodable(t *testing.T) {
	reg := newRegistry(t)
	store := newMemory(t)
	r, _ := sharedRunner(t, store, reg, "one", groupSettings(5))
	stop := start(t, r)
	if _, err := store.Append(context.Background(), account(1), eventstore.Any,
		eventstore.EventData{Type: "Deposited", Data: []byte(`{"account": 5}`)}); err != nil {
		t.Fatal(err)
	}
	appendTyped(t, store, reg, account(1), Deposited{Account: account(1), Amount: 7})
	eventually(t, "parked at once and the next handled", func() bool { st := r.State(); return st.Parked == 1 && st.Handled == 1 })
	eventually(t, "one parked message in the group", func() bool {
		info, err := store.GetPersistentSubscriptionInfo(context.Background(), workersGroup)
		return err == nil && info.ParkedMessageCount == 1
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestPersistentGroupReconnectsAfterTheGroupIsDeleted(t *testing.T) {
	reg := newRegistry(t)
	store := newMemory(t)
	set := groupSettings(3)
	// The group exists already, with its own settings: the runner joins it.
	set.ConsumerStrategy = eventstore.DispatchToSingle
	if err := store.CreatePersistentSubscription(context.Background(), workersGroup, set); err != nil {
		t.Fatal(err)
	}
	r, b := sharedRunner(t, store, reg, "one", groupSettings(3))
	stop := start(t, r)
	waitConsumers(t, store, workersGroup, 1)
	info, err := store.GetPersistentSubscriptionInfo(context.Background(), workersGroup)
	if err != nil || info.Settings.ConsumerStrategy != eventstore.DispatchToSingle {
		t.Fatalf("info %+v, %v: the runner should join the existing group", info, err)
	}
	appendTyped(t, store, reg, account(1), Deposited{Account: account(1), Amount: 1})
	eventually(t, "handled", func() bool { return r.State().Handled == 1 })
	if err := store.DeletePersistentSubscription(context.Background(), workersGroup); err != nil {
		t.Fatal(err)
	}
	// Dropped, it reconnects and creates the group again (from the start:
	// the first deposit comes again, at least once).
	eventually(t, "reconnected", func() bool { return r.State().Resubscriptions >= 1 })
	waitConsumers(t, store, workersGroup, 1)
	appendTyped(t, store, reg, account(1), Deposited{Account: account(1), Amount: 1})
	eventually(t, "handled after the drop", func() bool { _, a := b.snapshot(); return len(a) == 2 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if st := r.State(); st.LastError == nil || !errors.Is(st.LastError, eventstore.ErrPersistentSubscriptionDropped) {
		t.Errorf("LastError = %v; want the drop", st.LastError)
	}
}

func TestPersistentGroupOfAStream(t *testing.T) {
	reg := newRegistry(t)
	store := newMemory(t)
	b := newBalances()
	p := b.define(reg, "one_account", projection.Stream(account(1)))
	r, err := projection.NewRunner(store, p, projection.AtLeastOnce(&projection.MemoryCheckpoints{}, 0, 0),
		projection.WithPersistentGroup("g", groupSettings(3)))
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, r)
	appendTyped(t, store, reg, account(2), Deposited{Account: account(2), Amount: 1})
	appendTyped(t, store, reg, account(1), Deposited{Account: account(1), Amount: 5}, Noted{Text: "not handled"}, Withdrawn{Account: account(1), Amount: 2})
	eventually(t, "the stream handled", func() bool { st := r.State(); return st.Handled == 2 && st.Examined == 3 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	bal, _ := b.snapshot()
	if bal[account(1)] != 3 || bal[account(2)] != 0 {
		t.Errorf("balances %v", bal)
	}
	if _, err := store.GetPersistentSubscriptionInfo(context.Background(), eventstore.PersistentGroupOf(account(1), "g")); err != nil {
		t.Errorf("the stream group: %v", err)
	}
}

func TestPersistentGroupUndecodablePolicies(t *testing.T) {
	for _, policy := range []projection.Policy{projection.Skip, projection.Stop} {
		t.Run(policy.String(), func(t *testing.T) {
			reg := newRegistry(t)
			store := newMemory(t)
			r, _ := sharedRunner(t, store, reg, "one", groupSettings(5), projection.OnUndecodable(policy))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- r.Run(ctx) }()
			if _, err := store.Append(ctx, account(1), eventstore.Any, eventstore.EventData{Type: "Deposited", Data: []byte(`{"account": 5}`)}); err != nil {
				t.Fatal(err)
			}
			appendTyped(t, store, reg, account(1), Deposited{Account: account(1), Amount: 7})
			if policy == projection.Stop {
				if err := <-done; !errors.Is(err, projection.ErrStopped) {
					t.Fatalf("Run = %v; want ErrStopped", err)
				}
				return
			}
			eventually(t, "skipped and handled", func() bool { st := r.State(); return st.Skipped == 1 && st.Handled == 1 })
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// flakyTarget fails its first transactions as a lost database would.
type flakyTarget struct {
	*projection.Deferred
	mu    sync.Mutex
	fails int
}

var errDatabaseDown = errors.New("database down")

func (f *flakyTarget) Transact(ctx context.Context, key projection.Key, apply func(context.Context, projection.NoTx) error) error {
	f.mu.Lock()
	fail := f.fails > 0
	f.fails--
	f.mu.Unlock()
	if fail {
		return errDatabaseDown
	}
	return f.Deferred.Transact(ctx, key, apply)
}

func TestPersistentGroupTargetFailureReconnects(t *testing.T) {
	reg := newRegistry(t)
	store := newMemory(t)
	b := newBalances()
	p := b.define(reg, "shared", projection.AllStreams())
	target := &flakyTarget{Deferred: projection.AtLeastOnce(&projection.MemoryCheckpoints{}, 0, 0), fails: 2}
	r, err := projection.NewRunner(store, p, target, projection.WithPersistentGroup("workers", groupSettings(5)),
		projection.WithResubscribe(time.Millisecond, 5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, r)
	appendTyped(t, store, reg, account(1), Deposited{Account: account(1), Amount: 7}, Deposited{Account: account(1), Amount: 1})
	eventually(t, "handled after the target recovered", func() bool { _, a := b.snapshot(); return len(a) == 2 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	st := r.State()
	if st.Resubscriptions < 1 || !errors.Is(st.LastError, errDatabaseDown) || st.Parked != 0 {
		t.Errorf("state %+v: a target failure is not the handler's; the runner reconnects and parks nothing", st)
	}
}

// rebuildTarget is a Rebuilder with a fixed live version.
type rebuildTarget struct {
	*projection.Deferred
	live     int
	promoted int
}

func (r *rebuildTarget) Live(context.Context, string) (int, error) { return r.live, nil }
func (r *rebuildTarget) Promote(_ context.Context, _ string, v int) error {
	r.promoted = v
	r.live = v
	return nil
}

func TestPersistentGroupVersions(t *testing.T) {
	reg := newRegistry(t)
	store := newMemory(t)
	for _, c := range []struct {
		live, version int
		want          error
	}{{0, 1, nil}, {1, 2, projection.ErrInvalidProjection}, {3, 2, projection.ErrRetired}} {
		target := &rebuildTarget{Deferred: projection.AtLeastOnce(&projection.MemoryCheckpoints{}, 0, 0), live: c.live}
		p := newBalances().define(reg, "versioned", projection.AllStreams()).Version(c.version)
		r, err := projection.NewRunner(store, p, target, projection.WithPersistentGroup("g", groupSettings(1)))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err = r.Run(ctx)
		cancel()
		if c.want == nil {
			if err != nil || target.promoted != c.version {
				t.Errorf("live %d, version %d: Run = %v, promoted %d", c.live, c.version, err, target.promoted)
			}
		} else if !errors.Is(err, c.want) {
			t.Errorf("live %d, version %d: Run = %v; want %v", c.live, c.version, err, c.want)
		}
	}
}

func TestPersistentGroupReplayOfAMissingGroup(t *testing.T) {
	reg := newRegistry(t)
	store := newMemory(t)
	r, _ := sharedRunner(t, store, reg, "one", groupSettings(1))
	if _, err := r.ReplayParked(context.Background()); !errors.Is(err, eventstore.ErrPersistentSubscriptionNotFound) {
		t.Errorf("ReplayParked = %v; want ErrPersistentSubscriptionNotFound", err)
	}
}
