package esdbserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/persistent"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/chronicle-go/chronicle/eventstore"
)

// persistentService implements the PersistentSubscriptions service over a
// store that offers eventstore.PersistentSubscriptions; New hosts it only
// then (other stores answer Unimplemented, and it is not advertised).
type persistentService struct {
	persistent.UnimplementedPersistentSubscriptionsServer
	srv *Server
	ps  eventstore.PersistentSubscriptions
}

func (p *persistentService) register(r grpc.ServiceRegistrar) {
	persistent.RegisterPersistentSubscriptionsServer(r, p)
}

// methods advertises every method with the features the real server lists:
// "all" on create is what makes the Go client send $all requests at all,
// and getinfo, list, replayparked and restartsubsystem make it use gRPC
// rather than the HTTP API for them.
func (p *persistentService) methods() []supportedMethod {
	svc := persistent.PersistentSubscriptions_ServiceDesc.ServiceName
	features := []string{"stream", "all"}
	var out []supportedMethod
	for _, m := range []string{"Create", "Update", "Delete", "Read", "GetInfo", "ReplayParked", "List", "RestartSubsystem"} {
		out = append(out, supportedMethod{service: svc, method: m, features: features})
	}
	return out
}

// Trailers and exceptions of persistent-subscription errors.
const (
	trailerGroupName = "group-name"
	trailerReason    = "reason"

	exceptionGroupExists      = "persistent-subscription-exists"
	exceptionGroupNotFound    = "persistent-subscription-does-not-exist"
	exceptionGroupFailed      = "persistent-subscription-failed"
	exceptionMaxSubscribers   = "maximum-subscribers-reached"
	exceptionGroupDropped     = "persistent-subscription-dropped"
	defaultPersistentConsumer = "<unknown>"
	headerConnectionName      = "connection-name"
)

// persistentError maps a store error about group g to the real server's
// status and trailers (esdb-protocol §3.4): exists AlreadyExists, missing
// NotFound, too many consumers FailedPrecondition, dropped Cancelled, and
// settings the group cannot have Internal with the reason.
func persistentError(g eventstore.PersistentGroup, err error) *rpcError {
	stream, group := trailerValue(g.Stream), trailerValue(g.Group)
	with := func(code codes.Code, exception, msg string, extra ...string) *rpcError {
		kv := append([]string{trailerException, exception, trailerStreamName, stream, trailerGroupName, group}, extra...)
		return newError(code, msg, kv...)
	}
	var arg *eventstore.ArgumentError
	switch {
	case errors.Is(err, eventstore.ErrPersistentSubscriptionExists):
		return with(codes.AlreadyExists, exceptionGroupExists, fmt.Sprintf("Subscription group %s on stream %s exists.", g.Group, g.Stream))
	case errors.Is(err, eventstore.ErrPersistentSubscriptionNotFound):
		return with(codes.NotFound, exceptionGroupNotFound, fmt.Sprintf("Subscription group %s on stream %s does not exist.", g.Group, g.Stream))
	case errors.Is(err, eventstore.ErrMaximumSubscribersReached):
		return with(codes.FailedPrecondition, exceptionMaxSubscribers, fmt.Sprintf("Maximum subscriptions reached for subscription group %s on stream %s.", g.Group, g.Stream))
	case errors.Is(err, eventstore.ErrPersistentSubscriptionDropped):
		return with(codes.Canceled, exceptionGroupDropped, fmt.Sprintf("Subscription group %s on stream %s was dropped.", g.Group, g.Stream))
	case errors.Is(err, eventstore.ErrInvalidPersistentSettings):
		reason := err.Error()
		if errors.As(err, &arg) && arg.Detail != "" {
			reason = arg.Detail
		}
		return with(codes.Internal, exceptionGroupFailed, fmt.Sprintf("Subscription group %s on stream %s failed: '%s'", g.Group, g.Stream, reason),
			trailerReason, trailerValue(reason))
	}
	return mapError(g.Stream, err)
}

// failGroup answers a failed call about g, logging the server's faults.
func (p *persistentService) failGroup(ctx context.Context, set trailerSetter, op string, g eventstore.PersistentGroup, err error) error {
	re := persistentError(g, err)
	if c := re.st.Code(); c == codes.Unknown || c == codes.Unavailable || (c == codes.Internal && !errors.Is(err, eventstore.ErrInvalidPersistentSettings)) {
		p.srv.log.LogAttrs(ctx, slog.LevelError, "esdbserver: persistent subscription call failed",
			slog.String("op", op), slog.String("group", g.ID()), slog.Any("error", err))
	}
	return fail(set, re)
}

