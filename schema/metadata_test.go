package schema_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/schema"
)

func TestMetadataRoundTrip(t *testing.T) {
	in := schema.Metadata{
		SchemaVersion: 12,
		CorrelationID: `quote " and \ backslash`,
		CausationID:   "naïve <tag> & co\n",
		TraceParent:   "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		TraceState:    "a=b",
		TraceID:       "4bf92f3577b34da6a3ce929d0e0e4736",
		SpanID:        "00f067aa0ba902b7",
		DecidedAt:     time.Date(2025, 1, 2, 3, 4, 5, 0, time.FixedZone("X", -7200)),
		Extra:         map[string]json.RawMessage{"b": json.RawMessage(`"2"`), "a": json.RawMessage(`{"n":1}`)},
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(b) {
		t.Fatalf("metadata %s is not JSON", b)
	}
	var out schema.Metadata
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	in.DecidedAt = in.DecidedAt.UTC()
	if diff := cmp.Diff(in, out); diff != "" {
		t.Errorf("round trip (-in +out):\n%s", diff)
	}
	if !strings.Contains(string(b), `"decidedAt":"2025-01-02T05:04:05Z","a":{"n":1},"b":"2"}`) {
		t.Errorf("metadata %s: want UTC time, then extras in key order", b)
	}
	if b, _ := json.Marshal(schema.Metadata{}); string(b) != `{}` {
		t.Errorf("empty metadata = %s", b)
	}
}

func TestMetadataSpanContext(t *testing.T) {
	tests := []struct {
		name    string
		md      schema.Metadata
		valid   bool
		sampled bool
		state   string
	}{
		{"none", schema.Metadata{}, false, false, ""},
		{"traceparent", schema.Metadata{TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", TraceState: "k=v"}, true, false, "k=v"},
		{"KurrentDB keys", schema.Metadata{TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7"}, true, true, ""},
		{"bad traceparent falls back", schema.Metadata{TraceParent: "junk", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7"}, true, true, ""},
		{"bad IDs", schema.Metadata{TraceID: "xyz", SpanID: "00f067aa0ba902b7"}, false, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := tt.md.SpanContext()
			if sc.IsValid() != tt.valid {
				t.Fatalf("valid = %v, want %v", sc.IsValid(), tt.valid)
			}
			if !tt.valid {
				return
			}
			if sc.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || sc.SpanID().String() != "00f067aa0ba902b7" || !sc.IsRemote() {
				t.Errorf("span context %v", sc)
			}
			if sc.IsSampled() != tt.sampled || sc.TraceState().String() != tt.state {
				t.Errorf("sampled %v, state %q", sc.IsSampled(), sc.TraceState())
			}
		})
	}
}

func TestCorrelationContext(t *testing.T) {
	ctx := context.Background()
	if c, k := schema.CorrelationFrom(ctx); c != "" || k != "" {
		t.Errorf("empty context has %q, %q", c, k)
	}
	ctx = schema.WithCorrelation(ctx, "corr", "cause")
	if c, k := schema.CorrelationFrom(ctx); c != "corr" || k != "cause" {
		t.Errorf("CorrelationFrom = %q, %q", c, k)
	}
}

func TestContextFrom(t *testing.T) {
	r := newRegistry(t)
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	traced := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))

	// The first event of a transaction correlates to itself.
	first := record(mustEncode(t, r, traced, goodCus))
	ctx := schema.ContextFrom(context.Background(), first)
	if c, k := schema.CorrelationFrom(ctx); c != first.ID.String() || k != first.ID.String() {
		t.Errorf("from first event: correlation %q, causation %q; want its ID twice", c, k)
	}
	if sc := trace.SpanContextFromContext(ctx); sc.TraceID() != tid || sc.SpanID() != sid || !sc.IsRemote() {
		t.Errorf("trace not continued: %v", sc)
	}

	// A decoded event gives the same context without parsing again.
	dec, err := r.Decode(first)
	if err != nil {
		t.Fatal(err)
	}
	if c, k := schema.CorrelationFrom(dec.Context(context.Background())); c != first.ID.String() || k != first.ID.String() {
		t.Errorf("Event.Context: correlation %q, causation %q; want its ID twice", c, k)
	}
	if sc := trace.SpanContextFromContext(dec.Context(context.Background())); sc.TraceID() != tid || !sc.IsRemote() {
		t.Errorf("Event.Context: trace not continued: %v", sc)
	}

	// What it causes keeps the correlation and names it as the cause.
	second := record(mustEncode(t, r, ctx, goodCus))
	ctx2 := schema.ContextFrom(context.Background(), second)
	if c, k := schema.CorrelationFrom(ctx2); c != first.ID.String() || k != second.ID.String() {
		t.Errorf("from second event: correlation %q, causation %q", c, k)
	}
	var md schema.Metadata
	_ = json.Unmarshal(second.Metadata, &md)
	if md.CausationID != first.ID.String() || md.TraceID != tid.String() {
		t.Errorf("second event metadata %+v", md)
	}

	// Foreign events without (or with broken) metadata still give IDs.
	foreign := eventstore.RecordedEvent{ID: uuid.MustParse("11111111-2222-3333-4444-555555555555"), Metadata: []byte(`not json`)}
	ctx3 := schema.ContextFrom(context.Background(), foreign)
	if c, k := schema.CorrelationFrom(ctx3); c != foreign.ID.String() || k != foreign.ID.String() {
		t.Errorf("from foreign event: %q, %q", c, k)
	}
	if trace.SpanContextFromContext(ctx3).IsValid() {
		t.Error("foreign event without trace gave a span context")
	}
}

func TestMetadataMarshalRejectsReservedExtra(t *testing.T) {
	for _, key := range []string{"schemaVersion", "$correlationId", "$causationId", "traceparent", "tracestate", "$traceId", "$spanId", "decidedAt"} {
		_, err := json.Marshal(schema.Metadata{Extra: map[string]json.RawMessage{key: json.RawMessage(`"x"`)}})
		if err == nil || !strings.Contains(err.Error(), "reserved") {
			t.Errorf("extra key %s: err = %v", key, err)
		}
	}
}
