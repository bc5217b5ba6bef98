package aggregate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/internal/clock"
	"github.com/chronicle-go/chronicle/schema"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

const instrumentationName = "github.com/chronicle-go/chronicle/aggregate"

// A Decision decides what happens to an aggregate in its current state: it
// returns the new events (values or pointers of types registered in the
// schema registry; none means "nothing to do") or an error that rejects the
// command. It may run more than once for one command (after a concurrency
// conflict, on fresh state), so it must not have side effects.
type Decision[S any] func(state S) ([]any, error)

// A Root is an aggregate (its root, in domain-driven design's terms) as
// loaded: its ID, its state and the revision that state is at.
type Root[S any] struct {
	ID    string
	State S
	// Revision is Exact(revision of the last event applied), or NoStream
	// when the aggregate has no events.
	Revision eventstore.ExpectedRevision
}

// Exists reports whether the aggregate has at least one event.
func (a Root[S]) Exists() bool { return !a.Revision.IsNoStream() }

// A Result is the outcome of a command: the aggregate after it, and what was
// appended.
type Result[S any] struct {
	// Root holds the state after the new events and the stream's new
	// revision (unchanged when the decision returned no events).
	Root[S]
	// Position is the position of the last event appended; zero when
	// nothing was appended.
	Position eventstore.Position
	// Events are the appended events as the registry decodes them. Their
	// Record has the stream, revision, data and metadata the store keeps;
	// Position is set on the last one only, and Created is the repository
	// clock's reading, not the store's.
	Events []schema.Event
	// Attempts is how many times the decision ran (1 without conflicts).
	Attempts int
}

// A Repository loads and changes aggregates of one Type. It is safe for
// concurrent use.
type Repository[S any] struct {
	store    eventstore.Store
	registry *schema.Registry
	typ      Type[S]
	opts     options
	snapVer  string
	tracer   trace.Tracer
	metrics  *metrics
	log      *slog.Logger
}

// NewRepository returns a repository of aggregates of type typ kept in store,
// whose events are encoded and decoded by registry. It fails with
// ErrInvalidType or ErrInvalidOption.
func NewRepository[S any](store eventstore.Store, registry *schema.Registry, typ Type[S], opts ...Option) (*Repository[S], error) {
	if store == nil || registry == nil {
		return nil, fmt.Errorf("%w: store and registry are required", ErrInvalidOption)
	}
	if err := typ.Validate(); err != nil {
		return nil, err
	}
	if err := registry.Check(); err != nil {
		return nil, fmt.Errorf("aggregate: %w", err)
	}
	r := &Repository[S]{store: store, registry: registry, typ: typ, opts: defaultOptions()}
	for _, opt := range opts {
		if err := opt(&r.opts); err != nil {
			return nil, err
		}
	}
	var err error
	if r.opts.snapshotEvery > 0 {
		if r.snapVer, err = typ.snapshotVersion(); err != nil {
			return nil, err
		}
	}
	tp := r.opts.tracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	r.tracer = tp.Tracer(instrumentationName)
	mp := r.opts.meterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	if r.metrics, err = newMetrics(mp); err != nil {
		return nil, err
	}
	r.log = r.opts.logger
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	return r, nil
}

// Type returns the aggregate type the repository was made for.
func (r *Repository[S]) Type() Type[S] { return r.typ }

// Load returns the current state of an aggregate: the newest usable snapshot
// (with WithSnapshotEvery) and the events after it, applied in order.
// Errors: *NotFoundError (no events; the Aggregate then holds the initial
// state), ErrInvalidID, the registry's decoding errors (ErrUnknownType,
// ErrUpcast, … of package schema) and the store's.
//
// Past its first 512 events a load decodes the rest on other goroutines
// (see Long loads in the package documentation): Evolve still runs on the
// caller's goroutine, in order; the registry's Decode and upcasters run
// concurrently.
func (r *Repository[S]) Load(ctx context.Context, id string) (Root[S], error) {
	l, err := r.load(ctx, id, head, r.opts.snapshotEvery > 0)
	if err != nil {
		return Root[S]{ID: id}, err
	}
	if !l.exists {
		return Root[S]{ID: id, State: l.state, Revision: eventstore.NoStream}, &NotFoundError{Stream: r.typ.Stream(id)}
	}
	return l.aggregate(id), nil
}

