package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"iter"
	"math"
	"time"

	"github.com/google/uuid"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/backend"
	"github.com/chronicle-go/chronicle/internal/feed"
)

// Bounds of one page of a read: rows per query, and bytes of event data
// held at once (a page ends early once it is reached).
const (
	pageRows  = 512
	pageBytes = 4 << 20
)

// readHead loads a stream's head on a read connection; ok is false when the
// stream has no row.
func (s *Store) readHead(ctx context.Context, name string) (h head, ok bool, err error) {
	var last sql.NullInt64
	err = s.reads.head.QueryRowContext(ctx, name).Scan(&h.id, &last, &h.deleted, &h.tombstoned, &h.meta)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return h, false, nil
	case err != nil:
		return h, false, s.sqlErr(ctx, "read", err)
	}
	h.name = name
	h.exists, h.last = last.Valid, uint64(last.Int64)
	return h, true, nil
}

// ReadStream implements eventstore.Store. A category or event-type stream
// ($ce-, $et-) is read from the links table.
func (s *Store) ReadStream(ctx context.Context, stream string, opts eventstore.ReadOptions) iter.Seq2[eventstore.RecordedEvent, error] {
	return backend.ResolveAll(ctx, s, opts.ResolveLinks, s.readStream(ctx, stream, opts))
}

func (s *Store) readStream(ctx context.Context, stream string, opts eventstore.ReadOptions) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		if err := backend.ValidateRead(stream, opts); err != nil {
			yield(eventstore.RecordedEvent{}, err)
			return
		}
		if err := s.usable(ctx); err != nil {
			yield(eventstore.RecordedEvent{}, err)
			return
		}
		h, ok, err := s.readHead(ctx, stream)
		if of, isMeta := eventstore.IsMetadataStream(stream); isMeta && err == nil {
			// A tombstone deletes the metadata stream too.
			oh, found, oerr := s.readHead(ctx, of)
			if err = oerr; found && oh.tombstoned {
				h.tombstoned = true
			}
		}
		switch {
		case err != nil:
		case h.tombstoned:
			err = &eventstore.StreamDeletedError{Stream: stream}
		case !ok || !h.exists || h.deleted:
			err = &eventstore.StreamNotFoundError{Stream: stream}
		}
		if err != nil {
			yield(eventstore.RecordedEvent{}, err)
			return
		}
		meta := eventstore.StreamMetadata{MaxCount: 1} // metadata streams show their latest event
		if _, isMeta := eventstore.IsMetadataStream(stream); !isMeta {
			if meta, err = h.metadata(); err != nil {
				yield(eventstore.RecordedEvent{}, err)
				return
			}
		}
		first, last := meta.FirstVisible(h.last), h.last
		back := opts.Direction == eventstore.Backwards
		var lo, hi uint64 // revisions still to read, inclusive
		rev, isRev := opts.From.Revision()
		switch {
		case back && isRev:
			lo, hi = first, min(rev, last)
		case back && opts.From.IsStart():
			lo, hi = first, 0
		case back:
			lo, hi = first, last
		case opts.From.IsEnd():
			return
		case isRev:
			lo, hi = max(rev, first), last
		default:
			lo, hi = first, last
		}
		now := s.opts.now()
		visible := func(e *eventstore.RecordedEvent) bool { return meta.Visible(e.Revision, last, e.Created, now) }
		q := streamFwd
		if back {
			q = streamBack
		}
		var linkStmt *sql.Stmt // a $ce- or $et- stream's links
		if backend.IsLinkStream(stream) {
			linkStmt = s.reads.linksFwd
			if back {
				linkStmt = s.reads.linksBack
			}
		}
		pages(yield, opts.MaxCount, func(prev *page) (page, bool, error) {
			switch {
			case prev == nil:
			case back && prev.lastRev == 0:
				return page{}, false, nil
			case back:
				hi = prev.lastRev - 1
			default:
				lo = prev.lastRev + 1
			}
			if lo > hi {
				return page{}, false, nil
			}
			from, to := lo, hi
			if back {
				from, to = hi, lo
			}
			if linkStmt != nil {
				p, err := s.linkPage(ctx, linkStmt, stream, visible, h.id, int64(from), int64(to), pageRows)
				return p, true, err
			}
			p, err := s.page(ctx, q, stream, visible, reuse(prev), h.id, int64(from), int64(to), pageRows)
			return p, true, err
		})
	}
}

