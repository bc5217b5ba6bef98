package esdbserver

import (
	"context"
	"errors"
	"iter"
	"strconv"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/backend"
)

// linkEventType is the type of link events, whose data is
// "<revision>@<stream>".
const linkEventType = "$>"

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
	if err := s.srv.authenticate(ctx); err != nil {
		return err
	}
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
		events = s.srv.store.ReadAll(ctx, eventstore.ReadAllOptions{Direction: r.direction, From: r.from, MaxCount: limit, Filter: r.filter})
	} else {
		events = s.srv.store.ReadStream(ctx, r.stream, eventstore.ReadOptions{Direction: r.direction, From: r.from, MaxCount: limit})
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
		msg, err := s.event(ctx, &w, &e, r)
		if err != nil {
			return s.srv.failCall(ctx, call.SetTrailer, "read", r.target(), err)
		}
		if err := call.Send(msg); err != nil {
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
		messages = s.srv.store.SubscribeToAll(ctx, eventstore.SubscribeAllOptions{From: r.from, Filter: r.filter})
	} else {
		messages = s.srv.store.SubscribeToStream(ctx, r.stream, eventstore.SubscribeOptions{From: r.from})
	}
	// checkpointed: the last message sent was a checkpoint. A filtered
	// subscription always sends one right before caught_up.
	checkpointed := false
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
			msg, err := s.event(ctx, &w, &m.Event, r)
			if err != nil {
				return s.srv.failCall(ctx, call.SetTrailer, "subscribe", r.target(), err)
			}
			msgs = append(msgs, msg)
		case eventstore.MessageCheckpoint:
			msgs = append(msgs, checkpoint(m.Position))
		case eventstore.MessageCaughtUp:
			if r.filter != nil && !checkpointed && !m.Position.IsZero() {
				msgs = append(msgs, checkpoint(m.Position))
			}
			msgs = append(msgs, &streams.ReadResp{Content: &streams.ReadResp_CaughtUp_{CaughtUp: &streams.ReadResp_CaughtUp{}}})
		case eventstore.MessageFellBehind:
			msgs = append(msgs, &streams.ReadResp{Content: &streams.ReadResp_FellBehind_{FellBehind: &streams.ReadResp_FellBehind{}}})
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
	return &streams.ReadResp{Content: &streams.ReadResp_Checkpoint_{Checkpoint: &streams.ReadResp_Checkpoint{
		CommitPosition: p.Commit, PreparePosition: p.Prepare,
	}}}
}

// event encodes one event of a read or subscription with w, resolving it
// when it is a link and the request asked for that. The message is valid
// until w encodes the next one.
func (s *streamsService) event(ctx context.Context, w *eventWriter, e *eventstore.RecordedEvent, r *readRequest) (*streams.ReadResp, error) {
	if !r.resolveLinks || e.Type != linkEventType {
		return w.event(e, nil, false, r.uuidString), nil
	}
	target, err := s.resolve(ctx, e)
	if err != nil {
		return nil, err
	}
	return w.event(e, target, true, r.uuidString), nil
}

// resolve returns the event a link points to, or nil when the link is
// malformed or its target is not (or no longer) visible.
func (s *streamsService) resolve(ctx context.Context, link *eventstore.RecordedEvent) (*eventstore.RecordedEvent, error) {
	revText, stream, ok := strings.Cut(string(link.Data), "@")
	if !ok {
		return nil, nil
	}
	rev, err := strconv.ParseUint(revText, 10, 64)
	if err != nil {
		return nil, nil
	}
	for e, err := range s.srv.store.ReadStream(ctx, stream, eventstore.ReadOptions{From: eventstore.FromRevision(rev), MaxCount: 1}) {
		switch {
		case errors.Is(err, eventstore.ErrStreamNotFound), errors.Is(err, eventstore.ErrStreamDeleted), errors.Is(err, eventstore.ErrInvalidArgument):
			return nil, nil
		case err != nil:
			return nil, err
		case e.Revision != rev:
			return nil, nil
		}
		return &e, nil
	}
	return nil, nil
}
