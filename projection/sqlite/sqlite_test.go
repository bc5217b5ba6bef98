package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/projection/sqlite"
)

func at(commit uint64) projection.Checkpoint {
	return projection.At(eventstore.Position{Commit: commit, Prepare: commit})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// dbFiles lists the .db files in dir.
func dbFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.db"))
	must(t, err)
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	return m
}

func TestOpenRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	must(t, os.WriteFile(notDir, []byte("x"), 0o600))
	garbage := filepath.Join(dir, "garbage")
	must(t, os.MkdirAll(garbage, 0o700))
	must(t, os.WriteFile(filepath.Join(garbage, sqlite.ControlFile), []byte(strings.Repeat("not a database ", 100)), 0o600))
	for name, c := range map[string]struct {
		dir  string
		opts []sqlite.Option
	}{
		"no directory":         {"", nil},
		"a file, not a dir":    {notDir, nil},
		"nil option":           {filepath.Join(dir, "a"), []sqlite.Option{nil}},
		"failing option":       {filepath.Join(dir, "b"), []sqlite.Option{func(*sqlite.Target) error { return errors.New("no") }}},
		"control not a sqlite": {garbage, nil},
	} {
		if tg, err := sqlite.Open(c.dir, c.opts...); err == nil || !strings.HasPrefix(err.Error(), "sqlite: ") && name != "failing option" {
			t.Errorf("%s: Open = %v, %v; want an error", name, tg, err)
		}
	}
	for _, d := range []string{"a", "b"} {
		if _, err := os.Stat(filepath.Join(dir, d)); !os.IsNotExist(err) {
			t.Errorf("Open with a bad option created %s", d)
		}
	}
}

func TestBadNamesWriteNothing(t *testing.T) {
	dir := t.TempDir()
	tg := open(t, dir)
	ctx := t.Context()
	for _, name := range []string{"../escape", "a/b", ".hidden", "-dash", strings.Repeat("x", 201), "sp ace"} {
		k := projection.Key{Projection: name, Version: 1}
		errs := []error{
			tg.Save(ctx, k, projection.Checkpoint{}, at(1)),
			tg.Prepare(ctx, k, nil, nil),
			tg.Promote(ctx, name, 1),
			tg.SetPartitions(ctx, name, 1, 2),
		}
		_, err := tg.Load(ctx, k)
		errs = append(errs, err)
		_, err = tg.DB(ctx, name)
		errs = append(errs, err)
		for i, err := range errs {
			if !errors.Is(err, projection.ErrInvalidCheckpoint) {
				t.Errorf("%q: call %d = %v; want ErrInvalidCheckpoint", name, i, err)
			}
		}
	}
	if got := dbFiles(t, dir); fmt.Sprint(got) != "["+sqlite.ControlFile+"]" {
		t.Errorf("files after refused names: %v", got)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "escape.v1.db")); !os.IsNotExist(err) {
		t.Error("a name escaped the directory")
	}
}

func TestFilesAndReaders(t *testing.T) {
	dir := t.TempDir()
	tg := open(t, dir)
	ctx := t.Context()
	const p = "Order.Totals"
	if _, err := tg.DB(ctx, p); !errors.Is(err, sqlite.ErrNotLive) {
		t.Fatalf("DB before a promotion = %v; want ErrNotLive", err)
	}
	setup := func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE totals (id TEXT PRIMARY KEY, n INTEGER)`)
		return err
	}
	add := func(id string) func(ctx context.Context, tx *sql.Tx) error {
		return func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO totals VALUES (?, 1) ON CONFLICT (id) DO UPDATE SET n = n + 1`, id)
			return err
		}
	}
	read := func() string {
		db, err := tg.DB(ctx, p)
		must(t, err)
		rows, err := db.QueryContext(ctx, `SELECT id || '=' || n FROM totals ORDER BY id`)
		must(t, err)
		return fmt.Sprint(column(t, rows))
	}
	for v := 1; v <= 3; v++ {
		k := projection.Key{Projection: p, Version: v}
		must(t, tg.Prepare(ctx, k, setup, []string{"TOTALS"})) // names match without case, as in SQL
		must(t, tg.Update(ctx, k, projection.Checkpoint{}, at(1), add(fmt.Sprintf("v%d", v))))
		must(t, tg.Update(ctx, k, at(1), at(2), add(fmt.Sprintf("v%d", v))))
		must(t, tg.Promote(ctx, p, v))
		if got, want := read(), fmt.Sprintf("[v%d=2]", v); got != want {
			t.Errorf("after Promote(%d) readers see %s; want %s", v, got, want)
		}
	}
	// The replaced version's file stays until the next promotion.
	if got := dbFiles(t, dir); fmt.Sprint(got) != "[Order.Totals.v2.db Order.Totals.v3.db projections.db]" {
		t.Errorf("files = %v", got)
	}
	// A retired version is not created again, by any call.
	k1 := projection.Key{Projection: p, Version: 1}
	if err := tg.Update(ctx, k1, projection.Checkpoint{}, at(9), add("late")); !errors.Is(err, projection.ErrRetired) {
		t.Errorf("Update of a removed retired version = %v; want ErrRetired", err)
	}
	if err := tg.SetPartitions(ctx, p, 1, 2); !errors.Is(err, projection.ErrRetired) {
		t.Errorf("SetPartitions of a removed retired version = %v; want ErrRetired", err)
	}
	if cp, err := tg.Load(ctx, k1); err != nil || !cp.IsZero() {
		t.Errorf("Load of a removed version = %v, %v; want none", cp, err)
	}
	if _, err := os.Stat(tg.Path(p, 1)); !os.IsNotExist(err) {
		t.Errorf("a retired version's file came back: %v", err)
	}

	// All of it survives closing and reopening.
	must(t, tg.Close())
	must(t, tg.Close())
	if err := tg.Save(ctx, k1, projection.Checkpoint{}, at(1)); !errors.Is(err, sqlite.ErrClosed) {
		t.Errorf("Save after Close = %v; want ErrClosed", err)
	}
	tg = open(t, dir)
	if v, err := tg.Live(ctx, p); err != nil || v != 3 {
		t.Errorf("Live after reopening = %d, %v; want 3", v, err)
	}
	if cp, err := tg.Load(ctx, projection.Key{Projection: p, Version: 3}); err != nil || cp != at(2) {
		t.Errorf("checkpoint after reopening = %v, %v; want %v", cp, err, at(2))
	}
	if got := read(); got != "[v3=2]" {
		t.Errorf("after reopening readers see %s", got)
	}
	// Readers cannot write.
	db, err := tg.DB(ctx, p)
	must(t, err)
	if _, err := db.ExecContext(ctx, `DELETE FROM totals`); err == nil {
		t.Error("a reader's handle deleted rows")
	}
}

func TestTwoTargetsOnOneDirectory(t *testing.T) {
	// Two processes' targets (two Opens) share the files: SQLite's locks
	// and the busy timeout serialize their writers, and the fence lets one
	// of two runners of a projection win.
	dir := t.TempDir()
	a, b := open(t, dir), open(t, dir)
	ctx := t.Context()
	k := projection.Key{Projection: "shared", Version: 1}
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		tg := a
		if i%2 == 1 {
			tg = b
		}
		wg.Go(func() { errs[i] = tg.Save(ctx, k, projection.Checkpoint{}, at(uint64(i+1))) })
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, projection.ErrFenced):
			t.Errorf("runner %d: %v", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d runners won; want 1", won)
	}
	must(t, a.Promote(ctx, "shared", 1))
	if v, err := b.Live(ctx, "shared"); err != nil || v != 1 {
		t.Errorf("the other target sees live %d, %v", v, err)
	}
	// b promotes 3 first; a's promotion of 2 must not move live back.
	must(t, b.Promote(ctx, "shared", 3))
	if err := a.Promote(ctx, "shared", 2); !errors.Is(err, projection.ErrRetired) {
		t.Errorf("Promote(2) after another target promoted 3 = %v; want ErrRetired", err)
	}
	if v, _ := a.Live(ctx, "shared"); v != 3 {
		t.Errorf("live = %d; want 3", v)
	}
}

func TestManyPartitionsWriteOneFile(t *testing.T) {
	tg := open(t, t.TempDir())
	ctx := t.Context()
	const p, parts, batches = "busy", 8, 30
	must(t, tg.SetPartitions(ctx, p, 1, parts))
	must(t, tg.Prepare(ctx, projection.Key{Projection: p, Version: 1}, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE hits (part INTEGER, n INTEGER)`)
		return err
	}, []string{"hits"}))
	var wg sync.WaitGroup
	for part := 1; part <= parts; part++ {
		wg.Go(func() {
			k := projection.Key{Projection: p, Version: 1, Partition: part}
			prev := projection.Checkpoint{}
			for i := range batches {
				next := at(uint64(i + 1))
				err := tg.Update(ctx, k, prev, next, func(ctx context.Context, tx *sql.Tx) error {
					_, err := tx.ExecContext(ctx, `INSERT INTO hits VALUES (?, ?)`, part, i)
					return err
				})
				if err != nil {
					t.Errorf("partition %d batch %d: %v", part, i, err)
					return
				}
				prev = next
			}
		})
	}
	// Readers read while the partitions write.
	wg.Go(func() {
		for range 20 {
			if _, err := tg.Load(ctx, projection.Key{Projection: p, Version: 1, Partition: 1}); err != nil {
				t.Errorf("Load: %v", err)
			}
		}
	})
	wg.Wait()
	rows := query(t, tg.Path(p, 1), `SELECT count(*) || '/' || count(DISTINCT part || '-' || n) FROM hits`)
	if want := fmt.Sprintf("%d/%d", parts*batches, parts*batches); rows[0] != want {
		t.Errorf("rows/distinct = %s; want %s", rows[0], want)
	}
}

func TestCorruptCheckpoint(t *testing.T) {
	tg := open(t, t.TempDir())
	ctx := t.Context()
	k := projection.Key{Projection: "corrupt", Version: 1}
	must(t, tg.Save(ctx, k, projection.Checkpoint{}, at(1)))
	db, err := sql.Open("sqlite", "file:"+tg.Path("corrupt", 1)+"?_pragma=busy_timeout(10000)")
	must(t, err)
	defer db.Close()
	_, err = db.ExecContext(ctx, `UPDATE chronicle_checkpoints SET kind = 9`)
	must(t, err)
	if _, err := tg.Load(ctx, k); !errors.Is(err, projection.ErrCheckpointMismatch) {
		t.Errorf("Load of a row of unknown kind = %v; want ErrCheckpointMismatch", err)
	}
	if _, err := tg.Statuses(ctx); !errors.Is(err, projection.ErrCheckpointMismatch) {
		t.Errorf("Statuses with a row of unknown kind = %v; want ErrCheckpointMismatch", err)
	}
	// A file that is not a version file of ours.
	_, err = db.ExecContext(ctx, `DROP TABLE chronicle_checkpoints`)
	must(t, err)
	if _, err := tg.Load(ctx, k); err == nil {
		t.Error("Load from a file without checkpoints succeeded")
	}
	if err := tg.Save(ctx, k, projection.Checkpoint{}, at(1)); err == nil || errors.Is(err, projection.ErrFenced) {
		t.Errorf("Save into a file without checkpoints = %v; want the database's error", err)
	}
}

func TestCanceledContexts(t *testing.T) {
	dir := t.TempDir()
	tg := open(t, dir)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	k := projection.Key{Projection: "canceled", Version: 1}
	errs := map[string]error{
		"Prepare":       tg.Prepare(ctx, k, nil, nil),
		"Promote":       tg.Promote(ctx, "canceled", 1),
		"SetPartitions": tg.SetPartitions(ctx, "canceled", 1, 2),
	}
	_, errs["Live"] = tg.Live(ctx, "canceled")
	_, errs["DB"] = tg.DB(ctx, "canceled")
	for op, err := range errs {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context = %v; want context.Canceled", op, err)
		}
	}
	if st, err := tg.Statuses(t.Context()); err != nil || len(st) != 0 {
		t.Errorf("after canceled calls Statuses = %v, %v; want nothing", st, err)
	}
}

func TestStatuses(t *testing.T) {
	tg := open(t, t.TempDir())
	ctx := t.Context()
	v1 := projection.Key{Projection: "orders", Version: 1}
	v2 := projection.Key{Projection: "orders", Version: 2}
	must(t, tg.Prepare(ctx, v1, nil, nil))
	must(t, tg.Promote(ctx, "orders", 1))
	must(t, tg.Save(ctx, v1, projection.Checkpoint{}, at(5)))
	must(t, tg.Prepare(ctx, v2, nil, nil))
	must(t, tg.SetPartitions(ctx, "orders", 2, 2))
	must(t, tg.Save(ctx, v2, projection.Checkpoint{}, at(2)))
	must(t, tg.Save(ctx, projection.Key{Projection: "orders", Version: 2, Partition: 2}, projection.Checkpoint{}, at(3)))
	must(t, tg.Save(ctx, projection.Key{Projection: "audit", Version: 1}, projection.Checkpoint{}, projection.AtRevision(4)))
	got, err := tg.Statuses(ctx)
	must(t, err)
	want := []projection.TargetStatus{
		{Projection: "audit", Versions: []projection.VersionStatus{
			{Version: 1, Place: tg.Path("audit", 1), Started: projection.AtRevision(4),
				Checkpoints: []projection.PartitionCheckpoint{{Partition: 0, Checkpoint: projection.AtRevision(4)}}},
		}},
		{Projection: "orders", Live: 1, Versions: []projection.VersionStatus{
			{Version: 1, Place: tg.Path("orders", 1), Started: at(5),
				Checkpoints: []projection.PartitionCheckpoint{{Partition: 0, Checkpoint: at(5)}}},
			{Version: 2, Place: tg.Path("orders", 2), Partitions: 2, Started: at(2),
				Checkpoints: []projection.PartitionCheckpoint{{Partition: 0, Checkpoint: at(2)}, {Partition: 2, Checkpoint: at(3)}}},
		}},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreTypes(time.Time{})); diff != "" {
		t.Errorf("Statuses (-want +got):\n%s", diff)
	}
	o := got[1]
	if o.Promoted.IsZero() || o.Versions[0].Prepared.IsZero() || o.Versions[0].Created.IsZero() ||
		o.Versions[1].Checkpoints[1].Updated.IsZero() || !o.Versions[1].Retired.IsZero() || !got[0].Versions[0].Prepared.IsZero() {
		t.Errorf("times of orders = %+v", o)
	}
	must(t, tg.Promote(ctx, "orders", 2))
	got, err = tg.Statuses(ctx)
	must(t, err)
	if o := got[1]; o.Live != 2 || o.Versions[0].Retired.IsZero() || len(o.Versions[0].Checkpoints) != 0 {
		t.Errorf("after Promote(2), orders = %+v", o)
	}
}

func TestBrokenFiles(t *testing.T) {
	dir := t.TempDir()
	tg := open(t, dir)
	ctx := t.Context()
	// A version file whose own tables were dropped by something else.
	k := projection.Key{Projection: "broken", Version: 1}
	must(t, tg.Save(ctx, k, projection.Checkpoint{}, at(1)))
	db, err := sql.Open("sqlite", "file:"+tg.Path("broken", 1)+"?_pragma=busy_timeout(10000)")
	must(t, err)
	defer db.Close()
	_, err = db.ExecContext(ctx, `DROP TABLE chronicle_version`)
	must(t, err)
	errs := map[string]error{
		"Prepare":       tg.Prepare(ctx, k, nil, nil),
		"SetPartitions": tg.SetPartitions(ctx, "broken", 1, 1),
		"Save":          tg.Save(ctx, projection.Key{Projection: "broken", Version: 1, Partition: 1}, projection.Checkpoint{}, at(1)),
		"Promote":       tg.Promote(ctx, "broken", 2), // cannot retire version 1
		"Transact":      tg.Transact(ctx, k, func(context.Context, *sql.Tx) error { return nil }),
	}
	_, errs["Load"] = tg.Load(ctx, k)
	_, errs["Statuses"] = tg.Statuses(ctx)
	for op, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "chronicle_version") {
			t.Errorf("%s on a file without chronicle_version = %v; want the database's error", op, err)
		}
	}
	if v, _ := tg.Live(ctx, "broken"); v != 0 {
		t.Errorf("a failed Promote made version %d live", v)
	}

	// A file named like a version file that is not a database, and names
	// that are not ours, which the target leaves alone.
	must(t, os.WriteFile(filepath.Join(dir, "garbage.v1.db"), []byte(strings.Repeat("garbage ", 200)), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "-dash.v1.db"), nil, 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "notes.txt"), nil, 0o600))
	must(t, os.Remove(tg.Path("broken", 1)))
	if _, err := tg.Statuses(ctx); err == nil || !strings.Contains(err.Error(), "garbage.v1.db") {
		t.Errorf("Statuses with a garbage file = %v; want an error naming it", err)
	}
	if err := tg.Promote(ctx, "garbage", 2); err == nil {
		t.Error("Promote over a garbage version file succeeded")
	}
	if _, err := tg.Load(ctx, projection.Key{Projection: "garbage", Version: 1}); err == nil {
		t.Error("Load from a garbage file succeeded")
	}
	// The directory itself gone.
	must(t, os.RemoveAll(dir))
	if _, err := tg.Statuses(ctx); err == nil {
		t.Error("Statuses without a directory succeeded")
	}
	if err := tg.Promote(ctx, "gone", 1); err == nil {
		t.Error("Promote without a directory succeeded")
	}
}

func TestBrokenControlFile(t *testing.T) {
	dir := t.TempDir()
	tg := open(t, dir)
	ctx := t.Context()
	must(t, tg.Save(ctx, projection.Key{Projection: "ctl", Version: 1}, projection.Checkpoint{}, at(1)))
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, sqlite.ControlFile)+"?_pragma=busy_timeout(10000)")
	must(t, err)
	defer db.Close()
	_, err = db.ExecContext(ctx, `DROP TABLE projections`)
	must(t, err)
	errs := map[string]error{
		"Promote": tg.Promote(ctx, "ctl", 1),
		"Update of a new file": tg.Update(ctx, projection.Key{Projection: "ctl", Version: 2}, projection.Checkpoint{}, at(1),
			func(context.Context, *sql.Tx) error { return nil }),
	}
	_, errs["Live"] = tg.Live(ctx, "ctl")
	_, errs["Statuses"] = tg.Statuses(ctx)
	for op, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "projections") {
			t.Errorf("%s without the control table = %v; want the database's error", op, err)
		}
	}
	if _, err := os.Stat(tg.Path("ctl", 2)); !os.IsNotExist(err) {
		t.Error("a file was created while the live version could not be read")
	}
	// A setup that breaks the target's own tables fails, and nothing of it
	// is kept.
	k := projection.Key{Projection: "sabotage", Version: 1}
	err = tg.Prepare(ctx, k, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DROP TABLE chronicle_version`)
		return err
	}, nil)
	if err == nil {
		t.Fatal("Prepare whose setup dropped chronicle_version succeeded")
	}
	if _, err := tg.Load(ctx, k); err != nil {
		t.Errorf("after the failed Prepare, Load = %v; want the file intact", err)
	}
}
