package schema

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/chronicle-go/chronicle/eventstore"
)

// Metadata keys Encode writes into an event's metadata, a JSON object whose
// values are strings. $correlationId, $causationId, $traceId and $spanId are
// the eventstore.Metadata* keys.
const (
	// MetadataSchemaVersion holds the schema version of the payload, in
	// decimal ("2"). An event without it is read as version 1.
	MetadataSchemaVersion = "schemaVersion"
	// MetadataTraceParent and MetadataTraceState hold the W3C trace context
	// of the span that was active when the event was encoded.
	MetadataTraceParent = "traceparent"
	MetadataTraceState  = "tracestate"
	// MetadataDecidedAt holds when the event was decided, RFC 3339 with
	// nanoseconds, in UTC.
	MetadataDecidedAt = "decidedAt"
)

// reserved reports whether key is one Encode writes itself.
func reserved(key string) bool {
	switch key {
	case MetadataSchemaVersion, MetadataTraceParent, MetadataTraceState, MetadataDecidedAt,
		eventstore.MetadataCorrelationID, eventstore.MetadataCausationID,
		eventstore.MetadataTraceID, eventstore.MetadataSpanID:
		return true
	}
	return false
}

// Metadata is an event's metadata as Chronicle writes and reads it. Its JSON
// form is an object (see the Metadata* keys); absent keys are zero values.
type Metadata struct {
	// SchemaVersion is the version the payload was written with (before any
	// upcast).
	SchemaVersion int
	// CorrelationID follows one business transaction across streams;
	// CausationID is the ID of the event (or command) that caused this one.
	CorrelationID, CausationID string
	// TraceParent and TraceState are the W3C trace context headers; TraceID
	// and SpanID the same trace and span IDs in hex, for KurrentDB tooling.
	TraceParent, TraceState string
	TraceID, SpanID         string
	// DecidedAt is when the event was decided (the zero time when unknown).
	DecidedAt time.Time
	// Extra holds every other key, verbatim.
	Extra map[string]json.RawMessage
}

// SpanContext returns the remote span context the metadata carries, from
// traceparent/tracestate, or else from $traceId/$spanId; it is not valid when
// the metadata carries none.
func (m Metadata) SpanContext() trace.SpanContext {
	if m.TraceParent != "" {
		carrier := propagation.MapCarrier{MetadataTraceParent: m.TraceParent}
		if m.TraceState != "" {
			carrier[MetadataTraceState] = m.TraceState
		}
		if sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), carrier)); sc.IsValid() {
			return sc
		}
	}
	tid, err1 := trace.TraceIDFromHex(m.TraceID)
	sid, err2 := trace.SpanIDFromHex(m.SpanID)
	if err1 != nil || err2 != nil {
		return trace.SpanContext{}
	}
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true})
}

// MarshalJSON encodes the metadata as a JSON object: the set fields under
// their keys, then Extra, keys in a fixed order.
func (m Metadata) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 256)
	b = append(b, '{')
	field := func(key, value string) {
		if value == "" {
			return
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = appendString(b, key)
		b = append(b, ':')
		b = appendString(b, value)
	}
	if m.SchemaVersion != 0 {
		field(MetadataSchemaVersion, strconv.Itoa(m.SchemaVersion))
	}
	field(eventstore.MetadataCorrelationID, m.CorrelationID)
	field(eventstore.MetadataCausationID, m.CausationID)
	field(MetadataTraceParent, m.TraceParent)
	field(MetadataTraceState, m.TraceState)
	field(eventstore.MetadataTraceID, m.TraceID)
	field(eventstore.MetadataSpanID, m.SpanID)
	if !m.DecidedAt.IsZero() {
		field(MetadataDecidedAt, m.DecidedAt.UTC().Format(time.RFC3339Nano))
	}
	keys := make([]string, 0, len(m.Extra))
	for k := range m.Extra {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if reserved(k) {
			return nil, fmt.Errorf("schema: metadata key %q is reserved", k)
		}
		v := m.Extra[k]
		if !json.Valid(v) {
			return nil, fmt.Errorf("schema: metadata key %q: value is not valid JSON", k)
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = append(b, v...)
	}
	return append(b, '}'), nil
}

// UnmarshalJSON decodes metadata written by MarshalJSON or by any other
// writer of a JSON object. Chronicle's keys must hold strings; empty input
// is empty metadata. Errors match ErrMalformed.
func (m *Metadata) UnmarshalJSON(data []byte) error {
	*m = Metadata{}
	if len(data) == 0 {
		return nil
	}
	if ok, err := m.parseCompact(data); ok {
		return err
	}
	return m.parse(data)
}

// parse decodes metadata with encoding/json.
func (m *Metadata) parse(data []byte) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return fmt.Errorf("%w: metadata is not a JSON object: %v", ErrMalformed, err)
	}
	for k, raw := range obj {
		if !reserved(k) {
			m.setExtra(k, raw)
			continue
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return fmt.Errorf("%w: metadata key %q must be a string", ErrMalformed, k)
		}
		if err := m.set(k, s); err != nil {
			return err
		}
	}
	return nil
}

