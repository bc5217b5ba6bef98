package sqlite

import (
	"context"
	"time"
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
