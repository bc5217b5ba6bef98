package onboarding_test

import (
	"context"
	"testing"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/examples/onboarding"
	"github.com/chronicle-go/chronicle/schema"
	"github.com/chronicle-go/chronicle/testkit"
)

var (
	lines     = []onboarding.Line{{SKU: "BOOK-1", Quantity: 2}, {SKU: "PEN-7", Quantity: 1}}
	placed    = onboarding.OrderPlaced{UserID: "u-1", Lines: lines, TotalCents: 4200, Currency: "EUR"}
	paid      = onboarding.OrderPaid{PaymentID: "pay-9", AmountCents: 4200}
	shipped   = onboarding.OrderShipped{Carrier: "DHL", TrackingCode: "JD0123456"}
	cancelled = onboarding.OrderCancelled{Reason: "changed my mind"}
)

func TestPlaceOrder(t *testing.T) {
	orders := testkit.For(t, onboarding.OrderType, newRegistry(t))
	place := onboarding.PlaceOrder{UserID: "u-1", Lines: lines, TotalCents: 4200, Currency: "EUR"}

	orders.When(place.Decide).Then(placed).
		ThenState(onboarding.Order{Status: onboarding.StatusPlaced, UserID: "u-1", Lines: lines, TotalCents: 4200, Currency: "EUR"})
	orders.Given(placed).When(place.Decide).ThenError(onboarding.ErrAlreadyPlaced)

	for name, bad := range map[string]onboarding.PlaceOrder{
		"no lines":      {UserID: "u-1", TotalCents: 1, Currency: "EUR"},
		"bad SKU":       {UserID: "u-1", Lines: []onboarding.Line{{SKU: "book", Quantity: 1}}, TotalCents: 1, Currency: "EUR"},
		"zero quantity": {UserID: "u-1", Lines: []onboarding.Line{{SKU: "BOOK-1"}}, TotalCents: 1, Currency: "EUR"},
		"free":          {UserID: "u-1", Lines: lines, Currency: "EUR"},
		"currency":      {UserID: "u-1", Lines: lines, TotalCents: 1, Currency: "GBP"},
	} {
		t.Run(name, func(t *testing.T) {
			testkit.For(t, onboarding.OrderType, newRegistry(t)).When(bad.Decide).ThenError(schema.ErrValidation)
		})
	}
}

func TestPayOrder(t *testing.T) {
	orders := testkit.For(t, onboarding.OrderType, newRegistry(t))
	pay := onboarding.PayOrder{PaymentID: "pay-9", AmountCents: 4200}.Decide

	orders.Given(placed).When(pay).Then(paid)
	orders.Given(placed, paid).When(pay).ThenNothing() // the same payment again
	orders.Given(placed, paid).When(onboarding.PayOrder{PaymentID: "pay-10", AmountCents: 4200}.Decide).ThenError(onboarding.ErrAlreadyPaid)
	orders.Given(placed, paid, shipped).When(pay).ThenNothing()
	orders.Given(placed).When(onboarding.PayOrder{PaymentID: "pay-9", AmountCents: 4100}.Decide).ThenError(onboarding.ErrWrongAmount)
	orders.Given(placed, cancelled).When(pay).ThenError(onboarding.ErrCancelled)
	orders.When(pay).ThenError(onboarding.ErrNotPlaced)
}

func TestShipOrder(t *testing.T) {
	orders := testkit.For(t, onboarding.OrderType, newRegistry(t))
	ship := onboarding.ShipOrder{Carrier: "DHL", TrackingCode: "JD0123456"}.Decide

	orders.Given(placed, paid).When(ship).Then(shipped).ThenState(onboarding.Order{
		Status: onboarding.StatusShipped, UserID: "u-1", Lines: lines, TotalCents: 4200, Currency: "EUR", PaymentID: "pay-9",
	})
	orders.Given(placed).When(ship).ThenError(onboarding.ErrNotPaid)
	orders.Given(placed, paid, shipped).When(ship).ThenError(onboarding.ErrAlreadyShipped)
	orders.Given(placed, cancelled).When(ship).ThenError(onboarding.ErrCancelled)
	orders.Given(placed, paid).When(onboarding.ShipOrder{Carrier: "Pigeon", TrackingCode: "JD0123456"}.Decide).ThenError(schema.ErrValidation)
	orders.Given(placed, paid).When(onboarding.ShipOrder{Carrier: "UPS", TrackingCode: "lowercase"}.Decide).ThenError(schema.ErrValidation)
}

func TestCancelOrder(t *testing.T) {
	orders := testkit.For(t, onboarding.OrderType, newRegistry(t))
	cancel := onboarding.CancelOrder{Reason: "changed my mind"}.Decide

	orders.Given(placed).When(cancel).Then(cancelled)
	orders.Given(placed, paid).When(cancel).Then(onboarding.OrderCancelled{Reason: "changed my mind", Refund: true})
	orders.Given(placed, cancelled).When(cancel).ThenNothing()
	orders.Given(placed, paid, shipped).When(cancel).ThenError(onboarding.ErrAlreadyShipped)
	orders.When(cancel).ThenError(onboarding.ErrNotPlaced)
}

// Orders placed before OrderPlaced v2 are stored as v1; they load as v2.
func TestOrderPlacedV1IsUpcast(t *testing.T) {
	v1 := onboarding.OrderPlacedV1{UserID: "u-1", Items: []string{"BOOK-1", "PEN-7"}, Total: 19.99}
	upcast := onboarding.Order{
		Status: onboarding.StatusPlaced, UserID: "u-1", TotalCents: 1999, Currency: "USD",
		Lines: []onboarding.Line{{SKU: "BOOK-1", Quantity: 1}, {SKU: "PEN-7", Quantity: 1}},
	}
	orders := testkit.For(t, onboarding.OrderType, newRegistry(t))
	orders.Given(v1).When(onboarding.PayOrder{PaymentID: "p", AmountCents: 1999}.Decide).
		Then(onboarding.OrderPaid{PaymentID: "p", AmountCents: 1999}).
		ThenState(onboarding.Order{Status: onboarding.StatusPaid, PaymentID: "p", UserID: upcast.UserID, Lines: upcast.Lines, TotalCents: 1999, Currency: "USD"})

	// The same, from raw JSON as an old version of the service wrote it.
	reg := newRegistry(t)
	store := testkit.NewStore(t, "order-1", eventstore.EventData{
		Type: "OrderPlaced", Data: []byte(`{"userId":"u-1","items":["BOOK-1","PEN-7"],"total":19.99}`),
	})
	svc, err := onboarding.NewService(store, reg)
	if err != nil {
		t.Fatal(err)
	}
	a, err := svc.Orders.Load(context.Background(), "1")
	if err != nil {
		t.Fatal(err)
	}
	if a.State.TotalCents != upcast.TotalCents || len(a.State.Lines) != 2 || a.State.Currency != "USD" {
		t.Errorf("loaded %+v, want %+v", a.State, upcast)
	}

	// An old event that the v2 schema would reject fails to load, loudly.
	bad := testkit.NewStore(t, "order-2", eventstore.EventData{Type: "OrderPlaced", Data: []byte(`{"userId":"u-1","items":["book"],"total":1}`)})
	svc, _ = onboarding.NewService(bad, reg)
	if _, err := svc.Orders.Load(context.Background(), "2"); err == nil {
		t.Error("an upcast to an invalid v2 event loaded")
	}
}
