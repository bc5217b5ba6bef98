package projection_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/resilience"
)

func fastRetry(t testing.TB, attempts int) projection.Option {
	t.Helper()
	r, err := resilience.NewRetry(resilience.RetryConfig{MaxAttempts: attempts, InitialDelay: time.Microsecond, MaxDelay: time.Microsecond})
	if err != nil {
		t.Fatal(err)
	}
	return projection.WithRetry(r)
}

var errPoison = errors.New("poison")

// TestPoisonEventParkedAndReplayed: a handler that keeps failing on one event
// parks it and the later events of its stream, while other streams flow;
// replaying after the fix resolves them in order.
func TestPoisonEventParkedAndReplayed(t *testing.T) {
	for _, workers := range []int{1, 3} {
		t.Run(map[int]string{1: "one worker", 3: "partitioned"}[workers], func(t *testing.T) {
			store := newMemory(t)
			reg := newRegistry(t)
			db := newMemDB()
			var broken atomic.Bool
			broken.Store(true)
			var calls atomic.Int64
			p := ledger(reg, "ledger", func(h *ledgerHooks) {
				h.before = func(e eventstore.RecordedEvent) error {
					if broken.Load() && e.Stream == "account-1" && e.Revision == 1 {
						calls.Add(1)
						return errPoison
					}
					return nil
				}
			})
			appendTyped(t, store, reg, "account-1", Deposited{"account-1", 10}, Withdrawn{"account-1", 4}, Deposited{"account-1", 1})
			appendTyped(t, store, reg, "account-2", Deposited{"account-2", 7})
			r, err := projection.NewRunner(store, p, db, fastRetry(t, 3), projection.WithWorkers(workers), projection.WithBatchSize(2))
			if err != nil {
				t.Fatal(err)
			}
			stop := start(t, r)
			waitCaughtUp(t, r)
			last := appendTyped(t, store, reg, "account-1", Deposited{"account-1", 100})
			waitFor(t, r, last.Position)
			// Once in its batch, then 3 times alone under the retry policy.
			if got := calls.Load(); got != 4 {
				t.Errorf("the failing handler ran %d times; want 4 (its batch, then the retry policy's 3 attempts)", got)
			}
			parked, err := projection.ListParked(t.Context(), store, "ledger")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, pe := range parked {
				got = append(got, pe.Stream+"@"+string(rune('0'+pe.Revision))+" "+pe.Reason)
			}
			want := []string{"account-1@1 failed", "account-1@2 blocked", "account-1@3 blocked"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("parked events (-want +got):\n%s", diff)
			}
			if parked[0].Attempts != 3 || parked[0].Error == "" || parked[0].Key != "account-1" {
				t.Errorf("first parked event = %+v", parked[0])
			}
			if st := r.State(); st.Parked != 3 || st.Blocked != 1 {
				t.Errorf("state = %+v; want 3 parked, 1 blocked key", st)
			}
			if diff := cmp.Diff(map[string]int{"balance:account-1": 10, "balance:account-2": 7}, balancesOf(db)); diff != "" {
				t.Errorf("balances while parked (-want +got):\n%s", diff)
			}

			// Replaying while still broken fails and keeps them parked.
			res, err := r.ReplayParked(t.Context())
			if err != nil || res.Failed != 1 || res.Replayed != 0 {
				t.Fatalf("ReplayParked while broken = %+v, %v; want 1 failed and the rest waiting", res, err)
			}
			if parked, _ := projection.ListParked(t.Context(), store, "ledger"); len(parked) != 3 || parked[0].ReplayError == "" {
				t.Fatalf("after a failed replay: %+v", parked)
			}

			// Fixed: a replay request from another process resolves them in order.
			broken.Store(false)
			if err := projection.RequestReplay(t.Context(), store, "ledger"); err != nil {
				t.Fatal(err)
			}
			waitNoParked(t, store, "ledger", "parked events not replayed after a request")
			if diff := cmp.Diff(map[string]int{"balance:account-1": 107, "balance:account-2": 7}, balancesOf(db)); diff != "" {
				t.Errorf("balances after replay (-want +got):\n%s", diff)
			}
			if st := r.State(); st.Blocked != 0 {
				t.Errorf("still %d blocked keys after replay", st.Blocked)
			}
			// The key is unblocked: new events flow again.
			next := appendTyped(t, store, reg, "account-1", Withdrawn{"account-1", 7})
			waitFor(t, r, next.Position)
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(fold(t, store, reg), modelOf(db, "ledger", 1)); diff != "" {
				t.Fatalf("read model differs from the fold (-want +got):\n%s", diff)
			}
		})
	}
}

func balancesOf(db *memDB) map[string]int {
	out := make(map[string]int)
	for k, v := range db.Rows("ledger", 1) {
		if len(k) > 8 && k[:8] == "balance:" && v != 0 {
			out[k] = v
		}
	}
	return out
}

