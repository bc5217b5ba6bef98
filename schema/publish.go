package schema

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/chronicle-go/chronicle/eventstore"
)

// PublishedEventType is the type of the events Publish appends to the schema
// stream, one per (type, version). Their data is a JSON object
//
//	{"type": "OrderPlaced", "version": 2, "schema": {…JSON Schema…}}
//
// and their metadata is the usual Metadata with schemaVersion "1" (the
// version of this format). Their IDs derive from the content, so the same
// schema always has the same event ID.
const PublishedEventType = "SchemaPublished"

// publishAttempts bounds how often Publish re-reads the schema stream after
// losing a race with another publisher.
const publishAttempts = 10

// idNamespace is the UUID namespace of schema event IDs.
var idNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/chronicle-go/chronicle/schema"))

// Published is the data of a PublishedEventType event.
type Published struct {
	Type    string          `json:"type"`
	Version int             `json:"version"`
	Schema  json.RawMessage `json:"schema"`
}

type schemaKey struct {
	name    string
	version int
}

// Publish makes the registry's schemas events: it appends every registered
// (type, version) not yet in the schema stream (see WithSchemaStream) as a
// PublishedEventType event, in one atomic append. Call it at start-up.
//
// First it checks the published ones: a (type, version) whose published
// schema differs from the one the code generates is an error, a
// *ChangedError (ErrChanged) for each, joined, and then nothing
// is appended. A published schema is a contract other services and tools
// validate with; change a Go type under a new version with an upcaster.
//
// Publish is safe to run from several instances at once: when another one
// appends first it re-reads and checks again. Store errors are returned
// wrapped; malformed schema events match ErrMalformed.
func (r *Registry) Publish(ctx context.Context, s eventstore.Store) error {
	if err := eventstore.ValidateStreamName("append", r.cfg.stream, false); err != nil {
		return fmt.Errorf("schema: publish: %w", err)
	}
	for range publishAttempts {
		published, next, err := r.readPublished(ctx, s)
		if err != nil {
			return err
		}
		var changed []error
		var events []eventstore.EventData
		for _, info := range r.Schemas() {
			p, ok := published[schemaKey{info.Type, info.Version}]
			if !ok {
				ev, err := r.schemaEvent(ctx, info)
				if err != nil {
					return err
				}
				events = append(events, ev)
				continue
			}
			if !bytes.Equal(p.Schema, info.Schema) {
				changed = append(changed, &ChangedError{
					Type: info.Type, Version: info.Version,
					Published: p.Schema, Current: info.Schema,
					Differences: differences(p.Schema, info.Schema),
				})
			}
		}
		if len(changed) > 0 {
			return errors.Join(changed...)
		}
		if len(events) == 0 {
			return nil
		}
		_, err = s.Append(ctx, r.cfg.stream, next, events...)
		if errors.Is(err, eventstore.ErrWrongExpectedVersion) {
			continue // another publisher won; check its schemas
		}
		if err != nil {
			return fmt.Errorf("schema: publish to %q: %w", r.cfg.stream, err)
		}
		return nil
	}
	return fmt.Errorf("schema: publish to %q: %w after %d attempts", r.cfg.stream, eventstore.ErrWrongExpectedVersion, publishAttempts)
}

func (r *Registry) schemaEvent(ctx context.Context, info Info) (eventstore.EventData, error) {
	data, err := json.Marshal(Published{Type: info.Type, Version: info.Version, Schema: info.Schema})
	if err != nil {
		return eventstore.EventData{}, fmt.Errorf("schema: publish %s v%d: %w", info.Type, info.Version, err)
	}
	id := uuid.NewSHA1(idNamespace, data)
	md, err := r.metadataFor(ctx, 1, id.String()).MarshalJSON()
	if err != nil {
		return eventstore.EventData{}, fmt.Errorf("schema: publish %s v%d: %w", info.Type, info.Version, err)
	}
	return eventstore.EventData{ID: id, Type: PublishedEventType, ContentType: eventstore.ContentTypeJSON, Data: data, Metadata: md}, nil
}

