package eventstore

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// PersistentSubscriptions is the optional capability of a store to serve
// persistent subscriptions: competing consumers with server-side
// checkpoints, acknowledgements, retries and parked messages, as
// EventStoreDB's. A Store offers it by implementing the interface (as an
// io/fs file system offers fs.ReadDirFS); find it with a type assertion:
//
//	ps, ok := store.(eventstore.PersistentSubscriptions)
//
// A group reads one stream or $all (optionally filtered) from its start
// point, and hands each event to one of the group's connected consumers
// according to its ConsumerStrategy. A consumer acknowledges (Ack) or
// rejects (Nack) each event it receives; an event neither acked nor nacked
// within the group's MessageTimeout is delivered again, and an event retried
// more than MaxRetryCount times is parked: written, as a link, to the
// group's parked stream, from which ReplayParkedMessages delivers it again.
// The group's position is checkpointed to its checkpoint stream, so a
// restarted store resumes every group after the events it acknowledged:
// delivery is at least once, and order is not guaranteed once retries,
// several consumers or parked messages are involved.
//
// Errors: ErrPersistentSubscriptionExists, ErrPersistentSubscriptionNotFound,
// ErrMaximumSubscribersReached, ErrPersistentSubscriptionDropped,
// ErrUnknownMessage, an *ArgumentError wrapping ErrInvalidArgument for bad
// settings or names (nothing is changed), ErrClosed, or a context error.
type PersistentSubscriptions interface {
	// CreatePersistentSubscription creates a group with the given settings.
	// The stream need not exist. A group that exists is
	// ErrPersistentSubscriptionExists.
	CreatePersistentSubscription(ctx context.Context, group PersistentGroup, settings PersistentSettings) error

	// UpdatePersistentSubscription replaces a group's settings. Connected
	// consumers are dropped (ErrPersistentSubscriptionDropped) and may
	// reconnect; the group keeps its checkpoint unless the new start point
	// differs.
	UpdatePersistentSubscription(ctx context.Context, group PersistentGroup, settings PersistentSettings) error

	// DeletePersistentSubscription deletes a group, its checkpoint and its
	// parked messages' stream. Connected consumers are dropped
	// (ErrPersistentSubscriptionDropped).
	DeletePersistentSubscription(ctx context.Context, group PersistentGroup) error

	// GetPersistentSubscriptionInfo describes a group: settings, status,
	// connections, counters and positions.
	GetPersistentSubscriptionInfo(ctx context.Context, group PersistentGroup) (PersistentSubscriptionInfo, error)

	// ListPersistentSubscriptions lists the groups of stream (AllStream for
	// the $all groups), or of every stream when stream is "". Listing the
	// groups of a stream that has none is ErrPersistentSubscriptionNotFound,
	// as in EventStoreDB; listing every group when there are none is an
	// empty list.
	ListPersistentSubscriptions(ctx context.Context, stream string) ([]PersistentSubscriptionInfo, error)

	// SubscribePersistent connects a consumer to a group. More consumers
	// than the group's MaxSubscriberCount is ErrMaximumSubscribersReached; a
	// group that does not exist is ErrPersistentSubscriptionNotFound. The
	// consumer receives until it is closed, ctx ends, or the group is
	// updated, deleted or restarted.
	SubscribePersistent(ctx context.Context, group PersistentGroup, opts PersistentSubscribeOptions) (PersistentSubscription, error)

	// ReplayParkedMessages delivers the group's parked messages again, the
	// oldest first, at most stopAt of them (0: all). Each replayed message
	// is removed from the parked stream (its $tb moves past it) once it has
	// been handed back to the group.
	ReplayParkedMessages(ctx context.Context, group PersistentGroup, stopAt uint64) error

	// RestartPersistentSubscriptions stops every group (their consumers are
	// dropped) and starts them again from their checkpoints.
	RestartPersistentSubscriptions(ctx context.Context) error
}

