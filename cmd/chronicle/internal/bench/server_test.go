package bench_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chronicle-go/chronicle/cmd/chronicle/internal/bench"
	"github.com/chronicle-go/chronicle/eventstore"
)

func TestRunThroughServer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.db")
	for _, url := range []string{"memory:", "sqlite://" + path} {
		res, err := bench.Run(context.Background(), bench.Options{URL: url, Sizes: tiny, ThroughServer: true})
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		sv := res.ServerResult
		if sv == nil {
			t.Fatalf("%s: no through-server result", url)
		}
		for name, v := range map[string]float64{
			"append 1w": sv.Append1wPerS, "append 32w": sv.Append32wEventsPerS, "batch100": sv.Batch100EventsPerS,
			"read stream": sv.ReadStreamEventsPerS, "read stream client": sv.ReadStreamClientPerS,
			"read all": sv.ReadAllEventsPerS, "read all client": sv.ReadAllClientPerS, "trivial": sv.TrivialServerReadAllPerS,
			"message bytes": sv.TrivialServerMessageBytes, "subscribe p99": sv.SubscribeLatencyP99us + 1,
			"trivial append 1w": sv.TrivialAppend1wPerS, "trivial append 32w": sv.TrivialAppend32wPerS, "trivial batch100": sv.TrivialBatch100PerS,
		} {
			if v <= 0 {
				t.Errorf("%s: %s = %v", url, name, v)
			}
		}
		for name, r := range map[string][2]float64{
			"append 1w":             {sv.Append1wVsInprocess, sv.Append1wPerS / res.Append1wPerS},
			"append 32w":            {sv.Append32wVsInprocess, sv.Append32wEventsPerS / res.Append32wEventsPerS},
			"batch100":              {sv.Batch100VsInprocess, sv.Batch100EventsPerS / res.AppendBatch100EventsPerS},
			"read stream":           {sv.ReadStreamVsInprocess, sv.ReadStreamEventsPerS / res.ReadStreamEventsPerS},
			"read all":              {sv.ReadAllVsInprocess, sv.ReadAllEventsPerS / res.ReadAllEventsPerS},
			"vs trivial":            {sv.ReadAllVsTrivial, sv.ReadAllEventsPerS / sv.TrivialServerReadAllPerS},
			"client vs trivial":     {sv.ReadAllClientVsTrivial, sv.ReadAllClientPerS / sv.TrivialServerReadAllPerS},
			"append 1w vs trivial":  {sv.Append1wVsTrivial, sv.Append1wPerS / sv.TrivialAppend1wPerS},
			"append 32w vs trivial": {sv.Append32wVsTrivial, sv.Append32wEventsPerS / sv.TrivialAppend32wPerS},
			"batch100 vs trivial":   {sv.Batch100VsTrivial, sv.Batch100EventsPerS / sv.TrivialBatch100PerS},
		} {
			if r[0] != r[1] {
				t.Errorf("%s: %s ratio %v, want %v", url, name, r[0], r[1])
			}
		}
		table := res.Table()
		for _, want := range []string{"server_read_all_events_per_s", "× trivial server", "trivial_server_read_all_events_per_s", "server_subscribe_latency_p99_us",
			"trivial_server_append_1w_per_s", "trivial_server_append_32w_events_per_s", "trivial_server_append_batch100_events_per_s"} {
			if !strings.Contains(table, want) {
				t.Errorf("%s: table lacks %q:\n%s", url, want, table)
			}
		}
	}
	// The run deleted the streams it wrote, through the server too: they
	// read as not found.
	s, err := eventstore.Open(context.Background(), "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	streams := map[string]bool{}
	for e, err := range s.ReadAll(context.Background(), eventstore.ReadAllOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		streams[e.Stream] = true
	}
	server := 0
	for stream := range streams {
		if !strings.HasPrefix(stream, "bench-") {
			continue // the sagas' streams and their metadata
		}
		if strings.Contains(stream, "-server-") {
			server++
		}
		for _, err := range s.ReadStream(context.Background(), stream, eventstore.ReadOptions{MaxCount: 1}) {
			if !errors.Is(err, eventstore.ErrStreamNotFound) {
				t.Fatalf("stream %q left after the run: %v", stream, err)
			}
		}
	}
	if server == 0 {
		t.Fatalf("no stream written through the server among %v", streams)
	}
}
