package onboarding

import (
	"encoding/json"
	"errors"
	"math"

	"github.com/chronicle-go/chronicle/schema"
)

// Events are facts, named in the past tense. Each is a plain struct whose
// JSON form is its payload; the jsonschema tags become its JSON Schema, which
// the registry checks on every encode, so an invalid event never reaches the
// store. (Tag options are separated by commas, so a pattern cannot use
// {m,n}: bound lengths with minLength and maxLength.) Events carry what happened, not the aggregate's own ID: that is in
// the stream name ("user-42").

// UserRegistered: a user signed up.
type UserRegistered struct {
	Email string `json:"email" jsonschema:"required,format=email"`
	Name  string `json:"name" jsonschema:"required,minLength=1,maxLength=100"`
}

// EmailVerified: the user proved they own Email.
type EmailVerified struct {
	Email string `json:"email" jsonschema:"required,format=email"`
}

// PreferencesSet: the user changed their preferences.
type PreferencesSet struct {
	Preferences Preferences `json:"preferences" jsonschema:"required"`
}

// Preferences are a user's settings.
type Preferences struct {
	Language   string `json:"language" jsonschema:"required,enum=en,enum=de,enum=fr"`
	Theme      string `json:"theme" jsonschema:"required,enum=light,enum=dark,enum=system"`
	Newsletter bool   `json:"newsletter"`
}

// UserDeactivated: the user's account was closed.
type UserDeactivated struct {
	Reason string `json:"reason" jsonschema:"required,minLength=1"`
}

// OrderPlaced is version 2 of the event: a user placed an order for lines
// at a total price in cents of a currency. Version 1 (OrderPlacedV1) had one
// unit of each item and a float total in US dollars; the registry upcasts
// stored v1 events to this shape with upcastOrderPlaced, so code only ever
// sees OrderPlaced.
type OrderPlaced struct {
	UserID     string `json:"userId" jsonschema:"required,minLength=1"`
	Lines      []Line `json:"lines" jsonschema:"required,minItems=1"`
	TotalCents int64  `json:"totalCents" jsonschema:"required,minimum=1"`
	Currency   string `json:"currency" jsonschema:"required,enum=EUR,enum=USD"`
}

// Line is one line of an order.
type Line struct {
	SKU      string `json:"sku" jsonschema:"required,minLength=3,maxLength=20,pattern=^[A-Z0-9-]+$"`
	Quantity int    `json:"quantity" jsonschema:"required,minimum=1,maximum=100"`
}

// OrderPlacedV1 is version 1 of OrderPlaced, kept so that old events still
// validate and decode. Nothing encodes it any more.
type OrderPlacedV1 struct {
	UserID string   `json:"userId" jsonschema:"required,minLength=1"`
	Items  []string `json:"items" jsonschema:"required,minItems=1"`
	Total  float64  `json:"total" jsonschema:"required,exclusiveMinimum=0"`
}

// OrderPaid: the payment of the order's total arrived.
type OrderPaid struct {
	PaymentID   string `json:"paymentId" jsonschema:"required,minLength=1"`
	AmountCents int64  `json:"amountCents" jsonschema:"required,minimum=1"`
}

// OrderShipped: the order left the warehouse.
type OrderShipped struct {
	Carrier      string `json:"carrier" jsonschema:"required,enum=DHL,enum=UPS,enum=FedEx"`
	TrackingCode string `json:"trackingCode" jsonschema:"required,minLength=6,maxLength=20,pattern=^[A-Z0-9]+$"`
}

// OrderCancelled: the order was cancelled before it shipped. Refund says
// whether it had been paid and is to be refunded.
type OrderCancelled struct {
	Reason string `json:"reason" jsonschema:"required,minLength=1"`
	Refund bool   `json:"refund"`
}

// Register registers every event type of the package, with its versions and
// upcasters, in r. Event type names are part of the stored data: never
// rename one.
func Register(r *schema.Registry) error {
	return errors.Join(
		schema.Register[UserRegistered](r, "UserRegistered", 1),
		schema.Register[EmailVerified](r, "EmailVerified", 1),
		schema.Register[PreferencesSet](r, "PreferencesSet", 1),
		schema.Register[UserDeactivated](r, "UserDeactivated", 1),
		schema.Register[OrderPlacedV1](r, "OrderPlaced", 1),
		schema.Register[OrderPlaced](r, "OrderPlaced", 2, schema.UpcastFrom(upcastOrderPlaced)),
		schema.Register[OrderPaid](r, "OrderPaid", 1),
		schema.Register[OrderShipped](r, "OrderShipped", 1),
		schema.Register[OrderCancelled](r, "OrderCancelled", 1),
	)
}

// NewRegistry returns a registry with the package's event types. Tests pass
// schema.WithClock(testkit.NewClock(…)) and schema.WithIDs for repeatable
// events.
func NewRegistry(opts ...schema.Option) (*schema.Registry, error) {
	r, err := schema.NewRegistry(opts...)
	if err != nil {
		return nil, err
	}
	if err := Register(r); err != nil {
		return nil, err
	}
	return r, nil
}

// upcastOrderPlaced turns OrderPlaced v1 data into v2: each item becomes a
// line of quantity 1, and the dollar total becomes cents of USD (v1 orders
// were all in US dollars). The registry validates the result against the v2
// schema.
func upcastOrderPlaced(data json.RawMessage) (json.RawMessage, error) {
	var v1 OrderPlacedV1
	if err := json.Unmarshal(data, &v1); err != nil {
		return nil, err
	}
	v2 := OrderPlaced{
		UserID:     v1.UserID,
		Lines:      make([]Line, len(v1.Items)),
		TotalCents: int64(math.Round(v1.Total * 100)),
		Currency:   "USD",
	}
	for i, sku := range v1.Items {
		v2.Lines[i] = Line{SKU: sku, Quantity: 1}
	}
	return json.Marshal(v2)
}
