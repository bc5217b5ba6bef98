package schema

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/chronicle-go/chronicle/eventstore"
)

// Event is a decoded event.
type Event struct {
	// Type is the event type name.
	Type string
	// Version is the version of Data: the current version of Type after any
	// upcast (Metadata.SchemaVersion is the version it was stored with).
	Version int
	// Data is a value (not a pointer) of the Go type registered for Type at
	// Version; nil when the event was skipped.
	Data any
	// Metadata is the event's metadata.
	Metadata Metadata
	// Record is the event as the store returned it.
	Record eventstore.RecordedEvent
}

// Encode turns event, a value or pointer of a registered Go type, into
// EventData ready to append, at the version its Go type is registered as
// (usually the current one; older ones encode too, e.g. to test upcasters).
// The data is the JSON encoding of event,
// validated against its schema (unless WithoutValidation); the ID comes from
// the registry's ID source; the metadata carries the schema version, the
// correlation and causation IDs and decided-at time from ctx (see
// WithCorrelation, WithDecidedAt, WithExtraMetadata) or the registry's
// clock, and the trace context of the span in ctx.
//
// Nothing is written anywhere: an invalid event returns a *ValidationError
// (ErrValidation) and never reaches a store. Other errors match
// ErrUnknownType (unregistered Go type) or are JSON encoding errors.
func (r *Registry) Encode(ctx context.Context, event any) (eventstore.EventData, error) {
	e, err := r.entryOf(event)
	if err != nil {
		return eventstore.EventData{}, err
	}
	data, err := json.Marshal(event)
	if err != nil {
		return eventstore.EventData{}, fmt.Errorf("schema: encode %s v%d: %w", e.name, e.version, err)
	}
	if r.cfg.validate {
		if err := e.validate(data); err != nil {
			return eventstore.EventData{}, err
		}
	}
	id := r.cfg.ids()
	md, err := r.metadataFor(ctx, e.version, id.String()).MarshalJSON()
	if err != nil {
		return eventstore.EventData{}, fmt.Errorf("schema: encode %s v%d: %w", e.name, e.version, err)
	}
	return eventstore.EventData{
		ID:          id,
		Type:        e.name,
		ContentType: eventstore.ContentTypeJSON,
		Data:        data,
		Metadata:    md,
	}, nil
}

// EncodeAll encodes events in order with Encode. It stops at the first
// error, which names the event's index.
func (r *Registry) EncodeAll(ctx context.Context, events ...any) ([]eventstore.EventData, error) {
	out := make([]eventstore.EventData, len(events))
	for i, ev := range events {
		d, err := r.Encode(ctx, ev)
		if err != nil {
			return nil, fmt.Errorf("schema: event %d: %w", i, err)
		}
		out[i] = d
	}
	return out, nil
}

// entryOf returns the entry of event's Go type.
func (r *Registry) entryOf(event any) (*entry, error) {
	v := reflect.ValueOf(event)
	if !v.IsValid() {
		return nil, fmt.Errorf("schema: encode: %w", &UnknownTypeError{GoType: "nil"})
	}
	t := v.Type()
	if t.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil, fmt.Errorf("schema: encode: nil %v", t)
		}
		t = t.Elem()
	}
	r.mu.RLock()
	e := r.byGo[t]
	r.mu.RUnlock()
	if e == nil {
		return nil, &UnknownTypeError{GoType: t.String()}
	}
	return e, nil
}

// Decode turns a recorded event into an Event whose Data is a value of the
// current version's Go type, upcasting data stored at an older version
// through the registered upcasters (their output is validated against the
// current schema). An event without a schema version in its metadata is
// read as version 1.
//
// An unknown type or version returns an *UnknownTypeError or
// *UnknownVersionError; under the Skip policy they also match ErrSkipped
// and the Event carries everything but Data. Other errors match ErrUpcast or
// ErrMalformed (data or metadata that is not the expected JSON).
func (r *Registry) Decode(rec eventstore.RecordedEvent) (Event, error) {
	ev := Event{Type: rec.Type, Record: rec}
	if err := ev.Metadata.UnmarshalJSON(rec.Metadata); err != nil {
		return ev, fmt.Errorf("%w (event %s %s)", err, rec.Type, rec.ID)
	}
	if ev.Metadata.SchemaVersion == 0 {
		ev.Metadata.SchemaVersion = 1
	}
	stored := ev.Metadata.SchemaVersion
	ev.Version = stored
	target, chain, err := r.plan(rec.Type, stored)
	if err != nil {
		return ev, err
	}
	if rec.ContentType != "" && rec.ContentType != eventstore.ContentTypeJSON {
		return ev, fmt.Errorf("%w: decode %s %s: content type is %s, not JSON", ErrMalformed, rec.Type, rec.ID, rec.ContentType)
	}
	data := json.RawMessage(rec.Data)
	for i, up := range chain {
		from := stored + i
		if up == nil {
			return ev, &UpcastError{Type: rec.Type, From: from, To: from + 1}
		}
		if data, err = up(data); err != nil {
			return ev, &UpcastError{Type: rec.Type, From: from, To: from + 1, Err: err}
		}
	}
	if len(chain) > 0 {
		if err := target.validate(data); err != nil {
			return ev, &UpcastError{Type: rec.Type, From: stored, To: target.version, Err: err}
		}
	}
	ptr := reflect.New(target.goType)
	if err := json.Unmarshal(data, ptr.Interface()); err != nil {
		return ev, fmt.Errorf("%w: decode %s v%d %s: %v", ErrMalformed, rec.Type, stored, rec.ID, err)
	}
	ev.Version = target.version
	ev.Data = ptr.Elem().Interface()
	return ev, nil
}

// plan returns the entry of the current version of name and the upcasters
// (nil where missing) that take data from version to it.
func (r *Registry) plan(name string, version int) (*entry, []Upcaster, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	skip := r.cfg.unknown == Skip
	f := r.types[name]
	if f == nil || f.current == 0 {
		return nil, nil, &UnknownTypeError{Type: name, Skipped: skip}
	}
	e, registered := f.versions[version]
	registered = registered && e.goType != nil
	_, upcastable := f.upcasters[version]
	if version > f.current || !registered && !upcastable {
		return nil, nil, &UnknownVersionError{Type: name, Version: version, Current: f.current, Skipped: skip}
	}
	var chain []Upcaster
	for v := version; v < f.current; v++ {
		chain = append(chain, f.upcasters[v])
	}
	return f.versions[f.current], chain, nil
}

// Validate validates raw JSON data as an event of eventType at version, for
// tools that have no Go types. It returns a *ValidationError (ErrValidation)
// listing every violation, an error matching ErrMalformed when data is not
// JSON, or one matching ErrUnknownType or ErrUnknownVersion.
func (r *Registry) Validate(eventType string, version int, data []byte) error {
	e, err := r.lookup(eventType, version)
	if err != nil {
		return err
	}
	return e.validate(data)
}
