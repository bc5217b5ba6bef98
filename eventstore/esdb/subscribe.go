package esdb

import (
	"context"
	"errors"
	"io"
	"iter"
	"log/slog"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/backend"
)

// SubscribeToStream implements eventstore.Store with a catch-up
// subscription of the server. A subscription the server or the network
// drops resumes by itself after the last event delivered, once per drop,
// after a backoff with jitter (and, when the server is unreachable, once
// the store's single prober has seen it back): the consumer sees a pause,
// never a gap, a duplicate or a second CaughtUp.
func (s *Store) SubscribeToStream(ctx context.Context, stream string, opts eventstore.SubscribeOptions) iter.Seq2[eventstore.Message, error] {
	return func(yield func(eventstore.Message, error) bool) {
		if err := backend.ValidateSubscribe(stream, opts); err != nil {
			yield(eventstore.Message{}, err)
			return
		}
		sub := &subscription{stream: stream, end: opts.From.IsEnd(), resolve: opts.ResolveLinks}
		if rev, ok := opts.From.Revision(); ok {
			sub.cur = cursor{set: true, rev: rev}
		}
		s.subscribe(ctx, sub, yield)
	}
}

// SubscribeToAll implements eventstore.Store. Filters run on the server,
// which reports checkpoints (MessageCheckpoint) every
// Filter.CheckpointInterval examined events and before CaughtUp. Drops are
// handled as by SubscribeToStream, resuming after the last event or
// checkpoint delivered.
func (s *Store) SubscribeToAll(ctx context.Context, opts eventstore.SubscribeAllOptions) iter.Seq2[eventstore.Message, error] {
	return func(yield func(eventstore.Message, error) bool) {
		if _, err := backend.ValidateSubscribeAll(opts); err != nil {
			yield(eventstore.Message{}, err)
			return
		}
		sub := &subscription{all: true, filter: opts.Filter, end: opts.From.IsEnd(), resolve: opts.ResolveLinks}
		if pos, ok := opts.From.Position(); ok {
			sub.cur = cursor{set: true, pos: pos}
		}
		s.subscribe(ctx, sub, yield)
	}
}

// cursor is the last event (or, for $all, checkpoint) a subscription
// delivered: it resumes after it.
type cursor struct {
	set bool
	rev uint64              // stream subscriptions
	pos eventstore.Position // both
}

// subscription is the state of one subscription across resumptions.
type subscription struct {
	all    bool
	stream string
	filter *eventstore.Filter
	cur    cursor
	// resolve asks the server to resolve links (ResolveLinkTos).
	resolve bool
	// end: started from End and not resolved yet (see head).
	end      bool
	caughtUp bool
	// checkpoint is the last checkpoint delivered.
	checkpoint eventstore.Position
}

func (sub *subscription) name() string {
	if sub.all {
		return eventstore.AllStream
	}
	return sub.stream
}

// after reports whether e comes after the cursor (a resumed subscription
// may repeat the event it resumed from); a resolved link counts as the
// link.
func (sub *subscription) after(e *eventstore.RecordedEvent) bool {
	e = e.Original()
	switch {
	case !sub.cur.set:
		return true
	case sub.all:
		return e.Position.Compare(sub.cur.pos) > 0
	}
	return e.Revision > sub.cur.rev
}

// subscribe runs sub until the consumer stops, ctx ends, the store closes
// or a permanent error happens, resuming it after every transient drop.
func (s *Store) subscribe(ctx context.Context, sub *subscription, yield func(eventstore.Message, error) bool) {
	c := call{op: opSubscribe, stream: sub.name()}
	ctx, end, err := s.begin(ctx)
	if err != nil {
		yield(eventstore.Message{}, opError(c.op, c.stream, nil, err))
		return
	}
	defer end()
	fail := func(err error) { yield(eventstore.Message{}, mapError(ctx, c.op, c.stream, c.expected, err)) }
	failures := 0
	for {
		if failures > 0 {
			if err := sleep(ctx, s.o.backoff(failures)); err != nil {
				fail(err)
				return
			}
		}
		if err := s.ready(ctx, c, 0); err != nil {
			yield(eventstore.Message{}, err)
			return
		}
		h, err := detach(s, ctx, func() (*esdb.Subscription, error) { return s.open(ctx, sub) })
		if err == nil {
			var stop bool
			stop, err = s.consume(sub, h, &failures, yield)
			h.Close()
			if stop {
				return
			}
		}
		if ctx.Err() != nil || classify(err) == failFinal {
			fail(err)
			return
		}
		if classify(err) == failTransport {
			s.trip(err)
		}
		failures++
		s.log.LogAttrs(ctx, slog.LevelInfo, "esdb: subscription dropped; resuming",
			slog.String("stream", c.stream), slog.Int("attempt", failures), slog.String("error", err.Error()))
	}
}