// A PersistentSubscription is one consumer's connection to a group. Recv is
// for one goroutine; Ack, Nack and Close may be called from any goroutine,
// also while Recv waits.
type PersistentSubscription interface {
	// Recv waits for the next event. It returns
	// ErrPersistentSubscriptionDropped when the group was updated, deleted
	// or restarted, ErrClosed after Close or when the store closes, or
	// ctx's error.
	Recv(ctx context.Context) (PersistentEvent, error)

	// Ack acknowledges events by the IDs of their original records
	// (PersistentEvent.ID). An ID that is not in flight on this consumer
	// (unknown, or already acked or nacked) is ErrUnknownMessage, and none
	// of the IDs of that call is acknowledged.
	Ack(ids ...uuid.UUID) error

	// Nack rejects events by the IDs of their original records: action
	// says what happens to them (NackStop also closes the consumer).
	// Unknown IDs are ErrUnknownMessage, as for Ack.
	Nack(action NackAction, reason string, ids ...uuid.UUID) error

	// Close disconnects the consumer; its in-flight events go to the
	// group's other consumers (they count as retries). Close is idempotent.
	Close() error
}

// PersistentEvent is an event delivered to a persistent subscription
// consumer.
type PersistentEvent struct {
	// Event is the event; with ResolveLinks, the linked event, and the
	// link in Event.Link.
	Event RecordedEvent
	// RetryCount is how many times the event was delivered before this
	// delivery (0 on the first).
	RetryCount int
}

// ID is the ID to Ack or Nack the event by: the original record's (the
// link's, when the event was reached through a resolved link).
func (e *PersistentEvent) ID() uuid.UUID { return e.Event.Original().ID }

// NackAction says what a Nack does with the events it names.
type NackAction uint8

const (
	// NackUnknown is treated as NackRetry, as EventStoreDB does.
	NackUnknown NackAction = iota
	// NackPark writes the events to the group's parked stream: they are
	// not delivered again until ReplayParkedMessages.
	NackPark
	// NackRetry delivers the events again, with their retry count raised.
	NackRetry
	// NackSkip drops the events as if they had been acknowledged.
	NackSkip
	// NackStop closes the consumer; the events are retried elsewhere.
	NackStop
)

func (a NackAction) String() string {
	switch a {
	case NackPark:
		return "park"
	case NackRetry:
		return "retry"
	case NackSkip:
		return "skip"
	case NackStop:
		return "stop"
	}
	return "unknown"
}

// PersistentGroup names a persistent subscription group: a group of a
// stream, or of $all when Stream is AllStream.
type PersistentGroup struct {
	Stream string
	Group  string
}

// PersistentGroupOf returns the group name of stream.
func PersistentGroupOf(stream, group string) PersistentGroup {
	return PersistentGroup{Stream: stream, Group: group}
}

// IsAll reports whether g is a group of $all.
func (g PersistentGroup) IsAll() bool { return g.Stream == AllStream }

// ID is EventStoreDB's subscription id, "<stream>::<group>".
func (g PersistentGroup) ID() string { return g.Stream + "::" + g.Group }

// String is the subscription id.
func (g PersistentGroup) String() string { return g.ID() }

// CheckpointStream is the stream the group's checkpoints are written to,
// "$persistentsubscription-<stream>::<group>-checkpoint".
func (g PersistentGroup) CheckpointStream() string {
	return PersistentSubscriptionStreamPrefix + g.ID() + "-checkpoint"
}

// ParkedStream is the stream the group's parked messages are written to,
// as links, "$persistentsubscription-<stream>::<group>-parked".
func (g PersistentGroup) ParkedStream() string {
	return PersistentSubscriptionStreamPrefix + g.ID() + "-parked"
}

// PersistentSubscriptionStreamPrefix starts the names of the streams that
// hold persistent subscriptions' checkpoints and parked messages.
const PersistentSubscriptionStreamPrefix = "$persistentsubscription-"

// Validate checks the group's names: a valid stream name (or AllStream)
// and a non-empty group name. Errors are *ArgumentError wrapping
// ErrInvalidArgument.
func (g PersistentGroup) Validate(op string) error {
	if g.Group == "" {
		return NewArgumentError(op, g.Stream, ErrEmptyGroupName, "")
	}
	if !utf8.ValidString(g.Group) || hasControl(g.Group) {
		return NewArgumentError(op, g.Stream, ErrInvalidGroupName, "not UTF-8 or a control character")
	}
	if g.IsAll() {
		return nil
	}
	return ValidateStreamName(op, g.Stream, true)
}

// ConsumerStrategy says how a group shares events among its consumers.
type ConsumerStrategy string

