package saga

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
)

// Status is where a saga is.
type Status string

// The statuses of a saga.
const (
	// Running: steps are being run forwards.
	Running Status = "running"
	// Compensating: a step failed for good; completed steps are being
	// compensated in reverse order.
	Compensating Status = "compensating"
	// Completed: every step succeeded.
	Completed Status = "completed"
	// Compensated: a step failed and every completed step was compensated.
	Compensated Status = "compensated"
	// NeedsAttention: a compensation failed after its retries. The saga
	// waits for Engine.Retry (try the compensation again) or
	// Engine.SkipStep (count it as compensated by hand).
	NeedsAttention Status = "needs-attention"
)

// Done reports whether the saga has ended (completed or compensated).
func (s Status) Done() bool { return s == Completed || s == Compensated }

// StepStatus is where one step is.
type StepStatus string

// The statuses of a step.
const (
	StepPending      StepStatus = "pending"
	StepRunning      StepStatus = "running"
	StepSucceeded    StepStatus = "succeeded"
	StepFailed       StepStatus = "failed"
	StepCompensating StepStatus = "compensating"
	StepCompensated  StepStatus = "compensated"
	// StepCompensationFailed: its compensation failed after its retries;
	// the saga needs attention.
	StepCompensationFailed StepStatus = "compensation-failed"
)

// StepState is the fold of one step's events.
type StepState struct {
	Name   string     `json:"name"`
	Status StepStatus `json:"status"`
	// Attempts of the action, and of the compensation.
	Attempts             int    `json:"attempts"`
	CompensationAttempts int    `json:"compensationAttempts,omitempty"`
	LastError            string `json:"lastError,omitempty"`
	// Owner and LeaseUntil name the engine running the step (or its
	// compensation) and until when its claim holds.
	Owner      string
	LeaseUntil time.Time
}

// State is the fold of a saga's stream.
type State struct {
	Name   string          `json:"name"`
	ID     string          `json:"id"`
	Status Status          `json:"status"`
	Input  json.RawMessage `json:"input,omitempty"`
	// InputType is the event type the input was encoded as, and
	// InputMetadata its metadata (schema version, correlation, trace).
	InputType     string          `json:"inputType,omitempty"`
	InputMetadata json.RawMessage `json:"inputMetadata,omitempty"`
	Steps         []StepState     `json:"steps"`
	// Error is the failure that made the saga compensate or stop.
	Error string `json:"error,omitempty"`
	// Revision is the revision of the last event of the saga's stream.
	Revision uint64    `json:"revision"`
	Started  time.Time `json:"started"`
	Updated  time.Time `json:"updated"`
}

// Event types of a saga's stream. Their data are JSON objects with the
// fields of the corresponding record below.
const (
	EventStarted             = "SagaStarted"
	EventStepStarted         = "SagaStepStarted"
	EventStepSucceeded       = "SagaStepSucceeded"
	EventStepFailed          = "SagaStepFailed"
	EventCompensationStarted = "SagaCompensationStarted"
	EventCompensationAttempt = "SagaCompensationAttempted"
	EventStepCompensated     = "SagaStepCompensated"
	EventCompensationFailed  = "SagaCompensationFailed"
	EventCompleted           = "SagaCompleted"
	EventCompensated         = "SagaCompensated"
	EventNeedsAttention      = "SagaNeedsAttention"
	EventRetryRequested      = "SagaRetryRequested"
	EventStepSkipped         = "SagaStepSkipped"
)

