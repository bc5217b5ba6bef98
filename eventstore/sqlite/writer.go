package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/internal/recentids"
)

// Limits of one group commit.
const (
	maxBatchRequests = 1024
	maxBatchBytes    = 32 << 20
	queueLength      = 1024
)

type opKind uint8

const (
	opAppend    opKind = iota // append events (user or metadata stream)
	opDelete                  // soft delete
	opTombstone               // hard delete
)

// Request states: an appender withdraws a queued request when its context
// ends; the writer takes it for a commit. Whoever swaps first wins.
const (
	stateQueued uint32 = iota
	stateTaken
	stateWithdrawn
)

// request is one write waiting for the commit loop.
type request struct {
	kind     opKind
	stream   string
	expected eventstore.ExpectedRevision
	events   []eventstore.EventData // prepared
	size     int
	state    atomic.Uint32
	done     chan response // buffered: the writer never blocks on it

	res response // filled in while the batch is built
}

type response struct {
	res eventstore.AppendResult
	err error
}

// writer owns the one connection that writes. Its commit loop takes every
// request queued while the previous commit was syncing and commits them in
// one transaction: concurrent appenders share an fsync.
type writer struct {
	s     *Store
	conn  *sql.Conn
	stmts writeStmts

	queue    chan *request
	stopping chan struct{} // closed by stop: take no more requests
	stopped  chan struct{} // closed when the loop has exited

	// Committed state, owned by the loop goroutine.
	nextPos    uint64 // position of the next event
	nextStream int64  // id of the next new stream
	heads      map[string]*head
	recent     *recentids.Window[int64]
	walPages   int // pages written since the checkpointer was last kicked

	committed atomic.Uint64 // position of the last committed event
	commits   atomic.Uint64
	wantTail  atomic.Bool  // the checkpointer left the last frames to the loop
	inCommit  atomic.Int64 // requests in the batch being committed
	requests  atomic.Uint64
	events    atomic.Uint64
}

func newWriter(ctx context.Context, s *Store, conn *sql.Conn) (*writer, error) {
	w := &writer{
		s:        s,
		conn:     conn,
		queue:    make(chan *request, queueLength),
		stopping: make(chan struct{}),
		stopped:  make(chan struct{}),
		heads:    make(map[string]*head),
		recent:   recentids.New[int64](s.opts.recentIDs),
	}
	if err := w.stmts.prepare(ctx, conn); err != nil {
		return nil, err
	}
	if err := w.load(ctx); err != nil {
		w.stmts.close()
		return nil, err
	}
	go w.loop()
	return w, nil
}