// TestParkedSurviveRestart: blocked keys come back from the parked stream.
func TestParkedSurviveRestart(t *testing.T) {
	store := newMemory(t)
	reg := newRegistry(t)
	db := newMemDB()
	fail := func(h *ledgerHooks) {
		h.before = func(e eventstore.RecordedEvent) error {
			if e.Stream == "account-1" && e.Revision == 0 {
				return errPoison
			}
			return nil
		}
	}
	appendTyped(t, store, reg, "account-1", Deposited{"account-1", 1})
	r, _ := projection.NewRunner(store, ledger(reg, "ledger", fail), db, fastRetry(t, 1))
	stop := start(t, r)
	waitCaughtUp(t, r)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	next := appendTyped(t, store, reg, "account-1", Deposited{"account-1", 2})
	r2, _ := projection.NewRunner(store, ledger(reg, "ledger"), db)
	stop = start(t, r2)
	waitFor(t, r2, next.Position)
	stop()
	parked, _ := projection.ListParked(t.Context(), store, "ledger")
	if len(parked) != 2 || parked[1].Reason != projection.ReasonBlocked {
		t.Fatalf("after restart, parked = %+v; want the first failed and the second blocked", parked)
	}
}

// TestFailurePolicies: Skip counts and goes on; Stop ends Run with the event.
func TestFailurePolicies(t *testing.T) {
	fail := func(h *ledgerHooks) {
		h.before = func(e eventstore.RecordedEvent) error {
			if e.Revision == 1 {
				return errPoison
			}
			return nil
		}
	}
	t.Run("skip", func(t *testing.T) {
		store := newMemory(t)
		reg := newRegistry(t)
		db := newMemDB()
		res := appendTyped(t, store, reg, "account-1", Deposited{"account-1", 1}, Deposited{"account-1", 2}, Deposited{"account-1", 3})
		r, _ := projection.NewRunner(store, ledger(reg, "ledger", fail), db, fastRetry(t, 2), projection.OnFailure(projection.Skip))
		stop := start(t, r)
		waitFor(t, r, res.Position)
		stop()
		if st := r.State(); st.Skipped != 1 || st.Handled != 2 || st.Parked != 0 {
			t.Errorf("state = %+v; want 1 skipped, 2 handled", st)
		}
		if got := balancesOf(db)["balance:account-1"]; got != 4 {
			t.Errorf("balance = %d; want 4", got)
		}
	})
	t.Run("stop", func(t *testing.T) {
		store := newMemory(t)
		reg := newRegistry(t)
		db := newMemDB()
		appendTyped(t, store, reg, "account-1", Deposited{"account-1", 1}, Deposited{"account-1", 2}, Deposited{"account-1", 3})
		r, _ := projection.NewRunner(store, ledger(reg, "ledger", fail), db, fastRetry(t, 2), projection.OnFailure(projection.Stop))
		err := r.Run(t.Context())
		var he *projection.HandlerError
		if !errors.Is(err, projection.ErrStopped) || !errors.Is(err, errPoison) || !errors.As(err, &he) || he.Revision != 1 {
			t.Fatalf("Run = %v; want ErrStopped on account-1@1 wrapping the handler's error", err)
		}
		if got := balancesOf(db)["balance:account-1"]; got != 1 {
			t.Errorf("balance = %d; want 1 (the events before the failing one)", got)
		}
		cp, _ := db.Load(t.Context(), projection.Key{Projection: "ledger", Version: 1})
		if cp.Position.Commit != 1 {
			t.Errorf("checkpoint = %v; want the first event's, so the failing one is handled again at the next start", cp)
		}
	})
}

// TestUndecodableEvents: an event the registry cannot decode follows its
// policy, never a silent drop.
func TestUndecodableEvents(t *testing.T) {
	setup := func(t *testing.T) (eventstore.Store, eventstore.Position) {
		store := newMemory(t)
		res, err := store.Append(t.Context(), "account-1", eventstore.Any,
			eventstore.EventData{Type: "Deposited", Data: []byte(`{"account":"account-1","amount":5}`), Metadata: []byte(`{"schemaVersion":"9"}`)},
			eventstore.EventData{Type: "Deposited", Data: []byte(`{"account":"account-1","amount":"x"}`)},
			eventstore.EventData{Type: "Deposited", Data: []byte(`{"account":"account-1","amount":2}`)},
		)
		if err != nil {
			t.Fatal(err)
		}
		return store, res.Position
	}
	for _, c := range []struct {
		policy                  projection.Policy
		handled, skipped, parks uint64
	}{
		{projection.Park, 1, 0, 2},
		{projection.Skip, 1, 2, 0},
	} {
		t.Run(c.policy.String(), func(t *testing.T) {
			store, last := setup(t)
			reg := newRegistry(t)
			r, _ := projection.NewRunner(store, ledger(reg, "ledger"), newMemDB(), projection.OnUndecodable(c.policy))
			stop := start(t, r)
			waitFor(t, r, last)
			stop()
			if st := r.State(); st.Handled != c.handled || st.Skipped != c.skipped || st.Parked != c.parks {
				t.Errorf("state = %+v", st)
			}
			parked, _ := projection.ListParked(t.Context(), store, "ledger")
			if len(parked) != int(c.parks) || (c.parks > 0 && parked[0].Reason != projection.ReasonUndecodable) {
				t.Errorf("parked = %+v", parked)
			}
		})
	}
	t.Run("stop", func(t *testing.T) {
		store, _ := setup(t)
		reg := newRegistry(t)
		r, _ := projection.NewRunner(store, ledger(reg, "ledger"), newMemDB(), projection.OnUndecodable(projection.Stop))
		if err := r.Run(t.Context()); !errors.Is(err, projection.ErrStopped) {
			t.Fatalf("Run = %v; want ErrStopped", err)
		}
	})
}

