package esdbserver

import (
	"encoding/binary"
	"math"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"

	"github.com/chronicle-go/chronicle/eventstore"
)

// This file turns protocol messages into eventstore values. Every function
// checks what it reads and returns InvalidArgument for anything malformed:
// unset oneofs, unknown enum values, unsupported combinations. The decoders
// are pure, so FuzzDecode* exercise them directly.

// defaultFilterWindow is EventStoreDB's search window when the request does
// not give one (window "count", or a max of 0).
const defaultFilterWindow = 32

// readRequest is a decoded Streams.Read request.
type readRequest struct {
	all          bool   // $all rather than one stream
	stream       string // the stream, when !all
	from         eventstore.From
	direction    eventstore.Direction
	count        uint64 // at most this many events (plain reads)
	subscribe    bool   // a catch-up subscription rather than a read
	filter       *eventstore.Filter
	resolveLinks bool
	uuidString   bool // ids as strings rather than structured
}

// target names what the request reads, for errors and logs.
func (r *readRequest) target() string {
	if r.all {
		return eventstore.AllStream
	}
	return r.stream
}

// decodeRead checks and decodes a Streams.Read request.
func decodeRead(req *streams.ReadReq) (readRequest, error) {
	o := req.GetOptions()
	if o == nil {
		return readRequest{}, invalidArgument("read request without options")
	}
	var r readRequest
	switch so := o.GetStreamOption().(type) {
	case *streams.ReadReq_Options_Stream:
		stream, err := decodeStreamName(so.Stream.GetStreamIdentifier())
		if err != nil {
			return readRequest{}, err
		}
		r.stream = stream
		switch ro := so.Stream.GetRevisionOption().(type) {
		case *streams.ReadReq_Options_StreamOptions_Start:
			r.from = eventstore.Start
		case *streams.ReadReq_Options_StreamOptions_End:
			r.from = eventstore.End
		case *streams.ReadReq_Options_StreamOptions_Revision:
			r.from = eventstore.FromRevision(ro.Revision)
		default:
			return readRequest{}, invalidArgument("stream read options without a start (start, end or revision)")
		}
	case *streams.ReadReq_Options_All:
		r.all = true
		switch ao := so.All.GetAllOption().(type) {
		case *streams.ReadReq_Options_AllOptions_Start:
			r.from = eventstore.Start
		case *streams.ReadReq_Options_AllOptions_End:
			r.from = eventstore.End
		case *streams.ReadReq_Options_AllOptions_Position:
			p := eventstore.Position{Commit: ao.Position.GetCommitPosition(), Prepare: ao.Position.GetPreparePosition()}
			if p.Prepare > p.Commit {
				return readRequest{}, invalidArgument("position %v: the prepare position is after the commit position", p)
			}
			r.from = eventstore.FromPosition(p)
		default:
			return readRequest{}, invalidArgument("$all read options without a start (start, end or position)")
		}
	default:
		return readRequest{}, invalidArgument("read request names neither a stream nor $all")
	}

	switch o.GetReadDirection() {
	case streams.ReadReq_Options_Forwards:
		r.direction = eventstore.Forwards
	case streams.ReadReq_Options_Backwards:
		r.direction = eventstore.Backwards
	default:
		return readRequest{}, invalidArgument("unknown read direction %d", o.GetReadDirection())
	}

	switch co := o.GetCountOption().(type) {
	case *streams.ReadReq_Options_Count:
		r.count = co.Count
	case *streams.ReadReq_Options_Subscription:
		r.subscribe = true
	default:
		return readRequest{}, invalidArgument("read request without count or subscription")
	}

	switch fo := o.GetFilterOption().(type) {
	case *streams.ReadReq_Options_NoFilter:
	case *streams.ReadReq_Options_Filter:
		f, err := decodeFilter(fo.Filter)
		if err != nil {
			return readRequest{}, err
		}
		r.filter = f
	default:
		return readRequest{}, invalidArgument("read request without filter or no_filter")
	}

	switch o.GetUuidOption().GetContent().(type) {
	case *streams.ReadReq_Options_UUIDOption_Structured:
	case *streams.ReadReq_Options_UUIDOption_String_:
		r.uuidString = true
	default:
		return readRequest{}, invalidArgument("read request without uuid_option (structured or string)")
	}
	r.resolveLinks = o.GetResolveLinks()

	// The combinations EventStoreDB does not implement.
	switch {
	case r.filter != nil && !r.all:
		return readRequest{}, invalidArgument("filters apply to $all only, not to stream %q", r.stream)
	case r.subscribe && r.direction == eventstore.Backwards:
		return readRequest{}, invalidArgument("subscriptions read forwards only")
	}
	return r, nil
}

