package memory

import (
	"context"
	"encoding/json"
	"iter"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/backend"
	"github.com/chronicle-go/chronicle/internal/feed"
	"github.com/chronicle-go/chronicle/internal/persistent"
	"github.com/chronicle-go/chronicle/internal/recentids"
)

func init() {
	eventstore.Register("memory", eventstore.DriverFunc(func(context.Context, string) (eventstore.Store, error) {
		return New(), nil
	}))
}

// readChunk is how many events a read copies out per lock acquisition.
const readChunk = 256

// Store is an in-memory event store. The zero value is not usable; call New.
type Store struct {
	now func() time.Time
	hub *feed.Hub
	ps  *persistent.Engine // persistent subscriptions, started on first use

	mu      sync.RWMutex
	log     []eventstore.RecordedEvent // $all; the event at index i has position i+1
	streams map[string]*stream
	recent  *recentids.Window[string] // idempotency window, as sqlite's
	closed  bool
}

// DefaultRecentIDs is how many recent event IDs a Store remembers for
// idempotent re-appends with Any or StreamExists, as the sqlite store does
// by default.
const DefaultRecentIDs = 1 << 16

type stream struct {
	revs       []int                     // log index of each revision; dense from 0
	meta       eventstore.StreamMetadata // parsed latest event of $$<name>
	tombstoned bool
}

var _ eventstore.Store = (*Store)(nil)

// An Option configures a Store.
type Option func(*Store)

// WithClock makes the store stamp events with now() instead of time.Now;
// testkit uses it for fake clocks and $maxAge tests.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithRecentIDs sets how many recently written event IDs the store
// remembers for idempotent re-appends with Any or StreamExists (default
// DefaultRecentIDs; 0 remembers none; negative counts as 0), the same rule
// as sqlite.WithRecentIDs, documented in the package doc.
func WithRecentIDs(n int) Option {
	return func(s *Store) { s.recent = recentids.New[string](max(n, 0)) }
}

// New returns an empty Store.
func New(opts ...Option) *Store {
	s := &Store{now: time.Now, hub: feed.NewHub(), streams: make(map[string]*stream), recent: recentids.New[string](DefaultRecentIDs)}
	for _, o := range opts {
		o(s)
	}
	s.ps = persistent.New(s, s.append)
	return s
}

// state returns the stream's state for the shared write rules; s.mu is held.
func (s *Store) state(st *stream) backend.StreamState {
	if st == nil {
		return backend.StreamState{}
	}
	out := backend.StreamState{Tombstoned: st.tombstoned, Deleted: st.meta.IsDeleted()}
	if len(st.revs) > 0 {
		out.Exists, out.Last = true, uint64(len(st.revs)-1)
	}
	return out
}

// lookup is the backend.EventLookup of one stream; s.mu is held.
type lookup struct {
	s    *Store
	name string
	st   *stream
}

func (l lookup) EventAt(rev uint64) (uuid.UUID, eventstore.Position, bool, error) {
	if l.st == nil || rev >= uint64(len(l.st.revs)) {
		return uuid.Nil, eventstore.Position{}, false, nil
	}
	e := &l.s.log[l.st.revs[rev]]
	return e.ID, e.Position, true, nil
}

func (l lookup) RevisionOf(id uuid.UUID) (uint64, bool, error) {
	e, ok := l.s.recent.Get(id)
	if !ok || e.Stream != l.name {
		return 0, false, nil
	}
	return e.Rev, true, nil
}

// Append implements eventstore.Store.
func (s *Store) Append(ctx context.Context, name string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	evs, err := backend.PrepareAppend(name, events)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	return s.append(ctx, name, expected, evs)
}

// append writes prepared events; metadata streams come through here too.
func (s *Store) append(ctx context.Context, name string, expected eventstore.ExpectedRevision, evs []eventstore.EventData) (eventstore.AppendResult, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return eventstore.AppendResult{}, eventstore.ErrClosed
	}
	if s.metadataOfTombstoned(name) {
		return eventstore.AppendResult{}, &eventstore.StreamDeletedError{Stream: name}
	}
	st := s.streams[name]
	plan, err := backend.DecideAppend(name, expected, s.state(st), evs, lookup{s, name, st})
	if err != nil || !plan.Write {
		return plan.Result, err
	}
	start := len(s.log)
	now := s.now().UTC()
	if plan.Undelete {
		meta := st.meta
		meta.TruncateBefore = plan.First
		if err := s.writeMetadata(name, meta, now); err != nil {
			return eventstore.AppendResult{}, err
		}
	}
	st = s.ensure(name)
	for i := range evs {
		s.record(name, st, &evs[i], plan.First+uint64(i), now)
	}
	res := plan.Result
	res.Position = s.log[len(s.log)-1].Position
	s.publish(start)
	return res, nil
}

