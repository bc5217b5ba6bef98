package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	msqlite "modernc.org/sqlite"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/internal/feed"
	"github.com/chronicle-go/chronicle/internal/persistent"
)

// Store is the embedded event store: one SQLite file. It is safe for
// concurrent use. Open it with Open or eventstore.Open("sqlite://…").
type Store struct {
	path string
	opts options
	hub  *feed.Hub
	ps   *persistent.Engine // persistent subscriptions, started on first use

	lock    *os.File  // writer lock; nil when read-only
	wdb     *sql.DB   // writer and checkpointer connections; nil when read-only
	rdb     *sql.DB   // read-only connections
	reads   readStmts // prepared on rdb
	raw     *rawPool  // the pages of event reads (rawread.go)
	links   bool      // the file keeps the system streams' links (WithSystemStreams)
	w       *writer   // nil when read-only
	ckpt    *checkpointer
	watcher *watcher // read-only: feeds subscriptions by polling

	internMu sync.RWMutex
	interned map[string]string

	closed    atomic.Bool
	failed    atomic.Pointer[FailedError] // set once, by fail
	closeOnce sync.Once
	closeErr  error
}

var _ eventstore.Store = (*Store)(nil)

// Open opens the store in the SQLite file at path, creating it (mode 0600)
// if it does not exist, and takes the writer lock path+".lock". A second
// writer, in this process or another, gets a *LockedError; readers in other
// processes open the file with ReadOnly.
//
// Open switches the SQLite driver to fdatasync for the whole process (see
// modernc.org/sqlite.Fdatasync): commits stay as durable and cost one
// journal write less.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	s := &Store{path: abs, opts: o, hub: feed.NewHub()}
	s.ps = persistent.New(s, s.appendSystem)
	if o.readOnly {
		err = s.openReader(ctx)
	} else {
		err = s.openWriter(ctx)
	}
	if err != nil {
		s.release()
		return nil, err
	}
	return s, nil
}

// Path returns the absolute path of the database file.
func (s *Store) Path() string { return s.path }

// dsn returns the driver's connection string for the store's file.
func (s *Store) dsn(params ...string) string { return s.dsnFor(s.path, params...) }

// dsnFor returns the driver's connection string for the file at path.
func (s *Store) dsnFor(path string, params ...string) string {
	u := url.URL{Path: filepath.ToSlash(path)}
	if s.opts.vfs != "" {
		params = append(params, "vfs="+url.QueryEscape(s.opts.vfs))
	}
	return "file:" + u.EscapedPath() + "?" + strings.Join(params, "&")
}

func (s *Store) openWriter(ctx context.Context) error {
	created, err := s.create(ctx)
	if err != nil {
		return err
	}
	if s.lock, err = lockFile(s.path + ".lock"); err != nil {
		return err
	}
	s.removeStaleTemps()
	if _, err := msqlite.Fdatasync(true); err != nil && !errors.Is(err, msqlite.ErrFdatasyncUnavailable) {
		return fmt.Errorf("sqlite: %w", err)
	}
	s.wdb, err = sql.Open("sqlite", s.dsn(
		"_pragma=busy_timeout(10000)",
		"_pragma=journal_mode(WAL)",
		"_pragma=synchronous(FULL)",
		"_pragma=fullfsync(1)", // macOS: F_FULLFSYNC, see the package doc
		"_pragma=checkpoint_fullfsync(1)",
		"_pragma=wal_autocheckpoint(0)",
		"_pragma=journal_size_limit(67108864)",
		"_pragma=temp_store(MEMORY)",
		"_pragma=cache_size(-65536)",
	))
	if err != nil {
		return fmt.Errorf("sqlite: open %s: %w", s.path, err)
	}
	s.wdb.SetMaxOpenConns(2) // the writer and the checkpointer
	s.wdb.SetMaxIdleConns(2)
	s.wdb.SetConnMaxLifetime(0)
	wconn, err := s.wdb.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: open %s: %w", s.path, err)
	}
	if s.w, err = s.startWriting(ctx, wconn, created); err != nil {
		wconn.Close()
	}
	return err
}

// startWriting prepares the file on the writer's connection and starts the
// checkpointer, the readers and the commit loop.
func (s *Store) startWriting(ctx context.Context, wconn *sql.Conn, created bool) (*writer, error) {
	if err := migrate(ctx, wconn); err != nil {
		return nil, err
	}
	var err error
	if s.links, err = applySystemStreams(ctx, wconn, s.opts.systemStreams); err != nil {
		return nil, err
	}
	if err := reserveLog(s.path+"-wal", s.opts.checkpointPages); err != nil {
		return nil, err
	}
	if created {
		// SQLite gives the -wal and -shm files the database file's mode;
		// make sure of it whatever the umask.
		for _, suffix := range []string{"-wal", "-shm"} {
			if err := os.Chmod(s.path+suffix, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("sqlite: %w", err)
			}
		}
	}
	cconn, err := s.wdb.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", s.path, err)
	}
	s.ckpt = startCheckpointer(cconn, func() {
		if s.w != nil {
			s.w.wantTail.Store(true)
		}
	}, func(err error) { s.checkpointFailed("background checkpoint failed", err) })
	if err := s.openReads(ctx); err != nil {
		return nil, err
	}
	return newWriter(ctx, s, wconn)
}

