package esdbserver

import (
	"context"
	"errors"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/chronicle-go/chronicle/eventstore"
)

// The server is built on the protocol files of EventStore-Client-Go v4,
// whose ReadResp.CaughtUp and ReadResp.FellBehind are empty messages. The
// newer protocol files (KurrentDB-Client-Go v1.x, same proto package) give
// them three fields, and the KurrentDB client reports a caught-up or
// fell-behind subscription only when the timestamp is set:
//
//	CaughtUp / FellBehind {
//	  google.protobuf.Timestamp timestamp = 1;  // {int64 seconds = 1; int32 nanos = 2;}
//	  optional int64 stream_revision = 2;       // stream subscriptions, unless the stream is empty
//	  optional ReadResp.Position position = 3;  // $all subscriptions, unless the log is empty
//	}
//	ReadResp.Position {uint64 commit_position = 1; uint64 prepare_position = 2;}
//
// and ReadResp.Checkpoint gains "google.protobuf.Timestamp timestamp = 3".
// Both generated packages cannot live in one binary (they register the same
// proto names), so the server sets these fields as unknown fields of the v4
// messages: proto.Marshal writes unknown fields as they are, older clients
// skip them, newer clients decode them.
const (
	fieldTimestamp      protowire.Number = 1
	fieldStreamRevision protowire.Number = 2
	fieldPosition       protowire.Number = 3
	fieldCheckpointTime protowire.Number = 3

	fieldSeconds protowire.Number = 1
	fieldNanos   protowire.Number = 2
	fieldCommit  protowire.Number = 1
	fieldPrepare protowire.Number = 2
)

// appendTimestamp appends field num holding a google.protobuf.Timestamp.
func appendTimestamp(b []byte, num protowire.Number, t time.Time) []byte {
	var ts []byte
	if s := t.Unix(); s != 0 {
		ts = protowire.AppendTag(ts, fieldSeconds, protowire.VarintType)
		ts = protowire.AppendVarint(ts, uint64(s))
	}
	if n := t.Nanosecond(); n != 0 {
		ts = protowire.AppendTag(ts, fieldNanos, protowire.VarintType)
		ts = protowire.AppendVarint(ts, uint64(int64(n)))
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, ts)
}

// subscriptionPoint is where a subscription is when it catches up or falls
// behind: a revision (stream subscriptions) or a position ($all), either
// possibly unknown.
type subscriptionPoint struct {
	rev    uint64
	hasRev bool
	pos    eventstore.Position
	hasPos bool
}

// stateFields encodes the newer fields of CaughtUp and FellBehind.
func stateFields(now time.Time, p subscriptionPoint) []byte {
	b := appendTimestamp(nil, fieldTimestamp, now)
	if p.hasRev {
		b = protowire.AppendTag(b, fieldStreamRevision, protowire.VarintType)
		b = protowire.AppendVarint(b, p.rev) // int64 on the wire: the same varint
	}
	if p.hasPos {
		var pos []byte
		if p.pos.Commit != 0 {
			pos = protowire.AppendTag(pos, fieldCommit, protowire.VarintType)
			pos = protowire.AppendVarint(pos, p.pos.Commit)
		}
		if p.pos.Prepare != 0 {
			pos = protowire.AppendTag(pos, fieldPrepare, protowire.VarintType)
			pos = protowire.AppendVarint(pos, p.pos.Prepare)
		}
		b = protowire.AppendTag(b, fieldPosition, protowire.BytesType)
		b = protowire.AppendBytes(b, pos)
	}
	return b
}

// withUnknown sets raw as m's unknown fields and returns m.
func withUnknown[M proto.Message](m M, raw []byte) M {
	m.ProtoReflect().SetUnknown(protoreflect.RawFields(raw))
	return m
}

