package sqlite

import (
	"context"
	"fmt"
	"os"
)

// WithVFS makes the store open its file through the named SQLite VFS; the
// fault-injection tests use it.
func WithVFS(name string) Option {
	return func(o *options) error { o.vfs = name; return nil }
}

// WriterPragmas reads the durability settings of the writer's connection;
// call it while no write is under way.
func WriterPragmas(s *Store) (synchronous int, journalMode string, fullfsync int, err error) {
	ctx := context.Background()
	c := s.w.conn
	if err := c.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&synchronous); err != nil {
		return 0, "", 0, fmt.Errorf("synchronous: %w", err)
	}
	if err := c.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&journalMode); err != nil {
		return 0, "", 0, fmt.Errorf("journal_mode: %w", err)
	}
	if err := c.QueryRowContext(ctx, `PRAGMA fullfsync`).Scan(&fullfsync); err != nil {
		return 0, "", 0, fmt.Errorf("fullfsync: %w", err)
	}
	return synchronous, journalMode, fullfsync, nil
}

// FailWritesAt makes the store's own file writes (reserving the log) fail
// with err; the returned func restores them.
func FailWritesAt(err error) (restore func()) {
	writeAt = func(*os.File, []byte, int64) (int, error) { return 0, err }
	return func() { writeAt = (*os.File).WriteAt }
}

// OnCreation runs fn at step of creating a new store, and fails the
// creation with fn's error, as a crash there would; the returned func
// restores it.
func OnCreation(step string, fn func() error) (restore func()) {
	createHook = func(s string) error {
		if s == step {
			return fn()
		}
		return nil
	}
	return func() { createHook = func(string) error { return nil } }
}

// PageRows is how many rows one page of a read holds.
const PageRows = pageRows