// record is the data of every saga event; each type uses some fields.
type record struct {
	Name      string          `json:"name,omitempty"`
	ID        string          `json:"id,omitempty"`
	Steps     []string        `json:"steps,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	InputType string          `json:"inputType,omitempty"`
	InputMeta json.RawMessage `json:"inputMetadata,omitempty"`
	Step      string          `json:"step,omitempty"`
	Attempt   int             `json:"attempt,omitempty"`
	Owner     string          `json:"owner,omitempty"`
	Lease     time.Time       `json:"leaseUntil,omitzero"`
	Error     string          `json:"error,omitempty"`
}

// fold applies the events of a saga's stream.
func fold(events []eventstore.RecordedEvent) (*State, error) {
	st := &State{}
	for i := range events {
		if err := st.apply(&events[i]); err != nil {
			return nil, err
		}
	}
	return st, nil
}

func (st *State) step(name string) (*StepState, error) {
	for i := range st.Steps {
		if st.Steps[i].Name == name {
			return &st.Steps[i], nil
		}
	}
	return nil, fmt.Errorf("%w: %s %s: unknown step %q", ErrMalformed, st.Name, st.ID, name)
}

func (st *State) apply(e *eventstore.RecordedEvent) error {
	var r record
	if err := json.Unmarshal(e.Data, &r); err != nil {
		return fmt.Errorf("%w: %s@%d: %v", ErrMalformed, e.Stream, e.Revision, err)
	}
	st.Revision = e.Revision
	st.Updated = e.Created
	if e.Type == EventStarted {
		if e.Revision != 0 {
			return fmt.Errorf("%w: %s@%d: a second start", ErrMalformed, e.Stream, e.Revision)
		}
		*st = State{Name: r.Name, ID: r.ID, Status: Running, Input: r.Input, InputType: r.InputType, InputMetadata: r.InputMeta,
			Revision: e.Revision, Started: e.Created, Updated: e.Created}
		for _, s := range r.Steps {
			st.Steps = append(st.Steps, StepState{Name: s, Status: StepPending})
		}
		return nil
	}
	if st.Status == "" {
		return fmt.Errorf("%w: %s@%d: %s before %s", ErrMalformed, e.Stream, e.Revision, e.Type, EventStarted)
	}
	var step *StepState
	if r.Step != "" {
		var err error
		if step, err = st.step(r.Step); err != nil {
			return err
		}
	}
	needStep := func() error {
		if step == nil {
			return fmt.Errorf("%w: %s@%d: %s without a step", ErrMalformed, e.Stream, e.Revision, e.Type)
		}
		return nil
	}
	switch e.Type {
	case EventStepStarted:
		if err := needStep(); err != nil {
			return err
		}
		step.Status, step.Attempts, step.Owner, step.LeaseUntil = StepRunning, r.Attempt, r.Owner, r.Lease
	case EventStepSucceeded:
		if err := needStep(); err != nil {
			return err
		}
		step.Status, step.Owner, step.LeaseUntil = StepSucceeded, "", time.Time{}
	case EventStepFailed:
		if err := needStep(); err != nil {
			return err
		}
		step.Status, step.LastError, step.Owner, step.LeaseUntil = StepFailed, r.Error, "", time.Time{}
	case EventCompensationStarted:
		st.Status = Compensating
		if r.Error != "" {
			st.Error = r.Error
		}
	case EventCompensationAttempt:
		if err := needStep(); err != nil {
			return err
		}
		step.Status, step.CompensationAttempts, step.Owner, step.LeaseUntil = StepCompensating, r.Attempt, r.Owner, r.Lease
	case EventStepCompensated:
		if err := needStep(); err != nil {
			return err
		}
		step.Status, step.LastError, step.Owner, step.LeaseUntil = StepCompensated, "", "", time.Time{}
	case EventCompensationFailed:
		if err := needStep(); err != nil {
			return err
		}
		step.LastError, step.Owner, step.LeaseUntil = r.Error, "", time.Time{}
		step.Status = StepSucceeded // still to compensate; SagaNeedsAttention marks it failed for good
	case EventCompleted:
		st.Status = Completed
	case EventCompensated:
		st.Status = Compensated
	case EventNeedsAttention:
		st.Status, st.Error = NeedsAttention, r.Error
		if step != nil {
			step.Status = StepCompensationFailed // its compensation failed for good
		}
	case EventRetryRequested:
		// The failed compensation is tried again.
		st.Status = Compensating
		for i := range st.Steps {
			if st.Steps[i].Status == StepCompensationFailed {
				st.Steps[i].Status = StepSucceeded
			}
		}
	case EventStepSkipped:
		// The failed compensation is counted as done by hand.
		if err := needStep(); err != nil {
			return err
		}
		st.Status = Compensating
		step.Status, step.Owner, step.LeaseUntil = StepCompensated, "", time.Time{}
	default:
		return fmt.Errorf("%w: %s@%d: unknown event type %q", ErrMalformed, e.Stream, e.Revision, e.Type)
	}
	return nil
}
