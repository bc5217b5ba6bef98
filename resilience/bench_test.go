package resilience_test

import (
	"context"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/resilience"
)

func newBenchPipeline(b *testing.B, opts ...resilience.Option) *resilience.Pipeline {
	b.Helper()
	timeout, err := resilience.NewTimeout(5*time.Second, opts...)
	if err != nil {
		b.Fatal(err)
	}
	retry, err := resilience.NewRetry(resilience.RetryConfig{MaxAttempts: 3}, opts...)
	if err != nil {
		b.Fatal(err)
	}
	breaker, err := resilience.NewBreaker("bench", resilience.BreakerConfig{FailureRatio: 0.5, CountWindow: 100}, opts...)
	if err != nil {
		b.Fatal(err)
	}
	bulkhead, err := resilience.NewBulkhead(resilience.BulkheadConfig{MaxConcurrent: 64, MaxQueue: 64}, opts...)
	if err != nil {
		b.Fatal(err)
	}
	return resilience.Compose(timeout, retry, breaker, bulkhead)
}

// BenchmarkPipelineSuccess measures Timeout + Retry + CircuitBreaker +
// Bulkhead on the success path, with the default (no-op until an SDK is
// installed) meter provider.
func BenchmarkPipelineSuccess(b *testing.B) {
	p := newBenchPipeline(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Run(ctx, ok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPipelineSuccessParallel is the same under concurrent callers.
func BenchmarkPipelineSuccessParallel(b *testing.B) {
	p := newBenchPipeline(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if err := p.Run(ctx, ok); err != nil {
				b.Error(err)
			}
		}
	})
}

// BenchmarkContextWithTimeout is the standard library's way of bounding a
// call, for comparison with the Timeout policy.
func BenchmarkContextWithTimeout(b *testing.B) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		_ = ok(c)
		cancel()
	}
}

// deriving is a callee that derives contexts the way clients do: a
// per-request deadline (gRPC, database/sql) and a cancelable child for the
// stream or query, both released when it returns.
func deriving(ctx context.Context) error {
	c, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	c2, cancel2 := context.WithCancel(c)
	defer cancel2()
	return c2.Err()
}

// BenchmarkTimeoutDerivingCallee bounds a deriving callee with the Timeout
// policy.
func BenchmarkTimeoutDerivingCallee(b *testing.B) {
	to, err := resilience.NewTimeout(5 * time.Second)
	if err != nil {
		b.Fatal(err)
	}
	p := resilience.Compose(to)
	ctx, cancel := context.WithCancel(context.Background()) // a request's context
	defer cancel()
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Run(ctx, deriving); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkContextWithTimeoutDerivingCallee bounds the same callee with
// context.WithTimeout, for comparison.
func BenchmarkContextWithTimeoutDerivingCallee(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ReportAllocs()
	for b.Loop() {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := deriving(c); err != nil {
			b.Fatal(err)
		}
		cancel()
	}
}
