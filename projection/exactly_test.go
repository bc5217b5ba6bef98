package projection_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
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

// ledger defines a projection into memDB: a balance row per account and a
// row per applied event, whose count must end at exactly 1.
func ledger(reg *schema.Registry, name string, opts ...func(*ledgerHooks)) *projection.Projection[*memTx] {
	h := &ledgerHooks{}
	for _, o := range opts {
		o(h)
	}
	p := projection.New[*memTx](name, projection.Category("account"), reg)
	projection.On(p, func(ctx context.Context, tx *memTx, ev projection.Event[Deposited]) error {
		if h.before != nil {
			if err := h.before(ev.Record); err != nil {
				return err
			}
		}
		tx.Add("balance:"+ev.Data.Account, ev.Data.Amount)
		tx.Add("event:"+ev.Record.ID.String(), 1)
		return nil
	})
	projection.On(p, func(ctx context.Context, tx *memTx, ev projection.Event[Withdrawn]) error {
		if h.before != nil {
			if err := h.before(ev.Record); err != nil {
				return err
			}
		}
		tx.Add("balance:"+ev.Data.Account, -ev.Data.Amount)
		tx.Add("event:"+ev.Record.ID.String(), 1)
		return nil
	})
	return p
}

type ledgerHooks struct {
	before func(eventstore.RecordedEvent) error
}

// fold computes what ledger must hold after the events of the store's
// account streams.
func fold(t testing.TB, s eventstore.Store, reg *schema.Registry) map[string]int {
	t.Helper()
	want := make(map[string]int)
	for e, err := range s.ReadAll(context.Background(), eventstore.ReadAllOptions{Filter: eventstore.StreamPrefixFilter("account-")}) {
		if err != nil {
			t.Fatal(err)
		}
		ev, err := reg.Decode(e)
		if err != nil {
			continue
		}
		switch d := ev.Data.(type) {
		case Deposited:
			want["balance:"+d.Account] += d.Amount
		case Withdrawn:
			want["balance:"+d.Account] -= d.Amount
		default:
			continue
		}
		want["event:"+e.ID.String()] = 1
	}
	for k, v := range want {
		if v == 0 && strings.HasPrefix(k, "balance:") {
			delete(want, k)
		}
	}
	return want
}

func modelOf(db *memDB, name string, version int) map[string]int {
	got := db.Rows(name, version)
	for k, v := range got {
		if v == 0 && strings.HasPrefix(k, "balance:") {
			delete(got, k)
		}
	}
	return got
}

func appendRandom(t testing.TB, s eventstore.Store, reg *schema.Registry, rng *rand.Rand, n, streams int) eventstore.Position {
	t.Helper()
	var last eventstore.Position
	for range n {
		a := account(rng.IntN(streams))
		var ev any = Deposited{a, 1 + rng.IntN(100)}
		if rng.IntN(3) == 0 {
			ev = Withdrawn{a, 1 + rng.IntN(50)}
		}
		last = appendTyped(t, s, reg, a, ev).Position
	}
	return last
}

