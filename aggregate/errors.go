package aggregate

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers branch with errors.Is; the typed errors below carry
// the details and match these.
var (
	// ErrNotFound: the aggregate has no events (Update, Load), or not as far
	// as the requested revision or time (LoadAt, LoadAsOf). The error is a
	// *NotFoundError.
	ErrNotFound = errors.New("aggregate: not found")
	// ErrAlreadyExists: Create found events in the aggregate's stream. The
	// error is an *AlreadyExistsError.
	ErrAlreadyExists = errors.New("aggregate: already exists")
	// ErrConflict: every attempt of a command lost the race against a
	// concurrent writer. The error is a *ConflictError that unwraps to the
	// last *eventstore.WrongExpectedVersionError.
	ErrConflict = errors.New("aggregate: concurrency conflict")
	// ErrInvalidEvent: a decision returned an event the schema registry
	// would not encode (invalid, unregistered or nil) or could not read back
	// (ErrUnreadableEvent); nothing was appended. The error is an
	// *EventError that unwraps to the registry's error (for example a
	// *schema.ValidationError or *schema.UpcastError).
	ErrInvalidEvent = errors.New("aggregate: invalid event")
	// ErrUnreadableEvent: a decision returned an event that encodes but
	// that the registry would not decode, typically an older version whose
	// upcaster chain to the current version is incomplete; it was not
	// appended, since the stream could never be loaded again. The error is
	// an *EventError, which matches ErrInvalidEvent too.
	ErrUnreadableEvent = errors.New("aggregate: event would not read back")
	// ErrRejected: the decision returned an error; nothing was appended.
	// The error is a *RejectedError that unwraps to the decision's error.
	ErrRejected = errors.New("aggregate: command rejected")
	// ErrAfterAppend: the events were appended, but the hook set with
	// WithAfterAppend failed. The error is an *AfterAppendError; the
	// command's Result is complete.
	ErrAfterAppend = errors.New("aggregate: after-append hook failed")
	// ErrInvalidID: an aggregate ID was empty.
	ErrInvalidID = errors.New("aggregate: invalid id")
	// ErrInvalidType: a Type is not usable (see Type.Validate).
	ErrInvalidType = errors.New("aggregate: invalid type")
	// ErrInvalidOption: an Option was given a value out of range.
	ErrInvalidOption = errors.New("aggregate: invalid option")
)

// A NotFoundError reports which stream is behind ErrNotFound and, for
// time-travel loads, what was asked for.
type NotFoundError struct {
	Stream string
	// At describes the requested point ("revision 7", "as of
	// 2025-01-02T03:04:05Z"), empty for a plain load.
	At string
}

func (e *NotFoundError) Error() string {
	if e.At != "" {
		return fmt.Sprintf("aggregate: %q has no state at %s", e.Stream, e.At)
	}
	return fmt.Sprintf("aggregate: %q not found", e.Stream)
}

func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// An AlreadyExistsError reports which stream is behind ErrAlreadyExists and
// its last revision.
type AlreadyExistsError struct {
	Stream   string
	Revision uint64
}

func (e *AlreadyExistsError) Error() string {
	return fmt.Sprintf("aggregate: %q already exists (revision %d)", e.Stream, e.Revision)
}

func (e *AlreadyExistsError) Is(target error) bool { return target == ErrAlreadyExists }

// A ConflictError reports a command that kept conflicting with concurrent
// writers. It matches ErrConflict and unwraps to the last conflict, so
// errors.Is(err, eventstore.ErrWrongExpectedVersion) holds too.
type ConflictError struct {
	Stream   string
	Attempts int
	Err      error
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("aggregate: %q: gave up after %d attempts: %v", e.Stream, e.Attempts, e.Err)
}

func (e *ConflictError) Is(target error) bool { return target == ErrConflict }
func (e *ConflictError) Unwrap() error        { return e.Err }

// An EventError reports an event of a decision that could not be encoded.
// It matches ErrInvalidEvent and unwraps to the cause.
type EventError struct {
	Stream string
	// Index is the event's position in the decision's result.
	Index int
	// Event is the offending value.
	Event any
	Err   error
}

func (e *EventError) Error() string {
	return fmt.Sprintf("aggregate: %q: event %d (%T): %v", e.Stream, e.Index, e.Event, e.Err)
}

func (e *EventError) Is(target error) bool { return target == ErrInvalidEvent }
func (e *EventError) Unwrap() error        { return e.Err }

// A RejectedError wraps the error a decision returned, so callers can tell a
// rejected command (errors.Is(err, ErrRejected), or errors.Is with the
// domain's own error) from a failure to run it.
type RejectedError struct {
	Stream string
	Err    error
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("aggregate: %q: rejected: %v", e.Stream, e.Err)
}

func (e *RejectedError) Is(target error) bool { return target == ErrRejected }
func (e *RejectedError) Unwrap() error        { return e.Err }

// An AfterAppendError reports that the WithAfterAppend hook failed after the
// command's events were appended. It matches ErrAfterAppend and unwraps to
// the hook's error. The events are in the store: do not run the command
// again, repeat what the hook does instead.
type AfterAppendError struct {
	Stream string
	Err    error
}

func (e *AfterAppendError) Error() string {
	return fmt.Sprintf("aggregate: %q: events appended, but the after-append hook failed: %v", e.Stream, e.Err)
}

func (e *AfterAppendError) Is(target error) bool { return target == ErrAfterAppend }
func (e *AfterAppendError) Unwrap() error        { return e.Err }
