package recentids_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/chronicle-go/chronicle/internal/recentids"
)

func TestWindow(t *testing.T) {
	w := recentids.New[string](3)
	if w.Max() != 3 {
		t.Fatalf("Max = %d", w.Max())
	}
	ids := []uuid.UUID{uuid.New(), uuid.New(), uuid.New(), uuid.New()}
	for i, id := range ids[:3] {
		w.Add(recentids.Entry[string]{ID: id, Stream: "a", Rev: uint64(i)})
	}
	for i, id := range ids[:3] {
		if e, ok := w.Get(id); !ok || e.Rev != uint64(i) || e.Stream != "a" {
			t.Fatalf("Get(%d) = %+v, %v", i, e, ok)
		}
	}
	w.Add(recentids.Entry[string]{ID: ids[3], Stream: "b"}) // evicts ids[0]
	if _, ok := w.Get(ids[0]); ok {
		t.Fatal("the oldest entry was not forgotten")
	}
	// The same ID again: the latest place wins, and evicting its older slot
	// does not forget it.
	w.Add(recentids.Entry[string]{ID: ids[1], Stream: "b", Rev: 9}) // evicts the old ids[1] slot
	if e, ok := w.Get(ids[1]); !ok || e.Stream != "b" || e.Rev != 9 {
		t.Fatalf("re-added ID = %+v, %v", e, ok)
	}
	w.Add(recentids.Entry[string]{ID: uuid.New()}) // evicts ids[2]
	w.Add(recentids.Entry[string]{ID: uuid.New()}) // evicts ids[3]
	if e, ok := w.Get(ids[1]); !ok || e.Rev != 9 {
		t.Fatalf("re-added ID forgotten early: %+v, %v", e, ok)
	}
	w.Reset()
	if _, ok := w.Get(ids[1]); ok {
		t.Fatal("Reset kept an entry")
	}
	none := recentids.New[int](0)
	none.Add(recentids.Entry[int]{ID: ids[0]})
	if _, ok := none.Get(ids[0]); ok {
		t.Fatal("a window of 0 remembered an ID")
	}
}
