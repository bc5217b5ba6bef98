package saga

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/internal/clock"
	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/schema"
)

// A Process is a process manager: an event-driven saga. Domain events start
// and advance its instances, one per correlation key, each with a state S
// kept as events in its own stream "chronicle-process-<name>-<key>". Its
// handlers send commands (through an aggregate.Repository, with the
// context they are given, so the events those commands append carry the
// handled event as cause, its correlation ID and its trace), emit events,
// and schedule deadlines that come back later as inputs.
//
// Define it once with NewProcess, On and OnDeadline, then run it with a
// Manager.
type Process[S any] struct {
	name      string
	source    projection.Source
	reg       *schema.Registry
	initial   func() S
	binds     []func(p *projection.Projection[projection.NoTx], m *Manager[S])
	deadlines map[string]func(ctx context.Context, pc *Context[S], d Deadline) error
	err       error
}

// NewProcess defines the process manager name (letters, digits, '_' and
// '.', starting with a letter) reading source, decoding events through reg,
// whose new instances start from initial() (nil: the zero S).
func NewProcess[S any](name string, source projection.Source, reg *schema.Registry, initial func() S) *Process[S] {
	p := &Process[S]{name: name, source: source, reg: reg, initial: initial,
		deadlines: make(map[string]func(context.Context, *Context[S], Deadline) error)}
	if !nameRE.MatchString(name) {
		p.err = fmt.Errorf("%w %q: a name is letters, digits, '_' and '.', starting with a letter", ErrInvalidDefinition, name)
	}
	return p
}

// Name returns the process manager's name.
func (p *Process[S]) Name() string { return p.name }

// On makes events of type E inputs of p. key returns the correlation key of
// the instance the event belongs to; nil, or an empty key, means the
// event's $correlationId. An event is handled once per instance: the
// instance's stream records it before the handler runs (its inbox), and a
// redelivered event that was handled is ignored.
func On[E, S any](p *Process[S], key func(ev projection.Event[E]) string, h func(ctx context.Context, pc *Context[S], ev projection.Event[E]) error) {
	p.binds = append(p.binds, func(proj *projection.Projection[projection.NoTx], m *Manager[S]) {
		projection.Handle(proj, func(ctx context.Context, ev projection.Event[E]) error {
			k := ""
			if key != nil {
				k = key(ev)
			}
			if k == "" {
				k = ev.Metadata.CorrelationID
			}
			if k == "" {
				return fmt.Errorf("process %s: %s@%d has no correlation key", p.name, ev.Record.Stream, ev.Record.Revision)
			}
			in := input{Kind: "event", ID: ev.Record.ID.String(), Type: ev.Record.Type, Stream: ev.Record.Stream, Revision: ev.Record.Revision}
			return m.handle(ctx, k, in, func(ctx context.Context, pc *Context[S]) error { return h(ctx, pc, ev) })
		})
	})
}

// OnDeadline handles the deadlines named name that the process's instances
// schedule (Context.Schedule).
func (p *Process[S]) OnDeadline(name string, h func(ctx context.Context, pc *Context[S], d Deadline) error) {
	if h == nil || name == "" {
		p.fail(fmt.Errorf("%w %q: a deadline handler needs a name and a function", ErrInvalidDefinition, p.name))
		return
	}
	if _, dup := p.deadlines[name]; dup {
		p.fail(fmt.Errorf("%w %q: two handlers for deadline %q", ErrInvalidDefinition, p.name, name))
		return
	}
	p.deadlines[name] = h
}

func (p *Process[S]) fail(err error) {
	if p.err == nil {
		p.err = err
	}
}

// A Deadline is a timeout an instance scheduled; it arrives as an input
// once its time has come, unless cancelled before.
type Deadline struct {
	ID   string    `json:"id"`
	Name string    `json:"name"`
	At   time.Time `json:"at"`
}

