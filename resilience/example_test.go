package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/resilience"
)

// Policies compose outermost first; the errors of the call stay visible
// through the policy's own error.
func ExampleRun() {
	ctx := context.Background()
	timeout, _ := resilience.NewTimeout(time.Second)
	retry, _ := resilience.NewRetry(resilience.RetryConfig{MaxAttempts: 3, InitialDelay: time.Millisecond})

	attempts := 0
	err := resilience.Run(ctx, func(context.Context) error {
		attempts++
		return &eventstore.WrongExpectedVersionError{Stream: "order-7", Expected: eventstore.Exact(1), Actual: eventstore.Exact(2)}
	}, timeout, retry)

	fmt.Println(attempts, errors.Is(err, resilience.ErrRetriesExhausted), errors.Is(err, eventstore.ErrWrongExpectedVersion))
	// Output: 3 true true
}

// A Pipeline is built once and used for every call.
func ExampleCompose() {
	timeout, _ := resilience.NewTimeout(2 * time.Second)
	retry, _ := resilience.NewRetry(resilience.RetryConfig{InitialDelay: time.Millisecond})
	breaker, _ := resilience.NewBreaker("inventory", resilience.BreakerConfig{})
	bulkhead, _ := resilience.NewBulkhead(resilience.BulkheadConfig{MaxConcurrent: 16, MaxQueue: 64})
	pipeline := resilience.Compose(timeout, retry, breaker, bulkhead)

	calls := 0
	for range 3 {
		_ = pipeline.Run(context.Background(), func(context.Context) error {
			calls++
			return nil
		})
	}
	fmt.Println(calls, breaker.State())
	// Output: 3 closed
}

func ExampleBreaker() {
	ctx := context.Background()
	b, _ := resilience.NewBreaker("search", resilience.BreakerConfig{ConsecutiveFailures: 2, OpenDuration: time.Minute})
	unavailable := errors.New("search is down")
	for range 2 {
		_ = b.Run(ctx, func(context.Context) error { return unavailable })
	}
	err := b.Run(ctx, func(context.Context) error { return nil })

	var open *resilience.CircuitOpenError
	fmt.Println(b.State(), errors.As(err, &open), open.Reason, errors.Is(err, unavailable))
	// Output: open true 2 consecutive failures true
}

// Two instances of a service share one breaker through its event stream:
// when one opens it, the other rejects calls too, and a reset on either
// closes it everywhere.
func ExampleBreaker_shared() {
	ctx := context.Background()
	store := memory.New() // in production: the service's event store
	defer store.Close()
	cfg := resilience.BreakerConfig{ConsecutiveFailures: 3, OpenDuration: time.Minute}
	east, _ := resilience.NewBreaker("payments", cfg, resilience.WithStore(store), resilience.WithInstanceID("east"))
	defer east.Close()
	west, _ := resilience.NewBreaker("payments", cfg, resilience.WithStore(store), resilience.WithInstanceID("west"))
	defer west.Close()

	for range 3 {
		_ = east.Run(ctx, func(context.Context) error { return errors.New("gateway timeout") })
	}
	_ = east.Sync(ctx) // written
	_ = west.Sync(ctx) // and read (west also follows the stream on its own)
	err := west.Run(ctx, func(context.Context) error { return nil })
	fmt.Println("east:", east.State(), "west:", west.State())
	fmt.Println(err)

	_ = west.Reset(ctx)
	_ = east.Sync(ctx)
	fmt.Println("east:", east.State(), "west:", west.State())

	for rec, err := range store.ReadStream(ctx, resilience.BreakerStream("payments"), eventstore.ReadOptions{}) {
		if err != nil {
			panic(err)
		}
		fmt.Println(rec.Revision, rec.Type)
	}
	// Output:
	// east: open west: open
	// resilience: breaker "payments" is open (opened by east: 3 consecutive failures)
	// east: closed west: closed
	// 0 BreakerOpened
	// 1 BreakerClosed
}

func ExampleRegistry() {
	ctx := context.Background()
	reg, _ := resilience.NewRegistry(resilience.BreakerConfig{ConsecutiveFailures: 5})
	defer reg.Close()
	_ = reg.Configure("ledger", resilience.BreakerConfig{ConsecutiveFailures: 1})

	_ = reg.Execute(ctx, "ledger", func(context.Context) error { return errors.New("disk full") })
	_ = reg.Execute(ctx, "mailer", func(context.Context) error { return errors.New("smtp down") })

	for _, name := range reg.Names() {
		state, _ := reg.State(name)
		m, _ := reg.Metrics(name)
		fmt.Println(name, state, m.Total.Failures)
	}
	// Output:
	// ledger open 1
	// mailer closed 1
}

func ExampleFallback() {
	cached := "yesterday's price"
	var price string
	fallback, _ := resilience.NewFallback(resilience.FallbackConfig{
		Func: func(context.Context, error) error { price = cached; return nil },
	})
	err := resilience.Run(context.Background(), func(context.Context) error {
		return errors.New("pricing service down")
	}, fallback)
	fmt.Println(price, err)
	// Output: yesterday's price <nil>
}

func ExampleBulkhead() {
	bulkhead, _ := resilience.NewBulkhead(resilience.BulkheadConfig{MaxConcurrent: 1})
	err := resilience.Run(context.Background(), func(ctx context.Context) error {
		// A nested call while the only slot is taken is rejected at once.
		return resilience.Run(ctx, func(context.Context) error { return nil }, bulkhead)
	}, bulkhead)
	fmt.Println(errors.Is(err, resilience.ErrBulkheadFull))
	// Output: true
}
