package main

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/projection/postgres"
	projsqlite "github.com/chronicle-go/chronicle/projection/sqlite"
)

// ledger defines version v of a projection "ledger" of deposits into a SQL
// table, through a transaction of type Tx.
func ledger[Tx any](f *balancesFixture, v int, exec func(ctx context.Context, tx Tx, query string, args ...any) error) *projection.Projection[Tx] {
	p := projection.New[Tx]("ledger", projection.Category("account"), f.reg).Version(v).
		Setup(func(ctx context.Context, tx Tx) error {
			return exec(ctx, tx, `CREATE TABLE deposits (id TEXT PRIMARY KEY, amount INTEGER NOT NULL)`)
		}).
		Tables("deposits")
	projection.On(p, func(ctx context.Context, tx Tx, ev projection.Event[deposited]) error {
		return exec(ctx, tx, `INSERT INTO deposits (id, amount) VALUES ($1, $2)`, ev.Record.ID.String(), ev.Data.Amount)
	})
	return p
}

// runVersions runs versions 1 and 2 of the ledger to the end of the store:
// version 2 is built beside version 1 and takes over.
func runVersions[Tx any](t *testing.T, store eventstore.Store, target projection.Target[Tx], f *balancesFixture, last eventstore.Position,
	exec func(ctx context.Context, tx Tx, query string, args ...any) error) {
	t.Helper()
	for v := 1; v <= 2; v++ {
		r, err := projection.NewRunner(store, ledger(f, v, exec), target)
		if err != nil {
			t.Fatal(err)
		}
		runTo(t, r, last)()
	}
}

// checkSQLStatus checks status with a read-model database flag.
func checkSQLStatus(t *testing.T, source string, last eventstore.Position, args ...string) {
	t.Helper()
	rows := statusRows(t, args...)
	if len(rows) != 2 {
		t.Fatalf("status rows: %+v", rows)
	}
	v1, v2 := rows[0], rows[1]
	if v1.Projection != "ledger" || v1.Version != 1 || v1.State != "retired" || v1.Source != source {
		t.Errorf("v1: %+v", v1)
	}
	if v2.Version != 2 || v2.State != "caught up" || v2.Source != source || v2.Lag == nil || *v2.Lag != 0 ||
		v2.Checkpoint != projection.At(last).String() || v2.LastSaved == nil || v2.Progress == nil {
		t.Errorf("v2: %+v", v2)
	}
	table := mustRun(t, "", append([]string{"projection", "status"}, args...)...)
	if !strings.Contains(table, "retired") || !strings.Contains(table, "caught up") {
		t.Errorf("table:\n%s", table)
	}
	// Only the projection asked for.
	if rows := statusRows(t, append(args, "ledger")...); len(rows) != 2 {
		t.Errorf("status ledger: %+v", rows)
	}
	wantError(t, `no projection "nope"`, append([]string{"projection", "status", "nope"}, args...)...)
}

func TestProjectionStatusSQLiteTarget(t *testing.T) {
	url, store := newStore(t, "src")
	f := newBalancesFixture()
	last := f.deposit(t, store, 1, 2, 3)
	dir := t.TempDir()
	target, err := projsqlite.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	runVersions(t, store, target, f, last, func(ctx context.Context, tx *sql.Tx, q string, args ...any) error {
		_, err := tx.ExecContext(ctx, strings.NewReplacer("$1", "?", "$2", "?").Replace(q), args...)
		return err
	})
	// The service still has the target open.
	checkSQLStatus(t, "sqlite", last, "--store", url, "--sqlite", dir)
	if err := target.Close(); err != nil {
		t.Fatal(err)
	}
	checkSQLStatus(t, "sqlite", last, "--store", url, "--sqlite", dir)

	wantError(t, "projection status: --postgres-schema needs --postgres URL", "projection", "status", "--store", url, "--postgres-schema", "x")
	missing := dir + "/nope"
	wantError(t, "--sqlite "+missing+": not a projection/sqlite directory", "projection", "status", "--store", url, "--sqlite", missing)
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("status --sqlite created %s: %v", missing, err)
	}
}

func TestProjectionStatusPostgresTarget(t *testing.T) {
	pgURL := os.Getenv("CHRONICLE_POSTGRES_URL")
	if pgURL == "" {
		t.Skip("set CHRONICLE_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run the PostgreSQL tests")
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("%08x", rand.Uint32())
	control, prefix := "ctl"+id, "t"+id+"_"
	t.Cleanup(func() {
		defer pool.Close()
		rows, err := pool.Query(ctx, `SELECT nspname FROM pg_namespace WHERE nspname = $1 OR starts_with(nspname, $2)`, control, prefix)
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Errorf("cleanup: %v", err)
		}
		for _, n := range names {
			if _, err := pool.Exec(ctx, `DROP SCHEMA `+pgx.Identifier{n}.Sanitize()+` CASCADE`); err != nil {
				t.Errorf("cleanup: drop %s: %v", n, err)
			}
		}
	})
	target, err := postgres.New(ctx, pool, postgres.WithSchema(control), postgres.WithSchemaPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	url, store := newStore(t, "src")
	f := newBalancesFixture()
	last := f.deposit(t, store, 1, 2, 3)
	runVersions(t, store, target, f, last, func(ctx context.Context, tx pgx.Tx, q string, args ...any) error {
		_, err := tx.Exec(ctx, q, args...)
		return err
	})
	checkSQLStatus(t, "postgres", last, "--store", url, "--postgres", pgURL, "--postgres-schema", control)
	wantError(t, "--postgres: ", "projection", "status", "--store", url, "--postgres", pgURL, "--postgres-schema", "Bad-Schema")
	wantError(t, "--postgres: ", "projection", "status", "--store", url, "--postgres", "postgres://nobody@127.0.0.1:1/x?connect_timeout=1")
}
