package schema_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/schema"
	"github.com/chronicle-go/chronicle/testkit"
)

// CustomerRegisteredChanged is CustomerRegistered v1 with one more optional
// field: a change made without bumping the version.
type CustomerRegisteredChanged struct {
	CustomerRegistered
	Nickname string `json:"nickname,omitempty"`
}

func TestPublish(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	r := orderRegistry(t)
	if err := r.Publish(ctx, s); err != nil {
		t.Fatal(err)
	}
	recs := testkit.Records(t, s, schema.DefaultSchemaStream)
	var got []string
	for _, rec := range recs {
		var p schema.Published
		if err := json.Unmarshal(rec.Data, &p); err != nil {
			t.Fatal(err)
		}
		want, _ := r.Schema(p.Type, p.Version)
		if rec.Type != schema.PublishedEventType || !bytes.Equal(p.Schema, want) {
			t.Errorf("event %s %s v%d: schema %s, want %s", rec.Type, p.Type, p.Version, p.Schema, want)
		}
		var md schema.Metadata
		if err := json.Unmarshal(rec.Metadata, &md); err != nil || md.SchemaVersion != 1 || md.DecidedAt != t0 {
			t.Errorf("metadata %s: %+v, %v", rec.Metadata, md, err)
		}
		got = append(got, p.Type+" "+string(rune('0'+p.Version)))
	}
	equalStrings(t, "published", got, []string{"CustomerRegistered 1", "OrderPlaced 1", "OrderPlaced 3"})

	// Publishing again, from this or another instance, appends nothing.
	if err := r.Publish(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := orderRegistry(t).Publish(ctx, s); err != nil {
		t.Fatal(err)
	}
	if n := len(testkit.Records(t, s, schema.DefaultSchemaStream)); n != 3 {
		t.Errorf("%d schema events after republishing, want 3", n)
	}

	// A new version is appended alone; events of other types are ignored.
	if _, err := s.Append(ctx, schema.DefaultSchemaStream, eventstore.Any, eventstore.EventData{Type: "Note", Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	schema.MustRegister[OrderPlacedV2](r, "OrderPlaced", 2)
	if err := r.Publish(ctx, s); err != nil {
		t.Fatal(err)
	}
	recs = testkit.Records(t, s, schema.DefaultSchemaStream)
	if len(recs) != 5 || !strings.Contains(string(recs[4].Data), `"type":"OrderPlaced","version":2`) {
		t.Errorf("after adding v2: %d events, last %s", len(recs), recs[len(recs)-1].Data)
	}
}

func TestPublishDetectsChangedSchema(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if err := orderRegistry(t).Publish(ctx, s); err != nil {
		t.Fatal(err)
	}
	// The next build changed CustomerRegistered and OrderPlaced v1 in place,
	// and added a type.
	next := schema.MustNewRegistry()
	schema.MustRegister[CustomerRegisteredChanged](next, "CustomerRegistered", 1)
	schema.MustRegister[OrderPlacedV2](next, "OrderPlaced", 1)
	schema.MustRegister[Cart](next, "Cart", 1)
	err := next.Publish(ctx, s)
	if !errors.Is(err, schema.ErrChanged) {
		t.Fatalf("Publish = %v, want ErrChanged", err)
	}
	var sc *schema.ChangedError
	if !errors.As(err, &sc) || sc.Type != "CustomerRegistered" || sc.Version != 1 || len(sc.Published) == 0 || len(sc.Current) == 0 {
		t.Fatalf("first error %+v", sc)
	}
	equalStrings(t, "differences", sc.Differences, []string{"/properties/nickname added"})
	msg := err.Error()
	for _, want := range []string{
		"schema: CustomerRegistered v1: the schema in code differs from the published one (/properties/nickname added); bump the version (register the changed type as v2) and register an upcaster from v1",
		"schema: OrderPlaced v1: ", "/properties/currency added", "/required changed",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if n := len(testkit.Records(t, s, schema.DefaultSchemaStream)); n != 3 {
		t.Errorf("%d schema events after a failed publish, want 3 (nothing appended, not even Cart)", n)
	}
}

func TestSchemaChangedDifferences(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	raw := func(doc string) eventstore.EventData {
		return eventstore.EventData{Type: schema.PublishedEventType, Data: []byte(`{"type":"Other","version":1,"schema":` + doc + `}`)}
	}
	// A published schema written by another tool, with the same content in
	// another layout, is the same schema.
	mine := schema.MustNewRegistry()
	schema.MustRegister[other](mine, "Other", 1)
	cur, _ := mine.Schema("Other", 1)
	var indented bytes.Buffer
	_ = json.Indent(&indented, cur, "", "    ")
	if _, err := s.Append(ctx, schema.DefaultSchemaStream, eventstore.NoStream, raw(indented.String())); err != nil {
		t.Fatal(err)
	}
	if err := mine.Publish(ctx, s); err != nil {
		t.Fatalf("same schema, other layout: %v", err)
	}

	s2 := newStore(t)
	old := `{"type":"object","title":"Other","properties":{"a":{"type":"integer"},"b":{},"c":{},"d":{},"e":{},"f":{}},"x":[1]}`
	if _, err := s2.Append(ctx, schema.DefaultSchemaStream, eventstore.NoStream, raw(old)); err != nil {
		t.Fatal(err)
	}
	var sc *schema.ChangedError
	if err := mine.Publish(ctx, s2); !errors.As(err, &sc) {
		t.Fatalf("Publish = %v", err)
	}
	// At most five differences are listed.
	equalStrings(t, "differences", sc.Differences, []string{
		"/$schema added", "/additionalProperties added", "/properties/a/type changed", "/properties/b removed", "/properties/c removed",
	})
}

func TestPublishRejects(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		seed  []eventstore.EventData
		store func(t *testing.T) eventstore.Store
		opts  []schema.Option
		is    error
	}{
		{name: "malformed schema event", seed: []eventstore.EventData{{Type: schema.PublishedEventType, Data: []byte(`{"type":"X"}`)}}, is: schema.ErrMalformed},
		{name: "schema event not JSON object", seed: []eventstore.EventData{{Type: schema.PublishedEventType, Data: []byte(`[]`)}}, is: schema.ErrMalformed},
		{name: "schema not JSON", seed: []eventstore.EventData{{Type: schema.PublishedEventType, ContentType: eventstore.ContentTypeBinary, Data: []byte(`{"type":"X","version":1,"schema":{`)}}, is: schema.ErrMalformed},
		{name: "closed store", store: func(t *testing.T) eventstore.Store { s := newStore(t); s.Close(); return s }, is: eventstore.ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s eventstore.Store = newStore(t)
			if tt.store != nil {
				s = tt.store(t)
			}
			if tt.seed != nil {
				if _, err := s.Append(ctx, schema.DefaultSchemaStream, eventstore.NoStream, tt.seed...); err != nil {
					t.Fatal(err)
				}
			}
			r := newRegistry(t, tt.opts...)
			err := r.Publish(ctx, s)
			if !errors.Is(err, tt.is) || !strings.HasPrefix(err.Error(), "schema: ") {
				t.Fatalf("Publish = %v, want %v", err, tt.is)
			}
			if tt.store == nil {
				if n := len(testkit.Records(t, s, schema.DefaultSchemaStream)); n != len(tt.seed) {
					t.Errorf("%d events in the schema stream, want the %d seeded", n, len(tt.seed))
				}
			}
			if err := r.Load(ctx, s); !errors.Is(err, tt.is) {
				t.Errorf("Load = %v, want %v", err, tt.is)
			}
		})
	}
}

func TestPublishConcurrently(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	const n = 12
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := orderRegistry(t, schema.WithSchemaStream("schemas"))
			if i%2 == 0 {
				schema.MustRegister[Cart](r, "Cart", 1)
			}
			errs[i] = r.Publish(ctx, s)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("publisher %d: %v", i, err)
		}
	}
	seen := map[string]int{}
	for _, rec := range testkit.Records(t, s, "schemas") {
		var p schema.Published
		_ = json.Unmarshal(rec.Data, &p)
		seen[p.Type+"/"+string(rune('0'+p.Version))]++
	}
	want := map[string]int{"Cart/1": 1, "CustomerRegistered/1": 1, "OrderPlaced/1": 1, "OrderPlaced/3": 1}
	if len(seen) != len(want) {
		t.Errorf("published %v, want each of %v once", seen, want)
	}
	for k, c := range want {
		if seen[k] != c {
			t.Errorf("%s published %d times, want %d", k, seen[k], c)
		}
	}
}

