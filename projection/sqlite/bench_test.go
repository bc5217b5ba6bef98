package sqlite_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/chronicle-go/chronicle/projection"
)

const benchBatch = 100

func benchInsert(ctx context.Context, tx *sql.Tx, first int) error {
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO items VALUES (?, ?)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for i := range benchBatch {
		if _, err := stmt.ExecContext(ctx, "acct-1", first+i); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkUpdate: batches of 100 rows with the checkpoint moved in the same
// transaction; compare with BenchmarkPlainInsert (ns/op is per row in both).
func BenchmarkUpdate(b *testing.B) {
	tg := open(b, b.TempDir())
	ctx := context.Background()
	k := projection.Key{Projection: "bench", Version: 1}
	if err := tg.Prepare(ctx, k, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE items (stream TEXT, n INTEGER)`)
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
			if err := tg.Update(ctx, k, prev, next, func(ctx context.Context, tx *sql.Tx) error { return benchInsert(ctx, tx, first) }); err != nil {
				b.Fatal(err)
			}
			prev = next
		}
		n++
	}
}

// BenchmarkPlainInsert: the same rows in transactions of 100, without a
// checkpoint, on a file opened the same way (WAL, synchronous=FULL).
func BenchmarkPlainInsert(b *testing.B) {
	db, err := sql.Open("sqlite", "file:"+b.TempDir()+"/plain.db?_txlock=immediate&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE items (stream TEXT, n INTEGER)`); err != nil {
		b.Fatal(err)
	}
	n := 0
	for b.Loop() {
		if n%benchBatch == 0 {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			if err := benchInsert(ctx, tx, n); err != nil {
				b.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
		}
		n++
	}
}
