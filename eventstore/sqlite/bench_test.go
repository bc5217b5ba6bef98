package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"iter"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/sqlite"
)

var benchData = []byte(`{"orderId":"order-42","customer":"c-7","lines":[{"sku":"A-1","qty":2,"price":1250}],"total":2500}`)

// reportCPU reports CPU time per event since start: unlike the rates, it
// hardly depends on what else runs on the machine.
func reportCPU(b *testing.B, start time.Duration, events int) {
	b.ReportMetric(float64(cpuTime()-start)/float64(time.Microsecond)/float64(events), "cpu-µs/event")
}

func benchEvent() eventstore.EventData {
	return eventstore.EventData{Type: "OrderPlaced", Data: benchData, Metadata: []byte(`{"$correlationId":"c-1"}`)}
}

// BenchmarkAppend1Writer: one durable append of one event at a time.
func BenchmarkAppend1Writer(b *testing.B) {
	s := open(b)
	ctx := context.Background()
	b.ReportAllocs()
	cpu := cpuTime()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Append(ctx, "bench", eventstore.Any, benchEvent()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
	reportCPU(b, cpu, b.N)
}

// BenchmarkAppend32Writers: 32 goroutines, each appending one event at a
// time to its own stream; they share commits.
func BenchmarkAppend32Writers(b *testing.B) {
	s := open(b)
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	cpu := cpuTime()
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := fmt.Sprintf("bench-%d", w)
			for next.Add(1) <= int64(b.N) {
				if _, err := s.Append(ctx, stream, eventstore.Any, benchEvent()); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	st := s.Stats()
	b.ReportMetric(float64(st.Requests)/float64(max(st.Commits, 1)), "appends/commit")
	reportCPU(b, cpu, b.N)
}

// BenchmarkAppendBatch100: one writer appending 100 events per append.
func BenchmarkAppendBatch100(b *testing.B) {
	s := open(b)
	ctx := context.Background()
	evs := make([]eventstore.EventData, 100)
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		for i := range evs {
			evs[i] = benchEvent()
		}
		if _, err := s.Append(ctx, "bench", eventstore.Any, evs...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(100*b.N)/b.Elapsed().Seconds(), "events/s")
	reportCPU(b, cpu, 100*b.N)
}

// seed writes n events to one stream in appends of 1000.
func seed(b *testing.B, s eventstore.Store, stream string, n int) {
	b.Helper()
	evs := make([]eventstore.EventData, 0, 1000)
	for n > 0 {
		evs = evs[:0]
		for range min(n, 1000) {
			evs = append(evs, benchEvent())
		}
		mustAppend(b, s, stream, eventstore.Any, evs...)
		n -= len(evs)
	}
}

// BenchmarkReadStream reads a 100 000-event stream; the metric is events/s.
func BenchmarkReadStream(b *testing.B) {
	const n = 100_000
	s := open(b)
	seed(b, s, "bench", n)
	benchRead(b, n, func() iter.Seq2[eventstore.RecordedEvent, error] {
		return s.ReadStream(context.Background(), "bench", eventstore.ReadOptions{})
	})
}

// benchRead reads n events with each call of read.
func benchRead(b *testing.B, n int, read func() iter.Seq2[eventstore.RecordedEvent, error]) {
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		got := 0
		for _, err := range read() {
			if err != nil {
				b.Fatal(err)
			}
			got++
		}
		if got != n {
			b.Fatalf("read %d events", got)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
	reportCPU(b, cpu, n*b.N)
}

// BenchmarkRawScanStream scans the rows BenchmarkReadStream reads with a
// plain query through database/sql, as chronicle bench's raw scan does:
// the engine's and driver's own limit for the read.
func BenchmarkRawScanStream(b *testing.B) {
	const n = 100_000
	s := open(b)
	seed(b, s, "bench", n)
	benchRawScan(b, s.Path(), n, `SELECT pos, stream, rev, id, type, json, data, meta, created FROM events
		WHERE stream = (SELECT id FROM streams WHERE name = 'bench') ORDER BY rev`)
}

// BenchmarkRawScanAll scans the events table as BenchmarkReadAll reads it.
func BenchmarkRawScanAll(b *testing.B) {
	const n = 100_000
	s := seedAll(b, n)
	benchRawScan(b, s.Path(), n, `SELECT pos, stream, rev, id, type, json, data, meta, created FROM events`)
}

func benchRawScan(b *testing.B, path string, n int, query string) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		rows, err := db.Query(query)
		if err != nil {
			b.Fatal(err)
		}
		var (
			pos, stream, rev, isJSON, created int64
			id, data, meta                    []byte
			typ                               string
			got                               int
		)
		for rows.Next() {
			if err := rows.Scan(&pos, &stream, &rev, &id, &typ, &isJSON, &data, &meta, &created); err != nil {
				b.Fatal(err)
			}
			got++
		}
		if err := cmpErr(rows.Err(), rows.Close()); err != nil || got != n {
			b.Fatalf("scanned %d rows: %v", got, err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
	reportCPU(b, cpu, n*b.N)
}

func cmpErr(first, second error) error {
	if first != nil {
		return first
	}
	return second
}

// BenchmarkReadAll reads $all over 100 000 events in 100 streams.
func BenchmarkReadAll(b *testing.B) {
	const n = 100_000
	s := seedAll(b, n)
	benchRead(b, n, func() iter.Seq2[eventstore.RecordedEvent, error] {
		return s.ReadAll(context.Background(), eventstore.ReadAllOptions{})
	})
}

// seedAll opens a store holding n events in 100 streams.
func seedAll(b *testing.B, n int) *sqlite.Store {
	s := open(b)
	for i := range 100 {
		seed(b, s, fmt.Sprintf("bench-%d", i), n/100)
	}
	return s
}
