package aggregate_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/chronicle-go/chronicle/aggregate"
	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/schema"
	"github.com/chronicle-go/chronicle/testkit"
)

// history appends open + deposits 1..n, one command each, the registry's
// clock one minute apart starting at testkit.Epoch.
func history(t *testing.T, n int, opts ...aggregate.Option) (env, *testkit.Clock) {
	t.Helper()
	clock := testkit.NewClock(time.Time{})
	e := env{store: memory.New(), reg: newRegistry(t, schema.WithClock(clock))}
	t.Cleanup(func() { e.store.Close() })
	e.repo = mustRepo(t, e.store, e.reg, accountType, opts...)
	mustDo(e.repo.Create(context.Background(), "1", open("ada")))
	for i := 1; i <= n; i++ {
		clock.Advance(time.Minute)
		mustDo(e.repo.Update(context.Background(), "1", deposit(i)))
	}
	return e, clock
}

// balanceAfter is the balance after revision rev of a history: 1+2+…+rev.
func balanceAfter(rev int) int { return rev * (rev + 1) / 2 }

func TestLoadAt(t *testing.T) {
	ctx := context.Background()
	for _, snapshots := range []int{0, 3} {
		e, _ := history(t, 10, aggregate.WithSnapshotEvery(snapshots), aggregate.WithSnapshotRetention(10))
		for rev := range 11 {
			a, err := e.repo.LoadAt(ctx, "1", uint64(rev))
			if err != nil {
				t.Fatalf("snapshots %d: LoadAt(%d): %v", snapshots, rev, err)
			}
			if a.State.Balance != balanceAfter(rev) || a.State.Events != rev+1 || a.Revision != eventstore.Exact(uint64(rev)) {
				t.Errorf("snapshots %d: LoadAt(%d) = %+v", snapshots, rev, a)
			}
		}
		for _, rev := range []uint64{11, 1 << 63, 1<<64 - 1} {
			_, err := e.repo.LoadAt(ctx, "1", rev)
			var nf *aggregate.NotFoundError
			if !errors.As(err, &nf) || !strings.Contains(nf.At, "revision") || !strings.Contains(err.Error(), "has no state at revision") {
				t.Errorf("snapshots %d: LoadAt(%d) = %v, want *NotFoundError", snapshots, rev, err)
			}
		}
		if _, err := e.repo.LoadAt(ctx, "2", 0); !errors.Is(err, aggregate.ErrNotFound) {
			t.Errorf("LoadAt of a missing aggregate = %v", err)
		}
	}
	e := newEnv(t)
	e.store.Close()
	if _, err := e.repo.LoadAt(ctx, "1", 0); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("LoadAt on a closed store = %v", err)
	}
}

func TestLoadAsOf(t *testing.T) {
	ctx := context.Background()
	e, _ := history(t, 5, aggregate.WithSnapshotEvery(2))
	tests := []struct {
		at   time.Time
		rev  int // -1: not found
		name string
	}{
		{testkit.Epoch.Add(-time.Nanosecond), -1, "before the first event"},
		{testkit.Epoch, 0, "at the first event"},
		{testkit.Epoch.Add(90 * time.Second), 1, "between events"},
		{testkit.Epoch.Add(3 * time.Minute), 3, "at an event"},
		{testkit.Epoch.Add(time.Hour), 5, "after the last event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := e.repo.LoadAsOf(ctx, "1", tt.at)
			if tt.rev < 0 {
				if !errors.Is(err, aggregate.ErrNotFound) || !strings.Contains(err.Error(), "as of 2024-12-31T23:59:59.999999999Z") {
					t.Errorf("LoadAsOf = %+v, %v; want ErrNotFound", a, err)
				}
				return
			}
			if err != nil || a.State.Balance != balanceAfter(tt.rev) || a.Revision != eventstore.Exact(uint64(tt.rev)) {
				t.Errorf("LoadAsOf = %+v, %v; want the state at revision %d", a, err, tt.rev)
			}
		})
	}
	if _, err := e.repo.LoadAsOf(ctx, "2", testkit.Epoch); !errors.Is(err, aggregate.ErrNotFound) {
		t.Errorf("LoadAsOf of a missing aggregate = %v", err)
	}
	e.store.Close()
	if _, err := e.repo.LoadAsOf(ctx, "1", testkit.Epoch); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("LoadAsOf on a closed store = %v", err)
	}
}