// metadataOfTombstoned reports whether name is the metadata stream of a
// tombstoned stream, which is deleted with it, as in EventStoreDB. s.mu is
// held.
func (s *Store) metadataOfTombstoned(name string) bool {
	of, ok := eventstore.IsMetadataStream(name)
	if !ok {
		return false
	}
	st := s.streams[of]
	return st != nil && st.tombstoned
}

func (s *Store) ensure(name string) *stream {
	st := s.streams[name]
	if st == nil {
		st = &stream{}
		s.streams[name] = st
	}
	return st
}

// record adds one event to the log and to its stream; s.mu is held.
func (s *Store) record(name string, st *stream, e *eventstore.EventData, rev uint64, now time.Time) {
	pos := uint64(len(s.log) + 1)
	s.log = append(s.log, eventstore.RecordedEvent{
		ID:          e.ID,
		Type:        e.Type,
		ContentType: e.ContentType,
		Data:        clone(e.Data),
		Metadata:    clone(e.Metadata),
		Stream:      name,
		Revision:    rev,
		Position:    eventstore.Position{Commit: pos, Prepare: pos},
		Created:     now,
	})
	if rev != eventstore.TombstoneRevision {
		st.revs = append(st.revs, len(s.log)-1)
		s.recent.Add(recentids.Entry[string]{ID: e.ID, Stream: name, Rev: rev})
	}
	if of, ok := eventstore.IsMetadataStream(name); ok {
		var meta eventstore.StreamMetadata
		_ = json.Unmarshal(e.Data, &meta) // written by PrepareMetadata: valid
		s.ensure(of).meta = meta
	}
}

// writeMetadata appends meta to $$name and caches it; s.mu is held.
func (s *Store) writeMetadata(name string, meta eventstore.StreamMetadata, now time.Time) error {
	ev, err := backend.PrepareMetadata(name, meta)
	if err != nil {
		return err
	}
	mname := eventstore.MetadataStreamName(name)
	ms := s.ensure(mname)
	s.record(mname, ms, &ev, uint64(len(ms.revs)), now)
	return nil
}

// publish hands the events from log index start on to live subscribers, as
// copies: a subscriber that modifies an event's Data must not change the
// store. s.mu is held.
func (s *Store) publish(start int) {
	batch := make([]eventstore.RecordedEvent, len(s.log)-start)
	for i := range batch {
		batch[i] = copyOut(&s.log[start+i])
	}
	s.hub.Publish(batch)
}

// copyOut returns e with its own Data and Metadata, as a read hands it out.
func copyOut(e *eventstore.RecordedEvent) eventstore.RecordedEvent {
	c := *e
	c.Data, c.Metadata = clone(e.Data), clone(e.Metadata)
	return c
}

func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

// SetStreamMetadata implements eventstore.Store.
func (s *Store) SetStreamMetadata(ctx context.Context, name string, expected eventstore.ExpectedRevision, meta eventstore.StreamMetadata) (eventstore.AppendResult, error) {
	ev, err := backend.PrepareMetadata(name, meta)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	return s.append(ctx, eventstore.MetadataStreamName(name), expected, []eventstore.EventData{ev})
}

