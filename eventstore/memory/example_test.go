package memory_test

import (
	"context"
	"fmt"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
)

func ExampleNew() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()

	store.Append(ctx, "order-1", eventstore.NoStream,
		eventstore.EventData{Type: "OrderPlaced", Data: []byte(`{"total":42}`)})
	for e, err := range store.ReadStream(ctx, "order-1", eventstore.ReadOptions{}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(e.Stream, e.Revision, e.Type, string(e.Data), e.Position)
	}
	// Output: order-1 0 OrderPlaced {"total":42} C:1/P:1
}

func ExampleWithClock() {
	ctx := context.Background()
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	store := memory.New(memory.WithClock(func() time.Time { return now }))
	defer store.Close()

	// Events older than a minute are hidden once the clock moves on.
	store.SetStreamMetadata(ctx, "session-1", eventstore.Any, eventstore.StreamMetadata{MaxAge: time.Minute})
	store.Append(ctx, "session-1", eventstore.Any, eventstore.EventData{Type: "Started"})
	count := func() (n int) {
		for _, err := range store.ReadStream(ctx, "session-1", eventstore.ReadOptions{}) {
			if err == nil {
				n++
			}
		}
		return n
	}
	fmt.Println(count())
	now = now.Add(2 * time.Minute)
	fmt.Println(count())
	// Output:
	// 1
	// 0
}

// Competing consumers: a persistent subscription group shares a stream's
// events among its consumers, which acknowledge them; the group
// checkpoints what was acknowledged.
func ExampleStore_SubscribePersistent() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	var ps eventstore.PersistentSubscriptions = store // the optional capability

	group := eventstore.PersistentGroupOf("order-1", "billing")
	if err := ps.CreatePersistentSubscription(ctx, group, eventstore.DefaultPersistentSettings()); err != nil {
		fmt.Println(err)
		return
	}
	store.Append(ctx, "order-1", eventstore.Any,
		eventstore.EventData{Type: "OrderPlaced"}, eventstore.EventData{Type: "OrderPaid"})

	consumer, err := ps.SubscribePersistent(ctx, group, eventstore.PersistentSubscribeOptions{Name: "worker-1"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer consumer.Close()
	for range 2 {
		ev, err := consumer.Recv(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(ev.Event.Revision, ev.Event.Type, "retry", ev.RetryCount)
		consumer.Ack(ev.ID())
	}
	info, _ := ps.GetPersistentSubscriptionInfo(ctx, group)
	fmt.Println(info.Group, info.TotalItems, info.Connections[0].Name)
	// Output:
	// 0 OrderPlaced retry 0
	// 1 OrderPaid retry 0
	// order-1::billing 2 worker-1
}
