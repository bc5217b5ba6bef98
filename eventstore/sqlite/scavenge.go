package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/backend"
)

// scavengeChunk is how many events one scavenge transaction removes: each
// holds SQLite's write lock only briefly, so the commit loop waits little.
const scavengeChunk = 1000

var _ eventstore.Scavenger = (*Store)(nil)

// Scavenge implements eventstore.Scavenger. It runs on a connection of its
// own while the store serves other calls, in transactions of at most 1 000
// events, with SQLite's secure_delete on, so that the removed events' bytes
// are overwritten in the database file rather than left in free pages; it
// then returns the freed pages to the file system in steps of 1 024 pages
// (stores are created with SQLite's incremental auto-vacuum; a store created
// by an earlier version keeps its free pages, FreeBytes, which hold new
// events first), checkpoints the log and, if no reader holds it, truncates
// it, so that the log keeps no copy either and the files shrink. Removed: see eventstore.Scavenger;
// the tombstone records and the streams' heads stay.
func (s *Store) Scavenge(ctx context.Context) (eventstore.ScavengeResult, error) {
	var res eventstore.ScavengeResult
	if err := s.usable(ctx); err != nil {
		return res, err
	}
	if s.w == nil {
		return res, fmt.Errorf("sqlite: scavenge: %w", ErrReadOnly)
	}
	res.BytesBefore = s.fileBytes()
	db, err := sql.Open("sqlite", s.dsn("_pragma=busy_timeout(10000)", "_pragma=secure_delete(1)"))
	if err != nil {
		return res, fmt.Errorf("sqlite: scavenge: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	c, err := db.Conn(ctx)
	if err != nil {
		return res, s.sqlErr(ctx, "scavenge", err)
	}
	defer c.Close()
	now := s.opts.now()
	for after := int64(0); ; {
		batch, err := scavengeCandidates(ctx, c, after)
		if err != nil {
			return res, s.sqlErr(ctx, "scavenge", err)
		}
		if len(batch) == 0 {
			break
		}
		for _, h := range batch {
			after = h.id
			n, err := s.scavengeStream(ctx, c, h, now)
			res.EventsRemoved += n
			if err != nil {
				return res, err
			}
		}
	}
	// Give the freed pages back to the file system, a few at a time so that
	// the writer waits little (stores created before incremental
	// auto-vacuum keep their free pages, which new events reuse).
	if err := incrementalVacuum(ctx, c); err != nil {
		return res, s.sqlErr(ctx, "scavenge: vacuum", err)
	}
	// Copy the log into the file, then restart it from zero bytes unless a
	// reader is still on it (briefly waiting for them).
	for _, q := range []string{`PRAGMA wal_checkpoint(PASSIVE)`, `PRAGMA busy_timeout = 200`, `PRAGMA wal_checkpoint(TRUNCATE)`} {
		if _, err := c.ExecContext(ctx, q); err != nil {
			return res, s.sqlErr(ctx, "scavenge: checkpoint", err)
		}
	}
	var free, page int64
	if err := c.QueryRowContext(ctx, `SELECT f.freelist_count, p.page_size FROM pragma_freelist_count f, pragma_page_size p`).Scan(&free, &page); err != nil {
		return res, s.sqlErr(ctx, "scavenge", err)
	}
	res.FreeBytes = free * page
	res.BytesAfter = s.fileBytes()
	return res, nil
}

// vacuumStep is how many free pages one incremental-vacuum transaction
// returns to the file system.
const vacuumStep = 1024

// incrementalVacuum frees the database's free pages in steps, when the
// store was created with incremental auto-vacuum.
func incrementalVacuum(ctx context.Context, c *sql.Conn) error {
	var mode int
	if err := c.QueryRowContext(ctx, `PRAGMA auto_vacuum`).Scan(&mode); err != nil || mode != 2 {
		return err
	}
	for {
		var free int64
		if err := c.QueryRowContext(ctx, `PRAGMA freelist_count`).Scan(&free); err != nil {
			return err
		}
		if free == 0 {
			return nil
		}
		if _, err := c.ExecContext(ctx, fmt.Sprintf(`PRAGMA incremental_vacuum(%d)`, vacuumStep)); err != nil {
			return err
		}
	}
}

// scavengeCandidates returns the next streams after id that may hold
// events reads no longer show: deleted or tombstoned streams, streams with
// metadata, and metadata streams.
func scavengeCandidates(ctx context.Context, c *sql.Conn, after int64) ([]head, error) {
	rows, err := c.QueryContext(ctx, `SELECT id, name, last, deleted, tombstoned, meta FROM streams
		WHERE id > ? AND (tombstoned OR deleted OR meta IS NOT NULL OR name LIKE '$$%') ORDER BY id LIMIT 256`, after)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []head
	for rows.Next() {
		var h head
		var last sql.NullInt64
		if err := rows.Scan(&h.id, &h.name, &last, &h.deleted, &h.tombstoned, &h.meta); err != nil {
			return nil, err
		}
		h.exists, h.last = last.Valid, uint64(last.Int64)
		out = append(out, h)
	}
	return out, rows.Err()
}

// scavengeStream removes the events of one stream that reads no longer
// show, and a tombstoned stream's metadata.
func (s *Store) scavengeStream(ctx context.Context, c *sql.Conn, h head, now time.Time) (int64, error) {
	below := uint64(0)  // remove revisions below this
	var olderThan int64 // and, when set, events created before this (Unix ns)
	of, isMeta := eventstore.IsMetadataStream(h.name)
	switch {
	case h.tombstoned:
		below = eventstore.TombstoneRevision // everything but the tombstone record
		if _, err := c.ExecContext(ctx, `UPDATE streams SET meta = NULL WHERE id = ? AND meta IS NOT NULL`, h.id); err != nil {
			return 0, s.sqlErr(ctx, "scavenge", err)
		}
	case isMeta:
		var gone bool // the stream it describes was tombstoned: it went with it
		err := c.QueryRowContext(ctx, `SELECT tombstoned FROM streams WHERE name = ?`, of).Scan(&gone)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return 0, s.sqlErr(ctx, "scavenge", err)
		}
		switch {
		case gone:
			below = eventstore.TombstoneRevision
		case h.exists:
			below = h.last // metadata streams show their latest event only
		}
	case !h.exists:
		return 0, nil
	default:
		meta, err := h.metadata()
		if err != nil {
			return 0, err
		}
		below = meta.FirstVisible(h.last)
		if meta.MaxAge > 0 {
			olderThan = now.UnixNano() - int64(meta.MaxAge)
		}
	}
	if backend.IsLinkStream(h.name) {
		// Its links are in the links table; they hold no event data.
		removed, err := s.deleteChunks(ctx, c, below > 0,
			`DELETE FROM links WHERE stream = ?1 AND rev IN (SELECT rev FROM links WHERE stream = ?1 AND rev < ?2 LIMIT ?3)`, h.id, int64(below))
		if err != nil {
			return removed, err
		}
		n, err := s.deleteChunks(ctx, c, olderThan != 0,
			`DELETE FROM links WHERE stream = ?1 AND rev IN (SELECT rev FROM links WHERE stream = ?1 AND created < ?2 LIMIT ?3)`, h.id, olderThan)
		return removed + n, err
	}
	removed, err := s.deleteChunks(ctx, c, below > 0,
		`DELETE FROM events WHERE pos IN (SELECT pos FROM events WHERE stream = ? AND rev < ? LIMIT ?)`, h.id, int64(below))
	if err != nil {
		return removed, err
	}
	n, err := s.deleteChunks(ctx, c, olderThan != 0,
		`DELETE FROM events WHERE pos IN (SELECT pos FROM events WHERE stream = ? AND rev < ? AND created < ? LIMIT ?)`,
		h.id, int64(eventstore.TombstoneRevision), olderThan)
	return removed + n, err
}

// deleteChunks runs a DELETE whose last parameter is the chunk size until
// it removes less than a chunk, each run a transaction of its own; it does
// nothing unless when is true.
func (s *Store) deleteChunks(ctx context.Context, c *sql.Conn, when bool, query string, args ...any) (int64, error) {
	var removed int64
	for when {
		r, err := c.ExecContext(ctx, query, append(args, scavengeChunk)...)
		if err != nil {
			return removed, s.sqlErr(ctx, "scavenge", err)
		}
		n, err := r.RowsAffected()
		if err != nil {
			return removed, s.sqlErr(ctx, "scavenge", err)
		}
		removed += n
		when = n == scavengeChunk
	}
	return removed, nil
}

// fileBytes returns the size of the database file and its log.
func (s *Store) fileBytes() int64 {
	var n int64
	for _, p := range []string{s.path, s.path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}
