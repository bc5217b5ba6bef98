package esdbserver

import (
	"encoding/binary"
	"encoding/hex"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/chronicle-go/chronicle/eventstore"
)

// This file turns eventstore values into protocol messages.

// ticks returns t as EventStoreDB's "created" timestamps count it: 100 ns
// ticks since the Unix epoch.
func ticks(t time.Time) int64 {
	return t.Unix()*int64(time.Second/100) + int64(t.Nanosecond()/100)
}

// encodeUUID encodes id as the request asked: structured (the 16 bytes read
// as two big-endian int64) or the canonical string.
func encodeUUID(id uuid.UUID, asString bool) *shared.UUID {
	if asString {
		return &shared.UUID{Value: &shared.UUID_String_{String_: id.String()}}
	}
	return &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
		MostSignificantBits:  int64(binary.BigEndian.Uint64(id[:8])),
		LeastSignificantBits: int64(binary.BigEndian.Uint64(id[8:])),
	}}}
}

// recordedEvent encodes an event record. Its system metadata always carries
// type, content-type and created: the Go client exits the process when
// created is missing.
func recordedEvent(e *eventstore.RecordedEvent, uuidString bool) *streams.ReadResp_ReadEvent_RecordedEvent {
	return &streams.ReadResp_ReadEvent_RecordedEvent{
		Id:               encodeUUID(e.ID, uuidString),
		StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(e.Stream)},
		StreamRevision:   e.Revision,
		PreparePosition:  e.Position.Prepare,
		CommitPosition:   e.Position.Commit,
		Metadata: map[string]string{
			metadataKeyType:        e.Type,
			metadataKeyContentType: contentType(e),
			metadataKeyCreated:     strconv.FormatInt(ticks(e.Created), 10),
		},
		CustomMetadata: e.Metadata,
		Data:           e.Data,
	}
}

// readEvent wraps an event and, when a link was resolved, the link record
// (target is then the event the link points to, or nil when it is gone).
// The position is that of the original record: the link when there is one.
func readEvent(original *eventstore.RecordedEvent, target *eventstore.RecordedEvent, isLink, uuidString bool) *streams.ReadResp {
	re := &streams.ReadResp_ReadEvent{
		Position: &streams.ReadResp_ReadEvent_CommitPosition{CommitPosition: original.Position.Commit},
	}
	if isLink {
		re.Link = recordedEvent(original, uuidString)
		if target != nil {
			re.Event = recordedEvent(target, uuidString)
		}
	} else {
		re.Event = recordedEvent(original, uuidString)
	}
	return &streams.ReadResp{Content: &streams.ReadResp_Event{Event: re}}
}

// appendSuccess encodes a successful append: the stream's last revision (or
// no_stream) and the position of the last event written (or no_position).
func appendSuccess(res eventstore.AppendResult) *streams.AppendResp {
	s := &streams.AppendResp_Success{}
	if rev, ok := res.Next.Revision(); ok {
		s.CurrentRevisionOption = &streams.AppendResp_Success_CurrentRevision{CurrentRevision: rev}
	} else {
		s.CurrentRevisionOption = &streams.AppendResp_Success_NoStream{NoStream: &shared.Empty{}}
	}
	if res.Position.IsZero() {
		s.PositionOption = &streams.AppendResp_Success_NoPosition{NoPosition: &shared.Empty{}}
	} else {
		s.PositionOption = &streams.AppendResp_Success_Position{Position: &streams.AppendResp_Position{
			CommitPosition: res.Position.Commit, PreparePosition: res.Position.Prepare,
		}}
	}
	return &streams.AppendResp{Result: &streams.AppendResp_Success_{Success: s}}
}

// appendWrongVersion encodes the in-band wrong-expected-version answer, with
// the current fields and, as the real server does, the legacy 20.6.0 ones
// (where an expected no_stream is the revision 2^64-1).
func appendWrongVersion(e *eventstore.WrongExpectedVersionError) *streams.AppendResp {
	w := &streams.AppendResp_WrongExpectedVersion{}
	if rev, ok := e.Actual.Revision(); ok {
		w.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: rev}
		w.CurrentRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_CurrentRevision_20_6_0{CurrentRevision_20_6_0: rev}
	} else {
		w.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &shared.Empty{}}
		w.CurrentRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_NoStream_20_6_0{NoStream_20_6_0: &shared.Empty{}}
	}
	switch x := e.Expected; {
	case x.IsAny():
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedAny{ExpectedAny: &shared.Empty{}}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_Any_20_6_0{Any_20_6_0: &shared.Empty{}}
	case x.IsNoStream():
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: &shared.Empty{}}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0{ExpectedRevision_20_6_0: math.MaxUint64}
	case x.IsStreamExists():
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: &shared.Empty{}}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_StreamExists_20_6_0{StreamExists_20_6_0: &shared.Empty{}}
	default:
		rev, _ := x.Revision()
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: rev}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0{ExpectedRevision_20_6_0: rev}
	}
	return &streams.AppendResp{Result: &streams.AppendResp_WrongExpectedVersion_{WrongExpectedVersion: w}}
}

