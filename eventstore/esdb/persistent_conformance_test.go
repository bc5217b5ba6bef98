package esdb_test

import (
	"errors"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/storetest"
)

// persistentFeatures: what the v4 client cannot say (see the package's
// persistent subscriptions), and the server's groups, which keep running
// in the server's store when the client's Store closes.
var persistentFeatures = func() storetest.Features {
	f := features
	f.UnsupportedStrategies = []eventstore.ConsumerStrategy{eventstore.PinnedByCorrelation}
	f.InfoWithoutFilter = true
	f.IgnoreGoroutines = []goleak.Option{
		goleak.IgnoreAnyFunction("github.com/chronicle-go/chronicle/internal/persistent.(*group).read"),
		goleak.IgnoreAnyFunction("github.com/chronicle-go/chronicle/internal/persistent.(*group).work"),
	}
	return f
}()

// TestPersistentConformanceMemory runs the persistent-subscription suite
// through the v4 client against esdbserver over a memory store. Reopen
// restarts the server, and the persistent subsystem of the store behind it
// as a restarted EventStoreDB node would, and opens a new client.
func TestPersistentConformanceMemory(t *testing.T) {
	f := persistentFeatures
	var (
		mu      sync.Mutex
		servers = map[eventstore.Store]*server{} // the subtests run in parallel
	)
	f.Reopen = func(t *testing.T, s eventstore.Store) eventstore.Store {
		mu.Lock()
		srv := servers[s]
		mu.Unlock()
		s.Close()
		srv.stop()
		ps, ok := srv.store.(eventstore.PersistentSubscriptions)
		if !ok {
			t.Fatal(errors.New("the memory store has no persistent subscriptions"))
		}
		if err := ps.RestartPersistentSubscriptions(testContext(t)); err != nil {
			t.Fatal(err)
		}
		srv.start()
		reopened := open(t, srv.connString())
		mu.Lock()
		servers[reopened] = srv
		mu.Unlock()
		return reopened
	}
	storetest.RunPersistent(t, f, func(t *testing.T) eventstore.Store {
		srv := newMemoryServer(t)
		s := open(t, srv.connString())
		mu.Lock()
		servers[s] = srv
		mu.Unlock()
		return s
	})
}
