package eventstore

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Limits every Store enforces.
const (
	// MaxEventSize bounds one event: len(Data) + len(Metadata) + 2×len(Type),
	// EventStoreDB's default (16 MiB).
	MaxEventSize = 16 << 20
	// MaxStreamNameLength bounds a stream name, in bytes.
	MaxStreamNameLength = 1024
)

// ValidateStreamName checks a stream name for op. System names ('$'-prefixed)
// are accepted only when system is true (reads may name them; user appends
// may not).
func ValidateStreamName(op, stream string, system bool) error {
	switch {
	case stream == "":
		return NewArgumentError(op, stream, ErrEmptyStreamName, "")
	case len(stream) > MaxStreamNameLength:
		return NewArgumentError(op, stream[:32]+"…", ErrStreamNameTooLong, fmt.Sprintf("%d bytes, at most %d", len(stream), MaxStreamNameLength))
	case !utf8.ValidString(stream):
		return NewArgumentError(op, stream, ErrInvalidStreamName, "not UTF-8")
	case hasControl(stream):
		return NewArgumentError(op, stream, ErrInvalidStreamName, "control character")
	case !system && IsSystemStream(stream):
		return NewArgumentError(op, stream, ErrReservedStreamName, "")
	}
	return nil
}

// hasControl reports whether s holds a control character (U+0000–U+001F,
// U+007F–U+009F). Such names cannot travel in a gRPC trailer, a log line or
// a terminal unharmed, so every backend rejects them.
func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			return true
		}
	}
	return false
}

// MaxRevision is the largest revision a stream can have: EventStoreDB keeps
// revisions as signed 64-bit numbers.
const MaxRevision = 1<<63 - 1

// ValidateExpected checks an expected revision for op: an Exact revision
// above MaxRevision can never match and is rejected with ErrInvalidRevision.
func ValidateExpected(op, stream string, expected ExpectedRevision) error {
	if rev, ok := expected.Revision(); ok && rev > MaxRevision {
		return NewArgumentError(op, stream, ErrInvalidRevision, fmt.Sprintf("expected revision %d, at most %d", rev, uint64(MaxRevision)))
	}
	return nil
}

// EventSize is the size an event counts against MaxEventSize.
func EventSize(e *EventData) int { return len(e.Data) + len(e.Metadata) + 2*len(e.Type) }

// PrepareAppend validates an append to a user stream and returns the events
// to write: a copy in which every zero ID is replaced by a random one and
// every empty ContentType by ContentTypeJSON. Errors are *ArgumentError and
// name the offending event. Backends call it before writing anything.
func PrepareAppend(stream string, events []EventData) ([]EventData, error) {
	if err := ValidateStreamName("append", stream, false); err != nil {
		return nil, err
	}
	return prepareEvents("append", stream, events)
}

// prepareEvents is PrepareAppend without the stream-name check (metadata
// streams are written through it).
func prepareEvents(op, stream string, events []EventData) ([]EventData, error) {
	if len(events) == 0 {
		return nil, nil
	}
	out := make([]EventData, len(events))
	var seen map[uuid.UUID]struct{}
	if len(events) > 1 {
		seen = make(map[uuid.UUID]struct{}, len(events))
	}
	for i := range events {
		e := events[i]
		bad := func(cause error, detail string) error {
			return &ArgumentError{Op: op, Stream: stream, Event: i, Err: cause, Detail: detail}
		}
		if e.Type == "" {
			return nil, bad(ErrEmptyEventType, "")
		}
		if !utf8.ValidString(e.Type) {
			return nil, bad(ErrInvalidEventTypeUTF, "")
		}
		switch e.ContentType {
		case "":
			e.ContentType = ContentTypeJSON
		case ContentTypeJSON, ContentTypeBinary:
		default:
			return nil, bad(ErrInvalidContentType, fmt.Sprintf("got %q", e.ContentType))
		}
		if size := EventSize(&e); size > MaxEventSize {
			return nil, bad(ErrEventTooLarge, fmt.Sprintf("%d bytes, at most %d", size, MaxEventSize))
		}
		if e.ContentType == ContentTypeJSON && len(e.Data) > 0 {
			// encoding/json accepts invalid UTF-8 inside strings; JSON
			// text is UTF-8 (RFC 8259, section 8.1).
			if !utf8.Valid(e.Data) {
				return nil, bad(ErrInvalidJSON, "not valid UTF-8")
			}
			if !json.Valid(e.Data) {
				return nil, bad(ErrInvalidJSON, "")
			}
		}
		if e.ID == uuid.Nil {
			e.ID = uuid.New()
		} else if seen != nil {
			if _, dup := seen[e.ID]; dup {
				return nil, bad(ErrDuplicateEventID, e.ID.String())
			}
		}
		if seen != nil {
			seen[e.ID] = struct{}{}
		}
		out[i] = e
	}
	return out, nil
}

