package bench_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chronicle-go/chronicle/cmd/chronicle/internal/bench"
	"github.com/chronicle-go/chronicle/eventstore"
)

func TestPersistentEvents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	for _, url := range []string{"memory:", "sqlite://" + path} {
		res, err := bench.Run(context.Background(), bench.Options{URL: url, Sizes: tiny})
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		if res.PersistentEventsPerS <= 0 || res.PersistentVsReadAll != res.PersistentEventsPerS/res.ReadAllEventsPerS {
			t.Errorf("%s: persistent_events_per_s %v, persistent_vs_read_all %v", url, res.PersistentEventsPerS, res.PersistentVsReadAll)
		}
		if table := res.Table(); !strings.Contains(table, "persistent_events_per_s") || !strings.Contains(table, "4 consumers acking every event") {
			t.Errorf("%s: table:\n%s", url, table)
		}
	}
	// The run deleted its group.
	s, err := eventstore.Open(context.Background(), "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	groups, err := s.(eventstore.PersistentSubscriptions).ListPersistentSubscriptions(context.Background(), "")
	if err != nil || len(groups) != 0 {
		t.Errorf("groups after the run: %v, %v", groups, err)
	}
}
