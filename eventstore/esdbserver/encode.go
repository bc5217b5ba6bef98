package esdbserver

import (
	"encoding/binary"
	"math"
	"strconv"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"

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
	ct := eventstore.ContentTypeBinary
	if e.IsJSON() {
		ct = eventstore.ContentTypeJSON
	}
	return &streams.ReadResp_ReadEvent_RecordedEvent{
		Id:               encodeUUID(e.ID, uuidString),
		StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(e.Stream)},
		StreamRevision:   e.Revision,
		PreparePosition:  e.Position.Prepare,
		CommitPosition:   e.Position.Commit,
		Metadata: map[string]string{
			metadataKeyType:        e.Type,
			metadataKeyContentType: ct,
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
