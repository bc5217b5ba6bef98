package esdbserver_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/eventstore/sqlite"
)

// The benchmarks measure the protocol layer over the memory store, through
// the official client on loopback: what a call costs on top of the store.

func benchClient(b *testing.B) (*memory.Store, *esdb.Client) {
	b.Helper()
	store := memory.New()
	b.Cleanup(func() { store.Close() })
	return store, newClient(b, startServer(b, store).ConnectionString())
}

func BenchmarkAppend(b *testing.B) {
	_, c := benchClient(b)
	ctx := context.Background()
	ev := esdb.EventData{EventType: "E", ContentType: esdb.ContentTypeJson, Data: []byte(`{"n":1}`)}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := c.AppendToStream(ctx, "bench-append", esdb.AppendToStreamOptions{}, ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadStream(b *testing.B) {
	const n = 1000
	store, c := benchClient(b)
	ctx := context.Background()
	evs := make([]eventstore.EventData, n)
	for i := range evs {
		evs[i] = eventstore.EventData{Type: "E", Data: []byte(fmt.Sprintf(`{"n":%d}`, i))}
	}
	if _, err := store.Append(ctx, "bench-read", eventstore.NoStream, evs...); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		rs, err := c.ReadStream(ctx, "bench-read", esdb.ReadStreamOptions{}, n)
		if err != nil {
			b.Fatal(err)
		}
		for range n {
			if _, err := rs.Recv(); err != nil {
				b.Fatal(err)
			}
		}
		rs.Close()
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkSubscriptionLatency(b *testing.B) {
	_, c := benchClient(b)
	ctx := context.Background()
	sub, err := c.SubscribeToStream(ctx, "bench-sub", esdb.SubscribeToStreamOptions{From: esdb.Start{}})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	if ev := sub.Recv(); ev.CaughtUp == nil {
		b.Fatalf("want caught-up, got %+v", ev)
	}
	ev := esdb.EventData{EventType: "E", ContentType: esdb.ContentTypeJson, Data: []byte(`{}`)}
	for b.Loop() {
		if _, err := c.AppendToStream(ctx, "bench-sub", esdb.AppendToStreamOptions{}, ev); err != nil {
			b.Fatal(err)
		}
		if got := sub.Recv(); got.EventAppeared == nil {
			b.Fatalf("want an event, got %+v", got)
		}
	}
}

// BenchmarkReadAll reads $all through the client: what the server's
// per-message encoding and sending cost on top of the memory store, and, on
// SQLite, how well the server overlaps the store's reads with its sends.
func BenchmarkReadAll(b *testing.B) {
	b.Run("store=memory", func(b *testing.B) {
		store := memory.New()
		b.Cleanup(func() { store.Close() })
		benchReadAll(b, store, 10_000)
	})
	b.Run("store=sqlite", func(b *testing.B) {
		store, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { store.Close() })
		benchReadAll(b, store, 50_000)
	})
}

func benchReadAll(b *testing.B, store eventstore.Store, n int) {
	ctx := context.Background()
	evs := make([]eventstore.EventData, 1000)
	for i := range evs {
		evs[i] = eventstore.EventData{Type: "OrderPlaced",
			Data:     []byte(fmt.Sprintf(`{"orderId":"order-%d","customer":"c-7","lines":[{"sku":"A-1","qty":2,"price":1250}],"total":2500}`, i)),
			Metadata: []byte(`{"$correlationId":"bench"}`)}
	}
	for i := range n / len(evs) {
		if _, err := store.Append(ctx, fmt.Sprintf("bench-all-%d", i), eventstore.NoStream, evs...); err != nil {
			b.Fatal(err)
		}
	}
	c := newClient(b, startServer(b, store).ConnectionString())
	b.ReportAllocs()
	for b.Loop() {
		rs, err := c.ReadAll(ctx, esdb.ReadAllOptions{}, uint64(n))
		if err != nil {
			b.Fatal(err)
		}
		for range n {
			if _, err := rs.Recv(); err != nil {
				b.Fatal(err)
			}
		}
		rs.Close()
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
}
