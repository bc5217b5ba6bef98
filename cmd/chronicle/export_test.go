package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/chronicle-go/chronicle/eventstore"
)

// withoutPlace drops the fields a store assigns (position, created) from
// JSON Lines, so exports of two stores compare.
// Metadata events also get new IDs: SetStreamMetadata writes them.
func withoutPlace(out string) string {
	out = regexp.MustCompile(`"position":"[^"]*",|,"created":"[^"]*"`).ReplaceAllString(out, "")
	return regexp.MustCompile(`(?m)^(\{"stream":"\$\$[^"]*","revision":\d+,)"id":"[^"]*",`).ReplaceAllString(out, "$1")
}

func TestExportImportRoundTrip(t *testing.T) {
	src, s := seedOrders(t)
	appendEvents(t, s, "order-2", event("Spaced", `{ "a" : [1, 2] }`))
	appendEvents(t, s, "order-3", event("Lines", "{\n  \"b\": true\n}\n"))
	if _, err := s.SetStreamMetadata(t.Context(), "order-2", eventstore.Any, eventstore.StreamMetadata{MaxCount: 5}); err != nil {
		t.Fatal(err)
	}
	exported := mustRun(t, "", "export", "--all", "--store", src)
	if n := strings.Count(exported, "\n"); n != 7 {
		t.Fatalf("export --all: %d lines, want 7:\n%s", n, exported)
	}
	if !strings.Contains(exported, `"data":{ "a" : [1, 2] }`) || !strings.Contains(exported, `"data":{"b":true}`) {
		t.Fatalf("JSON data not kept byte for byte:\n%s", exported)
	}
	// Into an embedded SQLite store, twice: the second import writes nothing.
	dst := "sqlite://" + filepath.Join(t.TempDir(), "import.db")
	sum := mustRun(t, exported, "import", "--store", dst)
	if !strings.Contains(sum, "6 events in 4 streams, 1 stream metadata set, 0 system events skipped") {
		t.Fatalf("import summary %q", sum)
	}
	again := mustRun(t, exported, "import", "--store", dst)
	if !strings.Contains(again, "6 events in 4 streams, 0 stream metadata set") {
		t.Fatalf("second import summary %q", again)
	}
	reexported := mustRun(t, "", "export", "--all", "--store", dst)
	if withoutPlace(reexported) != withoutPlace(exported) {
		t.Fatalf("import of an export differs:\n%s\nwant\n%s", reexported, exported)
	}
	one := mustRun(t, "", "export", "order-2", "--store", dst)
	if strings.Count(one, "\n") != 1 || !strings.Contains(one, "Spaced") {
		t.Fatalf("export order-2:\n%s", one)
	}
	// A file argument works as standard input does.
	file := filepath.Join(t.TempDir(), "one.jsonl")
	writeFile(t, file, one)
	_, fresh := newStore(t, "fresh")
	mustRun(t, "", "import", file, "--store", "clitest:"+t.Name()+"/fresh")
	if got := allEvents(t, fresh); len(got) != 1 || got[0].Type != "Spaced" || string(got[0].Data) != `{ "a" : [1, 2] }` {
		t.Fatalf("imported from a file: %v", got)
	}
}

func TestImportBadInput(t *testing.T) {
	good := `{"stream":"a-1","revision":0,"id":"9c3e1a36-5a0c-4b8e-9d59-7a6a4c4e0f11","type":"T","contentType":"application/json","data":{}}`
	for _, c := range []struct{ name, in, want string }{
		{"not JSON", "{oops\n", "line 1: invalid character"},
		{"unknown field", `{"stream":"a","bogus":1}`, `line 1: json: unknown field "bogus"`},
		{"no stream", `{"type":"T","id":"9c3e1a36-5a0c-4b8e-9d59-7a6a4c4e0f11"}`, `line 1: "stream" is missing`},
		{"no type", `{"stream":"a","id":"9c3e1a36-5a0c-4b8e-9d59-7a6a4c4e0f11"}`, `line 1: "type" is missing`},
		{"bad id", `{"stream":"a","type":"T","id":"x"}`, `line 1: "id": invalid UUID length`},
		{"binary not base64", `{"stream":"a","type":"T","id":"9c3e1a36-5a0c-4b8e-9d59-7a6a4c4e0f11","contentType":"application/octet-stream","data":{}}`, "must be a base64 string"},
		{"system type rejected by the store", strings.Replace(good, `"contentType":"application/json"`, `"contentType":"text/plain"`, 1) + "\n", "content type"},
		{"bad second line", good + "\n\n{\n", "line 3: "},
	} {
		t.Run(c.name, func(t *testing.T) {
			url, s := newStore(t, "dst")
			_, _, err := run(t, c.in, "import", "--store", url)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "import: ") {
				t.Fatalf("import: %v, want an error containing %q", err, c.want)
			}
			if got := allEvents(t, s); len(got) != 0 {
				t.Fatalf("a bad import wrote %d events", len(got))
			}
		})
	}
	wantError(t, "no such file", "import", filepath.Join(t.TempDir(), "missing.jsonl"), "--store", "memory:")
	wantError(t, "give a STREAM or --all", "export", "--store", "memory:")
	wantError(t, "not both", "export", "x", "--all", "--store", "memory:")
	wantError(t, `stream "x" not found`, "export", "x", "--store", "memory:")
}

func TestImportConflict(t *testing.T) {
	url, s := newStore(t, "dst")
	appendEvents(t, s, "a-1", event("Other", `{}`))
	in := `{"stream":"a-1","revision":0,"id":"9c3e1a36-5a0c-4b8e-9d59-7a6a4c4e0f11","type":"T","data":{}}`
	_, _, err := run(t, in, "import", "--store", url)
	if err == nil || !strings.Contains(err.Error(), `import: append 1 events to "a-1" (source revisions 0-0): `) ||
		!strings.Contains(err.Error(), "wrong expected version") {
		t.Fatalf("import over a different stream: %v", err)
	}
	if got := allEvents(t, s); len(got) != 1 {
		t.Fatalf("%d events, want the 1 seeded", len(got))
	}
}
