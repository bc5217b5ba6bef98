package projection

import (
	"context"
	"fmt"
	"reflect"
	"regexp"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/schema"
)

// NoTx is the transaction type of projections whose read model is not in a
// transactional database (an in-memory model, a cache): their handlers get a
// NoTx and ignore it. Use them with AtLeastOnce.
type NoTx struct{}

// Event is a decoded event as a handler receives it: its data as the current
// version's Go type E (upcast from the version it was stored with), its
// metadata, and the recorded event with its stream, revision and position.
type Event[E any] struct {
	Data     E
	Metadata schema.Metadata
	Record   eventstore.RecordedEvent
}

// A Source is what a projection reads: the global log $all, optionally
// filtered, or one stream.
type Source struct {
	// Stream, when set, makes the projection read that one stream (revision
	// checkpoints); otherwise it reads $all (position checkpoints).
	Stream string
	// Filter narrows $all server-side (by stream-name prefix or category,
	// event-type prefix, or regular expression). Nil means every stream.
	Filter *eventstore.Filter
	// IncludeFramework delivers events of Chronicle's own streams
	// (eventstore.IsFrameworkStream) and of the store's '$' streams, which
	// are left out otherwise.
	IncludeFramework bool
}

// AllStreams is the Source of every application stream in $all.
func AllStreams() Source { return Source{} }

// Category is the Source of the streams of one category ("order" reads
// "order-1", "order-2", …): a stream-name prefix filter on $all.
func Category(category string) Source {
	return Source{Filter: eventstore.StreamPrefixFilter(category + "-")}
}

// Filtered is the Source of the events of $all that f keeps.
func Filtered(f *eventstore.Filter) Source { return Source{Filter: f} }

// Stream is the Source of one stream.
func Stream(name string) Source { return Source{Stream: name} }

// kind returns the checkpoint kind the source reads.
func (s Source) kind() CheckpointKind {
	if s.Stream != "" {
		return StreamCheckpoint
	}
	return AllCheckpoint
}

// handler is a typed handler behind its event type.
type handler[Tx any] struct {
	goType reflect.Type
	handle func(ctx context.Context, tx Tx, ev schema.Event) error
}

// A Projection is a named read model's definition: its source, its typed
// handlers and the transaction type Tx they write with. Define it once at
// start-up with New and On, then run it with a Runner. A Projection is not
// safe for concurrent definition; once a Runner has started, it is read only.
type Projection[Tx any] struct {
	name     string
	version  int
	source   Source
	reg      *schema.Registry
	handlers map[string]handler[Tx]
	order    []string // event types in registration order
	setup    func(ctx context.Context, tx Tx) error
	tables   []string
	err      error // the first definition error, reported at start
}

var nameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.]*$`)

// New defines a projection named name (letters, digits, '_' and '.',
// starting with a letter; it names its checkpoints and its parked stream)
// reading source, decoding events through reg. Its version is 1; see
// Version.
func New[Tx any](name string, source Source, reg *schema.Registry) *Projection[Tx] {
	p := &Projection[Tx]{name: name, version: 1, source: source, reg: reg, handlers: make(map[string]handler[Tx])}
	switch {
	case !nameRE.MatchString(name):
		p.fail(invalid(name, "a name is letters, digits, '_' and '.', starting with a letter"))
	case reg == nil:
		p.fail(invalid(name, "no schema registry"))
	case source.Stream != "" && source.Filter != nil:
		p.fail(invalid(name, "a stream source takes no filter"))
	case eventstore.IsSystemStream(source.Stream) && !source.IncludeFramework:
		p.fail(invalid(name, "stream %q is a system stream", source.Stream))
	}
	if source.Filter != nil {
		if _, err := source.Filter.Compile(); err != nil {
			p.fail(invalid(name, "filter: %v", err))
		}
	}
	return p
}

// Name returns the projection's name.
func (p *Projection[Tx]) Name() string { return p.name }

// Version sets the projection's version (≥ 1, default 1). A new version of
// a projection is a new read model: with a target that supports rebuilds
// (Rebuilder), it is built beside the live version from the start of the
// source and takes over when it has caught up. Bump it whenever the
// handlers change what they write.
func (p *Projection[Tx]) Version(v int) *Projection[Tx] {
	if v < 1 {
		p.fail(invalid(p.name, "version %d < 1", v))
	}
	p.version = v
	return p
}

// Setup sets the function that creates the read model's tables; a target
// that keeps read models (Preparer) runs it once for each version, in the
// version's own place, before the first event.
func (p *Projection[Tx]) Setup(fn func(ctx context.Context, tx Tx) error) *Projection[Tx] {
	p.setup = fn
	return p
}

// Tables declares the tables the handlers write; a Preparer target checks at
// start (after Setup) that they exist and fails with ErrMissingTable.
func (p *Projection[Tx]) Tables(names ...string) *Projection[Tx] {
	p.tables = append(p.tables, names...)
	return p
}

// EventTypes returns the event types the projection handles, in the order
// their handlers were registered.
func (p *Projection[Tx]) EventTypes() []string { return append([]string(nil), p.order...) }

func (p *Projection[Tx]) fail(err error) {
	if p.err == nil {
		p.err = err
	}
}

// Err returns the first error in the projection's definition (no handlers,
// a handler for an unregistered type or two for one type, a bad name or
// source), or nil. A Runner reports it at start.
func (p *Projection[Tx]) Err() error {
	if p.err == nil && len(p.handlers) == 0 {
		return invalid(p.name, "no handlers")
	}
	return p.err
}

// On registers h as the handler of the event type registered in the
// projection's schema registry for the Go type E. Events of that type are
// decoded (and upcast to the current version) before h sees them. Errors
// (E not registered, a second handler for one type) are reported by the
// Runner at start.
func On[E any, Tx any](p *Projection[Tx], h func(ctx context.Context, tx Tx, ev Event[E]) error) {
	var zero E
	goType := reflect.TypeOf(zero)
	if p.reg == nil {
		return
	}
	name, version, ok := p.reg.TypeOf(zero)
	if !ok {
		p.fail(invalid(p.name, "handler for %v: the type is not registered in the schema registry", goType))
		return
	}
	if cur, _ := p.reg.Current(name); cur != version {
		p.fail(invalid(p.name, "handler for %v: it is version %d of %q, whose current version is %d; handlers take the current version", goType, version, name, cur))
		return
	}
	if _, dup := p.handlers[name]; dup {
		p.fail(invalid(p.name, "two handlers for event type %q", name))
		return
	}
	p.handlers[name] = handler[Tx]{goType: goType, handle: func(ctx context.Context, tx Tx, ev schema.Event) error {
		data, ok := ev.Data.(E)
		if !ok {
			return fmt.Errorf("projection %s: %s decoded as %T, not %v", p.name, ev.Type, ev.Data, goType)
		}
		return h(ctx, tx, Event[E]{Data: data, Metadata: ev.Metadata, Record: ev.Record})
	}}
	p.order = append(p.order, name)
}

// Handle registers h for E on a projection without transactions (an
// in-memory read model): On without the NoTx argument.
func Handle[E any](p *Projection[NoTx], h func(ctx context.Context, ev Event[E]) error) {
	On(p, func(ctx context.Context, _ NoTx, ev Event[E]) error { return h(ctx, ev) })
}
