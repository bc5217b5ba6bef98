package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/chronicle-go/chronicle/projection"
)

// Prepare prepares key's version (key.Partition is ignored) before its
// first event: it creates the version's file, runs setup in a transaction
// of it, records that setup ran (a second Prepare of the version does not
// run it again), and checks that every table in tables exists in the file.
// When setup fails or a table is missing (projection.ErrMissingTable), the
// transaction is rolled back and nothing is kept. Preparing a version older
// than the live one is projection.ErrRetired.
func (t *Target) Prepare(ctx context.Context, key projection.Key, setup func(ctx context.Context, tx *sql.Tx) error, tables []string) error {
	if err := checkName(key.Projection, key.Version); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := t.open(ctx, place{key.Projection, key.Version}, true)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		return fmt.Errorf("sqlite: prepare %q version %d: %w", key.Projection, key.Version, err)
	}
	tx, err := f.w.BeginTx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer rollback(tx)
	var prepared, retired bool
	if err := tx.QueryRowContext(ctx, `SELECT prepared_at IS NOT NULL, retired_at IS NOT NULL FROM chronicle_version`).Scan(&prepared, &retired); err != nil {
		return fail(err)
	}
	if retired {
		return fmt.Errorf("%w: prepare %q version %d: a newer version is live", projection.ErrRetired, key.Projection, key.Version)
	}
	if !prepared {
		if setup != nil {
			if err := setup(ctx, tx); err != nil {
				return fail(fmt.Errorf("setup: %w", err))
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE chronicle_version SET prepared_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`); err != nil {
			return fail(err)
		}
	}
	var missing []string
	for _, tb := range tables {
		var n int
		err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type IN ('table', 'view') AND name = ? COLLATE NOCASE`, tb).Scan(&n)
		if err != nil {
			return fail(err)
		}
		if n == 0 {
			missing = append(missing, tb)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: projection %q version %d: %s has no %s", projection.ErrMissingTable,
			key.Projection, key.Version, filepath.Base(f.path), strings.Join(missing, ", "))
	}
	if err := commit(ctx, tx); err != nil {
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
	f, err := t.open(ctx, place{name, version}, true)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		return fmt.Errorf("sqlite: set partitions of %q version %d: %w", name, version, err)
	}
	tx, err := f.w.BeginTx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer rollback(tx)
	var stored sql.NullInt64
	var maxPart int
	err = tx.QueryRowContext(ctx, `SELECT partitions, coalesce((SELECT max(partition) FROM chronicle_checkpoints), 0) FROM chronicle_version`).Scan(&stored, &maxPart)
	if err != nil {
		return fail(err)
	}
	switch {
	case stored.Valid && int(stored.Int64) != n:
		return &projection.PartitionCountError{Projection: name, Version: version, Stored: int(stored.Int64), Requested: n}
	case stored.Valid:
		return nil
	case !hasPartition(n, maxPart):
		return &projection.PartitionCountError{Projection: name, Version: version, Stored: maxPart, Requested: n}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE chronicle_version SET partitions = ?`, n); err != nil {
		return fail(err)
	}
	if err := commit(ctx, tx); err != nil {
		return fail(err)
	}
	return nil
}

// Live returns the live version of projection: 0 when none was promoted.
func (t *Target) Live(ctx context.Context, name string) (int, error) {
	var live int
	err := t.ctlR.QueryRowContext(ctx, `SELECT live FROM projections WHERE projection = ?`, name).Scan(&live)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("sqlite: live version of %q: %w", name, err)
	}
	return live, nil
}

// DB returns a read-only handle on the live version's file of projection,
// for readers; ErrNotLive when no version was promoted. Ask for it per
// request rather than keeping it: after a promotion DB returns the new
// version's file, and the retired one is closed at the promotion after.
func (t *Target) DB(ctx context.Context, name string) (*sql.DB, error) {
	if err := checkName(name, 1); err != nil {
		return nil, err
	}
	live, err := t.Live(ctx, name)
	if err != nil {
		return nil, err
	}
	if live == 0 {
		return nil, fmt.Errorf("%w: %q", ErrNotLive, name)
	}
	f, err := t.open(ctx, place{name, live}, true)
	if err != nil {
		return nil, err
	}
	return f.r, nil
}

// Promote makes version the live version of projection. It first fences
// every older version: in each older version's file, one transaction
// deletes its checkpoints and marks it retired, so that its runners' next
// Update fails with projection.ErrFenced (wrapping projection.ErrRetired)
// and nothing restarts it. Then one transaction of the control file
// records version as live: readers calling DB from then on get its file.
// Promoting the live version again does nothing; an older one is
// projection.ErrRetired.
//
// The replaced version's file is kept (for inspection) until the next
// promotion; files of older versions, and of versions skipped over, are
// removed after the switch. A crash between the fencing and the switch
// leaves the old version serving frozen until the new version's runner
// promotes again at its next catch-up.
func (t *Target) Promote(ctx context.Context, name string, version int) error {
	if err := checkName(name, version); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	t.promoteMu.Lock()
	defer t.promoteMu.Unlock()
	fail := func(err error) error {
		return fmt.Errorf("sqlite: promote %q version %d: %w", name, version, err)
	}
	live, err := t.Live(ctx, name)
	switch {
	case err != nil:
		return err
	case live == version:
		return nil
	case live > version:
		return fmt.Errorf("%w: promote %q version %d: version %d is live", projection.ErrRetired, name, version, live)
	}
	older, err := t.versions(name)
	if err != nil {
		return fail(err)
	}
	for _, v := range older {
		if v >= version {
			continue
		}
		if err := t.retire(ctx, place{name, v}); err != nil {
			return fail(err)
		}
	}
	if _, err := t.open(ctx, place{name, version}, true); err != nil {
		return fail(err)
	}
	_, err = t.ctlW.ExecContext(ctx, `
INSERT INTO projections (projection, live, promoted_at) VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
ON CONFLICT (projection) DO UPDATE SET live = excluded.live, promoted_at = excluded.promoted_at
WHERE projections.live < excluded.live`, name, version)
	if err != nil {
		return fail(err)
	}
	// Another process may have promoted a newer version meanwhile.
	if now, err := t.Live(ctx, name); err != nil || now != version {
		return errors.Join(fmt.Errorf("%w: promote %q version %d: version %d is live", projection.ErrRetired, name, version, now), err)
	}
	var errs []error
	for _, v := range older {
		if v < version && v != live {
			errs = append(errs, t.remove(place{name, v}))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: promoted %q version %d, but: %w", name, version, err)
	}
	return nil
}

// retire fences a version: its checkpoints go and it is marked retired, in
// one transaction of its file.
func (t *Target) retire(ctx context.Context, pl place) error {
	f, err := t.open(ctx, pl, false)
	if err != nil || f == nil {
		return err
	}
	tx, err := f.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer rollback(tx)
	if _, err := tx.ExecContext(ctx, `DELETE FROM chronicle_checkpoints`); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE chronicle_version SET retired_at = coalesce(retired_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))`); err != nil {
		return err
	}
	return commit(ctx, tx)
}