// ReadAll implements eventstore.Store. A forwards read ends at the last
// event committed when it started. The links of the category and
// event-type streams are not in $all.
func (s *Store) ReadAll(ctx context.Context, opts eventstore.ReadAllOptions) iter.Seq2[eventstore.RecordedEvent, error] {
	return backend.ResolveAll(ctx, s, opts.ResolveLinks, s.readAll(ctx, opts))
}

func (s *Store) readAll(ctx context.Context, opts eventstore.ReadAllOptions) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		m, err := backend.ValidateReadAll(opts)
		if err != nil {
			yield(eventstore.RecordedEvent{}, err)
			return
		}
		if err := s.usable(ctx); err != nil {
			yield(eventstore.RecordedEvent{}, err)
			return
		}
		back := opts.Direction == eventstore.Backwards
		// [lo, hi] forwards; below hi backwards.
		lo, hi := int64(1), int64(math.MaxInt64)
		pos, isPos := opts.From.Position()
		if isPos {
			lo = int64(min(pos.Commit, math.MaxInt64-1))
			if pos.Prepare > pos.Commit {
				lo++
			}
		}
		switch {
		case back && opts.From.IsStart(), !back && opts.From.IsEnd():
			return
		case back && isPos:
			lo, hi = 1, lo
		case back:
		case !back:
			if err := s.reads.maxPos.QueryRowContext(ctx).Scan(&hi); err != nil {
				yield(eventstore.RecordedEvent{}, s.sqlErr(ctx, "read", err))
				return
			}
		}
		var match func(*eventstore.RecordedEvent) bool
		if m != nil {
			match = m.MatchEvent
		}
		pages(yield, opts.MaxCount, func(prev *page) (page, bool, error) {
			switch {
			case prev == nil:
			case back:
				hi = int64(prev.lastPos)
			default:
				lo = int64(prev.lastPos) + 1
			}
			if lo > hi {
				return page{}, false, nil
			}
			if back {
				p, err := s.page(ctx, allBack, "", match, reuse(prev), hi, pageRows)
				return p, true, err
			}
			p, err := s.page(ctx, allFwd, "", match, reuse(prev), lo, hi, pageRows)
			return p, true, err
		})
	}
}

// pages yields the events of successive pages until the range or a page is
// empty, the consumer stops, max events (0: no limit) were yielded, or a
// query fails. next queries the page after prev (nil at first) and reports
// false when the range is exhausted.
//
// While the consumer handles a page, the next is read on another goroutine
// (read-ahead: a consumer that decodes events does not wait for SQLite, nor
// SQLite for it). At most two pages are held; calls of next never overlap,
// and none runs once pages returns.
func pages(yield func(eventstore.RecordedEvent, error) bool, max uint64, next func(prev *page) (page, bool, error)) {
	type fetched struct {
		p    page
		more bool
		err  error
	}
	ahead := make(chan fetched, 1)
	pending := false
	fetch := func(prev *page) {
		pending = true
		go func() {
			p, more, err := next(prev)
			ahead <- fetched{p, more, err}
		}()
	}
	defer func() {
		if pending {
			<-ahead // a page query, never longer
		}
	}()
	var count uint64
	var spare []eventstore.RecordedEvent // a page's events the consumer has had
	fetch(nil)
	for {
		f := <-ahead
		pending = false
		switch {
		case f.err != nil:
			yield(eventstore.RecordedEvent{}, f.err)
			return
		case !f.more:
			return
		}
		p := f.p
		if p.rows > 0 && (max == 0 || count+uint64(len(p.events)) < max) {
			fetch(&page{rows: p.rows, lastRev: p.lastRev, lastPos: p.lastPos, events: spare})
		}
		for i := range p.events {
			if !yield(p.events[i], nil) {
				return
			}
			if count++; max > 0 && count >= max {
				return
			}
		}
		if !pending {
			return
		}
		spare = p.events
	}
}

