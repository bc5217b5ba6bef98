package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/chronicle-go/chronicle/projection"
)

var _ projection.StatusReporter = (*Target)(nil)

// Statuses lists the projections that have files in the directory, with
// their live version, versions and checkpoints, in name order.
func (t *Target) Statuses(ctx context.Context) ([]projection.TargetStatus, error) {
	places, err := t.listFiles()
	if err != nil {
		return nil, fmt.Errorf("sqlite: status: %w", err)
	}
	var out []projection.TargetStatus
	for _, pl := range places {
		if len(out) == 0 || out[len(out)-1].Projection != pl.projection {
			s := projection.TargetStatus{Projection: pl.projection}
			var promoted sql.NullString
			err := t.ctlR.QueryRowContext(ctx, `SELECT live, promoted_at FROM projections WHERE projection = ?`, pl.projection).Scan(&s.Live, &promoted)
			if err != nil && err != sql.ErrNoRows {
				return nil, fmt.Errorf("sqlite: status: %w", err)
			}
			s.Promoted = parseTime(promoted)
			out = append(out, s)
		}
		v, err := t.versionStatus(ctx, pl)
		if err != nil {
			return nil, err
		}
		out[len(out)-1].Versions = append(out[len(out)-1].Versions, v)
	}
	return out, nil
}

func (t *Target) versionStatus(ctx context.Context, pl place) (projection.VersionStatus, error) {
	v := projection.VersionStatus{Version: pl.version, Place: t.Path(pl.projection, pl.version)}
	fail := func(err error) (projection.VersionStatus, error) {
		return v, fmt.Errorf("sqlite: status of %s: %w", v.Place, err)
	}
	f, err := t.open(ctx, pl, false)
	if err != nil || f == nil {
		return fail(fmt.Errorf("file gone: %w", err))
	}
	var parts sql.NullInt64
	var created, prepared, started, retired sql.NullString
	err = f.r.QueryRowContext(ctx, `SELECT partitions, created_at, prepared_at, started, retired_at FROM chronicle_version`).
		Scan(&parts, &created, &prepared, &started, &retired)
	if err != nil {
		return fail(err)
	}
	v.Partitions = int(parts.Int64)
	v.Created, v.Prepared, v.Retired = parseTime(created), parseTime(prepared), parseTime(retired)
	if started.Valid {
		v.Started, _ = projection.ParseCheckpoint(started.String)
	}
	rows, err := f.r.QueryContext(ctx, `SELECT partition, kind, commit_pos, prepare_pos, revision, updated_at FROM chronicle_checkpoints ORDER BY partition`)
	if err != nil {
		return fail(err)
	}
	defer rows.Close()
	for rows.Next() {
		var pc projection.PartitionCheckpoint
		var kind, commit, prepare, revision int64
		var updated sql.NullString
		if err := rows.Scan(&pc.Partition, &kind, &commit, &prepare, &revision, &updated); err != nil {
			return fail(err)
		}
		key := projection.Key{Projection: pl.projection, Version: pl.version, Partition: pc.Partition}
		if pc.Checkpoint, err = decode(key, kind, commit, prepare, revision); err != nil {
			return v, err
		}
		pc.Updated = parseTime(updated)
		v.Checkpoints = append(v.Checkpoints, pc)
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	return v, nil
}

func parseTime(s sql.NullString) time.Time {
	if !s.Valid {
		return time.Time{}
	}
	tm, _ := time.Parse("2006-01-02T15:04:05.999Z", s.String)
	return tm
}