// Context is what a process handler gets: the instance's key and state,
// and what it can do besides sending commands.
type Context[S any] struct {
	// Key is the instance's correlation key.
	Key string
	// State is the instance's state; the handler changes it in place, and
	// it is recorded with the handled input.
	State S

	now      time.Time
	cause    string
	schedule []Deadline
	cancel   []string
	pending  map[string]Deadline
	complete bool
	store    eventstore.Store
	reg      *schema.Registry
	name     string
}

// Schedule schedules the deadline name to arrive after d, and returns its
// ID. The ID derives from the input being handled, so a handler run again
// after a crash schedules the same deadline, not a second one.
func (pc *Context[S]) Schedule(name string, d time.Duration) string {
	id := uuid.NewSHA1(idNamespace, fmt.Appendf(nil, "%s/%s/%s/%s/%d", pc.name, pc.Key, pc.cause, name, len(pc.schedule))).String()
	pc.schedule = append(pc.schedule, Deadline{ID: id, Name: name, At: pc.now.Add(d)})
	return id
}

// Cancel cancels the pending deadlines named name.
func (pc *Context[S]) Cancel(name string) {
	for id, d := range pc.pending {
		if d.Name == name {
			pc.cancel = append(pc.cancel, id)
		}
	}
	kept := pc.schedule[:0]
	for _, d := range pc.schedule {
		if d.Name != name {
			kept = append(kept, d)
		}
	}
	pc.schedule = kept
}

// Pending returns the instance's pending deadlines.
func (pc *Context[S]) Pending() []Deadline {
	out := slices.Collect(maps.Values(pc.pending))
	slices.SortFunc(out, func(a, b Deadline) int { return a.At.Compare(b.At) })
	return out
}

// Complete ends the instance: later inputs are ignored and its pending
// deadlines are cancelled.
func (pc *Context[S]) Complete() { pc.complete = true }

// Emit appends events (values of registered types) to stream, with IDs
// derived from the instance and the input being handled, so a handler run
// again after a crash does not write them twice. ctx must be the handler's:
// the events then carry the input as cause, its correlation ID and trace.
func (pc *Context[S]) Emit(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...any) (eventstore.AppendResult, error) {
	data, err := pc.reg.EncodeAll(ctx, events...)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	for i := range data {
		data[i].ID = uuid.NewSHA1(idNamespace, fmt.Appendf(nil, "%s/%s/%s/emit/%s/%d", pc.name, pc.Key, pc.cause, stream, i))
	}
	return pc.store.Append(ctx, stream, expected, data...)
}

// Event types of a process instance's stream.
const (
	EventInputReceived   = "ProcessInputReceived"
	EventInputHandled    = "ProcessInputHandled"
	EventDeadlineReached = "ProcessDeadlineReached"
)

// input is what an instance handles: an event or a deadline.
type input struct {
	Kind     string `json:"kind"` // "event" or "deadline"
	ID       string `json:"id"`   // the event's or the deadline's ID
	Type     string `json:"type,omitempty"`
	Stream   string `json:"stream,omitempty"`
	Revision uint64 `json:"revision,omitempty"`
	Name     string `json:"name,omitempty"` // deadline name
}

type processRecord struct {
	Input     input           `json:"input"`
	State     json.RawMessage `json:"state,omitempty"`
	Schedule  []Deadline      `json:"schedule,omitempty"`
	Cancel    []string        `json:"cancel,omitempty"`
	Completed bool            `json:"completed,omitempty"`
	Error     string          `json:"error,omitempty"`
}

// Instance is the fold of a process instance's stream.
type Instance[S any] struct {
	Key       string
	State     S
	Completed bool
	// Pending deadlines by ID.
	Pending  map[string]Deadline
	Revision uint64
	exists   bool
	received map[string]bool
	handled  map[string]bool
}

// InstanceStream returns the stream of process name's instance key.
func InstanceStream(name, key string) string {
	return eventstore.FrameworkStream("process", name+"-"+key)
}

