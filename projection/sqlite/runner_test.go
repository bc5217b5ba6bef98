package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/schema"
)

type noted struct {
	Text string `json:"text"`
}

// TestRunnerRefusesOtherPartitionCount: a Runner tells the target its
// partition count, so a version cannot be run with another one.
func TestRunnerRefusesOtherPartitionCount(t *testing.T) {
	tg := open(t, t.TempDir())
	store := memory.New()
	defer store.Close()
	reg := schema.MustNewRegistry()
	schema.MustRegister[noted](reg, "Noted", 1)
	data, _ := reg.Encode(t.Context(), noted{"x"})
	res, err := store.Append(t.Context(), "notes-1", eventstore.Any, data)
	if err != nil {
		t.Fatal(err)
	}
	define := func() *projection.Projection[*sql.Tx] {
		p := projection.New[*sql.Tx]("notes", projection.Category("notes"), reg).
			Setup(func(ctx context.Context, tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `CREATE TABLE notes (text TEXT)`)
				return err
			})
		projection.On(p, func(ctx context.Context, tx *sql.Tx, ev projection.Event[noted]) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO notes VALUES (?)`, ev.Data.Text)
			return err
		})
		return p
	}
	r, err := projection.NewRunner(store, define(), tg, projection.WithWorkers(2))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	if err := r.WaitFor(t.Context(), res.Position); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	r3, _ := projection.NewRunner(store, define(), tg, projection.WithWorkers(3))
	err = r3.Run(t.Context())
	var pce *projection.PartitionCountError
	if !errors.Is(err, projection.ErrPartitionCount) || !errors.As(err, &pce) || pce.Stored != 2 || pce.Requested != 3 {
		t.Fatalf("Run with 3 workers after 2 = %v; want a PartitionCountError", err)
	}
}
