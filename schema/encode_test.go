package schema_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/schema"
	"github.com/chronicle-go/chronicle/testkit"
)

func TestEncode(t *testing.T) {
	r := newRegistry(t)
	ctx := schema.WithCorrelation(context.Background(), "corr-7", "cmd-3")
	for _, ev := range []any{goodCus, &goodCus} {
		d := mustEncode(t, r, ctx, ev)
		if d.Type != "CustomerRegistered" || d.ContentType != eventstore.ContentTypeJSON {
			t.Errorf("EventData type %q, content type %q", d.Type, d.ContentType)
		}
		if want := `{"customerId":"c-1","email":"ada@example.com","plan":"pro","seats":3}`; string(d.Data) != want {
			t.Errorf("Data = %s, want %s", d.Data, want)
		}
		want := `{"schemaVersion":"1","$correlationId":"corr-7","$causationId":"cmd-3","decidedAt":"2025-03-01T12:00:00.123456789Z"}`
		if string(d.Metadata) != want {
			t.Errorf("Metadata = %s\nwant       %s", d.Metadata, want)
		}
	}
}

func TestEncodeIDsComeFromTheIDSource(t *testing.T) {
	r := newRegistry(t)
	a := mustEncode(t, r, context.Background(), goodCus)
	b := mustEncode(t, r, context.Background(), goodCus)
	if a.ID.String() != "00000000-0000-0000-0000-000000000001" || b.ID.String() != "00000000-0000-0000-0000-000000000002" {
		t.Errorf("IDs %s, %s", a.ID, b.ID)
	}
	// Without correlation in the context the event starts its own.
	var md schema.Metadata
	if err := json.Unmarshal(a.Metadata, &md); err != nil {
		t.Fatal(err)
	}
	if md.CorrelationID != a.ID.String() || md.CausationID != "" {
		t.Errorf("correlation %q, causation %q; want the event's own ID and none", md.CorrelationID, md.CausationID)
	}
	// The default source gives random, distinct IDs.
	d := schema.MustNewRegistry()
	schema.MustRegister[CustomerRegistered](d, "CustomerRegistered", 1)
	x, y := mustEncode(t, d, context.Background(), goodCus), mustEncode(t, d, context.Background(), goodCus)
	if x.ID == y.ID || x.ID.Version() != 4 {
		t.Errorf("default IDs %s, %s", x.ID, y.ID)
	}
}

func TestEncodeWritesTraceContext(t *testing.T) {
	r := newRegistry(t)
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ts, _ := trace.ParseTraceState("vendor=value")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, TraceState: ts})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)
	d := mustEncode(t, r, ctx, goodCus)
	var obj map[string]string
	if err := json.Unmarshal(d.Metadata, &obj); err != nil {
		t.Fatalf("metadata %s is not an object of strings: %v", d.Metadata, err)
	}
	want := map[string]string{
		"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"tracestate":  "vendor=value",
		"$traceId":    "4bf92f3577b34da6a3ce929d0e0e4736",
		"$spanId":     "00f067aa0ba902b7",
	}
	for k, v := range want {
		if obj[k] != v {
			t.Errorf("metadata %s = %q, want %q", k, obj[k], v)
		}
	}
}

func TestEncodeDecidedAtAndExtraMetadata(t *testing.T) {
	r := newRegistry(t)
	at := time.Date(2024, 1, 2, 3, 4, 5, 6, time.FixedZone("CET", 3600))
	ctx := schema.WithDecidedAt(context.Background(), at)
	ctx = schema.WithExtraMetadata(ctx, "tenant", json.RawMessage(`"acme"`))
	ctx = schema.WithExtraMetadata(ctx, "actor", json.RawMessage(`"u-1"`))
	d := mustEncode(t, r, ctx, goodCus)
	want := `{"schemaVersion":"1","$correlationId":"00000000-0000-0000-0000-000000000001","decidedAt":"2024-01-02T02:04:05.000000006Z","actor":"u-1","tenant":"acme"}`
	if string(d.Metadata) != want {
		t.Errorf("Metadata = %s\nwant       %s", d.Metadata, want)
	}
}

