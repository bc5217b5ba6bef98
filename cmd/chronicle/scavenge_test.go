package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/sqlite"
)

func TestScavenge(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := s.Append(ctx, "user-1", eventstore.Any, eventstore.EventData{Type: "E", Data: []byte(`{"a":1}`)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Tombstone(ctx, "user-1", eventstore.Any); err != nil {
		t.Fatal(err)
	}
	s.Close()
	url := "sqlite://" + path
	out := mustRun(t, "", "scavenge", "--store", url, "--json")
	var res map[string]int64
	if err := json.Unmarshal([]byte(out), &res); err != nil || res["events_removed"] != 3 || res["bytes_before"] == 0 {
		t.Fatalf("scavenge --json: %q, %v", out, err)
	}
	out = mustRun(t, "", "scavenge", "--store", url)
	if !strings.Contains(out, "events removed  0") || !strings.Contains(out, "bytes after") {
		t.Fatalf("scavenge: %q", out)
	}
	memURL, _ := newStore(t, "m")
	wantError(t, "unsupported operation", "scavenge", "--store", memURL)
}
