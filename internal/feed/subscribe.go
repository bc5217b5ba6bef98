package feed

import (
	"context"
	"errors"
	"iter"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/backend"
)

// cursor is the last event a subscription delivered or examined.
type cursor struct {
	set bool
	rev uint64              // stream subscriptions
	pos eventstore.Position // $all subscriptions
}

// scope is what differs between stream and $all subscriptions.
type scope interface {
	// read yields stored events after c, in order.
	read(ctx context.Context, c cursor) iter.Seq2[eventstore.RecordedEvent, error]
	// head returns the cursor of the newest stored event.
	head(ctx context.Context) (cursor, error)
	// after reports whether e comes after c and belongs to the scope.
	after(e *eventstore.RecordedEvent, c cursor) bool
	// advance returns the cursor of e.
	advance(e *eventstore.RecordedEvent) cursor
}

// SubscribeToStream implements eventstore.Store.SubscribeToStream over s
// (catch-up reads) and h (live events).
func SubscribeToStream(ctx context.Context, s eventstore.Store, h *Hub, stream string, opts eventstore.SubscribeOptions) iter.Seq2[eventstore.Message, error] {
	return func(yield func(eventstore.Message, error) bool) {
		if err := backend.ValidateSubscribe(stream, opts); err != nil {
			yield(eventstore.Message{}, err)
			return
		}
		var c cursor
		if rev, ok := opts.From.Revision(); ok {
			c = cursor{set: true, rev: rev}
		}
		sub := &run{scope: streamScope{s: s, stream: stream, resolve: opts.ResolveLinks}, stream: stream, hub: h, from: c, end: opts.From.IsEnd()}
		if opts.ResolveLinks {
			sub.resolver = s
		}
		sub.loop(ctx, yield)
	}
}

// SubscribeToAll implements eventstore.Store.SubscribeToAll over s (catch-up
// reads) and h (live events).
func SubscribeToAll(ctx context.Context, s eventstore.Store, h *Hub, opts eventstore.SubscribeAllOptions) iter.Seq2[eventstore.Message, error] {
	return func(yield func(eventstore.Message, error) bool) {
		m, err := backend.ValidateSubscribeAll(opts)
		if err != nil {
			yield(eventstore.Message{}, err)
			return
		}
		var c cursor
		if pos, ok := opts.From.Position(); ok {
			c = cursor{set: true, pos: pos}
		}
		sub := &run{scope: allScope{s: s, resolve: opts.ResolveLinks}, hub: h, from: c, end: opts.From.IsEnd(), match: m}
		if opts.ResolveLinks {
			sub.resolver = s
		}
		if opts.Filter != nil {
			sub.interval = int(opts.Filter.Interval())
		}
		sub.loop(ctx, yield)
	}
}

type run struct {
	scope  scope
	stream string // the subscribed stream; "" for $all
	hub    *Hub
	from   cursor
	end    bool
	match  *eventstore.Matcher // nil: every event
	// interval > 0: emit a checkpoint every interval examined events.
	interval int
	examined int
	// resolver, when set, resolves the links of live batches (catch-up
	// reads resolve them in the store).
	resolver eventstore.Store
}

// loop is the subscription: listen, catch up from storage, signal caught
// up, deliver live batches; on falling behind, start over from the cursor.
func (r *run) loop(ctx context.Context, yield func(eventstore.Message, error) bool) {
	c := r.from
	caughtUp := false
	for {
		l := r.hub.listen(r.stream)
		if gone, lagged := l.dropped(); gone && !lagged {
			yield(eventstore.Message{}, l.endErr())
			return
		}
		if r.end {
			// Events committed after listen are in l; head is at least as new.
			h, err := r.scope.head(ctx)
			if err != nil {
				l.close()
				yield(eventstore.Message{}, err)
				return
			}
			c, r.end = h, false
		}
		var ok bool
		if c, ok = r.catchUp(ctx, l, c, yield); !ok {
			l.close()
			return
		}
		if gone, lagged := l.dropped(); gone {
			if !lagged {
				yield(eventstore.Message{}, l.endErr())
				return
			}
			continue // the catch-up outran the queue: read again
		}
		if !caughtUp {
			if r.interval > 0 && c.set && !r.yieldCheckpoint(c, yield) {
				l.close()
				return
			}
			if !yield(eventstore.Message{Kind: eventstore.MessageCaughtUp, Position: c.pos}, nil) {
				l.close()
				return
			}
			caughtUp = true
		}
		var fellBehind bool
		if c, fellBehind, ok = r.live(ctx, l, c, yield); !ok {
			l.close()
			return
		}
		if fellBehind {
			if !yield(eventstore.Message{Kind: eventstore.MessageFellBehind, Position: c.pos}, nil) {
				return
			}
			caughtUp = false
		}
	}
}