// Create runs a decision on an aggregate that must not exist yet (its
// initial state) and appends the events with NoStream. An existing
// aggregate is an *AlreadyExistsError and the decision does not run. See
// Execute for the rest.
func (r *Repository[S]) Create(ctx context.Context, id string, decide Decision[S], opts ...CommandOption) (Result[S], error) {
	return r.command(ctx, modeCreate, id, decide, opts)
}

// Update runs a decision on an aggregate that must exist; a missing one is
// a *NotFoundError and the decision does not run. See Execute for the rest.
func (r *Repository[S]) Update(ctx context.Context, id string, decide Decision[S], opts ...CommandOption) (Result[S], error) {
	return r.command(ctx, modeUpdate, id, decide, opts)
}

// Execute runs a decision on an aggregate whether it exists or not.
//
// Every command loads the aggregate, runs the decision, encodes and
// validates the new events through the schema registry, decodes them back
// as a later load will (an event that is invalid, or that would not read
// back, e.g. an older version without a complete upcaster chain, is an
// *EventError and nothing is appended), and appends them with the loaded
// revision as the expected revision. When the append loses a race with a
// concurrent writer the command loads and decides again, up to
// WithMaxRetries times, then fails with a *ConflictError. A decision's own
// error comes back as a *RejectedError that unwraps to it, so errors.Is
// finds it.
//
// The context's correlation and causation (schema.WithCorrelation) and the
// command's span go into every appended event's metadata; without a
// correlation in the context, the events of one decision share the first
// one's ID as correlation ID. They also share one decided-at time.
//
// The Result holds the state after the new events, the stream's new
// revision and the position of the last event. Errors: *RejectedError,
// *EventError (ErrInvalidEvent, and ErrUnreadableEvent when it would not
// read back), *ConflictError (ErrConflict),
// *eventstore.WrongExpectedVersionError (WithExpectedRevision),
// *AfterAppendError (the events were appended),
// *NotFoundError and *AlreadyExistsError (Update and Create), ErrInvalidID,
// ErrInvalidOption (nil decision), decoding errors of stored events, and
// the store's errors (eventstore.ErrStreamDeleted, ErrClosed, context
// errors). On error nothing was appended, except that a store error during
// an append leaves its outcome unknown, as with any database.
func (r *Repository[S]) Execute(ctx context.Context, id string, decide Decision[S], opts ...CommandOption) (Result[S], error) {
	return r.command(ctx, modeExecute, id, decide, opts)
}

type mode uint8

const (
	modeExecute mode = iota
	modeCreate
	modeUpdate
)

func (m mode) String() string {
	switch m {
	case modeCreate:
		return "create"
	case modeUpdate:
		return "update"
	}
	return "execute"
}