const (
	// RoundRobin hands each event to the next consumer with free slots.
	RoundRobin ConsumerStrategy = "RoundRobin"
	// DispatchToSingle fills one consumer's slots before the next one's.
	DispatchToSingle ConsumerStrategy = "DispatchToSingle"
	// Pinned hands the events of one source stream to the same consumer
	// while it is connected (by a hash of the stream name).
	Pinned ConsumerStrategy = "Pinned"
	// PinnedByCorrelation is Pinned by the events' $correlationId metadata
	// (the stream name when there is none).
	PinnedByCorrelation ConsumerStrategy = "PinnedByCorrelation"
)

// PersistentSettings configure a persistent subscription group. Start from
// DefaultPersistentSettings: the zero value is not valid (its buffer sizes
// are 0).
type PersistentSettings struct {
	// From is where the group starts, inclusive: Start, End (the end when
	// the group is created), FromRevision(r) for a stream group, or
	// FromPosition(p) for a $all group.
	From From
	// Filter, for a $all group, keeps only matching events.
	Filter *Filter
	// ResolveLinks delivers the events that link events point to.
	ResolveLinks bool
	// ExtraStatistics asks for latency statistics in the group's info.
	ExtraStatistics bool
	// MessageTimeout is how long a delivered event may stay unacknowledged
	// before it is retried; 0 means never.
	MessageTimeout time.Duration
	// MaxRetryCount is how many times an event is retried before it is
	// parked.
	MaxRetryCount int
	// LiveBufferSize, ReadBatchSize and HistoryBufferSize size the group's
	// buffers: live events held, events read from storage at once, and
	// events held while catching up. Each must be positive.
	LiveBufferSize    int
	ReadBatchSize     int
	HistoryBufferSize int
	// CheckpointAfter is how long the group waits before checkpointing
	// acknowledged events, between MinCheckpointCount and
	// MaxCheckpointCount of them (it checkpoints at once when
	// MaxCheckpointCount are waiting).
	CheckpointAfter    time.Duration
	MinCheckpointCount int
	MaxCheckpointCount int
	// MaxSubscriberCount bounds the connected consumers; 0 means no limit.
	MaxSubscriberCount int
	// ConsumerStrategy says how events are shared among consumers.
	ConsumerStrategy ConsumerStrategy
}

// DefaultPersistentSettings returns the settings EventStoreDB's clients use
// by default: from Start, message timeout 30 s, 10 retries, live buffer
// 500, read batch 20, history buffer 500, checkpoint after 2 s between 10
// and 1 000 acknowledged events, no subscriber limit, RoundRobin.
func DefaultPersistentSettings() PersistentSettings {
	return PersistentSettings{
		From:               Start,
		MessageTimeout:     30 * time.Second,
		MaxRetryCount:      10,
		LiveBufferSize:     500,
		ReadBatchSize:      20,
		HistoryBufferSize:  500,
		CheckpointAfter:    2 * time.Second,
		MinCheckpointCount: 10,
		MaxCheckpointCount: 1000,
		ConsumerStrategy:   RoundRobin,
	}
}

