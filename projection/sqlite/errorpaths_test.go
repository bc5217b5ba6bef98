package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/projection/sqlite"
)

// outside opens a file as another process would, for a test to change it
// behind the target's back.
func outside(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	must(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func exec(t *testing.T, db *sql.DB, q string) {
	t.Helper()
	if _, err := db.ExecContext(t.Context(), q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// holdWriteLock takes the write lock of the file at path in another
// connection until the test ends or the returned function is called.
func holdWriteLock(t *testing.T, path string) (release func()) {
	t.Helper()
	conn, err := outside(t, path).Conn(t.Context())
	must(t, err)
	_, err = conn.ExecContext(t.Context(), `BEGIN IMMEDIATE`)
	must(t, err)
	released := false
	release = func() {
		if !released {
			released = true
			_, _ = conn.ExecContext(context.Background(), `ROLLBACK`)
			conn.Close()
		}
	}
	t.Cleanup(release)
	return release
}

// saved returns a new target with version 1 of projection name at
// checkpoint at(1).
func saved(t *testing.T, name string) (*sqlite.Target, projection.Key) {
	t.Helper()
	tg := open(t, t.TempDir())
	k := projection.Key{Projection: name, Version: 1}
	must(t, tg.Save(t.Context(), k, projection.Checkpoint{}, at(1)))
	return tg, k
}

// A write that waits for a file another process holds ends with its
// context (a short deadline: such a call can only fail, whenever the
// deadline comes), and writes nothing.
func TestLockedFilesEndAtTheDeadline(t *testing.T) {
	tg := open(t, t.TempDir())
	ctx := t.Context()
	const p = "locked"
	k1, k2 := projection.Key{Projection: p, Version: 1}, projection.Key{Projection: p, Version: 2}
	must(t, tg.Prepare(ctx, k1, nil, nil))
	must(t, tg.Save(ctx, k1, projection.Checkpoint{}, at(1)))
	must(t, tg.Promote(ctx, p, 1))
	must(t, tg.Prepare(ctx, k2, nil, nil))

	short := func() context.Context {
		c, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		t.Cleanup(cancel)
		return c
	}
	release := holdWriteLock(t, tg.Path(p, 1))
	noop := func(context.Context, *sql.Tx) error { return nil }
	errs := map[string]error{
		"Update":        tg.Update(short(), k1, at(1), at(2), noop),
		"Transact":      tg.Transact(short(), k1, noop),
		"Prepare":       tg.Prepare(short(), k1, nil, nil),
		"SetPartitions": tg.SetPartitions(short(), p, 1, 2),
		"Promote":       tg.Promote(short(), p, 2), // cannot retire version 1
	}
	release()
	for op, err := range errs {
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s on a locked file = %v; want the deadline", op, err)
		}
	}
	if cp, err := tg.Load(ctx, k1); err != nil || cp != at(1) {
		t.Errorf("checkpoint afterwards = %v, %v; want %v", cp, err, at(1))
	}
	if v, err := tg.Live(ctx, p); err != nil || v != 1 {
		t.Errorf("live afterwards = %d, %v; want 1", v, err)
	}
	st, err := tg.Statuses(ctx)
	must(t, err)
	if v1 := st[0].Versions[0]; v1.Partitions != 0 || !v1.Retired.IsZero() {
		t.Errorf("version 1 afterwards: %+v", v1)
	}
	// The lock gone, the same calls succeed.
	must(t, tg.SetPartitions(ctx, p, 1, 1))
	must(t, tg.Update(ctx, k1, at(1), at(2), noop))

	// With the control file held, a promotion fences the old version but
	// cannot switch: version 1 stays live, frozen, until a promotion
	// succeeds.
	release = holdWriteLock(t, filepath.Join(tg.Dir(), sqlite.ControlFile))
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- tg.Promote(pctx, p, 2) }()
	for fenced := false; !fenced; {
		st, err := tg.Statuses(ctx)
		must(t, err)
		if fenced = !st[0].Versions[0].Retired.IsZero(); !fenced {
			select {
			case err := <-done:
				t.Fatalf("Promote with the control file locked returned %v before it fenced version 1", err)
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	cancel() // it waits for the control file
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Promote with the control file locked = %v; want its context's end", err)
	}
	release()
	if v, err := tg.Live(ctx, p); err != nil || v != 1 {
		t.Errorf("live after a promotion that could not switch = %d, %v; want 1", v, err)
	}
	if err := tg.Update(ctx, k1, at(2), at(3), noop); !errors.Is(err, projection.ErrRetired) {
		t.Errorf("Update of the fenced version = %v; want ErrRetired", err)
	}
	must(t, tg.Promote(ctx, p, 2))
}

// Statements the target's transactions run can fail (here a trigger that
// another program added refuses them): the call fails with the database's
// error and its transaction keeps nothing.
func TestRefusedStatementsKeepNothing(t *testing.T) {
	tg := open(t, t.TempDir())
	ctx := t.Context()
	const p = "refused"
	k1 := projection.Key{Projection: p, Version: 1}
	must(t, tg.Prepare(ctx, k1, nil, nil))
	v1 := outside(t, tg.Path(p, 1))
	exec(t, v1, `CREATE TRIGGER no_version_update BEFORE UPDATE ON chronicle_version BEGIN SELECT RAISE(ABORT, 'refused by test'); END`)
	created := false
	setup := func(ctx context.Context, tx *sql.Tx) error {
		created = true
		_, err := tx.ExecContext(ctx, `CREATE TABLE rows (id TEXT)`)
		return err
	}
	k2 := projection.Key{Projection: p, Version: 2}
	must(t, tg.Save(ctx, k2, projection.Checkpoint{}, at(1))) // creates version 2
	v2 := outside(t, tg.Path(p, 2))
	exec(t, v2, `CREATE TRIGGER no_version_update BEFORE UPDATE ON chronicle_version BEGIN SELECT RAISE(ABORT, 'refused by test'); END`)
	errs := map[string]error{
		// The first checkpoint of partition 0 records where the version
		// started.
		"Save":          tg.Save(ctx, k1, projection.Checkpoint{}, at(1)),
		"SetPartitions": tg.SetPartitions(ctx, p, 1, 2),
		"Prepare":       tg.Prepare(ctx, k2, setup, nil),
	}
	for op, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "refused by test") {
			t.Errorf("%s = %v; want the trigger's error", op, err)
		}
	}
	if !created {
		t.Error("Prepare did not run its setup")
	}
	if cp, err := tg.Load(ctx, k1); err != nil || !cp.IsZero() {
		t.Errorf("checkpoint after a refused Save = %v, %v; want none", cp, err)
	}
	if got := query(t, tg.Path(p, 2), `SELECT name FROM sqlite_schema WHERE name = 'rows'`); len(got) != 0 {
		t.Errorf("a refused Prepare kept its setup's table")
	}
	st, err := tg.Statuses(ctx)
	must(t, err)
	if vs := st[0].Versions; vs[0].Partitions != 0 || !vs[1].Prepared.IsZero() {
		t.Errorf("versions after refused writes: %+v", vs)
	}

	// A retirement whose deletion of the old checkpoints is refused: the
	// promotion fails and nothing moved.
	exec(t, v1, `DROP TRIGGER no_version_update`)
	exec(t, v2, `DROP TRIGGER no_version_update`)
	must(t, tg.Save(ctx, k1, projection.Checkpoint{}, at(1)))
	must(t, tg.Promote(ctx, p, 1))
	exec(t, v1, `CREATE TRIGGER keep BEFORE DELETE ON chronicle_checkpoints BEGIN SELECT RAISE(ABORT, 'refused by test'); END`)
	if err := tg.Promote(ctx, p, 2); err == nil || !strings.Contains(err.Error(), "refused by test") {
		t.Errorf("Promote whose retirement is refused = %v; want the trigger's error", err)
	}
	if v, err := tg.Live(ctx, p); err != nil || v != 1 {
		t.Errorf("live after a refused retirement = %d, %v; want 1", v, err)
	}
	if cp, err := tg.Load(ctx, k1); err != nil || cp != at(1) {
		t.Errorf("version 1's checkpoint after a refused retirement = %v, %v; want %v", cp, err, at(1))
	}
	exec(t, v1, `DROP TRIGGER keep`)

	// Another process promotes a newer version between this promotion's
	// write and its check (the trigger stands in for it): the promotion
	// reports that it lost.
	ctl := outside(t, filepath.Join(tg.Dir(), sqlite.ControlFile))
	exec(t, ctl, `CREATE TRIGGER newer AFTER UPDATE OF live ON projections BEGIN UPDATE projections SET live = 9 WHERE projection = NEW.projection AND NEW.live < 9; END`)
	if err := tg.Promote(ctx, p, 2); !errors.Is(err, projection.ErrRetired) || !strings.Contains(err.Error(), "version 9 is live") {
		t.Errorf("Promote overtaken by another = %v; want ErrRetired naming version 9", err)
	}
}

// An apply that ends the transaction itself makes the commit fail: the
// call reports it, the checkpoint stays where it was, and the next call
// works.
func TestApplyThatRollsBack(t *testing.T) {
	tg, k := saved(t, "rogue")
	ctx := t.Context()
	rogue := func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `ROLLBACK`)
		return err
	}
	if err := tg.Update(ctx, k, at(1), at(2), rogue); err == nil || !strings.Contains(err.Error(), "commit") {
		t.Errorf("Update whose apply rolled back = %v; want the commit's error", err)
	}
	if err := tg.Transact(ctx, k, rogue); err == nil || !strings.Contains(err.Error(), "commit") {
		t.Errorf("Transact whose apply rolled back = %v; want the commit's error", err)
	}
	if cp, err := tg.Load(ctx, k); err != nil || cp != at(1) {
		t.Errorf("checkpoint = %v, %v; want %v", cp, err, at(1))
	}
	must(t, tg.Update(ctx, k, at(1), at(2), nil))
}

