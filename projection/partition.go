package projection

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/schema"
)

// idleWriteInterval bounds how long a partition that only examines events
// goes without writing its checkpoint.
const idleWriteInterval = 5 * time.Second

// item is one event (or checkpoint) on its way to a partition.
type item struct {
	rec   eventstore.RecordedEvent
	cp    Checkpoint // the checkpoint once this item is handled
	event bool
	seq   uint64 // place in the tracker, for partitioned runners
}

// job is an event to hand to its handler.
type job[Tx any] struct {
	it *item
	ev schema.Event
	h  handler[Tx]
}

// A partition handles its share of the events, in order, and commits its
// own checkpoint with its writes.
type partition[Tx any] struct {
	r      *Runner[Tx]
	key    Key
	stored Checkpoint // what the target holds for key
	done   Checkpoint // handled up to here (stored, or ahead after idle items)
	// skipTo: events at or before it were applied before a restart; only
	// partitioned runners resume before their partitions' checkpoints.
	skipTo    Checkpoint
	in        chan []item
	jobs      []job[Tx] // reused between batches
	idle      int
	lastWrite time.Time
}

// handle handles items in order: one transaction for the batch, and one per
// event after a failure, to find the failing one.
func (p *partition[Tx]) handle(ctx context.Context, items []item) error {
	r := p.r
	next := items[len(items)-1].cp
	jobs := p.jobs[:0]
	defer func() {
		clear(jobs)
		p.jobs = jobs[:0]
	}()
	var parks []parkedItem
	skipped := 0
	for i := range items {
		it := &items[i]
		if !it.event || (!p.skipTo.IsZero() && it.cp.Compare(p.skipTo) <= 0) || !r.source.wants(&it.rec) {
			continue
		}
		key := r.o.key(&it.rec)
		if r.parked.isBlocked(key) {
			parks = append(parks, parkedItem{it: it, key: key, reason: ReasonBlocked, err: fmt.Errorf("an earlier event of %q is parked", key)})
			continue
		}
		ev, err := r.p.reg.Decode(it.rec)
		if err != nil {
			r.tel.errors.Add(ctx, 1, r.tel.attrs)
			switch r.o.undecodable {
			case Skip:
				skipped++
				continue
			case Stop:
				return &HandlerError{Projection: r.p.name, Stream: it.rec.Stream, Revision: it.rec.Revision, Type: it.rec.Type, Err: errors.Join(ErrStopped, err)}
			}
			parks = append(parks, parkedItem{it: it, key: key, reason: ReasonUndecodable, err: err})
			continue
		}
		jobs = append(jobs, job[Tx]{it: it, ev: ev, h: r.p.handlers[it.rec.Type]})
	}
	for _, pk := range parks {
		if err := r.park(ctx, pk, 1); err != nil {
			return err
		}
	}
	r.count(skipped, 0)
	if len(jobs) == 0 {
		if next.Compare(p.done) > 0 {
			p.done = next
		}
		p.idle += len(items)
		if next.Compare(p.stored) <= 0 || (len(parks) == 0 && p.idle < r.o.idleEvery && r.o.now().Sub(p.lastWrite) < idleWriteInterval) {
			return nil
		}
		return p.commit(ctx, next, nil)
	}
	err := r.traced(ctx, jobs, func(ctx context.Context) error { return p.commit(ctx, next, jobs) })
	if err == nil {
		r.count(0, len(jobs))
		return nil
	}
	if !handlerFailure(err) {
		// A fence, a cancellation, or the target itself failing (a lost
		// connection): nothing of the batch is kept; the runner stops or
		// resubscribes from the last commit.
		return r.fenceError(ctx, err)
	}
	r.tel.errors.Add(ctx, 1, r.tel.attrs)
	r.o.logger.Warn("projection: batch failed; handling its events one by one", "projection", r.p.name, "error", err)
	return p.oneByOne(ctx, jobs, next)
}

// handlerFailure reports whether err is a handler's failure, which the
// failure policy applies to, rather than the target's or the context's.
func handlerFailure(err error) bool {
	var he *HandlerError
	return errors.As(err, &he) && retryable(err)
}