func unaryTrailer(ctx context.Context) trailerSetter {
	return func(md metadata.MD) { _ = grpc.SetTrailer(ctx, md) }
}

// Create creates a group.
func (p *persistentService) Create(ctx context.Context, req *persistent.CreateReq) (*persistent.CreateResp, error) {
	g, settings, err := decodeCreate(req)
	if err != nil {
		return nil, fail(unaryTrailer(ctx), err)
	}
	if err := p.ps.CreatePersistentSubscription(ctx, g, settings); err != nil {
		return nil, p.failGroup(ctx, unaryTrailer(ctx), "create", g, err)
	}
	return &persistent.CreateResp{}, nil
}

// Update replaces a group's settings. The request has no filter: a $all
// group keeps its own.
func (p *persistentService) Update(ctx context.Context, req *persistent.UpdateReq) (*persistent.UpdateResp, error) {
	g, settings, err := decodeUpdate(req)
	if err != nil {
		return nil, fail(unaryTrailer(ctx), err)
	}
	if g.IsAll() {
		info, err := p.ps.GetPersistentSubscriptionInfo(ctx, g)
		if err != nil {
			return nil, p.failGroup(ctx, unaryTrailer(ctx), "update", g, err)
		}
		settings.Filter = info.Settings.Filter
	}
	if err := p.ps.UpdatePersistentSubscription(ctx, g, settings); err != nil {
		return nil, p.failGroup(ctx, unaryTrailer(ctx), "update", g, err)
	}
	return &persistent.UpdateResp{}, nil
}

// Delete deletes a group.
func (p *persistentService) Delete(ctx context.Context, req *persistent.DeleteReq) (*persistent.DeleteResp, error) {
	o := req.GetOptions()
	g, err := groupOf(o.GetStreamIdentifier(), o.GetAll(), o.GetGroupName())
	if err != nil {
		return nil, fail(unaryTrailer(ctx), err)
	}
	if err := p.ps.DeletePersistentSubscription(ctx, g); err != nil {
		return nil, p.failGroup(ctx, unaryTrailer(ctx), "delete", g, err)
	}
	return &persistent.DeleteResp{}, nil
}

// GetInfo describes a group.
func (p *persistentService) GetInfo(ctx context.Context, req *persistent.GetInfoReq) (*persistent.GetInfoResp, error) {
	o := req.GetOptions()
	g, err := groupOf(o.GetStreamIdentifier(), o.GetAll(), o.GetGroupName())
	if err != nil {
		return nil, fail(unaryTrailer(ctx), err)
	}
	info, err := p.ps.GetPersistentSubscriptionInfo(ctx, g)
	if err != nil {
		return nil, p.failGroup(ctx, unaryTrailer(ctx), "get info", g, err)
	}
	return &persistent.GetInfoResp{SubscriptionInfo: subscriptionInfo(&info)}, nil
}

// List lists every group, or the groups of one stream or of $all (NotFound
// when it has none, as the real server answers).
func (p *persistentService) List(ctx context.Context, req *persistent.ListReq) (*persistent.ListResp, error) {
	o := req.GetOptions()
	var stream string
	switch {
	case o.GetListAllSubscriptions() != nil:
	case o.GetListForStream() != nil:
		s := o.GetListForStream()
		g, err := groupOf(s.GetStream(), s.GetAll(), "")
		if err != nil {
			return nil, fail(unaryTrailer(ctx), err)
		}
		stream = g.Stream
	default:
		return nil, fail(unaryTrailer(ctx), invalidArgument("list request without options"))
	}
	infos, err := p.ps.ListPersistentSubscriptions(ctx, stream)
	if err != nil {
		return nil, p.failGroup(ctx, unaryTrailer(ctx), "list", eventstore.PersistentGroup{Stream: stream}, err)
	}
	out := &persistent.ListResp{Subscriptions: make([]*persistent.SubscriptionInfo, 0, len(infos))}
	for i := range infos {
		out.Subscriptions = append(out.Subscriptions, subscriptionInfo(&infos[i]))
	}
	return out, nil
}

