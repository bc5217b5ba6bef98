package eventstore

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Content types an event's data can have. EventStoreDB keeps only an
// "is JSON" flag, so these are the only two values a Store accepts; the empty
// string means ContentTypeJSON.
const (
	ContentTypeJSON   = "application/json"
	ContentTypeBinary = "application/octet-stream"
)

// EventData is an event to append.
type EventData struct {
	// ID identifies the event. Appending events whose IDs are already in the
	// stream at the expected place is idempotent (see Store.Append). The zero
	// UUID asks the store to assign a random (version 4) one.
	ID uuid.UUID
	// Type names the event, e.g. "OrderPlaced". Required.
	Type string
	// ContentType is ContentTypeJSON (the default when empty) or
	// ContentTypeBinary. JSON data is checked to be valid JSON.
	ContentType string
	// Data is the payload. It may be empty.
	Data []byte
	// Metadata is user metadata, by convention a JSON object (see the
	// Metadata* keys). It is stored byte for byte.
	Metadata []byte
}

// RecordedEvent is an event as the store returns it.
type RecordedEvent struct {
	ID          uuid.UUID
	Type        string
	ContentType string
	Data        []byte
	Metadata    []byte
	// Stream is the stream the event belongs to.
	Stream string
	// Revision is the event's 0-based number within Stream.
	Revision uint64
	// Position is the event's place in the global log ($all).
	Position Position
	// Created is when the store recorded the event, in UTC.
	Created time.Time
	// Link is the link event through which a read or subscription with
	// ResolveLinks reached this event; nil when the event was not reached
	// through a link. A link whose target no longer exists is returned as
	// itself, with Link nil.
	Link *RecordedEvent
}

// Original returns the record the read or subscription actually met: the
// link when the event was reached through one, else the event itself. Its
// position and revision are what a consumer checkpoints by, and its ID is
// what a persistent subscription acknowledges.
func (e *RecordedEvent) Original() *RecordedEvent {
	if e.Link != nil {
		return e.Link
	}
	return e
}

// IsJSON reports whether the event's data is JSON.
func (e *RecordedEvent) IsJSON() bool { return e.ContentType == ContentTypeJSON }

// Position is a place in the global log ($all). Positions are strictly
// increasing in commit order and never reused. They compare by Commit, then
// Prepare; embedded stores use one counter for both, as EventStoreDB does for
// every event written by current servers.
type Position struct {
	Commit  uint64
	Prepare uint64
}

// Compare returns -1, 0 or +1 as p is before, equal to or after q.
func (p Position) Compare(q Position) int {
	switch {
	case p.Commit < q.Commit:
		return -1
	case p.Commit > q.Commit:
		return 1
	case p.Prepare < q.Prepare:
		return -1
	case p.Prepare > q.Prepare:
		return 1
	}
	return 0
}

// IsZero reports whether p is the zero Position, which no event has.
func (p Position) IsZero() bool { return p == Position{} }

// String formats p as EventStoreDB does: "C:<commit>/P:<prepare>".
func (p Position) String() string { return fmt.Sprintf("C:%d/P:%d", p.Commit, p.Prepare) }

// ParsePosition parses a position as String writes it,
// "C:<commit>/P:<prepare>".
func ParsePosition(s string) (Position, error) {
	c, p, ok := strings.Cut(s, "/")
	cs, okc := strings.CutPrefix(c, "C:")
	ps, okp := strings.CutPrefix(p, "P:")
	if ok && okc && okp {
		commit, err1 := strconv.ParseUint(cs, 10, 64)
		prepare, err2 := strconv.ParseUint(ps, 10, 64)
		if err1 == nil && err2 == nil {
			return Position{Commit: commit, Prepare: prepare}, nil
		}
	}
	return Position{}, fmt.Errorf("eventstore: position %q is not C:<commit>/P:<prepare>", s)
}

// Well-known event and stream names.
const (
	// AllStream is the name of the global log.
	AllStream = "$all"
	// MetadataEventType is the type of events in metadata streams ($$<stream>).
	MetadataEventType = "$metadata"
	// StreamDeletedEventType is the type of the record a tombstone writes.
	StreamDeletedEventType = "$streamDeleted"
	// TombstoneRevision is the revision of the record a tombstone writes
	// (math.MaxInt64, as in EventStoreDB).
	TombstoneRevision uint64 = 1<<63 - 1
)

// Metadata keys Chronicle writes into an event's user metadata (a JSON
// object). $correlationId and $causationId are the keys EventStoreDB's own
// projections use; $traceId and $spanId the ones KurrentDB's clients use.
const (
	MetadataCorrelationID = "$correlationId"
	MetadataCausationID   = "$causationId"
	MetadataTraceID       = "$traceId"
	MetadataSpanID        = "$spanId"
)

// MetadataStreamName returns the name of stream's metadata stream, "$$"+stream.
func MetadataStreamName(stream string) string { return "$$" + stream }

// IsMetadataStream reports whether stream is a metadata stream and, if so,
// the stream it describes.
func IsMetadataStream(stream string) (of string, ok bool) {
	if len(stream) > 2 && stream[0] == '$' && stream[1] == '$' {
		return stream[2:], true
	}
	return "", false
}

// IsSystemStream reports whether stream is reserved for the store: its name
// starts with '$'.
func IsSystemStream(stream string) bool { return len(stream) > 0 && stream[0] == '$' }

// Category returns the category of a stream: the text before the first '-',
// or the whole name when it has none ("order-123" → "order"), as in
// EventStoreDB's $by_category projection.
func Category(stream string) string {
	for i := 0; i < len(stream); i++ {
		if stream[i] == '-' {
			return stream[:i]
		}
	}
	return stream
}
