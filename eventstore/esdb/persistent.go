package esdb

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"

	"github.com/chronicle-go/chronicle/eventstore"
)

// Persistent subscriptions run on the server; the Store passes them through
// the v4 client. What the v4 client cannot say:
//
//   - It has no PinnedByCorrelation strategy (it would panic): creating or
//     updating a group with it fails with errors.ErrUnsupported.
//   - It sends an update to start from End as one from Start. An update of
//     a stream group to End is sent as the revision after the stream's
//     current last event; one of a $all group fails with
//     errors.ErrUnsupported.
//   - A group's info does not carry its filter (Settings.Filter is nil),
//     and a resolved link's event carries the link's position, as the
//     server sends it.
//   - The server answers nothing to an ack or nack of an unknown id, so the
//     consumer tracks the ids it delivered and not yet acked or nacked, with
//     the time of delivery: an id outside that set, or delivered longer
//     than the group's message timeout ago (the server has retried it), is
//     ErrUnknownMessage without a round trip. The timeout is read from the
//     group's info when the consumer connects; the consumer's clock starts
//     when it receives an event, a little after the server's.
var _ eventstore.PersistentSubscriptions = (*Store)(nil)

// Operation names of persistent subscriptions, as they appear in errors.
const (
	opCreateGroup  = "create persistent subscription"
	opUpdateGroup  = "update persistent subscription"
	opDeleteGroup  = "delete persistent subscription"
	opGroupInfo    = "get persistent subscription info"
	opListGroups   = "list persistent subscriptions"
	opSubscribeTo  = "subscribe to persistent subscription"
	opReplayParked = "replay parked messages"
	opRestartPS    = "restart persistent subscriptions"
	opConsume      = "persistent subscription"
)

// stopGrace is how long a consumer that nacked with NackStop waits for the
// server to end its call before it cancels it.
const stopGrace = time.Second

// never is the call.retry of operations that must not run twice (the
// first may have taken effect).
func never(error) bool { return false }

// mapGroupError maps a client error of an operation on group g.
func mapGroupError(ctx context.Context, op string, g eventstore.PersistentGroup, err error) error {
	if ctx.Err() != nil {
		return mapError(ctx, op, g.Stream, eventstore.Any, err)
	}
	ec, gc := codesOf(err)
	wrap := func(sentinel error) error { return fmt.Errorf("esdb: %s %s: %w: %w", op, g.ID(), sentinel, err) }
	switch {
	case ec == esdb.ErrorCodeResourceAlreadyExists || gc == codes.AlreadyExists:
		return wrap(eventstore.ErrPersistentSubscriptionExists)
	case ec == esdb.ErrorCodeResourceNotFound || gc == codes.NotFound:
		return wrap(eventstore.ErrPersistentSubscriptionNotFound)
	case gc == codes.FailedPrecondition && op == opSubscribeTo:
		// The only failed precondition of a consumer's connection (the
		// client keeps the trailer that says so from us).
		return wrap(eventstore.ErrMaximumSubscribersReached)
	case gc == codes.Internal && (op == opCreateGroup || op == opUpdateGroup):
		// The real server's answer to settings it cannot take.
		return eventstore.NewArgumentError(op, g.Stream, eventstore.ErrInvalidPersistentSettings, "rejected by the server: "+err.Error())
	}
	return mapError(ctx, op, g.Stream, eventstore.Any, err)
}

// groupCall runs a unary operation on a group through the client, retrying
// it when retry allows.
func (s *Store) groupCall(ctx context.Context, op string, g eventstore.PersistentGroup, retry func(error) bool, fn func(context.Context) error) error {
	c := call{op: op, stream: g.Stream, retry: retry}
	ctx, end, err := s.begin(ctx)
	if err != nil {
		return opError(op, g.Stream, nil, err)
	}
	defer end()
	for n := 1; ; n++ {
		if err := s.ready(ctx, c, s.o.reconnectTimeout); err != nil {
			return err
		}
		_, err := detach(s, ctx, func() (struct{}, error) { return struct{}{}, fn(ctx) })
		if err == nil {
			return nil
		}
		if !s.retryable(ctx, err, n, c.retry) || sleep(ctx, s.o.backoff(n)) != nil {
			return mapGroupError(ctx, op, g, err)
		}
	}
}

