package memory_test

import (
	"testing"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/eventstore/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Features{FallsBehind: true, SnapshotReads: true, IdempotencyWindow: 64}, func(t *testing.T) eventstore.Store {
		s := memory.New(memory.WithRecentIDs(64))
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func TestPersistentConformance(t *testing.T) {
	storetest.RunPersistent(t, storetest.Features{}, func(t *testing.T) eventstore.Store {
		s := memory.New()
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}
