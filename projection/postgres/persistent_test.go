package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/chronicle-go/chronicle/projection"
)

// TestTransact: handlers of a persistent-group runner write in the
// version's schema, no checkpoint moves, and a retired version is refused
// before apply runs.
func TestTransact(t *testing.T) {
	e := newEnv(t)
	tg := e.target(t)
	ctx := t.Context()
	k := projection.Key{Projection: "shared", Version: 1}
	path := func() (string, error) {
		var got string
		err := tg.Transact(ctx, k, func(ctx context.Context, tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SHOW search_path`).Scan(&got)
		})
		return got, err
	}
	if got, err := path(); err != nil || got != `"`+tg.VersionSchema("shared", 1)+`"` {
		t.Errorf("search_path of a version not live = %s, %v", got, err)
	}
	if err := tg.Promote(ctx, "shared", 1); err != nil {
		t.Fatal(err)
	}
	if got, err := path(); err != nil || got != `"`+tg.Schema("shared")+`"` {
		t.Errorf("search_path of the live version = %s, %v", got, err)
	}
	if cp, err := tg.Load(ctx, k); err != nil || !cp.IsZero() {
		t.Errorf("checkpoint after Transact = %v, %v; want none", cp, err)
	}
	failing := errors.New("handler failed")
	if err := tg.Transact(ctx, k, func(context.Context, pgx.Tx) error { return failing }); !errors.Is(err, failing) {
		t.Errorf("Transact = %v; want the handler's error", err)
	}
	if err := tg.Promote(ctx, "shared", 2); err != nil {
		t.Fatal(err)
	}
	applied := false
	if err := tg.Transact(ctx, k, func(context.Context, pgx.Tx) error { applied = true; return nil }); !errors.Is(err, projection.ErrRetired) || applied {
		t.Errorf("Transact on a retired version = %v (applied %v); want ErrRetired before apply", err, applied)
	}
	if err := tg.Transact(ctx, projection.Key{}, func(context.Context, pgx.Tx) error { return nil }); !errors.Is(err, projection.ErrInvalidCheckpoint) {
		t.Errorf("Transact(no key) = %v", err)
	}
}
