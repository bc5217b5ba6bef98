package postgres

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/chronicle-go/chronicle/projection"
)

// begin starts a transaction.
func (t *Target) begin(ctx context.Context, op string) (pgx.Tx, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	tx, err := t.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", op, ctxErr(ctx, err))
	}
	return tx, nil
}

// lock locks the projection's row (created if needed) for update and
// returns the live version. A projection whose schema name belongs to
// another projection is ErrSchemaTaken.
func (t *Target) lock(ctx context.Context, tx pgx.Tx, name string) (int, error) {
	base := t.Schema(name)
	if reservedRE.MatchString(base) {
		return 0, fmt.Errorf("%w: projection %q maps to schema %q, whose _v<N> ending names versions' schemas; rename the projection", ErrSchemaTaken, name, base)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO `+t.projections+` (projection, schema) VALUES ($1, $2) ON CONFLICT DO NOTHING`, name, base); err != nil {
		return 0, err
	}
	var live int
	err := tx.QueryRow(ctx, `SELECT live FROM `+t.projections+` WHERE projection = $1 FOR UPDATE`, name).Scan(&live)
	if errors.Is(err, pgx.ErrNoRows) {
		var owner string
		if err := tx.QueryRow(ctx, `SELECT projection FROM `+t.projections+` WHERE schema = $1`, base).Scan(&owner); err != nil {
			return 0, err
		}
		return 0, fmt.Errorf("%w: projection %q maps to schema %q, which belongs to projection %q", ErrSchemaTaken, name, base, owner)
	}
	return live, err
}

// wrap makes a failure of op an error naming it, keeping typed errors as
// they are.
func wrap(ctx context.Context, op string, err error) error {
	if errors.Is(err, ErrSchemaTaken) {
		return err
	}
	return fmt.Errorf("postgres: %s: %w", op, ctxErr(ctx, err))
}

func checkName(name string, version int) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: no projection name", projection.ErrInvalidCheckpoint)
	case version < 1:
		return fmt.Errorf("%w: %s: version %d < 1", projection.ErrInvalidCheckpoint, name, version)
	}
	return nil
}

// Prepare prepares key's version (key.Partition is ignored) before its
// first event: it creates the version's schema (the live schema if the
// version is live, its build schema otherwise), runs setup there with the
// search_path set to it, records that setup ran (a second Prepare of the
// version does not run it again), and checks that every table in tables
// exists in the schema. All of it is one transaction: when setup fails or a
// table is missing (projection.ErrMissingTable), nothing is kept. Preparing
// a version older than the live one is projection.ErrRetired.
func (t *Target) Prepare(ctx context.Context, key projection.Key, setup func(ctx context.Context, tx pgx.Tx) error, tables []string) error {
	if err := checkName(key.Projection, key.Version); err != nil {
		return err
	}
	op := fmt.Sprintf("prepare %q version %d", key.Projection, key.Version)
	tx, err := t.begin(ctx, op)
	if err != nil {
		return err
	}
	defer rollback(tx)
	live, err := t.lock(ctx, tx, key.Projection)
	if err != nil {
		return wrap(ctx, op, err)
	}
	if live > key.Version {
		return fmt.Errorf("%w: prepare %q version %d: version %d is live", projection.ErrRetired, key.Projection, key.Version, live)
	}
	schema := t.VersionSchema(key.Projection, key.Version)
	if live == key.Version {
		schema = t.Schema(key.Projection)
	}
	fail := func(err error) error { return wrap(ctx, op, err) }
	var prepared bool
	err = tx.QueryRow(ctx, `
INSERT INTO `+t.versions+` (projection, version) VALUES ($1, $2)
ON CONFLICT (projection, version) DO UPDATE SET projection = excluded.projection
RETURNING prepared_at IS NOT NULL`, key.Projection, key.Version).Scan(&prepared)
	if err != nil {
		return fail(err)
	}
	if !prepared {
		if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+quote(schema)); err != nil {
			return fail(err)
		}
		if _, err := tx.Exec(ctx, `SELECT set_config('search_path', $1, true)`, quote(schema)); err != nil {
			return fail(err)
		}
		if setup != nil {
			if err := setup(ctx, tx); err != nil {
				return fmt.Errorf("postgres: prepare %q version %d: setup: %w", key.Projection, key.Version, err)
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE `+t.versions+` SET prepared_at = now() WHERE projection = $1 AND version = $2`, key.Projection, key.Version); err != nil {
			return fail(err)
		}
	}
	rows, err := tx.Query(ctx, `
SELECT t FROM unnest($2::text[]) AS t
WHERE NOT EXISTS (
	SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	WHERE n.nspname = $1 AND c.relname IN (t, lower(t)) AND c.relkind IN ('r', 'p', 'v', 'm', 'f'))`, schema, tables)
	if err != nil {
		return fail(err)
	}
	missing, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fail(err)
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: projection %q version %d: schema %q has no %s", projection.ErrMissingTable,
			key.Projection, key.Version, schema, strings.Join(missing, ", "))
	}
	if err := tx.Commit(ctx); err != nil {
		return fail(err)
	}
	return nil
}