func TestLoadAsOfWithoutDecidedAt(t *testing.T) {
	// Events written without Chronicle's metadata are dated by the store.
	clock := testkit.NewClock(time.Time{})
	store := memory.New(memory.WithClock(clock.Now))
	defer store.Close()
	repo := mustRepo(t, store, newRegistry(t), accountType)
	for i, data := range []string{`{"owner":"ada"}`, `{"amount":5}`} {
		typ := []string{"AccountOpened", "MoneyDeposited"}[i]
		if _, err := store.Append(context.Background(), "account-1", eventstore.Any, eventstore.EventData{Type: typ, Data: []byte(data)}); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Minute)
	}
	a, err := repo.LoadAsOf(context.Background(), "1", testkit.Epoch.Add(30*time.Second))
	if err != nil || a.State != (Account{Owner: "ada", Events: 1}) {
		t.Errorf("LoadAsOf = %+v, %v; want the first event only", a, err)
	}
}

func TestReplay(t *testing.T) {
	ctx := context.Background()
	e, _ := history(t, 4)
	var balances []int
	var revisions []uint64
	var types []string
	for step, err := range e.repo.Replay(ctx, "1") {
		if err != nil {
			t.Fatal(err)
		}
		balances = append(balances, step.State.Balance)
		revisions = append(revisions, step.Event.Record.Revision)
		types = append(types, step.Event.Type)
		if want := testkit.Epoch.Add(time.Duration(step.Event.Record.Revision) * time.Minute); !step.At().Equal(want) {
			t.Errorf("step %d At() = %v, want %v", step.Event.Record.Revision, step.At(), want)
		}
	}
	if diff := cmp.Diff([]int{0, 1, 3, 6, 10}, balances); diff != "" {
		t.Errorf("balances (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]uint64{0, 1, 2, 3, 4}, revisions); diff != "" {
		t.Errorf("revisions (-want +got):\n%s", diff)
	}
	if types[0] != "AccountOpened" || types[1] != "MoneyDeposited" {
		t.Errorf("types = %v", types)
	}

	n := 0
	for range e.repo.Replay(ctx, "1") {
		n++
		if n == 2 {
			break
		}
	}
	if n != 2 {
		t.Errorf("break after 2 steps: ran %d", n)
	}

	steps := 0
	var last error
	for _, err := range e.repo.Replay(ctx, "404") {
		steps++
		last = err
	}
	if steps != 1 || !errors.Is(last, aggregate.ErrNotFound) {
		t.Errorf("Replay of a missing aggregate: %d steps, last error %v", steps, last)
	}
	for _, err := range e.repo.Replay(ctx, "") {
		if !errors.Is(err, aggregate.ErrInvalidID) {
			t.Errorf("Replay(\"\") = %v", err)
		}
	}
}

func TestReplayFailures(t *testing.T) {
	ctx := context.Background()
	e, _ := history(t, 1)
	if _, err := e.store.Append(ctx, "account-1", eventstore.Any, eventstore.EventData{Type: "Mystery", Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	var errs []error
	steps := 0
	for _, err := range e.repo.Replay(ctx, "1") {
		if err != nil {
			errs = append(errs, err)
		} else {
			steps++
		}
	}
	if steps != 2 || len(errs) != 1 || !errors.Is(errs[0], schema.ErrUnknownType) {
		t.Errorf("Replay over an unknown event: %d steps, errors %v", steps, errs)
	}
	if _, err := e.repo.LoadAsOf(ctx, "1", testkit.Epoch.Add(time.Hour)); !errors.Is(err, schema.ErrUnknownType) {
		t.Errorf("LoadAsOf over an unknown event = %v", err)
	}
	e.store.Close()
	for _, err := range e.repo.Replay(ctx, "1") {
		if !errors.Is(err, eventstore.ErrClosed) {
			t.Errorf("Replay on a closed store = %v", err)
		}
	}
}

func TestSkippedEvents(t *testing.T) {
	// Under the registry's Skip policy, events of unknown types are ignored
	// by loads and replays alike.
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	reg := newRegistry(t, schema.WithUnknown(schema.Skip))
	repo := mustRepo(t, store, reg, accountType)
	mustDo(repo.Create(ctx, "1", open("ada")))
	if _, err := store.Append(ctx, "account-1", eventstore.Any, eventstore.EventData{Type: "FromTheFuture", Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	res := mustDo(repo.Update(ctx, "1", deposit(3)))
	if res.State != (Account{Owner: "ada", Balance: 3, Events: 2}) || res.Revision != eventstore.Exact(2) {
		t.Errorf("Update over a skipped event = %+v", res)
	}
	steps := 0
	for step, err := range repo.Replay(ctx, "1") {
		if err != nil {
			t.Fatal(err)
		}
		steps++
		if step.Event.Type == "FromTheFuture" {
			t.Error("Replay yielded a skipped event")
		}
	}
	if steps != 2 {
		t.Errorf("Replay yielded %d steps, want 2", steps)
	}
}