// readPublished reads the schema stream: the first schema published for each
// (type, version), with Schema in canonical form, and the expected revision
// for appending to the stream. Events of other types are ignored.
func (r *Registry) readPublished(ctx context.Context, s eventstore.Store) (map[schemaKey]Published, eventstore.ExpectedRevision, error) {
	out := make(map[schemaKey]Published)
	next := eventstore.NoStream
	for rec, err := range s.ReadStream(ctx, r.cfg.stream, eventstore.ReadOptions{}) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return out, eventstore.NoStream, nil
		}
		if err != nil {
			return nil, next, fmt.Errorf("schema: read %q: %w", r.cfg.stream, err)
		}
		next = eventstore.Exact(rec.Revision)
		if rec.Type != PublishedEventType {
			continue
		}
		var p Published
		err := json.Unmarshal(rec.Data, &p)
		if err == nil && (p.Type == "" || p.Version < 1 || len(p.Schema) == 0) {
			err = errors.New("type, version or schema missing")
		}
		if err == nil {
			p.Schema, err = canonical(p.Schema)
		}
		if err != nil {
			return nil, next, fmt.Errorf("%w: schema event %d of %q: %v", ErrMalformed, rec.Revision, r.cfg.stream, err)
		}
		if _, dup := out[schemaKey{p.Type, p.Version}]; !dup {
			out[schemaKey{p.Type, p.Version}] = p
		}
	}
	return out, next, nil
}

// Export writes every registered schema to dir (created if needed) as an
// indented JSON Schema file named <type>.v<version>.schema.json, e.g.
// OrderPlaced.v2.schema.json.
func (r *Registry) Export(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("schema: export: %w", err)
	}
	for _, info := range r.Schemas() {
		var b bytes.Buffer
		if err := json.Indent(&b, info.Schema, "", "  "); err != nil {
			return fmt.Errorf("schema: export %s v%d: %w", info.Type, info.Version, err)
		}
		b.WriteByte('\n')
		name := filepath.Join(dir, info.Type+".v"+strconv.Itoa(info.Version)+".schema.json")
		if err := os.WriteFile(name, b.Bytes(), 0o644); err != nil {
			return fmt.Errorf("schema: export %s v%d: %w", info.Type, info.Version, err)
		}
	}
	return nil
}

// differences lists up to maxDifferences places where two canonical schemas
// differ, as "<pointer> added|removed|changed".
func differences(published, current []byte) []string {
	a, errA := decodeJSON(published)
	b, errB := decodeJSON(current)
	if errA != nil || errB != nil {
		return nil
	}
	var out []string
	diff("", a, b, &out)
	return out
}

const maxDifferences = 5

func diff(ptr string, a, b any, out *[]string) {
	if len(*out) >= maxDifferences {
		return
	}
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if !aok || !bok {
		if !jsonEqual(a, b) {
			*out = append(*out, orRoot(ptr)+" changed")
		}
		return
	}
	for _, k := range sortedKeys(am, bm) {
		av, ina := am[k]
		bv, inb := bm[k]
		p := ptr + "/" + escape(k)
		switch {
		case !ina:
			*out = append(*out, p+" added")
		case !inb:
			*out = append(*out, p+" removed")
		default:
			diff(p, av, bv, out)
		}
		if len(*out) >= maxDifferences {
			return
		}
	}
}

func orRoot(ptr string) string {
	if ptr == "" {
		return "(root)"
	}
	return ptr
}

func sortedKeys(a, b map[string]any) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func jsonEqual(a, b any) bool {
	x, errA := marshalCanonical(a)
	y, errB := marshalCanonical(b)
	return errA == nil && errB == nil && bytes.Equal(x, y)
}

// Load adds every schema published to the schema stream that the registry
// does not have yet, as with AddSchema, so that Validate can check events of
// types this program has no Go types for. Store errors are returned wrapped;
// malformed schema events match ErrMalformed, schemas that do not compile
// ErrInvalidRegistration.
func (r *Registry) Load(ctx context.Context, s eventstore.Store) error {
	published, _, err := r.readPublished(ctx, s)
	if err != nil {
		return err
	}
	keys := make([]schemaKey, 0, len(published))
	for k := range published {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b schemaKey) int {
		return cmp.Or(strings.Compare(a.name, b.name), cmp.Compare(a.version, b.version))
	})
	for _, k := range keys {
		if _, err := r.lookup(k.name, k.version); err == nil {
			continue
		}
		if err := r.AddSchema(k.name, k.version, published[k].Schema); err != nil {
			return err
		}
	}
	return nil
}
