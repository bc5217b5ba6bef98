package sqlite

import (
	"context"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
)

// watcher feeds a read-only store's subscriptions: another process writes,
// so nothing is committed here to publish; instead it polls the end of the
// log and publishes what appeared, in position order. Positions are
// assigned inside the writer's transaction, so there are no gaps to wait
// for.
type watcher struct {
	s    *Store
	seen int64 // position of the last event published
	quit chan struct{}
	done chan struct{}
}

func startWatcher(ctx context.Context, s *Store) (*watcher, error) {
	w := &watcher{s: s, quit: make(chan struct{}), done: make(chan struct{})}
	if err := s.reads.maxPos.QueryRowContext(ctx).Scan(&w.seen); err != nil {
		return nil, s.sqlErr(ctx, "open", err)
	}
	go w.loop()
	return w, nil
}

func (w *watcher) loop() {
	defer close(w.done)
	t := time.NewTicker(w.s.opts.pollInterval)
	defer t.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-w.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		select {
		case <-w.quit:
			return
		case <-t.C:
			w.poll(ctx)
		}
	}
}

// poll publishes the events committed since the last poll; errors (a
// closing store, a busy file) are retried at the next tick.
func (w *watcher) poll(ctx context.Context) {
	var head int64
	if err := w.s.reads.maxPos.QueryRowContext(ctx).Scan(&head); err != nil || head <= w.seen {
		return
	}
	for w.seen < head {
		p, err := w.s.page(ctx, w.s.reads.allFwd, "", nil, w.seen+1, head, pageRows)
		if err != nil || p.rows == 0 {
			return
		}
		w.s.hub.Publish(p.events)
		w.seen = int64(p.lastPos)
	}
}

func (w *watcher) stop() {
	close(w.quit)
	<-w.done
}

// RawScan reads every row of the events table with a plain SQL query
// through the same driver, and returns how many there were: the engine's
// own speed limit for a $all read, which `chronicle bench` compares
// ReadAll with.
func (s *Store) RawScan(ctx context.Context) (int, error) {
	if err := s.usable(ctx); err != nil {
		return 0, err
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT pos, stream, rev, id, type, json, data, meta, created FROM events`)
	if err != nil {
		return 0, s.sqlErr(ctx, "raw scan", err)
	}
	defer rows.Close()
	var (
		pos, stream, rev, isJSON, created int64
		id, data, meta                    []byte
		typ                               string
		n                                 int
	)
	for rows.Next() {
		if err := rows.Scan(&pos, &stream, &rev, &id, &typ, &isJSON, &data, &meta, &created); err != nil {
			return n, s.sqlErr(ctx, "raw scan", err)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, s.sqlErr(ctx, "raw scan", err)
	}
	return n, nil
}

// Stats are counters of a store's activity since it was opened.
type Stats struct {
	Commits       uint64 // transactions the commit loop wrote
	Requests      uint64 // write requests (appends, deletes, metadata) in them
	Events        uint64 // events written
	Queued        int    // write requests waiting for the commit loop now
	Committing    int    // write requests in the commit under way now
	Checkpoints   int    // background checkpoints run
	CheckpointErr error  // the last background checkpoint's error
	Position      eventstore.Position
}

// Stats returns the store's counters; Position is that of the last event
// this store committed (zero for a read-only store).
func (s *Store) Stats() Stats {
	var st Stats
	if s.w != nil {
		st.Commits, st.Requests, st.Events = s.w.commits.Load(), s.w.requests.Load(), s.w.events.Load()
		st.Queued = len(s.w.queue)
		st.Committing = int(s.w.inCommit.Load())
		p := s.w.committed.Load()
		st.Position = eventstore.Position{Commit: p, Prepare: p}
	}
	if s.ckpt != nil {
		st.Checkpoints, st.CheckpointErr = s.ckpt.stats()
	}
	return st
}
