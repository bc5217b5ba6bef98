package saga

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/internal/clock"
	"github.com/chronicle-go/chronicle/schema"
)

// LeaseMargin is added to a step's timeout to make its lease.
const LeaseMargin = 5 * time.Second

// An Engine runs the sagas of one Definition over a store. Engines are safe
// for concurrent use, and many engines (in one process or many) can run
// over one store: the expected revision of each saga's stream fences every
// transition, and a step claimed by one engine is left to it until its
// lease expires.
type Engine[In any] struct {
	store  eventstore.Store
	reg    *schema.Registry
	def    *Definition[In]
	clock  schema.Clock
	owner  string
	logger *slog.Logger
	tel    *telemetry
}

// An Option configures an Engine.
type Option func(*options) error

type options struct {
	clock  schema.Clock
	owner  string
	logger *slog.Logger
	tracer trace.TracerProvider
	meter  metric.MeterProvider
}

// WithClock sets the clock of leases, timeouts and backoff (default: the
// system clock).
func WithClock(c schema.Clock) Option {
	return func(o *options) error {
		if c == nil {
			return fmt.Errorf("%w: nil clock", ErrInvalidDefinition)
		}
		o.clock = c
		return nil
	}
}

// WithInstanceID names this engine in the leases it takes (default: a
// random ID). An engine restarted with the same ID takes its own leases
// back at once instead of waiting for them to expire.
func WithInstanceID(id string) Option {
	return func(o *options) error {
		if id == "" {
			return fmt.Errorf("%w: empty instance ID", ErrInvalidDefinition)
		}
		o.owner = id
		return nil
	}
}

// WithLogger sets the logger (default: none).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrInvalidDefinition)
		}
		o.logger = l
		return nil
	}
}

// WithTracerProvider sets the tracer provider (default: the global one).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *options) error {
		if tp == nil {
			return fmt.Errorf("%w: nil tracer provider", ErrInvalidDefinition)
		}
		o.tracer = tp
		return nil
	}
}

// WithMeterProvider sets the meter provider (default: the global one).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(o *options) error {
		if mp == nil {
			return fmt.Errorf("%w: nil meter provider", ErrInvalidDefinition)
		}
		o.meter = mp
		return nil
	}
}

// NewEngine returns an engine of def over store; reg encodes and validates
// saga inputs (In must be registered) and the events steps append.
func NewEngine[In any](store eventstore.Store, reg *schema.Registry, def *Definition[In], opts ...Option) (*Engine[In], error) {
	switch {
	case def == nil:
		return nil, fmt.Errorf("%w: nil definition", ErrInvalidDefinition)
	case def.err != nil:
		return nil, def.err
	case store == nil || reg == nil:
		return nil, fmt.Errorf("%w %q: nil store or registry", ErrInvalidDefinition, def.name)
	}
	var zero In
	if _, _, ok := reg.TypeOf(zero); !ok {
		return nil, fmt.Errorf("%w %q: the input type %T is not registered in the schema registry", ErrInvalidDefinition, def.name, zero)
	}
	o := options{clock: clock.System, owner: uuid.NewString(), logger: slog.New(slog.DiscardHandler),
		tracer: otel.GetTracerProvider(), meter: otel.GetMeterProvider()}
	for _, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("%w %q: nil option", ErrInvalidDefinition, def.name)
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	tel, err := newTelemetry(def.name, o)
	if err != nil {
		return nil, err
	}
	return &Engine[In]{store: store, reg: reg, def: def, clock: o.clock, owner: o.owner, logger: o.logger, tel: tel}, nil
}

// Start starts the saga id with input and runs it until it ends (Completed
// or Compensated), stops in NeedsAttention, another engine holds its
// current step (ErrLeased), or ctx ends; the saga goes on from its stream
// with Resume or ResumeAll. Starting an ID that exists with the same input
// resumes it; with another input it is ErrAlreadyStarted. An input that
// fails its schema is a schema.ErrValidation error and nothing is written.
func (e *Engine[In]) Start(ctx context.Context, id string, input In) (State, error) {
	if err := checkID(id); err != nil {
		return State{}, err
	}
	data, err := e.reg.Encode(ctx, input)
	if err != nil {
		return State{}, fmt.Errorf("saga %s %s: input: %w", e.def.name, id, err)
	}
	steps := make([]string, len(e.def.steps))
	for i, s := range e.def.steps {
		steps[i] = s.Name
	}
	rec := record{Name: e.def.name, ID: id, Steps: steps, Input: data.Data, InputType: data.Type, InputMeta: data.Metadata}
	_, err = e.append(ctx, id, eventstore.NoStream, EventStarted, rec)
	if errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		st, lerr := e.load(ctx, id)
		if lerr != nil {
			return State{}, lerr
		}
		if string(st.Input) != string(data.Data) {
			return *st, fmt.Errorf("%w: saga %s %s", ErrAlreadyStarted, e.def.name, id)
		}
	} else if err != nil {
		return State{}, err
	} else {
		e.tel.started.Add(ctx, 1, e.tel.attrs)
	}
	return e.drive(ctx, id)
}