func (r *Repository[S]) command(ctx context.Context, m mode, id string, decide Decision[S], opts []CommandOption) (Result[S], error) {
	stream := r.typ.Stream(id)
	cmd, cmdErr := buildCommand(opts)
	attrs := []attribute.KeyValue{
		attribute.String(attrCategory, r.typ.Category),
		attribute.String(attrStream, stream),
		attribute.String(attrCommand, m.String()),
	}
	if cmd.name != "" {
		attrs = append(attrs, attribute.String(attrCommandName, cmd.name))
	}
	ctx, span := r.tracer.Start(ctx, "aggregate."+m.String()+" "+r.typ.Category,
		trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(attrs...))
	defer span.End()
	start := r.opts.clock.Now()

	res := Result[S]{Root: Root[S]{ID: id, Revision: eventstore.NoStream}}
	err := cmdErr
	if err == nil {
		res, err = r.attempt(cmd.context(ctx), m, cmd, id, decide, span)
	}

	corr, _ := schema.CorrelationFrom(ctx)
	if corr == "" && len(res.Events) > 0 {
		corr = res.Events[0].Metadata.CorrelationID
	}
	logAttrs := []slog.Attr{slog.String(logStream, stream), slog.String(logCommand, m.String())}
	if cmd.name != "" {
		logAttrs = append(logAttrs, slog.String(logCommandName, cmd.name))
	}
	logAttrs = append(logAttrs, slog.String(logCorrelationID, corr))
	outcome := outcomeOf(err)
	r.metrics.record(ctx, r.typ.Category, m, cmd.name, outcome, r.opts.clock.Now().Sub(start))
	span.SetAttributes(attribute.Int(attrAttempts, res.Attempts), attribute.String(attrOutcome, outcome))
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, outcome)
		r.log.LogAttrs(ctx, slog.LevelDebug, "command failed",
			append(logAttrs, slog.String(logOutcome, outcome), slog.Any(logError, err))...)
		return res, err
	}
	if rev, ok := res.Revision.Revision(); ok {
		span.SetAttributes(attribute.Int64(attrRevision, int64(rev)))
	}
	span.SetAttributes(attribute.Int(attrEvents, len(res.Events)))
	r.log.LogAttrs(ctx, slog.LevelDebug, "command done",
		append(logAttrs, slog.Int(logEvents, len(res.Events)), slog.String(logRevision, res.Revision.String()))...)
	return res, nil
}

func (r *Repository[S]) attempt(ctx context.Context, m mode, cmd command, id string, decide Decision[S], span trace.Span) (Result[S], error) {
	stream := r.typ.Stream(id)
	res := Result[S]{Root: Root[S]{ID: id, Revision: eventstore.NoStream}}
	if err := r.checkID(id); err != nil {
		return res, err
	}
	if decide == nil {
		return res, fmt.Errorf("%w: %q: nil decision", ErrInvalidOption, stream)
	}
	var (
		conflict error
		delay    time.Duration
	)
	for res.Attempts < r.opts.maxRetries+1 {
		res.Attempts++
		l, err := r.load(ctx, id, head, r.opts.snapshotEvery > 0)
		if err != nil {
			return res, err
		}
		res.Root = l.aggregate(id)
		switch {
		case m == modeCreate && l.exists:
			return res, &AlreadyExistsError{Stream: stream, Revision: l.rev}
		case m == modeUpdate && !l.exists:
			return res, &NotFoundError{Stream: stream}
		case !cmd.admits(l.exists, l.expected()):
			return res, fmt.Errorf("aggregate: %w", &eventstore.WrongExpectedVersionError{Stream: stream, Expected: cmd.expected, Actual: l.expected()})
		}
		events, err := decide(l.state)
		if err != nil {
			return res, &RejectedError{Stream: stream, Err: err}
		}
		if len(events) == 0 {
			return res, nil
		}
		data, err := r.encode(ctx, stream, events)
		if err != nil {
			return res, err
		}
		decoded, err := r.readBack(stream, events, data)
		if err != nil {
			return res, err
		}
		ar, err := r.store.Append(ctx, stream, l.expected(), data...)
		if errors.Is(err, eventstore.ErrWrongExpectedVersion) {
			conflict = err
			r.metrics.conflicts.Add(ctx, 1, categoryAttr(r.typ.Category))
			span.AddEvent("conflict", trace.WithAttributes(attribute.Int(attrAttempts, res.Attempts)))
			if cmd.expects {
				return res, fmt.Errorf("aggregate: %w", err)
			}
			if res.Attempts > r.opts.maxRetries {
				break
			}
			delay = r.opts.backoff.Delay(res.Attempts, delay, rand.Float64())
			r.log.LogAttrs(ctx, slog.LevelDebug, "conflict, deciding again",
				slog.String(logStream, stream), slog.Int(logAttempt, res.Attempts),
				slog.Duration(logDelay, delay), slog.Any(logError, err))
			if err := clock.Sleep(ctx, r.opts.clock, delay); err != nil {
				return res, &ConflictError{Stream: stream, Attempts: res.Attempts, Err: errors.Join(conflict, err)}
			}
			continue
		}
		if err != nil {
			return res, fmt.Errorf("aggregate: %q: append: %w", stream, err)
		}
		res = r.applyAppended(ctx, l, res, decoded, ar)
		if r.opts.afterAppend != nil {
			if err := r.opts.afterAppend(ctx, stream, res.Events); err != nil {
				return res, &AfterAppendError{Stream: stream, Err: err}
			}
		}
		return res, nil
	}
	return res, &ConflictError{Stream: stream, Attempts: res.Attempts, Err: conflict}
}

