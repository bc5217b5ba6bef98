package sqlite

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/chronicle-go/chronicle/eventstore"
)

// Reads of events (the pages of ReadStream, ReadAll, catch-ups and the
// read-only store's watcher) run on connections of their own, through the
// SQLite library under the driver (modernc.org/sqlite/lib) rather than
// database/sql: the driver hands every column over as an interface, which
// costs a heap allocation per integer above 255 and two per BLOB, five per
// event at best, where this path makes one (the packed BLOB's copy). Other
// queries (heads, metadata) stay on database/sql.

// pageQuery names one of pageQueries.
type pageQuery int

const (
	streamFwd pageQuery = iota
	streamBack
	allFwd
	allBack
	numPageQueries
)

// pageQueries are the page reads; each binds integers only (see eventCols).
var pageQueries = [numPageQueries]string{
	streamFwd:  `SELECT ` + eventCols + ` FROM events e WHERE e.stream = ? AND e.rev >= ? AND e.rev <= ? ORDER BY e.rev LIMIT ?`,
	streamBack: `SELECT ` + eventCols + ` FROM events e WHERE e.stream = ? AND e.rev <= ? AND e.rev >= ? ORDER BY e.rev DESC LIMIT ?`,
	allFwd:     `SELECT ` + allEventCols + ` FROM events e JOIN streams s ON s.id = e.stream WHERE e.pos >= ? AND e.pos <= ? ORDER BY e.pos LIMIT ?`,
	allBack:    `SELECT ` + allEventCols + ` FROM events e JOIN streams s ON s.id = e.stream WHERE e.pos < ? ORDER BY e.pos DESC LIMIT ?`,
}

// rawError is an error SQLite returned on a raw connection; Code is its
// result code, as the driver's errors have (see resultCode).
type rawError struct {
	code int
	msg  string
}

func (e *rawError) Error() string { return fmt.Sprintf("%s (%d)", e.msg, e.code) }

// Code returns SQLite's (extended) result code.
func (e *rawError) Code() int { return e.code }

// rawConn is one read-only connection. One goroutine uses it at a time (the
// pool's), and another may interrupt it while a query runs.
type rawConn struct {
	tls   *libc.TLS
	db    uintptr
	stmts [numPageQueries]uintptr // prepared on first use
}

// openRaw opens a read-only connection to the database URI (the driver's
// DSN without its own parameters: SQLite reads mode and vfs).
func openRaw(uri string) (_ *rawConn, err error) {
	c := &rawConn{tls: libc.NewTLS()}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	name, err := libc.CString(uri)
	if err != nil {
		return nil, err
	}
	defer libc.Xfree(c.tls, name)
	out := c.tls.Alloc(int(unsafe.Sizeof(uintptr(0))))
	defer c.tls.Free(int(unsafe.Sizeof(uintptr(0))))
	rc := sqlite3.Xsqlite3_open_v2(c.tls, name, out, sqlite3.SQLITE_OPEN_READONLY|sqlite3.SQLITE_OPEN_URI|sqlite3.SQLITE_OPEN_NOMUTEX, 0)
	c.db = readPtr(out)
	if rc != sqlite3.SQLITE_OK {
		return nil, c.err(rc)
	}
	if rc := sqlite3.Xsqlite3_extended_result_codes(c.tls, c.db, 1); rc != sqlite3.SQLITE_OK {
		return nil, c.err(rc)
	}
	if rc := sqlite3.Xsqlite3_busy_timeout(c.tls, c.db, 10_000); rc != sqlite3.SQLITE_OK {
		return nil, c.err(rc)
	}
	return c, c.exec(`PRAGMA query_only = 1`)
}

// readPtr reads the pointer SQLite wrote at p (C memory).
func readPtr(p uintptr) uintptr {
	b := libc.GoBytes(p, int(unsafe.Sizeof(uintptr(0))))
	if len(b) == 4 {
		return uintptr(binary.NativeEndian.Uint32(b))
	}
	return uintptr(binary.NativeEndian.Uint64(b))
}

// exec runs one statement that returns no rows.
func (c *rawConn) exec(sql string) error {
	q, err := libc.CString(sql)
	if err != nil {
		return err
	}
	defer libc.Xfree(c.tls, q)
	if rc := sqlite3.Xsqlite3_exec(c.tls, c.db, q, 0, 0, 0); rc != sqlite3.SQLITE_OK {
		return c.err(rc)
	}
	return nil
}

// err returns rc as an error, with the connection's message when it has
// one.
func (c *rawConn) err(rc int32) error {
	msg := libc.GoString(sqlite3.Xsqlite3_errstr(c.tls, rc))
	if c.db != 0 {
		if ext := sqlite3.Xsqlite3_extended_errcode(c.tls, c.db); ext&0xff == rc&0xff {
			rc = ext
			msg = libc.GoString(sqlite3.Xsqlite3_errmsg(c.tls, c.db))
		}
	}
	return &rawError{code: int(rc), msg: msg}
}