// Resume runs the saga id from where its stream says, as Start does after
// the start. An ID never started is ErrUnknownSaga.
func (e *Engine[In]) Resume(ctx context.Context, id string) (State, error) {
	if err := checkID(id); err != nil {
		return State{}, err
	}
	return e.drive(ctx, id)
}

// Load returns the state of the saga id: the fold of its stream.
func (e *Engine[In]) Load(ctx context.Context, id string) (State, error) {
	st, err := e.load(ctx, id)
	if err != nil {
		return State{}, err
	}
	return *st, nil
}

func checkID(id string) error {
	if err := eventstore.ValidateStreamName("saga", "x-"+id, false); err != nil || id == "" {
		return fmt.Errorf("%w: saga ID %q", ErrUnknownSaga, id)
	}
	return nil
}

// load folds the saga's stream.
func (e *Engine[In]) load(ctx context.Context, id string) (*State, error) {
	return Read(ctx, e.store, e.def.Stream(id))
}

// errConflict: another engine moved the saga; reload and decide again.
var errConflict = errors.New("saga: conflict")

// append writes one transition with the saga's expected revision.
func (e *Engine[In]) append(ctx context.Context, id string, expected eventstore.ExpectedRevision, typ string, r record) (eventstore.ExpectedRevision, error) {
	data, err := json.Marshal(r)
	if err != nil {
		return expected, err
	}
	res, err := e.store.Append(ctx, e.def.Stream(id), expected, eventstore.EventData{Type: typ, Data: data})
	if err != nil {
		return expected, err
	}
	return res.Next, nil
}

// drive runs the saga until it ends, needs attention, is leased by another
// engine, or ctx ends.
func (e *Engine[In]) drive(ctx context.Context, id string) (State, error) {
	for {
		st, err := e.load(ctx, id)
		if err != nil {
			return State{}, err
		}
		if len(st.Steps) != len(e.def.steps) {
			return *st, fmt.Errorf("%w: %s %s was started with steps %d, the definition has %d", ErrMalformed, e.def.name, id, len(st.Steps), len(e.def.steps))
		}
		rev := eventstore.Exact(st.Revision)
		switch st.Status {
		case Completed, Compensated, NeedsAttention:
			return *st, nil
		case Running:
			i := st.nextForward()
			if i < 0 {
				_, err = e.append(ctx, id, rev, EventCompleted, record{})
				if err == nil {
					e.tel.ended(ctx, Completed)
				}
			} else {
				err = e.runStep(ctx, st, i, false)
			}
		case Compensating:
			i := st.nextCompensation()
			if i < 0 {
				_, err = e.append(ctx, id, rev, EventCompensated, record{})
				if err == nil {
					e.tel.ended(ctx, Compensated)
				}
			} else {
				err = e.runStep(ctx, st, i, true)
			}
		}
		switch {
		case err == nil, errors.Is(err, errConflict), errors.Is(err, eventstore.ErrWrongExpectedVersion):
			continue
		case errors.Is(err, ErrLeased):
			return *st, err
		default:
			return *st, err
		}
	}
}

// nextForward returns the index of the first step not yet succeeded, or -1.
func (st *State) nextForward() int {
	for i, s := range st.Steps {
		if s.Status != StepSucceeded {
			return i
		}
	}
	return -1
}

// nextCompensation returns the index of the last succeeded step not yet
// compensated, or -1.
func (st *State) nextCompensation() int {
	for i := len(st.Steps) - 1; i >= 0; i-- {
		if s := st.Steps[i].Status; s == StepSucceeded || s == StepCompensating {
			return i
		}
	}
	return -1
}

