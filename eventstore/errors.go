package eventstore

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Callers branch with errors.Is; the typed errors below carry
// the details and match these.
var (
	// ErrWrongExpectedVersion: the stream was not in the expected state.
	// The error is a *WrongExpectedVersionError.
	ErrWrongExpectedVersion = errors.New("eventstore: wrong expected version")
	// ErrStreamNotFound: the stream does not exist or is soft-deleted.
	ErrStreamNotFound = errors.New("eventstore: stream not found")
	// ErrStreamDeleted: the stream was tombstoned, or an append expected a
	// soft-deleted stream to exist. The error is a *StreamDeletedError.
	ErrStreamDeleted = errors.New("eventstore: stream deleted")
	// ErrClosed: the Store was closed.
	ErrClosed = errors.New("eventstore: store closed")
	// ErrInvalidArgument: the request was rejected before anything was
	// written. The error is an *ArgumentError that also unwraps to one of the
	// specific sentinels below (or to a driver-specific cause).
	ErrInvalidArgument = errors.New("eventstore: invalid argument")
	// ErrAccessDenied: the server refused the operation for the caller's
	// credentials (remote stores only).
	ErrAccessDenied = errors.New("eventstore: access denied")
	// ErrUnavailable: a remote store could not be reached; the operation may
	// or may not have taken effect.
	ErrUnavailable = errors.New("eventstore: unavailable")
	// ErrNotLeader: a remote store answered from a node that is not the
	// cluster leader.
	ErrNotLeader = errors.New("eventstore: not leader")
	// ErrUnknownDriver: Open was given a URL whose scheme no driver registered.
	ErrUnknownDriver = errors.New("eventstore: unknown driver")
	// ErrUnknownOutcome: the store could not tell whether a write took
	// effect (its commit failed after it may have reached the disk). Read
	// the stream to find out before writing again; an idempotent retry
	// (the same event IDs and expected revision) is safe.
	ErrUnknownOutcome = errors.New("eventstore: outcome of the write is unknown")
)

// Causes of ErrInvalidArgument, wrapped by *ArgumentError.
var (
	ErrEmptyStreamName     = errors.New("stream name is empty")
	ErrStreamNameTooLong   = errors.New("stream name is too long")
	ErrInvalidStreamName   = errors.New("stream name is not valid UTF-8 or holds a control character")
	ErrReservedStreamName  = errors.New("stream names starting with '$' are reserved for the store")
	ErrEmptyEventType      = errors.New("event type is empty")
	ErrInvalidContentType  = errors.New("content type must be application/json or application/octet-stream")
	ErrInvalidJSON         = errors.New("data is not valid JSON but the content type is application/json")
	ErrDuplicateEventID    = errors.New("event ID appears twice in one append")
	ErrEventTooLarge       = errors.New("event is larger than the maximum event size")
	ErrInvalidStartPoint   = errors.New("start point does not fit the read")
	ErrInvalidFilter       = errors.New("filter is not valid")
	ErrInvalidMetadata     = errors.New("stream metadata is not valid")
	ErrInvalidReadOptions  = errors.New("read options are not valid")
	ErrInvalidRevision     = errors.New("revision is out of range")
	ErrInvalidEventTypeUTF = errors.New("event type is not valid UTF-8")
)

// An ArgumentError reports a request rejected before anything was written.
// It matches ErrInvalidArgument and unwraps to its cause (ErrEmptyStreamName,
// ErrEventTooLarge, …).
type ArgumentError struct {
	Op     string // "append", "read", "subscribe", "delete", …
	Stream string // the stream concerned, if any
	Event  int    // index of the offending event in an append, or -1
	Err    error  // the cause
	Detail string // extra detail, e.g. the size or the JSON error
}

// NewArgumentError returns an *ArgumentError for an error not tied to one
// event (Event = -1).
func NewArgumentError(op, stream string, cause error, detail string) *ArgumentError {
	return &ArgumentError{Op: op, Stream: stream, Event: -1, Err: cause, Detail: detail}
}

func (e *ArgumentError) Error() string {
	var b strings.Builder
	b.WriteString("eventstore: ")
	b.WriteString(e.Op)
	if e.Stream != "" {
		fmt.Fprintf(&b, " %q", e.Stream)
	}
	if e.Event >= 0 {
		fmt.Fprintf(&b, ": event %d", e.Event)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	if e.Detail != "" {
		b.WriteString(" (")
		b.WriteString(e.Detail)
		b.WriteString(")")
	}
	return b.String()
}

func (e *ArgumentError) Is(target error) bool { return target == ErrInvalidArgument }
func (e *ArgumentError) Unwrap() error        { return e.Err }

// A WrongExpectedVersionError reports the revisions behind
// ErrWrongExpectedVersion. Actual is NoStream or Exact(last revision).
type WrongExpectedVersionError struct {
	Stream   string
	Expected ExpectedRevision
	Actual   ExpectedRevision
}

func (e *WrongExpectedVersionError) Error() string {
	return fmt.Sprintf("eventstore: stream %q: wrong expected version: expected %v, actual %v", e.Stream, e.Expected, e.Actual)
}

func (e *WrongExpectedVersionError) Is(target error) bool { return target == ErrWrongExpectedVersion }

// A StreamDeletedError reports which stream is behind ErrStreamDeleted.
type StreamDeletedError struct {
	Stream string
}

func (e *StreamDeletedError) Error() string {
	return fmt.Sprintf("eventstore: stream %q is deleted", e.Stream)
}

func (e *StreamDeletedError) Is(target error) bool { return target == ErrStreamDeleted }

// A StreamNotFoundError reports which stream is behind ErrStreamNotFound.
type StreamNotFoundError struct {
	Stream string
}

func (e *StreamNotFoundError) Error() string {
	return fmt.Sprintf("eventstore: stream %q not found", e.Stream)
}

func (e *StreamNotFoundError) Is(target error) bool { return target == ErrStreamNotFound }
