// Package checkpointtest is the conformance suite of projection.CheckpointStore
// and projection.Target: every implementation runs it, so that they all keep
// checkpoints typed, fence every write and, for targets, commit the read
// model's writes and the checkpoint together or not at all.
package checkpointtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/projection"
)

// Run checks a CheckpointStore. newStore returns a store in which no
// checkpoint is saved yet; the suite uses its own projection names.
func Run(t *testing.T, newStore func(t *testing.T) projection.CheckpointStore) {
	t.Run("EmptyLoad", func(t *testing.T) {
		s := newStore(t)
		cp, err := s.Load(t.Context(), key("empty"))
		if err != nil || !cp.IsZero() {
			t.Fatalf("Load of a checkpoint never saved = %v, %v; want none, nil", cp, err)
		}
	})
	t.Run("RoundTrip", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		for _, c := range []struct {
			k    projection.Key
			cps  []projection.Checkpoint
			name string
		}{
			{key("all"), []projection.Checkpoint{at(1), at(1), at(7), projection.At(eventstore.Position{Commit: 1 << 62, Prepare: 1<<62 - 5})}, "all positions"},
			{key("stream"), []projection.Checkpoint{projection.AtRevision(0), projection.AtRevision(0), projection.AtRevision(1<<63 - 2)}, "stream revisions"},
		} {
			prev := projection.Checkpoint{}
			for _, next := range c.cps {
				if err := s.Save(ctx, c.k, prev, next); err != nil {
					t.Fatalf("%s: Save(%v → %v): %v", c.name, prev, next, err)
				}
				got, err := s.Load(ctx, c.k)
				if err != nil || got != next {
					t.Fatalf("%s: Load after Save(%v) = %v, %v", c.name, next, got, err)
				}
				prev = next
			}
		}
	})
	t.Run("KeysAreIndependent", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		keys := []projection.Key{
			{Projection: "a", Version: 1}, {Projection: "a", Version: 2},
			{Projection: "a", Version: 1, Partition: 3}, {Projection: "b", Version: 1},
		}
		for i, k := range keys {
			if err := s.Save(ctx, k, projection.Checkpoint{}, at(uint64(i+1))); err != nil {
				t.Fatalf("Save(%v): %v", k, err)
			}
		}
		for i, k := range keys {
			if got, err := s.Load(ctx, k); err != nil || got != at(uint64(i+1)) {
				t.Errorf("Load(%v) = %v, %v; want %v", k, got, err, at(uint64(i+1)))
			}
		}
	})
	t.Run("Fenced", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		k := key("fenced")
		if err := s.Save(ctx, k, projection.Checkpoint{}, at(5)); err != nil {
			t.Fatal(err)
		}
		// A second runner that still believes nothing was saved, or an older
		// checkpoint, must not overwrite the newer one.
		for _, stale := range []projection.Checkpoint{{}, at(4), at(6)} {
			err := s.Save(ctx, k, stale, at(9))
			if !errors.Is(err, projection.ErrFenced) {
				t.Errorf("Save from stale %v = %v; want ErrFenced", stale, err)
			}
		}
		if got, _ := s.Load(ctx, k); got != at(5) {
			t.Errorf("after fenced saves Load = %v; want %v", got, at(5))
		}
	})
	t.Run("ConcurrentRunnersOneWins", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		k := key("race")
		const runners = 8
		var wg sync.WaitGroup
		errs := make([]error, runners)
		for i := range runners {
			wg.Go(func() { errs[i] = s.Save(ctx, k, projection.Checkpoint{}, at(uint64(10+i))) })
		}
		wg.Wait()
		won := 0
		for i, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, projection.ErrFenced):
				t.Errorf("runner %d: %v; want nil or ErrFenced", i, err)
			}
		}
		if won != 1 {
			t.Fatalf("%d of %d concurrent first saves succeeded; want exactly 1", won, runners)
		}
	})
	t.Run("InvalidMoves", func(t *testing.T) {
		s := newStore(t)
		ctx := t.Context()
		k := key("invalid")
		if err := s.Save(ctx, k, projection.Checkpoint{}, at(5)); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name       string
			k          projection.Key
			prev, next projection.Checkpoint
		}{
			{"backwards", k, at(5), at(4)},
			{"other kind", k, at(5), projection.AtRevision(9)},
			{"to none", k, at(5), projection.Checkpoint{}},
			{"no name", projection.Key{Version: 1}, projection.Checkpoint{}, at(1)},
			{"version 0", projection.Key{Projection: "x"}, projection.Checkpoint{}, at(1)},
			{"negative partition", projection.Key{Projection: "x", Version: 1, Partition: -1}, projection.Checkpoint{}, at(1)},
		} {
			if err := s.Save(ctx, c.k, c.prev, c.next); !errors.Is(err, projection.ErrInvalidCheckpoint) {
				t.Errorf("%s: Save = %v; want ErrInvalidCheckpoint", c.name, err)
			}
		}
		if got, _ := s.Load(ctx, k); got != at(5) {
			t.Errorf("after invalid saves Load = %v; want %v (nothing written)", got, at(5))
		}
	})
	t.Run("CanceledContext", func(t *testing.T) {
		s := newStore(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := s.Save(ctx, key("canceled"), projection.Checkpoint{}, at(1)); !errors.Is(err, context.Canceled) {
			t.Errorf("Save with a canceled context = %v; want context.Canceled", err)
		}
		if got, err := s.Load(t.Context(), key("canceled")); err != nil || !got.IsZero() {
			t.Errorf("after a canceled Save, Load = %v, %v; want none (nothing written)", got, err)
		}
	})
}

