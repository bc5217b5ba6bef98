package resilience

import (
	"context"
	"slices"
	"sync"
	"time"
)

// deadlineCtx is the context a Timeout gives its call: context.WithTimeout
// without a timer per call. A watcher shared by the Timeout keeps the
// deadlines of the calls in flight in a heap and arms one clock timer for
// the earliest, so a call that finishes in time costs one allocation (this
// struct) and no timer. The Done channel, and the link that cancels the
// context with its parent, are made only if someone asks for Done or
// registers an AfterFunc.
//
// It has the AfterFunc method that package context looks for: contexts
// derived from it (context.WithCancel, WithTimeout, …, as gRPC and
// database/sql derive them) and context.AfterFunc register a function here
// instead of starting a goroutine that waits on Done.
type deadlineCtx struct {
	context.Context // the parent; provides Value
	deadline        time.Time
	index           int // position in the watcher's heap, -1 when out; guarded by watcher.mu

	mu      sync.Mutex
	done    chan struct{}
	err     error
	expired bool         // err was set by the deadline
	stop    func() bool  // stops the parent link
	funcs   []*afterFunc // registered by AfterFunc, not yet run or stopped
}

// afterFunc is one function registered with deadlineCtx.AfterFunc; its
// pointer identifies it (a func value cannot).
type afterFunc struct{ f func() }

// closedChan is the Done channel of a context that ended before anyone
// asked for its channel.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (c *deadlineCtx) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *deadlineCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		if c.err != nil {
			return closedChan
		}
		c.done = make(chan struct{})
		c.linkLocked()
	}
	return c.done
}

// linkLocked makes the parent's end cancel c, once; c.mu is held and c has
// not ended. context.AfterFunc needs no goroutine for the standard
// library's contexts or for another deadlineCtx.
func (c *deadlineCtx) linkLocked() {
	if c.stop != nil || c.Context.Done() == nil {
		return
	}
	parent := c.Context
	c.stop = context.AfterFunc(parent, func() { c.cancel(parent.Err(), false) })
}

// AfterFunc arranges for f to run in its own goroutine once c ends, as
// context.AfterFunc(c, f) does, and returns a function that stops it: it
// reports true if it kept f from running. If c has ended, f starts at once.
// Package context calls this method for contexts derived from c.
func (c *deadlineCtx) AfterFunc(f func()) (stop func() bool) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	a := &afterFunc{f: f}
	c.funcs = append(c.funcs, a)
	c.linkLocked()
	c.mu.Unlock()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		i := slices.Index(c.funcs, a)
		if i < 0 {
			return false
		}
		c.funcs = slices.Delete(c.funcs, i, i+1)
		return true
	}
}

func (c *deadlineCtx) Err() error {
	c.mu.Lock()
	err := c.err
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if err := c.Context.Err(); err != nil {
		// Keep Done and Err consistent even if nobody asked for Done yet.
		c.cancel(err, false)
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.err
	}
	return nil
}

func (c *deadlineCtx) String() string { return "resilience.Timeout" }

// cancel ends the context with err unless it has ended already, and
// reports whether it was ended by its deadline.
func (c *deadlineCtx) cancel(err error, byDeadline bool) (expired bool) {
	c.mu.Lock()
	if c.err != nil {
		expired = c.expired
		c.mu.Unlock()
		return expired
	}
	c.err, c.expired = err, byDeadline
	if c.done != nil {
		close(c.done)
	}
	stop, funcs := c.stop, c.funcs
	c.funcs = nil
	c.mu.Unlock()
	if stop != nil {
		stop()
	}
	for _, a := range funcs {
		go a.f()
	}
	return byDeadline
}

// watcher cancels the deadline contexts of one Timeout when their time
// comes, with a single clock timer armed for the earliest deadline.
type watcher struct {
	clock Clock

	mu      sync.Mutex
	heap    []*deadlineCtx
	armed   bool
	armedAt time.Time
	gen     uint64
	stop    func() bool
}

// add starts watching c; now is the current time.
func (w *watcher) add(c *deadlineCtx, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c.index = len(w.heap)
	w.heap = append(w.heap, c)
	w.up(c.index)
	// A timer armed for an earlier time than c's deadline wakes up first and
	// re-arms for what is then the earliest; only an earlier deadline needs
	// a new timer. So calls with equal timeouts arm one timer per period.
	if !w.armed || c.deadline.Before(w.armedAt) {
		w.arm(c.deadline, now)
	}
}

// arm sets the timer for at; w.mu is held.
func (w *watcher) arm(at, now time.Time) {
	if w.armed {
		w.stop()
	}
	w.gen++
	gen := w.gen
	w.armed, w.armedAt = true, at
	w.stop = w.clock.AfterFunc(at.Sub(now), func() { w.fire(gen) })
}

// fire cancels every context whose deadline has passed and re-arms.
func (w *watcher) fire(gen uint64) {
	now := w.clock.Now()
	var expired []*deadlineCtx
	w.mu.Lock()
	for len(w.heap) > 0 && !w.heap[0].deadline.After(now) {
		expired = append(expired, w.heap[0])
		w.remove(0)
	}
	if gen == w.gen { // a stale timer leaves the current one alone
		w.armed = false
		if len(w.heap) > 0 {
			w.arm(w.heap[0].deadline, now)
		}
	}
	w.mu.Unlock()
	for _, c := range expired {
		c.cancel(context.DeadlineExceeded, true)
	}
}

// finish stops watching c, ends it (a context outliving its call reads as
// canceled, as with context.WithTimeout) and reports whether its own
// deadline had expired.
func (w *watcher) finish(c *deadlineCtx) bool {
	w.mu.Lock()
	if c.index >= 0 {
		w.remove(c.index)
	}
	w.mu.Unlock()
	return c.cancel(context.Canceled, false)
}

// Heap operations on w.heap, ordered by deadline; w.mu is held.

func (w *watcher) remove(i int) {
	h := w.heap
	last := len(h) - 1
	h[i].index = -1
	if i != last {
		h[i] = h[last]
		h[i].index = i
	}
	h[last] = nil
	w.heap = h[:last]
	if i != last {
		w.down(i)
		w.up(i)
	}
}

func (w *watcher) less(i, j int) bool { return w.heap[i].deadline.Before(w.heap[j].deadline) }

func (w *watcher) swap(i, j int) {
	h := w.heap
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}

func (w *watcher) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !w.less(i, p) {
			return
		}
		w.swap(i, p)
		i = p
	}
}

func (w *watcher) down(i int) {
	n := len(w.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && w.less(r, l) {
			m = r
		}
		if !w.less(m, i) {
			return
		}
		w.swap(i, m)
		i = m
	}
}
