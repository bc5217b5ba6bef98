package checkpointtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
	essqlite "github.com/chronicle-go/chronicle/eventstore/sqlite"
	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/schema"
)

// A RebuildTarget is a Target that keeps read models (Preparer) and builds
// new versions beside the live one (Rebuilder), as the SQL targets do.
type RebuildTarget[Tx any] interface {
	projection.Target[Tx]
	projection.Preparer[Tx]
	projection.Rebuilder
}

// RebuildOps tells RunRebuild how to reach a target's read models.
type RebuildOps[Tx any] struct {
	// Create creates table (one text column) in tx, naming it without a
	// schema or database: the target has put tx in the version's place.
	Create func(ctx context.Context, tx Tx, table string) error
	// Insert writes row into table, named the same way.
	Insert func(ctx context.Context, tx Tx, table, row string) error
	// LiveRows reads table of projection's live version as a reader does
	// (not through the target's transactions), sorted.
	LiveRows func(ctx context.Context, t *testing.T, projection, table string) []string
	// SetPartitions records the partition count of a version, and
	// ErrPartitionCount is what it (and Load of a partition outside the
	// count) fails with on a change. Nil skips the partition checks.
	SetPartitions     func(ctx context.Context, projection string, version, n int) error
	ErrPartitionCount error
}

