package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/projection"
)

// Load returns the checkpoint stored under key, or NoCheckpoint (without
// creating the version's file). When the version's partition count is known
// (SetPartitions) and key names a partition outside it, Load fails with a
// *PartitionCountError.
func (t *Target) Load(ctx context.Context, key projection.Key) (projection.Checkpoint, error) {
	if err := checkName(key.Projection, key.Version); err != nil {
		return projection.Checkpoint{}, err
	}
	f, err := t.open(ctx, place{key.Projection, key.Version}, false)
	if err != nil || f == nil {
		return projection.Checkpoint{}, err
	}
	var parts, kind sql.NullInt64
	var commit, prepare, revision int64
	err = f.r.QueryRowContext(ctx, `
SELECT v.partitions, c.kind, coalesce(c.commit_pos, 0), coalesce(c.prepare_pos, 0), coalesce(c.revision, 0)
FROM chronicle_version AS v LEFT JOIN chronicle_checkpoints AS c ON c.partition = ?`, key.Partition).
		Scan(&parts, &kind, &commit, &prepare, &revision)
	if err != nil {
		return projection.Checkpoint{}, fmt.Errorf("sqlite: load checkpoint %v: %w", key, err)
	}
	if parts.Valid && !hasPartition(int(parts.Int64), key.Partition) {
		return projection.Checkpoint{}, &projection.PartitionCountError{Projection: key.Projection, Version: key.Version, Stored: int(parts.Int64), Partition: key.Partition}
	}
	if !kind.Valid {
		return projection.Checkpoint{}, nil
	}
	return decode(key, kind.Int64, commit, prepare, revision)
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

// Positions and revisions are uint64; SQLite integers are int64, so they
// are stored bit for bit (values past 2^63 read back as negative numbers in
// SQL, and exactly in Go).
func decode(key projection.Key, kind, commit, prepare, revision int64) (projection.Checkpoint, error) {
	switch projection.CheckpointKind(kind) {
	case projection.AllCheckpoint:
		return projection.At(eventstore.Position{Commit: uint64(commit), Prepare: uint64(prepare)}), nil
	case projection.StreamCheckpoint:
		return projection.AtRevision(uint64(revision)), nil
	}
	return projection.Checkpoint{}, fmt.Errorf("%w: %v: stored checkpoint of unknown kind %d", projection.ErrCheckpointMismatch, key, kind)
}

func columns(c projection.Checkpoint) []any {
	return []any{int64(c.Kind), int64(c.Position.Commit), int64(c.Position.Prepare), int64(c.Revision)}
}

// Save moves key's checkpoint from prev to next, fenced as Update is.
func (t *Target) Save(ctx context.Context, key projection.Key, prev, next projection.Checkpoint) error {
	return t.Update(ctx, key, prev, next, nil)
}

// Update runs apply in one transaction of the version's file that first
// moves key's checkpoint from prev to next: apply's statements name the
// version's tables directly. If the stored checkpoint is not prev, or the
// version was retired by a promotion, Update fails with projection.ErrFenced
// (wrapping projection.ErrRetired for a retired version) before apply runs.
// Either way, and if apply or the commit fails, nothing is kept. A returned
// Update is on disk (WAL, synchronous=FULL).
func (t *Target) Update(ctx context.Context, key projection.Key, prev, next projection.Checkpoint, apply func(ctx context.Context, tx *sql.Tx) error) error {
	if err := projection.CheckMove(key, prev, next); err != nil {
		return err
	}
	tx, err := t.begin(ctx, key, "update")
	if err != nil {
		return err
	}
	if err := move(ctx, tx, key, prev, next); err != nil {
		rollback(tx)
		return err
	}
	if apply != nil {
		if err := apply(ctx, tx); err != nil {
			rollback(tx)
			return err
		}
	}
	if err := commit(ctx, tx); err != nil {
		return fmt.Errorf("sqlite: update %v: commit: %w", key, err)
	}
	return nil
}

// move is the fenced checkpoint write, the first statement of an Update: it
// writes nothing when the stored checkpoint is not prev or the version is
// retired.
func move(ctx context.Context, tx *sql.Tx, key projection.Key, prev, next projection.Checkpoint) error {
	var res sql.Result
	var err error
	if prev.IsZero() {
		res, err = tx.ExecContext(ctx, `
INSERT INTO chronicle_checkpoints (partition, kind, commit_pos, prepare_pos, revision)
SELECT ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM chronicle_version WHERE retired_at IS NOT NULL)
ON CONFLICT DO NOTHING`, append([]any{key.Partition}, columns(next)...)...)
	} else {
		args := append(columns(next), key.Partition)
		res, err = tx.ExecContext(ctx, `
UPDATE chronicle_checkpoints
SET kind = ?, commit_pos = ?, prepare_pos = ?, revision = ?, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
WHERE partition = ? AND kind = ? AND commit_pos = ? AND prepare_pos = ? AND revision = ?`, append(args, columns(prev)...)...)
	}
	if err != nil {
		return fmt.Errorf("sqlite: move checkpoint %v: %w", key, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		var retired bool
		if qerr := tx.QueryRowContext(ctx, `SELECT retired_at IS NOT NULL FROM chronicle_version`).Scan(&retired); qerr == nil && retired {
			return fmt.Errorf("%w: %v: a newer version of %q is live (%w)", projection.ErrFenced, key, key.Projection, projection.ErrRetired)
		}
		return errors.Join(fmt.Errorf("%w: %v is not at %v", projection.ErrFenced, key, prev), err)
	}
	if prev.IsZero() && key.Partition == 0 {
		if _, err := tx.ExecContext(ctx, `UPDATE chronicle_version SET started = coalesce(started, ?)`, next.String()); err != nil {
			return fmt.Errorf("sqlite: move checkpoint %v: %w", key, err)
		}
	}
	return nil
}

// Transact runs apply in one transaction of the version's file without
// moving a checkpoint, for a runner that consumes through a persistent
// subscription group (projection.WithPersistentGroup), where the group
// keeps the position. A retired version fails with projection.ErrRetired
// before apply runs. Delivery through a group is at least once: apply must
// be idempotent.
func (t *Target) Transact(ctx context.Context, key projection.Key, apply func(ctx context.Context, tx *sql.Tx) error) error {
	if err := projection.CheckKey(key); err != nil {
		return err
	}
	tx, err := t.begin(ctx, key, "transact")
	if err != nil {
		return err
	}
	var retired bool
	if err := tx.QueryRowContext(ctx, `SELECT retired_at IS NOT NULL FROM chronicle_version`).Scan(&retired); err != nil {
		rollback(tx)
		return fmt.Errorf("sqlite: transact %v: %w", key, err)
	}
	if retired {
		rollback(tx)
		return fmt.Errorf("%w: %v: a newer version of %q is live", projection.ErrRetired, key, key.Projection)
	}
	if err := apply(ctx, tx); err != nil {
		rollback(tx)
		return err
	}
	if err := commit(ctx, tx); err != nil {
		return fmt.Errorf("sqlite: transact %v: commit: %w", key, err)
	}
	return nil
}

// begin starts a write transaction in the file of key's version, creating
// the file if needed.
func (t *Target) begin(ctx context.Context, key projection.Key, op string) (*sql.Tx, error) {
	if err := checkName(key.Projection, key.Version); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := t.open(ctx, place{key.Projection, key.Version}, true)
	if err != nil {
		return nil, err
	}
	tx, err := f.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s %v: %w", op, key, err)
	}
	return tx, nil
}