// GetStreamMetadata implements eventstore.Store.
func (s *Store) GetStreamMetadata(ctx context.Context, name string) (eventstore.MetadataResult, error) {
	if err := eventstore.ValidateStreamName("get metadata", name, true); err != nil {
		return eventstore.MetadataResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return eventstore.MetadataResult{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return eventstore.MetadataResult{}, eventstore.ErrClosed
	}
	mname := eventstore.MetadataStreamName(name)
	if s.metadataOfTombstoned(mname) {
		return eventstore.MetadataResult{}, &eventstore.StreamDeletedError{Stream: mname}
	}
	ms := s.streams[mname]
	if ms == nil || len(ms.revs) == 0 {
		return eventstore.MetadataResult{Revision: eventstore.NoStream}, nil
	}
	var meta eventstore.StreamMetadata
	if err := json.Unmarshal(s.log[ms.revs[len(ms.revs)-1]].Data, &meta); err != nil {
		return eventstore.MetadataResult{}, err
	}
	return eventstore.MetadataResult{Metadata: meta, Revision: eventstore.Exact(uint64(len(ms.revs) - 1))}, nil
}

// Delete implements eventstore.Store.
func (s *Store) Delete(ctx context.Context, name string, expected eventstore.ExpectedRevision) (eventstore.DeleteResult, error) {
	return s.remove(ctx, "delete", name, expected, false)
}

// Tombstone implements eventstore.Store.
func (s *Store) Tombstone(ctx context.Context, name string, expected eventstore.ExpectedRevision) (eventstore.DeleteResult, error) {
	return s.remove(ctx, "tombstone", name, expected, true)
}

func (s *Store) remove(ctx context.Context, op, name string, expected eventstore.ExpectedRevision, tombstone bool) (eventstore.DeleteResult, error) {
	if err := eventstore.ValidateStreamName(op, name, false); err != nil {
		return eventstore.DeleteResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return eventstore.DeleteResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return eventstore.DeleteResult{}, eventstore.ErrClosed
	}
	st := s.streams[name]
	_, hasMeta := s.streams[eventstore.MetadataStreamName(name)]
	if err := backend.DecideDelete(name, expected, s.state(st), hasMeta, tombstone); err != nil {
		return eventstore.DeleteResult{}, err
	}
	start := len(s.log)
	now := s.now().UTC()
	if tombstone {
		st = s.ensure(name)
		s.record(name, st, &eventstore.EventData{ID: uuid.New(), Type: eventstore.StreamDeletedEventType, ContentType: eventstore.ContentTypeBinary}, eventstore.TombstoneRevision, now)
		st.tombstoned = true
	} else {
		// As EventStoreDB, the delete record is {"$tb": max} alone: other
		// metadata keys are dropped.
		meta := eventstore.StreamMetadata{TruncateBefore: eventstore.TombstoneRevision}
		if err := s.writeMetadata(name, meta, now); err != nil {
			return eventstore.DeleteResult{}, err
		}
	}
	s.publish(start)
	return eventstore.DeleteResult{Position: s.log[len(s.log)-1].Position}, nil
}

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, name string, opts eventstore.ReadOptions) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		if err := backend.ValidateRead(name, opts); err != nil {
			yield(eventstore.RecordedEvent{}, err)
			return
		}
		back := opts.Direction == eventstore.Backwards
		var next uint64 // next revision to look at
		// The read ends at the stream's state when it started, as SQLite's
		// snapshot reads do: events appended meanwhile are not read.
		s.mu.RLock()
		first, last, err := s.visibleRange(name)
		var meta eventstore.StreamMetadata
		var st *stream
		if err == nil {
			st = s.streams[name]
			meta = s.metaOf(name, st)
		}
		s.mu.RUnlock()
		if err != nil {
			yield(eventstore.RecordedEvent{}, err)
			return
		}
		rev, isRev := opts.From.Revision()
		switch {
		case back && isRev:
			next = min(rev, last)
		case back && opts.From.IsStart():
			next = 0 // only revision 0, if visible
		case back:
			next = last
		case isRev:
			next = max(rev, first)
		case opts.From.IsEnd():
			return
		default:
			next = first
		}
		now := s.now()
		s.paged(ctx, opts.MaxCount, yield, func(buf []eventstore.RecordedEvent, room int) ([]eventstore.RecordedEvent, bool) {
			for len(buf) < room {
				if (!back && next > last) || (back && next < first) || next == ^uint64(0) {
					return buf, false
				}
				e := &s.log[st.revs[next]]
				if meta.Visible(next, last, e.Created, now) {
					buf = append(buf, copyOut(e))
				}
				if back {
					next--
				} else {
					next++
				}
			}
			return buf, true
		})
	}
}

