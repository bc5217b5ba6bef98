package saga

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/chronicle-go/chronicle/eventstore"
)

// RequestRetry asks for the failed compensation of the saga id of workflow,
// which must be stopped in NeedsAttention, to be tried again: it appends a
// SagaRetryRequested event at the revision it read and returns the saga's
// state read back after it (Status Compensating, unless an engine has
// already moved it on). It runs nothing.
// An Engine of the workflow picks the saga up on its next ResumeAll (Run
// does so every interval) and runs the compensation, as Engine.Retry would.
//
// It is for tools that have no step code, such as the chronicle CLI. Errors:
// ErrUnknownSaga for a saga that was never started (or a bad workflow name
// or ID), ErrNotNeedsAttention for a saga in another status, and
// eventstore.ErrWrongExpectedVersion when the saga moved between the read
// and the append; nothing is written in each case.
func RequestRetry(ctx context.Context, store eventstore.Store, workflow, id string) (State, error) {
	return request(ctx, store, workflow, id, func(st *State) (string, record, error) {
		return EventRetryRequested, record{}, nil
	})
}

// RequestSkip asks for the failed compensation of step, in the saga id of
// workflow, to be counted as done by hand: it appends a SagaStepSkipped
// event at the revision it read and returns the saga's state read back
// after it. An Engine of the workflow then compensates the steps
// before it on its next ResumeAll, as Engine.SkipStep would. Errors are
// those of RequestRetry; a step that has no failed compensation is
// ErrNotNeedsAttention.
func RequestSkip(ctx context.Context, store eventstore.Store, workflow, id, step string) (State, error) {
	return request(ctx, store, workflow, id, func(st *State) (string, record, error) {
		ss, err := st.step(step)
		if err != nil || ss.Status != StepCompensationFailed {
			return "", record{}, fmt.Errorf("%w: %s %s: step %q has no failed compensation", ErrNotNeedsAttention, workflow, id, step)
		}
		return EventStepSkipped, record{Step: step}, nil
	})
}

// request appends the event decide returns for a saga that needs attention,
// fenced by the revision its state was folded at.
func request(ctx context.Context, store eventstore.Store, workflow, id string, decide func(*State) (string, record, error)) (State, error) {
	if store == nil {
		return State{}, fmt.Errorf("%w: nil store", ErrInvalidDefinition)
	}
	if !nameRE.MatchString(workflow) {
		return State{}, fmt.Errorf("%w: workflow name %q", ErrUnknownSaga, workflow)
	}
	if err := checkID(id); err != nil {
		return State{}, err
	}
	stream := StreamOf(workflow, id)
	st, err := Read(ctx, store, stream)
	if err != nil {
		return State{}, err
	}
	if st.Status != NeedsAttention {
		return *st, fmt.Errorf("%w: %s %s is %s", ErrNotNeedsAttention, workflow, id, st.Status)
	}
	typ, r, err := decide(st)
	if err != nil {
		return *st, err
	}
	data, _ := json.Marshal(r) // a record of a step name always marshals
	if _, err := store.Append(ctx, stream, eventstore.Exact(st.Revision), eventstore.EventData{Type: typ, Data: data}); err != nil {
		return *st, fmt.Errorf("saga %s %s: %s: %w", workflow, id, typ, err)
	}
	after, err := Read(ctx, store, stream)
	if err != nil {
		return *st, err
	}
	return *after, nil
}