func TestFilesThatCannotBeOpened(t *testing.T) {
	dir := t.TempDir()
	tg := open(t, dir)
	ctx := t.Context()

	// A version file of another program: its chronicle_version is not
	// ours and takes no row of ours.
	foreign := outside(t, tg.Path("foreign", 1))
	exec(t, foreign, `CREATE TABLE chronicle_version (one INTEGER PRIMARY KEY CHECK (one = 2))`)
	k := projection.Key{Projection: "foreign", Version: 1}
	for range 2 { // not kept open after the failure: the second call tries again
		if err := tg.Save(ctx, k, projection.Checkpoint{}, at(1)); err == nil || !strings.Contains(err.Error(), "chronicle_version has no column") {
			t.Errorf("Save into a foreign file = %v; want the insert's error", err)
		}
	}
	if got := query(t, tg.Path("foreign", 1), `SELECT count(*) FROM chronicle_version`); got[0] != "0" {
		t.Errorf("rows in the foreign file's chronicle_version: %v", got)
	}

	// A file not opened yet, and a context cancelled: Load fails with the
	// context's error.
	must(t, tg.Save(ctx, projection.Key{Projection: "later", Version: 1}, projection.Checkpoint{}, at(1)))
	other := open(t, dir)
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := other.Load(canceled, projection.Key{Projection: "later", Version: 1}); !errors.Is(err, context.Canceled) {
		t.Errorf("Load with a cancelled context = %v; want context.Canceled", err)
	}
	if cp, err := other.Load(ctx, projection.Key{Projection: "later", Version: 1}); err != nil || cp != at(1) {
		t.Errorf("Load afterwards = %v, %v", cp, err)
	}
	must(t, other.Close())

	// A live version whose file became garbage: DB reports it, a promotion
	// to a garbage file fails, and nothing becomes live.
	must(t, tg.Promote(ctx, "later", 1))
	must(t, tg.Close())
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(tg.Path("later", 1) + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
	}
	garbage := []byte(strings.Repeat("garbage ", 200))
	must(t, os.WriteFile(tg.Path("later", 1), garbage, 0o600))
	must(t, os.WriteFile(tg.Path("junk", 1), garbage, 0o600))
	tg = open(t, dir)
	if _, err := tg.DB(ctx, "later"); err == nil || !strings.Contains(err.Error(), "later.v1.db") {
		t.Errorf("DB of a garbage live file = %v; want an error naming it", err)
	}
	if err := tg.Promote(ctx, "junk", 1); err == nil || !strings.Contains(err.Error(), "junk.v1.db") {
		t.Errorf("Promote to a garbage file = %v; want an error naming it", err)
	}
	if v, err := tg.Live(ctx, "junk"); err != nil || v != 0 {
		t.Errorf("live after a failed promotion = %d, %v; want 0", v, err)
	}

	// The directory replaced by a file: the target reports the path's
	// error, not a missing file, and creates nothing.
	must(t, os.RemoveAll(dir))
	must(t, os.WriteFile(dir, nil, 0o600))
	err := tg.Save(ctx, projection.Key{Projection: "new", Version: 1}, projection.Checkpoint{}, at(1))
	if err == nil || errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "new.v1.db") {
		t.Errorf("Save with the directory gone = %v; want the path's error", err)
	}
}

