package main

import (
	"strings"
	"testing"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/schema"
)

func seedOrders(t *testing.T) (string, eventstore.Store) {
	t.Helper()
	url, s := newStore(t, "src")
	appendEvents(t, s, "order-1",
		event("OrderPlaced", `{"id": "1", "note": "`+strings.Repeat("x", 100)+`"}`),
		event("ItemAdded", `{"sku":"a"}`),
		eventstore.EventData{Type: "Blob", ContentType: eventstore.ContentTypeBinary, Data: []byte{0, 1, 2}, Metadata: []byte("not json")},
	)
	appendEvents(t, s, "cart-1", event("CartOpened", `{}`))
	return url, s
}

func TestReadTable(t *testing.T) {
	url, _ := seedOrders(t)
	out := mustRun(t, "", "read", "order-1", "--store", url)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "REVISION") {
		t.Fatalf("table:\n%s", out)
	}
	if !strings.Contains(lines[1], "OrderPlaced") || !strings.Contains(lines[1], `{"id":"1","note":"xxx`) ||
		!strings.HasSuffix(lines[1], "…") || !strings.Contains(lines[1], "C:1/P:1") {
		t.Fatalf("first row %q: want type, position and compact data cut short", lines[1])
	}
	if !strings.Contains(lines[3], "base64:AAEC") {
		t.Fatalf("binary row %q", lines[3])
	}
	full := mustRun(t, "", "read", "order-1", "--store", url, "--full", "--count", "1")
	if !strings.Contains(full, strings.Repeat("x", 100)+`"}`) || strings.Count(full, "\n") != 2 {
		t.Fatalf("--full --count 1:\n%s", full)
	}
	back := mustRun(t, "", "read", "order-1", "--store", url, "--backwards", "--count", "1")
	if !strings.Contains(back, "Blob") || strings.Contains(back, "ItemAdded") {
		t.Fatalf("--backwards --count 1:\n%s", back)
	}
	from := mustRun(t, "", "read", "order-1", "--store", url, "--from", "1")
	if strings.Contains(from, "OrderPlaced") || !strings.Contains(from, "ItemAdded") {
		t.Fatalf("--from 1:\n%s", from)
	}
	all := mustRun(t, "", "read", "$all", "--store", url)
	if !strings.HasPrefix(all, "STREAM") || !strings.Contains(all, "cart-1") {
		t.Fatalf("$all table:\n%s", all)
	}
}

func TestReadJSON(t *testing.T) {
	url, s := seedOrders(t)
	got := parseLines(t, mustRun(t, "", "read", "order-1", "--store", url, "--json"))
	if len(got) != 3 {
		t.Fatalf("%d lines, want 3", len(got))
	}
	first := got[0]
	want := allEvents(t, s)[0]
	if first["stream"] != "order-1" || first["revision"] != 0.0 || first["position"] != "C:1/P:1" ||
		first["id"] != want.ID.String() || first["type"] != "OrderPlaced" || first["contentType"] != eventstore.ContentTypeJSON ||
		first["created"] == "" {
		t.Fatalf("first event %v", first)
	}
	if data, ok := first["data"].(map[string]any); !ok || data["id"] != "1" {
		t.Fatalf("JSON data %v is not a JSON object", first["data"])
	}
	blob := got[2]
	if blob["data"] != "AAEC" || blob["metadataBase64"] != "bm90IGpzb24=" || blob["contentType"] != eventstore.ContentTypeBinary {
		t.Fatalf("binary event %v", blob)
	}
}

func TestReadAllFilters(t *testing.T) {
	url, s := seedOrders(t)
	if _, err := s.SetStreamMetadata(t.Context(), "order-1", eventstore.Any, eventstore.StreamMetadata{MaxCount: 10}); err != nil {
		t.Fatal(err)
	}
	types := func(args ...string) string {
		var out []string
		for _, e := range parseLines(t, mustRun(t, "", append([]string{"read", "$all", "--json", "--store", url}, args...)...)) {
			out = append(out, e["type"].(string))
		}
		return strings.Join(out, ",")
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "OrderPlaced,ItemAdded,Blob,CartOpened,$metadata"},
		{[]string{"--exclude-system"}, "OrderPlaced,ItemAdded,Blob,CartOpened"},
		{[]string{"--stream-prefix", "cart-,$$"}, "CartOpened,$metadata"},
		{[]string{"--type-prefix", "Item,Cart"}, "ItemAdded,CartOpened"},
		{[]string{"--regex", "^order", "--type-prefix", "O,B"}, "OrderPlaced,Blob"},
		{[]string{"--type-prefix", "O,C", "--regex", "^order"}, "OrderPlaced"},
		{[]string{"--from-position", "C:2/P:2", "--to-position", "3"}, "ItemAdded,Blob"},
		{[]string{"--backwards", "--count", "2"}, "$metadata,CartOpened"},
		{[]string{"--backwards", "--to-position", "C:4/P:4"}, "$metadata,CartOpened"},
	} {
		if got := types(c.args...); got != c.want {
			t.Errorf("read $all %v: %s, want %s", c.args, got, c.want)
		}
	}
}

