package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/schema"
)

// orderPlaced is the Go type of the bench's payload.
type orderPlaced struct {
	OrderID  string      `json:"orderId"`
	Customer string      `json:"customer"`
	Lines    []orderLine `json:"lines"`
	Total    int         `json:"total"`
}

type orderLine struct {
	SKU   string `json:"sku"`
	Qty   int    `json:"qty"`
	Price int    `json:"price"`
}

// benchRegistry registers the bench's event type.
func benchRegistry() (*schema.Registry, error) {
	reg, err := schema.NewRegistry()
	if err != nil {
		return nil, err
	}
	return reg, schema.Register[orderPlaced](reg, "OrderPlaced", 1)
}

// projectionCatchUp catches a projection up over the whole of $all (the
// events read_all read) into an in-memory read model — the last revision
// and the sum of totals per stream — through a projection.Runner with
// in-memory checkpoints, and returns events of $all per second.
func (r *runner) projectionCatchUp(allEvents int) (float64, error) {
	reg, err := benchRegistry()
	if err != nil {
		return 0, err
	}
	type streamTotal struct {
		revision uint64
		total    int
	}
	model := make(map[string]streamTotal)
	handled := 0
	p := projection.New[projection.NoTx]("chronicle_bench", projection.AllStreams(), reg)
	projection.Handle(p, func(_ context.Context, ev projection.Event[orderPlaced]) error {
		st := model[ev.Record.Stream]
		if st.revision < ev.Record.Revision+1 { // idempotent, as at-least-once delivery needs
			model[ev.Record.Stream] = streamTotal{revision: ev.Record.Revision + 1, total: st.total + ev.Data.Total}
		}
		if r.placedByRun(&ev.Record) {
			handled++
		}
		return nil
	})
	return catchUp(r, p, projection.AtLeastOnce(&projection.MemoryCheckpoints{}, 0, 0), allEvents, &handled)
}

// catchUp runs p over the store into target until it has caught up, and
// returns events of $all (allEvents) per second. Events of other types are
// examined and not handled, events it cannot decode skipped (a bench
// pointed at a store writes nothing but its own streams into it); a handler
// failure is an error, and so is a count of the run's OrderPlaced events
// handled (the handlers count them in *handled) below the number written.
func catchUp[Tx any](r *runner, p *projection.Projection[Tx], target projection.Target[Tx], allEvents int, handled *int) (float64, error) {
	runner, err := projection.NewRunner(r.s, p, target, projection.OnUndecodable(projection.Skip), projection.OnFailure(projection.Stop))
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- runner.Run(ctx) }()
	waitErr := runner.WaitCaughtUp(ctx)
	elapsed := time.Since(start)
	cancel()
	if err := cmpErr(<-done, waitErr); err != nil {
		return 0, err // Run's error first: waitErr repeats it
	}
	if *handled < r.placed {
		return 0, fmt.Errorf("the projection handled %d of the %d OrderPlaced events the run wrote", *handled, r.placed)
	}
	return rate(allEvents, elapsed), nil
}
