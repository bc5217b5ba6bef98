package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/projection/postgres"
)

func TestNewRefusesBadInput(t *testing.T) {
	// No database needed: the pool connects lazily, and nothing may be
	// tried before the options are checked.
	pool, err := pgxpool.New(t.Context(), "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for _, c := range []struct {
		name string
		pool *pgxpool.Pool
		opts []postgres.Option
	}{
		{"nil pool", nil, nil},
		{"nil option", pool, []postgres.Option{nil}},
		{"schema with a capital", pool, []postgres.Option{postgres.WithSchema("Chronicle")}},
		{"schema with a quote", pool, []postgres.Option{postgres.WithSchema(`x"; DROP TABLE y; --`)}},
		{"empty schema", pool, []postgres.Option{postgres.WithSchema("")}},
		{"long schema", pool, []postgres.Option{postgres.WithSchema(strings.Repeat("s", 64))}},
		{"prefix with a dot", pool, []postgres.Option{postgres.WithSchemaPrefix("a.b")}},
		{"long prefix", pool, []postgres.Option{postgres.WithSchemaPrefix(strings.Repeat("p", 21))}},
	} {
		if _, err := postgres.New(t.Context(), c.pool, c.opts...); !errors.Is(err, postgres.ErrInvalidOption) {
			t.Errorf("%s: New = %v; want ErrInvalidOption", c.name, err)
		}
	}
}

