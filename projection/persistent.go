package projection

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/google/uuid"

	"github.com/chronicle-go/chronicle/eventstore"
)

// A Transactor is a Target that can run handlers in a transaction of a
// version's read model without moving a checkpoint: what a runner consuming
// through a persistent subscription group (WithPersistentGroup) needs, as
// the group keeps the position. Transact commits apply's writes or nothing;
// a version that a newer one has replaced fails with ErrRetired. The
// targets of this module (AtLeastOnce, projection/sqlite,
// projection/postgres) implement it.
type Transactor[Tx any] interface {
	Transact(ctx context.Context, key Key, apply func(ctx context.Context, tx Tx) error) error
}

// Transact runs apply: a Deferred target has no transaction, and no
// checkpoint moves.
func (d *Deferred) Transact(ctx context.Context, key Key, apply func(ctx context.Context, tx NoTx) error) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return apply(ctx, NoTx{})
}

// persistentMode is the configuration of WithPersistentGroup.
type persistentMode struct {
	group    string
	settings eventstore.PersistentSettings
	consumer string
}

// WithPersistentGroup makes the runner consume the projection's source
// through the persistent subscription group named group, so that several
// runners of the projection — in several processes — share the events as
// competing consumers. The store must implement
// eventstore.PersistentSubscriptions and the target Transactor.
//
// The group reads the projection's source: a Stream source is a group of
// that stream; any other source is a group of $all with the source's
// filter (so settings.Filter must be nil). The runner creates the group
// with settings when it does not exist (settings apply only then: change
// an existing group with UpdatePersistentSubscription or `chronicle
// persistent`), connects as a consumer whose buffer holds WithBatchSize
// events, hands each event to its handler inside a Transactor transaction
// (a batch of what the consumer has received, then one by one under the
// retry policy after a failure), and acknowledges the events after the
// transaction commits.
//
// A handler that still fails is nacked: retried by the group (possibly on
// another instance) while its delivery's RetryCount is below
// settings.MaxRetryCount, then, per OnFailure, parked in the group's parked
// stream (Park; replay it with Runner.ReplayParked or `chronicle persistent
// replay-parked`), skipped (Skip), or nacked with NackStop and Run ends
// with ErrStopped (Stop). Events the registry cannot decode follow
// OnUndecodable at once (they never decode better).
//
// The trade-offs, stated: there is no global order (events reach the
// instances, and retries come back, in any order); there is no runner
// checkpoint (the group's server-side checkpoint replaces it, State's
// Checkpoint stays NoCheckpoint); and delivery is at least once — an event
// whose transaction committed but whose ack was lost (a crash, a message
// timeout) is handled again — so handlers must be idempotent even on the
// SQL targets. Partitions (WithWorkers, WithPartitionKey) do not apply
// (NewRunner refuses them: run more instances instead), nor do WaitFor and
// WaitCaughtUp (they fail with ErrInvalidProjection), nor rebuilds: a
// Rebuilder target whose live version is older than the projection's fails
// Run with ErrInvalidProjection — run the new version in a group of its
// own, from the start, to a target without it live.
func WithPersistentGroup(group string, settings eventstore.PersistentSettings) Option {
	return func(o *options) error {
		if group == "" {
			return fmt.Errorf("%w: empty persistent subscription group name", ErrInvalidProjection)
		}
		o.persistent = &persistentMode{group: group, settings: settings}
		return nil
	}
}

// WithConsumerName names the runner's consumer in the persistent group's
// info (default: the projection's name and a random suffix).
func WithConsumerName(name string) Option {
	return func(o *options) error {
		if name == "" {
			return fmt.Errorf("%w: empty consumer name", ErrInvalidProjection)
		}
		o.consumer = name
		return nil
	}
}

// persistentSource is a runner's persistent group.
type persistentSource[Tx any] struct {
	ps       eventstore.PersistentSubscriptions
	tx       Transactor[Tx]
	group    eventstore.PersistentGroup
	settings eventstore.PersistentSettings
	consumer string
}

