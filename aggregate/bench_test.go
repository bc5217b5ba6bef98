package aggregate_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/chronicle-go/chronicle/aggregate"
	"github.com/chronicle-go/chronicle/eventstore"
)

// seedAccount appends an account of n events (one open, then deposits) in
// batches, straight to the store.
func seedAccount(b *testing.B, e env, n int) {
	b.Helper()
	ctx := context.Background()
	batch := make([]any, 0, 1000)
	for i := range n {
		if i == 0 {
			batch = append(batch, Opened{Owner: "ada"})
		} else {
			batch = append(batch, Deposited{Amount: 1})
		}
		if len(batch) == cap(batch) || i == n-1 {
			data, err := e.reg.EncodeAll(ctx, batch...)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := e.store.Append(ctx, "account-1", eventstore.Any, data...); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}

func benchmarkLoad(b *testing.B, events int, snapshot bool) {
	var opts []aggregate.Option
	if snapshot {
		opts = append(opts, aggregate.WithSnapshotEvery(events))
	}
	e := newEnv(b, opts...)
	seedAccount(b, e, events)
	ctx := context.Background()
	if snapshot { // one more event, and a snapshot of all 10 001
		mustDo(e.repo.Update(ctx, "1", deposit(1)))
	}
	want := events - 1
	if snapshot {
		want++
	}
	b.ReportAllocs()
	for b.Loop() {
		a, err := e.repo.Load(ctx, "1")
		if err != nil {
			b.Fatal(err)
		}
		if a.State.Balance != want {
			b.Fatalf("balance %d, want %d", a.State.Balance, want)
		}
	}
	b.ReportMetric(float64(events*b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkLoad20 loads an aggregate of 20 events from the memory store, the
// common short load, which decodes one event after the other.
func BenchmarkLoad20(b *testing.B) { benchmarkLoad(b, 20, false) }

// BenchmarkLoad10k loads an aggregate of 10 000 events from the memory store
// without a snapshot: every event is read, JSON-decoded and applied (after
// the first 512, decoded in parallel).
func BenchmarkLoad10k(b *testing.B) { benchmarkLoad(b, 10_000, false) }

// BenchmarkLoad10kSnapshot loads the same aggregate from a snapshot taken at
// its last event (events/s counts the 10 000 events the snapshot stands for).
func BenchmarkLoad10kSnapshot(b *testing.B) { benchmarkLoad(b, 10_000, true) }

// benchmarkConflicts runs writers goroutines that each deposit into one
// account `each` times, and reports the concurrency conflicts per command
// (attempts beyond the first) and the most attempts one command needed.
func benchmarkConflicts(b *testing.B, writers int, opts ...aggregate.Option) {
	const each = 4
	opts = append([]aggregate.Option{aggregate.WithMaxRetries(10_000)}, opts...)
	e := newEnv(b, opts...)
	ctx := context.Background()
	var attempts, most atomic.Int64
	commands := 0
	round := 0
	for b.Loop() {
		round++
		id := strconv.Itoa(round)
		mustDo(e.repo.Create(ctx, id, open("ada")))
		var wg sync.WaitGroup
		for range writers {
			wg.Go(func() {
				for range each {
					res, err := e.repo.Update(ctx, id, deposit(1))
					if err != nil {
						b.Error(err)
						return
					}
					attempts.Add(int64(res.Attempts))
					for n := most.Load(); int64(res.Attempts) > n && !most.CompareAndSwap(n, int64(res.Attempts)); n = most.Load() {
					}
				}
			})
		}
		wg.Wait()
		commands += writers * each
	}
	b.ReportMetric(float64(attempts.Load()-int64(commands))/float64(commands), "conflicts/command")
	b.ReportMetric(float64(most.Load()), "max-attempts")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(commands), "ns/command")
}

// BenchmarkConflicts measures conflicts per command when 16 or 64 writers
// update one aggregate at once, with the default backoff and with
// immediate retries (WithConflictBackoff(0, 0)).
func BenchmarkConflicts(b *testing.B) {
	for _, writers := range []int{16, 64} {
		b.Run(fmt.Sprintf("writers=%d/backoff", writers), func(b *testing.B) { benchmarkConflicts(b, writers) })
		b.Run(fmt.Sprintf("writers=%d/immediate", writers), func(b *testing.B) {
			benchmarkConflicts(b, writers, aggregate.WithConflictBackoff(0, 0))
		})
	}
}

// BenchmarkDecoding loads aggregates of n events from the memory store
// decoding one event after the other (seq) and decoding in parallel from
// the first event on (par, batches of 128, the default workers): where par
// wins is where a threshold pays (the defaults start after 512 events).
func BenchmarkDecoding(b *testing.B) {
	for _, n := range []int{64, 128, 256, 512, 1024, 4096} {
		for _, mode := range []struct {
			name string
			opt  aggregate.Option
		}{{"seq", aggregate.WithDecoding(0, 0, 0)}, {"par", aggregate.WithDecoding(1, 128, 0)}} {
			b.Run(fmt.Sprintf("events=%d/%s", n, mode.name), func(b *testing.B) {
				e := newEnv(b, mode.opt)
				seedAccount(b, e, n)
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					if _, err := e.repo.Load(ctx, "1"); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}
