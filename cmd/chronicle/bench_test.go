package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/cmd/chronicle/internal/bench"
)

func TestBenchCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a bench")
	}
	got, progress := runQuickBench(t)
	want := []string{
		"fsync_per_s", "append_1w_per_s", "append_1w_p50_us", "append_1w_p99_us", "append_32w_events_per_s",
		"append_batch100_events_per_s", "read_stream_events_per_s", "read_all_events_per_s", "raw_scan_events_per_s",
		"subscribe_latency_p50_us", "subscribe_latency_p99_us", "bytes_per_event",
		"append_1w_vs_fsync", "append_32w_vs_fsync", "batch100_vs_fsync", "read_all_vs_raw",
		"saga_steps_per_s", "saga_steps_vs_append_32w",
		"projection_catchup_events_per_s", "projection_catchup_vs_read_all",
		"projection_sqlite_events_per_s", "sqlite_inserts_per_s", "projection_sqlite_vs_inserts",
		"persistent_events_per_s", "persistent_vs_read_all",
		"raw_scan_stream_events_per_s", "read_stream_vs_raw", "read_all_allocs_per_event",
		"aggregate_load_events_per_s", "aggregate_load_vs_read_stream",
		"aggregate_decode_events_per_s", "aggregate_decode_vs_read_stream", "aggregate_load_vs_decode",
	}
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		t.Fatalf("JSON keys %v, want %v", keys, want)
	}
	if got["saga_steps_per_s"] <= 0 || got["saga_steps_vs_append_32w"] <= 0 ||
		got["append_1w_per_s"] <= 0 || got["read_all_events_per_s"] <= 0 || got["raw_scan_events_per_s"] != 0 ||
		got["projection_catchup_events_per_s"] <= 0 || got["projection_catchup_vs_read_all"] <= 0 ||
		got["projection_sqlite_events_per_s"] <= 0 || got["projection_sqlite_vs_inserts"] <= 0 ||
		got["aggregate_load_events_per_s"] <= 0 || got["read_all_allocs_per_event"] <= 0 ||
		got["aggregate_decode_events_per_s"] <= 0 || got["aggregate_load_vs_decode"] <= 0 {
		t.Fatalf("implausible result for memory: %v", got)
	}
	if !strings.Contains(progress, "bench: read $all") {
		t.Fatalf("no progress on stderr: %q", progress)
	}
}

// runQuickBench runs bench --store memory: --quick --json with args and
// returns its result and progress. The command's wiring and output are under
// test, not the store: --quick runs tiny sizes here (projecting 100 000
// events into SQLite under the race detector takes minutes).
func runQuickBench(t *testing.T, args ...string) (map[string]float64, string) {
	t.Helper()
	quick := bench.Quick
	t.Cleanup(func() { bench.Quick = quick })
	bench.Quick = bench.Sizes{Fsync: 5 * time.Millisecond, Append: 20 * time.Millisecond, MaxAppended: 300, StreamEvents: 700,
		AllEvents: 2500, Subscribed: 20}
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"bench", "--store", "memory:", "--quick", "--json"}, args...))
	if err := root.Execute(); err != nil {
		t.Fatalf("bench: %v\n%s", err, errOut.String())
	}
	var got map[string]float64
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("--json output %q: %v", out.String(), err)
	}
	return got, errOut.String()
}

func TestBenchBadStore(t *testing.T) {
	root := newRootCmd()
	root.SetOut(&bytes.Buffer{})
	root.SetErr(&bytes.Buffer{})
	root.SetArgs([]string{"bench", "--store", "sqlite://" + filepath.Join(t.TempDir(), "x.db") + "?colour=blue"})
	if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "colour") {
		t.Fatalf("bench with a bad store URL: %v", err)
	}
}

func TestBenchCommandThroughServer(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a bench")
	}
	got, progress := runQuickBench(t, "--through-server")
	for _, k := range []string{
		"server_append_1w_per_s", "server_append_1w_p50_us", "server_append_1w_p99_us", "server_append_1w_vs_inprocess",
		"server_append_1w_vs_trivial_server",
		"server_append_32w_events_per_s", "server_append_32w_vs_inprocess", "server_append_32w_vs_trivial_server",
		"server_append_batch100_events_per_s", "server_append_batch100_vs_inprocess", "server_append_batch100_vs_trivial_server",
		"trivial_server_append_1w_per_s", "trivial_server_append_32w_events_per_s", "trivial_server_append_batch100_events_per_s",
		"server_read_stream_events_per_s", "server_read_stream_vs_inprocess",
		"server_read_stream_client_events_per_s", "server_read_stream_client_vs_inprocess",
		"server_read_all_events_per_s", "server_read_all_vs_inprocess", "server_read_all_vs_trivial_server",
		"server_read_all_client_events_per_s", "server_read_all_client_vs_inprocess", "server_read_all_client_vs_trivial_server",
		"trivial_server_read_all_events_per_s", "trivial_server_message_bytes",
		"server_subscribe_latency_p50_us", "server_subscribe_latency_p99_us", "server_subscribe_latency_p99_vs_inprocess",
	} {
		v, ok := got[k]
		if !ok || v < 0 || v == 0 && !strings.Contains(k, "latency") {
			t.Errorf("key %s: %v (present %v)", k, v, ok)
		}
	}
	if got["read_all_events_per_s"] <= 0 {
		t.Errorf("in-process keys missing: %v", got)
	}
	if !strings.Contains(progress, "bench: through the server: read $all") {
		t.Fatalf("no progress on stderr: %q", progress)
	}
}