// TargetOps tells RunTarget how to observe a target's read model: Write
// makes apply's transaction write one row named row, and Rows lists the
// rows a fresh read sees (committed ones only).
type TargetOps[Tx any] struct {
	Write func(ctx context.Context, tx Tx, row string) error
	Rows  func(ctx context.Context, t *testing.T) []string
}

// RunTarget checks a Target: the CheckpointStore suite, and that Update
// keeps the handlers' writes exactly when it moves the checkpoint.
func RunTarget[Tx any](t *testing.T, newTarget func(t *testing.T) projection.Target[Tx], ops TargetOps[Tx]) {
	Run(t, func(t *testing.T) projection.CheckpointStore { return newTarget(t) })
	t.Run("UpdateCommitsBoth", func(t *testing.T) {
		tg := newTarget(t)
		ctx := t.Context()
		k := key("update")
		err := tg.Update(ctx, k, projection.Checkpoint{}, at(3), func(ctx context.Context, tx Tx) error {
			return ops.Write(ctx, tx, "r1")
		})
		if err != nil {
			t.Fatal(err)
		}
		assertState(t, tg, ops, k, at(3), []string{"r1"})
	})
	t.Run("ApplyFailureKeepsNothing", func(t *testing.T) {
		tg := newTarget(t)
		ctx := t.Context()
		k := key("apply-fails")
		boom := errors.New("boom")
		err := tg.Update(ctx, k, projection.Checkpoint{}, at(3), func(ctx context.Context, tx Tx) error {
			if err := ops.Write(ctx, tx, "r1"); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Update = %v; want the apply error", err)
		}
		assertState(t, tg, ops, k, projection.Checkpoint{}, nil)
	})
	t.Run("FencedUpdateKeepsNothing", func(t *testing.T) {
		tg := newTarget(t)
		ctx := t.Context()
		k := key("fenced-update")
		if err := tg.Update(ctx, k, projection.Checkpoint{}, at(2), func(ctx context.Context, tx Tx) error { return ops.Write(ctx, tx, "first") }); err != nil {
			t.Fatal(err)
		}
		err := tg.Update(ctx, k, at(1), at(5), func(ctx context.Context, tx Tx) error { return ops.Write(ctx, tx, "stale") })
		if !errors.Is(err, projection.ErrFenced) {
			t.Fatalf("Update from a stale checkpoint = %v; want ErrFenced", err)
		}
		assertState(t, tg, ops, k, at(2), []string{"first"})
	})
	t.Run("InvalidUpdateKeepsNothing", func(t *testing.T) {
		tg := newTarget(t)
		ctx := t.Context()
		k := key("invalid-update")
		called := false
		err := tg.Update(ctx, k, projection.Checkpoint{}, projection.Checkpoint{}, func(ctx context.Context, tx Tx) error {
			called = true
			return ops.Write(ctx, tx, "x")
		})
		if !errors.Is(err, projection.ErrInvalidCheckpoint) || called {
			t.Fatalf("Update to no checkpoint = %v (apply called: %v); want ErrInvalidCheckpoint before apply", err, called)
		}
		assertState(t, tg, ops, k, projection.Checkpoint{}, nil)
	})
	t.Run("ConcurrentUpdatesOneWins", func(t *testing.T) {
		tg := newTarget(t)
		ctx := t.Context()
		k := key("race-update")
		const runners = 6
		var wg sync.WaitGroup
		errs := make([]error, runners)
		for i := range runners {
			wg.Go(func() {
				errs[i] = tg.Update(ctx, k, projection.Checkpoint{}, at(uint64(10+i)), func(ctx context.Context, tx Tx) error {
					return ops.Write(ctx, tx, fmt.Sprintf("runner-%d", i))
				})
			})
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("runners %d and %d both moved the checkpoint", winner, i)
			case err == nil:
				winner = i
			case !errors.Is(err, projection.ErrFenced):
				t.Errorf("runner %d: %v; want nil or ErrFenced", i, err)
			}
		}
		if winner < 0 {
			t.Fatal("no runner moved the checkpoint")
		}
		assertState(t, tg, ops, k, at(uint64(10+winner)), []string{fmt.Sprintf("runner-%d", winner)})
	})
}

func assertState[Tx any](t *testing.T, tg projection.Target[Tx], ops TargetOps[Tx], k projection.Key, cp projection.Checkpoint, rows []string) {
	t.Helper()
	if got, err := tg.Load(t.Context(), k); err != nil || got != cp {
		t.Errorf("checkpoint = %v, %v; want %v", got, err, cp)
	}
	got := ops.Rows(t.Context(), t)
	if fmt.Sprint(got) != fmt.Sprint(rows) && !(len(got) == 0 && len(rows) == 0) {
		t.Errorf("read model rows = %q; want %q", got, rows)
	}
}

func key(name string) projection.Key {
	return projection.Key{Projection: "checkpointtest-" + name, Version: 1}
}

func at(commit uint64) projection.Checkpoint {
	return projection.At(eventstore.Position{Commit: commit, Prepare: commit})
}
