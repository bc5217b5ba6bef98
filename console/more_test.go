package console_test

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chronicle-go/chronicle/console"
	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/projection/postgres"
	psqlite "github.com/chronicle-go/chronicle/projection/sqlite"
)

func TestSQLiteTarget(t *testing.T) {
	ctx := context.Background()
	f := seed(t, 1)
	target, err := psqlite.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	key := projection.Key{Projection: "revenue", Version: 1}
	if err := target.Update(ctx, key, projection.Checkpoint{}, projection.At(eventstore.Position{Commit: 2, Prepare: 2}),
		func(context.Context, *sql.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	srv := f.server(t, console.WithTarget("sqlite", target))
	contains(t, mustGet(t, srv, "/projections"), "SQL target sqlite", "revenue", "p0 all:C:2/P:2")
}

// The PostgreSQL adapter runs where CHRONICLE_POSTGRES_URL names a server
// (CI starts one).
func TestPostgresTarget(t *testing.T) {
	url := os.Getenv("CHRONICLE_POSTGRES_URL")
	if url == "" {
		t.Skip("CHRONICLE_POSTGRES_URL is not set")
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	target, err := postgres.New(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	f := seed(t, 1)
	srv := f.server(t, console.WithTarget("pg", target))
	contains(t, mustGet(t, srv, "/projections"), "SQL target pg")
	pool.Close()
	contains(t, mustGet(t, srv, "/projections"), "SQL target pg", `class="problem"`)
}

// Framework streams the console reads but did not write can hold anything:
// odd checkpoint and breaker events show as such, not as failures.
func TestOddFrameworkStreams(t *testing.T) {
	f := seed(t, 2)
	mustAppend(t, f.store, "chronicle-checkpoint-weird", eventstore.EventData{Type: "Other", Data: []byte(`{}`)})
	mustAppend(t, f.store, "chronicle-checkpoint-broken", eventstore.EventData{Type: projection.CheckpointEventType, Data: []byte(`{"checkpoint":"nowhere"}`)})
	mustAppend(t, f.store, "chronicle-checkpoint-bytes", eventstore.EventData{Type: projection.CheckpointEventType, Data: []byte(`[1]`)})
	mustAppend(t, f.store, "chronicle-checkpoint-single", eventstore.EventData{Type: projection.CheckpointEventType,
		Data: []byte(`{"projection":"single","version":1,"partition":0,"checkpoint":"stream:5"}`)})
	mustAppend(t, f.store, "chronicle-checkpoint-fresh", eventstore.EventData{Type: projection.CheckpointEventType,
		Data: []byte(`{"projection":"fresh","version":2,"partition":1,"checkpoint":"none"}`)})
	mustAppend(t, f.store, "chronicle-breaker-odd", eventstore.EventData{Type: "BreakerExploded", Data: []byte(`{"at":1}`)})
	mustAppend(t, f.store, "chronicle-breaker-bad", eventstore.EventData{Type: "BreakerOpened", Data: []byte(`{"at":1}`)})
	if _, err := f.store.Delete(context.Background(), "order-2", eventstore.Any); err != nil {
		t.Fatal(err)
	}
	srv := f.server(t)
	body := mustGet(t, srv, "/projections")
	contains(t, body, "stream:5", "<td>—</td>", `href="projection?name=fresh"`)
	lacks(t, body, "weird", "broken", "bytes")
	contains(t, mustGet(t, srv, "/projection?name=single"), "stream:5")
	contains(t, mustGet(t, srv, "/breakers"), "unknown breaker event type BreakerExploded", "malformed")
	contains(t, mustGet(t, srv, "/streams?category=order"), "deleted")
}

func TestLogger(t *testing.T) {
	f := seed(t, 1)
	var logs bytes.Buffer
	srv := f.server(t, console.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))), console.WithActions())
	f.store.Close()
	if code, _ := get(t, srv, "/streams"); code != http.StatusInternalServerError {
		t.Fatalf("status %d", code)
	}
	if !strings.Contains(logs.String(), "console: request failed") {
		t.Fatalf("log: %s", logs.String())
	}
}
