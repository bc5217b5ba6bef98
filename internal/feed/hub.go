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
// any of them falls behind: it is dropped from live delivery and catches up
// from storage, so a slow consumer never makes the store buffer without
// bound. A batch larger than a bound is still queued when the queue is
// empty, so that live delivery goes on.
const (
	maxQueuedBatches = 1024
	maxQueuedEvents  = 16384
)

// maxQueuedBytes bounds the bytes of the events (data, metadata, type) in a
// subscriber's queue: with events of up to 16 MiB the event bound alone
// would allow gigabytes. A variable for tests.
var maxQueuedBytes = 64 << 20

// batchBytes is what a batch counts against maxQueuedBytes.
func batchBytes(b []eventstore.RecordedEvent) int {
	n := 0
	for i := range b {
		n += len(b[i].Data) + len(b[i].Metadata) + len(b[i].Type) + len(b[i].Stream)
	}
	return n
}

// Hub fans committed batches out to live subscribers. A stream subscriber
// is sent only the runs of a batch that belong to its stream, so traffic on
// other streams neither wakes it nor fills its queue.
type Hub struct {
	mu       sync.Mutex
	all      map[*listener]struct{}            // $all subscribers
	byStream map[string]map[*listener]struct{} // stream subscribers, by stream
	closed   bool
	err      error // what subscriptions end with once closed
}

// NewHub returns an empty Hub.
func NewHub() *Hub {
	return &Hub{all: make(map[*listener]struct{}), byStream: make(map[string]map[*listener]struct{})}
}

type listener struct {
	hub    *Hub
	stream string // "" for a $all subscriber
	ch     chan []eventstore.RecordedEvent
	done   chan struct{} // closed when dropped from the hub
	// queued counts events sent but not yet taken, queuedBytes their
	// bytes; guarded by hub.mu on the producer side, decremented by the
	// consumer under hub.mu too.
	queued      int
	queuedBytes int
	// lagged: dropped because the queue was full; otherwise dropped because
	// the hub closed, or failed it (err). Written before done is closed.
	lagged bool
	err    error
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
	for l := range h.all {
		h.send(l, batch)
	}
	h.sendStreams(batch)
}

// PublishStreams hands events that are not in $all — the links of the
// category and event-type streams that embedded stores keep — to the
// subscribers of their streams, in each stream's order. Call it as
// Publish, in commit order and right after the Publish of the events the
// links point to.
func (h *Hub) PublishStreams(batch []eventstore.RecordedEvent) {
	if len(batch) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sendStreams(batch)
}

// Listening reports whether stream has a live subscriber. A backend may
// skip building the live events of a stream nobody listens to: a
// subscriber registers before it reads from storage, so one that
// registers after this check finds the events there, provided they were
// visible to readers before the check.
func (h *Hub) Listening(stream string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.byStream[stream]) > 0
}

// Listened returns the streams that have live subscribers and for which
// keep reports true.
func (h *Hub) Listened(keep func(stream string) bool) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for name := range h.byStream {
		if keep(name) {
			out = append(out, name)
		}
	}
	return out
}

// sendStreams sends each run of batch to its stream's subscribers; h.mu is
// held.
func (h *Hub) sendStreams(batch []eventstore.RecordedEvent) {
	if len(h.byStream) == 0 {
		return
	}
	for i := 0; i < len(batch); {
		j := i + 1
		for j < len(batch) && batch[j].Stream == batch[i].Stream {
			j++
		}
		for l := range h.byStream[batch[i].Stream] {
			h.send(l, batch[i:j:j])
		}
		i = j
	}
}

// send queues b for l, or drops l as fallen behind when its queue is full;
// h.mu is held.
func (h *Hub) send(l *listener, b []eventstore.RecordedEvent) {
	size := batchBytes(b)
	if l.queued > 0 && (l.queued+len(b) > maxQueuedEvents || l.queuedBytes+size > maxQueuedBytes) {
		h.drop(l, true)
		return
	}
	select {
	case l.ch <- b:
		l.queued += len(b)
		l.queuedBytes += size
	default:
		h.drop(l, true)
	}
}

// Close ends every subscription with eventstore.ErrClosed. Later
// subscriptions end at once with ErrClosed.
func (h *Hub) Close() { h.CloseWith(eventstore.ErrClosed) }

// CloseWith ends every subscription with err, and later subscriptions at
// once; a hub closes once, and the first error stays.
func (h *Hub) CloseWith(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed, h.err = true, err
	for l := range h.all {
		h.drop(l, false)
	}
	for _, ls := range h.byStream {
		for l := range ls {
			h.drop(l, false)
		}
	}
}

// Fail ends every current subscription with err, as when the backend can
// no longer tell them what was committed; later subscriptions start as
// usual (and catch up by reading).
func (h *Hub) Fail(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for l := range h.all {
		l.err = err
		h.drop(l, false)
	}
	for _, ls := range h.byStream {
		for l := range ls {
			l.err = err
			h.drop(l, false)
		}
	}
}

// endErr returns what l's subscription ends with once it was dropped
// without lagging: the error it was failed with, or the hub's close error.
func (l *listener) endErr() error {
	h := l.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case l.err != nil:
		return l.err
	case h.err != nil:
		return h.err
	}
	return eventstore.ErrClosed
}

// set returns the map l is registered in; h.mu is held.
func (h *Hub) set(l *listener) map[*listener]struct{} {
	if l.stream == "" {
		return h.all
	}
	return h.byStream[l.stream]
}

// drop removes l if it is registered; h.mu is held.
func (h *Hub) drop(l *listener, lagged bool) {
	set := h.set(l)
	if _, ok := set[l]; !ok {
		return
	}
	delete(set, l)
	if l.stream != "" && len(set) == 0 {
		delete(h.byStream, l.stream)
	}
	l.lagged = lagged
	close(l.done)
}

// listen registers a subscriber of one stream, or of $all when stream is "".
func (h *Hub) listen(stream string) *listener {
	l := &listener{hub: h, stream: stream, ch: make(chan []eventstore.RecordedEvent, maxQueuedBatches), done: make(chan struct{})}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(l.done)
		return l
	}
	if stream == "" {
		h.all[l] = struct{}{}
	} else {
		if h.byStream[stream] == nil {
			h.byStream[stream] = make(map[*listener]struct{})
		}
		h.byStream[stream][l] = struct{}{}
	}
	return l
}

// taken records that the consumer took batch b.
func (l *listener) taken(b []eventstore.RecordedEvent) {
	size := batchBytes(b)
	l.hub.mu.Lock()
	l.queued -= len(b)
	l.queuedBytes -= size
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
	l.hub.drop(l, false)
}