// Validate checks the settings for group (whose names it does not check). Errors are *ArgumentError
// wrapping ErrInvalidArgument and naming the field.
func (s PersistentSettings) Validate(group PersistentGroup) error {
	bad := func(field, format string, args ...any) error {
		return NewArgumentError("persistent subscription settings", group.Stream, ErrInvalidPersistentSettings, field+": "+fmt.Sprintf(format, args...))
	}
	if _, ok := s.From.Position(); ok && !group.IsAll() {
		return bad("from", "a stream group starts at a revision, not a position")
	}
	if _, ok := s.From.Revision(); ok && group.IsAll() {
		return bad("from", "a $all group starts at a position, not a revision")
	}
	if s.Filter != nil {
		if !group.IsAll() {
			return bad("filter", "only a $all group can be filtered")
		}
		if _, err := s.Filter.Compile(); err != nil {
			return err
		}
	}
	switch {
	case s.MessageTimeout < 0:
		return bad("message_timeout", "%v is negative", s.MessageTimeout)
	case s.CheckpointAfter < 0:
		return bad("checkpoint_after", "%v is negative", s.CheckpointAfter)
	case s.MaxRetryCount < 0:
		return bad("max_retry_count", "%d is negative", s.MaxRetryCount)
	case s.LiveBufferSize <= 0:
		return bad("live_buffer_size", "%d is not positive", s.LiveBufferSize)
	case s.ReadBatchSize <= 0:
		return bad("read_batch_size", "%d is not positive", s.ReadBatchSize)
	case s.HistoryBufferSize <= 0:
		return bad("history_buffer_size", "%d is not positive", s.HistoryBufferSize)
	case s.MinCheckpointCount < 0:
		return bad("min_checkpoint_count", "%d is negative", s.MinCheckpointCount)
	case s.MaxCheckpointCount <= 0:
		return bad("max_checkpoint_count", "%d is not positive", s.MaxCheckpointCount)
	case s.MinCheckpointCount > s.MaxCheckpointCount:
		return bad("min_checkpoint_count", "%d is above max_checkpoint_count %d", s.MinCheckpointCount, s.MaxCheckpointCount)
	case s.MaxSubscriberCount < 0:
		return bad("max_subscriber_count", "%d is negative", s.MaxSubscriberCount)
	}
	switch s.ConsumerStrategy {
	case RoundRobin, DispatchToSingle, Pinned, PinnedByCorrelation:
	default:
		return bad("consumer_strategy", "%q is not one of RoundRobin, DispatchToSingle, Pinned, PinnedByCorrelation", s.ConsumerStrategy)
	}
	return nil
}

// PersistentSubscribeOptions configure one consumer.
type PersistentSubscribeOptions struct {
	// BufferSize bounds the events in flight on this consumer (delivered,
	// not yet acked or nacked); 0 means DefaultPersistentBufferSize.
	BufferSize int
	// Name names the consumer in the group's info.
	Name string
}

// DefaultPersistentBufferSize is a consumer's BufferSize when none is given
// (the official clients' default).
const DefaultPersistentBufferSize = 10

// PersistentSubscriptionInfo describes a group.
type PersistentSubscriptionInfo struct {
	Group    PersistentGroup
	Settings PersistentSettings
	// Status is EventStoreDB's state name: "NotReady", "Behind", "Live",
	// "ReplayingParkedMessages", possibly comma-joined.
	Status      string
	Connections []PersistentConnectionInfo
	// LastCheckpointed and LastKnown are the group's checkpointed place and
	// the place of the last event it read: FromRevision for a stream group,
	// FromPosition for a $all group; Start when none yet.
	LastCheckpointed From
	LastKnown        From
	// Counters.
	TotalItems          int64
	AveragePerSecond    float64
	InFlightMessages    int
	OutstandingMessages int
	ReadBufferCount     int
	LiveBufferCount     int
	RetryBufferCount    int
	ParkedMessageCount  int64
}

// PersistentConnectionInfo describes one connected consumer.
type PersistentConnectionInfo struct {
	Name             string
	From             string
	TotalItems       int64
	AvailableSlots   int
	InFlightMessages int
}

// Errors of persistent subscriptions.
var (
	// ErrPersistentSubscriptionExists: the group was already created.
	ErrPersistentSubscriptionExists = errors.New("eventstore: persistent subscription group already exists")
	// ErrPersistentSubscriptionNotFound: no such group.
	ErrPersistentSubscriptionNotFound = errors.New("eventstore: persistent subscription group not found")
	// ErrMaximumSubscribersReached: the group has MaxSubscriberCount
	// consumers already.
	ErrMaximumSubscribersReached = errors.New("eventstore: maximum subscribers reached")
	// ErrPersistentSubscriptionDropped: the group was updated, deleted or
	// restarted while the consumer was connected.
	ErrPersistentSubscriptionDropped = errors.New("eventstore: persistent subscription dropped")
	// ErrUnknownMessage: an Ack or Nack named an event that is not in
	// flight on the consumer.
	ErrUnknownMessage = errors.New("eventstore: message is not in flight on this consumer")
	// ErrEmptyGroupName, ErrInvalidGroupName and
	// ErrInvalidPersistentSettings are causes of an *ArgumentError.
	ErrEmptyGroupName            = errors.New("persistent subscription group name is empty")
	ErrInvalidGroupName          = errors.New("persistent subscription group name is not valid UTF-8 or holds a control character")
	ErrInvalidPersistentSettings = errors.New("persistent subscription settings are not valid")
)