// reserveLog extends the write-ahead log with zeros, once, to twice the
// size the checkpointer lets it reach, and syncs it: SQLite then writes its
// frames over blocks that exist, and a commit's fdatasync need not also
// record the file's growth (PostgreSQL zero-fills its WAL segments for the
// same reason). SQLite ignores what follows the last valid frame, as it
// does after every restart of the log. The commit loop is not running yet,
// so nothing else writes the file.
func reserveLog(path string, checkpointPages int) error {
	want := min(max(int64(checkpointPages)*2*(4096+24), 1<<20), 64<<20)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite: reserve log: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("sqlite: reserve log: %w", err)
	}
	if fi.Size() >= want {
		return nil
	}
	zeros := make([]byte, 1<<20)
	for off := fi.Size(); off < want; off += int64(len(zeros)) {
		if _, err := writeAt(f, zeros[:min(int64(len(zeros)), want-off)], off); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return &DiskFullError{Op: "reserve the write-ahead log " + path, Need: want - fi.Size(), Err: err}
			}
			return fmt.Errorf("sqlite: reserve log: %w", err)
		}
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sqlite: reserve log: %w", err)
	}
	return nil
}

// writeAt is (*os.File).WriteAt; tests replace it to fill the disk.
var writeAt = (*os.File).WriteAt

// createHook runs between the steps of creating a store; tests make it
// fail to stand for a crash at that point.
var createHook = func(step string) error { return nil }

// create makes a new store at s.path atomically, if there is none: the
// schema goes into a temporary file beside it, which is synced and then
// linked to s.path, so that a crash leaves either no store or a complete
// empty one, never a file other processes cannot open. It reports whether
// it created the file.
func (s *Store) create(ctx context.Context) (created bool, err error) {
	switch _, err := os.Lstat(s.path); {
	case err == nil:
		return false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return false, fmt.Errorf("sqlite: create %s: %w", s.path, err)
	}
	bad := func(err error) (bool, error) { return false, fmt.Errorf("sqlite: create %s: %w", s.path, err) }
	f, err := os.CreateTemp(filepath.Dir(s.path), filepath.Base(s.path)+".creating-*")
	if err != nil {
		return bad(err)
	}
	tmp := f.Name()      // mode 0600 whatever the umask
	defer os.Remove(tmp) // once linked, only the temporary name goes
	f.Close()            // SQLite opens it by name
	// Incremental auto-vacuum lets Scavenge give freed pages back to the
	// file system online, in small steps, instead of a VACUUM that holds
	// the write lock. It is set before the journal mode: it can be set
	// only on an empty database, and not once the file is in WAL mode.
	if err := initFile(ctx, s.dsnFor(tmp, "_pragma=auto_vacuum(INCREMENTAL)", "_pragma=journal_mode(WAL)")); err != nil {
		return bad(err)
	}
	if err := syncFile(tmp); err != nil {
		return bad(err)
	}
	if err := createHook("schema written"); err != nil {
		return bad(err)
	}
	switch err := os.Link(tmp, s.path); {
	case errors.Is(err, fs.ErrExist): // another process created it meanwhile
		return false, nil
	case err != nil:
		return bad(err)
	}
	if err := syncDir(filepath.Dir(s.path)); err != nil {
		return true, fmt.Errorf("sqlite: create %s: sync directory: %w", s.path, err)
	}
	return true, nil
}

// staleTemp is the age after which a temporary file of an unfinished
// creation is taken to belong to a process that died.
const staleTemp = time.Minute

// removeStaleTemps removes the temporary files that creations of this
// store which crashed left beside it (younger ones may belong to a creation
// still under way in another process, which found no store).
func (s *Store) removeStaleTemps() {
	names, _ := filepath.Glob(s.path + ".creating-*") // the only error is a bad pattern
	for _, name := range names {
		if fi, err := os.Stat(name); err == nil && time.Since(fi.ModTime()) > staleTemp {
			s.logClose("remove the temporary file of a crashed creation", os.Remove(name))
		}
	}
}

