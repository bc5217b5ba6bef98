package bench_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chronicle-go/chronicle/cmd/chronicle/internal/bench"
	"github.com/chronicle-go/chronicle/eventstore"
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
		res.ReadStreamEventsPerS <= 0 || res.ReadAllEventsPerS <= 0 || res.FsyncPerS <= 0 ||
		res.SagaStepsPerS <= 0 || res.SagaStepsVsAppend32w <= 0 ||
		res.ProjectionCatchUpEventsPerS <= 0 || res.ProjectionCatchUpVsReadAll != res.ProjectionCatchUpEventsPerS/res.ReadAllEventsPerS ||
		res.ProjectionSQLiteEventsPerS <= 0 || res.SQLiteInsertsPerS <= 0 ||
		res.ProjectionSQLiteVsInserts != res.ProjectionSQLiteEventsPerS/res.SQLiteInsertsPerS || res.ProjectionPostgresEventsPerS != 0 ||
		res.AggregateLoadEventsPerS <= 0 || res.AggregateLoadVsReadStream != res.AggregateLoadEventsPerS/res.ReadStreamEventsPerS ||
		res.AggregateDecodeEventsPerS <= 0 || res.AggregateDecodeVsReadStream != res.AggregateDecodeEventsPerS/res.ReadStreamEventsPerS ||
		res.AggregateLoadVsDecode != res.AggregateLoadEventsPerS/res.AggregateDecodeEventsPerS ||
		res.ReadAllAllocsPerEvent <= 0 {
		t.Fatalf("missing measurements: %+v", res)
	}
	if res.RawScanEventsPerS != 0 || res.ReadAllVsRaw != 0 || res.BytesPerEvent != 0 || res.RawScanStreamEventsPerS != 0 || res.ReadStreamVsRaw != 0 {
		t.Fatalf("file measurements for a memory store: %+v", res)
	}
	if !strings.Contains(progress.String(), "raw scan") {
		t.Fatalf("progress: %q", progress.String())
	}
	table := res.Table()
	for _, want := range []string{"append_1w_per_s", "saga_steps_per_s", "× append_32w", "not a SQLite store", "no file", "projection_catchup_events_per_s", "× read_all",
		"projection_sqlite_events_per_s", "× plain batched inserts", "no --postgres URL", "read_all_allocs_per_event", "aggregate_load_events_per_s", "× read_stream", "aggregate_decode_events_per_s", "the load is"} {
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
		if res.RawScanEventsPerS <= 0 || res.ReadAllVsRaw <= 0 || res.BytesPerEvent <= 0 || res.Append1wVsFsync <= 0 || res.SagaStepsPerS <= 0 ||
			res.ProjectionCatchUpEventsPerS <= 0 || res.RawScanStreamEventsPerS <= 0 || res.ReadStreamVsRaw != res.ReadStreamEventsPerS/res.RawScanStreamEventsPerS ||
			res.AggregateLoadEventsPerS <= 0 || res.ReadAllAllocsPerEvent <= 0 {
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

// A store given by URL that holds events is refused without Force; with it,
// the run writes there and deletes its streams afterwards.
func TestRunRefusesANonEmptyStoreAndCleansUp(t *testing.T) {
	ctx := context.Background()
	url := "sqlite://" + filepath.Join(t.TempDir(), "used.db")
	s, err := eventstore.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "order-1", eventstore.NoStream, eventstore.EventData{ID: uuid.New(), Type: "OrderPlaced", Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	if _, err := bench.Run(ctx, bench.Options{URL: url, Sizes: tiny}); !errors.Is(err, bench.ErrNotEmpty) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("Run on a used store = %v, want ErrNotEmpty", err)
	}
	if _, err := bench.Run(ctx, bench.Options{URL: url, Sizes: tiny, Force: true}); err != nil {
		t.Fatalf("Run with Force: %v", err)
	}
	s, err = eventstore.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	streams := map[string]bool{}
	for e, err := range s.ReadAll(ctx, eventstore.ReadAllOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(e.Stream, "bench-") || strings.HasPrefix(e.Stream, "chronicle-saga-bench_") {
			streams[e.Stream] = true
		}
	}
	for stream := range streams {
		for _, err := range s.ReadStream(ctx, stream, eventstore.ReadOptions{MaxCount: 1}) {
			if !errors.Is(err, eventstore.ErrStreamNotFound) {
				t.Fatalf("bench stream %q still readable after the run (err %v)", stream, err)
			}
			break
		}
	}
	sagas := 0
	for stream := range streams {
		if strings.HasPrefix(stream, "chronicle-saga-") {
			sagas++
		}
	}
	if len(streams) == 0 || sagas == 0 {
		t.Fatalf("the run wrote %d bench streams, %d of sagas", len(streams), sagas)
	}
	for _, err := range s.ReadStream(ctx, "order-1", eventstore.ReadOptions{}) {
		if err != nil {
			t.Fatalf("the user's stream: %v", err)
		}
	}
}

// A run so short that some writers never append still cleans up: their
// streams do not exist and need no delete.
func TestRunCleansUpStreamsNeverWritten(t *testing.T) {
	short := tiny
	short.Append = time.Nanosecond
	url := "sqlite://" + filepath.Join(t.TempDir(), "short.db")
	for range 3 {
		if _, err := bench.Run(context.Background(), bench.Options{URL: url, Sizes: short, Force: true}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRunPostgres(t *testing.T) {
	url := os.Getenv("CHRONICLE_POSTGRES_URL")
	if url == "" {
		t.Skip("set CHRONICLE_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run the PostgreSQL tests")
	}
	res, err := bench.Run(context.Background(), bench.Options{URL: "memory:", Sizes: tiny, Postgres: url})
	if err != nil {
		t.Fatal(err)
	}
	if res.ProjectionPostgresEventsPerS <= 0 || res.PostgresInsertsPerS <= 0 ||
		res.ProjectionPostgresVsInserts != res.ProjectionPostgresEventsPerS/res.PostgresInsertsPerS {
		t.Fatalf("PostgreSQL measurements: %+v", res)
	}
	if table := res.Table(); !strings.Contains(table, "into projection/postgres") {
		t.Errorf("table:\n%s", table)
	}
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var left int
	// Only this run's schemas: other runs may share the database.
	mine := strings.ReplaceAll(res.Prefix, "-", `\_`) + `\_%`
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_namespace WHERE nspname LIKE $1`, mine).Scan(&left); err != nil || left != 0 || res.Prefix == "" {
		t.Errorf("the run left %d schemas behind (%v)", left, err)
	}
	if _, err := bench.Run(context.Background(), bench.Options{URL: "memory:", Sizes: tiny, Postgres: "postgres://nobody@127.0.0.1:1/x?connect_timeout=1"}); err == nil {
		t.Error("an unreachable PostgreSQL was accepted")
	}
}
