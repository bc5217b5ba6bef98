package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/sqlite"
	"github.com/chronicle-go/chronicle/eventstore/storetest"
)

// open opens a store in a fresh file that is closed when t ends.
func open(t testing.TB, opts ...sqlite.Option) *sqlite.Store {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "chronicle.db"), opts...)
}

func openAt(t testing.TB, path string, opts ...sqlite.Option) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path, opts...)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Features{FallsBehind: true, SnapshotReads: true, IdempotencyWindow: 64, SystemStreams: true}, func(t *testing.T) eventstore.Store {
		return open(t, sqlite.WithRecentIDs(64), sqlite.WithSystemStreams(true))
	})
}

func TestPersistentConformance(t *testing.T) {
	f := storetest.Features{Reopen: func(t *testing.T, s eventstore.Store) eventstore.Store {
		path := s.(*sqlite.Store).Path()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		return openAt(t, path)
	}}
	storetest.RunPersistent(t, f, func(t *testing.T) eventstore.Store { return open(t) })
}