// open starts (or restarts) the server's subscription after sub's cursor,
// first resolving End to the current last event so that a drop before the
// first event loses nothing.
func (s *Store) open(ctx context.Context, sub *subscription) (*esdb.Subscription, error) {
	if sub.end {
		if err := s.head(ctx, sub); err != nil {
			return nil, err
		}
		sub.end = false
	}
	if sub.all {
		o := esdb.SubscribeToAllOptions{From: esdb.Start{}, ResolveLinkTos: sub.resolve}
		if sub.cur.set {
			o.From = toPosition(sub.cur.pos)
		}
		if sub.filter != nil {
			o.Filter, o.MaxSearchWindow = toFilter(sub.filter)
			o.CheckpointInterval = 1
		}
		return s.client.SubscribeToAll(ctx, o)
	}
	o := esdb.SubscribeToStreamOptions{From: esdb.Start{}, ResolveLinkTos: sub.resolve}
	if sub.cur.set {
		o.From = esdb.StreamRevision{Value: sub.cur.rev}
	}
	return s.client.SubscribeToStream(ctx, sub.stream, o)
}

// head sets sub's cursor to the last event of its stream or of $all (no
// cursor: the stream or the log is empty).
func (s *Store) head(ctx context.Context, sub *subscription) error {
	var rs *esdb.ReadStream
	var err error
	if sub.all {
		rs, err = s.client.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	} else {
		rs, err = s.client.ReadStream(ctx, sub.stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	}
	if err != nil {
		return err
	}
	defer rs.Close()
	ev, err := rs.Recv()
	switch ec, _ := codesOf(err); {
	case errors.Is(err, io.EOF), !sub.all && ec == esdb.ErrorCodeResourceNotFound:
		return nil
	case err != nil:
		return err
	}
	e := ev.OriginalEvent()
	sub.cur = cursor{set: true, rev: e.EventNumber, pos: fromPosition(e.Position)}
	return nil
}

// consume delivers the messages of h until the server's subscription drops
// (its error) or the consumer stops (stop). It resets failures when
// something arrives.
func (s *Store) consume(sub *subscription, h *esdb.Subscription, failures *int, yield func(eventstore.Message, error) bool) (stop bool, err error) {
	for {
		ev := h.Recv()
		var msg eventstore.Message
		switch {
		case ev.SubscriptionDropped != nil:
			return false, ev.SubscriptionDropped.Error
		case ev.EventAppeared != nil:
			if ev.EventAppeared.OriginalEvent() == nil {
				continue
			}
			e := fromResolved(ev.EventAppeared)
			if !sub.after(&e) {
				continue
			}
			o := e.Original()
			sub.cur = cursor{set: true, rev: o.Revision, pos: o.Position}
			msg = eventstore.Message{Kind: eventstore.MessageEvent, Event: e}
		case ev.CheckPointReached != nil:
			p := fromPosition(*ev.CheckPointReached)
			if (sub.cur.set && p.Compare(sub.cur.pos) < 0) || p == sub.checkpoint {
				continue // a resumed subscription going over old ground
			}
			sub.cur.set, sub.cur.pos, sub.checkpoint = true, p, p
			msg = eventstore.Message{Kind: eventstore.MessageCheckpoint, Position: p}
		case ev.CaughtUp != nil:
			if sub.caughtUp {
				continue // caught up again after a resumption
			}
			sub.caughtUp = true
			msg = eventstore.Message{Kind: eventstore.MessageCaughtUp, Position: sub.cur.pos}
		case ev.FellBehind != nil:
			sub.caughtUp = false
			msg = eventstore.Message{Kind: eventstore.MessageFellBehind, Position: sub.cur.pos}
		default:
			continue
		}
		*failures = 0
		if !yield(msg, nil) {
			return true, nil
		}
	}
}
