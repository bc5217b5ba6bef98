package main

import (
	"strings"
	"testing"

	"github.com/chronicle-go/chronicle/aggregate"
	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/resilience"
	"github.com/chronicle-go/chronicle/schema"
)

type customerRegistered struct {
	ID    string `json:"id" jsonschema:"required,minLength=1"`
	Email string `json:"email" jsonschema:"required,format=email"`
}

// publishedCustomers returns a new store with the schema of
// customerRegistered published, and a valid event of it (not appended).
func publishedCustomers(t *testing.T) (string, eventstore.Store, eventstore.EventData) {
	t.Helper()
	url, s := newStore(t, "src")
	reg := schema.MustNewRegistry()
	schema.MustRegister[customerRegistered](reg, "CustomerRegistered", 1)
	if err := reg.Publish(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	valid, err := reg.Encode(t.Context(), customerRegistered{ID: "c-1", Email: "ada@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	return url, s, valid
}

func TestValidate(t *testing.T) {
	url, s, valid := publishedCustomers(t)
	appendEvents(t, s, "customer-1", valid)
	mustRun(t, "", "validate", "customer-1", "--store", url)

	appendEvents(t, s, "customer-2",
		event("CustomerRegistered", `{"id":"","email":"nope","extra":1}`),
		eventstore.EventData{Type: "CustomerRegistered", Data: []byte(`{}`), Metadata: []byte(`{"schemaVersion":"7"}`)},
		event("Unknown", `{}`),
		eventstore.EventData{Type: "CustomerRegistered", Data: []byte(`{}`), Metadata: []byte(`[1]`)},
		eventstore.EventData{Type: "Blob", ContentType: eventstore.ContentTypeBinary, Data: []byte{1}},
	)
	// The framework's own streams hold no domain events: not checked.
	appendEvents(t, s, aggregate.SnapshotPrefix+"customer-1", event(aggregate.SnapshotEventType, `{"state":{}}`))
	appendEvents(t, s, resilience.BreakerStream("payments"), event(resilience.EventBreakerOpened, `{}`))
	out, _, err := run(t, "", "validate", "--all", "--store", url)
	if err == nil || err.Error() != "validate: 2 of 5 events are invalid" {
		t.Fatalf("validate --all: %v\n%s", err, out)
	}
	for _, want := range []string{
		"customer-2@0 CustomerRegistered v1 (id ",
		"    /email: format: ",
		"    /id: minLength: ",
		"    /extra: additionalProperties: ",
		"customer-2@1 CustomerRegistered v7 (id ",
		`no schema: schema: unknown version 7 of event type "CustomerRegistered"`,
		`customer-2@2 Unknown v1 `,
		`no schema: schema: unknown event type "Unknown"`,
		"customer-2@3 CustomerRegistered v1 ",
		"invalid: schema: malformed event",
		"5 events checked: 1 valid, 2 invalid, 2 of unknown type or version; 1 not JSON and 3 of the framework's streams, not checked",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "chronicle-schemas") || strings.Contains(out, "customer-1@") || strings.Contains(out, "snapshot.") || strings.Contains(out, "breaker-") {
		t.Errorf("the schema stream or a valid event was reported:\n%s", out)
	}
	jsonOut, _, err := run(t, "", "validate", "--all", "--json", "--store", url)
	if exitCode(err) != exitFailure {
		t.Fatalf("validate --all --json: %v", err)
	}
	lines := parseLines(t, jsonOut)
	if len(lines) != 5 || lines[0]["kind"] != "event" || lines[0]["status"] != "invalid" || lines[1]["status"] != "unknown" ||
		lines[4]["kind"] != "summary" || lines[4]["invalid"] != float64(2) || lines[4]["framework"] != float64(3) {
		t.Fatalf("validate --json:\n%s", jsonOut)
	}
	if v := lines[0]["violations"].([]any)[0].(map[string]any); v["pointer"] != "/email" || v["keyword"] != "format" {
		t.Errorf("first violation %v", v)
	}
	only, _, err := run(t, "", "validate", "--all", "--type-prefix", "Unknown", "--store", url)
	if err != nil || !strings.Contains(only, "1 events checked: 0 valid, 0 invalid, 1 of unknown") {
		t.Fatalf("validate --type-prefix Unknown: %v\n%s", err, only)
	}

	// Framework streams are left out unless asked for.
	appendEvents(t, s, "chronicle-breaker-x", event("BreakerOpened", `{}`))
	out, _, err = run(t, "", "validate", "--all", "--store", url)
	if err == nil || strings.Contains(out, "chronicle-breaker-x") || !strings.Contains(out, "5 events checked") {
		t.Errorf("validate --all checked a framework stream: %v\n%s", err, out)
	}
	out, _, _ = run(t, "", "validate", "--all", "--include-framework", "--store", url)
	if !strings.Contains(out, "chronicle-breaker-x@0 BreakerOpened") || !strings.Contains(out, "8 events checked") {
		t.Errorf("validate --all --include-framework left out the framework stream:\n%s", out)
	}
}

func TestValidateErrors(t *testing.T) {
	url, s := newStore(t, "src")
	appendEvents(t, s, "chronicle-schemas", event(schema.PublishedEventType, `{"type":""}`))
	wantError(t, "give a STREAM or --all", "validate", "--store", url)
	wantError(t, "validate: load schemas: schema: malformed event", "validate", "--all", "--store", url)
	wantError(t, `stream "nope" not found`, "validate", "nope", "--store", url, "--schema-stream", "other")
	wantError(t, "unknown driver", "validate", "x", "--store", "nosuch:")
}