func TestNewUnreachable(t *testing.T) {
	pool, err := pgxpool.New(t.Context(), "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	_, err = postgres.New(t.Context(), pool)
	if !errors.Is(err, postgres.ErrUnreachable) || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Fatalf("New on a closed port = %v; want ErrUnreachable naming the address", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := postgres.New(ctx, pool); !errors.Is(err, context.Canceled) {
		t.Fatalf("New with a canceled context = %v; want context.Canceled", err)
	}
}

func TestSchemaNames(t *testing.T) {
	// Names are computed without a database; New only needs a reachable
	// one, so build the target on the env when there is one.
	e := newEnv(t)
	tg := e.target(t)
	p := e.prefix
	for name, want := range map[string]string{
		"orders":         p + "orders",
		"Orders.Summary": p + "orders_summary",
		"9lives":         p + "9lives",
		"a-b c":          p + "a_b_c",
	} {
		if got := tg.Schema(name); got != want {
			t.Errorf("Schema(%q) = %q; want %q", name, got, want)
		}
	}
	if got := tg.VersionSchema("Orders", 7); got != p+"orders_v7" {
		t.Errorf("VersionSchema = %q", got)
	}
	long1, long2 := strings.Repeat("x", 60)+"1", strings.Repeat("x", 60)+"2"
	if s1, s2 := tg.Schema(long1), tg.Schema(long2); len(s1) > 40 || s1 == s2 {
		t.Errorf("long names map to %q and %q; want distinct names of at most 40 bytes", s1, s2)
	}
	plain, err := postgres.New(t.Context(), e.pool, postgres.WithSchema(e.control))
	if err != nil {
		t.Fatal(err)
	}
	if got := plain.Schema("9lives"); got != "p_9lives" {
		t.Errorf("without a prefix, Schema(9lives) = %q; want p_9lives", got)
	}
}

func TestSchemaTaken(t *testing.T) {
	e := newEnv(t)
	tg := e.target(t)
	ctx := t.Context()
	if err := tg.Prepare(ctx, projection.Key{Projection: "order.totals", Version: 1}, nil, nil); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Order_Totals", "order_totals"} {
		err := tg.Prepare(ctx, projection.Key{Projection: name, Version: 1}, nil, nil)
		if !errors.Is(err, postgres.ErrSchemaTaken) || !strings.Contains(err.Error(), "order.totals") {
			t.Errorf("Prepare(%q) = %v; want ErrSchemaTaken naming order.totals", name, err)
		}
		if err := tg.Promote(ctx, name, 1); !errors.Is(err, postgres.ErrSchemaTaken) {
			t.Errorf("Promote(%q) = %v; want ErrSchemaTaken", name, err)
		}
	}
	if err := tg.Prepare(ctx, projection.Key{Projection: "stats_v2", Version: 1}, nil, nil); !errors.Is(err, postgres.ErrSchemaTaken) {
		t.Errorf("Prepare(stats_v2) = %v; want ErrSchemaTaken (the ending names versions)", err)
	}
	if got := e.schemas(t); fmt.Sprint(got) != "[order_totals_v1]" {
		t.Errorf("schemas = %v; want only order.totals's", got)
	}
}

func TestSearchPathIsTheVersionsSchema(t *testing.T) {
	e := newEnv(t)
	tg := e.target(t)
	ctx := t.Context()
	k := projection.Key{Projection: "paths", Version: 1}
	path := func(k projection.Key, prev, next projection.Checkpoint) string {
		var got string
		err := tg.Update(ctx, k, prev, next, func(ctx context.Context, tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SHOW search_path`).Scan(&got)
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got, want := path(k, projection.Checkpoint{}, at(1)), `"`+tg.VersionSchema("paths", 1)+`"`; got != want {
		t.Errorf("search_path of a version being built = %s; want %s", got, want)
	}
	if err := tg.Promote(ctx, "paths", 1); err != nil {
		t.Fatal(err)
	}
	if got, want := path(k, at(1), at(2)), `"`+tg.Schema("paths")+`"`; got != want {
		t.Errorf("search_path of the live version = %s; want %s", got, want)
	}
	// The setting is local to the transaction: the pool's connections
	// come back with the default path.
	var def string
	if err := e.pool.QueryRow(ctx, `SHOW search_path`).Scan(&def); err != nil || strings.Contains(def, e.prefix) {
		t.Errorf("search_path outside Update = %q, %v", def, err)
	}
	// Promoting a version that never prepared its schema (written by
	// Update alone) leaves readers an empty live schema.
	if err := tg.Promote(ctx, "paths", 2); err != nil {
		t.Fatal(err)
	}
	if got := e.schemas(t); fmt.Sprint(got) != "[paths paths_v1_retired]" {
		t.Errorf("schemas after promoting an unprepared version = %v", got)
	}
}

func TestCommitFailureKeepsNothing(t *testing.T) {
	e := newEnv(t)
	tg := e.target(t)
	ctx := t.Context()
	k := projection.Key{Projection: "deferred", Version: 1}
	// A deferred constraint fails at COMMIT, after apply returned nil.
	setup := func(violate bool) func(ctx context.Context, tx pgx.Tx) error {
		return func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `
CREATE TABLE parent (id int PRIMARY KEY);
CREATE TABLE child (parent int REFERENCES parent DEFERRABLE INITIALLY DEFERRED)`)
			if err == nil && violate {
				_, err = tx.Exec(ctx, `INSERT INTO child VALUES (1)`)
			}
			return err
		}
	}
	if err := tg.Prepare(ctx, k, setup(true), []string{"parent", "child"}); err == nil || errors.Is(err, projection.ErrMissingTable) {
		t.Fatalf("Prepare whose commit fails = %v; want the commit's error", err)
	}
	if got := e.schemas(t); len(got) != 0 {
		t.Fatalf("a failed Prepare left schemas %v", got)
	}
	if err := tg.Prepare(ctx, k, setup(false), []string{"parent", "child"}); err != nil {
		t.Fatal(err)
	}
	err := tg.Update(ctx, k, projection.Checkpoint{}, at(1), func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO child VALUES (1)`)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "commit") {
		t.Fatalf("Update whose commit fails = %v; want a commit error", err)
	}
	if cp, err := tg.Load(ctx, k); err != nil || !cp.IsZero() {
		t.Fatalf("after a failed commit the checkpoint is %v, %v; want none", cp, err)
	}
}

func TestBrokenControlTables(t *testing.T) {
	e := newEnv(t)
	tg := e.target(t)
	ctx := t.Context()
	k := projection.Key{Projection: "broken", Version: 1}
	if err := tg.Save(ctx, k, projection.Checkpoint{}, at(1)); err != nil {
		t.Fatal(err)
	}
	// A checkpoint row of no known kind (written by something else).
	if _, err := e.pool.Exec(ctx, `UPDATE `+pgx.Identifier{e.control, "checkpoints"}.Sanitize()+` SET kind = 9`); err != nil {
		t.Fatal(err)
	}
	if _, err := tg.Load(ctx, k); !errors.Is(err, projection.ErrCheckpointMismatch) {
		t.Errorf("Load of a row of unknown kind = %v; want ErrCheckpointMismatch", err)
	}
	if _, err := tg.Statuses(ctx); !errors.Is(err, projection.ErrCheckpointMismatch) {
		t.Errorf("Statuses with a row of unknown kind = %v; want ErrCheckpointMismatch", err)
	}
	// A negative position (written by something else).
	if _, err := e.pool.Exec(ctx, `UPDATE `+pgx.Identifier{e.control, "checkpoints"}.Sanitize()+` SET kind = 1, commit_pos = -1`); err != nil {
		t.Fatal(err)
	}
	if _, err := tg.Load(ctx, k); !errors.Is(err, projection.ErrCheckpointMismatch) {
		t.Errorf("Load of a negative position = %v; want ErrCheckpointMismatch", err)
	}
	// Control tables dropped under a running target: every call fails
	// with the database's error, none panics.
	if _, err := e.pool.Exec(ctx, `DROP SCHEMA `+pgx.Identifier{e.control}.Sanitize()+` CASCADE`); err != nil {
		t.Fatal(err)
	}
	errs := map[string]error{
		"Save":          tg.Save(ctx, k, projection.Checkpoint{}, at(1)),
		"Prepare":       tg.Prepare(ctx, k, nil, nil),
		"Promote":       tg.Promote(ctx, "broken", 1),
		"SetPartitions": tg.SetPartitions(ctx, "broken", 1, 2),
	}
	_, errs["Load"] = tg.Load(ctx, k)
	_, errs["Live"] = tg.Live(ctx, "broken")
	_, errs["Statuses"] = tg.Statuses(ctx)
	for op, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "does not exist") {
			t.Errorf("%s without control tables = %v; want the database's error", op, err)
		}
	}
}

