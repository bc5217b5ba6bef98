package onboarding

import (
	"errors"
	"fmt"

	"github.com/chronicle-go/chronicle/aggregate"
)

// Domain errors of orders.
var (
	ErrNotPlaced      = errors.New("onboarding: order not placed")
	ErrAlreadyPlaced  = errors.New("onboarding: order already placed")
	ErrAlreadyPaid    = errors.New("onboarding: order already paid")
	ErrWrongAmount    = errors.New("onboarding: payment does not match the order total")
	ErrNotPaid        = errors.New("onboarding: order not paid")
	ErrAlreadyShipped = errors.New("onboarding: order already shipped")
	ErrCancelled      = errors.New("onboarding: order cancelled")
)

// Status is where an order is in its life.
type Status string

// An order goes New → Placed → Paid → Shipped, or to Cancelled before it
// ships.
const (
	StatusNew       Status = ""
	StatusPlaced    Status = "placed"
	StatusPaid      Status = "paid"
	StatusShipped   Status = "shipped"
	StatusCancelled Status = "cancelled"
)

// Order is the state of an order.
type Order struct {
	Status     Status `json:"status"`
	UserID     string `json:"userId"`
	Lines      []Line `json:"lines"`
	TotalCents int64  `json:"totalCents"`
	Currency   string `json:"currency"`
	PaymentID  string `json:"paymentId"`
}

// OrderType describes the order aggregate: streams "order-<id>".
var OrderType = aggregate.Type[Order]{
	Category: "order",
	Evolve:   Order.evolve,
}

func (o Order) evolve(event any) Order {
	switch e := event.(type) {
	case OrderPlaced:
		o.Status, o.UserID, o.Lines = StatusPlaced, e.UserID, e.Lines
		o.TotalCents, o.Currency = e.TotalCents, e.Currency
	case OrderPaid:
		o.Status, o.PaymentID = StatusPaid, e.PaymentID
	case OrderShipped:
		o.Status = StatusShipped
	case OrderCancelled:
		o.Status = StatusCancelled
	}
	return o
}

// PlaceOrder places a new order.
type PlaceOrder struct {
	UserID     string
	Lines      []Line
	TotalCents int64
	Currency   string
}

// Decide implements the command.
func (c PlaceOrder) Decide(o Order) ([]any, error) {
	if o.Status != StatusNew {
		return nil, ErrAlreadyPlaced
	}
	return []any{OrderPlaced{UserID: c.UserID, Lines: c.Lines, TotalCents: c.TotalCents, Currency: c.Currency}}, nil
}

// PayOrder records the payment of the order's total. The same payment
// arriving twice changes nothing.
type PayOrder struct {
	PaymentID   string
	AmountCents int64
}

// Decide implements the command.
func (c PayOrder) Decide(o Order) ([]any, error) {
	switch o.Status {
	case StatusNew:
		return nil, ErrNotPlaced
	case StatusCancelled:
		return nil, ErrCancelled
	case StatusPaid, StatusShipped:
		if o.PaymentID == c.PaymentID {
			return nil, nil
		}
		return nil, ErrAlreadyPaid
	}
	if c.AmountCents != o.TotalCents {
		return nil, fmt.Errorf("%w: paid %d, total %d", ErrWrongAmount, c.AmountCents, o.TotalCents)
	}
	return []any{OrderPaid{PaymentID: c.PaymentID, AmountCents: c.AmountCents}}, nil
}

// ShipOrder ships a paid order.
type ShipOrder struct {
	Carrier      string
	TrackingCode string
}

// Decide implements the command.
func (c ShipOrder) Decide(o Order) ([]any, error) {
	switch o.Status {
	case StatusPaid:
		return []any{OrderShipped{Carrier: c.Carrier, TrackingCode: c.TrackingCode}}, nil
	case StatusShipped:
		return nil, ErrAlreadyShipped
	case StatusCancelled:
		return nil, ErrCancelled
	}
	return nil, ErrNotPaid
}

// CancelOrder cancels an order that has not shipped; a paid one is to be
// refunded. Cancelling twice changes nothing.
type CancelOrder struct {
	Reason string
}

// Decide implements the command.
func (c CancelOrder) Decide(o Order) ([]any, error) {
	switch o.Status {
	case StatusNew:
		return nil, ErrNotPlaced
	case StatusShipped:
		return nil, ErrAlreadyShipped
	case StatusCancelled:
		return nil, nil
	}
	return []any{OrderCancelled{Reason: c.Reason, Refund: o.Status == StatusPaid}}, nil
}
