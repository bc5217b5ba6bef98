package projection

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"iter"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/internal/backoff"
	"github.com/chronicle-go/chronicle/resilience"
)

// A Runner runs one projection: it loads the stored checkpoint, subscribes
// to the projection's source after it, hands each event to its handler
// inside the target's transactions, moves the checkpoint with them, and
// keeps going live. It resubscribes by itself when the subscription drops,
// parks events it cannot handle, and on a Rebuilder target builds a new
// version beside the live one and promotes it once caught up.
//
// Run it in its own goroutine; State, Status, WaitFor and WaitCaughtUp are
// safe to call concurrently with it.
type Runner[Tx any] struct {
	store  eventstore.Store
	p      *Projection[Tx]
	target Target[Tx]
	o      options
	tel    *telemetry
	source *sourceFilter

	runMu   sync.Mutex // held by Run
	mu      sync.Mutex
	state   State
	lastPos eventstore.Position // position of the last event handled or examined
	runErr  error
	changed chan struct{}

	replays chan replayRequest
	parked  *parkedSet
	pers    *persistentSource[Tx] // WithPersistentGroup
}

// NewRunner returns a runner of p over store, writing into target. It
// checks the definition and the options; errors match ErrInvalidProjection.
func NewRunner[Tx any](store eventstore.Store, p *Projection[Tx], target Target[Tx], opts ...Option) (*Runner[Tx], error) {
	switch {
	case p == nil:
		return nil, fmt.Errorf("%w: nil projection", ErrInvalidProjection)
	case store == nil:
		return nil, invalid(p.name, "nil store")
	case target == nil:
		return nil, invalid(p.name, "nil target")
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	o := defaultOptions()
	for _, opt := range opts {
		if opt == nil {
			return nil, invalid(p.name, "nil option")
		}
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("projection %q: %w", p.name, err)
		}
	}
	if o.retry == nil {
		retry, err := resilience.NewRetry(resilience.RetryConfig{MaxAttempts: 3, RetryIf: retryable})
		if err != nil {
			return nil, err
		}
		o.retry = retry
	}
	src, err := newSourceFilter(p)
	if err != nil {
		return nil, err
	}
	var pers *persistentSource[Tx]
	if o.persistent != nil {
		if pers, err = newPersistentSource(store, p, target, &o); err != nil {
			return nil, err
		}
	}
	tel, err := newTelemetry(p.name, o)
	if err != nil {
		return nil, err
	}
	r := &Runner[Tx]{
		pers:  pers,
		store: store, p: p, target: target, o: o, tel: tel, source: src,
		changed: make(chan struct{}),
		replays: make(chan replayRequest),
	}
	r.state = State{Projection: p.name, Version: p.version}
	tel.observe(r.gaugeValues)
	return r, nil
}

// retryable reports whether a handler failure is worth retrying: not a
// fence, not a cancellation.
func retryable(err error) bool {
	return !errors.Is(err, ErrFenced) && !errors.Is(err, ErrRetired) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// Run runs the projection until ctx ends (it then finishes the events in
// hand, saves its checkpoint and returns nil), the projection stops on an
// event (ErrStopped), another runner takes its checkpoint (ErrFenced), a
// newer version takes over (ErrRetired), or the store fails in a way that
// resubscribing cannot cure (ErrClosed, ErrStreamDeleted, a definition
// error). A Runner runs once at a time; Run again after it returned to
// restart it.
func (r *Runner[Tx]) Run(ctx context.Context) error {
	if !r.runMu.TryLock() {
		return fmt.Errorf("projection %q: already running", r.p.name)
	}
	defer r.runMu.Unlock()
	r.update(func(s *State) {
		*s = State{Projection: r.p.name, Version: r.p.version, Running: true, Started: r.o.now()}
	})
	r.mu.Lock()
	r.runErr = nil
	r.mu.Unlock()
	var err error
	if r.pers != nil {
		err = r.runPersistent(ctx)
	} else {
		err = r.run(ctx)
	}
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		err = nil
	}
	r.mu.Lock()
	r.runErr = err
	r.mu.Unlock()
	r.update(func(s *State) {
		s.Running = false
		s.CaughtUp = false
		if err != nil {
			s.LastError = err
		}
	})
	return err
}