// encode encodes and validates a decision's events. The events of one
// decision share one correlation ID (the context's, or else the first
// event's ID, as the registry assigns it) and one decided-at time.
func (r *Repository[S]) encode(ctx context.Context, stream string, events []any) ([]eventstore.EventData, error) {
	data := make([]eventstore.EventData, len(events))
	for i, ev := range events {
		var err error
		if data[i], err = r.registry.Encode(ctx, ev); err != nil {
			return nil, &EventError{Stream: stream, Index: i, Event: ev, Err: err}
		}
		if i == 0 && len(events) > 1 {
			var md schema.Metadata
			if err := md.UnmarshalJSON(data[0].Metadata); err != nil {
				return nil, &EventError{Stream: stream, Index: i, Event: ev, Err: err}
			}
			corr, cause := schema.CorrelationFrom(ctx)
			if corr == "" {
				ctx = schema.WithCorrelation(ctx, md.CorrelationID, cause)
			}
			ctx = schema.WithDecidedAt(ctx, md.DecidedAt)
		}
	}
	return data, nil
}

// readBack decodes the encoded events of a decision as a later load will,
// before they are appended: an event the registry cannot read back (an
// older version without a complete upcaster chain, an upcast that fails or
// whose output is invalid) is an *EventError, and nothing is appended, so a
// stream never holds an event that stops it from loading.
func (r *Repository[S]) readBack(stream string, events []any, data []eventstore.EventData) ([]schema.Event, error) {
	out := make([]schema.Event, len(data))
	for i, d := range data {
		ev, err := r.registry.Decode(eventstore.RecordedEvent{
			ID: d.ID, Type: d.Type, ContentType: d.ContentType, Data: d.Data, Metadata: d.Metadata, Stream: stream,
		})
		if err != nil {
			return nil, &EventError{Stream: stream, Index: i, Event: events[i], Err: fmt.Errorf("%w: %w", ErrUnreadableEvent, err)}
		}
		out[i] = ev
	}
	return out, nil
}

// applyAppended evolves the loaded state with the events just appended,
// decoded before the append as a later load decodes them, and takes a
// snapshot when the policy says so.
func (r *Repository[S]) applyAppended(ctx context.Context, l loaded[S], res Result[S], events []schema.Event, ar eventstore.AppendResult) Result[S] {
	last, _ := ar.Next.Revision()
	first := last + 1 - uint64(len(events))
	created := r.opts.clock.Now().UTC()
	for i := range events {
		rec := &events[i].Record
		rec.Revision, rec.Created = first+uint64(i), created
		if i == len(events)-1 {
			rec.Position = ar.Position
		}
		l.state = r.typ.Evolve(l.state, events[i].Data)
	}
	res.Events = events
	l.rev, l.exists, l.lastID = last, true, events[len(events)-1].Record.ID
	res.Root = l.aggregate(res.ID)
	res.Position = ar.Position
	if r.opts.snapshotEvery > 0 && int64(last)-l.snapRev >= int64(r.opts.snapshotEvery) {
		r.snapshot(ctx, res.ID, l, events[len(events)-1].Metadata)
	}
	return res
}