// reuse returns the events slice of the page a read has yielded, for the
// next page (nil for the first).
func reuse(prev *page) []eventstore.RecordedEvent {
	if prev == nil {
		return nil
	}
	return prev.events
}

// page is one query's worth of a read.
type page struct {
	events  []eventstore.RecordedEvent // those that passed the filter
	rows    int                        // rows examined
	lastRev uint64                     // revision and position of the last row examined
	lastPos uint64
}

// page runs one page query. Stream reads pass the stream's name (the rows do
// not carry it); $all reads pass "" and the rows carry it (see eventCols).
// keep, when set, filters the events. The events are appended to reuse[:0]
// (nil: a new slice), which the caller no longer needs.
func (s *Store) page(ctx context.Context, q pageQuery, stream string, keep func(*eventstore.RecordedEvent) bool, reuse []eventstore.RecordedEvent, args ...int64) (page, error) {
	p := page{events: reuse[:0]}
	if p.events == nil {
		p.events = make([]eventstore.RecordedEvent, 0, 64)
	}
	var (
		n    [7]int64 // pos, rev, created, json, type, name and data lengths
		size int
	)
	last := recent{intern: s.intern}
	err := s.raw.query(ctx, q, args, n[:], func(packed []byte) (bool, error) {
		pos, rev, nano, isJSON := n[0], n[1], n[2], n[3]
		// Filled in place: an event built aside and passed to keep would
		// escape, an allocation per row.
		p.events = append(p.events, eventstore.RecordedEvent{
			ContentType: eventstore.ContentTypeBinary,
			Stream:      stream,
			Revision:    uint64(rev),
			Position:    eventstore.Position{Commit: uint64(pos), Prepare: uint64(pos)},
			Created:     time.Unix(0, nano).UTC(),
		})
		e := &p.events[len(p.events)-1]
		if err := last.unpack(e, packed, n[4], n[5], n[6]); err != nil {
			return false, err
		}
		if isJSON != 0 {
			e.ContentType = eventstore.ContentTypeJSON
		}
		p.rows++
		p.lastRev, p.lastPos = e.Revision, e.Position.Commit
		size += len(packed)
		if keep != nil && !keep(e) {
			p.events = p.events[:len(p.events)-1]
		}
		return size < pageBytes, nil
	})
	if err != nil {
		return p, s.sqlErr(ctx, "read", err)
	}
	return p, nil
}

// linkPage is page for the links of a category or event-type stream.
func (s *Store) linkPage(ctx context.Context, stmt *sql.Stmt, stream string, keep func(*eventstore.RecordedEvent) bool, args ...any) (page, error) {
	var p page
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return p, s.sqlErr(ctx, "read", err)
	}
	defer rows.Close()
	var (
		rev, pos, trev, nano int64
		target               sql.RawBytes
	)
	for rows.Next() {
		if err = rows.Scan(&rev, &pos, &trev, &nano, &target); err != nil {
			break
		}
		e := backend.Link(stream, uint64(rev), s.intern(target), uint64(trev),
			eventstore.Position{Commit: uint64(pos), Prepare: uint64(pos)}, time.Unix(0, nano).UTC())
		p.rows++
		p.lastRev, p.lastPos = e.Revision, e.Position.Commit
		if keep(&e) {
			p.events = append(p.events, e)
		}
	}
	if err := errors.Join(err, rows.Err()); err != nil {
		return p, s.sqlErr(ctx, "read", err)
	}
	return p, nil
}

// errCorrupt is the error of a row whose packed column does not match its
// lengths.
var errCorrupt = errors.New("corrupt event row")

// recent holds the type and stream name of the row before, which the next
// row often repeats (a batch of one stream): those need no lookup, and no
// allocation once the store's interned strings are full.
type recent struct {
	typ, name string
	intern    func([]byte) string
}

// str returns b as a string: *last if equal, else interned into *last.
func (r *recent) str(b []byte, last *string) string {
	if string(b) != *last {
		*last = r.intern(b)
	}
	return *last
}

