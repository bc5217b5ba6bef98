package projection_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/google/uuid"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/sqlite"
	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/schema"
)

type benchLine struct {
	SKU   string `json:"sku"`
	Qty   int    `json:"qty"`
	Price int    `json:"price"`
}

type benchOrderPlaced struct {
	OrderID  string      `json:"orderId"`
	Customer string      `json:"customer"`
	Lines    []benchLine `json:"lines"`
	Total    int         `json:"total"`
}

var benchPayload = []byte(`{"orderId":"order-42","customer":"c-7","lines":[{"sku":"A-1","qty":2,"price":1250}],"total":2500}`)

func seedBench(b *testing.B, n int) eventstore.Store {
	b.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	batch := make([]eventstore.EventData, 0, 1000)
	for i := 0; i < n; i += len(batch) {
		batch = batch[:0]
		for j := 0; j < 1000 && i+j < n; j++ {
			batch = append(batch, eventstore.EventData{ID: uuid.New(), Type: "OrderPlaced", Data: benchPayload, Metadata: []byte(`{"$correlationId":"bench"}`)})
		}
		if _, err := s.Append(context.Background(), fmt.Sprintf("order-%d", i/1000), eventstore.Any, batch...); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

const benchEvents = 50_000

// BenchmarkReadAll is the baseline of BenchmarkCatchUp: the same $all read
// without a projection.
func BenchmarkReadAll(b *testing.B) {
	s := seedBench(b, benchEvents)
	b.ResetTimer()
	for b.Loop() {
		n := 0
		for _, err := range s.ReadAll(context.Background(), eventstore.ReadAllOptions{}) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != benchEvents {
			b.Fatalf("%d events", n)
		}
	}
	b.ReportMetric(float64(benchEvents*b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkCatchUp catches a projection up over $all into an in-memory model.
func BenchmarkCatchUp(b *testing.B) {
	s := seedBench(b, benchEvents)
	reg := schema.MustNewRegistry()
	schema.MustRegister[benchOrderPlaced](reg, "OrderPlaced", 1)
	b.ResetTimer()
	for b.Loop() {
		total := 0
		p := projection.New[projection.NoTx]("bench", projection.AllStreams(), reg)
		projection.Handle(p, func(ctx context.Context, ev projection.Event[benchOrderPlaced]) error {
			total += ev.Data.Total
			return nil
		})
		r, err := projection.NewRunner(s, p, projection.AtLeastOnce(&projection.MemoryCheckpoints{}, 10_000, 0))
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		if err := r.WaitCaughtUp(ctx); err != nil {
			b.Fatal(err)
		}
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		if total != 2500*benchEvents {
			b.Fatalf("total %d", total)
		}
	}
	b.ReportMetric(float64(benchEvents*b.N)/b.Elapsed().Seconds(), "events/s")
}
