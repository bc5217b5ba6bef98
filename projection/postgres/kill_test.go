package postgres_test

import (
	"context"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/projection/checkpointtest"
	"github.com/chronicle-go/chronicle/projection/postgres"
)

var killCycles = flag.Int("kill.cycles", 20, "SIGKILL/restart cycles of TestExactlyOnceUnderKill")

// TestExactlyOnceUnderKill runs projections into the target in a child
// process killed at random moments, and checks that every event took
// effect exactly once.
func TestExactlyOnceUnderKill(t *testing.T) {
	e := newEnv(t)
	checkpointtest.RunKill(t, *killCycles, e.control+" "+e.prefix, killOps)
}

func TestKillChild(t *testing.T) { checkpointtest.KillChild(t, killOps) }

var killOps = checkpointtest.KillOps[pgx.Tx]{
	// arg is "<control schema> <schema prefix>".
	Open: func(ctx context.Context, arg string) (projection.Target[pgx.Tx], func(), error) {
		control, prefix, _ := strings.Cut(arg, " ")
		pool, err := pgxpool.New(ctx, os.Getenv(urlEnv))
		if err != nil {
			return nil, nil, err
		}
		tg, err := postgres.New(ctx, pool, postgres.WithSchema(control), postgres.WithSchemaPrefix(prefix))
		if err != nil {
			pool.Close()
			return nil, nil, err
		}
		return tg, pool.Close, nil
	},
	Setup: func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
CREATE TABLE applied (event_id text NOT NULL, stream text NOT NULL, amount int NOT NULL);
CREATE TABLE counters (stream text PRIMARY KEY, n int NOT NULL, total int NOT NULL)`)
		return err
	},
	Apply: func(ctx context.Context, tx pgx.Tx, id, stream string, amount int) error {
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO applied VALUES ($1, $2, $3)`, id, stream, amount)
		b.Queue(`INSERT INTO counters VALUES ($1, 1, $2)
ON CONFLICT (stream) DO UPDATE SET n = counters.n + 1, total = counters.total + excluded.total`, stream, amount)
		return tx.SendBatch(ctx, b).Close()
	},
	Read: func(ctx context.Context, t *testing.T, tg projection.Target[pgx.Tx], name string) (map[string]int, map[string][2]int) {
		pgt := tg.(*postgres.Target)
		url := os.Getenv(urlEnv)
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		applied := map[string]int{}
		rows, err := conn.Query(ctx, `SELECT event_id, count(*) FROM `+pgx.Identifier{pgt.Schema(name), "applied"}.Sanitize()+` GROUP BY event_id`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id string
			var n int
			if err := rows.Scan(&id, &n); err != nil {
				t.Fatal(err)
			}
			applied[id] = n
		}
		rows.Close()
		counters := map[string][2]int{}
		rows, err = conn.Query(ctx, `SELECT stream, n, total FROM `+pgx.Identifier{pgt.Schema(name), "counters"}.Sanitize())
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var s string
			var c [2]int
			if err := rows.Scan(&s, &c[0], &c[1]); err != nil {
				t.Fatal(err)
			}
			counters[s] = c
		}
		return applied, counters
	},
}
