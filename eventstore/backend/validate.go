package backend

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/chronicle-go/chronicle/eventstore"
)

// ValidateExpected checks an expected revision for op: an Exact revision
// above MaxRevision can never match and is rejected with ErrInvalidRevision.
func ValidateExpected(op, stream string, expected eventstore.ExpectedRevision) error {
	if rev, ok := expected.Revision(); ok && rev > eventstore.MaxRevision {
		return eventstore.NewArgumentError(op, stream, eventstore.ErrInvalidRevision, fmt.Sprintf("expected revision %d, at most %d", rev, uint64(eventstore.MaxRevision)))
	}
	return nil
}

// EventSize is the size an event counts against MaxEventSize.
func EventSize(e *eventstore.EventData) int { return len(e.Data) + len(e.Metadata) + 2*len(e.Type) }

// PrepareAppend validates an append to a user stream and returns the events
// to write: a copy in which every zero ID is replaced by a random one and
// every empty ContentType by ContentTypeJSON. Errors are *ArgumentError and
// name the offending event. Backends call it before writing anything.
func PrepareAppend(stream string, events []eventstore.EventData) ([]eventstore.EventData, error) {
	if err := eventstore.ValidateStreamName("append", stream, false); err != nil {
		return nil, err
	}
	return prepareEvents("append", stream, events)
}

// prepareEvents is PrepareAppend without the stream-name check (metadata
// streams are written through it).
func prepareEvents(op, stream string, events []eventstore.EventData) ([]eventstore.EventData, error) {
	if len(events) == 0 {
		return nil, nil
	}
	out := make([]eventstore.EventData, len(events))
	var seen map[uuid.UUID]struct{}
	if len(events) > 1 {
		seen = make(map[uuid.UUID]struct{}, len(events))
	}
	for i := range events {
		e := events[i]
		bad := func(cause error, detail string) error {
			return &eventstore.ArgumentError{Op: op, Stream: stream, Event: i, Err: cause, Detail: detail}
		}
		if e.Type == "" {
			return nil, bad(eventstore.ErrEmptyEventType, "")
		}
		if !utf8.ValidString(e.Type) {
			return nil, bad(eventstore.ErrInvalidEventTypeUTF, "")
		}
		switch e.ContentType {
		case "":
			e.ContentType = eventstore.ContentTypeJSON
		case eventstore.ContentTypeJSON, eventstore.ContentTypeBinary:
		default:
			return nil, bad(eventstore.ErrInvalidContentType, fmt.Sprintf("got %q", e.ContentType))
		}
		if size := EventSize(&e); size > eventstore.MaxEventSize {
			return nil, bad(eventstore.ErrEventTooLarge, fmt.Sprintf("%d bytes, at most %d", size, eventstore.MaxEventSize))
		}
		if e.ContentType == eventstore.ContentTypeJSON && len(e.Data) > 0 {
			// encoding/json accepts invalid UTF-8 inside strings; JSON
			// text is UTF-8 (RFC 8259, section 8.1).
			if !utf8.Valid(e.Data) {
				return nil, bad(eventstore.ErrInvalidJSON, "not valid UTF-8")
			}
			if !json.Valid(e.Data) {
				return nil, bad(eventstore.ErrInvalidJSON, "")
			}
		}
		if e.ID == uuid.Nil {
			e.ID = uuid.New()
		} else if seen != nil {
			if _, dup := seen[e.ID]; dup {
				return nil, bad(eventstore.ErrDuplicateEventID, e.ID.String())
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
func PrepareMetadata(stream string, meta eventstore.StreamMetadata) (eventstore.EventData, error) {
	if err := eventstore.ValidateStreamName("set metadata", stream, true); err != nil {
		return eventstore.EventData{}, err
	}
	if _, ok := eventstore.IsMetadataStream(stream); ok {
		return eventstore.EventData{}, eventstore.NewArgumentError("set metadata", stream, eventstore.ErrReservedStreamName, "metadata streams have no metadata")
	}
	data, err := json.Marshal(meta)
	if err != nil {
		return eventstore.EventData{}, eventstore.NewArgumentError("set metadata", stream, eventstore.ErrInvalidMetadata, err.Error())
	}
	evs, err := prepareEvents("set metadata", eventstore.MetadataStreamName(stream), []eventstore.EventData{{Type: eventstore.MetadataEventType, Data: data}})
	if err != nil {
		return eventstore.EventData{}, err
	}
	return evs[0], nil
}

// ValidateRead checks a ReadStream call.
func ValidateRead(stream string, opts eventstore.ReadOptions) error {
	if err := eventstore.ValidateStreamName("read", stream, true); err != nil {
		return err
	}
	if stream == eventstore.AllStream {
		return eventstore.NewArgumentError("read", stream, eventstore.ErrInvalidArgument, "read $all with ReadAll")
	}
	if opts.Direction > eventstore.Backwards {
		return eventstore.NewArgumentError("read", stream, eventstore.ErrInvalidReadOptions, "unknown direction")
	}
	if _, isPos := opts.From.Position(); isPos {
		return eventstore.NewArgumentError("read", stream, eventstore.ErrInvalidStartPoint, "a stream read starts at Start, End or FromRevision")
	}
	return nil
}

// ValidateReadAll checks a ReadAll call and compiles its filter.
func ValidateReadAll(opts eventstore.ReadAllOptions) (*eventstore.Matcher, error) {
	if opts.Direction > eventstore.Backwards {
		return nil, eventstore.NewArgumentError("read", eventstore.AllStream, eventstore.ErrInvalidReadOptions, "unknown direction")
	}
	if _, isRev := opts.From.Revision(); isRev {
		return nil, eventstore.NewArgumentError("read", eventstore.AllStream, eventstore.ErrInvalidStartPoint, "a $all read starts at Start, End or FromPosition")
	}
	return opts.Filter.Compile()
}

// ValidateSubscribe checks a SubscribeToStream call.
func ValidateSubscribe(stream string, opts eventstore.SubscribeOptions) error {
	if err := eventstore.ValidateStreamName("subscribe", stream, true); err != nil {
		return err
	}
	if stream == eventstore.AllStream {
		return eventstore.NewArgumentError("subscribe", stream, eventstore.ErrInvalidArgument, "subscribe to $all with SubscribeToAll")
	}
	if _, isPos := opts.From.Position(); isPos {
		return eventstore.NewArgumentError("subscribe", stream, eventstore.ErrInvalidStartPoint, "a stream subscription starts at Start, End or FromRevision")
	}
	return nil
}

// ValidateSubscribeAll checks a SubscribeToAll call and compiles its filter.
func ValidateSubscribeAll(opts eventstore.SubscribeAllOptions) (*eventstore.Matcher, error) {
	if _, isRev := opts.From.Revision(); isRev {
		return nil, eventstore.NewArgumentError("subscribe", eventstore.AllStream, eventstore.ErrInvalidStartPoint, "a $all subscription starts at Start, End or FromPosition")
	}
	return opts.Filter.Compile()
}
