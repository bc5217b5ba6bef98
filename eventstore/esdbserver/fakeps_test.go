package esdbserver_test

import (
	"context"
	"errors"
	"sort"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
)

// fakePS is a memory store with a small, simple implementation of
// eventstore.PersistentSubscriptions, enough to exercise the server's
// PersistentSubscriptions service: groups deliver the events of their
// stream (or of $all) from their start to their consumers in turn, with
// retry counts; nacks retry, park, skip or stop; deletes, updates and
// restarts drop consumers. fail, when set, is what every call returns.
type fakePS struct {
	*memory.Store
	mu     sync.Mutex
	groups map[string]*fakeGroup
	fail   error
	wg     sync.WaitGroup
}

type fakeGroup struct {
	g         eventstore.PersistentGroup
	settings  eventstore.PersistentSettings
	queue     chan eventstore.PersistentEvent
	stop      context.CancelFunc
	consumers map[*fakeConsumer]bool
	parked    []eventstore.PersistentEvent
	delivered int64
}

type fakeConsumer struct {
	ps      *fakePS
	grp     *fakeGroup
	name    string
	retries chan eventstore.PersistentEvent
	dropped chan struct{}
	mu      sync.Mutex
	pending map[uuid.UUID]eventstore.PersistentEvent
	closed  bool
	err     error
}

var _ eventstore.PersistentSubscriptions = (*fakePS)(nil)

func newFakePS(t *testing.T) *fakePS {
	f := &fakePS{Store: memory.New(), groups: map[string]*fakeGroup{}}
	t.Cleanup(func() {
		f.mu.Lock()
		for _, g := range f.groups {
			f.dropLocked(g, true)
		}
		f.mu.Unlock()
		f.wg.Wait()
		f.Store.Close()
	})
	return f
}

// settingsOf returns a group's settings.
func (f *fakePS) settingsOf(id string) eventstore.PersistentSettings {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.groups[id].settings
}

func (f *fakePS) setFail(err error) {
	f.mu.Lock()
	f.fail = err
	f.mu.Unlock()
}

// start runs the group's reader.
func (f *fakePS) start(g *fakeGroup) {
	ctx, cancel := context.WithCancel(context.Background())
	g.stop, g.queue = cancel, make(chan eventstore.PersistentEvent, 1024)
	f.wg.Add(1)
	id, settings := g.g, g.settings // Update changes g.settings
	go func() {
		defer f.wg.Done()
		var msgs func(func(eventstore.Message, error) bool)
		if id.IsAll() {
			from := settings.From
			msgs = f.Store.SubscribeToAll(ctx, eventstore.SubscribeAllOptions{From: from, Filter: settings.Filter, ResolveLinks: settings.ResolveLinks})
		} else {
			from := settings.From
			if rev, ok := from.Revision(); ok {
				from = eventstore.Start
				if rev > 0 {
					from = eventstore.FromRevision(rev - 1) // subscriptions start after the revision
				}
			}
			msgs = f.Store.SubscribeToStream(ctx, id.Stream, eventstore.SubscribeOptions{From: from, ResolveLinks: settings.ResolveLinks})
		}
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Kind != eventstore.MessageEvent {
				continue
			}
			ev := m.Event
			if settings.ResolveLinks && ev.Link == nil && ev.Type == eventstore.LinkEventType {
				if stream, rev, ok := eventstore.ParseLink(ev.Data); ok {
					for target, err := range f.Store.ReadStream(ctx, stream, eventstore.ReadOptions{From: eventstore.FromRevision(rev), MaxCount: 1}) {
						if err == nil {
							link := ev
							ev, ev.Link = target, &link
						}
					}
				}
			}
			select {
			case g.queue <- eventstore.PersistentEvent{Event: ev}:
			case <-ctx.Done():
				return
			}
		}
	}()
}

// dropLocked stops a group's reader and drops its consumers.
func (f *fakePS) dropLocked(g *fakeGroup, stop bool) {
	for c := range g.consumers {
		c.drop(eventstore.ErrPersistentSubscriptionDropped)
	}
	g.consumers = map[*fakeConsumer]bool{}
	if stop {
		g.stop()
	}
}

func (f *fakePS) CreatePersistentSubscription(_ context.Context, g eventstore.PersistentGroup, s eventstore.PersistentSettings) error {
	if err := g.Validate("create"); err != nil {
		return err
	}
	if err := s.Validate(g); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	if _, ok := f.groups[g.ID()]; ok {
		return eventstore.ErrPersistentSubscriptionExists
	}
	grp := &fakeGroup{g: g, settings: s, consumers: map[*fakeConsumer]bool{}}
	f.start(grp)
	f.groups[g.ID()] = grp
	return nil
}

func (f *fakePS) group(g eventstore.PersistentGroup) (*fakeGroup, error) {
	if f.fail != nil {
		return nil, f.fail
	}
	grp, ok := f.groups[g.ID()]
	if !ok {
		return nil, eventstore.ErrPersistentSubscriptionNotFound
	}
	return grp, nil
}

func (f *fakePS) UpdatePersistentSubscription(_ context.Context, g eventstore.PersistentGroup, s eventstore.PersistentSettings) error {
	if err := s.Validate(g); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	grp, err := f.group(g)
	if err != nil {
		return err
	}
	f.dropLocked(grp, false)
	grp.settings = s
	return nil
}

func (f *fakePS) DeletePersistentSubscription(_ context.Context, g eventstore.PersistentGroup) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	grp, err := f.group(g)
	if err != nil {
		return err
	}
	f.dropLocked(grp, true)
	delete(f.groups, g.ID())
	return nil
}