// stmt returns the prepared statement of q.
func (c *rawConn) stmt(q pageQuery) (uintptr, error) {
	if st := c.stmts[q]; st != 0 {
		return st, nil
	}
	sql, err := libc.CString(pageQueries[q])
	if err != nil {
		return 0, err
	}
	defer libc.Xfree(c.tls, sql)
	out := c.tls.Alloc(int(unsafe.Sizeof(uintptr(0))))
	defer c.tls.Free(int(unsafe.Sizeof(uintptr(0))))
	if rc := sqlite3.Xsqlite3_prepare_v3(c.tls, c.db, sql, -1, sqlite3.SQLITE_PREPARE_PERSISTENT, out, 0); rc != sqlite3.SQLITE_OK {
		return 0, c.err(rc)
	}
	c.stmts[q] = readPtr(out)
	return c.stmts[q], nil
}

// interrupt stops the statement running on c (from another goroutine,
// while a query runs: see query).
func (c *rawConn) interrupt() {
	// Not c.tls, which the interrupted query uses: a libc.TLS is not safe
	// for concurrent use.
	tls := libc.NewTLS()
	sqlite3.Xsqlite3_interrupt(tls, c.db)
	tls.Close()
}

func (c *rawConn) close() {
	for i, st := range c.stmts {
		if st != 0 {
			sqlite3.Xsqlite3_finalize(c.tls, st)
			c.stmts[i] = 0
		}
	}
	if c.db != 0 {
		sqlite3.Xsqlite3_close_v2(c.tls, c.db)
		c.db = 0
	}
	c.tls.Close()
}

// rawPool holds up to cap(slots) raw connections.
type rawPool struct {
	uri    string
	slots  chan struct{} // one per connection in use
	mu     sync.Mutex
	idle   []*rawConn
	closed bool
}

func newRawPool(uri string, size int) *rawPool {
	return &rawPool{uri: uri, slots: make(chan struct{}, size)}
}

// get returns a connection, opening one if none is idle; it waits while
// all are in use.
func (p *rawPool) get(ctx context.Context) (*rawConn, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	p.mu.Lock()
	switch n := len(p.idle); {
	case p.closed:
		p.mu.Unlock()
		<-p.slots
		return nil, eventstore.ErrClosed
	case n > 0:
		c := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return c, nil
	}
	p.mu.Unlock()
	c, err := openRaw(p.uri)
	if err != nil {
		<-p.slots
		return nil, err
	}
	return c, nil
}

// put gives c back (closing it if the pool is closed).
func (p *rawPool) put(c *rawConn) {
	p.mu.Lock()
	if p.closed {
		c.close()
	} else {
		p.idle = append(p.idle, c)
	}
	p.mu.Unlock()
	<-p.slots
}

// close closes the pool, waiting for the connections in use (a page's
// query, never longer).
func (p *rawPool) close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, c := range idle {
		c.close()
	}
	for range cap(p.slots) {
		p.slots <- struct{}{}
	}
	for range cap(p.slots) {
		<-p.slots // later gets see closed
	}
}

// query runs one page query on a pooled connection: it binds args, and
// calls row for each row with the row's integers (the first len(ints)
// columns) and its packed BLOB (the next column), which is C memory valid
// until the next step; it stops early when row returns false. A done ctx
// interrupts the query.
func (p *rawPool) query(ctx context.Context, q pageQuery, args []int64, ints []int64, row func(packed []byte) (bool, error)) (err error) {
	c, err := p.get(ctx)
	if err != nil {
		return err
	}
	defer p.put(c)
	if err := ctx.Err(); err != nil {
		return err
	}
	st, err := c.stmt(q)
	if err != nil {
		return err
	}
	defer sqlite3.Xsqlite3_reset(c.tls, st)
	for i, a := range args {
		if rc := sqlite3.Xsqlite3_bind_int64(c.tls, st, int32(i+1), a); rc != sqlite3.SQLITE_OK {
			return c.err(rc)
		}
	}
	interrupted := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(interrupted)
		c.interrupt()
	})
	defer func() {
		if !stop() {
			<-interrupted // c goes back to the pool once the interrupt is over
		}
	}()
	for {
		switch rc := sqlite3.Xsqlite3_step(c.tls, st); rc {
		case sqlite3.SQLITE_ROW:
		case sqlite3.SQLITE_DONE:
			return nil
		default:
			return c.err(rc)
		}
		for i := range ints {
			ints[i] = sqlite3.Xsqlite3_column_int64(c.tls, st, int32(i))
		}
		blob := sqlite3.Xsqlite3_column_blob(c.tls, st, int32(len(ints)))
		n := sqlite3.Xsqlite3_column_bytes(c.tls, st, int32(len(ints)))
		var packed []byte
		if n > 0 {
			packed = libc.GoBytes(blob, int(n))
		}
		if more, err := row(packed); err != nil || !more {
			return err
		}
	}
}
