package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"os"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/projection/sqlite"
)

// Handlers write through the transaction Update gives them, which also
// moves the checkpoint; readers query the live version through DB.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "projections")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	target, err := sqlite.Open(dir)
	if err != nil {
		log.Fatal(err)
	}
	defer target.Close()

	ctx := context.Background()
	key := projection.Key{Projection: "order.totals", Version: 1}
	setup := func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE totals (order_id TEXT PRIMARY KEY, amount INTEGER NOT NULL)`)
		return err
	}
	if err := target.Prepare(ctx, key, setup, []string{"totals"}); err != nil {
		log.Fatal(err)
	}
	if err := target.Promote(ctx, key.Projection, key.Version); err != nil {
		log.Fatal(err)
	}
	add := func(amount int) func(ctx context.Context, tx *sql.Tx) error {
		return func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO totals VALUES ('order-1', ?)
ON CONFLICT (order_id) DO UPDATE SET amount = amount + excluded.amount`, amount)
			return err
		}
	}
	first := projection.At(eventstore.Position{Commit: 1, Prepare: 1})
	second := projection.At(eventstore.Position{Commit: 2, Prepare: 2})
	if err := target.Update(ctx, key, projection.Checkpoint{}, first, add(250)); err != nil {
		log.Fatal(err)
	}
	if err := target.Update(ctx, key, first, second, add(100)); err != nil {
		log.Fatal(err)
	}
	// A second runner that still believes it is at the first checkpoint is
	// fenced, and its write is not kept.
	err = target.Update(ctx, key, first, second, add(1000))
	fmt.Println(err != nil)

	db, err := target.DB(ctx, key.Projection)
	if err != nil {
		log.Fatal(err)
	}
	var amount int
	if err := db.QueryRowContext(ctx, `SELECT amount FROM totals WHERE order_id = 'order-1'`).Scan(&amount); err != nil {
		log.Fatal(err)
	}
	cp, _ := target.Load(ctx, key)
	fmt.Println(amount, cp)
	// Output:
	// true
	// 350 all:C:2/P:2
}
