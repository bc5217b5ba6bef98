package projection_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/chronicle-go/chronicle/projection"
)

func TestRunnerCatchUpLiveWaitFor(t *testing.T) {
	store := newMemory(t)
	reg := newRegistry(t)
	appendTyped(t, store, reg, "account-1", Deposited{"account-1", 10}, Withdrawn{"account-1", 3})
	appendTyped(t, store, reg, "notes-1", Noted{"ignored: no handler"})
	b := newBalances()
	cps := &projection.MemoryCheckpoints{}
	r, err := projection.NewRunner(store, b.define(reg, "balances", projection.Category("account")), projection.AtLeastOnce(cps, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, r)
	waitCaughtUp(t, r)
	res := appendTyped(t, store, reg, "account-2", Deposited{"account-2", 5})
	waitFor(t, r, res.Position)
	bal, _ := b.snapshot()
	if diff := cmp.Diff(map[string]int{"account-1": 7, "account-2": 5}, bal); diff != "" {
		t.Fatalf("balances (-want +got):\n%s", diff)
	}
	// A position of an event the projection does not read is reached too.
	other := appendTyped(t, store, reg, "notes-2", Noted{"x"})
	waitFor(t, r, other.Position)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	st := r.State()
	if st.Handled != 3 || st.Running || st.Checkpoint.Position.Compare(other.Position) < 0 {
		t.Errorf("state after stop = %+v", st)
	}
	saved, err := cps.Load(t.Context(), projection.Key{Projection: "balances", Version: 1})
	if err != nil || saved.Compare(projection.At(res.Position)) < 0 {
		t.Errorf("saved checkpoint %v, %v; want at least %v", saved, err, res.Position)
	}
}
