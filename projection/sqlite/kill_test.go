package sqlite_test

import (
	"context"
	"database/sql"
	"flag"
	"testing"

	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/projection/checkpointtest"
	"github.com/chronicle-go/chronicle/projection/sqlite"
)

var killCycles = flag.Int("kill.cycles", 20, "SIGKILL/restart cycles of TestExactlyOnceUnderKill")

// TestExactlyOnceUnderKill runs projections into the target in a child
// process killed at random moments, and checks that every event took
// effect exactly once.
func TestExactlyOnceUnderKill(t *testing.T) {
	checkpointtest.RunKill(t, *killCycles, t.TempDir(), killOps)
}

func TestKillChild(t *testing.T) { checkpointtest.KillChild(t, killOps) }

var killOps = checkpointtest.KillOps[*sql.Tx]{
	Open: func(ctx context.Context, dir string) (projection.Target[*sql.Tx], func(), error) {
		tg, err := sqlite.Open(dir)
		if err != nil {
			return nil, nil, err
		}
		return tg, func() { tg.Close() }, nil
	},
	Setup: func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `
CREATE TABLE applied (event_id TEXT NOT NULL, stream TEXT NOT NULL, amount INTEGER NOT NULL);
CREATE TABLE counters (stream TEXT PRIMARY KEY, n INTEGER NOT NULL, total INTEGER NOT NULL)`)
		return err
	},
	Apply: func(ctx context.Context, tx *sql.Tx, id, stream string, amount int) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO applied VALUES (?, ?, ?)`, id, stream, amount); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO counters VALUES (?, 1, ?)
ON CONFLICT (stream) DO UPDATE SET n = n + 1, total = total + excluded.total`, stream, amount)
		return err
	},
	Read: func(ctx context.Context, t *testing.T, tg projection.Target[*sql.Tx], name string) (map[string]int, map[string][2]int) {
		db, err := tg.(*sqlite.Target).DB(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		applied := map[string]int{}
		rows, err := db.QueryContext(ctx, `SELECT event_id, count(*) FROM applied GROUP BY event_id`)
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
		rows, err = db.QueryContext(ctx, `SELECT stream, n, total FROM counters`)
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