// toSettings converts settings for the client.
func toSettings(op string, g eventstore.PersistentGroup, st eventstore.PersistentSettings) (esdb.PersistentSubscriptionSettings, error) {
	var strategy esdb.ConsumerStrategy
	switch st.ConsumerStrategy {
	case eventstore.RoundRobin:
		strategy = esdb.ConsumerStrategyRoundRobin
	case eventstore.DispatchToSingle:
		strategy = esdb.ConsumerStrategyDispatchToSingle
	case eventstore.Pinned:
		strategy = esdb.ConsumerStrategyPinned
	default:
		return esdb.PersistentSubscriptionSettings{}, fmt.Errorf("esdb: %s %s: consumer strategy %s: %w by the v4 client", op, g.ID(), st.ConsumerStrategy, errors.ErrUnsupported)
	}
	return esdb.PersistentSubscriptionSettings{
		ResolveLinkTos:       st.ResolveLinks,
		ExtraStatistics:      st.ExtraStatistics,
		MaxRetryCount:        clamp32(st.MaxRetryCount),
		CheckpointLowerBound: clamp32(st.MinCheckpointCount),
		CheckpointUpperBound: clamp32(st.MaxCheckpointCount),
		MaxSubscriberCount:   clamp32(st.MaxSubscriberCount),
		LiveBufferSize:       clamp32(st.LiveBufferSize),
		ReadBatchSize:        clamp32(st.ReadBatchSize),
		HistoryBufferSize:    clamp32(st.HistoryBufferSize),
		ConsumerStrategyName: strategy,
		MessageTimeout:       clamp32(int(st.MessageTimeout.Milliseconds())),
		CheckpointAfter:      clamp32(int(st.CheckpointAfter.Milliseconds())),
	}, nil
}

func clamp32(n int) int32 { return int32(max(min(n, 1<<31-1), -1<<31)) }

// streamStart and allStart convert a group's start point.
func streamStart(f eventstore.From) esdb.StreamPosition {
	if rev, ok := f.Revision(); ok {
		return esdb.StreamRevision{Value: rev}
	}
	if f.IsEnd() {
		return esdb.End{}
	}
	return esdb.Start{}
}

func allStart(f eventstore.From) esdb.AllPosition {
	if pos, ok := f.Position(); ok {
		return toPosition(pos)
	}
	if f.IsEnd() {
		return esdb.End{}
	}
	return esdb.Start{}
}

// checkGroup validates a group and its settings before anything is sent.
func checkGroup(op string, g eventstore.PersistentGroup, st *eventstore.PersistentSettings) (esdb.PersistentSubscriptionSettings, error) {
	if err := g.Validate(op); err != nil {
		return esdb.PersistentSubscriptionSettings{}, err
	}
	if st == nil {
		return esdb.PersistentSubscriptionSettings{}, nil
	}
	if err := st.Validate(g); err != nil {
		return esdb.PersistentSubscriptionSettings{}, err
	}
	return toSettings(op, g, *st)
}

// CreatePersistentSubscription implements eventstore.PersistentSubscriptions.
func (s *Store) CreatePersistentSubscription(ctx context.Context, g eventstore.PersistentGroup, settings eventstore.PersistentSettings) error {
	es, err := checkGroup(opCreateGroup, g, &settings)
	if err != nil {
		return err
	}
	return s.groupCall(ctx, opCreateGroup, g, never, func(ctx context.Context) error {
		if g.IsAll() {
			o := esdb.PersistentAllSubscriptionOptions{Settings: &es, StartFrom: allStart(settings.From)}
			if settings.Filter != nil {
				o.Filter, _ = toFilter(settings.Filter)
			}
			return s.client.CreatePersistentSubscriptionToAll(ctx, g.Group, o)
		}
		return s.client.CreatePersistentSubscription(ctx, g.Stream, g.Group, esdb.PersistentStreamSubscriptionOptions{Settings: &es, StartFrom: streamStart(settings.From)})
	})
}