// TestExactlyOnceAcrossRestarts stops and restarts runners at random moments
// while events keep coming; the transactional target must end with every
// event applied exactly once.
func TestExactlyOnceAcrossRestarts(t *testing.T) {
	for _, workers := range []int{1, 4} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			store := newMemory(t)
			reg := newRegistry(t)
			db := newMemDB()
			rng := rand.New(rand.NewPCG(1, uint64(workers)))
			var last eventstore.Position
			for round := range 8 {
				last = appendRandom(t, store, reg, rng, 50+rng.IntN(100), 12)
				r, err := projection.NewRunner(store, ledger(reg, "ledger"), db,
					projection.WithBatchSize(1+rng.IntN(20)), projection.WithWorkers(workers))
				if err != nil {
					t.Fatal(err)
				}
				stop := start(t, r)
				more := appendRandom(t, store, reg, rng, rng.IntN(40), 12)
				if round%2 == 0 {
					// Stop at once, in the middle of catching up.
					time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
				} else if !more.IsZero() {
					waitFor(t, r, more)
				}
				if err := stop(); err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
			}
			r, err := projection.NewRunner(store, ledger(reg, "ledger"), db, projection.WithWorkers(workers))
			if err != nil {
				t.Fatal(err)
			}
			stop := start(t, r)
			waitFor(t, r, last)
			waitCaughtUp(t, r)
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(fold(t, store, reg), modelOf(db, "ledger", 1)); diff != "" {
				t.Fatalf("read model differs from the fold of the events (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPartitionsKeepOrder runs thousands of events through many workers
// whose handler sleeps randomly: each stream's events must arrive in order,
// each once, and the stored global checkpoint must never pass an event not
// yet handled.
func TestPartitionsKeepOrder(t *testing.T) {
	store := newMemory(t)
	reg := newRegistry(t)
	const streams, events = 40, 3000
	data := make(map[string][]eventstore.EventData)
	for i := range events {
		a := account(i % streams)
		d, err := reg.Encode(t.Context(), Deposited{a, 1 + i%7})
		if err != nil {
			t.Fatal(err)
		}
		data[a] = append(data[a], d)
	}
	// Interleave the streams in $all.
	var last eventstore.Position
	for i := 0; i < events/streams; i++ {
		for s := range streams {
			a := account(s)
			res, err := store.Append(t.Context(), a, eventstore.Any, data[a][i])
			if err != nil {
				t.Fatal(err)
			}
			last = res.Position
		}
	}
	var mu sync.Mutex
	seen := make(map[string][]uint64)
	cps := &projection.MemoryCheckpoints{}
	var checkpointViolations []string
	p := projection.New[projection.NoTx]("ordered", projection.Category("account"), reg)
	projection.Handle(p, func(ctx context.Context, ev projection.Event[Deposited]) error {
		time.Sleep(time.Duration(rand.IntN(100)) * time.Microsecond)
		saved, _ := cps.Load(ctx, projection.Key{Projection: "ordered", Version: 1})
		mu.Lock()
		defer mu.Unlock()
		if saved.Kind == projection.AllCheckpoint && saved.Position.Compare(ev.Record.Position) >= 0 {
			checkpointViolations = append(checkpointViolations, fmt.Sprintf("%s@%d handled after the global checkpoint %v passed it", ev.Record.Stream, ev.Record.Revision, saved))
		}
		seen[ev.Record.Stream] = append(seen[ev.Record.Stream], ev.Record.Revision)
		return nil
	})
	r, err := projection.NewRunner(store, p, projection.AtLeastOnce(cps, 10, time.Millisecond),
		projection.WithWorkers(8), projection.WithBatchSize(32))
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, r)
	waitFor(t, r, last)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, v := range checkpointViolations {
		t.Error(v)
	}
	for s := range streams {
		revs := seen[account(s)]
		if len(revs) != events/streams {
			t.Errorf("%s: %d events handled; want %d", account(s), len(revs), events/streams)
			continue
		}
		for i, rev := range revs {
			if rev != uint64(i) {
				t.Errorf("%s: handled revisions %v; want 0..%d in order", account(s), revs, len(revs)-1)
				break
			}
		}
	}
	if st := r.State(); st.Handled != events || st.Checkpoint.Position != last {
		t.Errorf("state = %+v; want %d handled up to %v", st, events, last)
	}
	saved, _ := cps.Load(t.Context(), projection.Key{Projection: "ordered", Version: 1})
	if saved.Position != last {
		t.Errorf("saved global checkpoint %v; want %v after a clean stop", saved, last)
	}
}

// TestTargetOutage: commits that fail in the target (a lost connection) are
// not handler failures: nothing is parked, the runner resubscribes from its
// last commit, and the model ends exactly once.
func TestTargetOutage(t *testing.T) {
	for _, workers := range []int{1, 4} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			store := newMemory(t)
			reg := newRegistry(t)
			db := newMemDB()
			var failures atomic.Int64
			failures.Store(5)
			db.failCommit = func() error {
				if failures.Add(-1) >= 0 {
					return errors.New("connection lost")
				}
				return nil
			}
			last := appendRandom(t, store, reg, newRand(9), 300, 10)
			r, err := projection.NewRunner(store, ledger(reg, "ledger"), db, projection.WithWorkers(workers),
				projection.WithBatchSize(16), projection.WithResubscribe(time.Millisecond, 2*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			stop := start(t, r)
			waitFor(t, r, last)
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			st := r.State()
			if st.Parked != 0 || st.Resubscriptions == 0 {
				t.Errorf("state = %+v; want no parked event and resubscriptions", st)
			}
			if diff := cmp.Diff(fold(t, store, reg), modelOf(db, "ledger", 1)); diff != "" {
				t.Fatalf("read model differs from the fold (-want +got):\n%s", diff)
			}
		})
	}
}