// RunRebuild checks a Preparer and Rebuilder: Prepare runs setup once per
// version and checks the declared tables with nothing kept on failure,
// each version writes in its own place, Promote switches readers in one
// step and fences the older versions, and partition counts stay fixed.
func RunRebuild[Tx any](t *testing.T, newTarget func(t *testing.T) RebuildTarget[Tx], ops RebuildOps[Tx]) {
	create := func(tables ...string) (func(context.Context, Tx) error, *int) {
		n := new(int)
		return func(ctx context.Context, tx Tx) error {
			*n++
			for _, tb := range tables {
				if err := ops.Create(ctx, tx, tb); err != nil {
					return err
				}
			}
			return nil
		}, n
	}
	insert := func(rows ...string) func(context.Context, Tx) error {
		return func(ctx context.Context, tx Tx) error {
			for _, r := range rows {
				if err := ops.Insert(ctx, tx, "items", r); err != nil {
					return err
				}
			}
			return nil
		}
	}
	t.Run("PrepareRunsSetupOncePerVersion", func(t *testing.T) {
		tg := newTarget(t)
		ctx := t.Context()
		setup, n := create("items")
		for _, v := range []int{1, 1, 2, 2, 1} {
			if err := tg.Prepare(ctx, rkey("once", v), setup, []string{"items"}); err != nil {
				t.Fatalf("Prepare v%d: %v", v, err)
			}
		}
		if *n != 2 {
			t.Fatalf("setup ran %d times for two versions prepared five times; want 2", *n)
		}
		if err := tg.Prepare(ctx, rkey("once", 3), nil, nil); err != nil {
			t.Fatalf("Prepare without setup or tables: %v", err)
		}
	})
	t.Run("PrepareMissingTableKeepsNothing", func(t *testing.T) {
		tg := newTarget(t)
		ctx := t.Context()
		k := rkey("missing", 1)
		setup, n := create("items")
		err := tg.Prepare(ctx, k, setup, []string{"items", "totals"})
		if !errors.Is(err, projection.ErrMissingTable) || !strings.Contains(err.Error(), "totals") {
			t.Fatalf("Prepare with an undeclared table = %v; want ErrMissingTable naming totals", err)
		}
		boom := errors.New("boom")
		if err := tg.Prepare(ctx, k, func(context.Context, Tx) error { return boom }, nil); !errors.Is(err, boom) {
			t.Fatalf("Prepare with a failing setup = %v; want its error", err)
		}
		// Neither failure was recorded: setup runs again, and its tables
		// are created afresh (a kept "items" would make Create fail).
		setup, n = create("items", "totals")
		if err := tg.Prepare(ctx, k, setup, []string{"items", "totals"}); err != nil || *n != 1 {
			t.Fatalf("Prepare after failed ones = %v (setup ran %d times); want nil, once", err, *n)
		}
	})
	t.Run("PromoteSwitchesReaders", func(t *testing.T) {
		tg := newTarget(t)
		ctx := t.Context()
		const p = "rebuild_switch"
		if v, err := tg.Live(ctx, p); err != nil || v != 0 {
			t.Fatalf("Live before any promotion = %d, %v; want 0", v, err)
		}
		setup, _ := create("items")
		v1, v2 := rkey("switch", 1), rkey("switch", 2)
		must(t, tg.Prepare(ctx, v1, setup, []string{"items"}))
		must(t, tg.Update(ctx, v1, projection.Checkpoint{}, at(1), insert("v1-a")))
		must(t, tg.Promote(ctx, p, 1))
		must(t, tg.Update(ctx, v1, at(1), at(2), insert("v1-b")))
		want(t, ops.LiveRows(ctx, t, p, "items"), "v1-a", "v1-b")

		// v2 builds beside v1, which keeps serving.
		must(t, tg.Prepare(ctx, v2, setup, []string{"items"}))
		must(t, tg.Update(ctx, v2, projection.Checkpoint{}, at(2), insert("v2-a", "v2-b")))
		want(t, ops.LiveRows(ctx, t, p, "items"), "v1-a", "v1-b")
		if v, _ := tg.Live(ctx, p); v != 1 {
			t.Fatalf("Live while v2 builds = %d; want 1", v)
		}
		must(t, tg.Promote(ctx, p, 2))
		want(t, ops.LiveRows(ctx, t, p, "items"), "v2-a", "v2-b")
		if v, _ := tg.Live(ctx, p); v != 2 {
			t.Fatalf("Live after Promote(2) = %d; want 2", v)
		}

		// v1 is fenced: its checkpoint is gone, its next write fails, and a
		// v1 runner starting afresh cannot write either.
		if cp, err := tg.Load(ctx, v1); err != nil || !cp.IsZero() {
			t.Errorf("v1's checkpoint after Promote(2) = %v, %v; want none", cp, err)
		}
		for _, prev := range []projection.Checkpoint{at(2), {}} {
			err := tg.Update(ctx, v1, prev, at(3), insert("v1-late"))
			if !errors.Is(err, projection.ErrFenced) && !errors.Is(err, projection.ErrRetired) {
				t.Errorf("v1 Update from %v after Promote(2) = %v; want ErrFenced or ErrRetired", prev, err)
			}
		}
		if cp, _ := tg.Load(ctx, v1); !cp.IsZero() {
			t.Errorf("a retired v1 Update stored checkpoint %v", cp)
		}
		if err := tg.Promote(ctx, p, 1); !errors.Is(err, projection.ErrRetired) {
			t.Errorf("Promote(1) after Promote(2) = %v; want ErrRetired", err)
		}
		if err := tg.Prepare(ctx, v1, setup, nil); !errors.Is(err, projection.ErrRetired) {
			t.Errorf("Prepare(v1) after Promote(2) = %v; want ErrRetired", err)
		}
		must(t, tg.Promote(ctx, p, 2)) // again: nothing happens
		must(t, tg.Update(ctx, v2, at(2), at(4), insert("v2-c")))
		want(t, ops.LiveRows(ctx, t, p, "items"), "v2-a", "v2-b", "v2-c")
		if cp, _ := tg.Load(ctx, v2); cp != at(4) {
			t.Errorf("v2's checkpoint = %v; want %v", cp, at(4))
		}

		// A third version replaces the second the same way, and a version
		// skipped over (prepared, never promoted) is retired with it.
		v3, v4 := rkey("switch", 3), rkey("switch", 4)
		must(t, tg.Prepare(ctx, v3, setup, []string{"items"}))
		must(t, tg.Prepare(ctx, v4, setup, []string{"items"}))
		must(t, tg.Update(ctx, v4, projection.Checkpoint{}, at(4), insert("v4-a")))
		must(t, tg.Update(ctx, v3, projection.Checkpoint{}, at(4), insert("v3-a")))
		must(t, tg.Promote(ctx, p, 4))
		want(t, ops.LiveRows(ctx, t, p, "items"), "v4-a")
		if err := tg.Update(ctx, v3, at(4), at(5), insert("v3-b")); !errors.Is(err, projection.ErrFenced) && !errors.Is(err, projection.ErrRetired) {
			t.Errorf("v3 Update after Promote(4) = %v; want ErrFenced or ErrRetired", err)
		}
	})
	t.Run("FirstPromotionOfAFreshVersion", func(t *testing.T) {
		// The Runner promotes version 1 at its start, before any event.
		tg := newTarget(t)
		ctx := t.Context()
		const p = "rebuild_fresh"
		setup, _ := create("items")
		must(t, tg.Prepare(ctx, rkey("fresh", 1), setup, []string{"items"}))
		must(t, tg.Promote(ctx, p, 1))
		want(t, ops.LiveRows(ctx, t, p, "items"))
		must(t, tg.Prepare(ctx, rkey("fresh", 1), setup, []string{"items"}))
		must(t, tg.Update(ctx, rkey("fresh", 1), projection.Checkpoint{}, at(1), insert("a")))
		want(t, ops.LiveRows(ctx, t, p, "items"), "a")
	})
	t.Run("InvalidInputsKeepNothing", func(t *testing.T) {
		tg := newTarget(t)
		ctx := t.Context()
		for _, err := range []error{
			tg.Promote(ctx, "", 1),
			tg.Promote(ctx, "rebuild_invalid", 0),
			tg.Prepare(ctx, projection.Key{Projection: "rebuild_invalid"}, nil, nil),
			tg.Prepare(ctx, projection.Key{Version: 1}, nil, nil),
		} {
			if !errors.Is(err, projection.ErrInvalidCheckpoint) {
				t.Errorf("invalid input: %v; want ErrInvalidCheckpoint", err)
			}
		}
		if v, err := tg.Live(ctx, "rebuild_invalid"); err != nil || v != 0 {
			t.Errorf("Live after refused inputs = %d, %v; want 0", v, err)
		}
		canceled, cancel := context.WithCancel(ctx)
		cancel()
		setup, n := create("items")
		if err := tg.Prepare(canceled, rkey("invalid", 1), setup, nil); !errors.Is(err, context.Canceled) || *n != 0 {
			t.Errorf("Prepare with a canceled context = %v (setup ran %d times); want context.Canceled", err, *n)
		}
		if err := tg.Promote(canceled, "rebuild_invalid", 1); !errors.Is(err, context.Canceled) {
			t.Errorf("Promote with a canceled context = %v; want context.Canceled", err)
		}
		if v, _ := tg.Live(ctx, "rebuild_invalid"); v != 0 {
			t.Errorf("a canceled Promote made version %d live", v)
		}
	})
	t.Run("PromoteDuringUpdates", func(t *testing.T) {
		tg := newTarget(t)
		ctx := t.Context()
		const p, parts, writes = "rebuild_concurrent", 4, 25
		setup, _ := create("items")
		must(t, tg.Prepare(ctx, rkey("concurrent", 1), setup, []string{"items"}))
		must(t, tg.Promote(ctx, p, 1))
		must(t, tg.Prepare(ctx, rkey("concurrent", 2), setup, []string{"items"}))
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			written []string // v2 rows whose Update succeeded
		)
		run := func(version, part int) {
			defer wg.Done()
			k := projection.Key{Projection: p, Version: version, Partition: part}
			prev := projection.Checkpoint{}
			for i := range writes {
				row := fmt.Sprintf("v%d-p%d-%02d", version, part, i)
				err := tg.Update(ctx, k, prev, at(uint64(i+1)), insert(row))
				switch {
				case err == nil && version == 2:
					mu.Lock()
					written = append(written, row)
					mu.Unlock()
				case err == nil:
				case version == 1 && (errors.Is(err, projection.ErrFenced) || errors.Is(err, projection.ErrRetired)):
					return // retired: the runner stops
				default:
					t.Errorf("%v: Update %d: %v", k, i, err)
					return
				}
				prev = at(uint64(i + 1))
			}
		}
		for part := range parts {
			wg.Add(2)
			go run(1, part)
			go run(2, part)
		}
		wg.Go(func() {
			if err := tg.Promote(ctx, p, 2); err != nil {
				t.Errorf("Promote(2) during updates: %v", err)
			}
		})
		wg.Wait()
		slices.Sort(written)
		want(t, ops.LiveRows(ctx, t, p, "items"), written...)
		if len(written) != parts*writes {
			t.Errorf("%d of v2's %d updates succeeded; the promoted version must not be fenced", len(written), parts*writes)
		}
	})
	if ops.SetPartitions == nil {
		return
	}
	t.Run("PartitionCountIsFixed", func(t *testing.T) {
		tg := newTarget(t)
		ctx := t.Context()
		const p = "rebuild_parts"
		must(t, ops.SetPartitions(ctx, p, 1, 4))
		must(t, ops.SetPartitions(ctx, p, 1, 4))
		must(t, ops.SetPartitions(ctx, p, 2, 2)) // another version may differ
		for _, n := range []int{1, 3, 5} {
			if err := ops.SetPartitions(ctx, p, 1, n); !errors.Is(err, ops.ErrPartitionCount) {
				t.Errorf("SetPartitions(%d) of a version run with 4 = %v; want %v", n, err, ops.ErrPartitionCount)
			}
		}
		for part := range 5 {
			if _, err := tg.Load(ctx, projection.Key{Projection: p, Version: 1, Partition: part}); err != nil {
				t.Errorf("Load of partition %d of 4: %v", part, err)
			}
		}
		if _, err := tg.Load(ctx, projection.Key{Projection: p, Version: 1, Partition: 5}); !errors.Is(err, ops.ErrPartitionCount) {
			t.Errorf("Load of partition 5 of 4 = %v; want %v", err, ops.ErrPartitionCount)
		}
		if err := ops.SetPartitions(ctx, p, 1, 0); !errors.Is(err, projection.ErrInvalidCheckpoint) {
			t.Errorf("SetPartitions(0) = %v; want ErrInvalidCheckpoint", err)
		}
		// Checkpoints written before any count was recorded count too.
		k := projection.Key{Projection: p, Version: 3, Partition: 3}
		must(t, tg.Save(ctx, k, projection.Checkpoint{}, at(1)))
		for _, n := range []int{1, 2} {
			if err := ops.SetPartitions(ctx, p, 3, n); !errors.Is(err, ops.ErrPartitionCount) {
				t.Errorf("SetPartitions(%d) with partition 3 stored = %v; want %v", n, err, ops.ErrPartitionCount)
			}
		}
		must(t, ops.SetPartitions(ctx, p, 3, 3))
	})
}

