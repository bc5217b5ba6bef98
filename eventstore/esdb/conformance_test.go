package esdb_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/sqlite"
	"github.com/chronicle-go/chronicle/eventstore/storetest"
)

// features: EventStoreDB never sends fell-behind; the server serves $ce- and
// $et- streams through the store (SystemStreams); remote calls on a busy
// machine get more time.
var features = storetest.Features{Timeout: 3 * time.Minute, SystemStreams: true}

func TestConformanceMemory(t *testing.T) {
	storetest.Run(t, features, func(t *testing.T) eventstore.Store {
		return open(t, newMemoryServer(t).connString())
	})
}

func TestConformanceSQLite(t *testing.T) {
	storetest.Run(t, features, func(t *testing.T) eventstore.Store {
		db, err := sqlite.Open(testContext(t), filepath.Join(t.TempDir(), "events.db"), sqlite.WithSystemStreams(true))
		if err != nil {
			t.Fatalf("sqlite.Open: %v", err)
		}
		t.Cleanup(func() { db.Close() })
		return open(t, startServer(t, db).connString())
	})
}
