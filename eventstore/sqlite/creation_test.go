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

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/sqlite"
)

// TestCreationIsAtomic: a store is created in a temporary file and linked
// into place only when complete, so an Open that stops before the end
// leaves no file at the store's path, and a reader finds no store rather
// than a broken one.
func TestCreationIsAtomic(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "new.db")
	crash := errors.New("crash")
	restore := sqlite.OnCreation("schema written", func() error { return crash })
	if _, err := sqlite.Open(ctx, path); !errors.Is(err, crash) {
		t.Fatalf("open with creation failing: %v", err)
	}
	restore()
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a creation that did not finish left %s: %v", path, err)
	}
	if _, err := sqlite.Open(ctx, path, sqlite.ReadOnly()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("read-only open after an unfinished creation: %v, want not-exist", err)
	}
	s := openAt(t, path)
	mustAppend(t, s, "a", eventstore.NoStream, event("E"))
	r := openAt(t, path, sqlite.ReadOnly())
	wantGapFree(t, r, 1)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".creating-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

// TestReadOnlyUnfinishedStore: files that an interrupted creation by an
// earlier version could leave (empty, or an SQLite database without the
// store's header) are refused by a reader with an error that says what
// happened and what to do; a writer finishes them.
func TestReadOnlyUnfinishedStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	headerless := filepath.Join(dir, "headerless.db")
	db, err := sql.Open("sqlite", "file:"+headerless)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`VACUUM`); err != nil { // writes the database header, nothing else
		t.Fatal(err)
	}
	db.Close()
	for _, path := range []string{empty, headerless} {
		_, err := sqlite.Open(ctx, path, sqlite.ReadOnly())
		if !errors.Is(err, sqlite.ErrNotStore) || !strings.Contains(err.Error(), "interrupted") || !strings.Contains(err.Error(), "open it once for writing") {
			t.Fatalf("read-only open of %s: %v, want ErrNotStore that says what happened and what to do", filepath.Base(path), err)
		}
		w := openAt(t, path)
		mustAppend(t, w, "a", eventstore.NoStream, event("E"))
		wantGapFree(t, openAt(t, path, sqlite.ReadOnly()), 1)
	}
}

// TestCreationRace: when another process creates the store between this
// Open's check and its link, Open uses that store and leaves it intact.
func TestCreationRace(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "other.db")
	o := openAt(t, other)
	mustAppend(t, o, "theirs", eventstore.NoStream, event("E"))
	o.Close()
	data, err := os.ReadFile(other)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "raced.db")
	restore := sqlite.OnCreation("schema written", func() error { return os.WriteFile(path, data, 0o600) })
	defer restore()
	s := openAt(t, path)
	evs := readAll(t, s)
	if len(evs) != 1 || evs[0].Stream != "theirs" {
		t.Fatalf("the store created meanwhile holds %d events, want its one event", len(evs))
	}
}

// TestStaleCreationTemps: a writer Open removes the temporary files that
// crashed creations left (older than a minute), not younger ones, which may
// belong to a creation under way.
func TestStaleCreationTemps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.db")
	stale, fresh := path+".creating-1", path+".creating-2"
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	openAt(t, path)
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale temporary file kept: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh temporary file removed: %v", err)
	}
}
