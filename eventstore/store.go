package eventstore

import (
	"context"
	"iter"
)

// A Store is an append-only event store: streams of events, and the global
// log $all that orders every event of every stream. Every method is safe for
// concurrent use. Stores are opened with a backend's constructor
// (memory.New, sqlite.Open, esdb.New) or by URL with Open.
//
// Methods that take a context stop waiting when it is done and return its
// error; an append whose context ends while it is being committed may or may
// not have been written (as with any database), and re-appending the same
// event IDs is then safe.
type Store interface {
	// Append atomically appends events to stream if the stream is in the
	// expected state: all events are written or none are. It returns the
	// stream's new last revision and the position of the last event written.
	//
	// The expected-revision rules are EventStoreDB's:
	//
	//	expected        absent stream   last revision L        soft-deleted (last L)   tombstoned
	//	Any             write at 0      write at L+1           write at L+1            ErrStreamDeleted
	//	NoStream        write at 0      wrong version          write at L+1            ErrStreamDeleted
	//	StreamExists    wrong version   write at L+1           ErrStreamDeleted        ErrStreamDeleted
	//	Exact(R)        wrong version   R=L: write at L+1      R=L: write at L+1       ErrStreamDeleted
	//
	// Appending to a soft-deleted stream undeletes it: its revisions continue
	// and only the new events are visible. Re-appending events whose IDs are
	// already in the stream where the request expects them succeeds without
	// writing and returns the earlier result (idempotency). With NoStream or
	// Exact the IDs are compared at the stream's revisions, whatever their
	// age; with Any or StreamExists a re-append is recognised only while its
	// first event ID is among the backend's most recently written IDs (a
	// bounded window, as EventStoreDB's cache of committed IDs; memory and
	// sqlite keep the last 65 536 by default, WithRecentIDs), and only in
	// the stream it was last written to. An append with no events writes
	// nothing and only checks the expected revision.
	//
	// The Store copies the events' byte slices: the caller may reuse them
	// once Append returns. Events returned by reads and subscriptions are
	// the caller's own in the same way; one subscriber modifying a live
	// event may affect other subscribers of the same store, not the store.
	//
	// Bad input (see ValidateAppend) returns an *ArgumentError and writes
	// nothing. Errors: ErrWrongExpectedVersion, ErrStreamDeleted,
	// ErrInvalidArgument, ErrClosed, or a context error.
	Append(ctx context.Context, stream string, expected ExpectedRevision, events ...EventData) (AppendResult, error)

	// ReadStream reads a stream's visible events (see StreamMetadata) in the
	// given direction from opts.From, inclusive. The iterator does nothing
	// until ranged, streams from storage with bounded memory, and releases its
	// resources when the loop ends or breaks. On failure it yields one error
	// and stops: ErrStreamNotFound (missing or soft-deleted stream; checked
	// before the first event), ErrStreamDeleted (tombstoned),
	// ErrInvalidArgument, ErrClosed, or a context error.
	ReadStream(ctx context.Context, stream string, opts ReadOptions) iter.Seq2[RecordedEvent, error]

	// ReadAll reads the global log in the given direction from opts.From:
	// every event of every stream, system streams included, in position
	// order, regardless of stream metadata. A forwards read from
	// FromPosition(p) includes the event at p; a backwards one starts before
	// p. Filters apply as on SubscribeToAll.
	ReadAll(ctx context.Context, opts ReadAllOptions) iter.Seq2[RecordedEvent, error]

	// SubscribeToStream delivers a stream's events after opts.From
	// (exclusive): first the existing ones (catch-up), then a CaughtUp
	// message, then live events as they are committed, in order, with no gap
	// and no duplicate. The stream need not exist yet. A consumer slower than
	// the writers makes the subscription fall back to reading from storage:
	// memory stays bounded and nothing is lost. The iterator runs until the
	// loop breaks or ctx ends (then it yields ctx.Err() once), or the stream
	// is tombstoned (ErrStreamDeleted).
	SubscribeToStream(ctx context.Context, stream string, opts SubscribeOptions) iter.Seq2[Message, error]

	// SubscribeToAll is SubscribeToStream for the global log, optionally
	// filtered. A filtered subscription also yields Checkpoint messages with
	// the position up to which the log has been examined, so a consumer can
	// advance its checkpoint while nothing matches.
	SubscribeToAll(ctx context.Context, opts SubscribeAllOptions) iter.Seq2[Message, error]

	// Delete soft-deletes a stream: it then reads as not found, its events
	// stay in $all, and a later append continues its revisions. It writes
	// {"$tb": TombstoneRevision} (truncate before) to the stream's metadata.
	// Deleting a stream that never existed is ErrWrongExpectedVersion.
	Delete(ctx context.Context, stream string, expected ExpectedRevision) (DeleteResult, error)

	// Tombstone hard-deletes a stream: it writes a StreamDeletedEventType
	// record, and every later append, read, delete or subscription of the
	// name fails with ErrStreamDeleted, forever.
	Tombstone(ctx context.Context, stream string, expected ExpectedRevision) (DeleteResult, error)

	// GetStreamMetadata returns a stream's metadata and the revision of the
	// metadata stream (NoStream and empty metadata when none was ever set).
	GetStreamMetadata(ctx context.Context, stream string) (MetadataResult, error)

	// SetStreamMetadata writes a stream's metadata as a new MetadataEventType
	// event of its metadata stream $$<stream>; expected applies to the
	// metadata stream.
	SetStreamMetadata(ctx context.Context, stream string, expected ExpectedRevision, meta StreamMetadata) (AppendResult, error)

	// Close releases the store. Operations in flight end with ErrClosed;
	// subscriptions end with ErrClosed. Close is idempotent.
	Close() error
}