// UpdatePersistentSubscription implements eventstore.PersistentSubscriptions.
// The filter of a $all group cannot be changed (the protocol's update has
// none): the group keeps the one it was created with.
func (s *Store) UpdatePersistentSubscription(ctx context.Context, g eventstore.PersistentGroup, settings eventstore.PersistentSettings) error {
	es, err := checkGroup(opUpdateGroup, g, &settings)
	if err != nil {
		return err
	}
	if settings.From.IsEnd() {
		if g.IsAll() {
			return fmt.Errorf("esdb: %s %s: starting from End: %w by the v4 client, which sends Start instead", opUpdateGroup, g.ID(), errors.ErrUnsupported)
		}
		sub := &subscription{stream: g.Stream}
		if err := s.run(ctx, call{op: opUpdateGroup, stream: g.Stream, retry: always}, func(ctx context.Context) error { return s.head(ctx, sub) }); err != nil {
			return err
		}
		settings.From = eventstore.Start
		if sub.cur.set {
			settings.From = eventstore.FromRevision(sub.cur.rev + 1)
		}
	}
	return s.groupCall(ctx, opUpdateGroup, g, always, func(ctx context.Context) error {
		if g.IsAll() {
			return s.client.UpdatePersistentSubscriptionToAll(ctx, g.Group, esdb.PersistentAllSubscriptionOptions{Settings: &es, StartFrom: allStart(settings.From)})
		}
		return s.client.UpdatePersistentSubscription(ctx, g.Stream, g.Group, esdb.PersistentStreamSubscriptionOptions{Settings: &es, StartFrom: streamStart(settings.From)})
	})
}

// DeletePersistentSubscription implements eventstore.PersistentSubscriptions.
func (s *Store) DeletePersistentSubscription(ctx context.Context, g eventstore.PersistentGroup) error {
	if _, err := checkGroup(opDeleteGroup, g, nil); err != nil {
		return err
	}
	return s.groupCall(ctx, opDeleteGroup, g, never, func(ctx context.Context) error {
		if g.IsAll() {
			return s.client.DeletePersistentSubscriptionToAll(ctx, g.Group, esdb.DeletePersistentSubscriptionOptions{})
		}
		return s.client.DeletePersistentSubscription(ctx, g.Stream, g.Group, esdb.DeletePersistentSubscriptionOptions{})
	})
}

// GetPersistentSubscriptionInfo implements eventstore.PersistentSubscriptions.
func (s *Store) GetPersistentSubscriptionInfo(ctx context.Context, g eventstore.PersistentGroup) (eventstore.PersistentSubscriptionInfo, error) {
	if _, err := checkGroup(opGroupInfo, g, nil); err != nil {
		return eventstore.PersistentSubscriptionInfo{}, err
	}
	var info *esdb.PersistentSubscriptionInfo
	err := s.groupCall(ctx, opGroupInfo, g, always, func(ctx context.Context) (err error) {
		if g.IsAll() {
			info, err = s.client.GetPersistentSubscriptionInfoToAll(ctx, g.Group, esdb.GetPersistentSubscriptionOptions{})
		} else {
			info, err = s.client.GetPersistentSubscriptionInfo(ctx, g.Stream, g.Group, esdb.GetPersistentSubscriptionOptions{})
		}
		return err
	})
	if err != nil {
		return eventstore.PersistentSubscriptionInfo{}, err
	}
	return fromInfo(info), nil
}

