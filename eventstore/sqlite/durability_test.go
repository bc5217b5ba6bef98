package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/sqlite"
)

// TestCommitsAreSynced fails if commits stop reaching the disk before they
// are acknowledged: the SIGKILL test cannot see that (the page cache
// survives a killed process), so this one checks the writer connection's
// settings and counts, through a VFS that wraps the default one, the syncs
// of the write-ahead log each acknowledged append caused.
func TestCommitsAreSynced(t *testing.T) {
	installFaultVFS(t)
	path := filepath.Join(t.TempDir(), "synced.db")
	s := openAt(t, path, sqlite.WithVFS(faultVFSName))
	syncMode, journal, fullfsync, err := sqlite.WriterPragmas(s)
	if err != nil {
		t.Fatal(err)
	}
	if syncMode < 2 { // 2: FULL, 3: EXTRA
		t.Errorf("writer connection: synchronous = %d, want FULL (2) or EXTRA (3)", syncMode)
	}
	if journal != "wal" {
		t.Errorf("writer connection: journal_mode = %q, want wal", journal)
	}
	if fullfsync != 1 {
		t.Errorf("writer connection: fullfsync = %d, want 1 (F_FULLFSYNC on macOS)", fullfsync)
	}
	wal := path + "-wal"
	syncs := func() int { return withFaults(wal, func(f *fileFaults) int { return f.syncs }) }
	for i := range 20 {
		before := syncs()
		mustAppend(t, s, "synced", eventstore.Any, event("E"))
		if n := syncs() - before; n < 1 {
			t.Fatalf("append %d returned after %d syncs of the log, want at least 1", i, n)
		}
	}
}