// decodeFilter decodes and compiles a $all filter. The checkpoint interval is
// the search window times the multiplier, as in EventStoreDB.
func decodeFilter(fo *streams.ReadReq_Options_FilterOptions) (*eventstore.Filter, error) {
	var (
		f    eventstore.Filter
		expr *streams.ReadReq_Options_FilterOptions_Expression
	)
	switch x := fo.GetFilter().(type) {
	case *streams.ReadReq_Options_FilterOptions_StreamIdentifier:
		f.Target, expr = eventstore.FilterStreamName, x.StreamIdentifier
	case *streams.ReadReq_Options_FilterOptions_EventType:
		f.Target, expr = eventstore.FilterEventType, x.EventType
	default:
		return nil, invalidArgument("filter on neither stream_identifier nor event_type")
	}
	f.Prefixes, f.Regex = expr.GetPrefix(), expr.GetRegex()

	var window uint64
	switch w := fo.GetWindow().(type) {
	case *streams.ReadReq_Options_FilterOptions_Max:
		window = uint64(w.Max)
	case *streams.ReadReq_Options_FilterOptions_Count:
	default:
		return nil, invalidArgument("filter without window (max or count)")
	}
	if window == 0 {
		window = defaultFilterWindow
	}
	mult := uint64(max(fo.GetCheckpointIntervalMultiplier(), 1))
	f.CheckpointInterval = uint32(min(window*mult, math.MaxUint32))
	if _, err := f.Compile(); err != nil {
		return nil, newError(codes.InvalidArgument, err.Error())
	}
	return &f, nil
}

// decodeStreamName returns the stream a StreamIdentifier names. The name's
// bytes are passed on as they are; the store checks them (UTF-8, length).
func decodeStreamName(id *shared.StreamIdentifier) (string, error) {
	if id == nil {
		return "", invalidArgument("stream_identifier is missing")
	}
	return string(id.GetStreamName()), nil
}

// expectedOptions is the expected-revision oneof that AppendReq, DeleteReq
// and TombstoneReq options share in shape.
type expectedOptions interface {
	GetRevision() uint64
	GetNoStream() *shared.Empty
	GetAny() *shared.Empty
	GetStreamExists() *shared.Empty
}

// decodeExpected decodes an expected revision; set says whether the oneof
// was set at all.
func decodeExpected(o expectedOptions, set bool) (eventstore.ExpectedRevision, error) {
	switch {
	case !set:
		return eventstore.Any, invalidArgument("expected_stream_revision is not set")
	case o.GetAny() != nil:
		return eventstore.Any, nil
	case o.GetNoStream() != nil:
		return eventstore.NoStream, nil
	case o.GetStreamExists() != nil:
		return eventstore.StreamExists, nil
	}
	return eventstore.Exact(o.GetRevision()), nil
}

// decodeAppendOptions decodes the first message of an append.
func decodeAppendOptions(msg *streams.AppendReq) (string, eventstore.ExpectedRevision, error) {
	o := msg.GetOptions()
	if o == nil {
		return "", eventstore.Any, invalidArgument("the first append message must carry options")
	}
	stream, err := decodeStreamName(o.GetStreamIdentifier())
	if err != nil {
		return "", eventstore.Any, err
	}
	expected, err := decodeExpected(o, o.GetExpectedStreamRevision() != nil)
	return stream, expected, err
}

// decodeProposed decodes one proposed event of an append. EventStoreDB keeps
// only whether the content type is JSON; any other type is stored as binary.
func decodeProposed(msg *streams.AppendReq) (eventstore.EventData, error) {
	pm := msg.GetProposedMessage()
	if pm == nil {
		return eventstore.EventData{}, invalidArgument("append messages after the first must carry a proposed_message")
	}
	id, err := decodeUUID(pm.GetId())
	if err != nil {
		return eventstore.EventData{}, err
	}
	typ, hasType := pm.GetMetadata()[metadataKeyType]
	contentType, hasContentType := pm.GetMetadata()[metadataKeyContentType]
	if !hasType || !hasContentType {
		return eventstore.EventData{}, newError(codes.InvalidArgument,
			"esdbserver: proposed event "+id.String()+" lacks the required metadata properties type and content-type",
			trailerException, exceptionMissingMetadata,
			trailerRequiredMetadata, requiredMetadataProperties)
	}
	ct := eventstore.ContentTypeBinary
	if contentType == eventstore.ContentTypeJSON {
		ct = eventstore.ContentTypeJSON
	}
	return eventstore.EventData{ID: id, Type: typ, ContentType: ct, Data: pm.GetData(), Metadata: pm.GetCustomMetadata()}, nil
}

// decodeUUID decodes a structured (two big-endian halves) or string UUID.
func decodeUUID(id *shared.UUID) (uuid.UUID, error) {
	switch v := id.GetValue().(type) {
	case *shared.UUID_Structured_:
		var u uuid.UUID
		binary.BigEndian.PutUint64(u[:8], uint64(v.Structured.GetMostSignificantBits()))
		binary.BigEndian.PutUint64(u[8:], uint64(v.Structured.GetLeastSignificantBits()))
		return u, nil
	case *shared.UUID_String_:
		u, err := uuid.Parse(v.String_)
		if err != nil {
			return uuid.Nil, invalidArgument("event id %q is not a UUID", v.String_)
		}
		return u, nil
	}
	return uuid.Nil, invalidArgument("proposed event without an id")
}
