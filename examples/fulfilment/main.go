// Command fulfilment runs order-fulfilment sagas on an embedded store in a
// temporary directory: reserve stock → charge the payment → ship. The
// payment service is flaky and sits behind a circuit breaker whose state
// is an event stream (resilience.NewBreaker with WithStore). A failed
// charge releases the stock; a failed shipment refunds the payment and
// releases the stock. It prints each saga's timeline, read back from its
// stream, the events its steps recorded in the order's stream, and the
// breaker's history. Run it with:
//
//	go run ./examples/fulfilment
//
// Four orders run one after the other: one goes through; one is paid with a
// declined card (the stock is released); one cannot be shipped (refund,
// then release, in reverse order); and one is charged during an outage of
// the payment service: the breaker opens after three failures, rejects the
// calls that come while it is open, lets a probe through once it has
// waited, closes, and the order goes through.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	_ "github.com/chronicle-go/chronicle/eventstore/memory" // registers "memory:"
	_ "github.com/chronicle-go/chronicle/eventstore/sqlite" // registers "sqlite://"
	"github.com/chronicle-go/chronicle/resilience"
	"github.com/chronicle-go/chronicle/saga"
	"github.com/chronicle-go/chronicle/schema"
)

func main() {
	dir, err := os.MkdirTemp("", "chronicle-fulfilment-")
	if err != nil {
		log.Fatal(err)
	}
	err = run(context.Background(), os.Stdout, "sqlite://"+filepath.Join(dir, "fulfilment.db"))
	os.RemoveAll(dir)
	if err != nil {
		log.Fatal(err)
	}
}

// Order is a saga's input: what to reserve, charge and ship.
type Order struct {
	ID      string `json:"id" jsonschema:"required,minLength=1"`
	SKU     string `json:"sku" jsonschema:"required,minLength=1"`
	Qty     int    `json:"qty" jsonschema:"required,minimum=1"`
	Amount  int    `json:"amount" jsonschema:"required,minimum=1"` // cents
	Card    string `json:"card" jsonschema:"required"`
	Address string `json:"address" jsonschema:"required"`
}

// The events the steps append to the order's stream, "order-<id>".
type (
	StockReserved struct {
		SKU string
		Qty int
	}
	StockReleased struct {
		SKU string
		Qty int
	}
	PaymentCharged  struct{ Amount int }
	PaymentRefunded struct{ Amount int }
	OrderShipped    struct{ Address string }
)

func newRegistry() *schema.Registry {
	reg := schema.MustNewRegistry()
	schema.MustRegister[Order](reg, "FulfilmentRequested", 1)
	schema.MustRegister[StockReserved](reg, "StockReserved", 1)
	schema.MustRegister[StockReleased](reg, "StockReleased", 1)
	schema.MustRegister[PaymentCharged](reg, "PaymentCharged", 1)
	schema.MustRegister[PaymentRefunded](reg, "PaymentRefunded", 1)
	schema.MustRegister[OrderShipped](reg, "OrderShipped", 1)
	return reg
}

