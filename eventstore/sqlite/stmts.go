package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

const (
	// insertChunk is the most rows one INSERT statement writes; a batch is
	// written in chunks of 64, 32, …, 1 rows, each a prepared statement.
	insertChunk = 64
)

// chunk returns the largest power of two ≤ min(n, insertChunk).
func chunk(n int) int {
	c := insertChunk
	for c > n {
		c /= 2
	}
	return c
}

// multiRow prepares, on first use, an INSERT of n rows for each chunk size.
type multiRow struct {
	prefix, row, suffix string
	stmts               map[int]*sql.Stmt
}

func (m *multiRow) get(ctx context.Context, c *sql.Conn, n int) (*sql.Stmt, error) {
	if st := m.stmts[n]; st != nil {
		return st, nil
	}
	q := m.prefix + strings.TrimSuffix(strings.Repeat(m.row+",", n), ",") + m.suffix
	st, err := c.PrepareContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	if m.stmts == nil {
		m.stmts = make(map[int]*sql.Stmt)
	}
	m.stmts[n] = st
	return st, nil
}

// exec writes count rows in chunks; add appends row i's arguments to args.
func (m *multiRow) exec(ctx context.Context, c *sql.Conn, count int, add func(args []any, i int) []any) error {
	var args []any
	for i := 0; i < count; {
		n := chunk(count - i)
		args = args[:0]
		for j := i; j < i+n; j++ {
			args = add(args, j)
		}
		st, err := m.get(ctx, c, n)
		if err != nil {
			return err
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return err
		}
		i += n
	}
	return nil
}

func (m *multiRow) close() {
	for _, st := range m.stmts {
		st.Close()
	}
}

// writeStmts are the writer connection's prepared statements.
type writeStmts struct {
	begin, commit *sql.Stmt
	checkpoint    *sql.Stmt
	head          *sql.Stmt
	eventAt       *sql.Stmt
	insertEvents  multiRow
	insertLinks   multiRow
	upsertHeads   multiRow
}

func (w *writeStmts) prepare(ctx context.Context, c *sql.Conn) error {
	w.insertEvents = multiRow{
		prefix: `INSERT INTO events (pos, stream, rev, id, type, json, data, meta, created) VALUES `,
		row:    "(?,?,?,?,?,?,?,?,?)",
	}
	w.insertLinks = multiRow{
		prefix: `INSERT INTO links (stream, rev, pos, target, trev, created) VALUES `,
		row:    "(?,?,?,?,?,?)",
	}
	w.upsertHeads = multiRow{
		prefix: `INSERT INTO streams (id, name, last, deleted, tombstoned, meta) VALUES `,
		row:    "(?,?,?,?,?,?)",
		suffix: ` ON CONFLICT (id) DO UPDATE SET last = excluded.last, deleted = excluded.deleted,
			tombstoned = excluded.tombstoned, meta = excluded.meta`,
	}
	for _, p := range []struct {
		st **sql.Stmt
		q  string
	}{
		{&w.begin, `BEGIN IMMEDIATE`},
		{&w.commit, `COMMIT`},
		{&w.checkpoint, `PRAGMA wal_checkpoint(PASSIVE)`},
		{&w.head, `SELECT id, last, deleted, tombstoned, meta FROM streams WHERE name = ?`},
		{&w.eventAt, `SELECT id, pos FROM events WHERE stream = ? AND rev = ?`},
	} {
		st, err := c.PrepareContext(ctx, p.q)
		if err != nil {
			w.close()
			return fmt.Errorf("sqlite: prepare: %w", err)
		}
		*p.st = st
	}
	return nil
}

func (w *writeStmts) close() {
	for _, st := range []*sql.Stmt{w.begin, w.commit, w.checkpoint, w.head, w.eventAt} {
		if st != nil {
			st.Close()
		}
	}
	w.insertEvents.close()
	w.insertLinks.close()
	w.upsertHeads.close()
}

// readStmts are prepared on the pool of read connections.
type readStmts struct {
	head      *sql.Stmt
	maxPos    *sql.Stmt
	metadata  *sql.Stmt
	linksFwd  *sql.Stmt // a $ce- or $et- stream's links (reads of links stay on database/sql)
	linksBack *sql.Stmt
}

// A read returns each event as one row of few columns: the integers, and
// one BLOB that packs the event ID (16 bytes), the type, the stream name
// ($all reads only), the data and the metadata, whose lengths are the other
// columns (the metadata takes the rest). Every column costs the driver a
// call into SQLite and, for BLOB and TEXT values, two allocations; one BLOB
// is also the single buffer the event's data and metadata share. The
// database is UTF-8, so || joins the bytes as they are.
const (
	packedTail   = ` || coalesce(e.data, x'') || coalesce(e.meta, x'') AS BLOB)`
	eventCols    = `e.pos, e.rev, e.created, e.json, octet_length(e.type), 0, ifnull(length(e.data), 0), CAST(e.id || e.type` + packedTail
	allEventCols = `e.pos, e.rev, e.created, e.json, octet_length(e.type), octet_length(s.name), ifnull(length(e.data), 0), CAST(e.id || e.type || s.name` + packedTail
)

// linkCols are what a read of a $ce- or $et- stream returns of each link.
const linkCols = `l.rev, l.pos, l.trev, l.created, s.name FROM links l JOIN streams s ON s.id = l.target`

func (r *readStmts) prepare(ctx context.Context, db *sql.DB) error {
	for _, p := range []struct {
		st **sql.Stmt
		q  string
	}{
		{&r.head, `SELECT id, last, deleted, tombstoned, meta FROM streams WHERE name = ?`},
		{&r.maxPos, `SELECT coalesce(max(pos), 0) FROM events`},
		{&r.metadata, `SELECT s.tombstoned, m.last, s.meta FROM streams s LEFT JOIN streams m ON m.name = '$$' || s.name WHERE s.name = ?`},
		{&r.linksFwd, `SELECT ` + linkCols + ` WHERE l.stream = ? AND l.rev >= ? AND l.rev <= ? ORDER BY l.rev LIMIT ?`},
		{&r.linksBack, `SELECT ` + linkCols + ` WHERE l.stream = ? AND l.rev <= ? AND l.rev >= ? ORDER BY l.rev DESC LIMIT ?`},
	} {
		st, err := db.PrepareContext(ctx, p.q)
		if err != nil {
			return fmt.Errorf("sqlite: prepare: %w", err)
		}
		*p.st = st
	}
	return nil
}

func (r *readStmts) close() {
	for _, st := range []*sql.Stmt{r.head, r.maxPos, r.metadata, r.linksFwd, r.linksBack} {
		if st != nil {
			st.Close()
		}
	}
}
