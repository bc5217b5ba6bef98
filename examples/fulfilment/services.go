package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/resilience"
	"github.com/chronicle-go/chronicle/saga"
)

// The outside world: an inventory, a payment gateway and a carrier. Each
// applies an idempotency key's effect once, as real services that accept
// idempotency keys do; the saga passes StepContext.Key.

var (
	errUnavailable   = errors.New("payment gateway: 503 service unavailable")
	errDeclined      = errors.New("payment gateway: card declined")
	errUndeliverable = errors.New("carrier: address cannot be delivered to")
)

const stockAtStart = 10

type inventory struct {
	mu    sync.Mutex
	stock map[string]int
	seen  map[string]bool
}

func (inv *inventory) apply(key, sku string, delta int) error {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if inv.seen[key] {
		return nil
	}
	if inv.stock[sku]+delta < 0 {
		return fmt.Errorf("inventory: %d %s left", inv.stock[sku], sku)
	}
	inv.seen[key] = true
	inv.stock[sku] += delta
	return nil
}

func (inv *inventory) left(sku string) int {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	return inv.stock[sku]
}

type payments struct {
	mu       sync.Mutex
	failNext int
	charges  map[string]int // key → amount
	refunds  map[string]int
}

// outage makes the next n calls fail as if the gateway were down.
func (p *payments) outage(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failNext = n
}

func (p *payments) call(key string, amount int, card string, into map[string]int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failNext > 0 {
		p.failNext--
		return errUnavailable
	}
	if card == "visa-declined" {
		return errDeclined
	}
	if _, ok := into[key]; !ok {
		into[key] = amount
	}
	return nil
}

func (p *payments) count(m map[string]int) (n, sum int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range m {
		n++
		sum += a
	}
	return n, sum
}

func (p *payments) charged() int  { n, _ := p.count(p.charges); return n }
func (p *payments) refunded() int { n, _ := p.count(p.refunds); return n }
func (p *payments) net() int {
	_, c := p.count(p.charges)
	_, r := p.count(p.refunds)
	return c - r
}

// fulfilment holds the services the steps call.
type fulfilment struct {
	inventory *inventory
	payments  *payments
	breaker   *resilience.Breaker
}

func newFulfilment(b *resilience.Breaker) *fulfilment {
	return &fulfilment{
		inventory: &inventory{stock: map[string]int{"lamp": stockAtStart}, seen: map[string]bool{}},
		payments:  &payments{charges: map[string]int{}, refunds: map[string]int{}},
		breaker:   b,
	}
}

// retry returns a retry policy of n attempts with delays from first,
// doubling up to max, without jitter (so the run reads the same each time)
// and not retrying the errors of permanent failures.
func retry(n int, first, max time.Duration) resilience.Policy {
	r, err := resilience.NewRetry(resilience.RetryConfig{
		MaxAttempts: n, InitialDelay: first, MaxDelay: max, Jitter: resilience.NoJitter,
		RetryIf: func(err error) bool { return !errors.Is(err, errDeclined) && !errors.Is(err, errUndeliverable) },
	})
	if err != nil {
		panic(err) // the configuration is constant
	}
	return r
}

// definition is the workflow: reserve → charge → ship. Each step records
// what it did as an event of the order's stream with StepContext.Append,
// whose event IDs make a repeated append a no-op.
func (f *fulfilment) definition() *saga.Definition[Order] {
	record := func(ctx context.Context, sc saga.StepContext[Order], event any) error {
		_, err := sc.Append(ctx, "order-"+sc.Input.ID, eventstore.Any, event)
		return err
	}
	// pay charges (or refunds) the order's amount into ledger through the
	// breaker, and records event.
	pay := func(ledger map[string]int, event func(amount int) any) func(context.Context, saga.StepContext[Order]) error {
		return func(ctx context.Context, sc saga.StepContext[Order]) error {
			err := f.breaker.Run(ctx, func(context.Context) error {
				return f.payments.call(sc.Key, sc.Input.Amount, sc.Input.Card, ledger)
			})
			if err != nil {
				return err
			}
			return record(ctx, sc, event(sc.Input.Amount))
		}
	}
	return saga.New("fulfilment",
		saga.Step[Order]{
			Name: "reserve",
			Action: func(ctx context.Context, sc saga.StepContext[Order]) error {
				if err := f.inventory.apply(sc.Key, sc.Input.SKU, -sc.Input.Qty); err != nil {
					return err
				}
				return record(ctx, sc, StockReserved{SKU: sc.Input.SKU, Qty: sc.Input.Qty})
			},
			Compensate: func(ctx context.Context, sc saga.StepContext[Order]) error {
				if err := f.inventory.apply(sc.Key, sc.Input.SKU, sc.Input.Qty); err != nil {
					return err
				}
				return record(ctx, sc, StockReleased{SKU: sc.Input.SKU, Qty: sc.Input.Qty})
			},
			Retry: retry(3, 10*time.Millisecond, 40*time.Millisecond),
		},
		saga.Step[Order]{
			Name: "charge",
			// Through the breaker: while it is open, calls fail fast with
			// resilience.ErrCircuitOpen, and the retry waits for it.
			Action:     pay(f.payments.charges, func(amount int) any { return PaymentCharged{Amount: amount} }),
			Compensate: pay(f.payments.refunds, func(amount int) any { return PaymentRefunded{Amount: amount} }),
			Retry:      retry(8, 40*time.Millisecond, 160*time.Millisecond),
		},
		saga.Step[Order]{
			Name: "ship",
			Action: func(ctx context.Context, sc saga.StepContext[Order]) error {
				if sc.Input.Address == "nowhere" {
					return errUndeliverable
				}
				return record(ctx, sc, OrderShipped{Address: sc.Input.Address})
			},
			Retry: retry(3, 10*time.Millisecond, 40*time.Millisecond),
		},
	)
}