func (m *Metadata) setExtra(key string, raw json.RawMessage) {
	if m.Extra == nil {
		m.Extra = make(map[string]json.RawMessage)
	}
	m.Extra[key] = raw
}

// set sets the field of the reserved key to s.
func (m *Metadata) set(key, s string) error {
	var err error
	switch key {
	case MetadataSchemaVersion:
		m.SchemaVersion, err = strconv.Atoi(s)
		if err == nil && m.SchemaVersion < 1 {
			err = fmt.Errorf("%d is not ≥ 1", m.SchemaVersion)
		}
	case eventstore.MetadataCorrelationID:
		m.CorrelationID = s
	case eventstore.MetadataCausationID:
		m.CausationID = s
	case MetadataTraceParent:
		m.TraceParent = s
	case MetadataTraceState:
		m.TraceState = s
	case eventstore.MetadataTraceID:
		m.TraceID = s
	case eventstore.MetadataSpanID:
		m.SpanID = s
	case MetadataDecidedAt:
		m.DecidedAt, err = time.Parse(time.RFC3339Nano, s)
	}
	if err != nil {
		return fmt.Errorf("%w: metadata key %q: %v", ErrMalformed, key, err)
	}
	return nil
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

type (
	correlationKey struct{}
	decidedAtKey   struct{}
	extraKey       struct{}
)

type correlation struct{ correlationID, causationID string }

// WithCorrelation returns a context whose encoded events carry the given
// correlation and causation IDs. Empty IDs are not written; an event encoded
// without a correlation ID is given its own ID as correlation ID (it starts a
// new business transaction).
func WithCorrelation(ctx context.Context, correlationID, causationID string) context.Context {
	return context.WithValue(ctx, correlationKey{}, correlation{correlationID, causationID})
}

// CorrelationFrom returns the correlation and causation IDs set by
// WithCorrelation or ContextFrom.
func CorrelationFrom(ctx context.Context) (correlationID, causationID string) {
	c, _ := ctx.Value(correlationKey{}).(correlation)
	return c.correlationID, c.causationID
}

// ContextFrom returns the context in which to handle cause and emit the
// events it causes: causation ID = cause.ID, correlation ID copied from
// cause's metadata (or cause.ID when it has none), and, when cause carries a
// trace context, that context as the remote parent of spans started from the
// returned context, so the handler's trace continues the producer's.
// Malformed metadata is ignored.
func ContextFrom(ctx context.Context, cause eventstore.RecordedEvent) context.Context {
	var md Metadata
	_ = md.UnmarshalJSON(cause.Metadata) // best effort: the IDs below do not depend on it
	return contextFor(ctx, cause.ID.String(), md)
}

// Context is ContextFrom for an event already decoded: it returns the
// context in which to handle e, without parsing its metadata again.
func (e Event) Context(ctx context.Context) context.Context {
	return contextFor(ctx, e.Record.ID.String(), e.Metadata)
}

func contextFor(ctx context.Context, id string, md Metadata) context.Context {
	corr := md.CorrelationID
	if corr == "" {
		corr = id
	}
	ctx = WithCorrelation(ctx, corr, id)
	if sc := md.SpanContext(); sc.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
	}
	return ctx
}

// WithDecidedAt returns a context whose encoded events carry t as their
// decided-at time instead of the registry clock's reading, so that all events
// of one decision share it.
func WithDecidedAt(ctx context.Context, t time.Time) context.Context {
	return context.WithValue(ctx, decidedAtKey{}, t)
}

// WithExtraMetadata returns a context whose encoded events carry key with the
// JSON value value in their metadata, besides Chronicle's own keys (which it
// cannot override: Encode fails). By convention values are JSON strings.
func WithExtraMetadata(ctx context.Context, key string, value json.RawMessage) context.Context {
	prev, _ := ctx.Value(extraKey{}).(map[string]json.RawMessage)
	next := make(map[string]json.RawMessage, len(prev)+1)
	for k, v := range prev {
		next[k] = v
	}
	next[key] = value
	return context.WithValue(ctx, extraKey{}, next)
}

// metadataFor builds the metadata Encode writes for an event with ID id at
// version.
func (r *Registry) metadataFor(ctx context.Context, version int, id string) Metadata {
	md := Metadata{SchemaVersion: version}
	md.CorrelationID, md.CausationID = CorrelationFrom(ctx)
	if md.CorrelationID == "" {
		md.CorrelationID = id
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		carrier := make(propagation.MapCarrier, 2)
		propagation.TraceContext{}.Inject(ctx, carrier)
		md.TraceParent = carrier[MetadataTraceParent]
		md.TraceState = carrier[MetadataTraceState]
		md.TraceID = sc.TraceID().String()
		md.SpanID = sc.SpanID().String()
	}
	if t, ok := ctx.Value(decidedAtKey{}).(time.Time); ok {
		md.DecidedAt = t
	} else {
		md.DecidedAt = r.cfg.clock.Now()
	}
	md.Extra, _ = ctx.Value(extraKey{}).(map[string]json.RawMessage)
	return md
}
