package testkit

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Epoch is where a NewClock(time.Time{}) starts: 2025-01-01T00:00:00Z.
var Epoch = time.Date(2025, time.January, 1, 0, 0, 0, 0, time.UTC)

// A Clock is a fake clock that moves only when told. Pass its Now method
// wherever a clock function is taken (schema.WithClock,
// aggregate.WithClock, memory.WithClock). It is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock reading start, or Epoch when start is zero.
func NewClock(start time.Time) *Clock {
	if start.IsZero() {
		start = Epoch
	}
	return &Clock{now: start}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d and returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// Set sets the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

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
