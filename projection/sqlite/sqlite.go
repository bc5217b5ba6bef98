package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	sqlitedriver "modernc.org/sqlite" // and the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/chronicle-go/chronicle/projection"
)

// Target keeps read models and their checkpoints in SQLite files in one
// directory. It is safe for concurrent use; see the package documentation.
type Target struct {
	dir string

	ctlW, ctlR *sql.DB // the control file: one writer connection, readers
	promoteMu  sync.Mutex

	mu     sync.Mutex
	files  map[place]*file
	closed bool
}

var (
	_ projection.Target[*sql.Tx]     = (*Target)(nil)
	_ projection.Preparer[*sql.Tx]   = (*Target)(nil)
	_ projection.Rebuilder           = (*Target)(nil)
	_ projection.Transactor[*sql.Tx] = (*Target)(nil)
)

// place is one version of one projection: one file.
type place struct {
	projection string
	version    int
}

// file is an open version file: one writer connection, so that writers
// (partitions of one runner) queue in the process instead of meeting
// SQLITE_BUSY, and a pool of readers.
type file struct {
	path string
	w, r *sql.DB
}

// An Option configures a Target. There are none yet; the type keeps Open's
// signature stable.
type Option func(*Target) error

// ControlFile is the name of the file in the directory that records the
// live version of each projection.
const ControlFile = "projections.db"

// Open opens the target in dir, creating the directory (mode 0700) and its
// control file if needed.
func Open(dir string, opts ...Option) (*Target, error) {
	if dir == "" {
		return nil, errors.New("sqlite: open: no directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", dir, err)
	}
	t := &Target{dir: abs, files: make(map[place]*file)}
	for _, opt := range opts {
		if opt == nil {
			return nil, errors.New("sqlite: open: nil option")
		}
		if err := opt(t); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", dir, err)
	}
	path := filepath.Join(abs, ControlFile)
	if t.ctlW, t.ctlR, err = openFile(context.Background(), path, `
CREATE TABLE IF NOT EXISTS projections (
	projection  TEXT PRIMARY KEY,
	live        INTEGER NOT NULL DEFAULT 0,
	created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
	promoted_at TEXT
)`); err != nil {
		return nil, err
	}
	return t, nil
}

// versionTables are the target's own tables in every version file: the
// version's record (one row) and its checkpoints.
const versionTables = `
CREATE TABLE IF NOT EXISTS chronicle_version (
	one         INTEGER PRIMARY KEY CHECK (one = 1),
	projection  TEXT NOT NULL,
	version     INTEGER NOT NULL,
	partitions  INTEGER,
	created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
	prepared_at TEXT,
	started     TEXT,
	retired_at  TEXT
);
CREATE TABLE IF NOT EXISTS chronicle_checkpoints (
	partition   INTEGER PRIMARY KEY,
	kind        INTEGER NOT NULL,
	commit_pos  INTEGER NOT NULL,
	prepare_pos INTEGER NOT NULL,
	revision    INTEGER NOT NULL,
	created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
	updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
)`

// openFile opens (creating) a SQLite file in WAL mode with synchronous=FULL
// — a commit is on disk when it returns — runs schema on it, and returns a
// writer pool of one connection whose transactions take the write lock at
// BEGIN, and a reader pool.
func openFile(ctx context.Context, path, schema string) (w, r *sql.DB, err error) {
	// Switching a new file to WAL mode, while another process's target does
	// the same, can fail with SQLITE_BUSY without waiting on the busy
	// timeout; try again for a while.
	for attempt := 0; ; attempt++ {
		w, r, err = openFileOnce(ctx, path, schema)
		if err == nil || !isBusy(err) || attempt == 100 {
			return w, r, err
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(time.Duration(1+attempt%10) * 5 * time.Millisecond):
		}
	}
}

// isBusy reports whether err is SQLite's SQLITE_BUSY or SQLITE_LOCKED.
func isBusy(err error) bool {
	var se *sqlitedriver.Error
	if !errors.As(err, &se) {
		return false
	}
	code := se.Code() & 0xff
	return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
}

