package esdbserver_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
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

// BenchmarkAppendBatch appends 100 events per call, as the v4 client sends
// them: the options message, then one AppendReq per event. Its ns/event and
// allocs/op show what the server spends per proposed event.
func BenchmarkAppendBatch(b *testing.B) {
	const n = 100
	_, c := benchClient(b)
	ctx := context.Background()
	evs := make([]esdb.EventData, n)
	for i := range evs {
		evs[i] = esdb.EventData{EventType: "OrderPlaced", ContentType: esdb.ContentTypeJson,
			Data:     []byte(`{"orderId":"order-42","customer":"c-7","lines":[{"sku":"A-1","qty":2,"price":1250}],"total":2500}`),
			Metadata: []byte(`{"$correlationId":"bench"}`)}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.AppendToStream(ctx, "bench-batch", esdb.AppendToStreamOptions{}, evs...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*b.N), "ns/event")
}

// BenchmarkAppendParallel appends one event per call from 32 goroutines,
// each on its own stream, over one client connection.
func BenchmarkAppendParallel(b *testing.B) {
	_, c := benchClient(b)
	ctx := context.Background()
	ev := esdb.EventData{EventType: "E", ContentType: esdb.ContentTypeJson, Data: []byte(`{"n":1}`)}
	var next atomic.Int64
	b.SetParallelism(16) // 32 writers on two cores
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		stream := fmt.Sprintf("bench-parallel-%d", next.Add(1))
		for pb.Next() {
			if _, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{}, ev); err != nil {
				b.Error(err)
				return
			}
		}
	})
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
