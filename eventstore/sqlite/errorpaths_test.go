package sqlite_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/sqlite"
)

// TestCanceledWrites: a write whose context has ended returns the context's
// error and writes nothing.
func TestCanceledWrites(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "cancel.db"))
	mustAppend(t, s, "x", eventstore.NoStream, event("E"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Append(ctx, "x", eventstore.Any, event("E")); !errors.Is(err, context.Canceled) {
		t.Fatalf("append: %v", err)
	}
	if _, err := s.Delete(ctx, "x", eventstore.Any); !errors.Is(err, context.Canceled) {
		t.Fatalf("delete: %v", err)
	}
	if _, err := s.SetStreamMetadata(ctx, "x", eventstore.Any, eventstore.StreamMetadata{MaxCount: 1}); !errors.Is(err, context.Canceled) {
		t.Fatalf("set metadata: %v", err)
	}
	wantGapFree(t, s, 1) // nothing written
}

// TestOpenErrors: paths that cannot hold a store give clear errors.
func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	if _, err := sqlite.Open(ctx, filepath.Join(dir, "missing", "x.db")); err == nil {
		t.Error("open in a missing directory succeeded")
	}
	locked := filepath.Join(dir, "locked.db")
	if err := os.Mkdir(locked+".lock", 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.Open(ctx, locked); err == nil {
		t.Error("open with a directory as the lock file succeeded")
	}
	walDir := filepath.Join(dir, "waldir.db")
	if err := os.Mkdir(walDir+"-wal", 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.Open(ctx, walDir); err == nil {
		t.Error("open with a directory as the write-ahead log succeeded")
	}
	if _, err := sqlite.Open(ctx, walDir); errors.Is(err, sqlite.ErrLocked) {
		t.Errorf("a failed open left the writer lock held: %v", err)
	}
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte("this is not an SQLite database, not even close to one......."), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.Open(ctx, garbage); err == nil {
		t.Error("open of a file that is not a database succeeded")
	}
	b, err := os.ReadFile(garbage)
	if err != nil || string(b[:11]) != "this is not" {
		t.Errorf("the file was changed: %q, %v", b, err)
	}
}

// TestReadOnlyPollFailures: when a read-only store can no longer poll the
// file for new events, its live subscriptions end with the error (and the
// failures are logged) instead of waiting for events they would never get.
func TestReadOnlyPollFailures(t *testing.T) {
	path := filepath.Join(t.TempDir(), "poll.db")
	w := openAt(t, path)
	mustAppend(t, w, "a", eventstore.NoStream, event("E"))
	w.Close()
	var logs syncBuffer
	r := openAt(t, path, sqlite.ReadOnly(), sqlite.WithPollInterval(2*time.Millisecond),
		sqlite.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	sub, stop := subscribeAll(t, r)
	defer stop()
	foreignExec(t, path, `ALTER TABLE events RENAME TO gone`)
	err := <-sub
	if err == nil || errors.Is(err, eventstore.ErrClosed) || !strings.Contains(err.Error(), "new events") {
		t.Fatalf("subscription ended with %v, want the polling error", err)
	}
	if !strings.Contains(logs.String(), "polling for new events failed") {
		t.Fatalf("the failures were not logged: %q", logs.String())
	}
}

// TestNilLogger: WithLogger(nil) means silent, as no option does.
func TestNilLogger(t *testing.T) {
	s := open(t, sqlite.WithLogger(nil))
	mustAppend(t, s, "a", eventstore.NoStream, event("E"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestTablesGoneUnderTheStore: another tool renames the store's tables
// while it runs (unsupported, see the package doc). Reads fail with an
// error; a write fails, and since the store can then no longer read its
// own state, it fails (ErrFailed) rather than guess.
func TestTablesGoneUnderTheStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "gone.db")
	s := openAt(t, path)
	mustAppend(t, s, "a", eventstore.NoStream, event("E"))
	foreignExec(t, path, `ALTER TABLE events RENAME TO gone_events`)
	for _, err := range s.ReadAll(ctx, eventstore.ReadAllOptions{}) {
		if err == nil || errors.Is(err, eventstore.ErrClosed) {
			t.Fatalf("read with the events table gone: %v, want an error", err)
		}
	}
	foreignExec(t, path, `ALTER TABLE streams RENAME TO gone_streams`)
	if _, err := s.Append(ctx, "new-1", eventstore.Any, event("E")); err == nil {
		t.Fatal("append with the streams table gone succeeded")
	}
	if _, err := s.Append(ctx, "new-2", eventstore.Any, event("E")); !errors.Is(err, sqlite.ErrFailed) {
		t.Fatalf("append after the store could not reload: %v, want ErrFailed", err)
	}
}
