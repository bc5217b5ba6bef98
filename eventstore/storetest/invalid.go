package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/chronicle-go/chronicle/eventstore"
)

// badRequest is one call with bad input: it must fail with an
// *ArgumentError matching ErrInvalidArgument and cause, and write nothing.
type badRequest struct {
	name  string
	cause error
	event int // index of the offending event in an append, or -1
	call  func(e *env) error
}

// testInvalid checks every kind of bad input.
func (s *suite) testInvalid(t *testing.T) {
	long := strings.Repeat("x", eventstore.MaxStreamNameLength+1)
	appendTo := func(stream string, evs ...eventstore.EventData) func(e *env) error {
		return func(e *env) error {
			_, err := e.s.Append(e.ctx, stream, eventstore.Any, evs...)
			return err
		}
	}
	withType := func(typ string) eventstore.EventData { return newEvent(typ) }
	dup := newEvent("Dup")
	badJSON := newEvent("BadJSON")
	badJSON.Data = []byte(`{"unterminated":`)
	notUTF8 := newEvent("NotUTF8") // JSON text is UTF-8 (RFC 8259, section 8.1)
	notUTF8.Data = []byte("{\"a\":\"\xff\"}")
	defaultJSON := newEvent("BadJSON")
	defaultJSON.ContentType = ""
	defaultJSON.Data = []byte("plain text")
	badCT := newEvent("BadContentType")
	badCT.ContentType = "text/plain"
	badFilter := func(f *eventstore.Filter) func(e *env) error {
		return func(e *env) error {
			_, err := collect(e.t, e.s.ReadAll(e.ctx, eventstore.ReadAllOptions{Filter: f}))
			return err
		}
	}
	badSubFilter := func(f *eventstore.Filter) func(e *env) error {
		return func(e *env) error {
			return e.endOf("SubscribeToAll with a bad filter", e.s.SubscribeToAll(e.ctx, eventstore.SubscribeAllOptions{Filter: f}))
		}
	}
	both := eventstore.StreamPrefixFilter("order-")
	both.Regex = "^order"
	unknownTarget := eventstore.StreamPrefixFilter("order-")
	unknownTarget.Target = 7

	cases := []badRequest{
		{"Append/EmptyStreamName", eventstore.ErrEmptyStreamName, -1, appendTo("", newEvent("A"))},
		{"Append/ReservedStreamName", eventstore.ErrReservedStreamName, -1, appendTo("$order-1", newEvent("A"))},
		{"Append/MetadataStreamName", eventstore.ErrReservedStreamName, -1, appendTo("$$order-1", newEvent("A"))},
		{"Append/AllStreamName", eventstore.ErrReservedStreamName, -1, appendTo(eventstore.AllStream, newEvent("A"))},
		{"Append/StreamNameTooLong", eventstore.ErrStreamNameTooLong, -1, appendTo(long, newEvent("A"))},
		{"Append/StreamNameNotUTF8", eventstore.ErrInvalidStreamName, -1, appendTo("order-\xff", newEvent("A"))},
		{"Append/StreamNameNewline", eventstore.ErrInvalidStreamName, -1, appendTo("nl\nname", newEvent("A"))},
		{"Append/StreamNameCarriageReturn", eventstore.ErrInvalidStreamName, -1, appendTo("cr\rname", newEvent("A"))},
		{"Append/StreamNameNUL", eventstore.ErrInvalidStreamName, -1, appendTo("nul\x00name", newEvent("A"))},
		{"Append/StreamNameEscape", eventstore.ErrInvalidStreamName, -1, appendTo("esc\x1b[31m", newEvent("A"))},
		{"Append/StreamNameDEL", eventstore.ErrInvalidStreamName, -1, appendTo("del\x7f", newEvent("A"))},
		{"Append/StreamNameC1", eventstore.ErrInvalidStreamName, -1, appendTo("c1\u0085", newEvent("A"))},
		{"Append/ExpectedRevisionOutOfRange", eventstore.ErrInvalidRevision, -1, func(e *env) error {
			_, err := e.s.Append(e.ctx, "order-1", eventstore.Exact(1<<63), newEvent("A"))
			return err
		}},
		{"Append/EmptyEventType", eventstore.ErrEmptyEventType, 0, appendTo("order-1", withType(""))},
		{"Append/EventTypeNotUTF8", eventstore.ErrInvalidEventTypeUTF, 0, appendTo("order-1", withType("Bad\xff"))},
		{"Append/DuplicateIDs", eventstore.ErrDuplicateEventID, 2, appendTo("order-1", dup, newEvent("A"), dup)},
		{"Append/InvalidJSON", eventstore.ErrInvalidJSON, 0, appendTo("order-1", badJSON)},
		{"Append/JSONNotUTF8", eventstore.ErrInvalidJSON, 0, appendTo("order-1", notUTF8)},
		{"Append/InvalidJSONDefaultContentType", eventstore.ErrInvalidJSON, 0, appendTo("order-1", defaultJSON)},
		{"Append/UnknownContentType", eventstore.ErrInvalidContentType, 0, appendTo("order-1", badCT)},
		{"Append/EventTooLarge", eventstore.ErrEventTooLarge, 0, func(e *env) error {
			return appendTo("order-1", sizedEvent(eventstore.MaxEventSize+1))(e)
		}},
		{"Append/EventTooLargeByMetadataAndType", eventstore.ErrEventTooLarge, 0, func(e *env) error {
			ev := sizedEvent(eventstore.MaxEventSize)
			ev.Metadata = []byte("{}")
			return appendTo("order-1", ev)(e)
		}},
		{"Append/ThirdEventBad", eventstore.ErrEmptyEventType, 2, appendTo("order-1", newEvent("A"), newEvent("B"), withType(""), newEvent("D"))},
		{"Append/ThirdEventBadJSON", eventstore.ErrInvalidJSON, 2, appendTo("order-1", newEvent("A"), newEvent("B"), badJSON)},

		{"Delete/EmptyStreamName", eventstore.ErrEmptyStreamName, -1, deleteOf("", false)},
		{"Delete/ReservedStreamName", eventstore.ErrReservedStreamName, -1, deleteOf("$order-1", false)},
		{"Delete/MetadataStreamName", eventstore.ErrReservedStreamName, -1, deleteOf("$$order-1", false)},
		{"Delete/StreamNameTooLong", eventstore.ErrStreamNameTooLong, -1, deleteOf(long, false)},
		{"Delete/StreamNameNewline", eventstore.ErrInvalidStreamName, -1, deleteOf("nl\nname", false)},
		{"Delete/ExpectedRevisionOutOfRange", eventstore.ErrInvalidRevision, -1, func(e *env) error {
			_, err := e.s.Delete(e.ctx, "order-1", eventstore.Exact(1<<63))
			return err
		}},
		{"Tombstone/EmptyStreamName", eventstore.ErrEmptyStreamName, -1, deleteOf("", true)},
		{"Tombstone/StreamNameNewline", eventstore.ErrInvalidStreamName, -1, deleteOf("nl\nname", true)},
		{"Tombstone/ExpectedRevisionOutOfRange", eventstore.ErrInvalidRevision, -1, func(e *env) error {
			_, err := e.s.Tombstone(e.ctx, "order-1", eventstore.Exact(1<<64-1))
			return err
		}},
		{"Tombstone/ReservedStreamName", eventstore.ErrReservedStreamName, -1, deleteOf("$order-1", true)},
		{"Tombstone/AllStreamName", eventstore.ErrReservedStreamName, -1, deleteOf(eventstore.AllStream, true)},
		{"Tombstone/StreamNameTooLong", eventstore.ErrStreamNameTooLong, -1, deleteOf(long, true)},

		{"ReadStream/EmptyStreamName", eventstore.ErrEmptyStreamName, -1, readOf("", eventstore.ReadOptions{})},
		{"ReadStream/StreamNameNewline", eventstore.ErrInvalidStreamName, -1, readOf("nl\nname", eventstore.ReadOptions{})},
		{"ReadStream/StreamNameTooLong", eventstore.ErrStreamNameTooLong, -1, readOf(long, eventstore.ReadOptions{})},
		{"ReadStream/FromPosition", eventstore.ErrInvalidStartPoint, -1, readOf("order-1", eventstore.ReadOptions{From: eventstore.FromPosition(eventstore.Position{Commit: 1, Prepare: 1})})},
		{"ReadStream/UnknownDirection", eventstore.ErrInvalidReadOptions, -1, readOf("order-1", eventstore.ReadOptions{Direction: 9})},
		{"ReadStream/All", eventstore.ErrInvalidArgument, -1, readOf(eventstore.AllStream, eventstore.ReadOptions{})},
		{"ReadAll/FromRevision", eventstore.ErrInvalidStartPoint, -1, func(e *env) error {
			_, err := collect(e.t, e.s.ReadAll(e.ctx, eventstore.ReadAllOptions{From: eventstore.FromRevision(1)}))
			return err
		}},
		{"ReadAll/UnknownDirection", eventstore.ErrInvalidReadOptions, -1, func(e *env) error {
			_, err := collect(e.t, e.s.ReadAll(e.ctx, eventstore.ReadAllOptions{Direction: 9}))
			return err
		}},
		{"ReadAll/FilterPrefixesAndRegex", eventstore.ErrInvalidFilter, -1, badFilter(both)},
		{"ReadAll/FilterBadRegex", eventstore.ErrInvalidFilter, -1, badFilter(eventstore.StreamRegexFilter(`(unclosed`))},
		{"ReadAll/FilterEmpty", eventstore.ErrInvalidFilter, -1, badFilter(eventstore.EventTypePrefixFilter())},
		{"ReadAll/FilterUnknownTarget", eventstore.ErrInvalidFilter, -1, badFilter(unknownTarget)},

		{"SubscribeToStream/EmptyStreamName", eventstore.ErrEmptyStreamName, -1, subscribeTo("", eventstore.SubscribeOptions{})},
		{"SubscribeToStream/FromPosition", eventstore.ErrInvalidStartPoint, -1, subscribeTo("order-1", eventstore.SubscribeOptions{From: eventstore.FromPosition(eventstore.Position{Commit: 1, Prepare: 1})})},
		{"SubscribeToStream/All", eventstore.ErrInvalidArgument, -1, subscribeTo(eventstore.AllStream, eventstore.SubscribeOptions{})},
		{"SubscribeToAll/FromRevision", eventstore.ErrInvalidStartPoint, -1, func(e *env) error {
			return e.endOf("SubscribeToAll from a revision", e.s.SubscribeToAll(e.ctx, eventstore.SubscribeAllOptions{From: eventstore.FromRevision(0)}))
		}},
		{"SubscribeToAll/FilterPrefixesAndRegex", eventstore.ErrInvalidFilter, -1, badSubFilter(both)},
		{"SubscribeToAll/FilterBadRegex", eventstore.ErrInvalidFilter, -1, badSubFilter(eventstore.EventTypeRegexFilter(`[z-a]`))},
		{"SubscribeToAll/FilterEmpty", eventstore.ErrInvalidFilter, -1, badSubFilter(&eventstore.Filter{})},

		{"GetStreamMetadata/EmptyStreamName", eventstore.ErrEmptyStreamName, -1, func(e *env) error {
			_, err := e.s.GetStreamMetadata(e.ctx, "")
			return err
		}},
		{"SetStreamMetadata/EmptyStreamName", eventstore.ErrEmptyStreamName, -1, setMetadataOf("", eventstore.StreamMetadata{MaxCount: 1})},
		{"SetStreamMetadata/StreamNameNewline", eventstore.ErrInvalidStreamName, -1, setMetadataOf("nl\nname", eventstore.StreamMetadata{MaxCount: 1})},
		{"SetStreamMetadata/ExpectedRevisionOutOfRange", eventstore.ErrInvalidRevision, -1, func(e *env) error {
			_, err := e.s.SetStreamMetadata(e.ctx, "order-1", eventstore.Exact(1<<63), eventstore.StreamMetadata{MaxCount: 1})
			return err
		}},
		{"SetStreamMetadata/MetadataStream", eventstore.ErrReservedStreamName, -1, setMetadataOf("$$order-1", eventstore.StreamMetadata{MaxCount: 1})},
		{"SetStreamMetadata/InvalidACL", eventstore.ErrInvalidMetadata, -1, setMetadataOf("order-1", eventstore.StreamMetadata{ACL: json.RawMessage(`{"$r":`)})},
		{"SetStreamMetadata/InvalidCustomValue", eventstore.ErrInvalidMetadata, -1, setMetadataOf("order-1", eventstore.StreamMetadata{Custom: map[string]json.RawMessage{"k": json.RawMessage(`nope`)}})},
	}
	for _, c := range cases {
		s.run(t, c.name, func(e *env) {
			prior := e.seed("order-1", 2)
			mark := e.head()
			err := c.call(e)
			wantArgumentError(e.t, c.name, err, c.cause, c.event)
			e.wantUnchanged(mark, "order-1", prior)
		})
	}

	s.run(t, "SizeLimit", func(e *env) {
		// data + metadata + 2×type exactly at the limit is accepted.
		ev := sizedEvent(eventstore.MaxEventSize)
		r := e.append("big-1", eventstore.NoStream, ev)
		got := e.mustRead("big-1", eventstore.ReadOptions{})
		if len(got) != 1 || len(got[0].Data) != len(ev.Data) || got[0].Position != r.Position {
			e.t.Fatalf("an event of exactly MaxEventSize did not read back whole")
		}
		if d := sameEvent(got[0], ev); d != "" {
			e.t.Fatalf("an event of exactly MaxEventSize: %s", d)
		}
	})
	s.run(t, "LongestStreamName", func(e *env) {
		name := strings.Repeat("y", eventstore.MaxStreamNameLength)
		evs := e.seed(name, 1)
		wantStream(e.t, "ReadStream", e.mustRead(name, eventstore.ReadOptions{}), name, 0, false, evs)
	})
	s.run(t, "BinaryAcceptsAnything", func(e *env) {
		ev := newEvent("Binary")
		ev.ContentType = eventstore.ContentTypeBinary
		ev.Data = []byte{0, 1, 2, 0xff, '{'}
		e.append("order-1", eventstore.Any, ev)
		wantStream(e.t, "ReadStream", e.mustRead("order-1", eventstore.ReadOptions{}), "order-1", 0, false, []eventstore.EventData{ev})
	})
	s.run(t, "BadBatchWritesNothing", func(e *env) {
		// A batch whose third event is bad writes none of the batch, to a new
		// stream or to an existing one.
		mark := e.head()
		_, err := e.s.Append(e.ctx, "order-9", eventstore.NoStream, newEvent("A"), newEvent("B"), withType(""))
		wantArgumentError(e.t, "Append to a new stream", err, eventstore.ErrEmptyEventType, 2)
		e.wantUnchanged(mark, "order-9", nil)
	})
}

