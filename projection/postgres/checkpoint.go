package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/projection"
)

// Load returns the checkpoint stored under key, or NoCheckpoint. When the
// version's partition count is known (SetPartitions) and key names a
// partition outside it, Load fails with a *PartitionCountError.
func (t *Target) Load(ctx context.Context, key projection.Key) (projection.Checkpoint, error) {
	var (
		parts                     *int
		kind                      *int16
		commit, prepare, revision *string
	)
	err := t.pool.QueryRow(ctx, `
SELECT v.partitions, c.kind, c.commit_pos::text, c.prepare_pos::text, c.revision::text
FROM (SELECT 1) AS one
LEFT JOIN `+t.versions+` AS v ON v.projection = $1 AND v.version = $2
LEFT JOIN `+t.checkpoints+` AS c ON c.projection = $1 AND c.version = $2 AND c.partition = $3`,
		key.Projection, key.Version, key.Partition).Scan(&parts, &kind, &commit, &prepare, &revision)
	if err != nil {
		return projection.Checkpoint{}, fmt.Errorf("postgres: load checkpoint %v: %w", key, ctxErr(ctx, err))
	}
	if parts != nil && !hasPartition(*parts, key.Partition) {
		return projection.Checkpoint{}, &projection.PartitionCountError{Projection: key.Projection, Version: key.Version, Stored: *parts, Partition: key.Partition}
	}
	if kind == nil {
		return projection.Checkpoint{}, nil
	}
	return decode(key, *kind, *commit, *prepare, *revision)
}

// hasPartition reports whether a runner of n partitions uses partition p:
// an unpartitioned runner (n = 1) only partition 0, a partitioned one its
// overall checkpoint 0 and its partitions 1…n.
func hasPartition(n, p int) bool {
	if n <= 1 {
		return p == 0
	}
	return p >= 0 && p <= n
}

func decode(key projection.Key, kind int16, commit, prepare, revision string) (projection.Checkpoint, error) {
	c, err1 := strconv.ParseUint(commit, 10, 64)
	p, err2 := strconv.ParseUint(prepare, 10, 64)
	r, err3 := strconv.ParseUint(revision, 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return projection.Checkpoint{}, fmt.Errorf("%w: %v: stored checkpoint unreadable: %w", projection.ErrCheckpointMismatch, key, err)
	}
	switch projection.CheckpointKind(kind) {
	case projection.AllCheckpoint:
		return projection.At(eventstore.Position{Commit: c, Prepare: p}), nil
	case projection.StreamCheckpoint:
		return projection.AtRevision(r), nil
	}
	return projection.Checkpoint{}, fmt.Errorf("%w: %v: stored checkpoint of unknown kind %d", projection.ErrCheckpointMismatch, key, kind)
}

// columns returns the stored form of a checkpoint.
func columns(c projection.Checkpoint) (kind int16, commit, prepare, revision string) {
	return int16(c.Kind), strconv.FormatUint(c.Position.Commit, 10), strconv.FormatUint(c.Position.Prepare, 10), strconv.FormatUint(c.Revision, 10)
}

// Save moves key's checkpoint from prev to next, fenced as Update is.
func (t *Target) Save(ctx context.Context, key projection.Key, prev, next projection.Checkpoint) error {
	return t.Update(ctx, key, prev, next, nil)
}

// Update runs apply in one transaction that first moves key's checkpoint
// from prev to next and then sets the transaction's search_path to the
// schema of key's version (its live schema, or the schema it is being built
// in), so that apply's statements name tables without a schema. If the
// stored checkpoint is not prev, Update fails with projection.ErrFenced
// before apply runs; if a newer version is live, with projection.ErrRetired.
// Either way, and if apply or the commit fails, nothing is kept.
func (t *Target) Update(ctx context.Context, key projection.Key, prev, next projection.Checkpoint, apply func(ctx context.Context, tx pgx.Tx) error) error {
	if err := projection.CheckMove(key, prev, next); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	tx, err := t.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: update %v: %w", key, ctxErr(ctx, err))
	}
	if err := t.move(ctx, tx, key, prev, next); err != nil {
		rollback(tx)
		return err
	}
	if apply != nil {
		if err := apply(ctx, tx); err != nil {
			rollback(tx)
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: update %v: commit: %w", key, ctxErr(ctx, err))
	}
	return nil
}

