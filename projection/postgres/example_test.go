package postgres_test

import (
	"context"
	"fmt"
	"log"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/projection/postgres"
)

// This example needs a PostgreSQL server, so it is compiled but not run.
// Handlers write through the transaction Update gives them, which also
// moves the checkpoint; tables are named without a schema.
func ExampleNew() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	target, err := postgres.New(ctx, pool)
	if err != nil {
		log.Fatal(err) // postgres.ErrUnreachable when the server is down
	}
	key := projection.Key{Projection: "order.totals", Version: 1}
	setup := func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `CREATE TABLE totals (order_id text PRIMARY KEY, amount bigint NOT NULL)`)
		return err
	}
	if err := target.Prepare(ctx, key, setup, []string{"totals"}); err != nil {
		log.Fatal(err)
	}
	if err := target.Promote(ctx, key.Projection, key.Version); err != nil {
		log.Fatal(err)
	}
	prev, err := target.Load(ctx, key)
	if err != nil {
		log.Fatal(err)
	}
	next := projection.At(eventstore.Position{Commit: 42, Prepare: 42})
	err = target.Update(ctx, key, prev, next, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO totals VALUES ('order-1', 250)
ON CONFLICT (order_id) DO UPDATE SET amount = totals.amount + excluded.amount`)
		return err
	})
	if err != nil {
		log.Fatal(err) // projection.ErrFenced if another runner moved the checkpoint
	}
	var amount int64
	err = pool.QueryRow(ctx, `SELECT amount FROM `+pgx.Identifier{target.Schema(key.Projection), "totals"}.Sanitize()+` WHERE order_id = 'order-1'`).Scan(&amount)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(amount)
}
