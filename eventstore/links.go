package eventstore

import (
	"strconv"
	"strings"
)

// Links and the system streams of categories and event types.
//
// A link is an event of type LinkEventType whose data is
// "<revision>@<stream>": it stands for that event of that stream. Reads and
// subscriptions with ResolveLinks return the event it points to, with the
// link in RecordedEvent.Link, as EventStoreDB's resolveLinkTos does.
//
// Stores that serve the system streams of categories and event types (the
// embedded ones do, as EventStoreDB's $by_category and $by_event_type system
// projections) keep, for every event of a user stream whose type does not
// start with '$', one link in CategoryStream(Category(stream)) — when the
// stream's name holds a '-' — and one in EventTypeStream(type). Those
// streams are read-only: appends to them are refused with
// ErrReservedStreamName, as appends to any '$' stream are.
const (
	// LinkEventType is the type of link events.
	LinkEventType = "$>"
	// CategoryStreamPrefix starts the name of a category's stream.
	CategoryStreamPrefix = "$ce-"
	// EventTypeStreamPrefix starts the name of an event type's stream.
	EventTypeStreamPrefix = "$et-"
	// UsersStream lists a server's users, one $User event each.
	UsersStream = "$users"
)

// CategoryStream returns the name of category's system stream, "$ce-"+category.
func CategoryStream(category string) string { return CategoryStreamPrefix + category }

// EventTypeStream returns the name of an event type's system stream, "$et-"+type.
func EventTypeStream(eventType string) string { return EventTypeStreamPrefix + eventType }

// HasCategory reports whether stream belongs to a category's system stream:
// it is a user stream whose name holds a '-' before which there is text.
func HasCategory(stream string) bool {
	i := strings.IndexByte(stream, '-')
	return i > 0 && !IsSystemStream(stream)
}

// IsLinked reports whether the stores that serve category and event-type
// streams keep links to an event of type eventType in stream: a user
// stream, and a type that does not start with '$'.
func IsLinked(stream, eventType string) bool {
	return !IsSystemStream(stream) && eventType != "" && eventType[0] != '$'
}

// LinkData returns the data of a link to revision rev of stream.
func LinkData(stream string, rev uint64) []byte {
	return append(strconv.AppendUint(nil, rev, 10), append([]byte{'@'}, stream...)...)
}

// ParseLink returns the stream and revision a link event's data points to;
// ok is false when data is not "<revision>@<stream>".
func ParseLink(data []byte) (stream string, rev uint64, ok bool) {
	i := strings.IndexByte(string(data), '@')
	if i <= 0 || i == len(data)-1 {
		return "", 0, false
	}
	rev, err := strconv.ParseUint(string(data[:i]), 10, 64)
	if err != nil || rev > MaxRevision {
		return "", 0, false
	}
	return string(data[i+1:]), rev, true
}

// IsLink reports whether e is a link event.
func (e *RecordedEvent) IsLink() bool { return e.Type == LinkEventType }
