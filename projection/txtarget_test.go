package projection_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/projection/checkpointtest"
)

// memDB is a transactional in-memory read-model database for tests: each
// version of each projection has its own tables (rows: key → count), and
// Update commits the rows and the checkpoint together.
type memDB struct {
	mu      sync.Mutex
	rows    map[string]map[string]int // "<projection>/v<version>" → rows
	cps     map[projection.Key]projection.Checkpoint
	live    map[string]int
	setups  map[string]int
	commits int
	// failCommit, when set, fails the commit after apply succeeded.
	failCommit func() error
}

// memTx is a transaction: writes are staged until commit.
type memTx struct {
	staged map[string]int
}

// Add counts one more of row.
func (tx *memTx) Add(row string, n int) { tx.staged[row] += n }

func newMemDB() *memDB {
	return &memDB{rows: make(map[string]map[string]int), cps: make(map[projection.Key]projection.Checkpoint),
		live: make(map[string]int), setups: make(map[string]int)}
}

var (
	_ projection.Target[*memTx]   = (*memDB)(nil)
	_ projection.Preparer[*memTx] = (*memDB)(nil)
	_ projection.Rebuilder        = (*memDB)(nil)
)

func place(k projection.Key) string { return fmt.Sprintf("%s/v%d", k.Projection, k.Version) }

func (db *memDB) Load(ctx context.Context, k projection.Key) (projection.Checkpoint, error) {
	if err := ctx.Err(); err != nil {
		return projection.Checkpoint{}, err
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.cps[k], nil
}

func (db *memDB) Save(ctx context.Context, k projection.Key, prev, next projection.Checkpoint) error {
	return db.Update(ctx, k, prev, next, func(context.Context, *memTx) error { return nil })
}

func (db *memDB) Update(ctx context.Context, k projection.Key, prev, next projection.Checkpoint, apply func(context.Context, *memTx) error) error {
	if err := projection.CheckMove(k, prev, next); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if cur := db.cps[k]; cur != prev {
		return fmt.Errorf("%w: %v at %v, not %v", projection.ErrFenced, k, cur, prev)
	}
	tx := &memTx{staged: make(map[string]int)}
	if err := apply(ctx, tx); err != nil {
		return err
	}
	if db.failCommit != nil {
		if err := db.failCommit(); err != nil {
			return err
		}
	}
	rows := db.rows[place(k)]
	if rows == nil {
		rows = make(map[string]int)
		db.rows[place(k)] = rows
	}
	for r, n := range tx.staged {
		rows[r] += n
	}
	db.cps[k] = next
	db.commits++
	return nil
}

func (db *memDB) Prepare(ctx context.Context, k projection.Key, setup func(context.Context, *memTx) error, tables []string) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.setups[place(k)] == 0 && setup != nil {
		tx := &memTx{staged: make(map[string]int)}
		if err := setup(ctx, tx); err != nil {
			return err
		}
		rows := make(map[string]int)
		maps.Copy(rows, tx.staged)
		db.rows[place(k)] = rows
	}
	db.setups[place(k)]++
	for _, t := range tables {
		if _, ok := db.rows[place(k)]["table:"+t]; !ok {
			return fmt.Errorf("%w: %s", projection.ErrMissingTable, t)
		}
	}
	return nil
}

func (db *memDB) Live(ctx context.Context, name string) (int, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.live[name], nil
}

func (db *memDB) Promote(ctx context.Context, name string, version int) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if version < db.live[name] {
		return projection.ErrRetired
	}
	db.live[name] = version
	for k := range db.cps {
		if k.Projection == name && k.Version < version {
			delete(db.cps, k)
		}
	}
	return nil
}

// Rows returns the committed rows of a projection version, without the
// tables setup made.
func (db *memDB) Rows(name string, version int) map[string]int {
	db.mu.Lock()
	defer db.mu.Unlock()
	out := make(map[string]int)
	for r, n := range db.rows[fmt.Sprintf("%s/v%d", name, version)] {
		if len(r) < 6 || r[:6] != "table:" {
			out[r] = n
		}
	}
	return out
}

func TestMemDBConformance(t *testing.T) {
	var db *memDB
	checkpointtest.RunTarget(t, func(*testing.T) projection.Target[*memTx] {
		db = newMemDB()
		return db
	}, checkpointtest.TargetOps[*memTx]{
		Write: func(ctx context.Context, tx *memTx, row string) error { tx.Add(row, 1); return nil },
		Rows: func(ctx context.Context, t *testing.T) []string {
			db.mu.Lock()
			defer db.mu.Unlock()
			var out []string
			for _, rows := range db.rows {
				out = append(out, slices.Collect(maps.Keys(rows))...)
			}
			slices.Sort(out)
			return out
		},
	})
}
