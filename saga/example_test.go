package saga_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/saga"
)

// A failed charge compensates the reservation; the saga's stream tells the
// story.
func Example() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	step := func(name string, err error) saga.Step[Order] {
		return saga.Step[Order]{
			Name: name,
			Action: func(ctx context.Context, sc saga.StepContext[Order]) error {
				fmt.Println("do", name, "key", sc.Key)
				return err
			},
			Compensate: func(ctx context.Context, sc saga.StepContext[Order]) error {
				fmt.Println("undo", name)
				return nil
			},
			Retry: fastRetry(2),
		}
	}
	def := saga.New("fulfilment", step("reserve", nil), step("charge", errors.New("card declined")), step("ship", nil))
	engine, err := saga.NewEngine(store, newRegistry(), def)
	if err != nil {
		panic(err)
	}
	st, err := engine.Start(ctx, "order-7", Order{OrderID: "order-7", Amount: 30})
	fmt.Println(st.Status, err)
	history, _ := saga.History(ctx, store, def.Stream("order-7"))
	for _, h := range history {
		fmt.Println(h.Revision, h.Type, h.Step, h.Attempt)
	}
	// Output:
	// do reserve key fulfilment/order-7/reserve/1
	// do charge key fulfilment/order-7/charge/1
	// do charge key fulfilment/order-7/charge/2
	// undo reserve
	// compensated <nil>
	// 0 SagaStarted  0
	// 1 SagaStepStarted reserve 1
	// 2 SagaStepSucceeded reserve 1
	// 3 SagaStepStarted charge 1
	// 4 SagaStepFailed charge 1
	// 5 SagaStepStarted charge 2
	// 6 SagaStepFailed charge 2
	// 7 SagaCompensationStarted charge 0
	// 8 SagaCompensationAttempted reserve 1
	// 9 SagaStepCompensated reserve 1
	// 10 SagaCompensated  0
}
