package esdbserver_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"google.golang.org/grpc"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/esdbserver"
	"github.com/chronicle-go/chronicle/eventstore/memory"
)

// An in-memory store served over the EventStoreDB protocol, used through the
// official EventStoreDB Go client.
func Example() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()

	srv, err := esdbserver.New(store, esdbserver.WithAddress("127.0.0.1:0")) // any free port
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		log.Fatal(err)
	}
	go srv.Serve(ctx)
	defer srv.Shutdown(ctx)

	cfg, err := esdb.ParseConnectionString(srv.ConnectionString()) // esdb://127.0.0.1:<port>?tls=false
	if err != nil {
		log.Fatal(err)
	}
	cfg.Logger = esdb.NoopLogging()
	client, err := esdb.NewClient(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	_, err = client.AppendToStream(ctx, "order-1", esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}},
		esdb.EventData{EventType: "OrderPlaced", ContentType: esdb.ContentTypeJson, Data: []byte(`{"total":42}`)})
	if err != nil {
		log.Fatal(err)
	}

	// The event is in the store...
	for e, err := range store.ReadStream(ctx, "order-1", eventstore.ReadOptions{}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("store:", e.Stream, e.Revision, e.Type, string(e.Data))
	}
	// ...and reads back through the protocol.
	rs, err := client.ReadStream(ctx, "order-1", esdb.ReadStreamOptions{}, 10)
	if err != nil {
		log.Fatal(err)
	}
	defer rs.Close()
	e, err := rs.Recv()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("client:", e.Event.StreamID, e.Event.EventNumber, e.Event.EventType, string(e.Event.Data))
	fmt.Println(strings.HasPrefix(srv.ConnectionString(), "esdb://127.0.0.1:"))
	// Output:
	// store: order-1 0 OrderPlaced {"total":42}
	// client: order-1 0 OrderPlaced {"total":42}
	// true
}

// Serving with TLS and basic authentication, as EventStoreDB's secure mode.
func ExampleWithUsers() {
	store := memory.New()
	defer store.Close()
	_, err := esdbserver.New(store, esdbserver.WithUsers(map[string]string{"admin": "changeit"}))
	fmt.Println(err)
	// Output:
	// esdbserver: WithUsers needs WithTLS: clients send credentials only over TLS
}

// Mounting the services on a gRPC server of your own, next to other services.
func ExampleServer_Register() {
	store := memory.New()
	defer store.Close()
	srv, err := esdbserver.New(store)
	if err != nil {
		log.Fatal(err)
	}
	g := grpc.NewServer(srv.ServerOptions()...) // keepalive, message sizes, TLS, authentication
	srv.Register(g)
	for name := range g.GetServiceInfo() {
		if strings.HasPrefix(name, "event_store.") {
			fmt.Println(name)
		}
	}
	// Unordered output:
	// event_store.client.streams.Streams
	// event_store.client.server_features.ServerFeatures
	// event_store.client.gossip.Gossip
	// event_store.client.persistent_subscriptions.PersistentSubscriptions
}