// Statuses reports a checkpoint table it cannot read.
func TestStatusesOfForeignCheckpoints(t *testing.T) {
	tg, _ := saved(t, "odd")
	ctx := t.Context()
	db := outside(t, tg.Path("odd", 1))
	exec(t, db, `DROP TABLE chronicle_checkpoints`)
	if _, err := tg.Statuses(ctx); err == nil || !strings.Contains(err.Error(), "chronicle_checkpoints") {
		t.Errorf("Statuses without chronicle_checkpoints = %v; want the database's error", err)
	}
	exec(t, db, `CREATE TABLE chronicle_checkpoints (partition TEXT, kind INTEGER, commit_pos INTEGER, prepare_pos INTEGER, revision INTEGER, updated_at TEXT)`)
	exec(t, db, `INSERT INTO chronicle_checkpoints VALUES ('first', 1, 1, 1, 0, NULL)`)
	if _, err := tg.Statuses(ctx); err == nil || !strings.Contains(err.Error(), "odd.v1.db") {
		t.Errorf("Statuses with a partition that is not a number = %v; want an error naming the file", err)
	}
}

// A context that ends while its transaction runs: database/sql rolls the
// transaction back on its own, and the commit finds it gone. The call's
// error matches the context's (a runner that is told to stop stops, rather
// than failing with "transaction has already been committed or rolled
// back"), and nothing is kept.
func TestContextEndsInsideTheTransaction(t *testing.T) {
	tg, k := saved(t, "ended")
	// endInside cancels the call's context and waits until database/sql
	// has rolled the transaction back.
	endInside := func(cancel context.CancelFunc) func(context.Context, *sql.Tx) error {
		return func(_ context.Context, tx *sql.Tx) error {
			cancel()
			for {
				_, err := tx.ExecContext(context.Background(), `SELECT 1`)
				if errors.Is(err, sql.ErrTxDone) {
					return nil
				}
				time.Sleep(time.Millisecond)
			}
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	if err := tg.Update(ctx, k, at(1), at(2), endInside(cancel)); !errors.Is(err, context.Canceled) {
		t.Errorf("Update whose context ended inside = %v; want context.Canceled", err)
	}
	ctx, cancel = context.WithCancel(t.Context())
	if err := tg.Transact(ctx, k, endInside(cancel)); !errors.Is(err, context.Canceled) {
		t.Errorf("Transact whose context ended inside = %v; want context.Canceled", err)
	}
	if cp, err := tg.Load(t.Context(), k); err != nil || cp != at(1) {
		t.Errorf("checkpoint = %v, %v; want %v", cp, err, at(1))
	}
	must(t, tg.Update(t.Context(), k, at(1), at(2), nil))
}
