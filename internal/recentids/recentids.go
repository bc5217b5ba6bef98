// Package recentids remembers where the most recently written event IDs
// went: the bounded window within which the in-process backends (memory,
// sqlite) recognise an idempotent re-append with Any or StreamExists, as
// EventStoreDB does with its cache of committed event IDs.
//
// The rule the backends share: the window holds the IDs of the last Max
// events written to the store, whatever their streams (tombstone records
// excluded). An ID maps to the latest place it was written, so an ID
// written to stream A and then to stream B is found for B only. A re-append
// with Any or StreamExists whose first event ID is outside the window, or
// was last written to another stream, is written again. Re-appends with
// NoStream or an exact revision do not use the window: they compare the
// IDs at the stream's revisions, whatever their age.
package recentids

import "github.com/google/uuid"

// An Entry says where an event ID was written; S identifies a stream.
type Entry[S comparable] struct {
	ID     uuid.UUID
	Stream S
	Rev    uint64
}

// Window remembers the last Max entries added. It is not safe for
// concurrent use.
type Window[S comparable] struct {
	max  int
	m    map[uuid.UUID]slot[S]
	ring []uuid.UUID
	next int
}

type slot[S comparable] struct {
	Entry[S]
	at int // index in the ring
}

// New returns a window of max entries; 0 remembers nothing.
func New[S comparable](max int) *Window[S] {
	return &Window[S]{max: max, m: make(map[uuid.UUID]slot[S])}
}

// Max returns the window's size.
func (w *Window[S]) Max() int { return w.max }

// Reset forgets every entry.
func (w *Window[S]) Reset() {
	clear(w.m)
	w.ring, w.next = w.ring[:0], 0
}

// Add remembers e, forgetting the oldest entry when the window is full.
func (w *Window[S]) Add(e Entry[S]) {
	if w.max == 0 {
		return
	}
	if len(w.ring) < w.max {
		w.ring = append(w.ring, e.ID)
		w.m[e.ID] = slot[S]{e, len(w.ring) - 1}
		return
	}
	if old, ok := w.m[w.ring[w.next]]; ok && old.at == w.next {
		delete(w.m, w.ring[w.next])
	}
	w.ring[w.next] = e.ID
	w.m[e.ID] = slot[S]{e, w.next}
	w.next = (w.next + 1) % w.max
}

// Get returns where id was last written, if that is within the window.
func (w *Window[S]) Get(id uuid.UUID) (Entry[S], bool) {
	s, ok := w.m[id]
	return s.Entry, ok
}
