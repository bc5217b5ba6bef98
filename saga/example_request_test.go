package saga_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/saga"
)

// A tool without the workflow's step code (the chronicle CLI) records a
// retry for a saga that needs attention; the engine carries it out.
func ExampleRequestRetry() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	warehouseUp := false
	ok := func(context.Context, saga.StepContext[Order]) error { return nil }
	def := saga.New("fulfilment",
		saga.Step[Order]{Name: "reserve", Action: ok, Retry: fastRetry(1),
			Compensate: func(context.Context, saga.StepContext[Order]) error {
				if !warehouseUp {
					return errors.New("warehouse down")
				}
				fmt.Println("stock released")
				return nil
			}},
		saga.Step[Order]{Name: "charge", Retry: fastRetry(1),
			Action: func(context.Context, saga.StepContext[Order]) error { return errors.New("card declined") }},
	)
	engine, err := saga.NewEngine(store, newRegistry(), def)
	if err != nil {
		panic(err)
	}
	st, _ := engine.Start(ctx, "order-7", Order{OrderID: "order-7", Amount: 30})
	fmt.Println(st.Status)

	// Elsewhere, once the warehouse is back: `chronicle saga retry fulfilment order-7`.
	warehouseUp = true
	st, err = saga.RequestRetry(ctx, store, "fulfilment", "order-7")
	fmt.Println(st.Status, err)

	// The engine's next pass (Engine.Run calls ResumeAll every interval).
	n, err := engine.ResumeAll(ctx)
	st, _ = engine.Load(ctx, "order-7")
	fmt.Println(n, err, st.Status)
	// Output:
	// needs-attention
	// compensating <nil>
	// stock released
	// 1 <nil> compensated
}
