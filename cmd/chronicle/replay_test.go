package main

import (
	"strings"
	"testing"

	"github.com/chronicle-go/chronicle/eventstore"
)

func TestReplayStream(t *testing.T) {
	src, _ := seedOrders(t)
	dst, d := newStore(t, "dst")
	out := mustRun(t, "", "replay", "order-1", "--store", src, "--to", dst)
	if !strings.Contains(out, "3 events in 1 streams") {
		t.Fatalf("summary %q", out)
	}
	mustRun(t, "", "replay", "order-1", "--store", src, "--to", dst) // idempotent
	got := allEvents(t, d)
	if len(got) != 3 || got[2].Type != "Blob" || string(got[2].Metadata) != "not json" || got[2].ContentType != eventstore.ContentTypeBinary {
		t.Fatalf("replayed %d events: %+v", len(got), got)
	}
	if withoutPlace(mustRun(t, "", "export", "order-1", "--store", dst)) != withoutPlace(mustRun(t, "", "export", "order-1", "--store", src)) {
		t.Fatal("the replayed stream differs from its source")
	}
}

func TestReplayAllRange(t *testing.T) {
	src, s := seedOrders(t)
	ctx := t.Context()
	// order-9 keeps only its last 2 events; $$order-9 is applied, not copied.
	appendEvents(t, s, "order-9", event("A", `{}`), event("B", `{}`), event("C", `{}`))
	if _, err := s.SetStreamMetadata(ctx, "order-9", eventstore.Any, eventstore.StreamMetadata{TruncateBefore: 1}); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, s, "order-9", event("D", `{}`))
	dst, d := newStore(t, "dst")
	// Positions 2..4 of $all: order-1@1, order-1@2, cart-1@0.
	out := mustRun(t, "", "replay", "--all", "--from-position", "2", "--to-position", "C:4/P:4", "--store", src, "--to", dst)
	if !strings.Contains(out, "3 events in 2 streams") {
		t.Fatalf("summary %q", out)
	}
	// order-1 starts at source revision 1, which the target lacks: it starts at 0 there.
	if got := allEvents(t, d); len(got) != 3 || got[0].Stream != "order-1" || got[0].Revision != 0 || got[0].Type != "ItemAdded" {
		t.Fatalf("replayed %+v", got)
	}
	for range 2 { // the second run writes nothing new
		out = mustRun(t, "", "replay", "--all", "--store", src, "--to", dst, "--stream-prefix", "order-9,$$order-9")
	}
	if !strings.Contains(out, "4 events in 1 streams, 0 stream metadata set") {
		t.Fatalf("summary of the second run %q", out)
	}
	md, err := d.GetStreamMetadata(ctx, "order-9")
	if err != nil || md.Metadata.TruncateBefore != 1 {
		t.Fatalf("metadata of order-9 in the target: %+v, %v", md, err)
	}
	if got := mustRun(t, "", "read", "order-9", "--json", "--store", dst); strings.Count(got, "\n") != 3 {
		t.Fatalf("order-9 in the target:\n%s", got)
	}
}

func TestReplaySkipsSystemStreams(t *testing.T) {
	src, s := newStore(t, "src")
	appendEvents(t, s, "gone-1", event("A", `{}`))
	if _, err := s.Tombstone(t.Context(), "gone-1", eventstore.Any); err != nil {
		t.Fatal(err)
	}
	dst, d := newStore(t, "dst")
	out := mustRun(t, "", "replay", "--all", "--store", src, "--to", dst)
	if !strings.Contains(out, "1 events in 1 streams, 0 stream metadata set, 1 system events skipped") {
		t.Fatalf("summary %q", out)
	}
	if got := allEvents(t, d); len(got) != 1 {
		t.Fatalf("replayed %+v", got)
	}
}

func TestReplayErrors(t *testing.T) {
	src, _ := seedOrders(t)
	dst, d := newStore(t, "dst")
	appendEvents(t, d, "order-1", event("Other", `{}`))
	wantError(t, "--to URL is required", "replay", "order-1", "--store", src)
	wantError(t, "give a STREAM or --all", "replay", "--store", src, "--to", dst)
	wantError(t, `stream "nope" not found`, "replay", "nope", "--store", src, "--to", dst)
	wantError(t, "open --to store", "replay", "order-1", "--store", src, "--to", "nosuch:")
	wantError(t, "--to-position applies to $all only", "replay", "order-1", "--to-position", "3", "--store", src, "--to", dst)
	wantError(t, `replay: append 3 events to "order-1"`, "replay", "order-1", "--store", src, "--to", dst)
	if got := allEvents(t, d); len(got) != 1 {
		t.Fatalf("failed replays wrote: %+v", got)
	}
}

// replay --json and import --json print their summary as one JSON object.
func TestCopySummaryJSON(t *testing.T) {
	src, _ := seedOrders(t)
	dst, _ := newStore(t, "dst")
	lines := parseLines(t, mustRun(t, "", "replay", "order-1", "--json", "--store", src, "--to", dst))
	if len(lines) != 1 || lines[0]["events"] != float64(3) || lines[0]["streams"] != float64(1) || lines[0]["error"] != nil {
		t.Fatalf("replay --json: %v", lines)
	}
	exported := mustRun(t, "", "export", "order-1", "--json", "--store", src)
	other, _ := newStore(t, "other")
	lines = parseLines(t, mustRun(t, exported, "import", "--json", "--store", other))
	if len(lines) != 1 || lines[0]["events"] != float64(3) {
		t.Fatalf("import --json: %v", lines)
	}
	out, _, err := run(t, "{not json\n", "import", "--json", "--store", other)
	lines = parseLines(t, out)
	if err == nil || len(lines) != 1 || !strings.Contains(lines[0]["error"].(string), "line 1") {
		t.Fatalf("import --json of a bad line: %v, %v", err, lines)
	}
}