func TestReadErrors(t *testing.T) {
	url, _ := seedOrders(t)
	for _, c := range []struct {
		want string
		args []string
	}{
		{`stream "nope" not found`, []string{"read", "nope", "--store", url}},
		{"accepts 1 arg(s)", []string{"read", "--store", url}},
		{"--from is a stream revision", []string{"read", "$all", "--from", "2", "--store", url}},
		{"--stream-prefix applies to $all only", []string{"read", "order-1", "--stream-prefix", "o", "--store", url}},
		{"--from-position applies to $all only", []string{"read", "order-1", "--from-position", "1", "--store", url}},
		{`"C:x" is not a position`, []string{"read", "$all", "--from-position", "C:x", "--store", url}},
		{`"P:1/C:1" is not a position`, []string{"read", "$all", "--to-position", "P:1/C:1", "--store", url}},
		{"filter is not valid", []string{"read", "$all", "--regex", "(", "--store", url}},
		{"stream name is empty", []string{"read", "", "--store", url}},
		{"unknown driver", []string{"read", "x", "--store", "nosuch://x"}},
		{"unknown flag", []string{"read", "x", "--frm", "1"}},
		{`invalid argument "-1"`, []string{"read", "x", "--count", "-1"}},
	} {
		wantError(t, c.want, c.args...)
	}
}

// read and tail show events through the schemas published in the store;
// --raw shows them as stored; export never adds schema fields, and import
// accepts read --json output.
func TestReadThroughPublishedSchemas(t *testing.T) {
	url, s, valid := publishedCustomers(t)
	appendEvents(t, s, "customer-1", valid,
		event("CustomerRegistered", `{"id":"","email":"nope"}`),
		eventstore.EventData{Type: "CustomerRegistered", Data: []byte(`{}`), Metadata: []byte(`[1]`)},
		event("Other", `{}`))

	table := mustRun(t, "", "read", "customer-1", "--store", url)
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 5 || !strings.Contains(lines[1], "CustomerRegistered v1") || strings.Contains(lines[1], "✗") ||
		!strings.Contains(lines[2], "✗ invalid: /email: format:") || !strings.Contains(lines[2], "(+1 more)") ||
		!strings.Contains(lines[3], "✗ invalid: schema: malformed event") ||
		!strings.Contains(lines[4], "Other ") || strings.Contains(lines[4], "Other v1") {
		t.Fatalf("table through schemas:\n%s", table)
	}
	raw := mustRun(t, "", "read", "customer-1", "--raw", "--store", url)
	if strings.Contains(raw, " v1 ") || strings.Contains(raw, "✗") {
		t.Fatalf("--raw table:\n%s", raw)
	}

	js := mustRun(t, "", "read", "customer-1", "--json", "--store", url)
	got := parseLines(t, js)
	if got[0]["schema"] != "valid" || got[0]["schemaVersion"] != float64(1) || got[1]["schema"] != "invalid" ||
		got[1]["violations"].([]any)[0].(map[string]any)["pointer"] != "/email" || got[2]["schemaError"] == nil || got[3]["schema"] != "unknown" {
		t.Fatalf("read --json through schemas:\n%s", js)
	}
	for _, out := range []string{mustRun(t, "", "read", "customer-1", "--json", "--raw", "--store", url), mustRun(t, "", "export", "customer-1", "--store", url)} {
		if strings.Contains(out, `"schema"`) {
			t.Fatalf("raw JSON Lines carry schema fields:\n%s", out)
		}
	}
	dst, d := newStore(t, "dst")
	mustRun(t, js, "import", "--store", dst)
	if n := len(allEvents(t, d)); n != 4 {
		t.Fatalf("import of read --json output wrote %d events", n)
	}

	// A schema stream that cannot be read: a warning, and events as stored.
	appendEvents(t, s, "bad-schemas", event(schema.PublishedEventType, `{"type":""}`))
	out, errOut, err := run(t, "", "read", "customer-1", "--schema-stream", "bad-schemas", "--store", url)
	if err != nil || !strings.Contains(errOut, "published schemas not used") || strings.Contains(out, "✗") {
		t.Fatalf("bad schema stream: %v\n%s\n%s", err, errOut, out)
	}
}
