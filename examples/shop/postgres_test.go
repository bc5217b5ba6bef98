package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chronicle-go/chronicle/saga"
)

// postgresURL returns the test database's URL, or skips.
func postgresURL(t *testing.T) string {
	t.Helper()
	url := os.Getenv("CHRONICLE_POSTGRES_URL")
	if url == "" {
		t.Skip("set CHRONICLE_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run the PostgreSQL read models")
	}
	return url
}

// With --postgres the read models live in PostgreSQL, and the API reads
// its own writes from there.
func TestPostgresReadModels(t *testing.T) {
	url := postgresURL(t)
	prefix := fmt.Sprintf("shoptest%08x_", rand.Uint32())
	t.Cleanup(func() { dropSchemas(t, url, prefix) })
	s := newShop(t, Config{Postgres: url, PostgresPrefix: prefix})
	ada := s.user("ada")
	shipped, _ := s.order(ada, 1000)
	if v := s.fulfilled(shipped); v.Status != saga.Completed {
		t.Fatalf("order %s: %s", shipped, v.Status)
	}
	var users []UserRow
	s.must(http.StatusOK, "GET", "/users", nil, &users)
	if len(users) != 1 || users[0].ID != ada || !users[0].Verified {
		t.Errorf("users %+v", users)
	}
	var orders []OrderRow
	s.must(http.StatusOK, "GET", "/users/"+ada+"/orders", nil, &orders)
	if len(orders) != 1 || orders[0].ID != shipped || orders[0].Status != "shipped" {
		t.Errorf("orders %+v", orders)
	}
	var revenue []RevenueRow
	s.must(http.StatusOK, "GET", "/revenue", nil, &revenue)
	if len(revenue) != 1 || revenue[0].GrossCents != 1000 {
		t.Errorf("revenue %+v", revenue)
	}
	// The tables are where the prefix says.
	pool, err := pgxpool.New(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var n int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM `+pgx.Identifier{prefix + "users", "users"}.Sanitize()).Scan(&n); err != nil || n != 1 {
		t.Errorf("%susers.users: %d rows, %v", prefix, n, err)
	}
}

// dropSchemas drops the schemas a test created.
func dropSchemas(t *testing.T, url, prefix string) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer pool.Close()
	rows, err := pool.Query(ctx, `SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)`, prefix)
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	for _, name := range names {
		if _, err := pool.Exec(ctx, `DROP SCHEMA `+pgx.Identifier{name}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("cleanup: drop %s: %v", name, err)
		}
	}
}