func (f *fakePS) info(grp *fakeGroup) eventstore.PersistentSubscriptionInfo {
	info := eventstore.PersistentSubscriptionInfo{Group: grp.g, Settings: grp.settings, Status: "Live",
		LastCheckpointed: eventstore.Start, LastKnown: eventstore.Start,
		TotalItems: grp.delivered, ParkedMessageCount: int64(len(grp.parked))}
	if grp.g.IsAll() {
		info.LastKnown = eventstore.FromPosition(eventstore.Position{Commit: 7, Prepare: 7})
	} else if grp.delivered > 0 {
		info.LastKnown = eventstore.FromRevision(uint64(grp.delivered - 1))
	}
	for c := range grp.consumers {
		c.mu.Lock()
		info.Connections = append(info.Connections, eventstore.PersistentConnectionInfo{Name: c.name, InFlightMessages: len(c.pending), AvailableSlots: 10 - len(c.pending)})
		info.InFlightMessages += len(c.pending)
		c.mu.Unlock()
	}
	return info
}

func (f *fakePS) GetPersistentSubscriptionInfo(_ context.Context, g eventstore.PersistentGroup) (eventstore.PersistentSubscriptionInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	grp, err := f.group(g)
	if err != nil {
		return eventstore.PersistentSubscriptionInfo{}, err
	}
	return f.info(grp), nil
}

func (f *fakePS) ListPersistentSubscriptions(_ context.Context, stream string) ([]eventstore.PersistentSubscriptionInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	var out []eventstore.PersistentSubscriptionInfo
	for _, grp := range f.groups {
		if stream == "" || grp.g.Stream == stream {
			out = append(out, f.info(grp))
		}
	}
	if len(out) == 0 && stream != "" {
		return nil, eventstore.ErrPersistentSubscriptionNotFound
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group.ID() < out[j].Group.ID() })
	return out, nil
}

func (f *fakePS) SubscribePersistent(_ context.Context, g eventstore.PersistentGroup, o eventstore.PersistentSubscribeOptions) (eventstore.PersistentSubscription, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	grp, err := f.group(g)
	if err != nil {
		return nil, err
	}
	if m := grp.settings.MaxSubscriberCount; m > 0 && len(grp.consumers) >= m {
		return nil, eventstore.ErrMaximumSubscribersReached
	}
	c := &fakeConsumer{ps: f, grp: grp, name: o.Name, retries: make(chan eventstore.PersistentEvent, 1024),
		dropped: make(chan struct{}), pending: map[uuid.UUID]eventstore.PersistentEvent{}}
	grp.consumers[c] = true
	return c, nil
}

func (f *fakePS) ReplayParkedMessages(_ context.Context, g eventstore.PersistentGroup, stopAt uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	grp, err := f.group(g)
	if err != nil {
		return err
	}
	n := len(grp.parked)
	if stopAt > 0 && int(stopAt) < n {
		n = int(stopAt)
	}
	for _, ev := range grp.parked[:n] {
		for c := range grp.consumers {
			c.retries <- ev
			break
		}
	}
	grp.parked = grp.parked[n:]
	return nil
}

func (f *fakePS) RestartPersistentSubscriptions(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	for _, grp := range f.groups {
		f.dropLocked(grp, false)
	}
	return nil
}

func (c *fakeConsumer) drop(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
		close(c.dropped)
	}
}

func (c *fakeConsumer) Recv(ctx context.Context) (eventstore.PersistentEvent, error) {
	var ev eventstore.PersistentEvent
	select {
	case <-c.dropped:
		return ev, c.err
	case <-ctx.Done():
		return ev, ctx.Err()
	case ev = <-c.retries:
	case ev = <-c.grp.queue:
	}
	c.ps.mu.Lock() // before c.mu, as info takes them
	c.grp.delivered++
	c.ps.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending[ev.ID()] = ev
	return ev, nil
}

// settle removes ids from the pending set, all or none.
func (c *fakeConsumer) settle(ids []uuid.UUID) ([]eventstore.PersistentEvent, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return nil, c.err
	}
	var evs []eventstore.PersistentEvent
	for _, id := range ids {
		ev, ok := c.pending[id]
		if !ok {
			return nil, eventstore.ErrUnknownMessage
		}
		evs = append(evs, ev)
	}
	for _, id := range ids {
		delete(c.pending, id)
	}
	return evs, nil
}

func (c *fakeConsumer) Ack(ids ...uuid.UUID) error {
	_, err := c.settle(ids)
	return err
}

func (c *fakeConsumer) Nack(action eventstore.NackAction, _ string, ids ...uuid.UUID) error {
	evs, err := c.settle(ids)
	if err != nil {
		return err
	}
	for _, ev := range evs {
		switch action {
		case eventstore.NackPark:
			c.ps.mu.Lock()
			c.grp.parked = append(c.grp.parked, ev)
			c.ps.mu.Unlock()
		case eventstore.NackRetry, eventstore.NackUnknown:
			ev.RetryCount++
			c.retries <- ev
		}
	}
	if action == eventstore.NackStop {
		c.drop(errors.Join(eventstore.ErrClosed))
	}
	return nil
}

func (c *fakeConsumer) Close() error {
	c.drop(eventstore.ErrClosed)
	c.ps.mu.Lock()
	delete(c.grp.consumers, c)
	c.ps.mu.Unlock()
	return nil
}
