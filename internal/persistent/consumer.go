package persistent

import (
	"context"
	"fmt"
	"strconv"

	"github.com/google/uuid"

	"github.com/chronicle-go/chronicle/eventstore"
)

// consumer is one connection to a group. Its state is guarded by the
// group's mutex.
type consumer struct {
	g     *group
	id    uint64
	name  string
	size  int
	ready chan struct{} // a delivery was queued
	done  chan struct{} // closed when the consumer ends

	inflight int
	queue    []*delivery // in flight, not received yet
	total    int64
	ended    bool
	err      error
	stopCtx  func() bool
}

var _ eventstore.PersistentSubscription = (*consumer)(nil)

// connect adds a consumer to the group.
func (g *group) connect(ctx context.Context, opts eventstore.PersistentSubscribeOptions) (*consumer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	size := opts.BufferSize
	if size == 0 {
		size = eventstore.DefaultPersistentBufferSize
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return nil, fmt.Errorf("%w: %s", eventstore.ErrPersistentSubscriptionDropped, g.def.id)
	}
	if max := g.def.settings.MaxSubscriberCount; max > 0 && len(g.consumers) >= max {
		return nil, fmt.Errorf("%w: %s has %d", eventstore.ErrMaximumSubscribersReached, g.def.id, max)
	}
	g.lastID++
	c := &consumer{g: g, id: g.lastID, name: opts.Name, size: size, ready: make(chan struct{}, 1), done: make(chan struct{})}
	if c.name == "" {
		c.name = "consumer-" + strconv.FormatUint(c.id, 10)
	}
	g.consumers = append(g.consumers, c)
	g.slots += size
	c.stopCtx = context.AfterFunc(ctx, func() { g.remove(c, ctx.Err()) })
	g.dispatch()
	return c, nil
}

// end marks the consumer ended with err. g.mu is held.
func (c *consumer) end(err error) {
	if c.ended {
		return
	}
	c.ended, c.err = true, err
	c.queue = nil
	close(c.done)
	if c.stopCtx != nil {
		c.stopCtx()
	}
}

// remove disconnects c, ending it with err: its in-flight messages are
// retried on the other consumers.
func (g *group) remove(c *consumer, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.drop(c, err)
}

// drop is remove with g.mu held.
func (g *group) drop(c *consumer, err error) {
	if c.ended {
		return
	}
	for i, x := range g.consumers {
		if x == c {
			g.consumers = append(g.consumers[:i], g.consumers[i+1:]...)
			g.slots -= c.size
			break
		}
	}
	var mine []*delivery
	for _, d := range g.inflight {
		if d.c == c {
			mine = append(mine, d)
		}
	}
	for _, d := range inOrder(mine) {
		g.unflight(d)
		g.retryOrPark(d.m, "consumer disconnected")
	}
	c.end(err)
	g.dispatch()
}

// Recv implements eventstore.PersistentSubscription.
func (c *consumer) Recv(ctx context.Context) (eventstore.PersistentEvent, error) {
	g := c.g
	for {
		g.mu.Lock()
		if c.ended {
			err := c.err
			g.mu.Unlock()
			return eventstore.PersistentEvent{}, err
		}
		if len(c.queue) > 0 {
			d := c.queue[0]
			c.queue[0] = nil
			c.queue = c.queue[1:]
			ev := eventstore.PersistentEvent{Event: copyEvent(d.m.ev), RetryCount: d.m.retry}
			g.mu.Unlock()
			return ev, nil
		}
		g.mu.Unlock()
		select {
		case <-c.ready:
		case <-c.done:
		case <-ctx.Done():
			return eventstore.PersistentEvent{}, ctx.Err()
		}
	}
}

// copyEvent returns e with its own byte slices (and link), so that a
// consumer's changes do not reach a redelivery.
func copyEvent(e eventstore.RecordedEvent) eventstore.RecordedEvent {
	e.Data = append([]byte(nil), e.Data...)
	e.Metadata = append([]byte(nil), e.Metadata...)
	if e.Link != nil {
		l := copyEvent(*e.Link)
		e.Link = &l
	}
	return e
}

// take checks that every ID is in flight on c (once) and takes them out of
// flight; nothing is taken when one is not. g.mu is held.
func (c *consumer) take(ids []uuid.UUID) ([]*message, error) {
	g := c.g
	if c.ended {
		return nil, c.err
	}
	seen := make(map[uuid.UUID]bool, len(ids))
	for _, id := range ids {
		d := g.inflight[id]
		if d == nil || d.c != c || seen[id] {
			return nil, fmt.Errorf("%w: %s", eventstore.ErrUnknownMessage, id)
		}
		seen[id] = true
	}
	out := make([]*message, len(ids))
	for i, id := range ids {
		d := g.inflight[id]
		g.unflight(d)
		out[i] = d.m
	}
	return out, nil
}

// Ack implements eventstore.PersistentSubscription.
func (c *consumer) Ack(ids ...uuid.UUID) error {
	g := c.g
	g.mu.Lock()
	defer g.mu.Unlock()
	msgs, err := c.take(ids)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		g.finish(m)
	}
	g.dispatch()
	return nil
}

// Nack implements eventstore.PersistentSubscription.
func (c *consumer) Nack(action eventstore.NackAction, reason string, ids ...uuid.UUID) error {
	g := c.g
	g.mu.Lock()
	defer g.mu.Unlock()
	msgs, err := c.take(ids)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		switch action {
		case eventstore.NackPark:
			g.park(m, reason)
		case eventstore.NackSkip:
			g.finish(m)
		default: // retry, stop, unknown
			g.retryOrPark(m, reason)
		}
	}
	if action == eventstore.NackStop {
		g.drop(c, eventstore.ErrClosed)
		return nil
	}
	g.dispatch()
	return nil
}

// Close implements eventstore.PersistentSubscription.
func (c *consumer) Close() error {
	c.g.remove(c, eventstore.ErrClosed)
	return nil
}
