package esdbserver

import (
	"encoding/binary"
	"unicode/utf8"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/chronicle-go/chronicle/eventstore"
)

// This file decodes the proposed events of an append by hand. Each one
// arrives as its own AppendReq; unmarshalled into the generated structs it
// costs about twenty allocations (six structs, the metadata map, its keys
// and values, copies of data and metadata) that are thrown away once the
// event is an eventstore.EventData. Instead the message is received as the
// unknown fields of an empty message, which gRPC's own codec copies as they
// are, and decoded from those bytes: the event's data and metadata share
// that one buffer.
//
// The hand decoder takes only the plain shape clients send — one
// proposed_message holding each of its fields at most once, a structured or
// string id, metadata entries of a key and a value, no unknown fields — and
// declines anything else, which then takes the path it took before:
// proto.Unmarshal into streams.AppendReq and decodeProposed, with gRPC's own
// status when unmarshalling fails. Differential tests and FuzzRecvProposed
// hold it to that path.

// Field numbers of the append messages the hand decoder reads (streams.proto;
// those of UUIDs and map entries are encode.go's).
const (
	fieldAppendProposed   = 2 // AppendReq.proposed_message
	fieldProposedID       = 1 // ProposedMessage.id
	fieldProposedMetadata = 2 // ProposedMessage.metadata (map entries)
	fieldProposedCustom   = 3 // ProposedMessage.custom_metadata
	fieldProposedData     = 4 // ProposedMessage.data
)

// proposedReader receives the proposed events of one append.
type proposedReader struct {
	msg      emptypb.Empty // the message, as unknown fields
	lastType string        // events of an append mostly share their type
}

// recv receives the next message of an append and decodes it as a proposed
// event. Errors are those of the stream (io.EOF at the end), of gRPC's
// unmarshalling, or of decodeProposed.
func (r *proposedReader) recv(call grpc.ServerStream) (eventstore.EventData, error) {
	if err := call.RecvMsg(&r.msg); err != nil {
		return eventstore.EventData{}, err
	}
	return r.decode(r.msg.ProtoReflect().GetUnknown())
}

// decode decodes an encoded AppendReq as a proposed event: by hand when it
// has the plain shape, otherwise as gRPC and decodeProposed would.
func (r *proposedReader) decode(raw []byte) (eventstore.EventData, error) {
	if ev, ok := r.decodePlain(raw); ok {
		return ev, nil
	}
	var msg streams.AppendReq
	if err := proto.Unmarshal(raw, &msg); err != nil {
		// What gRPC answers a message it cannot unmarshal.
		return eventstore.EventData{}, status.Errorf(codes.Internal, "grpc: failed to unmarshal the received message: %v", err)
	}
	return decodeProposed(&msg)
}

// decodePlain decodes an AppendReq of the plain shape; ok is false for any
// other input, valid or not.
func (r *proposedReader) decodePlain(raw []byte) (ev eventstore.EventData, ok bool) {
	num, typ, n := protowire.ConsumeTag(raw)
	if n < 0 || num != fieldAppendProposed || typ != protowire.BytesType {
		return ev, false
	}
	pm, m := protowire.ConsumeBytes(raw[n:])
	if m < 0 || n+m != len(raw) {
		return ev, false
	}
	var (
		seen                  [fieldProposedData + 1]bool
		eventType, contentTyp []byte
		hasType, hasContent   bool
	)
	for len(pm) > 0 {
		num, typ, n := protowire.ConsumeTag(pm)
		if n < 0 || typ != protowire.BytesType || num < fieldProposedID || num > fieldProposedData {
			return ev, false
		}
		v, m := protowire.ConsumeBytes(pm[n:])
		if m < 0 {
			return ev, false
		}
		pm = pm[n+m:]
		if num == fieldProposedMetadata {
			key, value, ok := decodeMapEntry(v)
			if !ok {
				return ev, false
			}
			// A later entry of the same key replaces an earlier one.
			switch string(key) {
			case metadataKeyType:
				eventType, hasType = value, true
			case metadataKeyContentType:
				contentTyp, hasContent = value, true
			}
			continue
		}
		if seen[num] {
			return ev, false
		}
		seen[num] = true
		switch num {
		case fieldProposedID:
			if ev.ID, ok = decodePlainUUID(v); !ok {
				return ev, false
			}
		case fieldProposedCustom:
			ev.Metadata = nilIfEmpty(v)
		case fieldProposedData:
			ev.Data = nilIfEmpty(v)
		}
	}
	if !seen[fieldProposedID] || !hasType || !hasContent {
		return ev, false
	}
	if string(eventType) != r.lastType {
		r.lastType = string(eventType)
	}
	ev.Type = r.lastType
	ev.ContentType = eventstore.ContentTypeBinary
	if string(contentTyp) == eventstore.ContentTypeJSON {
		ev.ContentType = eventstore.ContentTypeJSON
	}
	return ev, true
}

// decodeMapEntry decodes a map<string, string> entry that holds each of its
// key and value at most once and nothing else; both must be UTF-8, as proto
// requires of strings.
func decodeMapEntry(b []byte) (key, value []byte, ok bool) {
	var seen [fieldMapValue + 1]bool
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || typ != protowire.BytesType || (num != fieldMapKey && num != fieldMapValue) || seen[num] {
			return nil, nil, false
		}
		v, m := protowire.ConsumeBytes(b[n:])
		if m < 0 || !utf8.Valid(v) {
			return nil, nil, false
		}
		seen[num] = true
		b = b[n+m:]
		if num == fieldMapKey {
			key = v
		} else {
			value = v
		}
	}
	return key, value, true
}

// decodePlainUUID decodes a UUID message holding exactly one of a
// structured id (each half at most once) and a valid UTF-8 string that
// uuid.Parse accepts.
func decodePlainUUID(b []byte) (uuid.UUID, bool) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 || typ != protowire.BytesType {
		return uuid.Nil, false
	}
	v, m := protowire.ConsumeBytes(b[n:])
	if m < 0 || n+m != len(b) {
		return uuid.Nil, false
	}
	switch num {
	case fieldUUIDString:
		if !utf8.Valid(v) {
			return uuid.Nil, false
		}
		u, err := uuid.ParseBytes(v)
		// uuid.ParseBytes and uuid.Parse accept the same forms.
		return u, err == nil
	case fieldUUIDStructured:
		var (
			u    uuid.UUID
			seen [fieldUUIDLeast + 1]bool
		)
		for len(v) > 0 {
			num, typ, n := protowire.ConsumeTag(v)
			if n < 0 || typ != protowire.VarintType || (num != fieldUUIDMost && num != fieldUUIDLeast) || seen[num] {
				return uuid.Nil, false
			}
			x, m := protowire.ConsumeVarint(v[n:])
			if m < 0 {
				return uuid.Nil, false
			}
			seen[num] = true
			v = v[n+m:]
			// int64 halves, big-endian, as decodeUUID writes them.
			binary.BigEndian.PutUint64(u[8*(num-1):], x)
		}
		return u, true
	}
	return uuid.Nil, false
}

// nilIfEmpty returns b, or nil when it is empty, as proto.Unmarshal sets an
// empty bytes field.
func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b[:len(b):len(b)]
}