func TestLoad(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if err := orderRegistry(t).Publish(ctx, s); err != nil {
		t.Fatal(err)
	}
	// A tool without the Go types validates events by the published schemas.
	tool := schema.MustNewRegistry()
	schema.MustRegister[OrderPlacedV1](tool, "OrderPlaced", 1) // known already: kept
	if err := tool.Load(ctx, s); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, info := range tool.Schemas() {
		got = append(got, info.Type+" "+string(rune('0'+info.Version))+" "+map[bool]string{true: "typed", false: "schema"}[info.GoType != nil])
	}
	equalStrings(t, "schemas", got, []string{"CustomerRegistered 1 schema", "OrderPlaced 1 typed", "OrderPlaced 3 schema"})
	err := tool.Validate("OrderPlaced", 3, []byte(`{"orderId":"o","total":{"amount":-1,"currency":"EUR"}}`))
	equalStrings(t, "violations", violations(t, err), []string{"/total/amount minimum"})
	if err := tool.Validate("CustomerRegistered", 1, []byte(`{"customerId":"c","email":"a@b.c","plan":"pro"}`)); err != nil {
		t.Errorf("valid: %v", err)
	}
	// Loading again changes nothing; loading an empty stream is fine.
	if err := tool.Load(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := schema.MustNewRegistry(schema.WithSchemaStream("none")).Load(ctx, s); err != nil {
		t.Fatal(err)
	}
	// A published schema that does not compile is reported.
	bad := newStore(t)
	_, _ = bad.Append(ctx, schema.DefaultSchemaStream, eventstore.NoStream, eventstore.EventData{Type: schema.PublishedEventType, Data: []byte(`{"type":"X","version":1,"schema":{"type":1}}`)})
	if err := schema.MustNewRegistry().Load(ctx, bad); !errors.Is(err, schema.ErrInvalidRegistration) {
		t.Errorf("Load of a bad schema = %v", err)
	}
}

func TestExport(t *testing.T) {
	r := orderRegistry(t)
	dir := filepath.Join(t.TempDir(), "schemas")
	if err := r.Export(dir); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	equalStrings(t, "files", names, []string{"CustomerRegistered.v1.schema.json", "OrderPlaced.v1.schema.json", "OrderPlaced.v3.schema.json"})
	b, err := os.ReadFile(filepath.Join(dir, "OrderPlaced.v3.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := r.Schema("OrderPlaced", 3)
	var compact bytes.Buffer
	_ = json.Compact(&compact, b)
	if compact.String() != string(want) || !bytes.HasSuffix(b, []byte("}\n")) || !bytes.Contains(b, []byte("\n  \"$defs\"")) {
		t.Errorf("file content:\n%s\nwant indented %s", b, want)
	}

	file := filepath.Join(t.TempDir(), "file")
	_ = os.WriteFile(file, nil, 0o644)
	if err := r.Export(file); err == nil || !strings.HasPrefix(err.Error(), "schema: export") {
		t.Errorf("Export into a file = %v", err)
	}
	ro := filepath.Join(t.TempDir(), "ro")
	_ = os.Mkdir(ro, 0o555)
	if err := r.Export(ro); err == nil && os.Geteuid() != 0 {
		t.Errorf("Export into a read-only directory succeeded")
	}
}

// conflictingStore loses every append race.
type conflictingStore struct{ eventstore.Store }

func (conflictingStore) Append(_ context.Context, stream string, expected eventstore.ExpectedRevision, _ ...eventstore.EventData) (eventstore.AppendResult, error) {
	return eventstore.AppendResult{}, &eventstore.WrongExpectedVersionError{Stream: stream, Expected: expected, Actual: eventstore.Exact(0)}
}

func TestPublishGivesUpAfterLosingEveryRace(t *testing.T) {
	s := conflictingStore{newStore(t)}
	err := newRegistry(t).Publish(context.Background(), s)
	if !errors.Is(err, eventstore.ErrWrongExpectedVersion) || !strings.Contains(err.Error(), "after 10 attempts") {
		t.Errorf("Publish = %v", err)
	}
}

func TestPublishRejectsReservedExtraMetadata(t *testing.T) {
	s := newStore(t)
	ctx := schema.WithExtraMetadata(context.Background(), "decidedAt", json.RawMessage(`"x"`))
	if err := newRegistry(t).Publish(ctx, s); err == nil || !strings.Contains(err.Error(), "reserved") {
		t.Errorf("Publish = %v", err)
	}
	if testkit.Records(t, s, schema.DefaultSchemaStream) != nil {
		t.Error("a failed publish wrote events")
	}
}