// load reads the committed state: the next position and stream id, and the
// IDs of the last events for the recent-ID cache.
func (w *writer) load(ctx context.Context) error {
	var pos, stream int64
	if err := w.conn.QueryRowContext(ctx, `SELECT coalesce(max(pos), 0) FROM events`).Scan(&pos); err != nil {
		return fmt.Errorf("sqlite: load: %w", err)
	}
	if err := w.conn.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM streams`).Scan(&stream); err != nil {
		return fmt.Errorf("sqlite: load: %w", err)
	}
	w.nextPos, w.nextStream = uint64(pos)+1, stream+1
	w.committed.Store(uint64(pos))
	clear(w.heads)
	w.recent.Reset()
	if w.recent.Max() == 0 {
		return nil
	}
	rows, err := w.conn.QueryContext(ctx, `SELECT id, stream, rev FROM events WHERE rev < ? ORDER BY pos DESC LIMIT ?`,
		int64(eventstore.TombstoneRevision), w.recent.Max())
	if err != nil {
		return fmt.Errorf("sqlite: load: %w", err)
	}
	defer rows.Close()
	var entries []recentEntry
	for rows.Next() {
		var id []byte
		var e recentEntry
		if err := rows.Scan(&id, &e.Stream, &e.Rev); err != nil {
			return fmt.Errorf("sqlite: load: %w", err)
		}
		copy(e.ID[:], id)
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: load: %w", err)
	}
	for i := len(entries) - 1; i >= 0; i-- { // oldest first
		w.recent.Add(entries[i])
	}
	return nil
}

// submit queues r and waits for its outcome.
func (w *writer) submit(ctx context.Context, r *request) (eventstore.AppendResult, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, err
	}
	if w.s.closed.Load() {
		return eventstore.AppendResult{}, eventstore.ErrClosed
	}
	if f := w.s.failed.Load(); f != nil {
		return eventstore.AppendResult{}, f
	}
	r.done = make(chan response, 1)
	select {
	case w.queue <- r:
	case <-w.stopping:
		return eventstore.AppendResult{}, eventstore.ErrClosed
	case <-w.stopped: // the store failed
		return eventstore.AppendResult{}, w.s.stoppedErr()
	case <-ctx.Done():
		return eventstore.AppendResult{}, ctx.Err()
	}
	select {
	case res := <-r.done:
		return res.res, res.err
	case <-ctx.Done():
		// Withdrawn, or being committed: either way the caller stops
		// waiting, as the Store contract allows.
		r.state.CompareAndSwap(stateQueued, stateWithdrawn)
		return eventstore.AppendResult{}, ctx.Err()
	case <-w.stopped:
		select {
		case res := <-r.done:
			return res.res, res.err
		default:
			return eventstore.AppendResult{}, w.s.stoppedErr()
		}
	}
}

// loop is the commit loop: no timers; a batch is whatever queued up while
// the previous commit was running.
func (w *writer) loop() {
	defer close(w.stopped)
	batch := make([]*request, 0, 64)
	for {
		var first *request
		select { // stopping first: once Close was called, queued requests are not started
		case <-w.stopping:
			w.failQueued(eventstore.ErrClosed)
			return
		default:
		}
		select {
		case first = <-w.queue:
		case <-w.stopping:
			w.failQueued(eventstore.ErrClosed)
			return
		}
		batch = append(batch[:0], first)
		size := first.size
	drain:
		for len(batch) < maxBatchRequests && size < maxBatchBytes {
			select {
			case r := <-w.queue:
				batch = append(batch, r)
				size += r.size
			default:
				break drain
			}
		}
		w.inCommit.Store(int64(len(batch)))
		w.commit(batch)
		w.inCommit.Store(0)
		clear(batch)
		if f := w.s.failed.Load(); f != nil {
			// Fail-stop: nothing more is written until a reopen.
			w.failQueued(f)
			return
		}
		if w.wantTail.Swap(false) {
			// Copy the few frames committed since the checkpointer's
			// pass, so that the next commit restarts the log. PASSIVE
			// never waits; other failures leave the work to the next pass.
			if _, err := w.stmts.checkpoint.ExecContext(context.Background()); err != nil {
				w.s.checkpointFailed("tail checkpoint failed", err)
			}
		}
	}
}

// failQueued answers every request still queued with err.
func (w *writer) failQueued(err error) {
	for {
		select {
		case r := <-w.queue:
			if r.state.CompareAndSwap(stateQueued, stateTaken) {
				r.done <- response{err: err}
			}
		default:
			return
		}
	}
}

// stop ends the commit loop and waits for it.
func (w *writer) stop() {
	close(w.stopping)
	<-w.stopped
}

// close checkpoints the log into the database file and truncates it, then
// releases the writer's connection; the loop has stopped. A reader in
// another process can keep the checkpoint from finishing: it then waits
// only briefly, and the log stays for the next writer.
func (w *writer) close() {
	ctx := context.Background()
	w.stmts.close()
	if w.s.failed.Load() == nil { // a failed store writes nothing more
		_, err := w.conn.ExecContext(ctx, `PRAGMA busy_timeout = 200`)
		if err == nil {
			_, err = w.conn.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
		}
		w.s.logClose("checkpoint on close", err)
	}
	w.s.logClose("close the writer connection", w.conn.Close())
}

// commit runs one group commit: every request is checked and planned in
// memory against the batch's view of the streams (so one that fails its own
// check fails alone and writes nothing), then all planned rows are written
// and committed in one transaction, then the committed events are published
// and every caller answered.
//
// A failure before COMMIT wrote nothing: the batch fails, the store reloads
// its state and goes on. A COMMIT that fails for want of space wrote no
// valid commit record either (the log's frames are checksummed and the
// last one is written last). Any other failed COMMIT may or may not be on
// disk, and after a failed fsync the kernel may have dropped the pages it
// could not write while reporting later syncs as successful: the store
// fails (fail-stop, see ErrFailed) and its appends get ErrUnknownOutcome.
func (w *writer) commit(reqs []*request) {
	if f := w.s.failed.Load(); f != nil { // a checkpoint failed meanwhile
		for _, r := range reqs {
			if r.state.CompareAndSwap(stateQueued, stateTaken) {
				r.done <- response{err: f}
			}
		}
		return
	}
	ctx := context.Background()
	b := newBatch(w)
	var err error
	committing := false
	if _, err = w.stmts.begin.ExecContext(ctx); err == nil {
		for _, r := range reqs {
			if !r.state.CompareAndSwap(stateQueued, stateTaken) {
				continue // withdrawn by its caller
			}
			b.taken = append(b.taken, r)
			b.starts = append(b.starts, len(b.rows))
			r.res.res, r.res.err = b.apply(ctx, r)
			b.ends = append(b.ends, len(b.rows))
		}
		if err = b.err; err == nil {
			err = b.flush(ctx)
		}
		if err == nil {
			committing = true
			_, err = w.stmts.commit.ExecContext(ctx)
		}
		if err != nil {
			// After a failed COMMIT SQLite may have rolled back already.
			if _, rerr := w.conn.ExecContext(ctx, `ROLLBACK`); rerr != nil && resultCode(rerr) != codeError {
				w.s.fail(fmt.Errorf("rollback after %w: %w", err, rerr))
			}
		}
	} else {
		for _, r := range reqs {
			if r.state.CompareAndSwap(stateQueued, stateTaken) {
				b.taken = append(b.taken, r)
			}
		}
	}
	switch {
	case err != nil && committing && resultCode(err) != codeFull:
		f := w.s.fail(fmt.Errorf("commit: %w", err))
		unknown := fmt.Errorf("sqlite: commit: %w: %w", eventstore.ErrUnknownOutcome, f)
		for _, r := range b.taken {
			if r.res.err == nil {
				r.res = response{err: unknown}
			}
		}
	case err != nil:
		if resultCode(err) == codeFull {
			err = &DiskFullError{Op: "commit", Err: err}
		} else {
			err = fmt.Errorf("sqlite: commit: %w", err)
		}
		if f := w.s.failed.Load(); f != nil {
			err = f
		} else if lerr := w.load(ctx); lerr != nil {
			// The transaction failed; what the database holds is the
			// truth, and it cannot be read.
			err = w.s.fail(fmt.Errorf("reload after a failed commit: %w", lerr))
		}
		for _, r := range b.taken {
			if r.res.err == nil {
				r.res = response{err: err}
			}
		}
	case len(b.rows) > 0:
		w.adopt(b)
		// One published batch per request, as if each had committed
		// alone: a subscriber's queue bound counts appends, whatever the
		// group commit made of them.
		for i, start := range b.starts {
			if end := b.ends[i]; end > start {
				w.s.hub.Publish(b.rows[start:end:end])
			}
		}
		w.s.hub.PublishStreams(b.liveLinks())
	}
	for _, r := range b.taken {
		r.done <- r.res
	}
}

// adopt makes a committed batch's state the writer's.
func (w *writer) adopt(b *batch) {
	w.nextPos, w.nextStream = b.nextPos, b.nextStream
	if limit := w.s.opts.cachedHeads; len(w.heads)+len(b.heads) > limit {
		for name := range w.heads { // evict arbitrary entries
			delete(w.heads, name)
			if len(w.heads)+len(b.heads) <= limit/2 {
				break
			}
		}
	}
	for name, h := range b.heads {
		h.dirty, h.pend = false, nil
		w.heads[name] = h
	}
	for _, e := range b.ids {
		w.recent.Add(e)
	}
	w.committed.Store(b.nextPos - 1)
	w.commits.Add(1)
	w.requests.Add(uint64(len(b.taken)))
	w.events.Add(uint64(len(b.rows)))
	w.walPages += b.pages()
	if w.walPages >= w.s.opts.checkpointPages {
		w.walPages = 0
		w.s.ckpt.kick()
	}
}