// SetPartitions records that version of projection runs with n partitions
// (the runner's worker count: 1 for an unpartitioned runner, which keeps
// only partition 0; n > 1 for one that keeps partitions 0…n). A version
// keeps the count it was first run with: another n, or checkpoints stored
// for partitions outside n, fail with a *PartitionCountError, and Load of a
// partition outside the count fails too.
func (t *Target) SetPartitions(ctx context.Context, name string, version, n int) error {
	if err := checkName(name, version); err != nil {
		return err
	}
	if n < 1 {
		return fmt.Errorf("%w: %s: partition count %d < 1", projection.ErrInvalidCheckpoint, name, n)
	}
	op := fmt.Sprintf("set partitions of %q version %d", name, version)
	tx, err := t.begin(ctx, op)
	if err != nil {
		return err
	}
	defer rollback(tx)
	fail := func(err error) error { return wrap(ctx, op, err) }
	if _, err := t.lock(ctx, tx, name); err != nil {
		return fail(err)
	}
	var stored *int
	var maxPart int
	err = tx.QueryRow(ctx, `
SELECT (SELECT partitions FROM `+t.versions+` WHERE projection = $1 AND version = $2),
       coalesce((SELECT max(partition) FROM `+t.checkpoints+` WHERE projection = $1 AND version = $2), 0)`,
		name, version).Scan(&stored, &maxPart)
	if err != nil {
		return fail(err)
	}
	switch {
	case stored != nil && *stored != n:
		return &projection.PartitionCountError{Projection: name, Version: version, Stored: *stored, Requested: n}
	case stored != nil:
		return nil
	case !hasPartition(n, maxPart):
		return &projection.PartitionCountError{Projection: name, Version: version, Stored: maxPart, Requested: n}
	}
	_, err = tx.Exec(ctx, `
INSERT INTO `+t.versions+` (projection, version, partitions) VALUES ($1, $2, $3)
ON CONFLICT (projection, version) DO UPDATE SET partitions = excluded.partitions`, name, version, n)
	if err != nil {
		return fail(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fail(err)
	}
	return nil
}

// Live returns the live version of projection: 0 when none was promoted.
func (t *Target) Live(ctx context.Context, name string) (int, error) {
	var live int
	err := t.pool.QueryRow(ctx, `SELECT live FROM `+t.projections+` WHERE projection = $1`, name).Scan(&live)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("postgres: live version of %q: %w", name, ctxErr(ctx, err))
	}
	return live, nil
}

// Promote makes version the live version of projection, in one
// transaction: the live schema "<p>" is renamed to "<p>_v<old>_retired"
// (kept for inspection until the next promotion, which drops it), the
// version's build schema "<p>_v<version>" is renamed to "<p>", and the
// checkpoints of every older version are deleted, so that their runners'
// next Update fails (projection.ErrFenced, or ErrRetired for one starting
// afresh). Build schemas of older versions that were never promoted are
// dropped. Promoting the live version again does nothing; an older one is
// projection.ErrRetired.
//
// Readers that name "<p>.<table>" see the new version from the commit on;
// a reader's transaction in flight keeps the tables it already opened.
func (t *Target) Promote(ctx context.Context, name string, version int) error {
	if err := checkName(name, version); err != nil {
		return err
	}
	op := fmt.Sprintf("promote %q version %d", name, version)
	fail := func(err error) error { return wrap(ctx, op, err) }
	tx, err := t.begin(ctx, op)
	if err != nil {
		return err
	}
	defer rollback(tx)
	// The projection's row first: Updates in flight finish, and later ones
	// wait for the commit (see move).
	live, err := t.lock(ctx, tx, name)
	switch {
	case err != nil:
		return fail(err)
	case live == version:
		return nil
	case live > version:
		return fmt.Errorf("%w: promote %q version %d: version %d is live", projection.ErrRetired, name, version, live)
	}
	base := t.Schema(name)
	// Older schemas of the projection: retired ones and never-promoted
	// builds. The one being retired now is kept.
	rows, err := tx.Query(ctx, `SELECT nspname FROM pg_catalog.pg_namespace WHERE nspname ~ $1`,
		"^"+base+`(_v[0-9]+(_retired)?)?$`)
	if err != nil {
		return fail(err)
	}
	schemas, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fail(err)
	}
	var stmts []string
	for _, s := range schemas {
		if s == base {
			continue
		}
		v, _ := strconv.Atoi(versionRE.FindStringSubmatch(strings.TrimPrefix(s, base))[1])
		if v < version {
			stmts = append(stmts, `DROP SCHEMA `+quote(s)+` CASCADE`)
		}
	}
	slices.Sort(stmts)
	if live > 0 && slices.Contains(schemas, base) {
		stmts = append(stmts, `ALTER SCHEMA `+quote(base)+` RENAME TO `+quote(fmt.Sprintf("%s_v%d_retired", base, live)))
	}
	build := t.VersionSchema(name, version)
	if slices.Contains(schemas, build) {
		stmts = append(stmts, `ALTER SCHEMA `+quote(build)+` RENAME TO `+quote(base))
	} else {
		stmts = append(stmts, `CREATE SCHEMA IF NOT EXISTS `+quote(base))
	}
	for _, stmt := range stmts {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return fail(err)
		}
	}
	_, err = tx.Exec(ctx, `
WITH d AS (DELETE FROM `+t.checkpoints+` WHERE projection = $1 AND version < $2),
     r AS (UPDATE `+t.versions+` SET retired_at = now() WHERE projection = $1 AND version < $2 AND retired_at IS NULL),
     v AS (INSERT INTO `+t.versions+` (projection, version) VALUES ($1, $2) ON CONFLICT DO NOTHING)
UPDATE `+t.projections+` SET live = $2, promoted_at = now() WHERE projection = $1`, name, version)
	if err != nil {
		return fail(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fail(err)
	}
	return nil
}

var reservedRE = regexp.MustCompile(`_v[0-9]+(_retired)?$`)

var versionRE = regexp.MustCompile(`^_v([0-9]+)`)