func rkey(name string, version int) projection.Key {
	return projection.Key{Projection: "rebuild_" + name, Version: version}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func want(t *testing.T, got []string, rows ...string) {
	t.Helper()
	if !slices.Equal(got, rows) && !(len(got) == 0 && len(rows) == 0) {
		t.Fatalf("live rows = %q; want %q", got, rows)
	}
}

// KillOps tells RunKill and KillChild how to use a SQL target in a child
// process that is killed at random moments.
type KillOps[Tx any] struct {
	// Open opens the target from arg (what RunKill was given: a directory,
	// names of schemas, …), in the child and in the parent.
	Open func(ctx context.Context, arg string) (projection.Target[Tx], func(), error)
	// Setup creates two tables: applied (event_id, stream, amount) with no
	// unique constraint, so that an event applied twice shows as two rows,
	// and counters (stream primary key, n, total).
	Setup func(ctx context.Context, tx Tx) error
	// Apply records one event: a row in applied, and n+1, total+amount in
	// its stream's counter.
	Apply func(ctx context.Context, tx Tx, eventID, stream string, amount int) error
	// Read reads the live version of projection as a reader would: how many
	// rows of applied each event ID has, and each stream's counter.
	Read func(ctx context.Context, t *testing.T, tg projection.Target[Tx], projection string) (applied map[string]int, counters map[string][2]int)
}

// KillDeposited is the event of the kill test.
type KillDeposited struct {
	Amount int `json:"amount"`
}

// KillNoted is an event the kill test's projections do not handle.
type KillNoted struct {
	Text string `json:"text"`
}

const killEnv = "CHRONICLE_KILL_CHILD"

// killConfig is what the parent tells the child: where the store and the
// target are, and whether to run until killed or until the store's head.
type killConfig struct {
	Store  string              `json:"store"`
	Target string              `json:"target"`
	Finish eventstore.Position `json:"finish"` // non-zero: stop there and exit
}

// killProjections are the projections the child runs: one unpartitioned,
// one in four partitions (each partition commits its own checkpoint).
var killProjections = []struct {
	name    string
	workers int
}{{"kill_single", 1}, {"kill_parts", 4}}

func killRegistry() *schema.Registry {
	reg := schema.MustNewRegistry()
	schema.MustRegister[KillDeposited](reg, "KillDeposited", 1)
	schema.MustRegister[KillNoted](reg, "KillNoted", 1)
	return reg
}

// RunKill proves exactly-once across crashes: it appends events to a
// SQLite event store while a child process (the test binary again, running
// the test that calls KillChild) projects them into the target, SIGKILLs
// the child at random moments cycles times, restarts it, and finally lets
// it catch up and checks that each projection's read model is the fold of
// the events — every event applied once, none twice, none missing. arg is
// handed to ops.Open in the child.
// It skips with -short.
func RunKill[Tx any](t *testing.T, cycles int, arg string, ops KillOps[Tx]) {
	if testing.Short() {
		t.Skip("short: the kill test runs child processes")
	}
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "events.db")
	store, err := essqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	reg := killRegistry()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	appendSome := func(n int) eventstore.Position {
		var last eventstore.Position
		for range n {
			var ev any = KillDeposited{Amount: 1 + rng.IntN(100)}
			if rng.IntN(10) == 0 {
				ev = KillNoted{Text: "not handled"}
			}
			data, err := reg.EncodeAll(ctx, ev)
			if err != nil {
				t.Fatal(err)
			}
			res, err := store.Append(ctx, fmt.Sprintf("acct-%d", rng.IntN(12)), eventstore.Any, data...)
			if err != nil {
				t.Fatal(err)
			}
			last = res.Position
		}
		return last
	}
	appendSome(300)
	tg, closeTarget, err := ops.Open(ctx, arg)
	if err != nil {
		t.Fatal(err)
	}
	defer closeTarget()
	for cycle := range cycles {
		child := startKillChild(t, killConfig{Store: path, Target: arg}, io.Discard)
		// Appends go on while the child runs, so that it is killed in
		// catch-up and live alike; the kill lands 30–700 ms in.
		delay := time.Duration(30+rng.IntN(670)) * time.Millisecond
		deadline := time.Now().Add(delay)
		for time.Now().Before(deadline) {
			appendSome(1 + rng.IntN(5))
			time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond)
		}
		if err := child.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("cycle %d: kill: %v", cycle, err)
		}
		_ = child.Wait()
		var at []string
		for _, p := range killProjections {
			cp, err := tg.Load(ctx, projection.Key{Projection: p.name, Version: 1})
			if err != nil {
				t.Fatalf("cycle %d: %s: %v", cycle, p.name, err)
			}
			at = append(at, fmt.Sprintf("%s at %v", p.name, cp))
		}
		t.Logf("cycle %d: killed after %v; %s", cycle, delay, strings.Join(at, ", "))
	}
	last := appendSome(20)
	var out strings.Builder // the final child's test output, for its failure
	child := startKillChild(t, killConfig{Store: path, Target: arg, Finish: last}, &out)
	done := make(chan error, 1)
	go func() { done <- child.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("final child: %v; its output:\n%s", err, out.String())
		}
	case <-time.After(3 * time.Minute):
		_ = child.Process.Kill()
		t.Fatal("the final child did not catch up within 3 minutes")
	}

	// The fold of the events.
	wantApplied := map[string]int{}
	wantCounters := map[string][2]int{}
	for rec, err := range store.ReadAll(ctx, eventstore.ReadAllOptions{From: eventstore.Start}) {
		if err != nil {
			t.Fatal(err)
		}
		if rec.Type != "KillDeposited" {
			continue
		}
		ev, err := reg.Decode(rec)
		if err != nil {
			t.Fatal(err)
		}
		wantApplied[rec.ID.String()] = 1
		c := wantCounters[rec.Stream]
		wantCounters[rec.Stream] = [2]int{c[0] + 1, c[1] + ev.Data.(KillDeposited).Amount}
	}
	for _, p := range killProjections {
		applied, counters := ops.Read(ctx, t, tg, p.name)
		var twice, missing, extra int
		for id, n := range applied {
			switch {
			case wantApplied[id] == 0:
				extra++
			case n > 1:
				twice++
			}
		}
		for id := range wantApplied {
			if applied[id] == 0 {
				missing++
			}
		}
		var wrong []string
		streams := map[string]bool{}
		for s := range counters {
			streams[s] = true
		}
		for s := range wantCounters {
			streams[s] = true
		}
		for s := range streams {
			if counters[s] != wantCounters[s] {
				wrong = append(wrong, fmt.Sprintf("%s %v (want %v)", s, counters[s], wantCounters[s]))
			}
		}
		slices.Sort(wrong)
		if twice+missing+extra > 0 || len(wrong) > 0 {
			t.Errorf("%s after %d kills: of %d events, %d applied twice or more, %d missing, %d unknown; wrong counters [n total]: %s",
				p.name, cycles, len(wantApplied), twice, missing, extra, strings.Join(wrong, ", "))
		} else {
			t.Logf("%s: %d events over %d streams applied exactly once across %d kills", p.name, len(wantApplied), len(wantCounters), cycles)
		}
	}
}

