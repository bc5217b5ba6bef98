package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/projection/postgres"
	projsqlite "github.com/chronicle-go/chronicle/projection/sqlite"
)

// This file holds the checkpoint sources of `chronicle projection status`
// for the SQL targets, whose checkpoints live in the read-model database:
// --postgres URL (projection/postgres) and --sqlite DIR (projection/sqlite).

// sqlFlags are the read-model databases status lists projections from.
type sqlFlags struct {
	postgres, postgresSchema, sqliteDir string
}

func (f *sqlFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.postgres, "postgres", "", "also list the projections a projection/postgres target keeps in this database (postgres://…)")
	cmd.Flags().StringVar(&f.postgresSchema, "postgres-schema", "chronicle", "with --postgres: the target's control schema (postgres.WithSchema)")
	cmd.Flags().StringVar(&f.sqliteDir, "sqlite", "", "also list the projections a projection/sqlite target keeps in this directory")
}

// open returns the sources the flags name and a function that closes them,
// to call even when open fails.
func (f *sqlFlags) open(cmd *cobra.Command, op string) (sources []checkpointSource, closeAll func(), err error) {
	ctx := cmd.Context()
	var closers []func()
	closeAll = func() {
		for _, c := range closers {
			c()
		}
	}
	if cmd.Flags().Changed("postgres-schema") && f.postgres == "" {
		return nil, closeAll, usagef("%s: --postgres-schema needs --postgres URL", op)
	}
	if f.sqliteDir != "" {
		// projsqlite.Open creates what is missing: make sure it is a target's
		// directory first, so that a typo does not create one.
		if _, err := os.Stat(filepath.Join(f.sqliteDir, projsqlite.ControlFile)); err != nil {
			return nil, closeAll, fmt.Errorf("%s: --sqlite %s: not a projection/sqlite directory: %w", op, f.sqliteDir, err)
		}
		t, err := projsqlite.Open(f.sqliteDir)
		if err != nil {
			return nil, closeAll, fmt.Errorf("%s: --sqlite: %w", op, err)
		}
		closers = append(closers, func() { t.Close() })
		sources = append(sources, targetSource{"sqlite", t})
	}
	if f.postgres != "" {
		pool, err := pgxpool.New(ctx, f.postgres)
		if err != nil {
			return nil, closeAll, fmt.Errorf("%s: --postgres: %w", op, err)
		}
		closers = append(closers, pool.Close)
		t, err := postgres.New(ctx, pool, postgres.WithSchema(f.postgresSchema))
		if err != nil {
			return nil, closeAll, fmt.Errorf("%s: --postgres: %w", op, err)
		}
		sources = append(sources, targetSource{"postgres", t})
	}
	return sources, closeAll, nil
}

// sqlInfo turns a SQL target's version into a versionInfo. The rate runs
// from the first checkpoint the version saved (at about the time it was
// prepared) to its current one: the average since the build began.
func sqlInfo(source, name string, live int, v projection.VersionStatus) versionInfo {
	vi := versionInfo{source: source, projection: name, version: v.Version, liveKnown: true, live: live}
	since := v.Prepared
	if since.IsZero() {
		since = v.Created
	}
	for _, c := range v.Checkpoints {
		sc := storedCheckpoint{partition: c.Partition, checkpoint: c.Checkpoint, saved: c.Updated}
		if c.Partition == 0 {
			sc.since = checkpointMark{cp: v.Started, at: since}
		}
		vi.partitions = append(vi.partitions, sc)
	}
	return vi
}

// targetSource is a checkpoint source over a SQL target's statuses.
type targetSource struct {
	name string // "postgres", "sqlite"
	t    projection.StatusReporter
}

// versions returns the versionInfos of the target's projections (only
// name's when set).
func (s targetSource) versions(ctx context.Context, name string) ([]versionInfo, error) {
	statuses, err := s.t.Statuses(ctx)
	if err != nil {
		return nil, err
	}
	var out []versionInfo
	for _, st := range statuses {
		if name != "" && st.Projection != name {
			continue
		}
		for _, v := range st.Versions {
			out = append(out, sqlInfo(s.name, st.Projection, st.Live, v))
		}
	}
	return out, nil
}
