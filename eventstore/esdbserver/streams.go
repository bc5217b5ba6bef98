package esdbserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"golang.org/x/sync/semaphore"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/backend"
)

// streamsService implements the Streams service: Append, Read (reads and
// catch-up subscriptions, in read.go), Delete and Tombstone. BatchAppend is
// left unimplemented (no v4 client calls it) and is not advertised.
type streamsService struct {
	streams.UnimplementedStreamsServer
	srv *Server
}

func (s *streamsService) register(r grpc.ServiceRegistrar) { streams.RegisterStreamsServer(r, s) }

func (s *streamsService) methods() []supportedMethod {
	svc := streams.Streams_ServiceDesc.ServiceName
	return []supportedMethod{
		{service: svc, method: "Read", features: []string{"position", "events"}},
		{service: svc, method: "Append"},
		{service: svc, method: "Delete"},
		{service: svc, method: "Tombstone"},
	}
}

// Append appends the proposed events to a stream. The first message carries
// the options; each later one proposes one event. Size limits are checked as
// events arrive, so an oversized append is refused before it is buffered.
// A wrong expected revision is answered in-band, as EventStoreDB does.
func (s *streamsService) Append(call streams.Streams_AppendServer) error {
	held := &heldBytes{sem: s.srv.inFlight}
	defer held.release()
	stream, events, err := s.receiveAppend(call, held)
	if err != nil {
		// Clients send every message before they read the answer; the Go
		// client reports a call that ended while it was still sending as a
		// bare EOF. Reading the rest first gets them the real error.
		s.drain(call)
		return fail(call.SetTrailer, err)
	}
	ctx := call.Context()
	res, err := s.append(ctx, stream.name, stream.expected, events)
	var wrong *eventstore.WrongExpectedVersionError
	switch {
	case errors.As(err, &wrong):
		return call.SendAndClose(appendWrongVersion(wrong))
	case err != nil:
		return s.srv.failCall(ctx, call.SetTrailer, "append", stream.name, err)
	}
	return call.SendAndClose(appendSuccess(res))
}

// appendTarget is the stream and expected revision of an append.
type appendTarget struct {
	name     string
	expected eventstore.ExpectedRevision
}

// receiveAppend receives an append's options and events, checking them as
// they arrive.
func (s *streamsService) receiveAppend(call streams.Streams_AppendServer, held *heldBytes) (appendTarget, []eventstore.EventData, error) {
	first, err := call.Recv()
	if err != nil {
		return appendTarget{}, nil, recvError(err, "append request without options")
	}
	var target appendTarget
	if target.name, target.expected, err = decodeAppendOptions(first); err != nil {
		return appendTarget{}, nil, err
	}
	var (
		events []eventstore.EventData
		total  int
		next   proposedReader
	)
	for {
		ev, err := next.recv(call)
		if errors.Is(err, io.EOF) {
			return target, events, nil
		}
		if err != nil {
			return appendTarget{}, nil, err
		}
		size := backend.EventSize(&ev)
		if size > eventstore.MaxEventSize {
			return appendTarget{}, nil, newError(codes.InvalidArgument,
				fmt.Sprintf("esdbserver: event %s is %d bytes, more than the maximum of %d", ev.ID, size, eventstore.MaxEventSize),
				trailerException, exceptionMaxEventSize,
				trailerMaxEventSize, strconv.Itoa(eventstore.MaxEventSize),
				trailerEventID, ev.ID.String(),
				trailerProposedSize, strconv.Itoa(size))
		}
		if total += size; total > s.srv.opts.maxAppendSize {
			return appendTarget{}, nil, newError(codes.InvalidArgument,
				fmt.Sprintf("esdbserver: the append is larger than the maximum of %d bytes", s.srv.opts.maxAppendSize),
				trailerException, exceptionMaxAppendSize,
				trailerMaxAppendSize, strconv.Itoa(s.srv.opts.maxAppendSize))
		}
		if err := held.take(call.Context(), size); err != nil {
			return appendTarget{}, nil, err
		}
		events = append(events, ev)
	}
}

// heldBytes is what one append holds of the server's in-flight budget.
type heldBytes struct {
	sem *semaphore.Weighted
	n   int64
}

// take adds n bytes: it waits for them while the append holds nothing, and
// fails with ResourceExhausted when it holds some and the budget is spent
// (two appends waiting for each other's bytes would never finish).
func (h *heldBytes) take(ctx context.Context, n int) error {
	if h.n == 0 {
		if err := h.sem.Acquire(ctx, int64(n)); err != nil {
			return status.FromContextError(err).Err()
		}
	} else if !h.sem.TryAcquire(int64(n)) {
		return newError(codes.ResourceExhausted, "esdbserver: too many bytes of appends in flight; retry the append")
	}
	h.n += int64(n)
	return nil
}

func (h *heldBytes) release() {
	if h.n > 0 {
		h.sem.Release(h.n)
		h.n = 0
	}
}

// drain reads and discards what is left of a refused append, up to the
// maximum append size, so that the client gets to read the answer.
func (s *streamsService) drain(call streams.Streams_AppendServer) {
	for budget := s.srv.opts.maxAppendSize; budget >= 0; {
		msg, err := call.Recv()
		if err != nil {
			return
		}
		budget -= proto.Size(msg)
	}
}