// startKillChild starts a child with cfg, its test output to stdout.
func startKillChild(t *testing.T, cfg killConfig, stdout io.Writer) *exec.Cmd {
	t.Helper()
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), killEnv+"="+string(js))
	cmd.Stdout, cmd.Stderr = stdout, os.Stderr
	if cfg.Finish.IsZero() {
		cmd.Stderr = io.Discard // a killed child may be cut mid-line
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// KillChild is the child of RunKill: call it from a test named
// TestKillChild. It skips unless RunKill started it.
func KillChild[Tx any](t *testing.T, ops KillOps[Tx]) {
	js := os.Getenv(killEnv)
	if js == "" {
		t.Skip("run by RunKill")
	}
	var cfg killConfig
	if err := json.Unmarshal([]byte(js), &cfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store, err := essqlite.Open(ctx, cfg.Store, essqlite.ReadOnly(), essqlite.WithPollInterval(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	tg, closeTarget, err := ops.Open(ctx, cfg.Target)
	if err != nil {
		t.Fatal(err)
	}
	defer closeTarget()
	reg := killRegistry()
	var runners []*projection.Runner[Tx]
	for _, kp := range killProjections {
		p := projection.New[Tx](kp.name, projection.Category("acct"), reg).Setup(ops.Setup).Tables("applied", "counters")
		projection.On(p, func(ctx context.Context, tx Tx, ev projection.Event[KillDeposited]) error {
			return ops.Apply(ctx, tx, ev.Record.ID.String(), ev.Record.Stream, ev.Data.Amount)
		})
		r, err := projection.NewRunner(store, p, tg, projection.WithWorkers(kp.workers), projection.WithBatchSize(1+rand.IntN(16)))
		if err != nil {
			t.Fatal(err)
		}
		runners = append(runners, r)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(runners))
	for i, r := range runners {
		wg.Go(func() { errs[i] = r.Run(ctx) })
	}
	if !cfg.Finish.IsZero() {
		for i, r := range runners {
			wctx, wcancel := context.WithTimeout(ctx, 2*time.Minute)
			err := r.WaitFor(wctx, cfg.Finish)
			wcancel()
			if err != nil {
				t.Errorf("%s: WaitFor(%v): %v (state %+v)", killProjections[i].name, cfg.Finish, err, r.State())
			}
		}
		cancel()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("%s: Run: %v", killProjections[i].name, err)
		}
	}
}

// RunRunnerRebuild runs the projection.Runner on a target end to end: a
// first version is promoted at its start and serves; a second version
// builds beside it from the start of the source, takes over once caught
// up, and the first version's runner stops with projection.ErrRetired while
// readers see the second version's model.
func RunRunnerRebuild[Tx any](t *testing.T, newTarget func(t *testing.T) RebuildTarget[Tx], ops RebuildOps[Tx]) {
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	tg := newTarget(t)
	store := memory.New()
	defer store.Close()
	reg := killRegistry()
	const name = "runner_rebuild"
	appendN := func(n int) eventstore.Position {
		var last eventstore.Position
		for i := range n {
			data, err := reg.EncodeAll(ctx, KillDeposited{Amount: i + 1}, KillNoted{Text: "skipped"})
			if err != nil {
				t.Fatal(err)
			}
			res, err := store.Append(ctx, fmt.Sprintf("acct-%d", i%3), eventstore.Any, data...)
			if err != nil {
				t.Fatal(err)
			}
			last = res.Position
		}
		return last
	}
	// rows is what version's model must hold: a row per deposit so far.
	rows := func(version int) []string {
		var out []string
		for rec, err := range store.ReadAll(ctx, eventstore.ReadAllOptions{From: eventstore.Start}) {
			if err != nil {
				t.Fatal(err)
			}
			if rec.Type == "KillDeposited" {
				out = append(out, fmt.Sprintf("v%d %s@%d", version, rec.Stream, rec.Revision))
			}
		}
		slices.Sort(out)
		return out
	}
	define := func(version int) *projection.Projection[Tx] {
		p := projection.New[Tx](name, projection.Category("acct"), reg).Version(version).
			Setup(func(ctx context.Context, tx Tx) error { return ops.Create(ctx, tx, "items") }).Tables("items")
		projection.On(p, func(ctx context.Context, tx Tx, ev projection.Event[KillDeposited]) error {
			return ops.Insert(ctx, tx, "items", fmt.Sprintf("v%d %s@%d", version, ev.Record.Stream, ev.Record.Revision))
		})
		return p
	}
	run := func(version, workers int) (*projection.Runner[Tx], chan error) {
		r, err := projection.NewRunner(store, define(version), tg, projection.WithWorkers(workers))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		return r, done
	}
	wait := func(r *projection.Runner[Tx], p eventstore.Position) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := r.WaitFor(wctx, p); err != nil {
			t.Fatalf("WaitFor(%v): %v (state %+v)", p, err, r.State())
		}
	}
	timeout := time.After(time.Minute)

	last := appendN(6)
	r1, done1 := run(1, 1)
	wait(r1, last)
	want(t, ops.LiveRows(ctx, t, name, "items"), rows(1)...)

	r2, done2 := run(2, 3)
	defer func() {
		stop()
		<-done2
	}()
	last = appendN(9)
	wait(r2, last)
	for v, _ := tg.Live(ctx, name); v != 2; v, _ = tg.Live(ctx, name) {
		select {
		case <-timeout:
			t.Fatalf("version 2 not promoted: state %+v", r2.State())
		case <-time.After(10 * time.Millisecond):
		}
	}
	want(t, ops.LiveRows(ctx, t, name, "items"), rows(2)...)
	// The next event fences version 1's runner for good.
	last = appendN(12)
	select {
	case err := <-done1:
		if !errors.Is(err, projection.ErrRetired) {
			t.Errorf("version 1's Run = %v; want ErrRetired", err)
		}
	case <-timeout:
		t.Fatalf("version 1's runner still runs after version 2 took over: %+v", r1.State())
	}
	wait(r2, last)
	want(t, ops.LiveRows(ctx, t, name, "items"), rows(2)...)
}
