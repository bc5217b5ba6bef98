package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/chronicle-go/chronicle/projection"
)

const benchBatch = 100

func benchInsert(ctx context.Context, tx pgx.Tx, first int) error {
	b := &pgx.Batch{}
	for i := range benchBatch {
		b.Queue(`INSERT INTO items VALUES ($1, $2)`, "acct-1", first+i)
	}
	return tx.SendBatch(ctx, b).Close()
}

// BenchmarkUpdate: batches of 100 rows with the checkpoint moved in the same
// transaction; compare with BenchmarkPlainInsert (ns/op is per row in both).
func BenchmarkUpdate(b *testing.B) {
	e := newEnv(b)
	tg := e.target(b)
	ctx := context.Background()
	k := projection.Key{Projection: "bench", Version: 1}
	if err := tg.Prepare(ctx, k, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `CREATE TABLE items (stream text, n int)`)
		return err
	}, []string{"items"}); err != nil {
		b.Fatal(err)
	}
	prev := projection.Checkpoint{}
	n := 0
	for b.Loop() {
		if n%benchBatch == 0 {
			next := at(uint64(n + benchBatch))
			first := n
			if err := tg.Update(ctx, k, prev, next, func(ctx context.Context, tx pgx.Tx) error { return benchInsert(ctx, tx, first) }); err != nil {
				b.Fatal(err)
			}
			prev = next
		}
		n++
	}
}

// BenchmarkPlainInsert: the same rows in transactions of 100, without a
// checkpoint.
func BenchmarkPlainInsert(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	table := pgx.Identifier{e.prefix + "plain", "items"}.Sanitize()
	if _, err := e.pool.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{e.prefix + "plain"}.Sanitize()+`; CREATE TABLE `+table+` (stream text, n int)`); err != nil {
		b.Fatal(err)
	}
	n := 0
	for b.Loop() {
		if n%benchBatch == 0 {
			err := pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, `SELECT set_config('search_path', $1, true)`, e.prefix+"plain"); err != nil {
					return err
				}
				return benchInsert(ctx, tx, n)
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		n++
	}
}