// session is one Run: the partitions, the rebuild state and the position
// the subscription resumes from.
type session[Tx any] struct {
	r        *Runner[Tx]
	parts    []*partition[Tx]
	global   Checkpoint // stored checkpoint of partition 0 when partitioned
	resume   Checkpoint // where the next subscription starts (exclusive)
	building int        // live version being replaced; 0 when this version is live
	track    *tracker
	failed   chan error // first worker failure
	buf      []item     // the batch of an unpartitioned runner, reused
}

func (r *Runner[Tx]) run(ctx context.Context) error {
	s := &session[Tx]{r: r, failed: make(chan error, 1)}
	if err := s.prepare(ctx); err != nil {
		return err
	}
	// Work done after ctx ends (finishing the batch in hand, saving the
	// checkpoint) runs on a context that is not canceled with it.
	work := context.WithoutCancel(ctx)
	err := s.loop(ctx, work)
	return errors.Join(err, s.finish(work))
}

// prepare checks the target and loads the checkpoints and parked events.
func (s *session[Tx]) prepare(ctx context.Context) error {
	r := s.r
	key := r.key(0)
	building, err := r.prepareVersion(ctx, key, func() error {
		if pc, ok := r.target.(PartitionCounter); ok {
			if err := pc.SetPartitions(ctx, r.p.name, r.p.version, r.o.workers); err != nil {
				return fmt.Errorf("projection %q: %w", r.p.name, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.building = building
	live := building == 0
	global, err := r.load(ctx, key)
	if err != nil {
		return err
	}
	s.global, s.resume = global, global
	n := r.o.workers
	if n == 1 {
		s.parts = []*partition[Tx]{{r: r, key: key, stored: global, done: global}}
	} else {
		for i := 1; i <= n; i++ {
			cp, err := r.load(ctx, r.key(i))
			if err != nil {
				return err
			}
			s.parts = append(s.parts, &partition[Tx]{r: r, key: r.key(i), stored: cp, done: cp})
		}
	}
	parked, err := readParked(ctx, r.store, r.p.name, r.p.version)
	if err != nil {
		return err
	}
	r.parked = parked
	r.update(func(st *State) {
		st.Live = live
		st.Checkpoint = global
		st.Blocked = parked.blockedCount()
	})
	return nil
}

// prepareVersion prepares the target for the projection's version (a
// Preparer's setup, then between, then a Rebuilder's live version: the
// version is promoted when none is live) and returns the live version this
// one is being built beside, or 0 when this version is live.
func (r *Runner[Tx]) prepareVersion(ctx context.Context, key Key, between func() error) (building int, err error) {
	if prep, ok := r.target.(Preparer[Tx]); ok {
		if err := prep.Prepare(ctx, key, r.p.setup, r.p.tables); err != nil {
			return 0, fmt.Errorf("projection %q: prepare: %w", r.p.name, err)
		}
	}
	if err := between(); err != nil {
		return 0, err
	}
	rb, ok := r.target.(Rebuilder)
	if !ok {
		return 0, nil
	}
	v, err := rb.Live(ctx, r.p.name)
	if err != nil {
		return 0, fmt.Errorf("projection %q: live version: %w", r.p.name, err)
	}
	switch {
	case v == 0:
		if err := rb.Promote(ctx, r.p.name, r.p.version); err != nil {
			return 0, fmt.Errorf("projection %q: promote: %w", r.p.name, err)
		}
	case v > r.p.version:
		return 0, fmt.Errorf("%w: projection %q version %d; version %d is live", ErrRetired, r.p.name, r.p.version, v)
	case v < r.p.version:
		return v, nil
	}
	return 0, nil
}

func (r *Runner[Tx]) key(partition int) Key {
	return Key{Projection: r.p.name, Version: r.p.version, Partition: partition}
}

// load loads a checkpoint and checks its kind against the source's.
func (r *Runner[Tx]) load(ctx context.Context, key Key) (Checkpoint, error) {
	cp, err := r.target.Load(ctx, key)
	if err != nil {
		return cp, fmt.Errorf("projection %q: load checkpoint %v: %w", r.p.name, key, err)
	}
	if want := r.p.source.kind(); cp.Kind != NoCheckpoint && cp.Kind != want {
		return cp, fmt.Errorf("%w: %v holds a %v checkpoint (%v); the source reads %v checkpoints",
			ErrCheckpointMismatch, key, cp.Kind, cp, want)
	}
	return cp, nil
}

// loop subscribes, resubscribing after drops, until ctx ends or a fatal
// error.
func (s *session[Tx]) loop(ctx, work context.Context) error {
	r := s.r
	watch, stopWatch := s.watchReplays(ctx)
	defer stopWatch()
	return r.retryLoop(ctx, func() (bool, error) {
		stopWorkers := s.startWorkers(ctx, work)
		defer stopWorkers()
		return s.subscribe(ctx, work, watch)
	}, func(err error, delay time.Duration) {
		r.o.logger.Warn("projection: subscription dropped; resubscribing", "projection", r.p.name, "error", err, "delay", delay, "from", s.resume)
	})
}

// retryLoop runs once until it returns nil or a fatal error, or ctx ends;
// after other errors it runs it again after a backoff with full jitter,
// which restarts after a run that progressed (once reports whether it did).
// drop logs each drop.
func (r *Runner[Tx]) retryLoop(ctx context.Context, once func() (progressed bool, err error), drop func(err error, delay time.Duration)) error {
	b := backoff.Policy{Initial: r.o.resubscribe[0], Max: r.o.resubscribe[1], Multiplier: 2, Jitter: backoff.Full}
	attempt := 0
	var delay time.Duration
	for {
		progressed, err := once()
		if err == nil || ctx.Err() != nil {
			return err
		}
		if fatal(err) {
			return err
		}
		if progressed {
			attempt = 0
		}
		attempt++
		delay = b.Delay(attempt, delay, rand.Float64())
		drop(err, delay)
		r.update(func(st *State) {
			st.LastError = err
			st.Resubscriptions++
			st.CaughtUp = false
		})
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// fatal reports whether resubscribing cannot help.
func fatal(err error) bool {
	for _, target := range []error{ErrStopped, ErrFenced, ErrRetired, ErrInvalidProjection, ErrCheckpointMismatch, ErrPartitionCount,
		eventstore.ErrClosed, eventstore.ErrStreamDeleted, eventstore.ErrInvalidArgument} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// subscribe runs one subscription from s.resume until it fails or ctx
// ends; it reports whether it had caught up.
func (s *session[Tx]) subscribe(ctx, work context.Context, watch <-chan replayRequest) (caughtUp bool, err error) {
	r := s.r
	p := startPump(ctx, 2*r.o.batchSize, func(ctx context.Context) iter.Seq2[eventstore.Message, error] {
		return r.source.subscribe(ctx, r.store, s.resume)
	})
	defer p.stop()
	batch := make([]eventstore.Message, 0, r.o.batchSize)
	for {
		var first pumped[eventstore.Message]
		var ok bool
		select {
		case first, ok = <-p.in:
		case req := <-r.replays:
			req.reply <- s.replay(work, req)
			continue
		case req := <-watch:
			s.replay(work, req)
			continue
		case err := <-s.failed:
			return caughtUp, err
		case <-ctx.Done():
			return caughtUp, nil
		}
		if !ok {
			if ctx.Err() != nil {
				return caughtUp, nil
			}
			return caughtUp, errors.New("projection: subscription ended")
		}
		var subErr error
		batch, subErr = p.gather(first, batch[:0], r.o.batchSize, func(m eventstore.Message) bool { return m.Kind == eventstore.MessageCaughtUp })
		if len(batch) > 0 {
			up, err := s.dispatch(ctx, work, batch)
			if err != nil {
				return caughtUp, err
			}
			caughtUp = caughtUp || up
		}
		if subErr != nil {
			if ctx.Err() != nil {
				return caughtUp, nil
			}
			return caughtUp, subErr
		}
	}
}

// dispatch hands a batch to the partitions and reports whether it ended the
// catch-up.
func (s *session[Tx]) dispatch(ctx, work context.Context, batch []eventstore.Message) (caughtUp bool, err error) {
	r := s.r
	var items []item
	if len(s.parts) == 1 {
		items = s.buf[:0] // handled before the next batch: reuse
	} else {
		items = make([]item, 0, len(batch)) // kept by the partitions
	}
	defer func() {
		if len(s.parts) == 1 {
			clear(items)
			s.buf = items[:0]
		}
	}()
	for _, m := range batch {
		switch m.Kind {
		case eventstore.MessageEvent:
			items = append(items, item{rec: m.Event, cp: r.source.checkpointOf(&m.Event), event: true})
		case eventstore.MessageCheckpoint:
			if r.source.stream == "" && !m.Position.IsZero() {
				items = append(items, item{cp: At(m.Position)})
			}
		case eventstore.MessageCaughtUp:
			caughtUp = true
		case eventstore.MessageFellBehind:
			r.update(func(st *State) { st.CaughtUp = false })
		}
	}
	if len(s.parts) == 1 {
		if len(items) > 0 {
			p := s.parts[0]
			if err := p.handle(work, items); err != nil {
				return false, err
			}
			s.resume = p.done
			r.advance(p.done, items)
		}
	} else if len(items) > 0 {
		if err := s.spread(ctx, items); err != nil {
			return false, err
		}
	}
	if caughtUp {
		if err := s.drain(ctx); err != nil {
			return false, err
		}
		r.update(func(st *State) { st.CaughtUp = true })
	}
	if s.building != 0 && r.State().CaughtUp {
		// Live and caught up: take over as soon as this version is past
		// the live one (which may still be moving).
		if err := s.drain(ctx); err != nil {
			return false, err
		}
		if err := s.promote(work); err != nil {
			return false, err
		}
	}
	return caughtUp, nil
}

// advance records progress after items were handled up to cp.
func (r *Runner[Tx]) advance(cp Checkpoint, items []item) {
	var last *item
	for i := range items {
		if items[i].event {
			last = &items[i]
		}
	}
	// One update, so that a waiter woken by it sees the new position too
	// (update holds r.mu, which guards lastPos).
	r.update(func(st *State) {
		st.Checkpoint = cp
		st.Examined += uint64(len(items))
		if last != nil {
			st.LastEventTime = last.rec.Created
			r.lastPos = last.rec.Position
		}
	})
}

// promote makes a rebuilt version live once it is past the live one.
func (s *session[Tx]) promote(ctx context.Context) error {
	if s.building == 0 {
		return nil
	}
	r := s.r
	rb := r.target.(Rebuilder)
	old, err := r.target.Load(ctx, Key{Projection: r.p.name, Version: s.building})
	if err != nil {
		return fmt.Errorf("projection %q: load live version's checkpoint: %w", r.p.name, err)
	}
	if old.Kind == r.p.source.kind() && s.resume.Compare(old) < 0 {
		return nil // the live version is still ahead; try again after the next batch
	}
	if err := rb.Promote(ctx, r.p.name, r.p.version); err != nil {
		return fmt.Errorf("projection %q: promote version %d: %w", r.p.name, r.p.version, err)
	}
	r.o.logger.Info("projection: version promoted", "projection", r.p.name, "version", r.p.version, "replaced", s.building)
	s.building = 0
	r.update(func(st *State) { st.Live = true })
	return nil
}

// finish saves what is pending after the loop ends.
func (s *session[Tx]) finish(ctx context.Context) error {
	r := s.r
	var errs []error
	if len(s.parts) > 1 {
		errs = append(errs, s.saveGlobal(ctx, true))
	}
	if f, ok := r.target.(interface {
		Flush(ctx context.Context, key Key) error
	}); ok {
		for _, p := range s.parts {
			errs = append(errs, f.Flush(ctx, p.key))
		}
		if len(s.parts) > 1 {
			errs = append(errs, f.Flush(ctx, r.key(0)))
		}
	}
	return r.fenceError(ctx, errors.Join(errs...))
}

// fenceError turns ErrFenced into ErrRetired when a newer version is live.
func (r *Runner[Tx]) fenceError(ctx context.Context, err error) error {
	if !errors.Is(err, ErrFenced) {
		return err
	}
	if rb, ok := r.target.(Rebuilder); ok {
		if v, lerr := rb.Live(ctx, r.p.name); lerr == nil && v > r.p.version {
			return fmt.Errorf("%w: version %d is live: %w", ErrRetired, v, err)
		}
	}
	return err
}

// sourceFilter is the projection's source as a subscription, with the
// client-side checks the server-side filter cannot express.
type sourceFilter struct {
	stream    string
	filter    *eventstore.Filter
	framework bool
	handled   map[string]bool
}

func newSourceFilter[Tx any](p *Projection[Tx]) (*sourceFilter, error) {
	f := &sourceFilter{stream: p.source.Stream, framework: p.source.IncludeFramework, handled: make(map[string]bool)}
	for t := range p.handlers {
		f.handled[t] = true
	}
	if f.stream != "" {
		return f, nil
	}
	switch {
	case p.source.Filter != nil:
		cp := *p.source.Filter
		f.filter = &cp
	case !f.framework:
		// Without a filter of its own, the projection reads the event types
		// it handles: a prefix match is cheaper for the store than
		// ExcludeFrameworkFilter's expression, and wants() leaves out the
		// longer types the prefixes also match and framework streams.
		f.filter = eventstore.EventTypePrefixFilter(p.EventTypes()...)
	}
	if f.filter != nil {
		// Every examined event yields a checkpoint, so that WaitFor returns
		// for positions of events the filter leaves out.
		f.filter.CheckpointInterval = 1
	}
	return f, nil
}

func (f *sourceFilter) subscribe(ctx context.Context, s eventstore.Store, from Checkpoint) iter.Seq2[eventstore.Message, error] {
	if f.stream != "" {
		o := eventstore.SubscribeOptions{From: eventstore.Start}
		if from.Kind == StreamCheckpoint {
			o.From = eventstore.FromRevision(from.Revision)
		}
		return s.SubscribeToStream(ctx, f.stream, o)
	}
	o := eventstore.SubscribeAllOptions{From: eventstore.Start, Filter: f.filter}
	if from.Kind == AllCheckpoint {
		o.From = eventstore.FromPosition(from.Position)
	}
	return s.SubscribeToAll(ctx, o)
}

func (f *sourceFilter) checkpointOf(e *eventstore.RecordedEvent) Checkpoint {
	if f.stream != "" {
		return AtRevision(e.Revision)
	}
	return At(e.Position)
}

// wants reports whether the projection handles e (rather than only
// examining it).
func (f *sourceFilter) wants(e *eventstore.RecordedEvent) bool {
	if !f.framework && (eventstore.IsFrameworkStream(e.Stream) || eventstore.IsSystemStream(e.Stream) || eventstore.IsSystemStream(e.Type)) {
		return false
	}
	return f.handled[e.Type]
}

// partitionOf returns the index (0-based) of the partition of key among n.
// The hash is FNV-1a, fixed across processes and versions: a partition's
// checkpoint only means something if the same keys land in it after a
// restart.
func partitionOf(key string, n int) int {
	h := fnv.New64a()
	h.Write([]byte(key))
	return int(h.Sum64() % uint64(n))
}
