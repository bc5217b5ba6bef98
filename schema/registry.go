package schema

import (
	"cmp"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// A Registry maps Go types to event type names and versions, and holds each
// one's JSON Schema. Register types and upcasters at start-up; after that a
// Registry is safe for concurrent use (registration itself is also safe, but
// events decoded before an upcaster is registered fail).
type Registry struct {
	cfg config

	mu    sync.RWMutex
	types map[string]*family
	byGo  map[reflect.Type]*entry
}

// family is everything registered under one event type name.
type family struct {
	name      string
	versions  map[int]*entry
	current   int              // highest version registered with a Go type
	upcasters map[int]Upcaster // from → from+1
}

// entry is one (name, version) and its Go type and schema.
type entry struct {
	name     string
	version  int
	goType   reflect.Type
	raw      []byte // canonical JSON Schema
	doc      any    // raw, decoded
	compiled *jsonschema.Schema
}

// An Upcaster turns the JSON data of one version of an event type into the
// data of the next version. It must not keep or modify data; it returns new
// bytes (it may return data itself when nothing changes, see Identity).
// Decode calls it, and Decode may run on several goroutines at once (the
// aggregate package decodes the events of a long load in parallel), so an
// upcaster must be safe for concurrent use: a pure function of data is.
type Upcaster func(data json.RawMessage) (json.RawMessage, error)

// Identity is the upcaster for a compatible change (see the package
// documentation): the old data is valid data of the new version as it is.
func Identity(data json.RawMessage) (json.RawMessage, error) { return data, nil }

// NewRegistry returns an empty Registry. It fails with ErrInvalidOption
// when an option is nil or given a value it cannot use.
func NewRegistry(opts ...Option) (*Registry, error) {
	r := &Registry{
		cfg:   defaultConfig(),
		types: make(map[string]*family),
		byGo:  make(map[reflect.Type]*entry),
	}
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: nil Option", ErrInvalidOption)
		}
		if err := o(&r.cfg); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// MustNewRegistry is NewRegistry that panics on error, for package-level
// setup and tests.
func MustNewRegistry(opts ...Option) *Registry {
	r, err := NewRegistry(opts...)
	if err != nil {
		panic(err)
	}
	return r
}

// Register registers the Go type T, which must be a struct type, as version
// version (≥ 1) of the event type eventType, generating and compiling its
// JSON Schema. The highest version registered for a name is its current
// version: Decode returns values of that version's Go type. A Go type
// belongs to one (name, version), and a (name, version) to one Go type.
//
// Event type names must be non-empty UTF-8 without control characters,
// slashes or backslashes, must not start with '$' (reserved for the store)
// and must not have surrounding spaces.
//
// Errors match ErrInvalidRegistration.
func Register[T any](r *Registry, eventType string, version int, opts ...RegisterOption) error {
	return r.register(reflect.TypeFor[T](), eventType, version, opts)
}

// MustRegister is Register that panics on error, for package-level setup.
func MustRegister[T any](r *Registry, eventType string, version int, opts ...RegisterOption) {
	if err := Register[T](r, eventType, version, opts...); err != nil {
		panic(err)
	}
}

func (r *Registry) register(t reflect.Type, name string, version int, opts []RegisterOption) error {
	var reg registration
	for _, o := range opts {
		if o == nil {
			return registrationError("register %s v%d: nil RegisterOption", quote(name), version)
		}
		if err := o(&reg); err != nil {
			return err
		}
	}
	if err := checkKey("register", name, version); err != nil {
		return err
	}
	if t.Kind() != reflect.Struct {
		return registrationError("register %s v%d: Go type %v is not a struct", quote(name), version, t)
	}
	if reg.upcaster != nil && version == 1 {
		return registrationError("register %s v1: UpcastFrom needs a version ≥ 2", quote(name))
	}
	raw, err := generate(t, name, reg.description)
	if err != nil {
		return registrationError("register %s v%d: generate schema for %v: %v", quote(name), version, t, err)
	}
	e, err := compile(name, version, raw)
	if err != nil {
		return registrationError("register %s v%d: compile schema for %v: %v", quote(name), version, t, err)
	}
	e.goType = t

	r.mu.Lock()
	defer r.mu.Unlock()
	if prev, ok := r.byGo[t]; ok {
		return registrationError("register %s v%d: Go type %v is already registered as %s v%d", quote(name), version, t, quote(prev.name), prev.version)
	}
	et := r.family(name)
	if prev, ok := et.versions[version]; ok && prev.goType != nil {
		return registrationError("register %s v%d: already registered with Go type %v", quote(name), version, prev.goType)
	}
	if reg.upcaster != nil {
		if _, ok := et.upcasters[version-1]; ok {
			return registrationError("register %s v%d: an upcaster from v%d is already registered", quote(name), version, version-1)
		}
		et.upcasters[version-1] = reg.upcaster
	}
	et.versions[version] = e
	et.current = max(et.current, version)
	r.byGo[t] = e
	return nil
}

// RegisterUpcaster registers fn to turn data of version fromVersion of
// eventType into data of version fromVersion+1. Upcasters chain: an event
// stored at v1 is decoded as v3 through the v1→v2 and v2→v3 upcasters. The
// versions in between need not have Go types. Errors match
// ErrInvalidRegistration.
func (r *Registry) RegisterUpcaster(eventType string, fromVersion int, fn Upcaster) error {
	if err := checkKey("register upcaster for", eventType, fromVersion); err != nil {
		return err
	}
	if fn == nil {
		return registrationError("register upcaster for %s v%d: nil upcaster", quote(eventType), fromVersion)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	et := r.family(eventType)
	if _, ok := et.upcasters[fromVersion]; ok {
		return registrationError("register upcaster for %s: an upcaster from v%d is already registered", quote(eventType), fromVersion)
	}
	et.upcasters[fromVersion] = fn
	return nil
}

// Check reports every incomplete upcaster chain: a version below the
// current one that is registered with a Go type, or that has an upcaster,
// from which an upcaster on the way to the current version is missing.
// Events of such a version encode (or start to upcast) but do not decode.
// Registration may come in any order, so Register cannot tell; call Check
// once everything is registered (aggregate.NewRepository does). The error
// matches ErrInvalidRegistration and names every gap.
func (r *Registry) Check() error {
	r.mu.RLock()
	var gaps []string
	for _, f := range r.types {
		if f.current == 0 {
			continue
		}
		// A version that can be written (Go type) or starts a chain needs
		// every upcaster from it to the current version.
		from := 0
		for v := f.current - 1; v >= 1; v-- {
			_, hasUp := f.upcasters[v]
			if e := f.versions[v]; hasUp || e != nil && e.goType != nil {
				from = v
			}
		}
		var missing []int
		for w := from; from > 0 && w < f.current; w++ {
			if _, ok := f.upcasters[w]; !ok {
				missing = append(missing, w)
			}
		}
		for _, w := range missing {
			gaps = append(gaps, fmt.Sprintf("%s v%d→v%d", quote(f.name), w, w+1))
		}
	}
	r.mu.RUnlock()
	if len(gaps) == 0 {
		return nil
	}
	slices.Sort(gaps)
	return registrationError("incomplete upcaster chains: no upcaster for %s", strings.Join(gaps, ", "))
}

// TypeOf returns the event type name and version under which the Go type of
// event (a registered struct type T or *T) is registered.
func (r *Registry) TypeOf(event any) (name string, version int, ok bool) {
	t := reflect.TypeOf(event)
	if t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	r.mu.RLock()
	e := r.byGo[t]
	r.mu.RUnlock()
	if e == nil {
		return "", 0, false
	}
	return e.name, e.version, true
}

// Current returns the current version of eventType: the highest one
// registered with a Go type.
func (r *Registry) Current(eventType string) (version int, ok bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	et := r.types[eventType]
	if et == nil || et.current == 0 {
		return 0, false
	}
	return et.current, true
}

// Info describes one registered (type, version).
type Info struct {
	Type    string
	Version int
	// GoType is the registered Go type; nil for a schema added with
	// AddSchema or Load.
	GoType reflect.Type
	// Schema is the JSON Schema, canonical JSON (object keys sorted, no
	// insignificant space). Callers must not modify it.
	Schema json.RawMessage
}

// Schemas returns every registered (type, version), ordered by type and
// version.
func (r *Registry) Schemas() []Info {
	r.mu.RLock()
	var out []Info
	for _, f := range r.types {
		for _, e := range f.versions {
			out = append(out, Info{Type: e.name, Version: e.version, GoType: e.goType, Schema: e.raw})
		}
	}
	r.mu.RUnlock()
	slices.SortFunc(out, func(a, b Info) int {
		return cmp.Or(strings.Compare(a.Type, b.Type), cmp.Compare(a.Version, b.Version))
	})
	return out
}

// Schema returns the JSON Schema of eventType at version, canonical JSON.
// Errors match ErrUnknownType or ErrUnknownVersion.
func (r *Registry) Schema(eventType string, version int) (json.RawMessage, error) {
	e, err := r.lookup(eventType, version)
	if err != nil {
		return nil, err
	}
	return e.raw, nil
}

// lookup returns the entry of (name, version), with or without a Go type,
// or an unknown-type/version error.
func (r *Registry) lookup(name string, version int) (*entry, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	et := r.types[name]
	if et == nil || len(et.versions) == 0 {
		return nil, &UnknownTypeError{Type: name}
	}
	e := et.versions[version]
	if e == nil {
		return nil, &UnknownVersionError{Type: name, Version: version, Current: et.current}
	}
	return e, nil
}

// AddSchema adds a JSON Schema for eventType at version without a Go type,
// for tools that validate events they have no types for (see Load). Validate,
// Schema, Schemas, Export and Publish see it; Encode and Decode do not: the
// current version of a type is the highest one with a Go type. A later
// Register of the same (type, version) replaces it. Errors match
// ErrInvalidRegistration.
func (r *Registry) AddSchema(eventType string, version int, schema []byte) error {
	if err := checkKey("add schema", eventType, version); err != nil {
		return err
	}
	raw, err := canonical(schema)
	if err != nil {
		return registrationError("add schema %s v%d: %v", quote(eventType), version, err)
	}
	e, err := compile(eventType, version, raw)
	if err != nil {
		return registrationError("add schema %s v%d: %v", quote(eventType), version, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.family(eventType)
	if _, ok := f.versions[version]; ok {
		return registrationError("add schema %s v%d: already registered", quote(eventType), version)
	}
	f.versions[version] = e
	return nil
}

// family returns the family of name, creating it; r.mu must be held.
func (r *Registry) family(name string) *family {
	f := r.types[name]
	if f == nil {
		f = &family{name: name, versions: make(map[int]*entry), upcasters: make(map[int]Upcaster)}
		r.types[name] = f
	}
	return f
}

// checkKey checks an event type name and a version for op.
func checkKey(op, name string, version int) error {
	if err := checkName(name); err != nil {
		return err
	}
	if version < 1 {
		return registrationError("%s %s: version %d is not ≥ 1", op, quote(name), version)
	}
	return nil
}

func checkName(name string) error {
	bad := ""
	switch {
	case name == "":
		bad = "is empty"
	case !utf8.ValidString(name):
		bad = "is not valid UTF-8"
	case name[0] == '$':
		bad = "starts with '$', which is reserved for the store"
	case strings.TrimSpace(name) != name:
		bad = "has surrounding spaces"
	case strings.ContainsAny(name, `/\`):
		bad = "contains a slash or backslash"
	case strings.ContainsFunc(name, unicode.IsControl):
		bad = "contains control characters"
	}
	if bad != "" {
		return registrationError("event type name %s %s", quote(name), bad)
	}
	return nil
}

func registrationError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidRegistration}, args...)...)
}
