package backend

import (
	"context"
	"errors"
	"iter"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/chronicle-go/chronicle/eventstore"
)

// Links: the rules the embedded backends share to serve the category and
// event-type system streams ($ce-<category>, $et-<type>, see
// eventstore.IsLinked) and to resolve links.

// IsLinkStream reports whether stream is a category or event-type system
// stream, whose events are links the store keeps itself.
func IsLinkStream(stream string) bool {
	return strings.HasPrefix(stream, eventstore.CategoryStreamPrefix) || strings.HasPrefix(stream, eventstore.EventTypeStreamPrefix)
}

// LinkStreams appends to dst the system streams that get a link to an event
// of eventType in stream: its event type's, then its category's (when the
// stream has one). It appends nothing when the event is not linked.
func LinkStreams(dst []string, stream, eventType string) []string {
	if !eventstore.IsLinked(stream, eventType) {
		return dst
	}
	dst = append(dst, eventstore.EventTypeStream(eventType))
	if eventstore.HasCategory(stream) {
		dst = append(dst, eventstore.CategoryStream(eventstore.Category(stream)))
	}
	return dst
}

// linkNamespace is the name space of link IDs (a version 5 UUID of its own).
var linkNamespace = uuid.MustParse("9f1d6c1e-3b0a-5b7e-8c55-6a1f0c2d4e71")

// LinkID returns the ID of the link at revision rev of a system stream: a
// name-based (version 5) UUID of the stream and revision, so that every
// read returns the same ID for the same link (persistent subscriptions
// acknowledge by it).
func LinkID(stream string, rev uint64) uuid.UUID {
	b := make([]byte, 0, len(stream)+21)
	b = strconv.AppendUint(append(append(b, stream...), '/'), rev, 10)
	return uuid.NewSHA1(linkNamespace, b)
}

// Link returns the link at revision rev of system stream stream that points
// to revision targetRev of targetStream. The embedded stores do not write
// links to $all: a link has the position and creation time of the event it
// points to.
func Link(stream string, rev uint64, targetStream string, targetRev uint64, pos eventstore.Position, created time.Time) eventstore.RecordedEvent {
	return eventstore.RecordedEvent{
		ID:          LinkID(stream, rev),
		Type:        eventstore.LinkEventType,
		ContentType: eventstore.ContentTypeBinary,
		Data:        eventstore.LinkData(targetStream, targetRev),
		Stream:      stream,
		Revision:    rev,
		Position:    pos,
		Created:     created,
	}
}

// Resolve returns what a read with ResolveLinks returns for e: when e is a
// link whose target is visible, the target with e in its Link field;
// otherwise e itself. It reads the target through s.ReadStream.
func Resolve(ctx context.Context, s eventstore.Store, e eventstore.RecordedEvent) (eventstore.RecordedEvent, error) {
	if !e.IsLink() {
		return e, nil
	}
	stream, rev, ok := eventstore.ParseLink(e.Data)
	if !ok || eventstore.ValidateStreamName("read", stream, true) != nil || stream == eventstore.AllStream {
		return e, nil
	}
	for t, err := range s.ReadStream(ctx, stream, eventstore.ReadOptions{From: eventstore.FromRevision(rev), MaxCount: 1}) {
		switch {
		case errors.Is(err, eventstore.ErrStreamNotFound), errors.Is(err, eventstore.ErrStreamDeleted):
			return e, nil
		case err != nil:
			return eventstore.RecordedEvent{}, err
		case t.Revision != rev:
			return e, nil
		}
		link := e
		t.Link = &link
		return t, nil
	}
	return e, nil
}

// ResolveAll is Resolve applied to every event of seq, when resolve is true.
func ResolveAll(ctx context.Context, s eventstore.Store, resolve bool, seq iter.Seq2[eventstore.RecordedEvent, error]) iter.Seq2[eventstore.RecordedEvent, error] {
	if !resolve {
		return seq
	}
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		for e, err := range seq {
			if err == nil && e.IsLink() {
				e, err = Resolve(ctx, s, e)
			}
			if !yield(e, err) || err != nil {
				return
			}
		}
	}
}
