package testkit

import (
	"context"
	"encoding/binary"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/chronicle-go/chronicle/internal/clock"
)

// Epoch is where a NewClock(time.Time{}) starts: 2025-01-01T00:00:00Z.
var Epoch = time.Date(2025, time.January, 1, 0, 0, 0, 0, time.UTC)

// A Clock is a fake clock whose time moves only when a test says so
// (Advance, Set). It is the clock type Chronicle's packages take
// (schema.WithClock, aggregate.WithClock, resilience.WithClock; pass its Now
// method where a function is taken, as memory.WithClock does), and it has
// timers: functions scheduled with AfterFunc (timeouts, backoff delays,
// breaker recovery, saga deadlines) run when the time reaches them, in the
// goroutine that advances it, in deadline order. It is safe for concurrent
// use; the zero value is not usable, call NewClock.
type Clock struct {
	f *clock.Fake
}

var _ clock.Clock = (*Clock)(nil)

// NewClock returns a Clock reading start, or Epoch when start is zero.
func NewClock(start time.Time) *Clock {
	if start.IsZero() {
		start = Epoch
	}
	return &Clock{f: clock.NewFake(start)}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return c.f.Now() }

// Advance moves the clock forward by d, running every function that falls
// due on the way (each at its own time), and returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time { return c.f.Advance(d) }

// Set sets the clock to t. Moving forward runs the functions due by t;
// moving back runs none.
func (c *Clock) Set(t time.Time) { c.f.Set(t) }

// AfterFunc schedules f to run when the clock reaches Now()+d (at once, in
// a new goroutine, for d <= 0) and returns a function that cancels it,
// reporting whether it did, as time.Timer.Stop.
func (c *Clock) AfterFunc(d time.Duration, f func()) (stop func() bool) { return c.f.AfterFunc(d, f) }

// Pending returns how many functions are scheduled.
func (c *Clock) Pending() int { return c.f.Pending() }

// Next returns how long from now the earliest scheduled function is due,
// and false when none is.
func (c *Clock) Next() (d time.Duration, ok bool) { return c.f.Next() }

// WaitPending blocks until at least n functions are scheduled, or ctx ends
// (then it returns ctx's error): a test calls it to know that the code
// under test is waiting on the clock before it advances the time.
func (c *Clock) WaitPending(ctx context.Context, n int) error { return c.f.WaitPending(ctx, n) }

// IDs hands out deterministic UUIDs: 00000000-0000-4000-8000-000000000001,
// …-000000000002, … (well-formed version 4, variant RFC 4122). Pass its Next
// method to schema.WithIDs. It is safe for concurrent use.
type IDs struct {
	mu sync.Mutex
	n  uint64
}

// NewIDs returns an IDs whose first UUID ends in 1.
func NewIDs() *IDs { return &IDs{} }

// Next returns the next UUID.
func (g *IDs) Next() uuid.UUID {
	g.mu.Lock()
	g.n++
	n := g.n
	g.mu.Unlock()
	return ID(n)
}

// ID returns the n-th UUID an IDs hands out, for expectations.
func ID(n uint64) uuid.UUID {
	var u uuid.UUID
	u[6] = 0x40 // version 4
	u[8] = 0x80 // variant RFC 4122
	binary.BigEndian.PutUint64(u[8:], n|0x8000_0000_0000_0000)
	return u
}
