package esdb_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/esdb"
	"github.com/chronicle-go/chronicle/eventstore/esdbserver"
	"github.com/chronicle-go/chronicle/eventstore/memory"
)

// serveMemory stands in for an EventStoreDB node: it serves an in-memory
// store over the EventStoreDB protocol on a free loopback port.
func serveMemory(ctx context.Context) (*esdbserver.Server, error) {
	srv, err := esdbserver.New(memory.New(), esdbserver.WithAddress("127.0.0.1:0"))
	if err != nil {
		return nil, err
	}
	if err := srv.Listen(); err != nil {
		return nil, err
	}
	go srv.Serve(ctx)
	return srv, nil
}

// openExample opens a Store on a stand-in node.
func openExample(ctx context.Context) *esdb.Store {
	srv, err := serveMemory(ctx)
	if err != nil {
		panic(err)
	}
	store, err := esdb.Open(ctx, srv.ConnectionString())
	if err != nil {
		panic(err)
	}
	return store
}

func ExampleOpen() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := serveMemory(ctx)
	if err != nil {
		panic(err)
	}

	// With a real node: esdb.Open(ctx, "esdb://admin:changeit@node1:2113?tlsCAFile=ca.crt").
	store, err := esdb.Open(ctx, srv.ConnectionString()) // "esdb://127.0.0.1:<port>?tls=false"
	if err != nil {
		panic(err)
	}
	defer store.Close()

	res, err := store.Append(ctx, "order-42", eventstore.NoStream,
		eventstore.EventData{Type: "OrderPlaced", Data: []byte(`{"total":42}`)},
		eventstore.EventData{Type: "OrderPaid"})
	if err != nil {
		panic(err)
	}
	fmt.Println("next expected revision:", res.Next)
	for e, err := range store.ReadStream(ctx, "order-42", eventstore.ReadOptions{}) {
		if err != nil {
			panic(err)
		}
		fmt.Println(e.Revision, e.Type, string(e.Data))
	}
	// Output:
	// next expected revision: 1
	// 0 OrderPlaced {"total":42}
	// 1 OrderPaid
}

func ExampleStore_Append_conflict() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := openExample(ctx) // esdb.Open on a stand-in node, see ExampleOpen
	defer store.Close()

	store.Append(ctx, "cart-7", eventstore.NoStream, eventstore.EventData{Type: "ItemAdded"})
	_, err := store.Append(ctx, "cart-7", eventstore.NoStream, eventstore.EventData{Type: "ItemAdded"})
	var wrong *eventstore.WrongExpectedVersionError
	if errors.As(err, &wrong) {
		fmt.Println("expected", wrong.Expected, "actual", wrong.Actual)
	}
	// Output: expected no_stream actual 0
}

func ExampleStore_SubscribeToAll() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := openExample(ctx) // esdb.Open on a stand-in node, see ExampleOpen
	defer store.Close()

	store.Append(ctx, "order-1", eventstore.Any, eventstore.EventData{Type: "OrderPlaced"})
	store.Append(ctx, "invoice-1", eventstore.Any, eventstore.EventData{Type: "InvoiceSent"})
	store.Append(ctx, "order-2", eventstore.Any, eventstore.EventData{Type: "OrderPlaced"})

	// The filter runs on the server; checkpoints report how far it looked.
	filter := eventstore.StreamPrefixFilter("order-")
	for m, err := range store.SubscribeToAll(ctx, eventstore.SubscribeAllOptions{Filter: filter}) {
		if err != nil {
			panic(err)
		}
		switch m.Kind {
		case eventstore.MessageEvent:
			fmt.Println("event", m.Event.Stream, m.Event.Type)
		case eventstore.MessageCaughtUp:
			fmt.Println("caught up")
		}
		if m.Kind == eventstore.MessageCaughtUp {
			break
		}
	}
	// Output:
	// event order-1 OrderPlaced
	// event order-2 OrderPlaced
	// caught up
}
