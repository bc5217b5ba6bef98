package saga

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/resilience"
)

// DefaultTimeout bounds one attempt of a step's action or compensation when
// Step.Timeout is 0.
const DefaultTimeout = 30 * time.Second

// A Step is one step of a workflow: an action, and optionally the
// compensation that undoes it once it succeeded.
type Step[In any] struct {
	// Name identifies the step in the saga's stream. Required, unique.
	Name string
	// Action does the step's work. Required. It is called at least once
	// per attempt the stream records (see the package documentation); pass
	// sc.Key to the outside world so it can deduplicate.
	Action func(ctx context.Context, sc StepContext[In]) error
	// Compensate undoes a succeeded Action, when a later step fails for
	// good. Nil means nothing to undo.
	Compensate func(ctx context.Context, sc StepContext[In]) error
	// Retry wraps each attempt of the action (nil: DefaultRetry); its
	// budget counts the attempts of one engine run.
	Retry resilience.Policy
	// CompensationRetry wraps each attempt of the compensation (nil: the
	// same as Retry).
	CompensationRetry resilience.Policy
	// Timeout bounds one attempt (0: DefaultTimeout). The engine's claim on
	// the step (its lease) lasts the timeout plus a margin, so another
	// engine takes a step over only after its attempt must have ended.
	Timeout time.Duration
}

// DefaultRetry returns the retry policy of steps that set none: three
// attempts with full-jitter backoff from 100 ms.
func DefaultRetry() resilience.Policy {
	r, err := resilience.NewRetry(resilience.RetryConfig{MaxAttempts: 3})
	if err != nil {
		panic(err) // the configuration is constant
	}
	return r
}

// A Definition is a workflow: a name and its steps, run in order.
type Definition[In any] struct {
	name  string
	steps []Step[In]
	err   error
}

var nameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.]*$`)

// New defines the workflow name (letters, digits, '_' and '.', starting
// with a letter) of steps. Errors are reported by NewEngine.
func New[In any](name string, steps ...Step[In]) *Definition[In] {
	d := &Definition[In]{name: name, steps: steps}
	bad := func(format string, args ...any) {
		if d.err == nil {
			d.err = fmt.Errorf("%w %q: %s", ErrInvalidDefinition, name, fmt.Sprintf(format, args...))
		}
	}
	if !nameRE.MatchString(name) {
		bad("a name is letters, digits, '_' and '.', starting with a letter")
	}
	if len(steps) == 0 {
		bad("no steps")
	}
	seen := make(map[string]bool)
	for i, s := range steps {
		switch {
		case s.Name == "":
			bad("step %d has no name", i)
		case seen[s.Name]:
			bad("two steps named %q", s.Name)
		case s.Action == nil:
			bad("step %q has no action", s.Name)
		case s.Timeout < 0:
			bad("step %q has a negative timeout", s.Name)
		}
		seen[s.Name] = true
	}
	return d
}

// Name returns the workflow's name.
func (d *Definition[In]) Name() string { return d.name }

// Err returns the definition's first error, or nil.
func (d *Definition[In]) Err() error { return d.err }

// Stream returns the stream of the saga with the given ID:
// "chronicle-saga-<name>-<id>", a framework stream.
func (d *Definition[In]) Stream(id string) string { return StreamOf(d.name, id) }

// StreamOf returns the stream of saga id of workflow name.
func StreamOf(name, id string) string { return eventstore.FrameworkStream("saga", name+"-"+id) }

// StreamPrefix returns the prefix of the streams of workflow name's sagas.
func StreamPrefix(name string) string { return eventstore.FrameworkStream("saga", name+"-") }

// StepContext is what a step's action and compensation get.
type StepContext[In any] struct {
	// Saga and ID name the saga; Step the step.
	Saga, ID, Step string
	// Attempt numbers the attempts of this step's action (or of its
	// compensation), from 1. An attempt interrupted by a crash is run again
	// with the same number.
	Attempt int
	// Key is the attempt's idempotency key, "<saga>/<id>/<step>/<attempt>"
	// (with "/compensate" before the attempt for compensations): the same
	// key for the same attempt, across crashes and engines.
	Key string
	// Input is the saga's input.
	Input In

	store  eventstore.Store
	encode func(ctx context.Context, events ...any) ([]eventstore.EventData, error)
	idBase string
}
