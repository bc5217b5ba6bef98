package sqlite

import (
	"context"
	"fmt"
	"log/slog"
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
	failures := 0
	for {
		select {
		case <-w.quit:
			return
		case <-t.C:
			err := w.poll(ctx)
			if err == nil || ctx.Err() != nil {
				failures = 0
				continue
			}
			failures++
			w.s.opts.logger.LogAttrs(ctx, slog.LevelWarn, "polling for new events failed",
				slog.String("path", w.s.path), slog.Int("failures", failures), slog.Any("err", err))
			if failures == maxPollFailures {
				// Live subscribers would otherwise wait for events they
				// will never be sent: end them with the error (they can
				// subscribe again from their last position).
				w.s.hub.Fail(fmt.Errorf("sqlite: watching %s for new events: %w", w.s.path, err))
				failures = 0
			}
		}
	}
}

// maxPollFailures is how many polls in a row may fail (each logged) before
// the live subscriptions of a read-only store end with the error.
const maxPollFailures = 5

// poll publishes the events committed since the last poll.
func (w *watcher) poll(ctx context.Context) error {
	var head int64
	if err := w.s.reads.maxPos.QueryRowContext(ctx).Scan(&head); err != nil {
		return err
	}
	for w.seen < head {
		p, err := w.s.page(ctx, allFwd, "", nil, nil, w.seen+1, head, pageRows)
		if err != nil {
			return err
		}
		if p.rows == 0 {
			return nil
		}
		w.s.hub.Publish(p.events)
		w.seen = int64(p.lastPos)
	}
	return nil
}

func (w *watcher) stop() {
	close(w.quit)
	<-w.done
}