// ListPersistentSubscriptions implements eventstore.PersistentSubscriptions.
func (s *Store) ListPersistentSubscriptions(ctx context.Context, stream string) ([]eventstore.PersistentSubscriptionInfo, error) {
	g := eventstore.PersistentGroup{Stream: stream}
	if stream != "" && stream != eventstore.AllStream {
		if err := eventstore.ValidateStreamName(opListGroups, stream, true); err != nil {
			return nil, err
		}
	}
	var infos []esdb.PersistentSubscriptionInfo
	err := s.groupCall(ctx, opListGroups, g, always, func(ctx context.Context) (err error) {
		switch stream {
		case "":
			infos, err = s.client.ListAllPersistentSubscriptions(ctx, esdb.ListPersistentSubscriptionsOptions{})
		case eventstore.AllStream:
			infos, err = s.client.ListPersistentSubscriptionsToAll(ctx, esdb.ListPersistentSubscriptionsOptions{})
		default:
			infos, err = s.client.ListPersistentSubscriptionsForStream(ctx, stream, esdb.ListPersistentSubscriptionsOptions{})
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]eventstore.PersistentSubscriptionInfo, 0, len(infos))
	for i := range infos {
		out = append(out, fromInfo(&infos[i]))
	}
	return out, nil
}

// ReplayParkedMessages implements eventstore.PersistentSubscriptions.
func (s *Store) ReplayParkedMessages(ctx context.Context, g eventstore.PersistentGroup, stopAt uint64) error {
	if _, err := checkGroup(opReplayParked, g, nil); err != nil {
		return err
	}
	o := esdb.ReplayParkedMessagesOptions{StopAt: int(min(stopAt, 1<<62))}
	return s.groupCall(ctx, opReplayParked, g, never, func(ctx context.Context) error {
		if g.IsAll() {
			return s.client.ReplayParkedMessagesToAll(ctx, g.Group, o)
		}
		return s.client.ReplayParkedMessages(ctx, g.Stream, g.Group, o)
	})
}

// RestartPersistentSubscriptions implements eventstore.PersistentSubscriptions.
func (s *Store) RestartPersistentSubscriptions(ctx context.Context) error {
	return s.groupCall(ctx, opRestartPS, eventstore.PersistentGroup{}, always, func(ctx context.Context) error {
		return s.client.RestartPersistentSubscriptionSubsystem(ctx, esdb.RestartPersistentSubscriptionSubsystemOptions{})
	})
}

// fromInfo converts a group's info.
func fromInfo(in *esdb.PersistentSubscriptionInfo) eventstore.PersistentSubscriptionInfo {
	out := eventstore.PersistentSubscriptionInfo{
		Group:            eventstore.PersistentGroup{Stream: in.EventSource, Group: in.GroupName},
		Status:           in.Status,
		LastCheckpointed: eventstore.Start,
		LastKnown:        eventstore.Start,
	}
	if st := in.Settings; st != nil {
		out.Settings = eventstore.PersistentSettings{
			From:               fromStart(st.StartFrom),
			ResolveLinks:       st.ResolveLinkTos,
			ExtraStatistics:    st.ExtraStatistics,
			MessageTimeout:     time.Duration(st.MessageTimeout) * time.Millisecond,
			MaxRetryCount:      int(st.MaxRetryCount),
			LiveBufferSize:     int(st.LiveBufferSize),
			ReadBatchSize:      int(st.ReadBatchSize),
			HistoryBufferSize:  int(st.HistoryBufferSize),
			CheckpointAfter:    time.Duration(st.CheckpointAfter) * time.Millisecond,
			MinCheckpointCount: int(st.CheckpointLowerBound),
			MaxCheckpointCount: int(st.CheckpointUpperBound),
			MaxSubscriberCount: int(st.MaxSubscriberCount),
			ConsumerStrategy:   eventstore.ConsumerStrategy(st.ConsumerStrategyName),
		}
	}
	if st := in.Stats; st != nil {
		out.LastCheckpointed = place(st.LastCheckpointedEventRevision, st.LastCheckpointedPosition)
		out.LastKnown = place(st.LastKnownEventRevision, st.LastKnownPosition)
		out.TotalItems = st.TotalItems
		out.AveragePerSecond = float64(st.AveragePerSecond)
		out.InFlightMessages = int(st.TotalInFlightMessages)
		out.OutstandingMessages = int(st.OutstandingMessagesCount)
		out.ReadBufferCount = int(st.ReadBufferCount)
		out.LiveBufferCount = int(st.LiveBufferCount)
		out.RetryBufferCount = int(st.RetryBufferCount)
		out.ParkedMessageCount = st.ParkedMessagesCount
	}
	for _, c := range in.Connections {
		out.Connections = append(out.Connections, eventstore.PersistentConnectionInfo{
			Name:             c.ConnectionName,
			From:             c.From,
			TotalItems:       c.TotalItemsProcessed,
			AvailableSlots:   int(c.AvailableSlots),
			InFlightMessages: int(c.InFlightMessages),
		})
	}
	return out
}

// fromStart converts the start point the client parsed from the info.
func fromStart(v any) eventstore.From {
	switch x := v.(type) {
	case esdb.End:
		return eventstore.End
	case esdb.StreamRevision:
		return eventstore.FromRevision(x.Value)
	case *esdb.Position:
		return eventstore.FromPosition(fromPosition(*x))
	}
	return eventstore.Start
}

func place(rev *uint64, pos *esdb.Position) eventstore.From {
	switch {
	case rev != nil:
		return eventstore.FromRevision(*rev)
	case pos != nil:
		return eventstore.FromPosition(fromPosition(*pos))
	}
	return eventstore.Start
}

// SubscribePersistent implements eventstore.PersistentSubscriptions. The
// consumer lives until Close, ctx's end, the store's Close, or the
// server's end of its call; it does not reconnect by itself.
func (s *Store) SubscribePersistent(ctx context.Context, g eventstore.PersistentGroup, opts eventstore.PersistentSubscribeOptions) (eventstore.PersistentSubscription, error) {
	if _, err := checkGroup(opSubscribeTo, g, nil); err != nil {
		return nil, err
	}
	if opts.BufferSize < 0 {
		return nil, eventstore.NewArgumentError(opSubscribeTo, g.Stream, eventstore.ErrInvalidArgument, fmt.Sprintf("buffer size %d is negative", opts.BufferSize))
	}
	// The group's message timeout, for acks of messages the server has
	// retried meanwhile; without it (no info) such acks go to the server,
	// which ignores them.
	var timeout time.Duration
	if info, err := s.GetPersistentSubscriptionInfo(ctx, g); err == nil {
		timeout = info.Settings.MessageTimeout
	} else if errors.Is(err, eventstore.ErrPersistentSubscriptionNotFound) {
		return nil, err
	}
	c := call{op: opSubscribeTo, stream: g.Stream, retry: always}
	cctx, end, err := s.begin(ctx)
	if err != nil {
		return nil, opError(c.op, c.stream, nil, err)
	}
	cctx, cancel := context.WithCancel(cctx)
	o := esdb.SubscribeToPersistentSubscriptionOptions{BufferSize: uint32(min(opts.BufferSize, 1<<31-1))}
	var sub *esdb.PersistentSubscription
	for n := 1; ; n++ {
		if err = s.ready(cctx, c, s.o.reconnectTimeout); err != nil {
			break
		}
		sub, err = detach(s, cctx, func() (*esdb.PersistentSubscription, error) {
			if g.IsAll() {
				return s.client.SubscribeToPersistentSubscriptionToAll(cctx, g.Group, o)
			}
			return s.client.SubscribeToPersistentSubscription(cctx, g.Stream, g.Group, o)
		})
		if err == nil {
			break
		}
		if !s.retryable(cctx, err, n, c.retry) || sleep(cctx, s.o.backoff(n)) != nil {
			err = mapGroupError(cctx, c.op, g, err)
			break
		}
	}
	if err != nil {
		cancel()
		end()
		return nil, err
	}
	p := &consumer{g: g, sub: sub, ctx: cctx, cancel: cancel, events: make(chan delivery), pending: map[uuid.UUID]time.Time{}, timeout: timeout}
	go p.pump(end)
	return p, nil
}

// consumer is one connection to a group. A goroutine (pump) receives from
// the client, which has no context on Recv, and hands deliveries to Recv.
type consumer struct {
	g      eventstore.PersistentGroup
	sub    *esdb.PersistentSubscription
	ctx    context.Context // ends with Close, the caller's ctx or the store's Close
	cancel context.CancelFunc
	events chan delivery // closed by pump after its last delivery

	mu      sync.Mutex              // guards the fields below and sends on sub
	pending map[uuid.UUID]time.Time // delivered, not acked or nacked yet: when
	timeout time.Duration           // the group's message timeout (0: none known)
	closed  bool                    // Close was called, or a nack asked to stop
	final   error
}

type delivery struct {
	ev  eventstore.PersistentEvent
	err error
}

// pump receives until the call ends, then releases the store.
func (c *consumer) pump(end func()) {
	defer end()
	defer close(c.events)
	for {
		ev, err := c.recv()
		if err == nil {
			c.mu.Lock()
			c.pending[ev.ID()] = time.Now()
			c.mu.Unlock()
		}
		select {
		case c.events <- delivery{ev, err}:
		case <-c.ctx.Done():
			c.sub.Close()
			c.finish(nil)
			return
		}
		if err != nil {
			c.sub.Close()
			return
		}
	}
}

// recv receives one event from the client, which panics when the server
// sends anything but an event.
func (c *consumer) recv() (ev eventstore.PersistentEvent, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = c.finish(fmt.Errorf("esdb: %s %s: unexpected message from the server: %v", opConsume, c.g.ID(), r))
		}
	}()
	for {
		m := c.sub.Recv()
		switch {
		case m.SubscriptionDropped != nil:
			return ev, c.finish(c.dropped(m.SubscriptionDropped.Error))
		case m.EventAppeared != nil && m.EventAppeared.Event != nil:
			return toPersistentEvent(m.EventAppeared), nil
		}
	}
}

