package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chronicle-go/chronicle/examples/onboarding"
)

// The outside world of the shop: a warehouse, a payment provider and a mail
// server. They are in-memory fakes that behave like the real services in the
// ways that matter to the code calling them: they can be down, they
// deduplicate by idempotency key, and they record what they did so that the
// demo and the tests can look.

// Errors of the fakes.
var (
	ErrOutOfStock  = errors.New("warehouse: out of stock")
	ErrUnavailable = errors.New("service unavailable")
)

// Warehouse holds stock per SKU and reservations per order.
type Warehouse struct {
	mu       sync.Mutex
	stock    map[string]int
	reserved map[string][]onboarding.Line // by order ID
}

// NewWarehouse returns a warehouse with stock.
func NewWarehouse(stock map[string]int) *Warehouse {
	s := make(map[string]int, len(stock))
	for k, v := range stock {
		s[k] = v
	}
	return &Warehouse{stock: s, reserved: map[string][]onboarding.Line{}}
}

// Reserve reserves lines for an order, all or nothing. Reserving an order
// twice changes nothing.
func (w *Warehouse) Reserve(_ context.Context, orderID string, lines []onboarding.Line) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.reserved[orderID]; ok {
		return nil
	}
	for _, l := range lines {
		if w.stock[l.SKU] < l.Quantity {
			return fmt.Errorf("%w: %s (%d left, %d wanted)", ErrOutOfStock, l.SKU, w.stock[l.SKU], l.Quantity)
		}
	}
	for _, l := range lines {
		w.stock[l.SKU] -= l.Quantity
	}
	w.reserved[orderID] = lines
	return nil
}

// Release gives an order's reservation back; releasing what is not
// reserved changes nothing.
func (w *Warehouse) Release(_ context.Context, orderID string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, l := range w.reserved[orderID] {
		w.stock[l.SKU] += l.Quantity
	}
	delete(w.reserved, orderID)
	return nil
}

// Stock returns the stock of sku.
func (w *Warehouse) Stock(sku string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stock[sku]
}

// Payments is a payment provider. While it is down every call fails with
// ErrUnavailable; with a delay, a charge takes that long.
type Payments struct {
	down     atomic.Bool
	delay    atomic.Int64 // nanoseconds
	mu       sync.Mutex
	byKey    map[string]string // idempotency key → payment ID
	byOrder  map[string]string // order ID → payment ID, while charged
	refunded map[string]bool   // payment IDs
	calls    int
}

// NewPayments returns a working payment provider.
func NewPayments() *Payments {
	return &Payments{byKey: map[string]string{}, byOrder: map[string]string{}, refunded: map[string]bool{}}
}

// SetDown starts or ends an outage.
func (p *Payments) SetDown(down bool) { p.down.Store(down) }

// SetDelay makes charges take d (or until their context ends).
func (p *Payments) SetDelay(d time.Duration) { p.delay.Store(int64(d)) }

// Charge charges an order's amount and returns the payment's ID. A charge
// with a key already used returns the first charge's ID.
func (p *Payments) Charge(ctx context.Context, key, orderID string, amountCents int64) (string, error) {
	if d := time.Duration(p.delay.Load()); d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return "", fmt.Errorf("payments: charge %s: %w", orderID, ctx.Err())
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.down.Load() {
		return "", fmt.Errorf("payments: charge %s: %w", orderID, ErrUnavailable)
	}
	if id, ok := p.byKey[key]; ok {
		return id, nil
	}
	id := fmt.Sprintf("pay-%d", len(p.byKey)+1)
	p.byKey[key] = id
	p.byOrder[orderID] = id
	return id, nil
}

// Refund refunds an order's charge; refunding an order that was not
// charged, or twice, changes nothing.
func (p *Payments) Refund(_ context.Context, orderID string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.down.Load() {
		return fmt.Errorf("payments: refund %s: %w", orderID, ErrUnavailable)
	}
	if id, ok := p.byOrder[orderID]; ok {
		p.refunded[id] = true
		delete(p.byOrder, orderID)
	}
	return nil
}

// Calls counts the calls that reached the provider (an open breaker keeps
// calls away).
func (p *Payments) Calls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

// Mail is a mail server.
type Mail struct {
	down atomic.Bool
	mu   sync.Mutex
	keys map[string]bool
	sent []Message
}

// Message is a sent e-mail.
type Message struct {
	To, Subject string
}

// NewMail returns a working mail server.
func NewMail() *Mail { return &Mail{keys: map[string]bool{}} }

// SetDown starts or ends an outage.
func (m *Mail) SetDown(down bool) { m.down.Store(down) }

// Send sends a message once per key.
func (m *Mail) Send(_ context.Context, key string, msg Message) error {
	if m.down.Load() {
		return fmt.Errorf("mail: %w", ErrUnavailable)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.keys[key] {
		m.keys[key] = true
		m.sent = append(m.sent, msg)
	}
	return nil
}

// Sent returns the messages sent so far.
func (m *Mail) Sent() []Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Message(nil), m.sent...)
}
