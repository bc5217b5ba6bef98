package onboarding_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/examples/onboarding"
)

func Example() {
	ctx := context.Background()
	store := memory.New() // sqlite or esdb in production: only this line changes
	defer store.Close()
	registry, err := onboarding.NewRegistry()
	if err != nil {
		panic(err)
	}
	svc, err := onboarding.NewService(store, registry)
	if err != nil {
		panic(err)
	}

	svc.Users.Create(ctx, "u-1", onboarding.RegisterUser{Email: "ada@example.com", Name: "Ada"}.Decide)
	svc.Users.Update(ctx, "u-1", onboarding.VerifyEmail{Email: "ada@example.com"}.Decide)
	svc.PlaceOrder(ctx, "o-1", onboarding.PlaceOrder{
		UserID:     "u-1",
		Lines:      []onboarding.Line{{SKU: "BOOK-1", Quantity: 2}},
		TotalCents: 3000,
		Currency:   "EUR",
	})
	_, err = svc.Orders.Update(ctx, "o-1", onboarding.ShipOrder{Carrier: "DHL", TrackingCode: "JD0123456"}.Decide)
	fmt.Println(errors.Is(err, onboarding.ErrNotPaid))
	svc.Orders.Update(ctx, "o-1", onboarding.PayOrder{PaymentID: "pay-1", AmountCents: 3000}.Decide)
	res, err := svc.Orders.Update(ctx, "o-1", onboarding.ShipOrder{Carrier: "DHL", TrackingCode: "JD0123456"}.Decide)
	fmt.Println(res.State.Status, res.Revision, err)

	for step, err := range svc.Orders.Replay(ctx, "o-1") {
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s → %s\n", step.Event.Type, step.State.Status)
	}
	// Output:
	// true
	// shipped 2 <nil>
	// OrderPlaced → placed
	// OrderPaid → paid
	// OrderShipped → shipped
}
