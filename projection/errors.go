package projection

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers branch with errors.Is; typed errors carry details.
var (
	// ErrFenced: a checkpoint write found another checkpoint than the one
	// the writer last saw — another runner of the same projection advanced
	// it. The runner that gets it stops.
	ErrFenced = errors.New("projection: checkpoint fenced by another runner")
	// ErrInvalidCheckpoint: a checkpoint move or key a store must refuse.
	ErrInvalidCheckpoint = errors.New("projection: invalid checkpoint")
	// ErrCheckpointMismatch: the stored checkpoint is of another kind than
	// the projection's source reads (a stream revision for a $all source, or
	// the reverse), or a checkpoint stream holds events a checkpoint store
	// did not write.
	ErrCheckpointMismatch = errors.New("projection: stored checkpoint does not fit the projection")
	// ErrInvalidProjection: a projection definition that cannot run (no
	// handlers, two handlers for one type, an unregistered type, a bad name
	// or source). Reported at start; nothing is written.
	ErrInvalidProjection = errors.New("projection: invalid projection")
	// ErrStopped: the projection stopped on an event its policy says to
	// stop on (an undecodable event under Stop, or a handler failure with
	// parking disabled). The error is a *HandlerError.
	ErrStopped = errors.New("projection: stopped on an event")
	// ErrRetired: a newer version of the projection has taken over; this
	// runner's version no longer serves.
	ErrRetired = errors.New("projection: version retired")
	// ErrNotRunning: WaitFor was called on a runner that has stopped.
	ErrNotRunning = errors.New("projection: runner not running")
)

// A HandlerError reports an event a projection could not handle.
type HandlerError struct {
	Projection string
	Stream     string
	Revision   uint64
	Type       string
	Err        error
}

func (e *HandlerError) Error() string {
	return fmt.Sprintf("projection %s: %s@%d (%s): %v", e.Projection, e.Stream, e.Revision, e.Type, e.Err)
}

func (e *HandlerError) Unwrap() error { return e.Err }

func invalid(name, format string, args ...any) error {
	return fmt.Errorf("%w %q: %s", ErrInvalidProjection, name, fmt.Sprintf(format, args...))
}