func TestEncodeRejects(t *testing.T) {
	type unregistered struct{ A int }
	var nilCus *CustomerRegistered
	tests := []struct {
		name  string
		ctx   context.Context
		event any
		is    error
		want  string
	}{
		{"unregistered type", context.Background(), unregistered{}, schema.ErrUnknownType, "unregistered is not registered"},
		{"nil", context.Background(), nil, schema.ErrUnknownType, "Go type nil"},
		{"nil pointer", context.Background(), nilCus, nil, "nil *schema_test.CustomerRegistered"},
		{"reserved extra key", schema.WithExtraMetadata(context.Background(), "$causationId", json.RawMessage(`"x"`)), goodCus, nil, "reserved"},
		{"extra not JSON", schema.WithExtraMetadata(context.Background(), "k", json.RawMessage(`{`)), goodCus, nil, "not valid JSON"},
		{"marshal error", context.Background(), failing{}, nil, "boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRegistry(t)
			schema.MustRegister[failing](r, "Failing", 1)
			d, err := r.Encode(tt.ctx, tt.event)
			if err == nil || !strings.HasPrefix(err.Error(), "schema: ") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want %v", err, tt.is)
			}
			if d.Type != "" || d.Data != nil {
				t.Errorf("failed Encode returned data %+v", d)
			}
		})
	}
}

type failing struct{}

func (failing) MarshalJSON() ([]byte, error) { return nil, errors.New("boom") }

func TestEncodeListsEveryViolation(t *testing.T) {
	tests := []struct {
		name  string
		event CustomerRegistered
		want  []string
	}{
		{"empty required", CustomerRegistered{Plan: "free", Email: "a@b.c"}, []string{"/customerId minLength"}},
		{"format", CustomerRegistered{CustomerID: "c", Email: "not-an-email", Plan: "free"}, []string{"/email format"}},
		{"enum", CustomerRegistered{CustomerID: "c", Email: "a@b.c", Plan: "gold"}, []string{"/plan enum"}},
		{"bounds", CustomerRegistered{CustomerID: "c", Email: "a@b.c", Plan: "free", Seats: 501}, []string{"/seats maximum"}},
		{"length", CustomerRegistered{CustomerID: strings.Repeat("x", 17), Email: "a@b.c", Plan: "free"}, []string{"/customerId maxLength"}},
		{"items", CustomerRegistered{CustomerID: "c", Email: "a@b.c", Plan: "free", Tags: []string{"a", "b", "c", "d"}}, []string{"/tags maxItems"}},
		{"nested", CustomerRegistered{CustomerID: "c", Email: "a@b.c", Plan: "free", Address: &Address{Zip: "1"}}, []string{"/address/street minLength", "/address/zip pattern"}},
		{"all at once", CustomerRegistered{Email: "x", Plan: "gold", Seats: -1, Address: &Address{Street: "Main", Zip: "abc"}},
			[]string{"/address/zip pattern", "/customerId minLength", "/email format", "/plan enum", "/seats minimum"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRegistry(t)
			_, err := r.Encode(context.Background(), tt.event)
			equalStrings(t, "violations", violations(t, err), tt.want)
			var ve *schema.ValidationError
			errors.As(err, &ve)
			if ve.Type != "CustomerRegistered" || ve.Version != 1 {
				t.Errorf("ValidationError names %s v%d", ve.Type, ve.Version)
			}
			if !strings.HasPrefix(err.Error(), "schema: CustomerRegistered v1 is invalid: ") {
				t.Errorf("message %q", err)
			}
		})
	}
}

func TestEncodeWithoutValidation(t *testing.T) {
	r := newRegistry(t, schema.WithoutValidation())
	if _, err := r.Encode(context.Background(), CustomerRegistered{Plan: "gold"}); err != nil {
		t.Errorf("Encode without validation: %v", err)
	}
	// Validate still validates.
	if err := r.Validate("CustomerRegistered", 1, []byte(`{"plan":"gold"}`)); !errors.Is(err, schema.ErrValidation) {
		t.Errorf("Validate = %v", err)
	}
}

// appendAll is what a repository does: encode every event, then append them
// in one atomic append.
func appendAll(ctx context.Context, s eventstore.Store, r *schema.Registry, stream string, events ...any) error {
	data, err := r.EncodeAll(ctx, events...)
	if err != nil {
		return err
	}
	_, err = s.Append(ctx, stream, eventstore.Any, data...)
	return err
}

func TestInvalidEventNeverReachesTheStore(t *testing.T) {
	r := newRegistry(t)
	s := newStore(t)
	ctx := context.Background()
	bad := goodCus
	bad.Email = "nope"
	err := appendAll(ctx, s, r, "customer-1", goodCus, bad, goodCus)
	if !errors.Is(err, schema.ErrValidation) || !strings.Contains(err.Error(), "event 1") {
		t.Fatalf("appendAll = %v, want a validation error for event 1", err)
	}
	if got := testkit.Records(t, s, "customer-1"); got != nil {
		t.Fatalf("stream has %d events after a failed encode, want none", len(got))
	}
	if err := appendAll(ctx, s, r, "customer-1", goodCus, goodCus); err != nil {
		t.Fatal(err)
	}
	if got := testkit.Records(t, s, "customer-1"); len(got) != 2 {
		t.Fatalf("stream has %d events, want 2", len(got))
	}
}