// unpack fills e's ID, type, stream (when the row carries it), data and
// metadata from a packed row (see eventCols): ID, type, name, data, then
// metadata. Data and metadata are copied into one new buffer (packed is
// SQLite's memory); the strings are the row before's or interned.
func (r *recent) unpack(e *eventstore.RecordedEvent, packed []byte, typeLen, nameLen, dataLen int64) error {
	idLen := int64(len(uuid.UUID{}))
	if typeLen < 0 || nameLen < 0 || dataLen < 0 || idLen+typeLen+nameLen+dataLen > int64(len(packed)) {
		return errCorrupt
	}
	copy(e.ID[:], packed)
	rest := packed[idLen:]
	e.Type, rest = r.str(rest[:typeLen], &r.typ), rest[typeLen:]
	if nameLen > 0 {
		e.Stream, rest = r.str(rest[:nameLen], &r.name), rest[nameLen:]
	}
	if len(rest) > 0 {
		rest = append([]byte(nil), rest...)
	}
	if dataLen > 0 {
		e.Data = rest[:dataLen:dataLen]
	}
	if rest = rest[dataLen:]; len(rest) > 0 {
		e.Metadata = rest
	}
	return nil
}

// usable checks the store is open and ctx alive before a read starts.
func (s *Store) usable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return eventstore.ErrClosed
	}
	if f := s.failed.Load(); f != nil {
		return f
	}
	return nil
}

// GetStreamMetadata implements eventstore.Store.
func (s *Store) GetStreamMetadata(ctx context.Context, stream string) (eventstore.MetadataResult, error) {
	if err := eventstore.ValidateStreamName("get metadata", stream, true); err != nil {
		return eventstore.MetadataResult{}, err
	}
	if err := s.usable(ctx); err != nil {
		return eventstore.MetadataResult{}, err
	}
	// The stream's head holds a copy of the latest metadata event, written
	// in the same transaction as the metadata stream's head: one query, one
	// snapshot.
	var tombstoned bool
	var rev sql.NullInt64
	var data []byte
	err := s.reads.metadata.QueryRowContext(ctx, stream).Scan(&tombstoned, &rev, &data)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return eventstore.MetadataResult{Revision: eventstore.NoStream}, nil
	case err != nil:
		return eventstore.MetadataResult{}, s.sqlErr(ctx, "get metadata", err)
	case tombstoned: // its metadata stream went with it
		return eventstore.MetadataResult{}, &eventstore.StreamDeletedError{Stream: eventstore.MetadataStreamName(stream)}
	case !rev.Valid:
		return eventstore.MetadataResult{Revision: eventstore.NoStream}, nil
	}
	h := head{name: stream, meta: data}
	meta, err := h.metadata()
	if err != nil {
		return eventstore.MetadataResult{}, err
	}
	return eventstore.MetadataResult{Metadata: meta, Revision: eventstore.Exact(uint64(rev.Int64))}, nil
}

// SubscribeToStream implements eventstore.Store.
func (s *Store) SubscribeToStream(ctx context.Context, stream string, opts eventstore.SubscribeOptions) iter.Seq2[eventstore.Message, error] {
	return feed.SubscribeToStream(ctx, s, s.hub, stream, opts)
}

// SubscribeToAll implements eventstore.Store.
func (s *Store) SubscribeToAll(ctx context.Context, opts eventstore.SubscribeAllOptions) iter.Seq2[eventstore.Message, error] {
	return feed.SubscribeToAll(ctx, s, s.hub, opts)
}

// maxInterned bounds the strings (event types, stream names) a store keeps
// to spare reads an allocation per row.
const maxInterned = 4096

// intern returns b as a string, shared with earlier reads when possible.
func (s *Store) intern(b []byte) string {
	s.internMu.RLock()
	v, ok := s.interned[string(b)]
	s.internMu.RUnlock()
	if ok {
		return v
	}
	v = string(b)
	s.internMu.Lock()
	if s.interned == nil {
		s.interned = make(map[string]string)
	}
	if len(s.interned) < maxInterned {
		s.interned[v] = v
	}
	s.internMu.Unlock()
	return v
}
