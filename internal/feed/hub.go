// Package feed delivers catch-up subscriptions for backends that commit in
// process (memory, sqlite): catch-up reads through the Store's own read
// methods, live events from a Hub that the backend feeds with committed
// batches, with bounded memory per subscriber.
package feed

import (
	"sync"

	"github.com/chronicle-go/chronicle/eventstore"
)

// Bounds of a live subscriber's queue. A subscriber whose queue would exceed
// either falls behind: it is dropped from live delivery and catches up from
// storage, so a slow consumer never makes the store buffer without bound.
const (
	maxQueuedBatches = 1024
	maxQueuedEvents  = 16384
)

// Hub fans committed batches out to live subscribers.
type Hub struct {
	mu     sync.Mutex
	subs   map[*listener]struct{}
	closed bool
}

// NewHub returns an empty Hub.
func NewHub() *Hub { return &Hub{subs: make(map[*listener]struct{})} }

type listener struct {
	hub  *Hub
	ch   chan []eventstore.RecordedEvent
	done chan struct{} // closed when dropped from the hub
	// queued counts events sent but not yet taken; guarded by hub.mu on the
	// producer side, decremented by the consumer under hub.mu too.
	queued int
	// lagged: dropped because the queue was full; otherwise dropped because
	// the hub closed. Written before done is closed.
	lagged bool
}

// Publish hands a committed batch, in position order and already visible to
// readers, to live subscribers. Call it in commit order, never concurrently
// with itself. It never blocks. The slice must not be modified afterwards.
func (h *Hub) Publish(batch []eventstore.RecordedEvent) {
	if len(batch) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for l := range h.subs {
		if l.queued+len(batch) > maxQueuedEvents && l.queued > 0 {
			h.drop(l, true)
			continue
		}
		select {
		case l.ch <- batch:
			l.queued += len(batch)
		default:
			h.drop(l, true)
		}
	}
}

// Close ends every subscription with eventstore.ErrClosed. Later
// subscriptions end at once with ErrClosed.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for l := range h.subs {
		h.drop(l, false)
	}
}

// drop removes l; h.mu is held.
func (h *Hub) drop(l *listener, lagged bool) {
	delete(h.subs, l)
	l.lagged = lagged
	close(l.done)
}

func (h *Hub) listen() *listener {
	l := &listener{hub: h, ch: make(chan []eventstore.RecordedEvent, maxQueuedBatches), done: make(chan struct{})}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(l.done)
		return l
	}
	h.subs[l] = struct{}{}
	return l
}

// taken records that the consumer took a batch of n events.
func (l *listener) taken(n int) {
	l.hub.mu.Lock()
	l.queued -= n
	l.hub.mu.Unlock()
}

// dropped reports whether l was dropped and, if so, whether for lagging.
func (l *listener) dropped() (gone, lagged bool) {
	select {
	case <-l.done:
		l.hub.mu.Lock()
		defer l.hub.mu.Unlock()
		return true, l.lagged
	default:
		return false, false
	}
}

func (l *listener) close() {
	l.hub.mu.Lock()
	defer l.hub.mu.Unlock()
	if _, ok := l.hub.subs[l]; ok {
		delete(l.hub.subs, l)
		close(l.done)
	}
}