// Manager runs a Process: a projection runner over its source (checkpoints
// in the store, at least once, with redeliveries absorbed by each
// instance's inbox) and the deadline scheduler.
type Manager[S any] struct {
	p      *Process[S]
	store  eventstore.Store
	clock  schema.Clock
	logger *slog.Logger
	runner *projection.Runner[projection.NoTx]
	rescan time.Duration

	mu     sync.Mutex
	timers map[string]func() bool // deadline ID → stop
	runCtx context.Context
	wg     sync.WaitGroup
}

// A ManagerOption configures a Manager.
type ManagerOption func(*managerOptions) error

type managerOptions struct {
	clock  schema.Clock
	logger *slog.Logger
	rescan time.Duration
	proj   []projection.Option
}

// WithProcessClock sets the clock of deadlines (default: the system clock).
func WithProcessClock(c schema.Clock) ManagerOption {
	return func(o *managerOptions) error {
		if c == nil {
			return fmt.Errorf("%w: nil clock", ErrInvalidDefinition)
		}
		o.clock = c
		return nil
	}
}

// WithProcessLogger sets the manager's logger.
func WithProcessLogger(l *slog.Logger) ManagerOption {
	return func(o *managerOptions) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrInvalidDefinition)
		}
		o.logger = l
		o.proj = append(o.proj, projection.WithLogger(l))
		return nil
	}
}

// WithRescan sets how often the manager looks for deadlines other instances
// scheduled and did not deliver (default 1 minute).
func WithRescan(d time.Duration) ManagerOption {
	return func(o *managerOptions) error {
		if d <= 0 {
			return fmt.Errorf("%w: rescan %v", ErrInvalidDefinition, d)
		}
		o.rescan = d
		return nil
	}
}

// WithRunnerOptions passes options to the manager's projection runner.
func WithRunnerOptions(opts ...projection.Option) ManagerOption {
	return func(o *managerOptions) error {
		o.proj = append(o.proj, opts...)
		return nil
	}
}

// NewManager returns the manager of p over store.
func NewManager[S any](store eventstore.Store, p *Process[S], opts ...ManagerOption) (*Manager[S], error) {
	switch {
	case p == nil:
		return nil, fmt.Errorf("%w: nil process", ErrInvalidDefinition)
	case p.err != nil:
		return nil, p.err
	case store == nil:
		return nil, fmt.Errorf("%w %q: nil store", ErrInvalidDefinition, p.name)
	}
	o := managerOptions{clock: clock.System, logger: slog.New(slog.DiscardHandler), rescan: time.Minute}
	for _, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("%w %q: nil option", ErrInvalidDefinition, p.name)
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	m := &Manager[S]{p: p, store: store, clock: o.clock, logger: o.logger, rescan: o.rescan, timers: make(map[string]func() bool)}
	proj := projection.New[projection.NoTx](p.name, p.source, p.reg)
	for _, bind := range p.binds {
		bind(proj, m)
	}
	runner, err := projection.NewRunner(store, proj, projection.AtLeastOnce(projection.NewStreamCheckpoints(store), 100, time.Second), o.proj...)
	if err != nil {
		return nil, fmt.Errorf("process %s: %w", p.name, err)
	}
	m.runner = runner
	return m, nil
}

// Runner returns the projection runner that feeds the manager (for its
// State, Status and WaitFor).
func (m *Manager[S]) Runner() *projection.Runner[projection.NoTx] { return m.runner }

// Run runs the manager until ctx ends (then it returns nil) or its runner
// fails: it delivers the source's events to the instances, and each
// deadline when its time comes, looking for deadlines other managers left
// every rescan interval.
func (m *Manager[S]) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m.mu.Lock()
	m.runCtx = ctx
	m.mu.Unlock()
	errs := make(chan error, 1)
	go func() { errs <- m.runner.Run(ctx) }()
	for {
		if err := m.scan(ctx); err != nil && ctx.Err() == nil {
			m.logger.Error("process: scan deadlines", "process", m.p.name, "error", err)
		}
		fired := make(chan struct{})
		stop := m.clock.AfterFunc(m.rescan, func() { close(fired) })
		select {
		case err := <-errs:
			stop()
			cancel()
			m.stopTimers()
			return err
		case <-ctx.Done():
			stop()
			err := <-errs
			m.stopTimers()
			return err
		case <-fired:
		}
	}
}

