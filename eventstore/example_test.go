package eventstore_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
)

func ExampleOpen() {
	ctx := context.Background()
	// The memory backend registers "memory:"; importing
	// eventstore/sqlite registers "sqlite://…", eventstore/esdb "esdb://…".
	store, err := eventstore.Open(ctx, "memory:")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()
	res, _ := store.Append(ctx, "order-1", eventstore.NoStream, eventstore.EventData{Type: "OrderPlaced", Data: []byte(`{"total":42}`)})
	fmt.Println("next expected revision:", res.Next)
	// Output: next expected revision: 0
}

func ExampleStore_Append() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()

	res, err := store.Append(ctx, "cart-7", eventstore.NoStream,
		eventstore.EventData{Type: "ItemAdded", Data: []byte(`{"sku":"apple"}`)},
		eventstore.EventData{Type: "ItemAdded", Data: []byte(`{"sku":"pear"}`)})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Pass res.Next as the expected revision of the next append.
	res, err = store.Append(ctx, "cart-7", res.Next, eventstore.EventData{Type: "CheckedOut"})
	fmt.Println(res.Next, err)
	// Output: 2 <nil>
}

func ExampleStore_Append_conflict() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()

	store.Append(ctx, "cart-7", eventstore.NoStream, eventstore.EventData{Type: "ItemAdded", Data: []byte(`{}`)})
	_, err := store.Append(ctx, "cart-7", eventstore.NoStream, eventstore.EventData{Type: "ItemAdded", Data: []byte(`{}`)})
	fmt.Println(errors.Is(err, eventstore.ErrWrongExpectedVersion))
	var wrong *eventstore.WrongExpectedVersionError
	if errors.As(err, &wrong) {
		fmt.Println("expected", wrong.Expected, "actual", wrong.Actual)
	}
	// Output:
	// true
	// expected no_stream actual 0
}

func ExampleStore_ReadStream() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	for _, t := range []string{"Opened", "Deposited", "Withdrawn"} {
		store.Append(ctx, "account-1", eventstore.Any, eventstore.EventData{Type: t})
	}
	for e, err := range store.ReadStream(ctx, "account-1", eventstore.ReadOptions{Direction: eventstore.Backwards, From: eventstore.End, MaxCount: 2}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(e.Revision, e.Type)
	}
	_, err := func() (eventstore.RecordedEvent, error) {
		for e, err := range store.ReadStream(ctx, "account-2", eventstore.ReadOptions{}) {
			return e, err
		}
		return eventstore.RecordedEvent{}, nil
	}()
	fmt.Println(errors.Is(err, eventstore.ErrStreamNotFound))
	// Output:
	// 2 Withdrawn
	// 1 Deposited
	// true
}

func ExampleStore_SubscribeToAll() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := memory.New()
	defer store.Close()
	store.Append(ctx, "order-1", eventstore.Any, eventstore.EventData{Type: "OrderPlaced"})

	filter := eventstore.StreamPrefixFilter("order-")
	for msg, err := range store.SubscribeToAll(ctx, eventstore.SubscribeAllOptions{Filter: filter}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		switch msg.Kind {
		case eventstore.MessageEvent:
			fmt.Println("event", msg.Event.Stream, msg.Event.Type)
			if msg.Event.Stream == "order-2" {
				return // breaking out ends the subscription
			}
		case eventstore.MessageCaughtUp:
			fmt.Println("caught up")
			// Live from here on: this append arrives as the next event.
			store.Append(ctx, "user-1", eventstore.Any, eventstore.EventData{Type: "UserRegistered"})
			store.Append(ctx, "order-2", eventstore.Any, eventstore.EventData{Type: "OrderPlaced"})
		}
	}
	// Output:
	// event order-1 OrderPlaced
	// caught up
	// event order-2 OrderPlaced
}