// Reads and subscriptions send one ReadResp per event, and building the
// generated structs (a map among them) and marshalling them through
// reflection cost the server more than the store's read itself. An
// eventWriter encodes the same message by hand, in the wire format
// proto.MarshalOptions{Deterministic: true} writes for readEvent's struct
// (fields in number order, the metadata map's keys sorted), byte for byte;
// the differential tests and fuzz targets of encode_test.go hold it to that.
// The bytes travel as the unknown fields of an otherwise empty ReadResp,
// which proto marshals verbatim, so any gRPC codec sends them unchanged.

// Field numbers of the messages an eventWriter encodes (streams.proto,
// shared.proto); proposed.go decodes UUIDs and map entries with them too.
const (
	fieldReadRespEvent        = 1 // ReadResp.event
	fieldReadEventEvent       = 1 // ReadEvent.event
	fieldReadEventLink        = 2 // ReadEvent.link
	fieldReadEventCommit      = 3 // ReadEvent.commit_position (oneof)
	fieldRecordedID           = 1
	fieldRecordedStream       = 2
	fieldRecordedRevision     = 3
	fieldRecordedPrepare      = 4
	fieldRecordedCommit       = 5
	fieldRecordedMetadata     = 6
	fieldRecordedCustomMeta   = 7
	fieldRecordedData         = 8
	fieldMapKey               = 1
	fieldMapValue             = 2
	fieldUUIDStructured       = 1
	fieldUUIDString           = 2
	fieldUUIDMost             = 1
	fieldUUIDLeast            = 2
	fieldStreamIdentifierName = 3
)

// maxKeptBuffer bounds the buffer an eventWriter keeps between messages.
const maxKeptBuffer = 256 << 10

// eventWriter encodes the event messages of one call. Its buffer and
// message are reused: a message it returns is valid until the next call of
// event, which is enough for a stream's Send (it marshals before it
// returns).
type eventWriter struct {
	buf []byte
	msg streams.ReadResp
}

// event returns the ReadResp of readEvent(original, target, isLink,
// uuidString), encoded by hand. An event type that is not valid UTF-8 (which
// proto refuses to marshal in a string field) gets readEvent's struct, so
// that sending it fails as it always did.
func (w *eventWriter) event(original, target *eventstore.RecordedEvent, isLink, uuidString bool) *streams.ReadResp {
	if cap(w.buf) > maxKeptBuffer {
		w.buf = nil // a large event came before: do not hold its buffer for the call's life
	}
	b, ok := appendEvent(w.buf[:0], original, target, isLink, uuidString)
	if !ok {
		return readEvent(original, target, isLink, uuidString)
	}
	w.buf = b
	return w.encoded(b)
}

// encoded returns w's message carrying the encoded message b, valid until
// w's next message.
func (w *eventWriter) encoded(b []byte) *streams.ReadResp {
	w.msg.Reset()
	w.msg.ProtoReflect().SetUnknown(b)
	return &w.msg
}

// appendEvent appends the wire encoding of readEvent(original, target,
// isLink, uuidString) to b. It returns false, and b unchanged, when an event
// type is not valid UTF-8: proto refuses to marshal that message.
func appendEvent(b []byte, original, target *eventstore.RecordedEvent, isLink, uuidString bool) ([]byte, bool) {
	if !utf8.ValidString(original.Type) || target != nil && !utf8.ValidString(target.Type) {
		return b, false
	}
	first, link := original, (*eventstore.RecordedEvent)(nil)
	if isLink {
		first, link = target, original
	}
	var created, linkCreated [20]byte
	var firstRec, linkRec recordSizes
	n := 0
	if first != nil {
		firstRec = sizeRecorded(first, uuidString, created[:0])
		n += sizeField(fieldReadEventEvent, firstRec.total)
	}
	if link != nil {
		linkRec = sizeRecorded(link, uuidString, linkCreated[:0])
		n += sizeField(fieldReadEventLink, linkRec.total)
	}
	n += protowire.SizeTag(fieldReadEventCommit) + protowire.SizeVarint(original.Position.Commit)

	b = appendLen(b, fieldReadRespEvent, n)
	if first != nil {
		b = appendRecorded(b, fieldReadEventEvent, first, &firstRec, uuidString)
	}
	if link != nil {
		b = appendRecorded(b, fieldReadEventLink, link, &linkRec, uuidString)
	}
	b = protowire.AppendTag(b, fieldReadEventCommit, protowire.VarintType)
	return protowire.AppendVarint(b, original.Position.Commit), true
}

// recordSizes are the encoded sizes of a RecordedEvent and of its nested
// messages, and its created metadata value.
type recordSizes struct {
	total, id, uuid, stream int
	created                 []byte
}

// sizeField is the size of a length-delimited field of n bytes.
func sizeField(num protowire.Number, n int) int {
	return protowire.SizeTag(num) + protowire.SizeBytes(n)
}

// sizeVarintField is the size of a proto3 varint field: nothing when v is 0.
func sizeVarintField(num protowire.Number, v uint64) int {
	if v == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeVarint(v)
}