// caughtUpMessage and fellBehindMessage are the subscription messages with
// the newer fields.
func caughtUpMessage(now time.Time, p subscriptionPoint) *streams.ReadResp {
	return &streams.ReadResp{Content: &streams.ReadResp_CaughtUp_{CaughtUp: withUnknown(&streams.ReadResp_CaughtUp{}, stateFields(now, p))}}
}

func fellBehindMessage(now time.Time, p subscriptionPoint) *streams.ReadResp {
	return &streams.ReadResp{Content: &streams.ReadResp_FellBehind_{FellBehind: withUnknown(&streams.ReadResp_FellBehind{}, stateFields(now, p))}}
}

// checkpointMessage is a checkpoint with the newer timestamp.
func checkpointMessage(p eventstore.Position, now time.Time) *streams.ReadResp {
	c := &streams.ReadResp_Checkpoint{CommitPosition: p.Commit, PreparePosition: p.Prepare}
	return &streams.ReadResp{Content: &streams.ReadResp_Checkpoint_{Checkpoint: withUnknown(c, appendTimestamp(nil, fieldCheckpointTime, now))}}
}

// progress follows a catch-up subscription's place for its CaughtUp and
// FellBehind messages: the last event sent, else its start point.
type progress struct {
	all   bool
	point subscriptionPoint
	// end: the subscription started at the end and has sent nothing yet,
	// so its place is the stream's or the log's last event, looked up when
	// needed.
	end bool
}

func newProgress(r *readRequest) *progress {
	p := &progress{all: r.all, end: r.from.IsEnd()}
	if rev, ok := r.from.Revision(); ok {
		p.point.rev, p.point.hasRev = rev, true
	}
	if pos, ok := r.from.Position(); ok {
		p.point.pos, p.point.hasPos = pos, true
	}
	return p
}

// sent records an event sent.
func (p *progress) sent(e *eventstore.RecordedEvent) {
	p.end = false
	if p.all {
		p.point.pos, p.point.hasPos = e.Position, true
	} else {
		p.point.rev, p.point.hasRev = e.Revision, true
	}
}

// at returns the subscription's place for a CaughtUp or FellBehind message.
// examined is the store's position of the last event examined (zero if
// none), which for $all is the better answer. A stream subscription's
// FellBehind always carries a revision or a position: the KurrentDB client
// dereferences the position when the revision is missing.
func (s *streamsService) at(ctx context.Context, r *readRequest, p *progress, examined eventstore.Position, fellBehind bool) subscriptionPoint {
	if p.all && !examined.IsZero() && (!p.point.hasPos || examined.Compare(p.point.pos) > 0) {
		p.point.pos, p.point.hasPos = examined, true
	}
	if p.end {
		p.end = false
		if last, ok := s.last(ctx, r); ok {
			p.point.rev, p.point.hasRev = last.Revision, !p.all
			p.point.pos, p.point.hasPos = last.Position, p.all || p.point.hasPos
		}
	}
	point := p.point
	if fellBehind && !point.hasRev && !point.hasPos {
		point.hasPos = true
	}
	return point
}

// last returns the last event of the subscription's stream or of $all.
func (s *streamsService) last(ctx context.Context, r *readRequest) (eventstore.RecordedEvent, bool) {
	var events func(func(eventstore.RecordedEvent, error) bool)
	if r.all {
		events = s.srv.store.ReadAll(ctx, eventstore.ReadAllOptions{Direction: eventstore.Backwards, From: eventstore.End, MaxCount: 1})
	} else {
		events = s.srv.store.ReadStream(ctx, r.stream, eventstore.ReadOptions{Direction: eventstore.Backwards, From: eventstore.End, MaxCount: 1})
	}
	for e, err := range events {
		if err != nil && !errors.Is(err, eventstore.ErrStreamNotFound) {
			s.srv.log.DebugContext(ctx, "esdbserver: looking up the last event for a caught-up message", "error", err)
		}
		return e, err == nil
	}
	return eventstore.RecordedEvent{}, false
}