// PrepareMetadata validates a SetStreamMetadata call and returns the event to
// append to the metadata stream.
func PrepareMetadata(stream string, meta StreamMetadata) (EventData, error) {
	if err := ValidateStreamName("set metadata", stream, true); err != nil {
		return EventData{}, err
	}
	if _, ok := IsMetadataStream(stream); ok {
		return EventData{}, NewArgumentError("set metadata", stream, ErrReservedStreamName, "metadata streams have no metadata")
	}
	data, err := json.Marshal(meta)
	if err != nil {
		return EventData{}, NewArgumentError("set metadata", stream, ErrInvalidMetadata, err.Error())
	}
	evs, err := prepareEvents("set metadata", MetadataStreamName(stream), []EventData{{Type: MetadataEventType, Data: data}})
	if err != nil {
		return EventData{}, err
	}
	return evs[0], nil
}

// ValidateRead checks a ReadStream call.
func ValidateRead(stream string, opts ReadOptions) error {
	if err := ValidateStreamName("read", stream, true); err != nil {
		return err
	}
	if stream == AllStream {
		return NewArgumentError("read", stream, ErrInvalidArgument, "read $all with ReadAll")
	}
	if opts.Direction > Backwards {
		return NewArgumentError("read", stream, ErrInvalidReadOptions, "unknown direction")
	}
	if _, isPos := opts.From.Position(); isPos {
		return NewArgumentError("read", stream, ErrInvalidStartPoint, "a stream read starts at Start, End or FromRevision")
	}
	return nil
}

// ValidateReadAll checks a ReadAll call and compiles its filter.
func ValidateReadAll(opts ReadAllOptions) (*Matcher, error) {
	if opts.Direction > Backwards {
		return nil, NewArgumentError("read", AllStream, ErrInvalidReadOptions, "unknown direction")
	}
	if _, isRev := opts.From.Revision(); isRev {
		return nil, NewArgumentError("read", AllStream, ErrInvalidStartPoint, "a $all read starts at Start, End or FromPosition")
	}
	return opts.Filter.Compile()
}

// ValidateSubscribe checks a SubscribeToStream call.
func ValidateSubscribe(stream string, opts SubscribeOptions) error {
	if err := ValidateStreamName("subscribe", stream, true); err != nil {
		return err
	}
	if stream == AllStream {
		return NewArgumentError("subscribe", stream, ErrInvalidArgument, "subscribe to $all with SubscribeToAll")
	}
	if _, isPos := opts.From.Position(); isPos {
		return NewArgumentError("subscribe", stream, ErrInvalidStartPoint, "a stream subscription starts at Start, End or FromRevision")
	}
	return nil
}

// ValidateSubscribeAll checks a SubscribeToAll call and compiles its filter.
func ValidateSubscribeAll(opts SubscribeAllOptions) (*Matcher, error) {
	if _, isRev := opts.From.Revision(); isRev {
		return nil, NewArgumentError("subscribe", AllStream, ErrInvalidStartPoint, "a $all subscription starts at Start, End or FromPosition")
	}
	return opts.Filter.Compile()
}
