package schema_test

import (
	"context"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/schema"
)

// benchOrder is a typical domain event: a handful of scalar fields with
// rules, a nested object and a list.
type benchOrder struct {
	OrderID    string      `json:"orderId" jsonschema:"required,format=uuid"`
	CustomerID string      `json:"customerId" jsonschema:"required,minLength=1,maxLength=64"`
	Email      string      `json:"email" jsonschema:"required,format=email"`
	Currency   string      `json:"currency" jsonschema:"required,enum=EUR,enum=USD,enum=GBP"`
	Total      int64       `json:"total" jsonschema:"required,minimum=0"`
	PlacedAt   time.Time   `json:"placedAt" jsonschema:"required"`
	Lines      []benchLine `json:"lines" jsonschema:"required,minItems=1"`
	Note       string      `json:"note,omitempty" jsonschema:"maxLength=500"`
}

type benchLine struct {
	SKU      string `json:"sku" jsonschema:"required,pattern=^[A-Z0-9-]+$"`
	Quantity int    `json:"quantity" jsonschema:"required,minimum=1"`
	Price    int64  `json:"price" jsonschema:"required,minimum=0"`
}

func benchEvent() benchOrder {
	return benchOrder{
		OrderID:    "7f1b0c52-4a84-4c8e-9a57-0d1f5b7f2c11",
		CustomerID: "customer-42",
		Email:      "ada@example.com",
		Currency:   "EUR",
		Total:      4990,
		PlacedAt:   time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		Lines: []benchLine{
			{SKU: "BOOK-1", Quantity: 1, Price: 2990},
			{SKU: "PEN-7", Quantity: 4, Price: 500},
		},
	}
}

func benchmarkEncode(b *testing.B, opts ...schema.Option) {
	reg := schema.MustNewRegistry(opts...)
	schema.MustRegister[benchOrder](reg, "OrderPlaced", 1)
	ctx := schema.WithCorrelation(context.Background(), "corr-1", "cause-1")
	ev := benchEvent()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Encode(ctx, ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeValidate encodes one event with schema validation.
func BenchmarkEncodeValidate(b *testing.B) { benchmarkEncode(b) }

// BenchmarkEncodeNoValidate encodes the same event without validation; the
// ratio of the two is what validation costs.
func BenchmarkEncodeNoValidate(b *testing.B) { benchmarkEncode(b, schema.WithoutValidation()) }

// BenchmarkDecode decodes one current-version event (metadata included).
func BenchmarkDecode(b *testing.B) {
	reg := schema.MustNewRegistry()
	schema.MustRegister[benchOrder](reg, "OrderPlaced", 1)
	ctx := schema.WithCorrelation(context.Background(), "corr-1", "cause-1")
	d, err := reg.Encode(ctx, benchEvent())
	if err != nil {
		b.Fatal(err)
	}
	rec := eventstore.RecordedEvent{ID: d.ID, Type: d.Type, ContentType: d.ContentType, Data: d.Data, Metadata: d.Metadata}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Decode(rec); err != nil {
			b.Fatal(err)
		}
	}
}