// remove closes and deletes a retired version's file.
func (t *Target) remove(pl place) error {
	t.mu.Lock()
	f := t.files[pl]
	delete(t.files, pl)
	t.mu.Unlock()
	var errs []error
	if f != nil {
		errs = append(errs, f.close())
	}
	path := t.Path(pl.projection, pl.version)
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// versions lists the versions of projection that have a file, in order.
func (t *Target) versions(name string) ([]int, error) {
	files, err := t.listFiles()
	if err != nil {
		return nil, err
	}
	var out []int
	for _, pl := range files {
		if pl.projection == name {
			out = append(out, pl.version)
		}
	}
	return out, nil
}

var fileRE = regexp.MustCompile(`^(.+)\.v([1-9][0-9]*)\.db$`)

// listFiles lists the version files in the directory, sorted by name then
// version.
func (t *Target) listFiles() ([]place, error) {
	entries, err := os.ReadDir(t.dir)
	if err != nil {
		return nil, err
	}
	var out []place
	for _, e := range entries {
		m := fileRE.FindStringSubmatch(e.Name())
		if m == nil || e.IsDir() {
			continue
		}
		v, err := strconv.Atoi(m[2])
		if err != nil || checkName(m[1], v) != nil {
			continue
		}
		out = append(out, place{m[1], v})
	}
	slices.SortFunc(out, func(a, b place) int {
		return cmp.Or(strings.Compare(a.projection, b.projection), cmp.Compare(a.version, b.version))
	})
	return out, nil
}