// dropped maps the error the call ended with.
func (c *consumer) dropped(err error) error {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed || c.ctx.Err() != nil {
		return nil // finish reports ErrClosed or the context's error
	}
	_, gc := codesOf(err)
	switch gc {
	case codes.Canceled, codes.NotFound:
		// Cancelled with "persistent-subscription-dropped" (updated,
		// deleted, restarted, or a nack that stopped), or NotFound (the
		// real server, for a deleted group).
		return fmt.Errorf("esdb: %s %s: %w: %w", opConsume, c.g.ID(), eventstore.ErrPersistentSubscriptionDropped, err)
	case codes.Unavailable:
		return fmt.Errorf("esdb: %s %s: %w: %w: %w", opConsume, c.g.ID(), eventstore.ErrPersistentSubscriptionDropped, eventstore.ErrUnavailable, err)
	}
	return mapGroupError(c.ctx, opConsume, c.g, err)
}

// finish records the consumer's final error (the first one) and returns it;
// nil means "closed": ErrClosed after Close or the store's Close, else the
// context's error.
func (c *consumer) finish(err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.final != nil {
		return c.final
	}
	if err == nil {
		switch cause := context.Cause(c.ctx); {
		case c.closed, errors.Is(cause, eventstore.ErrClosed):
			err = fmt.Errorf("esdb: %s %s: %w", opConsume, c.g.ID(), eventstore.ErrClosed)
		case c.ctx.Err() != nil:
			err = fmt.Errorf("esdb: %s %s: %w", opConsume, c.g.ID(), c.ctx.Err())
		default:
			err = fmt.Errorf("esdb: %s %s: %w", opConsume, c.g.ID(), eventstore.ErrClosed)
		}
	}
	c.final = err
	return err
}