// commit moves the checkpoint to next with the jobs' writes.
func (p *partition[Tx]) commit(ctx context.Context, next Checkpoint, jobs []job[Tx]) error {
	r := p.r
	err := r.target.Update(ctx, p.key, p.stored, next, func(ctx context.Context, tx Tx) error {
		for _, j := range jobs {
			if err := j.h.handle(j.ev.Context(ctx), tx, j.ev); err != nil {
				return &HandlerError{Projection: r.p.name, Stream: j.it.rec.Stream, Revision: j.it.rec.Revision, Type: j.it.rec.Type, Err: err}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	p.stored, p.done = next, next
	p.idle = 0
	p.lastWrite = r.o.now()
	return nil
}

// oneByOne handles jobs in their own transactions, under the retry policy,
// and applies the failure policy to those that keep failing.
func (p *partition[Tx]) oneByOne(ctx context.Context, jobs []job[Tx], next Checkpoint) error {
	r := p.r
	skipped, handled := 0, 0
	for _, j := range jobs {
		key := r.o.key(&j.it.rec)
		if r.parked.isBlocked(key) {
			if err := r.park(ctx, parkedItem{it: j.it, key: key, reason: ReasonBlocked, err: fmt.Errorf("an earlier event of %q is parked", key)}, 1); err != nil {
				return err
			}
			continue
		}
		attempts := 0
		err := r.o.retry.Wrap(func(ctx context.Context) error {
			attempts++
			return p.commit(ctx, j.it.cp, []job[Tx]{j})
		})(ctx)
		if err == nil {
			handled++
			continue
		}
		if !handlerFailure(err) {
			return r.fenceError(ctx, err)
		}
		r.tel.errors.Add(ctx, 1, r.tel.attrs)
		switch r.o.failures {
		case Stop:
			return &HandlerError{Projection: r.p.name, Stream: j.it.rec.Stream, Revision: j.it.rec.Revision, Type: j.it.rec.Type, Err: errors.Join(ErrStopped, err)}
		case Skip:
			skipped++
		default:
			if err := r.park(ctx, parkedItem{it: j.it, key: key, reason: ReasonFailed, err: err}, attempts); err != nil {
				return err
			}
		}
	}
	r.count(skipped, handled)
	if p.stored != next {
		return p.commit(ctx, next, nil)
	}
	p.done = next
	return nil
}

// count adds to the skipped and handled counters.
func (r *Runner[Tx]) count(skipped, handled int) {
	if skipped == 0 && handled == 0 {
		return
	}
	r.tel.handled.Add(context.Background(), int64(handled), r.tel.attrs)
	r.update(func(st *State) {
		st.Skipped += uint64(skipped)
		st.Handled += uint64(handled)
	})
}

// loop is a partition's worker: it handles the sub-batches the dispatcher
// sends until wctx ends; once ctx (the run's) ends it takes no new batch.
func (p *partition[Tx]) loop(wctx, ctx context.Context, s *session[Tx]) {
	for {
		select {
		case items := <-p.in:
			if ctx.Err() != nil {
				continue
			}
			if err := p.handle(wctx, items); err != nil {
				select {
				case s.failed <- err:
				default:
				}
				return
			}
			s.finished(items)
		case <-wctx.Done():
			return
		}
	}
}

// startWorkers starts the partitions' workers of a partitioned runner, with
// a new tracker, and returns the function that stops them: they finish the
// batch in hand, and the runner resumes from the gap-free checkpoint, each
// partition skipping what it committed beyond it.
func (s *session[Tx]) startWorkers(ctx, work context.Context) (stop func()) {
	if len(s.parts) == 1 {
		return func() {}
	}
	s.track = newTracker()
	select {
	case <-s.failed:
	default:
	}
	wctx, cancel := context.WithCancel(work)
	var wg sync.WaitGroup
	for _, p := range s.parts {
		p.skipTo = p.stored
		p.in = make(chan []item, 4)
		wg.Go(func() { p.loop(wctx, ctx, s) })
	}
	return func() {
		cancel()
		wg.Wait()
		if cp, ok := s.track.gapFree(); ok {
			s.resume = cp
		}
	}
}

// spread splits items among the partitions, in order within each.
func (s *session[Tx]) spread(ctx context.Context, items []item) error {
	r := s.r
	subs := make([][]item, len(s.parts))
	var done []uint64
	for i := range items {
		it := items[i]
		it.seq = s.track.add(it.cp)
		if !it.event {
			done = append(done, it.seq)
			continue
		}
		k := partitionOf(r.o.key(&it.rec), len(s.parts))
		subs[k] = append(subs[k], it)
	}
	s.track.markDone(done...)
	for k, sub := range subs {
		if len(sub) == 0 {
			continue
		}
		select {
		case s.parts[k].in <- sub:
		case err := <-s.failed:
			return err
		case <-ctx.Done():
			return nil
		}
	}
	s.progress(items)
	return nil
}

// finished records that a partition handled items.
func (s *session[Tx]) finished(items []item) {
	seqs := make([]uint64, len(items))
	for i := range items {
		seqs[i] = items[i].seq
	}
	s.track.markDone(seqs...)
	s.progress(items)
}

// progress publishes the gap-free checkpoint.
func (s *session[Tx]) progress(items []item) {
	cp, ok := s.track.gapFree()
	if !ok {
		return
	}
	s.r.mu.Lock()
	moved := cp.Compare(s.r.state.Checkpoint) > 0
	s.r.mu.Unlock()
	if moved {
		s.r.advance(cp, items)
	}
}

// drain waits until every dispatched item is handled, then saves the global
// checkpoint and resumes from it.
func (s *session[Tx]) drain(ctx context.Context) error {
	if s.track == nil {
		return nil
	}
	for {
		empty, changed := s.track.idle()
		if empty {
			break
		}
		select {
		case <-changed:
		case err := <-s.failed:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if cp, ok := s.track.gapFree(); ok {
		s.resume = cp
	}
	return s.saveGlobal(ctx, false)
}

// saveGlobal writes the gap-free checkpoint of a partitioned runner, at most
// once a second unless forced.
func (s *session[Tx]) saveGlobal(ctx context.Context, force bool) error {
	cp, ok := s.track.gapFree()
	if !ok {
		cp = s.resume
	}
	if cp.IsZero() || cp == s.global || (!force && s.r.o.now().Sub(s.track.lastSave) < time.Second) {
		return nil
	}
	if err := s.r.target.Save(ctx, s.r.key(0), s.global, cp); err != nil {
		return s.r.fenceError(ctx, err)
	}
	s.global = cp
	s.track.lastSave = s.r.o.now()
	return nil
}

// A tracker follows dispatched items in order and finds the highest
// checkpoint up to which all are done (gap-aware commit).
type tracker struct {
	mu       sync.Mutex
	base     uint64 // seq of pending[0]
	pending  []trackEntry
	last     Checkpoint // gap-free checkpoint
	moved    bool
	changed  chan struct{}
	lastSave time.Time
}

type trackEntry struct {
	cp   Checkpoint
	done bool
}

func newTracker() *tracker { return &tracker{changed: make(chan struct{})} }

func (t *tracker) add(cp Checkpoint) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pending = append(t.pending, trackEntry{cp: cp})
	return t.base + uint64(len(t.pending)) - 1
}

func (t *tracker) markDone(seqs ...uint64) {
	if len(seqs) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range seqs {
		t.pending[s-t.base].done = true
	}
	n := 0
	for n < len(t.pending) && t.pending[n].done {
		n++
	}
	if n > 0 {
		t.last, t.moved = t.pending[n-1].cp, true
		// Reslice rather than copy: the done prefix leaves in O(1); append
		// reallocates (dropping it) once the backing array is full.
		t.pending = t.pending[n:]
		t.base += uint64(n)
	}
	close(t.changed)
	t.changed = make(chan struct{})
}

// gapFree returns the gap-free checkpoint, if any item was done.
func (t *tracker) gapFree() (Checkpoint, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.last, t.moved
}

// idle reports whether nothing is pending, and a channel closed at the next
// change.
func (t *tracker) idle() (bool, <-chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.pending) == 0, t.changed
}
