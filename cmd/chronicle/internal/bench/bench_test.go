package bench_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/cmd/chronicle/internal/bench"
	_ "github.com/chronicle-go/chronicle/eventstore/memory"
	_ "github.com/chronicle-go/chronicle/eventstore/sqlite"
)

// tiny checks that a run works, not how fast anything is.
var tiny = bench.Sizes{Fsync: 5 * time.Millisecond, Append: 20 * time.Millisecond, MaxAppended: 300, StreamEvents: 700, AllEvents: 2500, Subscribed: 20}

func TestRunMemory(t *testing.T) {
	var progress strings.Builder
	res, err := bench.Run(context.Background(), bench.Options{URL: "memory:", Sizes: tiny, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if res.Append1wPerS <= 0 || res.Append32wEventsPerS <= 0 || res.AppendBatch100EventsPerS <= 0 ||
		res.ReadStreamEventsPerS <= 0 || res.ReadAllEventsPerS <= 0 || res.FsyncPerS <= 0 {
		t.Fatalf("missing measurements: %+v", res)
	}
	if res.RawScanEventsPerS != 0 || res.ReadAllVsRaw != 0 || res.BytesPerEvent != 0 {
		t.Fatalf("file measurements for a memory store: %+v", res)
	}
	if !strings.Contains(progress.String(), "raw scan") {
		t.Fatalf("progress: %q", progress.String())
	}
	table := res.Table()
	for _, want := range []string{"append_1w_per_s", "not a SQLite store", "no file"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
}

func TestRunSQLite(t *testing.T) {
	for _, url := range []string{"", "sqlite://" + filepath.Join(t.TempDir(), "b.db")} {
		res, err := bench.Run(context.Background(), bench.Options{URL: url, Sizes: tiny})
		if err != nil {
			t.Fatalf("%q: %v", url, err)
		}
		if res.RawScanEventsPerS <= 0 || res.ReadAllVsRaw <= 0 || res.BytesPerEvent <= 0 || res.Append1wVsFsync <= 0 {
			t.Fatalf("%q: missing measurements: %+v", url, res)
		}
		if table := res.Table(); !strings.Contains(table, "raw scan") || !strings.Contains(table, "sqlite://") {
			t.Errorf("table:\n%s", table)
		}
	}
}

func TestRunErrors(t *testing.T) {
	if _, err := bench.Run(context.Background(), bench.Options{URL: "nosuch:", Sizes: tiny}); err == nil {
		t.Fatal("unknown store accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := bench.Run(ctx, bench.Options{URL: "memory:", Sizes: tiny}); err == nil {
		t.Fatal("cancelled run succeeded")
	}
	path := filepath.Join(t.TempDir(), "locked.db")
	if _, err := bench.Run(context.Background(), bench.Options{URL: "sqlite://" + path + "?mode=ro", Sizes: tiny}); err == nil {
		t.Fatal("read-only store accepted")
	}
}