// append writes events to a stream. The metadata stream $$<stream> takes
// one $metadata event per append, which becomes Store.SetStreamMetadata
// (that is what clients' SetStreamMetadata sends); an empty append to it
// checks its expected revision.
func (s *streamsService) append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events []eventstore.EventData) (eventstore.AppendResult, error) {
	of, isMeta := eventstore.IsMetadataStream(stream)
	switch {
	case !isMeta:
		return s.srv.store.Append(ctx, stream, expected, events...)
	case len(events) == 0:
		md, err := s.srv.store.GetStreamMetadata(ctx, of)
		if err != nil {
			return eventstore.AppendResult{}, err
		}
		var st backend.StreamState
		st.Last, st.Exists = md.Revision.Revision()
		plan, err := backend.DecideAppend(stream, expected, st, nil, nil)
		return plan.Result, err
	case len(events) > 1 || events[0].Type != eventstore.MetadataEventType:
		return eventstore.AppendResult{}, eventstore.NewArgumentError("append", stream, eventstore.ErrReservedStreamName,
			"a metadata stream takes one "+eventstore.MetadataEventType+" event per append")
	}
	var meta eventstore.StreamMetadata
	if data := bytes.TrimSpace(events[0].Data); len(data) > 0 {
		if err := json.Unmarshal(data, &meta); err != nil {
			return eventstore.AppendResult{}, eventstore.NewArgumentError("set metadata", of, eventstore.ErrInvalidMetadata, err.Error())
		}
	}
	return s.srv.store.SetStreamMetadata(ctx, of, expected, meta)
}

// Delete soft-deletes a stream.
func (s *streamsService) Delete(ctx context.Context, req *streams.DeleteReq) (*streams.DeleteResp, error) {
	o := req.GetOptions()
	pos, err := s.remove(ctx, "delete", o, o.GetExpectedStreamRevision() != nil, s.srv.store.Delete)
	if err != nil {
		return nil, err
	}
	if pos.IsZero() {
		return &streams.DeleteResp{PositionOption: &streams.DeleteResp_NoPosition{NoPosition: &shared.Empty{}}}, nil
	}
	return &streams.DeleteResp{PositionOption: &streams.DeleteResp_Position_{Position: &streams.DeleteResp_Position{
		CommitPosition: pos.Commit, PreparePosition: pos.Prepare,
	}}}, nil
}

// Tombstone hard-deletes a stream.
func (s *streamsService) Tombstone(ctx context.Context, req *streams.TombstoneReq) (*streams.TombstoneResp, error) {
	o := req.GetOptions()
	pos, err := s.remove(ctx, "tombstone", o, o.GetExpectedStreamRevision() != nil, s.srv.store.Tombstone)
	if err != nil {
		return nil, err
	}
	if pos.IsZero() {
		return &streams.TombstoneResp{PositionOption: &streams.TombstoneResp_NoPosition{NoPosition: &shared.Empty{}}}, nil
	}
	return &streams.TombstoneResp{PositionOption: &streams.TombstoneResp_Position_{Position: &streams.TombstoneResp_Position{
		CommitPosition: pos.Commit, PreparePosition: pos.Prepare,
	}}}, nil
}

// removeOptions is what DeleteReq and TombstoneReq options share.
type removeOptions interface {
	expectedOptions
	GetStreamIdentifier() *shared.StreamIdentifier
}

// remove decodes a Delete or Tombstone request and runs it with do.
func (s *streamsService) remove(ctx context.Context, op string, o removeOptions, expectedSet bool,
	do func(context.Context, string, eventstore.ExpectedRevision) (eventstore.DeleteResult, error),
) (eventstore.Position, error) {
	setTrailer := func(md metadata.MD) { _ = grpc.SetTrailer(ctx, md) }
	// o holds a nil pointer (never a nil interface) when options are missing.
	if o.GetStreamIdentifier() == nil && !expectedSet {
		return eventstore.Position{}, fail(setTrailer, invalidArgument("%s request without options", op))
	}
	stream, err := decodeStreamName(o.GetStreamIdentifier())
	if err != nil {
		return eventstore.Position{}, fail(setTrailer, err)
	}
	expected, err := decodeExpected(o, expectedSet)
	if err != nil {
		return eventstore.Position{}, fail(setTrailer, err)
	}
	res, err := do(ctx, stream, expected)
	if err != nil {
		return eventstore.Position{}, s.srv.failCall(ctx, setTrailer, op, stream, err)
	}
	return res.Position, nil
}

// recvError answers a failed first Recv: the client half-closed without
// sending anything (msg explains), or the call broke.
func recvError(err error, msg string) error {
	if errors.Is(err, io.EOF) {
		return invalidArgument("%s", msg)
	}
	return err
}

// failCall maps a store error to the call's status and trailers, logging
// errors that are the server's or the store's fault.
func (s *Server) failCall(ctx context.Context, set trailerSetter, op, stream string, err error) error {
	re := mapError(stream, err)
	if c := re.st.Code(); c == codes.Internal || c == codes.Unknown || c == codes.Unavailable {
		s.log.LogAttrs(ctx, slog.LevelError, "esdbserver: call failed",
			slog.String("op", op), slog.String("stream", stream), slog.Any("error", err))
	}
	return fail(set, re)
}