func openFileOnce(ctx context.Context, path, schema string) (w, r *sql.DB, err error) {
	_, statErr := os.Stat(path)
	dsn := func(params ...string) string {
		u := url.URL{Path: filepath.ToSlash(path)}
		// The busy timeout first: the pragmas after it (journal_mode) take
		// locks that another process's target may hold.
		return "file:" + u.EscapedPath() + "?" + strings.Join(append([]string{"_pragma=busy_timeout(10000)"}, params...), "&")
	}
	fail := func(err error) (*sql.DB, *sql.DB, error) {
		if w != nil {
			w.Close()
		}
		if r != nil {
			r.Close()
		}
		return nil, nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if w, err = sql.Open("sqlite", dsn("_txlock=immediate", "_pragma=journal_mode(WAL)", "_pragma=synchronous(FULL)")); err != nil {
		return fail(err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxLifetime(0)
	if _, err := w.ExecContext(ctx, schema); err != nil {
		return fail(err)
	}
	if os.IsNotExist(statErr) {
		// The new file's name must survive a crash too.
		if err := syncDir(filepath.Dir(path)); err != nil {
			return fail(err)
		}
	}
	if r, err = sql.Open("sqlite", dsn("_pragma=query_only(1)")); err != nil {
		return fail(err)
	}
	return w, r, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$`)

func checkName(name string, version int) error {
	switch {
	case !nameRE.MatchString(name):
		return fmt.Errorf("%w: projection name %q: a file name wants letters, digits, '_', '.' and '-', starting with a letter or digit, at most 200", projection.ErrInvalidCheckpoint, name)
	case version < 1:
		return fmt.Errorf("%w: %s: version %d < 1", projection.ErrInvalidCheckpoint, name, version)
	}
	return nil
}

// Path returns the file of a version of projection:
// "<dir>/<projection>.v<version>.db".
func (t *Target) Path(projection string, version int) string {
	return filepath.Join(t.dir, projection+".v"+strconv.Itoa(version)+".db")
}

// Dir returns the target's directory.
func (t *Target) Dir() string { return t.dir }

// open returns the open file of pl. With create unset it returns nil for a
// file that does not exist. A file is only created for a version that is
// not older than the live one (projection.ErrRetired otherwise).
func (t *Target) open(ctx context.Context, pl place, create bool) (*file, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, ErrClosed
	}
	if f := t.files[pl]; f != nil {
		return f, nil
	}
	path := t.Path(pl.projection, pl.version)
	if _, err := os.Stat(path); err != nil {
		if !os.IsNotExist(err) {
			return nil, fmt.Errorf("sqlite: %s: %w", path, err)
		}
		if !create {
			return nil, nil
		}
		live, err := t.Live(ctx, pl.projection)
		if err != nil {
			return nil, err
		}
		if live > pl.version {
			// Matches ErrFenced too, so that a runner stops rather than
			// retries.
			return nil, fmt.Errorf("%w: %s version %d: version %d is live (%w)", projection.ErrRetired, pl.projection, pl.version, live, projection.ErrFenced)
		}
	}
	w, r, err := openFile(ctx, path, versionTables)
	if err != nil {
		return nil, err
	}
	if _, err := w.ExecContext(ctx, `INSERT INTO chronicle_version (one, projection, version) VALUES (1, ?, ?) ON CONFLICT DO NOTHING`,
		pl.projection, pl.version); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	f := &file{path: path, w: w, r: r}
	t.files[pl] = f
	return f, nil
}

// Close closes every file. Read-model handles from DB are closed with it.
func (t *Target) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	errs := []error{t.ctlW.Close(), t.ctlR.Close()}
	for _, f := range t.files {
		errs = append(errs, f.close())
	}
	return errors.Join(errs...)
}

func (f *file) close() error { return errors.Join(f.w.Close(), f.r.Close()) }

// rollback ends a transaction that failed; its own error is of no use
// beside the one that caused it.
func rollback(tx *sql.Tx) { _ = tx.Rollback() }

// commit commits tx, begun with ctx. When ctx ends during the transaction,
// database/sql rolls it back, and Commit may report only sql.ErrTxDone:
// the error then matches ctx's error too, so that callers see why nothing
// was kept (a runner told to stop treats it as its stop, not a failure).
func commit(ctx context.Context, tx *sql.Tx) error {
	err := tx.Commit()
	if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		return fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	return err
}
