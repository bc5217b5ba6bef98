package esdbserver

import (
	"errors"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/grpc/metadata"

	"github.com/chronicle-go/chronicle/eventstore"
)

// Request decoders, exported to the fuzz tests.

// DecodedRead is a decoded Streams.Read request.
type DecodedRead = readRequest

func DecodeRead(req *streams.ReadReq) (DecodedRead, error) { return decodeRead(req) }

func (r *readRequest) IsAll() bool                     { return r.all }
func (r *readRequest) Stream() string                  { return r.stream }
func (r *readRequest) From() eventstore.From           { return r.from }
func (r *readRequest) Direction() eventstore.Direction { return r.direction }
func (r *readRequest) Subscribe() bool                 { return r.subscribe }
func (r *readRequest) Filter() *eventstore.Filter      { return r.filter }

func DecodeAppendOptions(msg *streams.AppendReq) (string, eventstore.ExpectedRevision, error) {
	return decodeAppendOptions(msg)
}

func DecodeProposed(msg *streams.AppendReq) (eventstore.EventData, error) { return decodeProposed(msg) }

func ParseBasicAuth(header string) (user, password string, ok bool) { return parseBasicAuth(header) }

// EncodeEvent encodes an event message with the hand encoder of reads and
// subscriptions; ReadEvent builds the generated structs it must match.
func EncodeEvent(original, target *eventstore.RecordedEvent, isLink, uuidString bool) *streams.ReadResp {
	var w eventWriter
	return w.event(original, target, isLink, uuidString)
}

func ReadEvent(original, target *eventstore.RecordedEvent, isLink, uuidString bool) *streams.ReadResp {
	return readEvent(original, target, isLink, uuidString)
}

// EventWriter is the reusable hand encoder of one call.
type EventWriter = eventWriter

func (w *eventWriter) Event(original, target *eventstore.RecordedEvent, isLink, uuidString bool) *streams.ReadResp {
	return w.event(original, target, isLink, uuidString)
}

// ProposedReader is the hand decoder of an append's proposed events.
type ProposedReader = proposedReader

func (r *proposedReader) Decode(raw []byte) (eventstore.EventData, error) { return r.decode(raw) }

func (r *proposedReader) DecodePlain(raw []byte) (eventstore.EventData, bool) {
	return r.decodePlain(raw)
}

// Trailers returns the trailers a handler's error sets (nil for errors
// that carry none).
func Trailers(err error) metadata.MD {
	var re *rpcError
	if errors.As(err, &re) {
		return re.trailers
	}
	return nil
}
