package sqlite_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/sqlite"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url, path string
		opts      int
	}{
		{"sqlite:///var/lib/app/events.db", "/var/lib/app/events.db", 0},
		{"sqlite://events.db", "events.db", 0},
		{"sqlite://data/events.db", "data/events.db", 0},
		{"sqlite:events.db", "events.db", 0},
		{"SQLITE://events.db?readonly=true", "events.db", 1},
		{"sqlite://events.db?readonly=false", "events.db", 0},
		{"sqlite://events.db?mode=ro", "events.db", 1},
		{"sqlite://events.db?mode=rw", "events.db", 0},
		{"sqlite://events.db?readers=8&checkpoint_pages=100&recent_ids=0&cached_heads=9&poll=1s", "events.db", 5},
	} {
		path, opts, err := sqlite.ParseURL(tc.url)
		if err != nil || path != tc.path || len(opts) != tc.opts {
			t.Errorf("ParseURL(%q) = %q, %d options, %v; want %q, %d options", tc.url, path, len(opts), err, tc.path, tc.opts)
		}
	}
	for _, bad := range []string{
		"sqlite://",
		"memory:",
		"sqlite://x.db?readonly=maybe",
		"sqlite://x.db?mode=rx",
		"sqlite://x.db?readers=many",
		"sqlite://x.db?poll=often",
		"sqlite://x.db?colour=blue",
		"sqlite://%zz",
	} {
		if _, _, err := sqlite.ParseURL(bad); err == nil || !strings.HasPrefix(err.Error(), "sqlite: ") {
			t.Errorf("ParseURL(%q): %v, want an sqlite: error", bad, err)
		}
	}
}

func TestOpenByURL(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "url.db")
	s, err := eventstore.Open(ctx, "sqlite://"+path+"?readers=2")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustAppend(t, s, "a", eventstore.NoStream, event("E"))
	ro, err := eventstore.Open(ctx, "sqlite://"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	wantGapFree(t, ro, 1)
	if _, err := ro.Append(ctx, "a", eventstore.Any, event("E")); !errors.Is(err, sqlite.ErrReadOnly) {
		t.Fatalf("append through a read-only URL: %v", err)
	}
	if _, err := eventstore.Open(ctx, "sqlite://"+path+"?bogus=1"); err == nil {
		t.Fatal("bad URL accepted")
	}
	if _, err := eventstore.Open(ctx, "sqlite://"+path); !errors.Is(err, sqlite.ErrLocked) {
		t.Fatalf("second writer by URL: %v", err)
	}
	var le *sqlite.LockedError
	_, err = sqlite.Open(ctx, path)
	if !errors.As(err, &le) || !strings.Contains(le.Error(), path+".lock") {
		t.Fatalf("locked error %v does not name the lock file", err)
	}
}

func TestRelativePath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	s, err := eventstore.Open(context.Background(), "sqlite://rel.db")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.(*sqlite.Store).Path(); got != filepath.Join(dir, "rel.db") {
		t.Fatalf("Path() = %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "rel.db")); err != nil {
		t.Fatal(err)
	}
}
