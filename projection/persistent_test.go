package projection_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/projection"
)

// capable is a store that claims the persistent-subscription capability,
// for the checks NewRunner makes without calling it.
type capable struct {
	eventstore.Store
	eventstore.PersistentSubscriptions
}

// plainTarget is a Target that is not a Transactor.
type plainTarget struct {
	projection.Target[projection.NoTx]
}

func TestPersistentGroupDefinitionErrors(t *testing.T) {
	reg := newRegistry(t)
	store := newMemory(t)
	withCap := capable{Store: store}
	good := newBalances().define(reg, "shared", projection.AllStreams())
	target := projection.AtLeastOnce(&projection.MemoryCheckpoints{}, 0, 0)
	set := eventstore.DefaultPersistentSettings()
	filtered := set
	filtered.Filter = eventstore.StreamPrefixFilter("account-")
	badSettings := set
	badSettings.ReadBatchSize = 0
	fromPos := set
	fromPos.From = eventstore.FromPosition(eventstore.Position{Commit: 1, Prepare: 1})
	streamProj := newBalances().define(reg, "one", projection.Stream("account-1"))
	cases := []struct {
		name   string
		store  eventstore.Store
		p      *projection.Projection[projection.NoTx]
		target projection.Target[projection.NoTx]
		opts   []projection.Option
	}{
		{"store without the capability", store, good, target, []projection.Option{projection.WithPersistentGroup("g", set)}},
		{"target without Transact", withCap, good, plainTarget{target}, []projection.Option{projection.WithPersistentGroup("g", set)}},
		{"empty group", withCap, good, target, []projection.Option{projection.WithPersistentGroup("", set)}},
		{"group with a control character", withCap, good, target, []projection.Option{projection.WithPersistentGroup("a\x01", set)}},
		{"workers", withCap, good, target, []projection.Option{projection.WithPersistentGroup("g", set), projection.WithWorkers(2)}},
		{"partition key", withCap, good, target, []projection.Option{projection.WithPersistentGroup("g", set),
			projection.WithPartitionKey(func(*eventstore.RecordedEvent) string { return "" })}},
		{"settings filter", withCap, good, target, []projection.Option{projection.WithPersistentGroup("g", filtered)}},
		{"bad settings", withCap, good, target, []projection.Option{projection.WithPersistentGroup("g", badSettings)}},
		{"zero settings", withCap, good, target, []projection.Option{projection.WithPersistentGroup("g", eventstore.PersistentSettings{})}},
		{"position on a stream group", withCap, streamProj, target, []projection.Option{projection.WithPersistentGroup("g", fromPos)}},
		{"empty consumer name", withCap, good, target, []projection.Option{projection.WithPersistentGroup("g", set), projection.WithConsumerName("")}},
	}
	for _, c := range cases {
		_, err := projection.NewRunner(c.store, c.p, c.target, c.opts...)
		if !errors.Is(err, projection.ErrInvalidProjection) {
			t.Errorf("%s: NewRunner = %v; want ErrInvalidProjection", c.name, err)
		} else {
			t.Logf("%s: %v", c.name, err)
		}
	}
	if n := len(allEvents(t, store)); n != 0 {
		t.Errorf("rejected definitions wrote %d events", n)
	}

	// What does not apply in the mode fails at once.
	r, err := projection.NewRunner(withCap, good, target, projection.WithPersistentGroup("g", set), projection.WithConsumerName("c1"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.WaitFor(ctx, eventstore.Position{Commit: 1, Prepare: 1}); !errors.Is(err, projection.ErrInvalidProjection) {
		t.Errorf("WaitFor = %v; want ErrInvalidProjection", err)
	}
	if err := r.WaitCaughtUp(ctx); !errors.Is(err, projection.ErrInvalidProjection) {
		t.Errorf("WaitCaughtUp = %v; want ErrInvalidProjection", err)
	}
}

func TestTransactorKeyChecks(t *testing.T) {
	target := projection.AtLeastOnce(&projection.MemoryCheckpoints{}, 0, 0)
	called := 0
	apply := func(context.Context, projection.NoTx) error { called++; return nil }
	for _, key := range []projection.Key{{}, {Projection: "a"}, {Projection: "a", Version: 1, Partition: -1}} {
		if err := target.Transact(context.Background(), key, apply); !errors.Is(err, projection.ErrInvalidCheckpoint) {
			t.Errorf("Transact(%v) = %v; want ErrInvalidCheckpoint", key, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := target.Transact(ctx, projection.Key{Projection: "a", Version: 1}, apply); !errors.Is(err, context.Canceled) {
		t.Errorf("Transact(canceled) = %v", err)
	}
	if err := target.Transact(context.Background(), projection.Key{Projection: "a", Version: 1}, apply); err != nil || called != 1 {
		t.Errorf("Transact = %v, applied %d times", err, called)
	}
}
