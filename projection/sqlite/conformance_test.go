package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"testing"

	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/projection/checkpointtest"
	"github.com/chronicle-go/chronicle/projection/sqlite"
)

func open(tb testing.TB, dir string) *sqlite.Target {
	tb.Helper()
	tg, err := sqlite.Open(dir)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := tg.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return tg
}

// query reads a column of text from a file, as an outside reader would.
func query(t *testing.T, path, q string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(t.Context(), q)
	if err != nil {
		t.Fatalf("%s: %s: %v", path, q, err)
	}
	return column(t, rows)
}

// strings reads a column of text.
func column(t *testing.T, rows *sql.Rows) []string {
	t.Helper()
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestConformance(t *testing.T) {
	var tg *sqlite.Target
	checkpointtest.RunTarget(t, func(t *testing.T) projection.Target[*sql.Tx] {
		tg = open(t, t.TempDir())
		return tg
	}, checkpointtest.TargetOps[*sql.Tx]{
		Write: func(ctx context.Context, tx *sql.Tx, row string) error {
			if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS rows (name TEXT)`); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO rows VALUES (?)`, row)
			return err
		},
		Rows: func(ctx context.Context, t *testing.T) []string {
			files, err := filepath.Glob(filepath.Join(tg.Dir(), "*.v*.db"))
			if err != nil {
				t.Fatal(err)
			}
			var all []string
			for _, f := range files {
				if len(query(t, f, `SELECT name FROM sqlite_schema WHERE name = 'rows'`)) > 0 {
					all = append(all, query(t, f, `SELECT name FROM rows`)...)
				}
			}
			slices.Sort(all)
			return all
		},
	})
}

func TestRebuildConformance(t *testing.T) {
	var tg *sqlite.Target
	newTarget := func(t *testing.T) checkpointtest.RebuildTarget[*sql.Tx] {
		tg = open(t, t.TempDir())
		return tg
	}
	ops := checkpointtest.RebuildOps[*sql.Tx]{
		Create: func(ctx context.Context, tx *sql.Tx, table string) error {
			_, err := tx.ExecContext(ctx, `CREATE TABLE "`+table+`" (name TEXT)`)
			return err
		},
		Insert: func(ctx context.Context, tx *sql.Tx, table, row string) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO "`+table+`" VALUES (?)`, row)
			return err
		},
		LiveRows: func(ctx context.Context, t *testing.T, name, table string) []string {
			db, err := tg.DB(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := db.QueryContext(ctx, `SELECT name FROM "`+table+`" ORDER BY name`)
			if err != nil {
				t.Fatal(err)
			}
			return column(t, rows)
		},
		SetPartitions: func(ctx context.Context, name string, version, n int) error {
			return tg.SetPartitions(ctx, name, version, n)
		},
		ErrPartitionCount: projection.ErrPartitionCount,
	}
	checkpointtest.RunRebuild(t, newTarget, ops)
	t.Run("Runner", func(t *testing.T) { checkpointtest.RunRunnerRebuild(t, newTarget, ops) })
}
