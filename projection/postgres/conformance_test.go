package postgres_test

import (
	"context"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/projection/checkpointtest"
	"github.com/chronicle-go/chronicle/projection/postgres"
)

func TestConformance(t *testing.T) {
	var e *env
	checkpointtest.RunTarget(t, func(t *testing.T) projection.Target[pgx.Tx] {
		e = newEnv(t)
		return e.target(t)
	}, checkpointtest.TargetOps[pgx.Tx]{
		// Write creates the table in the transaction's search_path, which
		// shows that Update set it to the version's schema.
		Write: func(ctx context.Context, tx pgx.Tx, row string) error {
			var path string
			if err := tx.QueryRow(ctx, `SHOW search_path`).Scan(&path); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+path); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS rows (name text)`); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO rows VALUES ($1)`, row)
			return err
		},
		Rows: func(ctx context.Context, t *testing.T) []string {
			var all []string
			for _, s := range e.schemas(t) {
				all = append(all, column(t, e.pool, `SELECT name FROM `+pgx.Identifier{e.prefix + s, "rows"}.Sanitize())...)
			}
			slices.Sort(all)
			return all
		},
	})
}

func TestRebuildConformance(t *testing.T) {
	var (
		e  *env
		tg *postgres.Target
	)
	newTarget := func(t *testing.T) checkpointtest.RebuildTarget[pgx.Tx] {
		e = newEnv(t)
		tg = e.target(t)
		return tg
	}
	ops := checkpointtest.RebuildOps[pgx.Tx]{
		Create: func(ctx context.Context, tx pgx.Tx, table string) error {
			_, err := tx.Exec(ctx, `CREATE TABLE `+pgx.Identifier{table}.Sanitize()+` (name text)`)
			return err
		},
		Insert: func(ctx context.Context, tx pgx.Tx, table, row string) error {
			_, err := tx.Exec(ctx, `INSERT INTO `+pgx.Identifier{table}.Sanitize()+` VALUES ($1)`, row)
			return err
		},
		LiveRows: func(ctx context.Context, t *testing.T, name, table string) []string {
			return column(t, e.pool, `SELECT name FROM `+pgx.Identifier{tg.Schema(name), table}.Sanitize()+` ORDER BY name`)
		},
		SetPartitions: func(ctx context.Context, name string, version, n int) error {
			return tg.SetPartitions(ctx, name, version, n)
		},
		ErrPartitionCount: projection.ErrPartitionCount,
	}
	checkpointtest.RunRebuild(t, newTarget, ops)
	t.Run("Runner", func(t *testing.T) { checkpointtest.RunRunnerRebuild(t, newTarget, ops) })
}
