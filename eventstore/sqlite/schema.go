package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/chronicle-go/chronicle/eventstore/backend"
)

// applicationID marks a Chronicle store ("Chrn") in the database header, so
// that Open refuses other SQLite files.
const applicationID = 0x4368726e

// schemaVersion is the layout below; PRAGMA user_version holds it.
// Version 1 had no links table; migrate adds it (see buildLinks).
const schemaVersion = 2

// The layout. Positions in $all are the events table's rowid, so a $all read
// is a scan of the table in key order. A stream's events are found through
// the (stream, rev) index. streams is the head table: one indexed lookup
// gives the expected-revision check its state, and reads their metadata.
var schema = []string{
	`CREATE TABLE streams (
		id         INTEGER PRIMARY KEY,
		name       TEXT NOT NULL UNIQUE,
		last       INTEGER,           -- revision of the last event; NULL: none
		deleted    INTEGER NOT NULL,  -- soft-deleted: the metadata's $tb is TombstoneRevision
		tombstoned INTEGER NOT NULL,  -- hard-deleted
		meta       BLOB               -- data of the latest event of $$name
	) STRICT`,
	`CREATE TABLE events (
		pos     INTEGER PRIMARY KEY,  -- position in $all (commit = prepare)
		stream  INTEGER NOT NULL,     -- streams.id
		rev     INTEGER NOT NULL,     -- revision in the stream
		id      BLOB NOT NULL,        -- event ID, 16 bytes
		type    TEXT NOT NULL,
		json    INTEGER NOT NULL,     -- 1: application/json, 0: application/octet-stream
		data    BLOB,
		meta    BLOB,
		created INTEGER NOT NULL      -- Unix nanoseconds, UTC
	) STRICT`,
	`CREATE UNIQUE INDEX events_stream_rev ON events (stream, rev)`,
	linksTable,
	settingsTable,
	`INSERT INTO settings (key, value) VALUES ('links', 0)`,
	fmt.Sprintf(`PRAGMA application_id = %d`, applicationID),
	fmt.Sprintf(`PRAGMA user_version = %d`, schemaVersion),
}

// linksTable holds the links of the category and event-type streams ($ce-,
// $et-; see eventstore.IsLinked), written in the transaction that appends
// the events they point to. A link stream has a row in streams like any
// stream (its last link's revision in last, its metadata in meta); its
// links are here, keyed by the stream and the link's revision, with what a
// link shows of its target, so that they outlive a scavenge of it.
const linksTable = `CREATE TABLE links (
		stream  INTEGER NOT NULL,  -- streams.id of the $ce- or $et- stream
		rev     INTEGER NOT NULL,  -- the link's revision in it
		pos     INTEGER NOT NULL,  -- position of the event it points to
		target  INTEGER NOT NULL,  -- streams.id of that event's stream
		trev    INTEGER NOT NULL,  -- and its revision there
		created INTEGER NOT NULL,  -- when that event was written, Unix ns
		PRIMARY KEY (stream, rev)
	) STRICT, WITHOUT ROWID`

// settingsTable holds the file's settings: 'links' is 1 while the links
// of the category and event-type streams are kept (WithSystemStreams).
const settingsTable = `CREATE TABLE settings (
		key   TEXT PRIMARY KEY,
		value INTEGER NOT NULL
	) STRICT, WITHOUT ROWID`

// linksKept reads whether the file keeps the links of the system streams.
func linksKept(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (bool, error) {
	var v int64
	if err := q.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = 'links'`).Scan(&v); err != nil {
		return false, fmt.Errorf("sqlite: read settings: %w", err)
	}
	return v == 1, nil
}

// applySystemStreams makes the file keep the links of the system streams
// or not, as want says (0: as it is), and returns whether it keeps them.
// Turning them on builds the links of every event the file holds; turning
// them off drops them. Either is one transaction.
func applySystemStreams(ctx context.Context, c *sql.Conn, want int8) (bool, error) {
	kept, err := linksKept(ctx, c)
	if err != nil || want == 0 || kept == (want > 0) {
		return kept, err
	}
	on := want > 0
	if _, err := c.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		return kept, fmt.Errorf("sqlite: system streams: %w", err)
	}
	err = func() error {
		// The link streams keep their rows (their metadata may be set) but
		// lose their links.
		if _, err := c.ExecContext(ctx, `DELETE FROM links`); err != nil {
			return err
		}
		if _, err := c.ExecContext(ctx, `UPDATE streams SET last = NULL WHERE substr(name, 1, 4) IN ('$ce-', '$et-')`); err != nil {
			return err
		}
		if on {
			if err := buildLinks(ctx, c); err != nil {
				return err
			}
		}
		v := 0
		if on {
			v = 1
		}
		_, err := c.ExecContext(ctx, `UPDATE settings SET value = ? WHERE key = 'links'`, v)
		return err
	}()
	if err == nil {
		_, err = c.ExecContext(ctx, `COMMIT`)
	}
	if err != nil {
		_, _ = c.ExecContext(ctx, `ROLLBACK`)
		return kept, fmt.Errorf("sqlite: turn system streams %s: %w", map[bool]string{true: "on", false: "off"}[on], err)
	}
	return on, nil
}

// migrate creates the schema in an empty database, upgrades one of an
// earlier version, and checks an existing one; c is the writer connection.
func migrate(ctx context.Context, c *sql.Conn) error {
	app, version, err := header(ctx, c)
	if err != nil {
		return err
	}
	if app == 0 && version == 0 {
		var tables int
		if err := c.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema`).Scan(&tables); err != nil {
			return fmt.Errorf("sqlite: read schema: %w", err)
		}
		if tables > 0 {
			return fmt.Errorf("%w: the database has tables of its own", ErrNotStore)
		}
		script := "BEGIN IMMEDIATE;\n" + strings.Join(schema, ";\n") + ";\nCOMMIT"
		if _, err := c.ExecContext(ctx, script); err != nil {
			_, _ = c.ExecContext(ctx, `ROLLBACK`)
			return fmt.Errorf("sqlite: create schema: %w", err)
		}
		return nil
	}
	if app == applicationID && version == 1 {
		return upgrade1(ctx, c)
	}
	return checkHeader(app, version)
}

