package eventstore

import "strconv"

type expectedKind uint8

const (
	expectAny expectedKind = iota
	expectNoStream
	expectStreamExists
	expectExact
)

// ExpectedRevision is the optimistic-concurrency condition of an append,
// delete or tombstone: the state the caller believes the stream is in. The
// zero value is Any.
//
// The same type reports a stream's actual state in a
// WrongExpectedVersionError and the next expected revision in an
// AppendResult: there it is either NoStream or Exact(last revision).
type ExpectedRevision struct {
	kind expectedKind
	rev  uint64
}

var (
	// Any skips the concurrency check.
	Any = ExpectedRevision{kind: expectAny}
	// NoStream expects the stream not to exist (or to be soft-deleted).
	NoStream = ExpectedRevision{kind: expectNoStream}
	// StreamExists expects the stream to have at least one event and not to
	// be deleted.
	StreamExists = ExpectedRevision{kind: expectStreamExists}
)

// Exact expects the stream's last event to have revision rev.
func Exact(rev uint64) ExpectedRevision { return ExpectedRevision{kind: expectExact, rev: rev} }

// Revision returns the revision of an Exact expectation.
func (e ExpectedRevision) Revision() (rev uint64, ok bool) {
	return e.rev, e.kind == expectExact
}

// IsAny, IsNoStream and IsStreamExists report which condition e is.
func (e ExpectedRevision) IsAny() bool          { return e.kind == expectAny }
func (e ExpectedRevision) IsNoStream() bool     { return e.kind == expectNoStream }
func (e ExpectedRevision) IsStreamExists() bool { return e.kind == expectStreamExists }

// String returns "any", "no_stream", "stream_exists" or the decimal revision,
// the words EventStoreDB uses.
func (e ExpectedRevision) String() string {
	switch e.kind {
	case expectNoStream:
		return "no_stream"
	case expectStreamExists:
		return "stream_exists"
	case expectExact:
		return strconv.FormatUint(e.rev, 10)
	}
	return "any"
}

type fromKind uint8

const (
	fromStart fromKind = iota
	fromEnd
	fromRevision
	fromPosition
)

// From says where a read or a subscription starts. The zero value is Start.
//
// Reads include their start point (a stream read from FromRevision(5) returns
// revision 5 first; a forwards $all read from FromPosition(p) returns the
// event at p first; a backwards $all read from FromPosition(p) starts with the
// last event before p). Subscriptions exclude it (a subscription from
// FromRevision(5) delivers revision 6 first), as in EventStoreDB.
type From struct {
	kind fromKind
	rev  uint64
	pos  Position
}

var (
	// Start is the beginning of a stream or of $all.
	Start = From{kind: fromStart}
	// End is the end of a stream or of $all: backwards reads start with the
	// last event, forwards reads return nothing and subscriptions deliver only
	// events appended after they started.
	End = From{kind: fromEnd}
)

// FromRevision starts a stream read or subscription at a revision.
func FromRevision(rev uint64) From { return From{kind: fromRevision, rev: rev} }

// FromPosition starts a $all read or subscription at a position.
func FromPosition(p Position) From { return From{kind: fromPosition, pos: p} }

// IsStart and IsEnd report whether f is Start or End.
func (f From) IsStart() bool { return f.kind == fromStart }
func (f From) IsEnd() bool   { return f.kind == fromEnd }

// Revision returns the revision of a FromRevision start point.
func (f From) Revision() (uint64, bool) { return f.rev, f.kind == fromRevision }

// Position returns the position of a FromPosition start point.
func (f From) Position() (Position, bool) { return f.pos, f.kind == fromPosition }

// String describes f: "start", "end", "revision 5" or "position C:1/P:1".
func (f From) String() string {
	switch f.kind {
	case fromEnd:
		return "end"
	case fromRevision:
		return "revision " + strconv.FormatUint(f.rev, 10)
	case fromPosition:
		return "position " + f.pos.String()
	}
	return "start"
}

// Direction is the direction of a read.
type Direction uint8

const (
	Forwards Direction = iota
	Backwards
)

func (d Direction) String() string {
	if d == Backwards {
		return "backwards"
	}
	return "forwards"
}
