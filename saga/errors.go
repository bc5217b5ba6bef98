package saga

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers branch with errors.Is.
var (
	// ErrInvalidDefinition: a definition that cannot run (no steps, a
	// duplicate or empty step name, a step without an action, a bad name).
	ErrInvalidDefinition = errors.New("saga: invalid definition")
	// ErrUnknownSaga: no saga of that name and ID was started.
	ErrUnknownSaga = errors.New("saga: unknown saga")
	// ErrAlreadyStarted: Start was called for an ID whose saga exists with
	// another input.
	ErrAlreadyStarted = errors.New("saga: already started with another input")
	// ErrNotNeedsAttention: Retry or SkipStep on a saga that is not stopped
	// in NeedsAttention.
	ErrNotNeedsAttention = errors.New("saga: saga does not need attention")
	// ErrLeased: another engine is running the saga's current step; its
	// lease has not expired.
	ErrLeased = errors.New("saga: step leased by another engine")
	// ErrMalformed: the saga's stream holds events the engine cannot fold.
	ErrMalformed = errors.New("saga: malformed saga stream")
)

// A StepError reports a step (or its compensation) that failed.
type StepError struct {
	Saga, ID, Step string
	Attempt        int
	Compensation   bool
	Err            error
}

func (e *StepError) Error() string {
	what := "step"
	if e.Compensation {
		what = "compensation of step"
	}
	return fmt.Sprintf("saga %s %s: %s %q attempt %d: %v", e.Saga, e.ID, what, e.Step, e.Attempt, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }
