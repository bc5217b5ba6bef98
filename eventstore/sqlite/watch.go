package sqlite

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/backend"
)

// watcher feeds a read-only store's subscriptions: another process writes,
// so nothing is committed here to publish; instead it polls the end of the
// log and publishes what appeared, in position order. Positions are
// assigned inside the writer's transaction, so there are no gaps to wait
// for.
type watcher struct {
	s    *Store
	seen int64 // position of the last event published
	// links: the revision of the last link published, by the category and
	// event-type streams live subscribers listen to.
	links map[string]int64
	quit  chan struct{}
	done  chan struct{}
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
	before := w.seen
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
	return w.pollLinks(ctx, before)
}

// pollLinks publishes the links of the category and event-type streams
// that live subscribers listen to, up to the last event published. A
// stream the watcher did not follow yet starts after its last link to an
// event published by an earlier poll: a subscriber that registered since
// read those from storage.
func (w *watcher) pollLinks(ctx context.Context, before int64) error {
	listened := w.s.hub.Listened(backend.IsLinkStream)
	if len(listened) == 0 {
		w.links = nil
		return nil
	}
	follow := make(map[string]int64, len(listened))
	for _, name := range listened {
		last, ok := w.links[name]
		if !ok {
			var err error
			if last, err = w.lastLinkBefore(ctx, name, before); err != nil {
				return err
			}
		}
		follow[name] = last
	}
	w.links = follow
	for _, name := range listened {
		h, ok, err := w.s.readHead(ctx, name)
		if err != nil || !ok {
			continue
		}
		for {
			from := w.links[name] + 1
			p, err := w.s.linkPage(ctx, w.s.reads.linksFwd, name, func(e *eventstore.RecordedEvent) bool { return int64(e.Position.Commit) <= w.seen },
				h.id, from, int64(math.MaxInt64), pageRows)
			if err != nil {
				return err
			}
			w.s.hub.PublishStreams(p.events)
			if len(p.events) > 0 {
				w.links[name] = int64(p.events[len(p.events)-1].Revision)
			}
			if len(p.events) < pageRows {
				break
			}
		}
	}
	return nil
}

// lastLinkBefore returns the revision of the last link of a link stream to
// an event at or before position before (-1 when there is none). Links are in
// position order, so it reads back from the end.
func (w *watcher) lastLinkBefore(ctx context.Context, name string, before int64) (int64, error) {
	h, ok, err := w.s.readHead(ctx, name)
	if err != nil || !ok || !h.exists {
		return -1, err
	}
	hi := int64(h.last)
	for hi >= 0 {
		p, err := w.s.linkPage(ctx, w.s.reads.linksBack, name, func(*eventstore.RecordedEvent) bool { return true }, h.id, hi, int64(0), pageRows)
		if err != nil {
			return 0, err
		}
		for _, l := range p.events {
			if int64(l.Position.Commit) <= before {
				return int64(l.Revision), nil
			}
		}
		hi = int64(p.lastRev) - 1 // -1 after an empty page
	}
	return -1, nil
}

func (w *watcher) stop() {
	close(w.quit)
	<-w.done
}