// ReplayParked replays a group's parked messages, all of them or the first
// stop_at.
func (p *persistentService) ReplayParked(ctx context.Context, req *persistent.ReplayParkedReq) (*persistent.ReplayParkedResp, error) {
	o := req.GetOptions()
	g, err := groupOf(o.GetStreamIdentifier(), o.GetAll(), o.GetGroupName())
	if err != nil {
		return nil, fail(unaryTrailer(ctx), err)
	}
	var stopAt uint64
	if x, ok := o.GetStopAtOption().(*persistent.ReplayParkedReq_Options_StopAt); ok {
		if x.StopAt < 0 {
			return nil, fail(unaryTrailer(ctx), invalidArgument("stop_at %d is negative", x.StopAt))
		}
		stopAt = uint64(x.StopAt)
	}
	if err := p.ps.ReplayParkedMessages(ctx, g, stopAt); err != nil {
		return nil, p.failGroup(ctx, unaryTrailer(ctx), "replay parked", g, err)
	}
	return &persistent.ReplayParkedResp{}, nil
}

// RestartSubsystem restarts every group.
func (p *persistentService) RestartSubsystem(ctx context.Context, _ *shared.Empty) (*shared.Empty, error) {
	if err := p.ps.RestartPersistentSubscriptions(ctx); err != nil {
		return nil, p.srv.failCall(ctx, unaryTrailer(ctx), "restart persistent subscriptions", "", err)
	}
	return &shared.Empty{}, nil
}

// Read connects a consumer. The first request names the group; the answer
// starts with subscription_confirmation (the subscription id
// "<stream>::<group>"), then carries only events, each with its retry count:
// the Go client panics on anything else. Later requests ack or nack events
// by the ids of their original records. An ack or nack of an id not in
// flight on this consumer is ignored, as the real server does (the protocol
// has no answer for it). The call ends when the client cancels it, with
// Cancelled and "exception: persistent-subscription-dropped" when the group
// is updated, deleted or restarted or a nack asked to stop, and with
// Unavailable when the server shuts down.
func (p *persistentService) Read(call persistent.PersistentSubscriptions_ReadServer) error {
	ctx := call.Context()
	first, err := call.Recv()
	if err != nil {
		return recvError(err, "persistent subscription read without options")
	}
	o := first.GetOptions()
	if o == nil {
		return fail(call.SetTrailer, invalidArgument("the first persistent subscription read request must carry options"))
	}
	g, err := groupOf(o.GetStreamIdentifier(), o.GetAll(), o.GetGroupName())
	if err != nil {
		return fail(call.SetTrailer, err)
	}
	if o.GetBufferSize() < 0 {
		return fail(call.SetTrailer, invalidArgument("buffer_size %d is negative", o.GetBufferSize()))
	}
	uuidString := o.GetUuidOption().GetString_() != nil
	name := defaultPersistentConsumer
	if md, _ := metadata.FromIncomingContext(ctx); len(md.Get(headerConnectionName)) > 0 {
		name = md.Get(headerConnectionName)[0]
	}

	// Shutdown ends the call with errShuttingDown; the request reader with
	// the error of a bad request.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(p.srv.closing, func() { cancel(errShuttingDown) })
	defer stop()

	sub, err := p.ps.SubscribePersistent(ctx, g, eventstore.PersistentSubscribeOptions{BufferSize: int(o.GetBufferSize()), Name: name})
	if err != nil {
		return p.failGroup(ctx, call.SetTrailer, "subscribe", g, err)
	}
	defer sub.Close()
	confirm := &persistent.ReadResp{Content: &persistent.ReadResp_SubscriptionConfirmation_{
		SubscriptionConfirmation: &persistent.ReadResp_SubscriptionConfirmation{SubscriptionId: g.ID()},
	}}
	if err := call.Send(confirm); err != nil {
		return err
	}
	var stopped atomic.Bool // a nack asked to stop
	go p.acks(ctx, call, sub, &stopped, cancel)
	for {
		ev, err := sub.Recv(ctx)
		if err != nil {
			return p.readEnded(ctx, call, g, &stopped, err)
		}
		if err := call.Send(persistentEvent(&ev, uuidString)); err != nil {
			return err
		}
	}
}

