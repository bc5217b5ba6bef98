package schema

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/trace"

	"github.com/chronicle-go/chronicle/internal/clock"
)

// viaJSON decodes metadata with encoding/json only: what UnmarshalJSON
// did before parseCompact, the reference it must agree with.
func viaJSON(data []byte) (Metadata, error) {
	var m Metadata
	if len(data) == 0 {
		return m, nil
	}
	err := m.parse(data)
	return m, err
}

// sameDecoding fails t unless UnmarshalJSON and viaJSON agree on data: the
// same metadata, or both an error matching ErrMalformed.
func sameDecoding(t *testing.T, data []byte) {
	t.Helper()
	want, wantErr := viaJSON(data)
	var got Metadata
	gotErr := got.UnmarshalJSON(data)
	switch {
	case wantErr != nil || gotErr != nil:
		if !errors.Is(wantErr, ErrMalformed) || !errors.Is(gotErr, ErrMalformed) {
			t.Fatalf("%q: error %v, encoding/json: %v", data, gotErr, wantErr)
		}
	default:
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("%q: -encoding/json +UnmarshalJSON:\n%s", data, diff)
		}
	}
}

// metadataSeeds are inputs on both sides of every branch of parseCompact.
var metadataSeeds = []string{
	``, `{}`, `null`, `[]`, `"x"`, `{`, `}`, `{"a"}`, `{"a":}`, `{"a":"b"`, `{"a":"b",}`, `{,}`, `{"a":"b"}x`,
	`{"schemaVersion":"2","$correlationId":"c-1","$causationId":"e-1","decidedAt":"2025-03-01T12:00:00.123456789Z"}`,
	`{"schemaVersion":"2","schemaVersion":"3"}`, `{"schemaVersion":"x","schemaVersion":"3"}`,
	`{"schemaVersion":"0"}`, `{"schemaVersion":"abc"}`, `{"schemaVersion":2}`, `{"schemaVersion":null}`,
	`{"decidedAt":"yesterday"}`, `{"decidedAt":"yesterday","x":1}`, `{"$correlationId":"bench"}`,
	`{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","tracestate":"k=v","$traceId":"4bf92f3577b34da6a3ce929d0e0e4736","$spanId":"00f067aa0ba902b7"}`,
	`{"$command":"Ship","custom":"x","custom":"y"}`, `{"custom":{"a":[1,2]},"n":1.5,"b":true,"z":null}`,
	`{ "schemaVersion" : "2" }`, "{\"a\":\"b\"}\n", `{"a\u0041":"b"}`, `{"a":"\u00e9"}`, `{"a":"é"}`,
	"{\"a\":\"\xff\"}", "{\"\xff\":\"b\"}", `{"a":"b\"c"}`, `{"a":"b\\c"}`, "{\"a\":\"\t\"}", `{"SchemaVersion":"x"}`,
	`{"":""}`, `{"schemaVersion":"2","schemaVersion":"2"}`, `{"a":"b","a":"c"}`,
}

func TestMetadataCompactMatchesEncodingJSON(t *testing.T) {
	for _, s := range metadataSeeds {
		sameDecoding(t, []byte(s))
	}
}

// FuzzMetadataCompact checks UnmarshalJSON against encoding/json over
// arbitrary bytes.
func FuzzMetadataCompact(f *testing.F) {
	for _, s := range metadataSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { sameDecoding(t, data) })
}

// registryMetadata is the metadata Encode writes with a correlation, a
// trace context and an extra key.
func registryMetadata(t testing.TB) []byte {
	reg := MustNewRegistry(WithClock(clock.NewFake(time.Date(2025, 3, 1, 12, 0, 0, 123, time.UTC))))
	type placed struct {
		ID string `json:"id"`
	}
	MustRegister[placed](reg, "Placed", 1)
	ctx := WithExtraMetadata(WithCorrelation(context.Background(), "corr-1", "cause-1"), "$command", json.RawMessage(`"Place"`))
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled})
	d, err := reg.Encode(trace.ContextWithSpanContext(ctx, sc), placed{ID: "1"})
	if err != nil {
		t.Fatal(err)
	}
	return d.Metadata
}

// TestMetadataCompactTakesRegistryOutput: the one-pass parser decodes what
// the registry writes itself (it does not leave it all to encoding/json).
func TestMetadataCompactTakesRegistryOutput(t *testing.T) {
	data := registryMetadata(t)
	var m Metadata
	if ok, err := m.parseCompact(data); !ok || err != nil {
		t.Fatalf("parseCompact(%s) = %v, %v", data, ok, err)
	}
	if m.CorrelationID != "corr-1" || m.TraceParent == "" || string(m.Extra["$command"]) != `"Place"` {
		t.Fatalf("decoded %+v", m)
	}
	sameDecoding(t, data)
}

// BenchmarkMetadataUnmarshal decodes the registry's metadata (correlation,
// trace context, an extra key) with UnmarshalJSON and with encoding/json
// alone.
func BenchmarkMetadataUnmarshal(b *testing.B) {
	data := registryMetadata(b)
	b.Run("compact", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m Metadata
			if err := m.UnmarshalJSON(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := viaJSON(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
