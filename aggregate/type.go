package aggregate

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/invopop/jsonschema"

	"github.com/chronicle-go/chronicle/eventstore"
)

// SnapshotPrefix starts the name of every snapshot stream: the snapshots of
// "order-42" are kept in "chronicle-snapshot-order-42", a framework stream
// (eventstore.IsFrameworkStream) whose category is not the aggregate's, so
// subscriptions and projections of the "order" category never see them.
const SnapshotPrefix = eventstore.FrameworkStreamPrefix + "snapshot-"

// A Type describes one kind of aggregate, once, for its Repository.
//
//	var Order = aggregate.Type[OrderState]{
//		Category: "order",
//		Initial:  func() OrderState { return OrderState{Status: "new"} },
//		Evolve:   OrderState.apply,
//	}
type Type[S any] struct {
	// Category names the kind: the stream of the aggregate with ID id is
	// Category + "-" + id. Required; it must not contain '-', start with
	// '$' or be eventstore.FrameworkCategory ("chronicle").
	Category string
	// Initial returns the state of an aggregate before its first event.
	// Nil means the zero S.
	Initial func() S
	// Evolve returns the state after event. The event is the decoded Go
	// value the schema registry returns: the current version's type,
	// upcast if it was written by an older version. Evolve must be a pure
	// function of its arguments and must not fail: events are facts.
	// Required.
	Evolve func(state S, event any) S
	// SnapshotVersion identifies the shape of S in snapshots: a snapshot
	// written with another version is ignored (the aggregate is rebuilt
	// from its events), so a changed state type never reads an old
	// snapshot. Empty means a hash of the JSON Schema of S, which changes
	// whenever a JSON-visible field does. Set it by hand to invalidate
	// snapshots after a change to Evolve.
	SnapshotVersion string
}

// Stream returns the stream of the aggregate with the given ID.
func (t Type[S]) Stream(id string) string { return t.Category + "-" + id }

// SnapshotStream returns the stream that holds the snapshots of the
// aggregate with the given ID: SnapshotPrefix + Stream(id).
func (t Type[S]) SnapshotStream(id string) string { return SnapshotPrefix + t.Stream(id) }

// Validate reports whether t is usable; errors match ErrInvalidType.
func (t Type[S]) Validate() error {
	bad := func(why string) error { return fmt.Errorf("%w: category %q: %s", ErrInvalidType, t.Category, why) }
	switch {
	case t.Category == "":
		return bad("empty")
	case strings.Contains(t.Category, "-"):
		return bad("contains '-', which separates the category from the ID")
	case strings.HasPrefix(t.Category, "$"):
		return bad("names starting with '$' are reserved for the store")
	case t.Category == eventstore.FrameworkCategory:
		return bad("the category " + eventstore.FrameworkCategory + " is reserved for Chronicle's own streams")
	case t.Evolve == nil:
		return bad("Evolve is nil")
	}
	return nil
}

func (t Type[S]) initial() S {
	if t.Initial == nil {
		var zero S
		return zero
	}
	return t.Initial()
}

// snapshotVersion returns SnapshotVersion or derives it from the JSON
// Schema of S.
func (t Type[S]) snapshotVersion() (v string, err error) {
	if t.SnapshotVersion != "" {
		return t.SnapshotVersion, nil
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: category %q: cannot derive a snapshot version from %T: %v; set SnapshotVersion", ErrInvalidType, t.Category, *new(S), p)
		}
	}()
	r := jsonschema.Reflector{DoNotReference: true}
	b, err := json.Marshal(r.Reflect(new(S)))
	if err != nil {
		panic(err) // reported by the deferred recover, as Reflect's own panics are
	}
	sum := sha256.Sum256(b)
	return "schema-" + hex.EncodeToString(sum[:8]), nil
}