// AppendResult is the outcome of a successful append.
type AppendResult struct {
	// Next is the expected revision for the next append: Exact(revision of
	// the stream's last event), or NoStream after an empty append to a stream
	// that does not exist.
	Next ExpectedRevision
	// Position is the position of the last event written (or, for an
	// idempotent re-append, written earlier); zero when nothing was written.
	Position Position
}

// DeleteResult is the outcome of Delete and Tombstone: the position of the
// record they wrote.
type DeleteResult struct {
	Position Position
}

// MetadataResult is a stream's metadata and the revision of its metadata
// stream.
type MetadataResult struct {
	Metadata StreamMetadata
	Revision ExpectedRevision
}

// ReadOptions configure ReadStream. The zero value reads forwards from the
// start, every event.
type ReadOptions struct {
	Direction Direction
	// From is Start, End or FromRevision(r).
	From From
	// MaxCount bounds how many events are returned; 0 means no limit.
	MaxCount uint64
	// ResolveLinks returns, for each link event, the event it points to
	// (with the link in RecordedEvent.Link).
	ResolveLinks bool
}

// ReadAllOptions configure ReadAll. The zero value reads forwards from the
// start, every event.
type ReadAllOptions struct {
	Direction Direction
	// From is Start, End or FromPosition(p).
	From From
	// MaxCount bounds how many events are returned; 0 means no limit.
	MaxCount uint64
	// Filter, when set, keeps only matching events.
	Filter *Filter
	// ResolveLinks returns, for each link event, the event it points to.
	ResolveLinks bool
}

// SubscribeOptions configure SubscribeToStream. The zero value subscribes
// from the start of the stream.
type SubscribeOptions struct {
	// From is Start, End or FromRevision(r) (exclusive).
	From From
	// ResolveLinks delivers, for each link event, the event it points to.
	ResolveLinks bool
}

// SubscribeAllOptions configure SubscribeToAll. The zero value subscribes to
// every event from the start of the log.
type SubscribeAllOptions struct {
	// From is Start, End or FromPosition(p) (exclusive).
	From From
	// Filter, when set, keeps only matching events and makes the
	// subscription yield Checkpoint messages.
	Filter *Filter
	// ResolveLinks delivers, for each link event, the event it points to.
	ResolveLinks bool
}

// MessageKind says what a subscription Message carries.
type MessageKind uint8

const (
	// MessageEvent carries an event in Message.Event.
	MessageEvent MessageKind = iota + 1
	// MessageCaughtUp says the subscription has delivered every event that
	// existed when it caught up; live events follow. Position is the position
	// of the last event examined (zero if none).
	MessageCaughtUp
	// MessageCheckpoint carries, in Position, the position up to which a
	// filtered $all subscription has examined the log.
	MessageCheckpoint
	// MessageFellBehind says the consumer fell behind live delivery and the
	// subscription is catching up from storage; a CaughtUp follows.
	MessageFellBehind
)

func (k MessageKind) String() string {
	switch k {
	case MessageEvent:
		return "event"
	case MessageCaughtUp:
		return "caught-up"
	case MessageCheckpoint:
		return "checkpoint"
	case MessageFellBehind:
		return "fell-behind"
	}
	return "unknown"
}

// Message is what a subscription yields.
type Message struct {
	Kind     MessageKind
	Event    RecordedEvent // for MessageEvent
	Position Position      // for MessageCheckpoint and MessageCaughtUp
}
