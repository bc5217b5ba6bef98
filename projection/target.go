package projection

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrMissingTable: a table the projection declares (Projection.Tables) does
// not exist in the target after Setup. The error names the table.
var ErrMissingTable = errors.New("projection: read-model table missing")

// A Preparer is a Target that keeps read models and prepares a version's
// place before its first event: it creates the place if needed (a
// PostgreSQL schema, a SQLite file), runs setup there once per version (in a
// transaction, recorded so that it never runs twice), and then checks that
// every table in tables exists there, failing with ErrMissingTable.
type Preparer[Tx any] interface {
	Prepare(ctx context.Context, key Key, setup func(ctx context.Context, tx Tx) error, tables []string) error
}

// A Rebuilder is a Target that builds a new version of a read model beside
// the live one, while the live one keeps serving, and switches readers to
// it in one transaction. A Runner of a version newer than the live one
// builds from the start of the source and, once caught up and past the live
// version's checkpoint, calls Promote.
type Rebuilder interface {
	// Live returns the version of the projection that readers see; 0 when
	// none was promoted yet.
	Live(ctx context.Context, projection string) (int, error)
	// Promote makes version the live one in one transaction: readers see its
	// read model from then on, and the checkpoints of the older versions are
	// removed, so their runners' next Update fails with ErrFenced. Promoting
	// the live version again does nothing; promoting an older one than the
	// live one fails with ErrRetired.
	Promote(ctx context.Context, projection string, version int) error
}

// AtLeastOnce makes a Target without transactions out of a CheckpointStore,
// for read models outside a database (in memory, a cache, a search index):
// Update runs apply, then saves the checkpoint when every events have been
// applied since the last save or interval has passed (the store is written
// at most that often), and Flush saves what is pending. After a crash the
// events applied since the last save are applied again, so handlers must be
// idempotent. every ≤ 0 means 100; interval ≤ 0 means 5 s.
func AtLeastOnce(store CheckpointStore, every int, interval time.Duration) *Deferred {
	if every <= 0 {
		every = 100
	}
	if interval <= 0 {
		interval = 5 * time.Second
	}
	return &Deferred{store: store, every: every, interval: interval, now: time.Now, pending: make(map[Key]*pending)}
}

// Deferred is the Target AtLeastOnce returns.
type Deferred struct {
	store    CheckpointStore
	every    int
	interval time.Duration
	now      func() time.Time

	mu      sync.Mutex
	pending map[Key]*pending
}

type pending struct {
	saved, next Checkpoint
	count       int
	since       time.Time
}

var _ Target[NoTx] = (*Deferred)(nil)

// Load returns the checkpoint last handed to Update (pending or saved), or
// the stored one.
func (d *Deferred) Load(ctx context.Context, key Key) (Checkpoint, error) {
	d.mu.Lock()
	p := d.pending[key]
	d.mu.Unlock()
	if p != nil {
		return p.next, nil
	}
	return d.store.Load(ctx, key)
}

// Save saves at once.
func (d *Deferred) Save(ctx context.Context, key Key, prev, next Checkpoint) error {
	if err := d.store.Save(ctx, key, prev, next); err != nil {
		return err
	}
	d.mu.Lock()
	d.pending[key] = &pending{saved: next, next: next, since: d.now()}
	d.mu.Unlock()
	return nil
}

// Update runs apply, then records next and saves it if it is due.
func (d *Deferred) Update(ctx context.Context, key Key, prev, next Checkpoint, apply func(ctx context.Context, tx NoTx) error) error {
	if err := CheckMove(key, prev, next); err != nil {
		return err
	}
	d.mu.Lock()
	p := d.pending[key]
	if p == nil {
		p = &pending{saved: prev, next: prev, since: d.now()}
		d.pending[key] = p
	}
	if p.next != prev {
		d.mu.Unlock()
		return fmt.Errorf("%w: %v is at %v, not %v", ErrFenced, key, p.next, prev)
	}
	d.mu.Unlock()
	if err := apply(ctx, NoTx{}); err != nil {
		return err
	}
	d.mu.Lock()
	p.next = next
	p.count++
	due := p.count >= d.every || d.now().Sub(p.since) >= d.interval
	d.mu.Unlock()
	if due {
		return d.Flush(ctx, key)
	}
	return nil
}

// Flush saves key's pending checkpoint, if any.
func (d *Deferred) Flush(ctx context.Context, key Key) error {
	d.mu.Lock()
	p := d.pending[key]
	if p == nil || p.next == p.saved {
		d.mu.Unlock()
		return nil
	}
	saved, next := p.saved, p.next
	d.mu.Unlock()
	if err := d.store.Save(ctx, key, saved, next); err != nil {
		return err
	}
	d.mu.Lock()
	if p.saved == saved {
		p.saved = next
		p.count = 0
		p.since = d.now()
	}
	d.mu.Unlock()
	return nil
}

// ErrPartitionCount: a projection version is run with another number of
// partitions than its checkpoints were written with. The error is a
// *PartitionCountError.
var ErrPartitionCount = errors.New("projection: partition count changed")

// A PartitionCounter is a Target that records how many partitions each
// projection version runs with, and refuses another count: a partition's
// checkpoint only covers the keys that hash into it, so changing the count
// of a version would break exactly-once. A Runner tells it its count
// (WithWorkers) before it loads checkpoints.
type PartitionCounter interface {
	SetPartitions(ctx context.Context, projection string, version, n int) error
}

// A PartitionCountError reports the counts behind ErrPartitionCount. Run a
// new version of the projection to change the count.
type PartitionCountError struct {
	Projection string
	Version    int
	Stored     int // partitions the version runs with
	Requested  int // partitions asked for by SetPartitions; 0 for a Load
	Partition  int // for a Load: the partition asked for, which Stored does not have
}

func (e *PartitionCountError) Error() string {
	if e.Requested == 0 {
		return fmt.Sprintf("projection %q version %d runs with %d partition(s), which have no partition %d; bump the version to change the count",
			e.Projection, e.Version, e.Stored, e.Partition)
	}
	return fmt.Sprintf("projection %q version %d runs with %d partition(s), not %d; bump the version to change the count",
		e.Projection, e.Version, e.Stored, e.Requested)
}

// Is makes errors.Is(err, ErrPartitionCount) true.
func (e *PartitionCountError) Is(target error) bool { return target == ErrPartitionCount }