// runStep runs step i's action (or compensation) under its retry policy,
// recording every attempt.
func (e *Engine[In]) runStep(ctx context.Context, st *State, i int, compensate bool) error {
	step := e.def.steps[i]
	ss := st.Steps[i]
	now := e.clock.Now()
	inFlight := (!compensate && ss.Status == StepRunning) || (compensate && ss.Status == StepCompensating)
	if inFlight && ss.Owner != e.owner && now.Before(ss.LeaseUntil) {
		return fmt.Errorf("%w: %s %s step %q by %s until %v", ErrLeased, st.Name, st.ID, ss.Name, ss.Owner, ss.LeaseUntil)
	}
	fn, policy := step.Action, step.Retry
	started, succeeded, failed := EventStepStarted, EventStepSucceeded, EventStepFailed
	attempts := ss.Attempts
	if compensate {
		fn, policy = step.Compensate, step.CompensationRetry
		if policy == nil {
			policy = step.Retry
		}
		started, succeeded, failed = EventCompensationAttempt, EventStepCompensated, EventCompensationFailed
		attempts = ss.CompensationAttempts
		if fn == nil {
			_, err := e.append(ctx, st.ID, eventstore.Exact(st.Revision), succeeded, record{Step: ss.Name})
			return err
		}
	}
	if policy == nil {
		policy = DefaultRetry()
	}
	timeout := step.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	input, err := e.input(st)
	if err != nil {
		return err
	}
	rev := eventstore.Exact(st.Revision)
	attempt := attempts + 1
	if inFlight {
		attempt = attempts // a crash interrupted it: the same attempt, the same key
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var fenced error // a transition lost to another engine: stop retrying
	var last error
	first := true
	err = policy.Wrap(func(ctx context.Context) error {
		if !first {
			attempt++
		}
		first = false
		next, err := e.append(ctx, st.ID, rev, started, record{Step: ss.Name, Attempt: attempt, Owner: e.owner, Lease: e.clock.Now().Add(timeout + LeaseMargin)})
		if err != nil {
			fenced = err
			stop()
			return err
		}
		rev = next
		key := fmt.Sprintf("%s/%s/%s/%d", st.Name, st.ID, ss.Name, attempt)
		idBase := fmt.Sprintf("%s/%s/%s", st.Name, st.ID, ss.Name)
		if compensate {
			key = fmt.Sprintf("%s/%s/%s/compensate/%d", st.Name, st.ID, ss.Name, attempt)
			idBase += "/compensate"
		}
		sc := StepContext[In]{Saga: st.Name, ID: st.ID, Step: ss.Name, Attempt: attempt, Key: key, Input: input,
			store: e.store, encode: e.reg.EncodeAll, idBase: idBase}
		actErr := e.attempt(ctx, st, sc, compensate, timeout, fn)
		if actErr == nil {
			if next, err = e.append(ctx, st.ID, rev, succeeded, record{Step: ss.Name, Attempt: attempt}); err != nil {
				fenced = err
				stop()
				return err
			}
			rev = next
			return nil
		}
		last = &StepError{Saga: st.Name, ID: st.ID, Step: ss.Name, Attempt: attempt, Compensation: compensate, Err: actErr}
		if next, err = e.append(ctx, st.ID, rev, failed, record{Step: ss.Name, Attempt: attempt, Error: actErr.Error()}); err != nil {
			fenced = err
			stop()
			return err
		}
		rev = next
		return last
	})(runCtx)
	switch {
	case fenced != nil:
		if errors.Is(fenced, eventstore.ErrWrongExpectedVersion) {
			return errConflict
		}
		return fenced
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	}
	if last == nil {
		last = err
	}
	// Retries exhausted.
	if !compensate {
		e.logger.Warn("saga: step failed; compensating", "saga", st.Name, "id", st.ID, "step", ss.Name, "error", last)
		_, err := e.append(ctx, st.ID, rev, EventCompensationStarted, record{Step: ss.Name, Error: last.Error()})
		return err
	}
	e.logger.Error("saga: compensation failed; the saga needs attention", "saga", st.Name, "id", st.ID, "step", ss.Name, "error", last)
	if _, err := e.append(ctx, st.ID, rev, EventNeedsAttention, record{Step: ss.Name, Error: last.Error()}); err != nil {
		return err
	}
	e.tel.ended(ctx, NeedsAttention)
	return nil
}

// attempt runs one attempt of fn under the step's timeout, in a span.
func (e *Engine[In]) attempt(ctx context.Context, st *State, sc StepContext[In], compensate bool, timeout time.Duration, fn func(context.Context, StepContext[In]) error) (err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ctx, end := e.tel.attempt(ctx, st, sc.Step, sc.Attempt, compensate)
	defer func() { end(err) }()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("saga: step panicked: %v", p)
		}
	}()
	return fn(ctx, sc)
}

// input decodes the saga's input.
func (e *Engine[In]) input(st *State) (In, error) {
	var zero In
	ev, err := e.reg.Decode(eventstore.RecordedEvent{Type: st.InputType, ContentType: eventstore.ContentTypeJSON, Data: st.Input, Metadata: st.InputMetadata})
	if err != nil {
		return zero, fmt.Errorf("saga %s %s: input: %w", st.Name, st.ID, err)
	}
	in, ok := ev.Data.(In)
	if !ok {
		return zero, fmt.Errorf("saga %s %s: input decoded as %T, not %T", st.Name, st.ID, ev.Data, zero)
	}
	return in, nil
}

// Append appends events (values of registered types, encoded and validated
// through the engine's registry) to stream, with event IDs derived from the
// saga, the step and each event's index: a retry that appends the same
// events after an append of unknown outcome is absorbed by the store's
// idempotency instead of writing twice. The events carry the saga's
// correlation and causation IDs and trace context from ctx.
func (sc StepContext[In]) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...any) (eventstore.AppendResult, error) {
	data, err := sc.encode(ctx, events...)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	for i := range data {
		data[i].ID = uuid.NewSHA1(idNamespace, fmt.Appendf(nil, "%s/%s/%d", sc.idBase, stream, i))
	}
	return sc.store.Append(ctx, stream, expected, data...)
}

var idNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/chronicle-go/chronicle/saga"))