func toPersistentEvent(a *esdb.EventAppeared) eventstore.PersistentEvent {
	r := a.Event
	var e eventstore.RecordedEvent
	switch {
	case r.Event != nil && r.Link != nil:
		e = fromRecorded(r.Event)
		link := fromRecorded(r.Link)
		e.Link = &link
	case r.Event != nil:
		e = fromRecorded(r.Event)
	default:
		e = fromRecorded(r.Link)
	}
	return eventstore.PersistentEvent{Event: e, RetryCount: a.RetryCount}
}

// Recv implements eventstore.PersistentSubscription.
func (c *consumer) Recv(ctx context.Context) (eventstore.PersistentEvent, error) {
	c.mu.Lock()
	closed, final := c.closed, c.final
	c.mu.Unlock()
	if closed {
		return eventstore.PersistentEvent{}, c.finish(nil)
	}
	select {
	case d, ok := <-c.events:
		if !ok {
			return eventstore.PersistentEvent{}, c.finish(nil)
		}
		return d.ev, d.err
	case <-ctx.Done():
		return eventstore.PersistentEvent{}, ctx.Err()
	case <-c.ctx.Done():
		if final != nil {
			return eventstore.PersistentEvent{}, final
		}
		return eventstore.PersistentEvent{}, c.finish(nil)
	}
}

