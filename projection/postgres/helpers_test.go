package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chronicle-go/chronicle/projection/postgres"
)

const urlEnv = "CHRONICLE_POSTGRES_URL"

// env is one test's PostgreSQL: a pool, and names no other test uses (a
// control schema and a read-model schema prefix), dropped at the end.
type env struct {
	pool    *pgxpool.Pool
	control string
	prefix  string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	url := os.Getenv(urlEnv)
	if url == "" {
		t.Skipf("set %s (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run the PostgreSQL tests", urlEnv)
	}
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatalf("pool: %v", err)
	}
	id := fmt.Sprintf("%08x", rand.Uint32())
	e := &env{pool: pool, control: "ctl" + id, prefix: "t" + id + "_"}
	t.Cleanup(func() {
		defer pool.Close()
		ctx := context.Background()
		rows, err := pool.Query(ctx, `SELECT nspname FROM pg_namespace WHERE nspname = $1 OR starts_with(nspname, $2)`, e.control, e.prefix)
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		for _, n := range names {
			if _, err := pool.Exec(ctx, `DROP SCHEMA `+pgx.Identifier{n}.Sanitize()+` CASCADE`); err != nil {
				t.Errorf("cleanup: drop %s: %v", n, err)
			}
		}
	})
	return e
}

// target returns a Target on the env's names.
func (e *env) target(t testing.TB, opts ...postgres.Option) *postgres.Target {
	t.Helper()
	tg, err := postgres.New(t.Context(), e.pool, append([]postgres.Option{postgres.WithSchema(e.control), postgres.WithSchemaPrefix(e.prefix)}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return tg
}

// schemas lists the env's read-model schemas.
func (e *env) schemas(t *testing.T) []string {
	t.Helper()
	rows, err := e.pool.Query(t.Context(), `SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1) ORDER BY nspname`, e.prefix)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range names {
		names[i] = strings.TrimPrefix(n, e.prefix)
	}
	return names
}

// column returns the values of a text column of a query, in order.
func column(t *testing.T, q interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}, sql string, args ...any) []string {
	t.Helper()
	rows, err := q.Query(t.Context(), sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	vals, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return vals
}