// newPersistentSource checks a runner's persistent mode at NewRunner.
func newPersistentSource[Tx any](store eventstore.Store, p *Projection[Tx], target Target[Tx], o *options) (*persistentSource[Tx], error) {
	m := o.persistent
	ps, ok := store.(eventstore.PersistentSubscriptions)
	if !ok {
		return nil, invalid(p.name, "persistent group %q: the store (%T) does not implement eventstore.PersistentSubscriptions", m.group, store)
	}
	tx, ok := target.(Transactor[Tx])
	if !ok {
		return nil, invalid(p.name, "persistent group %q: the target (%T) does not implement projection.Transactor", m.group, target)
	}
	switch {
	case o.workers != 1:
		return nil, invalid(p.name, "persistent group %q: WithWorkers does not apply; run more instances of the runner instead", m.group)
	case o.keySet:
		return nil, invalid(p.name, "persistent group %q: WithPartitionKey does not apply (no partitions, no order)", m.group)
	case m.settings.Filter != nil:
		return nil, invalid(p.name, "persistent group %q: settings.Filter must be nil; the group's filter is the projection's source", m.group)
	}
	s := &persistentSource[Tx]{ps: ps, tx: tx, settings: m.settings, consumer: o.consumer}
	if s.consumer == "" {
		s.consumer = p.name + "-" + uuid.NewString()[:8]
	}
	if p.source.Stream != "" {
		s.group = eventstore.PersistentGroupOf(p.source.Stream, m.group)
	} else {
		s.group = eventstore.PersistentGroupOf(eventstore.AllStream, m.group)
		switch {
		case p.source.Filter != nil:
			f := *p.source.Filter
			s.settings.Filter = &f
		case !p.source.IncludeFramework:
			s.settings.Filter = eventstore.EventTypePrefixFilter(p.EventTypes()...)
		}
	}
	if err := s.group.Validate("projection"); err != nil {
		return nil, invalid(p.name, "persistent group: %v", err)
	}
	if err := s.settings.Validate(s.group); err != nil {
		return nil, invalid(p.name, "persistent group %q: %v", m.group, err)
	}
	return s, nil
}

// errPersistentMode is the error of what a persistent-group runner cannot
// do.
func (r *Runner[Tx]) errPersistentMode(what string) error {
	return invalid(r.p.name, "%s: the runner consumes through persistent group %s, which has no order and no position", what, r.pers.group)
}

// runPersistent is Run for a persistent-group runner.
func (r *Runner[Tx]) runPersistent(ctx context.Context) error {
	building, err := r.prepareVersion(ctx, r.key(0), func() error { return nil })
	if err != nil {
		return err
	}
	if building != 0 {
		return invalid(r.p.name, "version %d cannot be rebuilt beside live version %d through persistent group %s (rebuilds need ordered consumption); run it in a group of its own to a target where no older version is live", r.p.version, building, r.pers.group)
	}
	r.update(func(st *State) { st.Live = true })
	work := context.WithoutCancel(ctx)
	return r.retryLoop(ctx, func() (bool, error) { return r.consume(ctx, work) }, func(err error, delay time.Duration) {
		r.o.logger.Warn("projection: persistent subscription dropped; reconnecting", "projection", r.p.name, "group", r.pers.group.ID(), "error", err, "delay", delay)
	})
}

// connect subscribes to the group, creating it first if it does not
// exist.
func (r *Runner[Tx]) connect(ctx context.Context) (eventstore.PersistentSubscription, error) {
	s := r.pers
	opts := eventstore.PersistentSubscribeOptions{BufferSize: r.o.batchSize, Name: s.consumer}
	sub, err := s.ps.SubscribePersistent(ctx, s.group, opts)
	if !errors.Is(err, eventstore.ErrPersistentSubscriptionNotFound) {
		return sub, err
	}
	err = s.ps.CreatePersistentSubscription(ctx, s.group, s.settings)
	switch {
	case err == nil:
		r.o.logger.Info("projection: persistent subscription group created", "projection", r.p.name, "group", s.group.ID())
	case !errors.Is(err, eventstore.ErrPersistentSubscriptionExists):
		return nil, fmt.Errorf("projection %q: create persistent group %s: %w", r.p.name, s.group, err)
	}
	return s.ps.SubscribePersistent(ctx, s.group, opts)
}