func (m *Manager[S]) stopTimers() {
	m.mu.Lock()
	for id, stop := range m.timers {
		if stop() {
			m.wg.Done()
		}
		delete(m.timers, id)
	}
	m.mu.Unlock()
	m.wg.Wait()
}

// scan folds every instance and arms its pending deadlines; deadlines that
// were reached but not handled (a crash) are handled at once.
func (m *Manager[S]) scan(ctx context.Context) error {
	prefix := InstanceStream(m.p.name, "")
	keys := make(map[string]bool)
	for ev, err := range m.store.ReadAll(ctx, eventstore.ReadAllOptions{Filter: eventstore.StreamPrefixFilter(prefix)}) {
		if err != nil {
			return err
		}
		keys[strings.TrimPrefix(ev.Stream, prefix)] = true
	}
	for _, key := range slices.Sorted(maps.Keys(keys)) {
		inst, err := m.load(ctx, key)
		if err != nil {
			return err
		}
		for _, d := range inst.Pending {
			m.arm(key, d)
		}
	}
	return nil
}

// arm sets a timer for a deadline unless one is set.
func (m *Manager[S]) arm(key string, d Deadline) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.timers[d.ID]; ok || m.runCtx == nil || m.runCtx.Err() != nil {
		return
	}
	ctx := m.runCtx
	m.wg.Add(1)
	m.timers[d.ID] = m.clock.AfterFunc(d.At.Sub(m.clock.Now()), func() {
		defer m.wg.Done()
		if err := m.fire(ctx, key, d); err != nil && ctx.Err() == nil {
			m.logger.Error("process: deadline", "process", m.p.name, "key", key, "deadline", d.Name, "error", err)
		}
		m.mu.Lock()
		delete(m.timers, d.ID)
		m.mu.Unlock()
	})
}

// fire delivers a deadline whose time has come.
func (m *Manager[S]) fire(ctx context.Context, key string, d Deadline) error {
	h := m.p.deadlines[d.Name]
	if h == nil {
		return fmt.Errorf("no handler for deadline %q", d.Name)
	}
	in := input{Kind: "deadline", ID: d.ID, Name: d.Name}
	return m.handle(ctx, key, in, func(ctx context.Context, pc *Context[S]) error { return h(ctx, pc, d) })
}