// paged yields the events fill collects under the read lock, a chunk of at
// most room events at a time, so that no lock is held while the consumer
// runs. It stops when fill reports no more, maxCount events were yielded,
// the consumer stops, the store closes or ctx ends.
func (s *Store) paged(ctx context.Context, maxCount uint64, yield func(eventstore.RecordedEvent, error) bool, fill func(buf []eventstore.RecordedEvent, room int) ([]eventstore.RecordedEvent, bool)) {
	count := uint64(0)
	buf := make([]eventstore.RecordedEvent, 0, readChunk)
	for maxCount == 0 || count < maxCount {
		room := readChunk
		if maxCount > 0 {
			room = int(min(uint64(readChunk), maxCount-count))
		}
		s.mu.RLock()
		if s.closed {
			s.mu.RUnlock()
			yield(eventstore.RecordedEvent{}, eventstore.ErrClosed)
			return
		}
		var more bool
		buf, more = fill(buf[:0], room)
		s.mu.RUnlock()
		for _, e := range buf {
			if !yield(e, nil) {
				return
			}
		}
		count += uint64(len(buf))
		if !more {
			return
		}
		if err := ctx.Err(); err != nil {
			yield(eventstore.RecordedEvent{}, err)
			return
		}
	}
}

// metaOf returns the metadata that governs reads of the stream; metadata
// streams keep only their latest event visible. s.mu is held.
func (s *Store) metaOf(name string, st *stream) eventstore.StreamMetadata {
	if _, ok := eventstore.IsMetadataStream(name); ok {
		return eventstore.StreamMetadata{MaxCount: 1}
	}
	return st.meta
}

// visibleRange checks a stream can be read and returns its lowest visible
// and last revision (ignoring $maxAge). s.mu is held.
func (s *Store) visibleRange(name string) (first, last uint64, err error) {
	if s.closed {
		return 0, 0, eventstore.ErrClosed
	}
	st := s.streams[name]
	switch {
	case st != nil && st.tombstoned, s.metadataOfTombstoned(name):
		return 0, 0, &eventstore.StreamDeletedError{Stream: name}
	case st == nil || len(st.revs) == 0 || st.meta.IsDeleted():
		return 0, 0, &eventstore.StreamNotFoundError{Stream: name}
	}
	last = uint64(len(st.revs) - 1)
	meta := s.metaOf(name, st)
	return meta.FirstVisible(last), last, nil
}

// ReadAll implements eventstore.Store.
func (s *Store) ReadAll(ctx context.Context, opts eventstore.ReadAllOptions) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		m, err := backend.ValidateReadAll(opts)
		if err != nil {
			yield(eventstore.RecordedEvent{}, err)
			return
		}
		back := opts.Direction == eventstore.Backwards
		s.mu.RLock()
		n := len(s.log)
		s.mu.RUnlock()
		var next int // index into the log
		pos, isPos := opts.From.Position()
		switch {
		case back && opts.From.IsStart():
			return
		case back && isPos: // last event before pos
			next = firstAtOrAfter(pos, n) - 1
		case back:
			next = n - 1
		case opts.From.IsEnd():
			return
		case isPos:
			next = firstAtOrAfter(pos, n)
		}
		s.paged(ctx, opts.MaxCount, yield, func(buf []eventstore.RecordedEvent, room int) ([]eventstore.RecordedEvent, bool) {
			// Bound the work done under the lock when the filter is selective.
			for scanned := 0; scanned < 8*readChunk && len(buf) < room; scanned++ {
				if next < 0 || next >= n { // a forwards read ends where $all ended when it started
					return buf, false
				}
				if e := &s.log[next]; m.MatchEvent(e) {
					buf = append(buf, copyOut(e))
				}
				if back {
					next--
				} else {
					next++
				}
			}
			return buf, true
		})
	}
}

// firstAtOrAfter returns the log index of the first event whose position is
// at or after pos (n when there is none).
func firstAtOrAfter(pos eventstore.Position, n int) int {
	if pos.Commit == 0 {
		return 0
	}
	i := int(min(pos.Commit-1, uint64(n)))
	if i < n && pos.Prepare > pos.Commit { // past the event at Commit
		i++
	}
	return i
}

// SubscribeToStream implements eventstore.Store.
func (s *Store) SubscribeToStream(ctx context.Context, name string, opts eventstore.SubscribeOptions) iter.Seq2[eventstore.Message, error] {
	return feed.SubscribeToStream(ctx, s, s.hub, name, opts)
}

// SubscribeToAll implements eventstore.Store.
func (s *Store) SubscribeToAll(ctx context.Context, opts eventstore.SubscribeAllOptions) iter.Seq2[eventstore.Message, error] {
	return feed.SubscribeToAll(ctx, s, s.hub, opts)
}

// Close implements eventstore.Store.
func (s *Store) Close() error {
	_ = s.ps.Close() // first: its groups checkpoint through the store
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		s.hub.Close()
	}
	return nil
}