// consume runs one consumer until it fails or ctx ends; it reports whether
// it received anything.
func (r *Runner[Tx]) consume(ctx, work context.Context) (received bool, err error) {
	sub, err := r.connect(ctx)
	if err != nil {
		return false, err
	}
	p := startPump(ctx, r.o.batchSize, func(ctx context.Context) iter.Seq2[eventstore.PersistentEvent, error] {
		return func(yield func(eventstore.PersistentEvent, error) bool) {
			for {
				ev, err := sub.Recv(ctx)
				if !yield(ev, err) || err != nil {
					return
				}
			}
		}
	})
	defer func() {
		p.cancel()
		// Closing the consumer hands what it did not ack back to the group
		// (as retries), and ends a Recv in progress.
		err = errors.Join(err, ignoreClosed(sub.Close()))
		p.stop()
	}()
	batch := make([]eventstore.PersistentEvent, 0, r.o.batchSize)
	for {
		var first pumped[eventstore.PersistentEvent]
		var ok bool
		select {
		case first, ok = <-p.in:
		case <-ctx.Done():
			return received, nil
		}
		if !ok {
			if ctx.Err() != nil {
				return received, nil
			}
			return received, errors.New("projection: persistent subscription ended")
		}
		var subErr error
		batch, subErr = p.gather(first, batch[:0], r.o.batchSize, nil)
		if len(batch) > 0 {
			received = true
			if err := r.handlePersistent(work, sub, batch); err != nil {
				return received, err
			}
		}
		if subErr != nil {
			if ctx.Err() != nil {
				return received, nil
			}
			return received, subErr
		}
	}
}

// ignoreClosed drops the error of closing a consumer the store already
// closed.
func ignoreClosed(err error) error {
	if errors.Is(err, eventstore.ErrClosed) || errors.Is(err, eventstore.ErrPersistentSubscriptionDropped) {
		return nil
	}
	return err
}

// handlePersistent handles a batch of deliveries: one transaction for the
// events the projection handles, then acks; after a handler failure, one
// transaction per event under the retry policy, with nacks for those that
// keep failing.
func (r *Runner[Tx]) handlePersistent(ctx context.Context, sub eventstore.PersistentSubscription, batch []eventstore.PersistentEvent) error {
	items := make([]item, len(batch))
	var (
		jobs    []job[Tx]
		at      []int // index in batch of each job
		ack     []uuid.UUID
		skipped int
	)
	for i := range batch {
		d := &batch[i]
		it := &items[i]
		*it = item{rec: d.Event, event: true}
		if !r.source.wants(&it.rec) {
			ack = append(ack, d.ID())
			continue
		}
		ev, err := r.p.reg.Decode(it.rec)
		if err != nil {
			r.tel.errors.Add(ctx, 1, r.tel.attrs)
			switch r.o.undecodable {
			case Skip:
				skipped++
				ack = append(ack, d.ID())
			case Stop:
				return r.stopOn(sub, d, err)
			default:
				if err := r.nack(sub, eventstore.NackPark, d, err); err != nil {
					return err
				}
			}
			continue
		}
		jobs = append(jobs, job[Tx]{it: it, ev: ev, h: r.p.handlers[it.rec.Type]})
		at = append(at, i)
	}
	defer func() {
		r.update(func(st *State) {
			st.Examined += uint64(len(batch))
			st.LastEventTime = batch[len(batch)-1].Event.Created
		})
	}()
	r.count(skipped, 0)
	if len(jobs) == 1 {
		// Alone already: straight to the retry policy.
		if err := r.ack(sub, ack); err != nil {
			return err
		}
		return r.oneByOnePersistent(ctx, sub, batch, jobs, at)
	}
	if len(jobs) > 0 {
		err := r.traced(ctx, jobs, func(ctx context.Context) error { return r.transact(ctx, jobs) })
		switch {
		case err == nil:
			r.count(0, len(jobs))
			for _, i := range at {
				ack = append(ack, batch[i].ID())
			}
		case !handlerFailure(err):
			// The target failed, or ctx ended: nothing is acked; the events
			// go back to the group when the consumer closes.
			r.ack(sub, ack)
			return r.fenceError(ctx, err)
		default:
			r.tel.errors.Add(ctx, 1, r.tel.attrs)
			r.o.logger.Warn("projection: batch failed; handling its events one by one", "projection", r.p.name, "error", err)
			if err := r.ack(sub, ack); err != nil {
				return err
			}
			return r.oneByOnePersistent(ctx, sub, batch, jobs, at)
		}
	}
	return r.ack(sub, ack)
}

// transact runs jobs' handlers in one Transactor transaction.
func (r *Runner[Tx]) transact(ctx context.Context, jobs []job[Tx]) error {
	return r.pers.tx.Transact(ctx, r.key(0), func(ctx context.Context, tx Tx) error {
		for _, j := range jobs {
			if err := j.h.handle(j.ev.Context(ctx), tx, j.ev); err != nil {
				return &HandlerError{Projection: r.p.name, Stream: j.it.rec.Stream, Revision: j.it.rec.Revision, Type: j.it.rec.Type, Err: err}
			}
		}
		return nil
	})
}

