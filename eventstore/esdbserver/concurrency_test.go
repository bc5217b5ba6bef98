package esdbserver_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
)

// TestConcurrentClients runs writers, readers and $all subscribers on several
// connections at once: every subscriber sees every event exactly once, in
// increasing position order, and every writer's stream reads back complete.
func TestConcurrentClients(t *testing.T) {
	ctx := testContext(t)
	_, srv := newMemoryServer(t)
	const (
		connections = 4
		writers     = 24
		perWriter   = 20
		subscribers = 8
	)
	clients := make([]*esdb.Client, connections)
	for i := range clients {
		clients[i] = newClient(t, srv.ConnectionString())
	}

	// Subscribers first, confirmed and caught up before anything is written.
	subs := make([]*esdb.Subscription, subscribers)
	for i := range subs {
		sub, err := clients[i%connections].SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: esdb.Start{}})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		expectSequence(t, sub, "caught-up")
		subs[i] = sub
	}

	var wg sync.WaitGroup
	seen := make([]map[string]int, subscribers)
	for i, sub := range subs {
		seen[i] = make(map[string]int)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last uint64
			for n := 0; n < writers*perWriter; {
				ev := sub.Recv()
				if ev.SubscriptionDropped != nil {
					t.Errorf("subscriber %d dropped: %v", i, ev.SubscriptionDropped.Error)
					return
				}
				if ev.EventAppeared == nil {
					continue
				}
				e := ev.EventAppeared.Event
				if e.Position.Commit <= last {
					t.Errorf("subscriber %d: position %d after %d", i, e.Position.Commit, last)
					return
				}
				last = e.Position.Commit
				seen[i][fmt.Sprintf("%s@%d", e.StreamID, e.EventNumber)]++
				n++
			}
		}()
	}
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := clients[w%connections]
			stream := fmt.Sprintf("conc-%d", w)
			for i := range perWriter {
				_, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: expectedAt(i)}, jsonEvent("E", fmt.Sprintf(`{"i":%d}`, i)))
				if err != nil {
					t.Errorf("writer %d append %d: %v", w, i, err)
					return
				}
				if i%5 == 4 {
					rs, err := c.ReadStream(ctx, stream, esdb.ReadStreamOptions{From: esdb.End{}, Direction: esdb.Backwards}, 1)
					if err != nil {
						t.Errorf("writer %d read: %v", w, err)
						return
					}
					got, err := readAllEvents(t, rs)
					if err != nil || len(got) != 1 || got[0].Event.EventNumber != uint64(i) {
						t.Errorf("writer %d read back %v, %v", w, revisions(got), err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	for i, m := range seen {
		if len(m) != writers*perWriter {
			t.Errorf("subscriber %d saw %d distinct events, want %d", i, len(m), writers*perWriter)
		}
		for k, n := range m {
			if n != 1 {
				t.Errorf("subscriber %d saw %s %d times", i, k, n)
			}
		}
	}
}

func expectedAt(i int) esdb.ExpectedRevision {
	if i == 0 {
		return esdb.NoStream{}
	}
	return esdb.StreamRevision{Value: uint64(i - 1)}
}