// initFile writes the schema into the empty database file dsn names.
func initFile(ctx context.Context, dsn string) error {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	c, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return migrate(ctx, c)
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func (s *Store) openReader(ctx context.Context) error {
	fi, err := os.Stat(s.path)
	if err != nil {
		return fmt.Errorf("sqlite: open %s read-only: %w", s.path, err)
	}
	unfinished := func(what string) error {
		return fmt.Errorf("%w: %s %s: a writer was probably interrupted while creating it (versions before atomic creation could leave that); open it once for writing to finish creating it, or delete it", ErrNotStore, s.path, what)
	}
	if fi.Size() == 0 {
		return unfinished("is empty")
	}
	if err := s.openReads(ctx); err != nil {
		return err
	}
	app, version, err := header(ctx, s.rdb)
	switch {
	case resultCode(err) == codeReadOnly: // a hot journal a reader cannot roll back
		return unfinished("needs recovery")
	case err != nil:
		return err
	case app == 0 && version == 0:
		return unfinished("has no Chronicle header")
	}
	if err := checkHeader(app, version); err != nil {
		return err
	}
	if s.links, err = linksKept(ctx, s.rdb); err != nil {
		return err
	}
	if err := s.reads.prepare(ctx, s.rdb); err != nil {
		return err
	}
	s.watcher, err = startWatcher(ctx, s)
	return err
}

// openReads opens the pool of read-only connections.
func (s *Store) openReads(ctx context.Context) error {
	var err error
	s.rdb, err = sql.Open("sqlite", s.dsn("mode=ro", "_pragma=busy_timeout(10000)", "_pragma=query_only(1)"))
	if err != nil {
		return fmt.Errorf("sqlite: open %s: %w", s.path, err)
	}
	s.rdb.SetMaxOpenConns(s.opts.readers)
	s.rdb.SetMaxIdleConns(s.opts.readers)
	s.rdb.SetConnMaxLifetime(0)
	s.raw = newRawPool(s.dsn("mode=ro"), s.opts.readers)
	if s.opts.readOnly {
		return nil // the header is checked before the statements are prepared
	}
	return s.reads.prepare(ctx, s.rdb)
}

// Close stops the store. Appends still queued and not yet being committed
// fail with eventstore.ErrClosed; a batch already being committed completes
// and its callers get its outcome. Subscriptions end with ErrClosed, reads
// with ErrClosed at their next page. Close then checkpoints the write-ahead
// log into the database file (best effort: while another process reads,
// the log stays for the next writer to fold in; it is durable either way)
// and releases the writer lock. It is idempotent and returns the first
// Close's error.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		_ = s.ps.Close() // first: its groups checkpoint through the writer
		s.closed.Store(true)
		if s.w != nil {
			s.w.stop()
		}
		if s.watcher != nil {
			s.watcher.stop()
		}
		s.hub.Close()
		s.release()
	})
	return s.closeErr
}

// release stops the checkpointer, closes the readers (waiting for queries
// under way), checkpoints and closes the writer, and drops the lock.
func (s *Store) release() {
	if s.ckpt != nil {
		s.ckpt.stop()
	}
	s.reads.close()
	if s.raw != nil {
		s.raw.close()
	}
	if s.rdb != nil {
		s.logClose("close readers", s.rdb.Close())
	}
	if s.w != nil {
		s.w.close()
	}
	if s.wdb != nil {
		if err := s.wdb.Close(); err != nil {
			s.closeErr = fmt.Errorf("sqlite: close: %w", err)
		}
	}
	if s.lock != nil {
		s.logClose("release the writer lock", s.lock.Close())
	}
}

// logClose logs an error of Close that Close does not return.
func (s *Store) logClose(msg string, err error) {
	if err != nil {
		s.opts.logger.LogAttrs(context.Background(), slog.LevelWarn, msg, slog.String("path", s.path), slog.Any("err", err))
	}
}

// fail makes the store fail-stop after an I/O error (see ErrFailed) and
// returns the error every later call gets; the first cause stays.
func (s *Store) fail(cause error) *FailedError {
	f := &FailedError{Err: cause}
	if !s.failed.CompareAndSwap(nil, f) {
		return s.failed.Load()
	}
	s.opts.logger.LogAttrs(context.Background(), slog.LevelError, "sqlite store failed; close and reopen it",
		slog.String("path", s.path), slog.Any("err", cause))
	s.hub.CloseWith(f)
	return f
}

// checkpointFailed handles an error of a checkpoint, which no caller waits
// for: an I/O error makes the store fail-stop, as a failed commit does (a
// failed sync of the database file may have lost pages that later syncs
// report as written); anything else is logged, and the next checkpoint
// tries again.
func (s *Store) checkpointFailed(msg string, err error) {
	if s.closed.Load() {
		return
	}
	if isIOError(err) {
		s.fail(fmt.Errorf("checkpoint: %w", err))
		return
	}
	s.opts.logger.LogAttrs(context.Background(), slog.LevelWarn, msg, slog.String("path", s.path), slog.Any("err", err))
}

// stoppedErr is the error of a write that found the commit loop stopped:
// the store's failure, or ErrClosed.
func (s *Store) stoppedErr() error {
	if f := s.failed.Load(); f != nil {
		return f
	}
	return eventstore.ErrClosed
}

// sqlErr turns an error from the driver into the store's: ErrClosed once
// the store is closed, the context's error when it ended, else wrapped.
func (s *Store) sqlErr(ctx context.Context, op string, err error) error {
	switch {
	case s.closed.Load():
		return eventstore.ErrClosed
	case ctx.Err() != nil:
		return ctx.Err()
	case s.failed.Load() != nil:
		return s.failed.Load()
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}
