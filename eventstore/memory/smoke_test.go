package memory_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
)

// TestLiveSwitchUnderLoad subscribes while writers append and checks that
// every subscriber sees every event exactly once, in order.
func TestLiveSwitchUnderLoad(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := memory.New()
	defer s.Close()
	const writers, perWriter = 8, 500
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				if _, err := s.Append(ctx, fmt.Sprintf("s-%d", w), eventstore.Any, eventstore.EventData{Type: "E", Data: []byte(fmt.Sprint(i))}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	const subs = 4
	results := make([]int, subs)
	var sw sync.WaitGroup
	for i := range subs {
		sw.Add(1)
		go func() {
			defer sw.Done()
			var last uint64
			n := 0
			for msg, err := range s.SubscribeToAll(ctx, eventstore.SubscribeAllOptions{}) {
				if err != nil {
					t.Error(err)
					return
				}
				if msg.Kind != eventstore.MessageEvent {
					continue
				}
				if msg.Event.Position.Commit != last+1 {
					t.Errorf("sub %d: position %d after %d", i, msg.Event.Position.Commit, last)
					return
				}
				last = msg.Event.Position.Commit
				n++
				if n == writers*perWriter {
					break
				}
			}
			results[i] = n
		}()
	}
	wg.Wait()
	sw.Wait()
	for i, n := range results {
		if n != writers*perWriter {
			t.Errorf("sub %d saw %d events", i, n)
		}
	}
}
