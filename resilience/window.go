package resilience

import "time"

// window counts the outcomes of recent calls for the ratio rules in O(1)
// per call: either a ring of the last N outcomes, or buckets of a time span.
type window struct {
	ring   []uint8 // count window: outcome bits of the last len(ring) calls
	next   int
	filled int

	buckets []bucket // time window
	width   int64    // bucket width in ns
	last    int64    // index (time / width) of the newest bucket

	calls, failures, slow int
}

const (
	bitFailure uint8 = 1 << iota
	bitSlow
)

type bucket struct {
	calls, failures, slow int
}

func newWindow(cfg BreakerConfig) window {
	switch {
	case cfg.CountWindow > 0:
		return window{ring: make([]uint8, cfg.CountWindow)}
	case cfg.TimeWindow > 0:
		return window{buckets: make([]bucket, timeBuckets), width: int64(cfg.TimeWindow / timeBuckets)}
	}
	return window{}
}

func (w *window) add(now time.Time, failure, slow bool) {
	var bits uint8
	if failure {
		bits |= bitFailure
		w.failures++
	}
	if slow {
		bits |= bitSlow
		w.slow++
	}
	w.calls++
	switch {
	case w.ring != nil:
		if w.filled == len(w.ring) {
			w.drop(w.ring[w.next])
		} else {
			w.filled++
		}
		w.ring[w.next] = bits
		w.next = (w.next + 1) % len(w.ring)
	case w.buckets != nil:
		w.advance(now)
		b := &w.buckets[w.last%int64(len(w.buckets))]
		b.calls++
		if failure {
			b.failures++
		}
		if slow {
			b.slow++
		}
	}
}

func (w *window) drop(bits uint8) {
	w.calls--
	if bits&bitFailure != 0 {
		w.failures--
	}
	if bits&bitSlow != 0 {
		w.slow--
	}
}

// advance clears the buckets that fell out of the time window; it clears at
// most len(buckets) of them. A clock that moved back counts into the
// newest bucket.
func (w *window) advance(now time.Time) {
	idx := now.UnixNano() / w.width
	if idx <= w.last {
		return
	}
	n := int64(len(w.buckets))
	from := w.last + 1
	if idx-w.last > n {
		from = idx - n + 1
	}
	for i := from; i <= idx; i++ {
		b := &w.buckets[i%n]
		w.calls -= b.calls
		w.failures -= b.failures
		w.slow -= b.slow
		*b = bucket{}
	}
	w.last = idx
}

// totals returns the counts of the window at now.
func (w *window) totals(now time.Time) (calls, failures, slow int) {
	if w.buckets != nil {
		w.advance(now)
	}
	return w.calls, w.failures, w.slow
}

func (w *window) reset() {
	clear(w.ring)
	clear(w.buckets)
	w.next, w.filled, w.calls, w.failures, w.slow = 0, 0, 0, 0, 0
}