func TestCanceledContexts(t *testing.T) {
	e := newEnv(t)
	tg := e.target(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	k := projection.Key{Projection: "canceled", Version: 1}
	errs := map[string]error{"SetPartitions": tg.SetPartitions(ctx, "canceled", 1, 2)}
	_, errs["Load"] = tg.Load(ctx, k)
	_, errs["Live"] = tg.Live(ctx, "canceled")
	_, errs["Statuses"] = tg.Statuses(ctx)
	for op, err := range errs {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context = %v; want context.Canceled", op, err)
		}
	}
	if st, err := tg.Statuses(t.Context()); err != nil || len(st) != 0 {
		t.Errorf("after canceled calls Statuses = %v, %v; want nothing written", st, err)
	}
}

func at(commit uint64) projection.Checkpoint {
	return projection.At(eventstore.Position{Commit: commit, Prepare: commit})
}

func TestNewCannotCreateControlTables(t *testing.T) {
	e := newEnv(t)
	// "pg_" names are reserved: the server refuses the schema.
	_, err := postgres.New(t.Context(), e.pool, postgres.WithSchema("pg_chronicle_"+e.prefix))
	if err == nil || !strings.Contains(err.Error(), "create control tables") {
		t.Fatalf("New with a reserved schema name = %v; want the server's refusal", err)
	}
}

func TestPromoteOntoAForeignSchemaChangesNothing(t *testing.T) {
	e := newEnv(t)
	tg := e.target(t)
	ctx := t.Context()
	k := projection.Key{Projection: "squatted", Version: 1}
	if err := tg.Prepare(ctx, k, nil, nil); err != nil {
		t.Fatal(err)
	}
	// Something else created the schema the live version must take.
	if _, err := e.pool.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{tg.Schema("squatted")}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	if err := tg.Promote(ctx, "squatted", 1); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("Promote onto a foreign schema = %v; want the server's error", err)
	}
	if v, err := tg.Live(ctx, "squatted"); err != nil || v != 0 {
		t.Errorf("after a failed Promote, Live = %d, %v; want 0", v, err)
	}
	if got := e.schemas(t); fmt.Sprint(got) != "[squatted squatted_v1]" {
		t.Errorf("after a failed Promote, schemas = %v; want both untouched", got)
	}
	if err := tg.SetPartitions(ctx, "", 1, 2); !errors.Is(err, projection.ErrInvalidCheckpoint) {
		t.Errorf("SetPartitions without a name = %v; want ErrInvalidCheckpoint", err)
	}
}