// upgrade1 upgrades a version 1 store: it creates the links and settings
// tables, with the system streams off (WithSystemStreams builds their links).
func upgrade1(ctx context.Context, c *sql.Conn) error {
	if _, err := c.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		return fmt.Errorf("sqlite: upgrade schema: %w", err)
	}
	err := func() error {
		for _, q := range []string{linksTable, settingsTable, `INSERT INTO settings (key, value) VALUES ('links', 0)`} {
			if _, err := c.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		_, err := c.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, schemaVersion))
		return err
	}()
	if err == nil {
		_, err = c.ExecContext(ctx, `COMMIT`)
	}
	if err != nil {
		_, _ = c.ExecContext(ctx, `ROLLBACK`)
		return fmt.Errorf("sqlite: upgrade schema from version 1: %w", err)
	}
	return nil
}

// buildPage is how many events buildLinks reads per query.
const buildPage = 4096

// buildLinks writes the links of the events in the file (it has none), reading the log in pages, in position order. Events a scavenge
// removed have no link. Its memory is one page and one counter per link
// stream.
func buildLinks(ctx context.Context, c *sql.Conn) error {
	var nextID int64
	if err := c.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) + 1 FROM streams`).Scan(&nextID); err != nil {
		return err
	}
	type linkStream struct{ id, next int64 }
	heads := make(map[string]*linkStream)
	headOf := func(name string) (*linkStream, error) {
		if h := heads[name]; h != nil {
			return h, nil
		}
		// A link stream may have a row already: its metadata's.
		h := new(linkStream)
		err := c.QueryRowContext(ctx, `INSERT INTO streams (id, name, last, deleted, tombstoned, meta) VALUES (?, ?, NULL, 0, 0, NULL)
			ON CONFLICT (name) DO UPDATE SET last = NULL RETURNING id`, nextID, name).Scan(&h.id)
		if err != nil {
			return nil, err
		}
		if h.id == nextID {
			nextID++
		}
		heads[name] = h
		return h, nil
	}
	type row struct {
		pos, stream, rev, created int64
		typ, name                 string
	}
	var names []string
	for after := int64(0); ; {
		// Only events of user streams whose type does not start with '$'
		// have links.
		rows, err := c.QueryContext(ctx, `SELECT e.pos, e.stream, e.rev, e.created, e.type, s.name FROM events e JOIN streams s ON s.id = e.stream
			WHERE e.pos > ? AND substr(s.name, 1, 1) <> '$' AND substr(e.type, 1, 1) <> '$' ORDER BY e.pos LIMIT ?`, after, buildPage)
		if err != nil {
			return err
		}
		var page []row
		for rows.Next() {
			var r row
			if err = rows.Scan(&r.pos, &r.stream, &r.rev, &r.created, &r.typ, &r.name); err != nil {
				break
			}
			page = append(page, r)
		}
		if err := errors.Join(err, rows.Err(), rows.Close()); err != nil {
			return err
		}
		if len(page) == 0 {
			break
		}
		for _, r := range page {
			after = r.pos
			for _, name := range backend.LinkStreams(names[:0], r.name, r.typ) {
				h, err := headOf(name)
				if err != nil {
					return err
				}
				if _, err := c.ExecContext(ctx, `INSERT INTO links (stream, rev, pos, target, trev, created) VALUES (?, ?, ?, ?, ?, ?)`,
					h.id, h.next, r.pos, r.stream, r.rev, r.created); err != nil {
					return err
				}
				h.next++
			}
		}
	}
	for _, h := range heads {
		if _, err := c.ExecContext(ctx, `UPDATE streams SET last = ? WHERE id = ?`, h.next-1, h.id); err != nil {
			return err
		}
	}
	return nil
}

// rowQuerier is a *sql.Conn or a *sql.DB.
type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// header reads the database header's application_id and user_version.
func header(ctx context.Context, q rowQuerier) (app, version int64, err error) {
	if err := q.QueryRowContext(ctx, `SELECT a.application_id, v.user_version FROM pragma_application_id a, pragma_user_version v`).Scan(&app, &version); err != nil {
		return 0, 0, fmt.Errorf("sqlite: read header: %w", err)
	}
	return app, version, nil
}

func checkHeader(app, version int64) error {
	switch {
	case app != applicationID:
		return fmt.Errorf("%w: application_id is %#x", ErrNotStore, app)
	case version == 1:
		return fmt.Errorf("%w: schema version 1, this build reads %d: open it once for writing to upgrade it", ErrNotStore, schemaVersion)
	case version != schemaVersion:
		return fmt.Errorf("%w: schema version %d, this build reads %d", ErrNotStore, version, schemaVersion)
	}
	return nil
}
