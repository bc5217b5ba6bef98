package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

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
	lite, pg, closeAll, err := f.targets(cmd, op)
	if lite != nil {
		sources = append(sources, sqliteSource{lite})
	}
	if pg != nil {
		sources = append(sources, postgresSource{pg})
	}
	return sources, closeAll, err
}

// targets opens the SQL targets the flags name (nil when not named) and
// returns a function that closes them, to call even when targets fails.
func (f *sqlFlags) targets(cmd *cobra.Command, op string) (lite *projsqlite.Target, pg *postgres.Target, closeAll func(), err error) {
	ctx := cmd.Context()
	var closers []func()
	closeAll = func() {
		for _, c := range closers {
			c()
		}
	}
	if cmd.Flags().Changed("postgres-schema") && f.postgres == "" {
		return nil, nil, closeAll, usagef("%s: --postgres-schema needs --postgres URL", op)
	}
	if f.sqliteDir != "" {
		// projsqlite.Open creates what is missing: make sure it is a target's
		// directory first, so that a typo does not create one.
		if _, err := os.Stat(filepath.Join(f.sqliteDir, projsqlite.ControlFile)); err != nil {
			return nil, nil, closeAll, fmt.Errorf("%s: --sqlite %s: not a projection/sqlite directory: %w", op, f.sqliteDir, err)
		}
		t, err := projsqlite.Open(f.sqliteDir)
		if err != nil {
			return nil, nil, closeAll, fmt.Errorf("%s: --sqlite: %w", op, err)
		}
		closers = append(closers, func() { t.Close() })
		lite = t
	}
	if f.postgres != "" {
		pool, err := pgxpool.New(ctx, f.postgres)
		if err != nil {
			return lite, nil, closeAll, fmt.Errorf("%s: --postgres: %w", op, err)
		}
		closers = append(closers, pool.Close)
		t, err := postgres.New(ctx, pool, postgres.WithSchema(f.postgresSchema))
		if err != nil {
			return lite, nil, closeAll, fmt.Errorf("%s: --postgres: %w", op, err)
		}
		pg = t
	}
	return lite, pg, closeAll, nil
}

// sqlVersion is what both SQL targets report of one version.
type sqlVersion struct {
	version           int
	created, prepared time.Time
	started           projection.Checkpoint
	checkpoints       []sqlCheckpoint
}

type sqlCheckpoint struct {
	partition  int
	checkpoint projection.Checkpoint
	updated    time.Time
}

// sqlInfo turns a SQL target's version into a versionInfo. The rate runs
// from the first checkpoint the version saved (at about the time it was
// prepared) to its current one: the average since the build began.
func sqlInfo(source, name string, live int, v sqlVersion) versionInfo {
	vi := versionInfo{source: source, projection: name, version: v.version, liveKnown: true, live: live}
	since := v.prepared
	if since.IsZero() {
		since = v.created
	}
	for _, c := range v.checkpoints {
		sc := storedCheckpoint{partition: c.partition, checkpoint: c.checkpoint, saved: c.updated}
		if c.partition == 0 {
			sc.since = checkpointMark{cp: v.started, at: since}
		}
		vi.partitions = append(vi.partitions, sc)
	}
	return vi
}

// sqlStatus is what both SQL targets report of one projection.
type sqlStatus struct {
	name     string
	live     int
	versions []sqlVersion
}

// sqlInfos returns the versionInfos of the projections (only name's when
// set).
func sqlInfos(source, name string, statuses []sqlStatus) []versionInfo {
	var out []versionInfo
	for _, st := range statuses {
		if name != "" && st.name != name {
			continue
		}
		for _, v := range st.versions {
			out = append(out, sqlInfo(source, st.name, st.live, v))
		}
	}
	return out
}

// sqlStatuses converts a target's statuses through accessors of its types
// (both targets report the same things in types of their own).
func sqlStatuses[S, V, C any](in []S, status func(S) (string, int, []V), version func(V) (sqlVersion, []C), checkpoint func(C) sqlCheckpoint) []sqlStatus {
	out := make([]sqlStatus, len(in))
	for i, st := range in {
		name, live, versions := status(st)
		out[i] = sqlStatus{name: name, live: live}
		for _, v := range versions {
			sv, cps := version(v)
			for _, c := range cps {
				sv.checkpoints = append(sv.checkpoints, checkpoint(c))
			}
			out[i].versions = append(out[i].versions, sv)
		}
	}
	return out
}

type postgresSource struct{ t *postgres.Target }

func (s postgresSource) versions(ctx context.Context, name string) ([]versionInfo, error) {
	statuses, err := s.t.Statuses(ctx)
	if err != nil {
		return nil, err
	}
	return sqlInfos("postgres", name, sqlStatuses(statuses,
		func(s postgres.Status) (string, int, []postgres.VersionStatus) {
			return s.Projection, s.Live, s.Versions
		},
		func(v postgres.VersionStatus) (sqlVersion, []postgres.PartitionCheckpoint) {
			return sqlVersion{version: v.Version, created: v.Created, prepared: v.Prepared, started: v.Started}, v.Checkpoints
		},
		func(c postgres.PartitionCheckpoint) sqlCheckpoint {
			return sqlCheckpoint{c.Partition, c.Checkpoint, c.Updated}
		})), nil
}

type sqliteSource struct{ t *projsqlite.Target }

func (s sqliteSource) versions(ctx context.Context, name string) ([]versionInfo, error) {
	statuses, err := s.t.Statuses(ctx)
	if err != nil {
		return nil, err
	}
	return sqlInfos("sqlite", name, sqlStatuses(statuses,
		func(s projsqlite.Status) (string, int, []projsqlite.VersionStatus) {
			return s.Projection, s.Live, s.Versions
		},
		func(v projsqlite.VersionStatus) (sqlVersion, []projsqlite.PartitionCheckpoint) {
			return sqlVersion{version: v.Version, created: v.Created, prepared: v.Prepared, started: v.Started}, v.Checkpoints
		},
		func(c projsqlite.PartitionCheckpoint) sqlCheckpoint {
			return sqlCheckpoint{c.Partition, c.Checkpoint, c.Updated}
		})), nil
}