// catchUp delivers stored events after c. ok is false when the subscription
// ended (error yielded or consumer stopped).
func (r *run) catchUp(ctx context.Context, l *listener, c cursor, yield func(eventstore.Message, error) bool) (cursor, bool) {
	for e, err := range r.scope.read(ctx, c) {
		if err != nil {
			if errors.Is(err, eventstore.ErrStreamNotFound) {
				break // a stream subscription waits for the stream to appear
			}
			yield(eventstore.Message{}, err)
			return c, false
		}
		if !r.scope.after(&e, c) {
			continue
		}
		c = r.scope.advance(&e)
		if !r.deliver(&e, c, yield) {
			return c, false
		}
		if ctx.Err() != nil {
			yield(eventstore.Message{}, ctx.Err())
			return c, false
		}
	}
	return c, true
}

// live delivers batches from l until the consumer stops, the context ends,
// or l is dropped (fellBehind when it lagged; ErrClosed when the hub closed).
func (r *run) live(ctx context.Context, l *listener, c cursor, yield func(eventstore.Message, error) bool) (_ cursor, fellBehind, ok bool) {
	for {
		select {
		case <-ctx.Done():
			yield(eventstore.Message{}, ctx.Err())
			return c, false, false
		case <-l.done:
			if _, lagged := l.dropped(); lagged {
				return c, true, true
			}
			yield(eventstore.Message{}, l.endErr())
			return c, false, false
		case batch := <-l.ch:
			l.taken(batch)
			for i := range batch {
				e := &batch[i]
				if !r.scope.after(e, c) {
					continue
				}
				c = r.scope.advance(e)
				if r.resolver != nil && e.IsLink() {
					resolved, err := backend.Resolve(ctx, r.resolver, *e)
					if err != nil {
						yield(eventstore.Message{}, err)
						return c, false, false
					}
					e = &resolved
				}
				if !r.deliver(e, c, yield) {
					return c, false, false
				}
			}
		}
	}
}

// deliver yields e (if it passes the filter) and any checkpoint due; a
// tombstone record of a subscribed stream ends the subscription.
func (r *run) deliver(e *eventstore.RecordedEvent, c cursor, yield func(eventstore.Message, error) bool) bool {
	if r.match.MatchEvent(e.Original()) {
		if !yield(eventstore.Message{Kind: eventstore.MessageEvent, Event: *e}, nil) {
			return false
		}
	}
	if o := e.Original(); r.stream != "" && o.Type == eventstore.StreamDeletedEventType {
		yield(eventstore.Message{}, &eventstore.StreamDeletedError{Stream: o.Stream})
		return false
	}
	if r.interval > 0 {
		r.examined++
		if r.examined%r.interval == 0 {
			return r.yieldCheckpoint(c, yield)
		}
	}
	return true
}

func (r *run) yieldCheckpoint(c cursor, yield func(eventstore.Message, error) bool) bool {
	return yield(eventstore.Message{Kind: eventstore.MessageCheckpoint, Position: c.pos}, nil)
}

type streamScope struct {
	s       eventstore.Store
	stream  string
	resolve bool
}

func (sc streamScope) read(ctx context.Context, c cursor) iter.Seq2[eventstore.RecordedEvent, error] {
	from := eventstore.Start
	if c.set {
		from = eventstore.FromRevision(c.rev + 1)
	}
	return sc.s.ReadStream(ctx, sc.stream, eventstore.ReadOptions{From: from, ResolveLinks: sc.resolve})
}

func (sc streamScope) head(ctx context.Context) (cursor, error) {
	for e, err := range sc.s.ReadStream(ctx, sc.stream, eventstore.ReadOptions{Direction: eventstore.Backwards, From: eventstore.End, MaxCount: 1}) {
		if err != nil {
			if errors.Is(err, eventstore.ErrStreamNotFound) {
				break
			}
			return cursor{}, err
		}
		return cursor{set: true, rev: e.Revision, pos: e.Position}, nil
	}
	return cursor{}, nil
}

// after and advance look at the record the subscription met: the link when
// a link was resolved.
func (sc streamScope) after(e *eventstore.RecordedEvent, c cursor) bool {
	e = e.Original()
	return e.Stream == sc.stream && (!c.set || e.Revision > c.rev)
}

func (sc streamScope) advance(e *eventstore.RecordedEvent) cursor {
	e = e.Original()
	return cursor{set: true, rev: e.Revision, pos: e.Position}
}

type allScope struct {
	s       eventstore.Store
	resolve bool
}

func (sc allScope) read(ctx context.Context, c cursor) iter.Seq2[eventstore.RecordedEvent, error] {
	from := eventstore.Start
	if c.set {
		from = eventstore.FromPosition(c.pos) // inclusive: after() skips c itself
	}
	return sc.s.ReadAll(ctx, eventstore.ReadAllOptions{From: from, ResolveLinks: sc.resolve})
}

func (sc allScope) head(ctx context.Context) (cursor, error) {
	for e, err := range sc.s.ReadAll(ctx, eventstore.ReadAllOptions{Direction: eventstore.Backwards, From: eventstore.End, MaxCount: 1}) {
		if err != nil {
			return cursor{}, err
		}
		return cursor{set: true, pos: e.Position}, nil
	}
	return cursor{}, nil
}

func (sc allScope) after(e *eventstore.RecordedEvent, c cursor) bool {
	return !c.set || e.Original().Position.Compare(c.pos) > 0
}

func (sc allScope) advance(e *eventstore.RecordedEvent) cursor {
	return cursor{set: true, pos: e.Original().Position}
}
