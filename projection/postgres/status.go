package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chronicle-go/chronicle/projection"
)

var _ projection.StatusReporter = (*Target)(nil)

// Statuses lists the projections the target keeps, with their versions
// and checkpoints, in name order.
func (t *Target) Statuses(ctx context.Context) ([]projection.TargetStatus, error) {
	fail := func(err error) ([]projection.TargetStatus, error) {
		return nil, fmt.Errorf("postgres: status: %w", ctxErr(ctx, err))
	}
	// Projections, and versions or checkpoints stored without a projection
	// row (written by Update alone, before any Prepare or Promote).
	rows, err := t.pool.Query(ctx, `
SELECT n.projection, coalesce(p.live, 0), p.promoted_at
FROM (SELECT projection FROM `+t.projections+` UNION SELECT projection FROM `+t.versions+`
      UNION SELECT projection FROM `+t.checkpoints+`) AS n
LEFT JOIN `+t.projections+` AS p ON p.projection = n.projection
ORDER BY n.projection`)
	if err != nil {
		return fail(err)
	}
	var out []projection.TargetStatus
	index := map[string]int{}
	for rows.Next() {
		var s projection.TargetStatus
		var promoted *time.Time
		if err := rows.Scan(&s.Projection, &s.Live, &promoted); err != nil {
			rows.Close()
			return fail(err)
		}
		if promoted != nil {
			s.Promoted = *promoted
		}
		s.Place = t.Schema(s.Projection)
		index[s.Projection] = len(out)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	rows, err = t.pool.Query(ctx, `
SELECT n.projection, n.version, v.partitions, coalesce(v.created_at, c.created_at), v.prepared_at, v.retired_at, v.started,
       c.partition, c.kind, c.commit_pos::text, c.prepare_pos::text, c.revision::text, c.updated_at
FROM (SELECT projection, version FROM `+t.versions+` UNION SELECT projection, version FROM `+t.checkpoints+`) AS n
LEFT JOIN `+t.versions+` AS v USING (projection, version)
LEFT JOIN `+t.checkpoints+` AS c USING (projection, version)
ORDER BY n.projection, n.version, c.partition`)
	if err != nil {
		return fail(err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			name                       string
			v                          projection.VersionStatus
			parts, part                *int
			prepared, retired, updated *time.Time
			started                    *string
			kind                       *int16
			commit, prepare, revision  *string
		)
		if err := rows.Scan(&name, &v.Version, &parts, &v.Created, &prepared, &retired, &started,
			&part, &kind, &commit, &prepare, &revision, &updated); err != nil {
			return fail(err)
		}
		s := &out[index[name]]
		if n := len(s.Versions); n == 0 || s.Versions[n-1].Version != v.Version {
			v.Partitions = deref(parts)
			v.Prepared, v.Retired = deref(prepared), deref(retired)
			if started != nil {
				v.Started, _ = projection.ParseCheckpoint(*started)
			}
			switch {
			case v.Version == s.Live:
				v.Place = s.Place
			case v.Version < s.Live:
				v.Place = fmt.Sprintf("%s_retired", t.VersionSchema(name, v.Version))
			default:
				v.Place = t.VersionSchema(name, v.Version)
			}
			s.Versions = append(s.Versions, v)
		}
		if kind != nil {
			cp, err := decode(projection.Key{Projection: name, Version: v.Version, Partition: *part}, *kind, *commit, *prepare, *revision)
			if err != nil {
				return nil, err
			}
			vs := &s.Versions[len(s.Versions)-1]
			vs.Checkpoints = append(vs.Checkpoints, projection.PartitionCheckpoint{Partition: *part, Checkpoint: cp, Updated: *updated})
		}
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	// Retired schemas are dropped at the promotion after the one that
	// retired them: blank the names that are gone.
	var names []string
	for _, s := range out {
		for _, v := range s.Versions {
			names = append(names, v.Place)
		}
	}
	rows, err = t.pool.Query(ctx, `SELECT n FROM unnest($1::text[]) AS n WHERE n NOT IN (SELECT nspname FROM pg_catalog.pg_namespace)`, names)
	if err != nil {
		return fail(err)
	}
	gone, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fail(err)
	}
	for i := range out {
		for j := range out[i].Versions {
			if slices.Contains(gone, out[i].Versions[j].Place) {
				out[i].Versions[j].Place = ""
			}
		}
	}
	return out, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
