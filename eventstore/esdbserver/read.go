package esdbserver

import (
	"context"
	"errors"
	"iter"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/backend"
)

// Read serves reads of a stream or of $all and catch-up subscriptions.
//
// A plain read sends only events, or one stream_not_found message: the Go
// client panics on anything else. A subscription sends a confirmation first,
// then events, caught_up (again after each fell_behind) and, when filtered,
// checkpoints; it ends when the client cancels it, with the stream-deleted
// error when its stream is tombstoned, and with Unavailable when the server
// shuts down.
func (s *streamsService) Read(req *streams.ReadReq, call streams.Streams_ReadServer) error {
	ctx := call.Context()
	r, err := decodeRead(req)
	if err != nil {
		return fail(call.SetTrailer, err)
	}
	if r.subscribe {
		return s.subscribe(ctx, &r, call)
	}
	return s.read(ctx, &r, call)
}

func (s *streamsService) read(ctx context.Context, r *readRequest, call streams.Streams_ReadServer) error {
	// A count of 0 returns no events but still reports a missing stream.
	limit := max(r.count, 1)
	var events iter.Seq2[eventstore.RecordedEvent, error]
	if r.all {
		events = s.srv.store.ReadAll(ctx, eventstore.ReadAllOptions{Direction: r.direction, From: r.from, MaxCount: limit, Filter: r.filter, ResolveLinks: r.resolveLinks})
	} else {
		events = s.srv.readStream(ctx, r.stream, eventstore.ReadOptions{Direction: r.direction, From: r.from, MaxCount: limit, ResolveLinks: r.resolveLinks})
	}
	var w eventWriter
	for e, err := range events {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return call.Send(&streams.ReadResp{Content: &streams.ReadResp_StreamNotFound_{StreamNotFound: &streams.ReadResp_StreamNotFound{
				StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(r.stream)},
			}}})
		}
		if err != nil {
			return s.srv.failCall(ctx, call.SetTrailer, "read", r.target(), err)
		}
		if r.count == 0 {
			return nil
		}
		if err := call.Send(s.event(&w, &e, r)); err != nil {
			return err
		}
	}
	return nil
}

func (s *streamsService) subscribe(ctx context.Context, r *readRequest, call streams.Streams_ReadServer) error {
	// Bad options fail the call before the confirmation.
	var err error
	if r.all {
		_, err = backend.ValidateSubscribeAll(eventstore.SubscribeAllOptions{From: r.from, Filter: r.filter})
	} else {
		err = backend.ValidateSubscribe(r.stream, eventstore.SubscribeOptions{From: r.from})
	}
	if err != nil {
		return fail(call.SetTrailer, mapError(r.target(), err))
	}

	// Shutdown cancels the subscription with errShuttingDown.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(s.srv.closing, func() { cancel(errShuttingDown) })
	defer stop()

	confirm := &streams.ReadResp{Content: &streams.ReadResp_Confirmation{Confirmation: &streams.ReadResp_SubscriptionConfirmation{
		SubscriptionId: uuid.NewString(),
	}}}
	if err := call.Send(confirm); err != nil {
		return err
	}
	var messages iter.Seq2[eventstore.Message, error]
	if r.all {
		messages = s.srv.store.SubscribeToAll(ctx, eventstore.SubscribeAllOptions{From: r.from, Filter: r.filter, ResolveLinks: r.resolveLinks})
	} else {
		messages = s.srv.store.SubscribeToStream(ctx, r.stream, eventstore.SubscribeOptions{From: r.from, ResolveLinks: r.resolveLinks})
	}
	// checkpointed: the last message sent was a checkpoint. A filtered
	// subscription always sends one right before caught_up.
	checkpointed := false
	prog := newProgress(r)
	var w eventWriter
	for m, err := range messages {
		if err != nil {
			if errors.Is(context.Cause(ctx), errShuttingDown) {
				return newError(codes.Unavailable, errShuttingDownMessage).st.Err()
			}
			return s.srv.failCall(ctx, call.SetTrailer, "subscribe", r.target(), err)
		}
		var msgs []*streams.ReadResp
		switch m.Kind {
		case eventstore.MessageEvent:
			msgs = append(msgs, s.event(&w, &m.Event, r))
			prog.sent(m.Event.Original())
		case eventstore.MessageCheckpoint:
			msgs = append(msgs, checkpoint(m.Position))
		case eventstore.MessageCaughtUp:
			if r.filter != nil && !checkpointed && !m.Position.IsZero() {
				msgs = append(msgs, checkpoint(m.Position))
			}
			msgs = append(msgs, caughtUpMessage(time.Now(), s.at(ctx, r, prog, m.Position, false)))
		case eventstore.MessageFellBehind:
			msgs = append(msgs, fellBehindMessage(time.Now(), s.at(ctx, r, prog, m.Position, true)))
		}
		for _, msg := range msgs {
			if err := call.Send(msg); err != nil {
				return err
			}
		}
		checkpointed = m.Kind == eventstore.MessageCheckpoint
	}
	// A store's subscription ends only with an error; be safe anyway.
	if errors.Is(context.Cause(ctx), errShuttingDown) {
		return newError(codes.Unavailable, errShuttingDownMessage).st.Err()
	}
	return newError(codes.Unavailable, "esdbserver: the store ended the subscription").st.Err()
}

func checkpoint(p eventstore.Position) *streams.ReadResp {
	return checkpointMessage(p, time.Now())
}

// event encodes one event of a read or subscription with w. The store
// resolved links when the request asked for it (ResolveLinks): a resolved
// link is sent as the event with its link record, a link whose target is
// gone as the link record alone, as EventStoreDB does. The message is valid
// until w encodes the next one.
func (s *streamsService) event(w *eventWriter, e *eventstore.RecordedEvent, r *readRequest) *streams.ReadResp {
	switch {
	case e.Link != nil:
		return w.event(e.Link, e, true, r.uuidString)
	case r.resolveLinks && e.IsLink():
		return w.event(e, nil, true, r.uuidString)
	}
	return w.event(e, nil, false, r.uuidString)
}