// take removes ids from the pending set, all or none: an id not in flight
// (or named twice) is ErrUnknownMessage.
func (c *consumer) take(op string, ids []uuid.UUID) error {
	if c.closed || c.final != nil {
		return c.finishLocked()
	}
	seen := make(map[uuid.UUID]bool, len(ids))
	now := time.Now()
	for _, id := range ids {
		at, ok := c.pending[id]
		if ok && c.timeout > 0 && now.Sub(at) >= c.timeout {
			// The server has retried it, maybe on another consumer.
			delete(c.pending, id)
			ok = false
		}
		if !ok || seen[id] {
			return fmt.Errorf("esdb: %s %s: %s: %w", op, c.g.ID(), id, eventstore.ErrUnknownMessage)
		}
		seen[id] = true
	}
	for _, id := range ids {
		delete(c.pending, id)
	}
	return nil
}

func (c *consumer) finishLocked() error {
	if c.final != nil {
		return c.final
	}
	return fmt.Errorf("esdb: %s %s: %w", opConsume, c.g.ID(), eventstore.ErrClosed)
}

// refs wraps ids as the client's Ack and Nack take them.
func refs(ids []uuid.UUID) []*esdb.ResolvedEvent {
	out := make([]*esdb.ResolvedEvent, len(ids))
	for i, id := range ids {
		out[i] = &esdb.ResolvedEvent{Event: &esdb.RecordedEvent{EventID: id}}
	}
	return out
}

// Ack implements eventstore.PersistentSubscription.
func (c *consumer) Ack(ids ...uuid.UUID) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.take("ack", ids); err != nil || len(ids) == 0 {
		return err
	}
	if err := c.sub.Ack(refs(ids)...); err != nil {
		return mapGroupError(c.ctx, "ack", c.g, err)
	}
	return nil
}

// Nack implements eventstore.PersistentSubscription.
func (c *consumer) Nack(action eventstore.NackAction, reason string, ids ...uuid.UUID) error {
	var a esdb.NackAction
	switch action {
	case eventstore.NackUnknown:
		a = esdb.NackActionUnknown
	case eventstore.NackPark:
		a = esdb.NackActionPark
	case eventstore.NackRetry:
		a = esdb.NackActionRetry
	case eventstore.NackSkip:
		a = esdb.NackActionSkip
	case eventstore.NackStop:
		a = esdb.NackActionStop
	default:
		return eventstore.NewArgumentError("nack", c.g.Stream, eventstore.ErrInvalidArgument, fmt.Sprintf("nack action %d is not one of park, retry, skip, stop", action))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.take("nack", ids); err != nil || len(ids) == 0 {
		return err
	}
	if err := c.sub.Nack(reason, a, refs(ids)...); err != nil {
		return mapGroupError(c.ctx, "nack", c.g, err)
	}
	if action == eventstore.NackStop {
		// The server ends the call; Recv reports ErrClosed. Cancelling
		// the call at once could drop the nack still queued to be sent.
		c.closed = true
		time.AfterFunc(stopGrace, c.cancel)
	}
	return nil
}

// Close implements eventstore.PersistentSubscription.
func (c *consumer) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	return nil
}
