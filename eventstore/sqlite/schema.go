package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// applicationID marks a Chronicle store ("Chrn") in the database header, so
// that Open refuses other SQLite files.
const applicationID = 0x4368726e

// schemaVersion is the layout below; PRAGMA user_version holds it.
const schemaVersion = 1

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
	fmt.Sprintf(`PRAGMA application_id = %d`, applicationID),
	fmt.Sprintf(`PRAGMA user_version = %d`, schemaVersion),
}

// migrate creates the schema in an empty database and checks an existing
// one; c is the writer connection.
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
	return checkHeader(app, version)
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
	case version != schemaVersion:
		return fmt.Errorf("%w: schema version %d, this build reads %d", ErrNotStore, version, schemaVersion)
	}
	return nil
}
