package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/schema"
)

// TestPersistentGroupIntoSQLite: two runners share a persistent group and
// write into one SQLite read model through Transact, idempotently (the
// event ID is the key), as at-least-once delivery needs.
func TestPersistentGroupIntoSQLite(t *testing.T) {
	tg := open(t, t.TempDir())
	store := memory.New()
	defer store.Close()
	reg := schema.MustNewRegistry()
	schema.MustRegister[noted](reg, "Noted", 1)
	define := func() *projection.Projection[*sql.Tx] {
		p := projection.New[*sql.Tx]("notes", projection.Category("notes"), reg).
			Setup(func(ctx context.Context, tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `CREATE TABLE notes (id TEXT PRIMARY KEY, text TEXT)`)
				return err
			}).Tables("notes")
		projection.On(p, func(ctx context.Context, tx *sql.Tx, ev projection.Event[noted]) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO notes VALUES (?, ?) ON CONFLICT DO NOTHING`, ev.Record.ID.String(), ev.Data.Text)
			return err
		})
		return p
	}
	set := eventstore.DefaultPersistentSettings()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 2)
	var runners []*projection.Runner[*sql.Tx]
	for i := range 2 {
		r, err := projection.NewRunner(store, define(), tg, projection.WithPersistentGroup("writers", set),
			projection.WithConsumerName(fmt.Sprint("writer-", i)), projection.WithBatchSize(10))
		if err != nil {
			t.Fatal(err)
		}
		runners = append(runners, r)
		go func() { done <- r.Run(ctx) }()
	}
	const n = 200
	for i := range n {
		data, _ := reg.Encode(t.Context(), noted{fmt.Sprint(i)})
		if _, err := store.Append(t.Context(), fmt.Sprintf("notes-%d", i%7), eventstore.Any, data); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var count int
		// The first runner promotes version 1 when it starts.
		if db, err := tg.DB(t.Context(), "notes"); err == nil {
			if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM notes`).Scan(&count); err != nil {
				t.Fatal(err)
			}
		}
		if count == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d rows of %d", count, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if h := runners[0].State().Handled + runners[1].State().Handled; h < n {
		t.Errorf("handled %d of %d", h, n)
	}
	// No checkpoint was written: the group keeps the position.
	if cp, err := tg.Load(t.Context(), projection.Key{Projection: "notes", Version: 1}); err != nil || !cp.IsZero() {
		t.Errorf("checkpoint %v, %v; want none", cp, err)
	}
}

func TestTransactRefusesARetiredVersion(t *testing.T) {
	tg := open(t, t.TempDir())
	ctx := t.Context()
	key := projection.Key{Projection: "p", Version: 1}
	if err := tg.Prepare(ctx, key, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := tg.Promote(ctx, "p", 1); err != nil {
		t.Fatal(err)
	}
	applied := 0
	apply := func(context.Context, *sql.Tx) error { applied++; return nil }
	if err := tg.Transact(ctx, key, apply); err != nil || applied != 1 {
		t.Fatalf("Transact = %v, applied %d", err, applied)
	}
	failing := errors.New("handler failed")
	if err := tg.Transact(ctx, key, func(context.Context, *sql.Tx) error { return failing }); !errors.Is(err, failing) {
		t.Errorf("Transact = %v; want the handler's error", err)
	}
	if err := tg.Prepare(ctx, projection.Key{Projection: "p", Version: 2}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := tg.Promote(ctx, "p", 2); err != nil {
		t.Fatal(err)
	}
	if err := tg.Transact(ctx, key, apply); !errors.Is(err, projection.ErrRetired) || applied != 1 {
		t.Errorf("Transact on a retired version = %v (applied %d); want ErrRetired before apply", err, applied)
	}
	for _, bad := range []projection.Key{{}, {Projection: "p"}, {Projection: "bad name", Version: 1}} {
		if err := tg.Transact(ctx, bad, apply); err == nil {
			t.Errorf("Transact(%v) succeeded", bad)
		}
	}
}
