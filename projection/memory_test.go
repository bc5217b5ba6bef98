package projection_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/testkit"

	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/projection/checkpointtest"
)

func TestMemoryCheckpointsConformance(t *testing.T) {
	checkpointtest.Run(t, func(*testing.T) projection.CheckpointStore { return &projection.MemoryCheckpoints{} })
}

func TestStreamCheckpointsConformance(t *testing.T) {
	checkpointtest.Run(t, func(t *testing.T) projection.CheckpointStore {
		return projection.NewStreamCheckpoints(newMemory(t))
	})
}

func TestStreamCheckpointsSeparateInstances(t *testing.T) {
	// Two processes: each has its own StreamCheckpoints over one store.
	checkpointtest.Run(t, func(t *testing.T) projection.CheckpointStore {
		return &twoInstances{store: newMemory(t)}
	})
}

// twoInstances alternates between two StreamCheckpoints over one store, as
// two processes would.
type twoInstances struct {
	store eventstore.Store
	once  sync.Once
	a, b  *projection.StreamCheckpoints
	n     atomic.Int64
}

func (s *twoInstances) pick() *projection.StreamCheckpoints {
	s.once.Do(func() { s.a, s.b = projection.NewStreamCheckpoints(s.store), projection.NewStreamCheckpoints(s.store) })
	if s.n.Add(1)%2 == 0 {
		return s.a
	}
	return s.b
}

func (s *twoInstances) Load(ctx context.Context, k projection.Key) (projection.Checkpoint, error) {
	return s.pick().Load(ctx, k)
}

func (s *twoInstances) Save(ctx context.Context, k projection.Key, prev, next projection.Checkpoint) error {
	return s.pick().Save(ctx, k, prev, next)
}

func TestStreamCheckpointsForeignStream(t *testing.T) {
	store := newMemory(t)
	ctx := t.Context()
	key := projection.Key{Projection: "foreign", Version: 1}
	stream := projection.CheckpointStream(key)
	if stream != "chronicle-checkpoint-foreign" {
		t.Fatalf("CheckpointStream = %q", stream)
	}
	if got := projection.CheckpointStream(projection.Key{Projection: "x", Version: 2, Partition: 3}); got != "chronicle-checkpoint-x-v2-p3" {
		t.Fatalf("CheckpointStream(v2, p3) = %q", got)
	}
	for _, bad := range []eventstore.EventData{
		{Type: "SomethingElse", Data: []byte(`{}`)},
		{Type: projection.CheckpointEventType, Data: []byte(`[1]`)},
		{Type: projection.CheckpointEventType, Data: []byte(`{"projection":"other","version":1,"partition":0,"checkpoint":"none"}`)},
		{Type: projection.CheckpointEventType, Data: []byte(`{"projection":"foreign","version":1,"partition":0,"checkpoint":"bogus"}`)},
	} {
		if _, err := store.Append(ctx, stream, eventstore.Any, bad); err != nil {
			t.Fatal(err)
		}
		cps := projection.NewStreamCheckpoints(store)
		if _, err := cps.Load(ctx, key); !errors.Is(err, projection.ErrCheckpointMismatch) {
			t.Errorf("Load over %s %s = %v; want ErrCheckpointMismatch", bad.Type, bad.Data, err)
		}
		before := len(testkit.Records(t, store, stream))
		if err := cps.Save(ctx, key, projection.At(eventstore.Position{Commit: 1}), projection.At(eventstore.Position{Commit: 2})); !errors.Is(err, projection.ErrCheckpointMismatch) {
			t.Errorf("Save over %s = %v; want ErrCheckpointMismatch", bad.Type, err)
		}
		if after := len(testkit.Records(t, store, stream)); after != before {
			t.Errorf("a refused Save wrote %d events", after-before)
		}
	}
}

func TestStreamCheckpointsBoundTheStream(t *testing.T) {
	store := newMemory(t)
	ctx := t.Context()
	cps := projection.NewStreamCheckpoints(store)
	key := projection.Key{Projection: "bounded", Version: 1}
	prev := projection.Checkpoint{}
	for i := uint64(1); i <= 25; i++ {
		next := projection.AtRevision(i)
		if err := cps.Save(ctx, key, prev, next); err != nil {
			t.Fatal(err)
		}
		prev = next
	}
	if n := len(testkit.Records(t, store, projection.CheckpointStream(key))); n != projection.DefaultCheckpointMaxCount {
		t.Errorf("checkpoint stream keeps %d events; want %d", n, projection.DefaultCheckpointMaxCount)
	}
	if got, _ := projection.NewStreamCheckpoints(store).Load(ctx, key); got != prev {
		t.Errorf("Load = %v; want %v", got, prev)
	}
}