// oneByOnePersistent handles jobs in their own transactions under the
// retry policy: acks those that succeed, nacks those that keep failing.
func (r *Runner[Tx]) oneByOnePersistent(ctx context.Context, sub eventstore.PersistentSubscription, batch []eventstore.PersistentEvent, jobs []job[Tx], at []int) error {
	for k, j := range jobs {
		d := &batch[at[k]]
		one := []job[Tx]{j}
		err := r.traced(ctx, one, r.o.retry.Wrap(func(ctx context.Context) error { return r.transact(ctx, one) }))
		if err == nil {
			r.count(0, 1)
			if err := r.ack(sub, []uuid.UUID{d.ID()}); err != nil {
				return err
			}
			continue
		}
		if !handlerFailure(err) {
			return r.fenceError(ctx, err)
		}
		r.tel.errors.Add(ctx, 1, r.tel.attrs)
		action := eventstore.NackRetry
		if d.RetryCount >= r.pers.settings.MaxRetryCount {
			switch r.o.failures {
			case Stop:
				return r.stopOn(sub, d, err)
			case Skip:
				action = eventstore.NackSkip
			default:
				action = eventstore.NackPark
			}
		}
		if err := r.nack(sub, action, d, err); err != nil {
			return err
		}
	}
	return nil
}

// ack acknowledges ids; one by one after ErrUnknownMessage (an event whose
// message timeout passed went back to the group, and one unknown ID fails
// the whole call), logging those the consumer no longer holds.
func (r *Runner[Tx]) ack(sub eventstore.PersistentSubscription, ids []uuid.UUID) error {
	if len(ids) == 0 {
		return nil
	}
	err := sub.Ack(ids...)
	if !errors.Is(err, eventstore.ErrUnknownMessage) {
		return err
	}
	for _, id := range ids {
		if err := sub.Ack(id); errors.Is(err, eventstore.ErrUnknownMessage) {
			r.o.logger.Warn("projection: ack of an event no longer in flight (its message timeout passed?): it will be handled again", "projection", r.p.name, "group", r.pers.group.ID(), "event", id)
		} else if err != nil {
			return err
		}
	}
	return nil
}

// nack rejects one delivery with action and records it.
func (r *Runner[Tx]) nack(sub eventstore.PersistentSubscription, action eventstore.NackAction, d *eventstore.PersistentEvent, cause error) error {
	err := sub.Nack(action, cause.Error(), d.ID())
	if errors.Is(err, eventstore.ErrUnknownMessage) {
		r.o.logger.Warn("projection: nack of an event no longer in flight", "projection", r.p.name, "group", r.pers.group.ID(), "event", d.ID())
		err = nil
	}
	if err != nil {
		return err
	}
	rec := &d.Event
	r.o.logger.Warn("projection: event nacked", "projection", r.p.name, "group", r.pers.group.ID(), "action", action.String(),
		"stream", rec.Stream, "revision", rec.Revision, "type", rec.Type, "retry", d.RetryCount, "error", cause)
	switch action {
	case eventstore.NackPark:
		r.tel.parked.Add(context.Background(), 1, r.tel.attrs)
		r.update(func(st *State) { st.Parked++ })
	case eventstore.NackSkip:
		r.count(1, 0)
	}
	return nil
}

// stopOn nacks d with NackStop (the group hands it to another consumer)
// and returns the error that ends Run.
func (r *Runner[Tx]) stopOn(sub eventstore.PersistentSubscription, d *eventstore.PersistentEvent, cause error) error {
	rec := &d.Event
	herr := &HandlerError{Projection: r.p.name, Stream: rec.Stream, Revision: rec.Revision, Type: rec.Type, Err: errors.Join(ErrStopped, cause)}
	if err := sub.Nack(eventstore.NackStop, cause.Error(), d.ID()); err != nil && !errors.Is(err, eventstore.ErrUnknownMessage) {
		return errors.Join(herr, err)
	}
	return herr
}

// replayPersistent replays the group's parked messages: they are delivered
// again to the group's consumers.
func (r *Runner[Tx]) replayPersistent(ctx context.Context) (ReplayResult, error) {
	info, err := r.pers.ps.GetPersistentSubscriptionInfo(ctx, r.pers.group)
	if err != nil {
		return ReplayResult{}, fmt.Errorf("projection %q: replay parked: %w", r.p.name, err)
	}
	if err := r.pers.ps.ReplayParkedMessages(ctx, r.pers.group, 0); err != nil {
		return ReplayResult{}, fmt.Errorf("projection %q: replay parked: %w", r.p.name, err)
	}
	return ReplayResult{Replayed: int(info.ParkedMessageCount)}, nil
}
