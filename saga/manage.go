package saga

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/internal/clock"
)

// Retry tries the failed compensation of a saga that needs attention again
// (recording a SagaRetryRequested event, as RequestRetry does), and runs the
// saga on.
func (e *Engine[In]) Retry(ctx context.Context, id string) (State, error) {
	if st, err := RequestRetry(ctx, e.store, e.def.name, id); err != nil {
		return st, err
	}
	return e.drive(ctx, id)
}

// SkipStep counts the failed compensation of step, in a saga that needs
// attention, as done by hand (recording a SagaStepSkipped event, as
// RequestSkip does), and runs the saga on to compensate the steps before it.
func (e *Engine[In]) SkipStep(ctx context.Context, id, step string) (State, error) {
	if st, err := RequestSkip(ctx, e.store, e.def.name, id, step); err != nil {
		return st, err
	}
	return e.drive(ctx, id)
}

// Unfinished returns the IDs of the definition's sagas that have neither
// ended nor stopped in NeedsAttention, in the order they were started.
func (e *Engine[In]) Unfinished(ctx context.Context) ([]string, error) {
	prefix := StreamPrefix(e.def.name)
	open := make(map[string]bool)
	var order []string
	for ev, err := range e.store.ReadAll(ctx, eventstore.ReadAllOptions{Filter: eventstore.StreamPrefixFilter(prefix)}) {
		if err != nil {
			return nil, fmt.Errorf("saga %s: scan: %w", e.def.name, err)
		}
		id := strings.TrimPrefix(ev.Stream, prefix)
		switch ev.Type {
		case EventStarted:
			if !open[id] {
				order = append(order, id)
			}
			open[id] = true
		case EventCompleted, EventCompensated, EventNeedsAttention:
			open[id] = false
		case EventRetryRequested, EventStepSkipped:
			open[id] = true
		}
	}
	ids := order[:0]
	for _, id := range order {
		if open[id] {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// ResumeAll resumes every unfinished saga of the definition, one after the
// other, and returns how many it drove to an end or to NeedsAttention.
// Sagas another engine holds (ErrLeased) are left to it; other errors are
// joined.
func (e *Engine[In]) ResumeAll(ctx context.Context) (int, error) {
	ids, err := e.Unfinished(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, id := range ids {
		st, err := e.drive(ctx, id)
		switch {
		case err == nil && (st.Status.Done() || st.Status == NeedsAttention):
			n++
		case errors.Is(err, ErrLeased):
		case err != nil:
			if ctx.Err() != nil {
				return n, ctx.Err()
			}
			errs = append(errs, err)
		}
	}
	return n, errors.Join(errs...)
}

// Run resumes the unfinished sagas at once and then every interval, until
// ctx ends (it then returns nil): so the sagas of an engine that crashed are
// taken over once their leases expire. Errors are logged.
func (e *Engine[In]) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		return fmt.Errorf("%w: interval %v", ErrInvalidDefinition, interval)
	}
	for {
		if _, err := e.ResumeAll(ctx); err != nil && ctx.Err() == nil {
			e.logger.Error("saga: resume", "saga", e.def.name, "error", err)
		}
		if err := clock.Sleep(ctx, e.clock, interval); err != nil {
			return nil
		}
	}
}

// List streams the state of every saga in store, in the order they were
// started: of one workflow, or of every workflow when workflow is empty, for
// tools that have no Definition. It reads the log in pages and folds one
// saga at a time, so memory stays bounded whatever the number of sagas. On
// failure it yields the error once and stops.
func List(ctx context.Context, store eventstore.Store, workflow string) iter.Seq2[State, error] {
	prefix := eventstore.FrameworkStream("saga", "")
	if workflow != "" {
		prefix = StreamPrefix(workflow)
	}
	const page = 256
	return func(yield func(State, error) bool) {
		from := eventstore.Start
		var after eventstore.Position
		for {
			var streams []string
			n := 0
			for ev, err := range store.ReadAll(ctx, eventstore.ReadAllOptions{From: from, MaxCount: page, Filter: eventstore.StreamPrefixFilter(prefix)}) {
				if err != nil {
					yield(State{}, fmt.Errorf("saga: list: %w", err))
					return
				}
				if ev.Position == after {
					continue // the page's first event is the last one of the page before
				}
				n++
				after = ev.Position
				if ev.Type == EventStarted && ev.Revision == 0 {
					streams = append(streams, ev.Stream)
				}
			}
			for _, stream := range streams {
				st, err := Read(ctx, store, stream)
				if err != nil {
					yield(State{}, err)
					return
				}
				if !yield(*st, nil) {
					return
				}
			}
			if n == 0 {
				return
			}
			from = eventstore.FromPosition(after)
		}
	}
}

// Read folds the saga stream stream.
func Read(ctx context.Context, store eventstore.Store, stream string) (*State, error) {
	var events []eventstore.RecordedEvent
	for ev, err := range store.ReadStream(ctx, stream, eventstore.ReadOptions{}) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return nil, fmt.Errorf("%w: %s", ErrUnknownSaga, stream)
		}
		if err != nil {
			return nil, fmt.Errorf("saga: read %s: %w", stream, err)
		}
		events = append(events, ev)
	}
	if len(events) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrUnknownSaga, stream)
	}
	return fold(events)
}

// Timeline is one transition of a saga, for tools: what happened, to which
// step, when.
type Timeline struct {
	Revision uint64    `json:"revision"`
	Time     time.Time `json:"time"`
	Type     string    `json:"type"`
	Step     string    `json:"step,omitempty"`
	Attempt  int       `json:"attempt,omitempty"`
	Error    string    `json:"error,omitempty"`
}

// History returns the transitions of the saga stream stream in order.
func History(ctx context.Context, store eventstore.Store, stream string) ([]Timeline, error) {
	var out []Timeline
	for ev, err := range store.ReadStream(ctx, stream, eventstore.ReadOptions{}) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return nil, fmt.Errorf("%w: %s", ErrUnknownSaga, stream)
		}
		if err != nil {
			return nil, err
		}
		var r record
		if err := json.Unmarshal(ev.Data, &r); err != nil {
			return nil, fmt.Errorf("%w: %s@%d: %v", ErrMalformed, stream, ev.Revision, err)
		}
		out = append(out, Timeline{Revision: ev.Revision, Time: ev.Created, Type: ev.Type, Step: r.Step, Attempt: r.Attempt, Error: r.Error})
	}
	return out, nil
}