// handle records an input in the instance's inbox, runs its handler, and
// records the outcome, each append fenced by the instance's revision.
func (m *Manager[S]) handle(ctx context.Context, key string, in input, run func(context.Context, *Context[S]) error) error {
	if err := eventstore.ValidateStreamName("process", InstanceStream(m.p.name, key), false); err != nil {
		return fmt.Errorf("process %s: key %q: %w", m.p.name, key, err)
	}
	for {
		inst, err := m.load(ctx, key)
		if err != nil {
			return err
		}
		if inst.handled[in.ID] || inst.Completed {
			return nil // a redelivery, or an input after the end
		}
		if in.Kind == "deadline" {
			if _, ok := inst.Pending[in.ID]; !ok {
				return nil // cancelled
			}
		}
		expected := eventstore.NoStream
		if inst.exists {
			expected = eventstore.Exact(inst.Revision)
		}
		if !inst.received[in.ID] {
			typ := EventInputReceived
			if in.Kind == "deadline" {
				typ = EventDeadlineReached
			}
			data, _ := json.Marshal(processRecord{Input: in})
			res, err := m.store.Append(ctx, InstanceStream(m.p.name, key), expected, eventstore.EventData{
				ID: uuid.NewSHA1(idNamespace, fmt.Appendf(nil, "%s/%s/received/%s", m.p.name, key, in.ID)), Type: typ, Data: data})
			if errors.Is(err, eventstore.ErrWrongExpectedVersion) {
				continue
			}
			if err != nil {
				return fmt.Errorf("process %s %s: record input: %w", m.p.name, key, err)
			}
			expected = res.Next
		}
		pc := &Context[S]{Key: key, State: inst.State, now: m.clock.Now(), cause: in.ID, pending: inst.Pending,
			store: m.store, reg: m.p.reg, name: m.p.name}
		if err := run(ctx, pc); err != nil {
			return err
		}
		state, err := json.Marshal(pc.State)
		if err != nil {
			return fmt.Errorf("process %s %s: state: %w", m.p.name, key, err)
		}
		rec := processRecord{Input: in, State: state, Schedule: pc.schedule, Cancel: pc.cancel, Completed: pc.complete}
		if pc.complete {
			for id := range inst.Pending {
				rec.Cancel = append(rec.Cancel, id)
			}
		}
		data, _ := json.Marshal(rec)
		_, err = m.store.Append(ctx, InstanceStream(m.p.name, key), expected, eventstore.EventData{
			ID: uuid.NewSHA1(idNamespace, fmt.Appendf(nil, "%s/%s/handled/%s", m.p.name, key, in.ID)), Type: EventInputHandled, Data: data})
		if errors.Is(err, eventstore.ErrWrongExpectedVersion) {
			continue // another input moved the instance: decide again from its new state
		}
		if err != nil {
			return fmt.Errorf("process %s %s: record outcome: %w", m.p.name, key, err)
		}
		m.mu.Lock()
		for _, id := range rec.Cancel {
			if stop, ok := m.timers[id]; ok && stop() {
				delete(m.timers, id)
				m.wg.Done()
			}
		}
		m.mu.Unlock()
		for _, d := range pc.schedule {
			m.arm(key, d)
		}
		return nil
	}
}

// Load returns the instance key: the fold of its stream (the initial state
// when it has none).
func (m *Manager[S]) Load(ctx context.Context, key string) (Instance[S], error) {
	inst, err := m.load(ctx, key)
	if err != nil {
		return Instance[S]{}, err
	}
	return *inst, nil
}

func (m *Manager[S]) load(ctx context.Context, key string) (*Instance[S], error) {
	inst := &Instance[S]{Key: key, Pending: make(map[string]Deadline), received: make(map[string]bool), handled: make(map[string]bool)}
	if m.p.initial != nil {
		inst.State = m.p.initial()
	}
	stream := InstanceStream(m.p.name, key)
	for ev, err := range m.store.ReadStream(ctx, stream, eventstore.ReadOptions{}) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return inst, nil
		}
		if err != nil {
			return nil, fmt.Errorf("process %s %s: load: %w", m.p.name, key, err)
		}
		inst.exists, inst.Revision = true, ev.Revision
		var r processRecord
		if err := json.Unmarshal(ev.Data, &r); err != nil {
			return nil, fmt.Errorf("%w: %s@%d: %v", ErrMalformed, stream, ev.Revision, err)
		}
		switch ev.Type {
		case EventInputReceived, EventDeadlineReached:
			inst.received[r.Input.ID] = true
		case EventInputHandled:
			inst.handled[r.Input.ID] = true
			if r.Input.Kind == "deadline" {
				delete(inst.Pending, r.Input.ID)
			}
			var s S
			if m.p.initial != nil {
				s = m.p.initial()
			}
			if err := json.Unmarshal(r.State, &s); err != nil {
				return nil, fmt.Errorf("%w: %s@%d: state: %v", ErrMalformed, stream, ev.Revision, err)
			}
			inst.State = s
			for _, d := range r.Schedule {
				inst.Pending[d.ID] = d
			}
			for _, id := range r.Cancel {
				delete(inst.Pending, id)
			}
			inst.Completed = inst.Completed || r.Completed
		default:
			return nil, fmt.Errorf("%w: %s@%d: unknown event type %q", ErrMalformed, stream, ev.Revision, ev.Type)
		}
	}
	return inst, nil
}
