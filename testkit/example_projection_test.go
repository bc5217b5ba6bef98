package testkit_test

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/schema"
	"github.com/chronicle-go/chronicle/testkit"
)

// firstLineTB prints the first line of each failure: go-cmp diffs vary
// their spacing from run to run on purpose.
type firstLineTB struct{ printTB }

func (firstLineTB) Errorf(f string, a ...any) {
	line, _, _ := strings.Cut(fmt.Sprintf(f, a...), "\n")
	fmt.Println(line)
}

// placedCount is a read model that counts the orders placed: wrong under
// at-least-once delivery, as the fixture shows.
type placedCount struct{ N int }

func ExampleForProjection() {
	var t testing.TB = firstLineTB{} // in a test: the *testing.T
	reg := schema.MustNewRegistry()
	schema.MustRegister[OrderPlaced](reg, "OrderPlaced", 1)
	schema.MustRegister[OrderShipped](reg, "OrderShipped", 1)

	// The open orders: a set, which a redelivered event does not change.
	openOrders := func() (*projection.Projection[projection.NoTx], func() map[string]bool) {
		open := map[string]bool{}
		p := projection.New[projection.NoTx]("open_orders", projection.Category("order"), reg)
		projection.Handle(p, func(_ context.Context, ev projection.Event[OrderPlaced]) error {
			open[ev.Data.ID] = true
			return nil
		})
		projection.Handle(p, func(_ context.Context, ev projection.Event[OrderShipped]) error {
			delete(open, ev.Data.ID)
			return nil
		})
		return p, func() map[string]bool { return maps.Clone(open) }
	}
	testkit.ForProjection(t, reg, openOrders).
		Given(testkit.In("order-1", OrderPlaced{ID: "1"}), testkit.In("order-2", OrderPlaced{ID: "2"}, OrderShipped{ID: "2"})).
		Then(map[string]bool{"1": true})

	// A counter is not idempotent: the fixture reports it.
	counter := func() (*projection.Projection[projection.NoTx], func() placedCount) {
		var c placedCount
		p := projection.New[projection.NoTx]("placed_count", projection.Category("order"), reg)
		projection.Handle(p, func(_ context.Context, _ projection.Event[OrderPlaced]) error {
			c.N++
			return nil
		})
		return p, func() placedCount { return c }
	}
	testkit.ForProjection(t, reg, counter).
		Given(testkit.In("order-1", OrderPlaced{ID: "1"}), testkit.In("order-2", OrderPlaced{ID: "2"})).
		Then(placedCount{N: 2})
	// Output:
	// testkit: delivering the whole history again changed the read model; at-least-once delivery needs idempotent handlers (-once +after):
	// testkit: delivering every event twice in a row changed the read model; at-least-once delivery needs idempotent handlers (-once +after):
}