// readEnded answers the end of a consumer's call.
func (p *persistentService) readEnded(ctx context.Context, call persistent.PersistentSubscriptions_ReadServer, g eventstore.PersistentGroup, stopped *atomic.Bool, err error) error {
	var re *rpcError
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errShuttingDown):
		return newError(codes.Unavailable, errShuttingDownMessage).st.Err()
	case errors.As(cause, &re):
		return fail(call.SetTrailer, re)
	case stopped.Load() || errors.Is(err, eventstore.ErrPersistentSubscriptionDropped):
		return fail(call.SetTrailer, persistentError(g, eventstore.ErrPersistentSubscriptionDropped))
	}
	return p.failGroup(ctx, call.SetTrailer, "read", g, err)
}

// acks reads the consumer's acks and nacks until the call ends. A request
// that is neither, or a nack with an unknown action, ends the call with
// InvalidArgument (through cancel).
func (p *persistentService) acks(ctx context.Context, call persistent.PersistentSubscriptions_ReadServer, sub eventstore.PersistentSubscription, stopped *atomic.Bool, cancel context.CancelCauseFunc) {
	for {
		req, err := call.Recv()
		if err != nil {
			return // the client half-closed, or the call ended
		}
		switch {
		case req.GetAck() != nil:
			ids, err := decodeIDs(req.GetAck().GetIds())
			if err != nil {
				cancel(err)
				return
			}
			settle(ids, func(ids ...uuid.UUID) error { return sub.Ack(ids...) })
		case req.GetNack() != nil:
			n := req.GetNack()
			action, ok := nackActions[n.GetAction()]
			if !ok {
				cancel(invalidArgument("nack action %d is not one of Unknown, Park, Retry, Skip, Stop", n.GetAction()))
				return
			}
			ids, err := decodeIDs(n.GetIds())
			if err != nil {
				cancel(err)
				return
			}
			if action == eventstore.NackStop {
				stopped.Store(true)
			}
			settle(ids, func(ids ...uuid.UUID) error { return sub.Nack(action, n.GetReason(), ids...) })
		default:
			cancel(invalidArgument("a persistent subscription read request after the options must be an ack or a nack"))
			return
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// settle acks or nacks ids. The store refuses a whole call when one id is
// not in flight; the real server settles the ids it knows and ignores the
// others, so the ids are then settled one by one.
func settle(ids []uuid.UUID, do func(...uuid.UUID) error) {
	if len(ids) == 0 {
		return
	}
	if err := do(ids...); !errors.Is(err, eventstore.ErrUnknownMessage) || len(ids) == 1 {
		return
	}
	for _, id := range ids {
		_ = do(id)
	}
}

var nackActions = map[persistent.ReadReq_Nack_Action]eventstore.NackAction{
	persistent.ReadReq_Nack_Unknown: eventstore.NackUnknown,
	persistent.ReadReq_Nack_Park:    eventstore.NackPark,
	persistent.ReadReq_Nack_Retry:   eventstore.NackRetry,
	persistent.ReadReq_Nack_Skip:    eventstore.NackSkip,
	persistent.ReadReq_Nack_Stop:    eventstore.NackStop,
}

func decodeIDs(in []*shared.UUID) ([]uuid.UUID, error) {
	ids := make([]uuid.UUID, 0, len(in))
	for _, u := range in {
		id, err := decodeUUID(u)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// persistentEvent encodes a delivery: the event and, when it was reached
// through a link, the link, both with the original record's position (as
// the real server sets them), and the retry count.
func persistentEvent(ev *eventstore.PersistentEvent, uuidString bool) *persistent.ReadResp {
	orig := ev.Event.Original()
	re := &persistent.ReadResp_ReadEvent{
		Position: &persistent.ReadResp_ReadEvent_CommitPosition{CommitPosition: orig.Position.Commit},
		Count:    &persistent.ReadResp_ReadEvent_RetryCount{RetryCount: int32(min(ev.RetryCount, 1<<31-1))},
		Event:    persistentRecord(&ev.Event, orig.Position, uuidString),
	}
	if ev.Event.Link != nil {
		re.Link = persistentRecord(ev.Event.Link, orig.Position, uuidString)
	}
	return &persistent.ReadResp{Content: &persistent.ReadResp_Event{Event: re}}
}

// persistentRecord is recordedEvent in the persistent service's message
// type, at position pos.
func persistentRecord(e *eventstore.RecordedEvent, pos eventstore.Position, uuidString bool) *persistent.ReadResp_ReadEvent_RecordedEvent {
	r := recordedEvent(e, uuidString)
	return &persistent.ReadResp_ReadEvent_RecordedEvent{
		Id:               r.Id,
		StreamIdentifier: r.StreamIdentifier,
		StreamRevision:   r.StreamRevision,
		PreparePosition:  pos.Prepare,
		CommitPosition:   pos.Commit,
		Metadata:         r.Metadata,
		CustomMetadata:   r.CustomMetadata,
		Data:             r.Data,
	}
}

// subscriptionInfo encodes a group's info. Positions are strings the
// clients parse (esdb-protocol §7.5): start_from is "0" (start), "-1" (end)
// or a revision for a stream group, "C:0/P:0", "C:-1/P:-1" or
// "C:<commit>/P:<prepare>" for a $all group; the last checkpointed and last
// known places are "" when there is none.
func subscriptionInfo(info *eventstore.PersistentSubscriptionInfo) *persistent.SubscriptionInfo {
	s := info.Settings
	out := &persistent.SubscriptionInfo{
		EventSource:                   info.Group.Stream,
		GroupName:                     info.Group.Group,
		Status:                        info.Status,
		AveragePerSecond:              int32(info.AveragePerSecond),
		TotalItems:                    info.TotalItems,
		LastCheckpointedEventPosition: placeString(info.LastCheckpointed),
		LastKnownEventPosition:        placeString(info.LastKnown),
		ResolveLinkTos:                s.ResolveLinks,
		StartFrom:                     startString(info.Group.IsAll(), s.From),
		MessageTimeoutMilliseconds:    clampInt32(s.MessageTimeout.Milliseconds()),
		ExtraStatistics:               s.ExtraStatistics,
		MaxRetryCount:                 clampInt32(int64(s.MaxRetryCount)),
		LiveBufferSize:                clampInt32(int64(s.LiveBufferSize)),
		BufferSize:                    clampInt32(int64(s.HistoryBufferSize)),
		ReadBatchSize:                 clampInt32(int64(s.ReadBatchSize)),
		CheckPointAfterMilliseconds:   clampInt32(s.CheckpointAfter.Milliseconds()),
		MinCheckPointCount:            clampInt32(int64(s.MinCheckpointCount)),
		MaxCheckPointCount:            clampInt32(int64(s.MaxCheckpointCount)),
		ReadBufferCount:               clampInt32(int64(info.ReadBufferCount)),
		LiveBufferCount:               int64(info.LiveBufferCount),
		RetryBufferCount:              clampInt32(int64(info.RetryBufferCount)),
		TotalInFlightMessages:         clampInt32(int64(info.InFlightMessages)),
		OutstandingMessagesCount:      clampInt32(int64(info.OutstandingMessages)),
		NamedConsumerStrategy:         string(s.ConsumerStrategy),
		MaxSubscriberCount:            clampInt32(int64(s.MaxSubscriberCount)),
		ParkedMessageCount:            info.ParkedMessageCount,
	}
	for _, c := range info.Connections {
		out.Connections = append(out.Connections, &persistent.SubscriptionInfo_ConnectionInfo{
			From:             c.From,
			TotalItems:       c.TotalItems,
			AvailableSlots:   clampInt32(int64(c.AvailableSlots)),
			InFlightMessages: clampInt32(int64(c.InFlightMessages)),
			ConnectionName:   c.Name,
		})
	}
	return out
}

func clampInt32(n int64) int32 { return int32(max(min(n, 1<<31-1), -1<<31)) }

// startString formats a group's start point.
func startString(all bool, f eventstore.From) string {
	switch {
	case f.IsStart() && all:
		return "C:0/P:0"
	case f.IsStart():
		return "0"
	case f.IsEnd() && all:
		return "C:-1/P:-1"
	case f.IsEnd():
		return "-1"
	}
	return placeString(f)
}

// placeString formats a revision or a position; "" for none.
func placeString(f eventstore.From) string {
	if rev, ok := f.Revision(); ok {
		return strconv.FormatUint(rev, 10)
	}
	if pos, ok := f.Position(); ok {
		return pos.String()
	}
	return ""
}