// sizeBytesField is the size of a proto3 bytes field: nothing when empty.
func sizeBytesField(num protowire.Number, n int) int {
	if n == 0 {
		return 0
	}
	return sizeField(num, n)
}

// uuidStringLen is the length of a UUID's canonical string.
const uuidStringLen = 36

func sizeRecorded(e *eventstore.RecordedEvent, uuidString bool, created []byte) recordSizes {
	var s recordSizes
	if uuidString {
		s.id = sizeField(fieldUUIDString, uuidStringLen)
	} else {
		most, least := uuidHalves(e.ID)
		s.uuid = sizeVarintField(fieldUUIDMost, most) + sizeVarintField(fieldUUIDLeast, least)
		s.id = sizeField(fieldUUIDStructured, s.uuid)
	}
	s.stream = sizeBytesField(fieldStreamIdentifierName, len(e.Stream))
	s.created = strconv.AppendInt(created, ticks(e.Created), 10)
	s.total = sizeField(fieldRecordedID, s.id) +
		sizeField(fieldRecordedStream, s.stream) +
		sizeVarintField(fieldRecordedRevision, e.Revision) +
		sizeVarintField(fieldRecordedPrepare, e.Position.Prepare) +
		sizeVarintField(fieldRecordedCommit, e.Position.Commit) +
		sizeField(fieldRecordedMetadata, sizeEntry(metadataKeyContentType, len(contentType(e)))) +
		sizeField(fieldRecordedMetadata, sizeEntry(metadataKeyCreated, len(s.created))) +
		sizeField(fieldRecordedMetadata, sizeEntry(metadataKeyType, len(e.Type))) +
		sizeBytesField(fieldRecordedCustomMeta, len(e.Metadata)) +
		sizeBytesField(fieldRecordedData, len(e.Data))
	return s
}

// sizeEntry is the size of a map<string, string> entry: proto writes the
// key and the value even when they are empty.
func sizeEntry(key string, valueLen int) int {
	return sizeField(fieldMapKey, len(key)) + sizeField(fieldMapValue, valueLen)
}

func appendRecorded(b []byte, num protowire.Number, e *eventstore.RecordedEvent, s *recordSizes, uuidString bool) []byte {
	b = appendLen(b, num, s.total)
	b = appendLen(b, fieldRecordedID, s.id)
	if uuidString {
		b = appendLen(b, fieldUUIDString, uuidStringLen)
		b = appendUUIDString(b, e.ID)
	} else {
		b = appendLen(b, fieldUUIDStructured, s.uuid)
		most, least := uuidHalves(e.ID)
		b = appendVarintField(b, fieldUUIDMost, most)
		b = appendVarintField(b, fieldUUIDLeast, least)
	}
	b = appendLen(b, fieldRecordedStream, s.stream)
	if len(e.Stream) > 0 {
		b = appendLen(b, fieldStreamIdentifierName, len(e.Stream))
		b = append(b, e.Stream...)
	}
	b = appendVarintField(b, fieldRecordedRevision, e.Revision)
	b = appendVarintField(b, fieldRecordedPrepare, e.Position.Prepare)
	b = appendVarintField(b, fieldRecordedCommit, e.Position.Commit)
	// The map's keys in sorted order, as deterministic marshalling writes
	// them.
	b = appendEntry(b, metadataKeyContentType, contentType(e))
	b = appendEntry(b, metadataKeyCreated, s.created)
	b = appendEntry(b, metadataKeyType, e.Type)
	if len(e.Metadata) > 0 {
		b = appendLen(b, fieldRecordedCustomMeta, len(e.Metadata))
		b = append(b, e.Metadata...)
	}
	if len(e.Data) > 0 {
		b = appendLen(b, fieldRecordedData, len(e.Data))
		b = append(b, e.Data...)
	}
	return b
}

// appendLen appends the tag and length of a length-delimited field; its
// content follows.
func appendLen(b []byte, num protowire.Number, n int) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendVarint(b, uint64(n))
}

func appendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendEntry[V string | []byte](b []byte, key string, value V) []byte {
	b = appendLen(b, fieldRecordedMetadata, sizeEntry(key, len(value)))
	b = appendLen(b, fieldMapKey, len(key))
	b = append(b, key...)
	b = appendLen(b, fieldMapValue, len(value))
	return append(b, value...)
}

// uuidHalves returns the structured form's halves as the wire carries
// them: int64 values, negative ones as 10-byte varints.
func uuidHalves(id uuid.UUID) (most, least uint64) {
	return binary.BigEndian.Uint64(id[:8]), binary.BigEndian.Uint64(id[8:])
}

// appendUUIDString appends id's canonical form, as id.String() writes it.
func appendUUIDString(b []byte, id uuid.UUID) []byte {
	var s [uuidStringLen]byte
	hex.Encode(s[0:8], id[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], id[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], id[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], id[8:10])
	s[23] = '-'
	hex.Encode(s[24:], id[10:])
	return append(b, s[:]...)
}

// contentType is the content-type metadata value of e.
func contentType(e *eventstore.RecordedEvent) string {
	if e.IsJSON() {
		return eventstore.ContentTypeJSON
	}
	return eventstore.ContentTypeBinary
}