// sizedEvent returns a binary event of exactly size bytes as MaxEventSize
// counts them.
func sizedEvent(size int) eventstore.EventData {
	const typ = "Big"
	return eventstore.EventData{
		ID:          uuid.New(),
		Type:        typ,
		ContentType: eventstore.ContentTypeBinary,
		Data:        make([]byte, size-2*len(typ)),
	}
}

func deleteOf(stream string, tombstone bool) func(e *env) error {
	return func(e *env) error {
		del := e.s.Delete
		if tombstone {
			del = e.s.Tombstone
		}
		_, err := del(e.ctx, stream, eventstore.Any)
		return err
	}
}

func readOf(stream string, opts eventstore.ReadOptions) func(e *env) error {
	return func(e *env) error {
		evs, err := collect(e.t, e.s.ReadStream(e.ctx, stream, opts))
		if len(evs) > 0 {
			return fmt.Errorf("yielded %d events before the error %w", len(evs), err)
		}
		return err
	}
}

func subscribeTo(stream string, opts eventstore.SubscribeOptions) func(e *env) error {
	return func(e *env) error {
		return e.endOf("SubscribeToStream with a bad request", e.s.SubscribeToStream(e.ctx, stream, opts))
	}
}

func setMetadataOf(stream string, meta eventstore.StreamMetadata) func(e *env) error {
	return func(e *env) error {
		_, err := e.s.SetStreamMetadata(e.ctx, stream, eventstore.Any, meta)
		return err
	}
}

// wantArgumentError fails unless err is an *ArgumentError that matches
// ErrInvalidArgument and cause and, for append errors, names the event.
func wantArgumentError(t *testing.T, what string, err, cause error, event int) {
	t.Helper()
	if !errors.Is(err, eventstore.ErrInvalidArgument) {
		t.Fatalf("%s: got error %v, want ErrInvalidArgument", what, err)
	}
	if !errors.Is(err, cause) {
		t.Fatalf("%s: got error %v, want its cause to be %v", what, err, cause)
	}
	var ae *eventstore.ArgumentError
	if !errors.As(err, &ae) {
		t.Fatalf("%s: error %v (%T) is not an *ArgumentError", what, err, err)
	}
	if event >= 0 && ae.Event != event {
		t.Fatalf("%s: ArgumentError.Event = %d, want %d", what, ae.Event, event)
	}
	if !strings.Contains(err.Error(), cause.Error()) {
		t.Fatalf("%s: error message %q does not say %q", what, err, cause)
	}
}