// TestReplayParkedNotRunning: a replay asked of a stopped runner waits for
// its context.
func TestReplayParkedNotRunning(t *testing.T) {
	reg := newRegistry(t)
	r, _ := projection.NewRunner(newMemory(t), ledger(reg, "ledger"), newMemDB())
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if _, err := r.ReplayParked(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ReplayParked on a stopped runner = %v", err)
	}
	if err := projection.RequestReplay(t.Context(), newMemory(t), "bad name"); !errors.Is(err, projection.ErrInvalidProjection) {
		t.Errorf("RequestReplay(bad name) = %v", err)
	}
}

// TestParkedBelongToTheirVersion: a new version (a rebuild with fixed
// handlers) is not blocked by the events an older version parked.
func TestParkedBelongToTheirVersion(t *testing.T) {
	store := newMemory(t)
	reg := newRegistry(t)
	fail := func(h *ledgerHooks) {
		h.before = func(e eventstore.RecordedEvent) error {
			if e.Stream == "account-1" {
				return errPoison
			}
			return nil
		}
	}
	res := appendTyped(t, store, reg, "account-1", Deposited{"account-1", 1}, Deposited{"account-1", 2})
	v1, _ := projection.NewRunner(store, ledger(reg, "ledger", fail), newMemDB(), fastRetry(t, 1))
	stop := start(t, v1)
	waitFor(t, v1, res.Position)
	stop()
	if st := v1.State(); st.Parked != 2 {
		t.Fatalf("version 1 parked %d events; want 2", st.Parked)
	}
	db := newMemDB()
	v2, _ := projection.NewRunner(store, ledger(reg, "ledger").Version(2), db)
	stop = start(t, v2)
	waitFor(t, v2, res.Position)
	stop()
	if st := v2.State(); st.Parked != 0 || st.Blocked != 0 || st.Handled != 2 {
		t.Errorf("version 2 state %+v; want both events handled, none parked or blocked", st)
	}
	if all, _ := projection.ListParked(t.Context(), store, "ledger"); len(all) != 2 || all[0].Version != 1 {
		t.Errorf("ListParked = %+v; want version 1's two events", all)
	}
}

// TestReplayRequestedWhileStopped: a replay requested while no runner runs
// is carried out by the next one.
func TestReplayRequestedWhileStopped(t *testing.T) {
	store := newMemory(t)
	reg := newRegistry(t)
	db := newMemDB()
	fail := func(h *ledgerHooks) {
		h.before = func(e eventstore.RecordedEvent) error {
			if e.Stream == "account-1" {
				return errPoison
			}
			return nil
		}
	}
	res := appendTyped(t, store, reg, "account-1", Deposited{"account-1", 5})
	r1, _ := projection.NewRunner(store, ledger(reg, "ledger", fail), db, fastRetry(t, 1))
	stop := start(t, r1)
	waitFor(t, r1, res.Position)
	stop()
	if err := projection.RequestReplay(t.Context(), store, "ledger"); err != nil {
		t.Fatal(err)
	}
	r2, _ := projection.NewRunner(store, ledger(reg, "ledger"), db)
	stop = start(t, r2)
	defer stop()
	waitNoParked(t, store, "ledger", "the request made while stopped was not carried out")
	if got := balancesOf(db)["balance:account-1"]; got != 5 {
		t.Errorf("balance = %d; want 5 after the replay", got)
	}
}

// waitNoParked waits until projection has no unresolved parked event, and
// fails with what when that takes more than 10 s.
func waitNoParked(t *testing.T, store eventstore.Store, projectionName, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		parked, err := projection.ListParked(t.Context(), store, projectionName)
		if err != nil {
			t.Fatal(err)
		}
		if len(parked) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %+v", what, parked)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