// run runs the orders against the store at url and writes what happened
// to w.
func run(ctx context.Context, w io.Writer, url string) error {
	store, err := eventstore.Open(ctx, url)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer store.Close()

	// The payment gateway's breaker: three failures in a row open it; after
	// 300 ms it lets one probe through. A declined card is the gateway
	// working, so it does not count. Its transitions are events of the
	// stream chronicle-breaker-payments, shared by every instance.
	breaker, err := resilience.NewBreaker("payments", resilience.BreakerConfig{
		ConsecutiveFailures: 3,
		OpenDuration:        300 * time.Millisecond,
		Classify: func(err error) resilience.Outcome {
			if errors.Is(err, errDeclined) {
				return resilience.OutcomeIgnored
			}
			return resilience.DefaultClassify(err)
		},
	}, resilience.WithStore(store), resilience.WithInstanceID("fulfilment-1"))
	if err != nil {
		return err
	}
	defer breaker.Close()

	f := newFulfilment(breaker)
	engine, err := saga.NewEngine(store, newRegistry(), f.definition())
	if err != nil {
		return err
	}
	orders := []Order{
		{ID: "1001", SKU: "lamp", Qty: 2, Amount: 5800, Card: "visa-ok", Address: "1 Main St"},
		{ID: "1002", SKU: "lamp", Qty: 1, Amount: 2900, Card: "visa-declined", Address: "2 Main St"},
		{ID: "1003", SKU: "lamp", Qty: 3, Amount: 8700, Card: "visa-ok", Address: "nowhere"},
		{ID: "1004", SKU: "lamp", Qty: 1, Amount: 2900, Card: "visa-ok", Address: "4 Main St"},
	}
	for _, o := range orders {
		if o.ID == "1004" {
			f.payments.outage(3) // the gateway fails its next three calls
			fmt.Fprintln(w, "\n-- the payment gateway goes down for its next three calls --")
		}
		st, err := engine.Start(ctx, o.ID, o)
		if err != nil {
			return fmt.Errorf("order %s: %w", o.ID, err)
		}
		if err := printSaga(ctx, w, store, st); err != nil {
			return err
		}
	}
	if err := breaker.Sync(ctx); err != nil { // its transitions are written
		return err
	}
	if err := printBreaker(ctx, w, store); err != nil {
		return err
	}
	fmt.Fprintf(w, "stock of lamp: %d of %d (reserved by completed orders only)\n", f.inventory.left("lamp"), stockAtStart)
	fmt.Fprintf(w, "payments: %d charged, %d refunded, net %d cents\n", f.payments.charged(), f.payments.refunded(), f.payments.net())
	return nil
}

// printSaga prints a saga's outcome and its timeline, read from its stream.
func printSaga(ctx context.Context, w io.Writer, store eventstore.Store, st saga.State) error {
	fmt.Fprintf(w, "\norder %s: %s", st.ID, st.Status)
	if st.Error != "" {
		fmt.Fprintf(w, " (%s)", st.Error)
	}
	fmt.Fprintln(w)
	timeline, err := saga.History(ctx, store, saga.StreamOf(st.Name, st.ID))
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, t := range timeline {
		line := fmt.Sprintf("  +%dms\t%s\t%s", t.Time.Sub(st.Started).Milliseconds(), t.Type, t.Step)
		if t.Attempt > 0 {
			line += fmt.Sprintf("\tattempt %d", t.Attempt)
		} else {
			line += "\t"
		}
		if t.Error != "" && t.Type != saga.EventCompensationStarted {
			line += "\t" + t.Error
		}
		fmt.Fprintln(tw, line)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// What the steps recorded in the order's own stream.
	var types []string
	for ev, err := range store.ReadStream(ctx, "order-"+st.ID, eventstore.ReadOptions{}) {
		if err != nil {
			return err
		}
		types = append(types, ev.Type)
	}
	_, err = fmt.Fprintf(w, "  stream order-%s: %s\n", st.ID, strings.Join(types, ", "))
	return err
}

// printBreaker prints the transitions of the payments breaker, read from
// its stream.
func printBreaker(ctx context.Context, w io.Writer, store eventstore.Store) error {
	stream := resilience.BreakerStream("payments")
	fmt.Fprintf(w, "\nbreaker payments (%s):\n", stream)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for ev, err := range store.ReadStream(ctx, stream, eventstore.ReadOptions{}) {
		if err != nil {
			return fmt.Errorf("read %s: %w", stream, err)
		}
		var b resilience.BreakerEvent
		if err := json.Unmarshal(ev.Data, &b); err != nil {
			return fmt.Errorf("%s@%d: %w", stream, ev.Revision, err)
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\n", ev.Revision, ev.Type, b.Reason)
	}
	return tw.Flush()
}