// move is the first work of an Update, in one round trip: a share lock on
// the projection's row (which Promote takes for update, so an Update and a
// promotion never interleave), the live-version check and the search_path,
// then the fenced checkpoint write. Both locks are taken in the same order
// by every Update, and Promote takes the projection's row before it deletes
// checkpoints, so they cannot deadlock. Nothing of apply runs before the
// fence passed.
func (t *Target) move(ctx context.Context, tx pgx.Tx, key projection.Key, prev, next projection.Checkpoint) error {
	nk, nc, np, nr := columns(next)
	b := &pgx.Batch{}
	q, args := t.livePath(key)
	b.Queue(q, args...)
	if prev.IsZero() {
		b.Queue(`INSERT INTO `+t.checkpoints+` (projection, version, partition, kind, commit_pos, prepare_pos, revision)
VALUES ($1, $2, $3, $4, $5::text::numeric, $6::text::numeric, $7::text::numeric)
ON CONFLICT DO NOTHING`, key.Projection, key.Version, key.Partition, nk, nc, np, nr)
	} else {
		pk, pc, pp, pr := columns(prev)
		b.Queue(`UPDATE `+t.checkpoints+`
SET kind = $4, commit_pos = $5::text::numeric, prepare_pos = $6::text::numeric, revision = $7::text::numeric, updated_at = now()
WHERE projection = $1 AND version = $2 AND partition = $3
  AND kind = $8 AND commit_pos = $9::text::numeric AND prepare_pos = $10::text::numeric AND revision = $11::text::numeric`,
			key.Projection, key.Version, key.Partition, nk, nc, np, nr, pk, pc, pp, pr)
	}
	if prev.IsZero() && key.Partition == 0 {
		b.Queue(`INSERT INTO `+t.versions+` (projection, version, started) VALUES ($1, $2, $3)
ON CONFLICT (projection, version) DO UPDATE SET started = coalesce(`+t.versions+`.started, excluded.started)`,
			key.Projection, key.Version, next.String())
	}
	br := tx.SendBatch(ctx, b)
	defer br.Close()
	fail := func(err error) error {
		return fmt.Errorf("postgres: move checkpoint %v: %w", key, ctxErr(ctx, err))
	}
	var live int
	var path string
	if err := br.QueryRow().Scan(&live, &path); err != nil {
		return fail(err)
	}
	tag, err := br.Exec()
	if err != nil {
		return fail(err)
	}
	switch {
	case live > key.Version:
		// Matches ErrFenced too, so that a runner stops rather than retries.
		return fmt.Errorf("%w: %v: version %d of %q is live (%w)", projection.ErrFenced, key, live, key.Projection, projection.ErrRetired)
	case tag.RowsAffected() == 0:
		return fmt.Errorf("%w: %v is not at %v", projection.ErrFenced, key, prev)
	}
	if err := br.Close(); err != nil {
		return fail(err)
	}
	return nil
}

// Transact runs apply in one transaction whose search_path is the schema
// of key's version, without moving a checkpoint, for a runner that consumes
// through a persistent subscription group (projection.WithPersistentGroup),
// where the group keeps the position. If a newer version is live it fails
// with projection.ErrRetired before apply runs. Delivery through a group
// is at least once: apply must be idempotent.
func (t *Target) Transact(ctx context.Context, key projection.Key, apply func(ctx context.Context, tx pgx.Tx) error) error {
	if err := projection.CheckKey(key); err != nil {
		return err
	}
	tx, err := t.begin(ctx, fmt.Sprintf("transact %v", key))
	if err != nil {
		return err
	}
	var live int
	var path string
	q, args := t.livePath(key)
	err = tx.QueryRow(ctx, q, args...).Scan(&live, &path)
	if err != nil {
		rollback(tx)
		return fmt.Errorf("postgres: transact %v: %w", key, ctxErr(ctx, err))
	}
	if live > key.Version {
		rollback(tx)
		return fmt.Errorf("%w: %v: version %d of %q is live", projection.ErrRetired, key, live, key.Projection)
	}
	if err := apply(ctx, tx); err != nil {
		rollback(tx)
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: transact %v: commit: %w", key, ctxErr(ctx, err))
	}
	return nil
}

// livePath is the query that takes a share lock on the projection's row
// (which Promote takes for update) and returns the live version, setting
// the transaction's search_path to key's version's schema: its live schema
// or the one it is being built in.
func (t *Target) livePath(key projection.Key) (string, []any) {
	return `
WITH l AS (SELECT live FROM ` + t.projections + ` WHERE projection = $1 FOR KEY SHARE)
SELECT coalesce((SELECT live FROM l), 0),
       set_config('search_path', CASE WHEN coalesce((SELECT live FROM l), 0) = $2 THEN $3 ELSE $4 END, true)`,
		[]any{key.Projection, key.Version, quote(t.Schema(key.Projection)), quote(t.VersionSchema(key.Projection, key.Version))}
}
