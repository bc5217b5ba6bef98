package schema_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/schema"
	"github.com/chronicle-go/chronicle/testkit"
)

type UserRegistered struct {
	UserID string `json:"userId" jsonschema:"required,minLength=1"`
	Email  string `json:"email" jsonschema:"required,format=email"`
	Plan   string `json:"plan" jsonschema:"required,enum=free,enum=pro"`
	Seats  int    `json:"seats,omitempty" jsonschema:"minimum=1,maximum=100"`
}

// Register a type, encode an event, append it, read it back and decode it.
func Example() {
	ctx := context.Background()
	reg := schema.MustNewRegistry(
		schema.WithClock(testkit.NewClock(time.Date(2025, 5, 1, 9, 30, 0, 0, time.UTC))),
		schema.WithIDs(func() uuid.UUID { return uuid.MustParse("0196a1b2-0000-7000-8000-000000000001") }),
	)
	schema.MustRegister[UserRegistered](reg, "UserRegistered", 1)

	ctx = schema.WithCorrelation(ctx, "signup-42", "cmd-7")
	data, err := reg.Encode(ctx, UserRegistered{UserID: "u-1", Email: "ada@example.com", Plan: "pro"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(data.Data))
	fmt.Println(string(data.Metadata))

	store := memory.New()
	defer store.Close()
	if _, err := store.Append(ctx, "user-u-1", eventstore.NoStream, data); err != nil {
		fmt.Println(err)
		return
	}
	for rec, err := range store.ReadStream(ctx, "user-u-1", eventstore.ReadOptions{}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		ev, err := reg.Decode(rec)
		if err != nil {
			fmt.Println(err)
			return
		}
		u := ev.Data.(UserRegistered)
		fmt.Println(ev.Type, ev.Version, u.Email, ev.Metadata.CorrelationID, ev.Metadata.DecidedAt.Format(time.RFC3339))
	}
	// Output:
	// {"userId":"u-1","email":"ada@example.com","plan":"pro"}
	// {"schemaVersion":"1","$correlationId":"signup-42","$causationId":"cmd-7","decidedAt":"2025-05-01T09:30:00Z"}
	// UserRegistered 1 ada@example.com signup-42 2025-05-01T09:30:00Z
}

// An invalid event is rejected before it reaches a store, with every
// violation named by its JSON pointer and rule.
func ExampleValidationError() {
	reg := schema.MustNewRegistry()
	schema.MustRegister[UserRegistered](reg, "UserRegistered", 1)

	_, err := reg.Encode(context.Background(), UserRegistered{Email: "not-an-email", Plan: "gold", Seats: 500})
	var invalid *schema.ValidationError
	if errors.As(err, &invalid) {
		for _, v := range invalid.Violations {
			fmt.Println(v.Pointer, v.Keyword)
		}
	}
	fmt.Println(errors.Is(err, schema.ErrValidation))
	// Output:
	// /email format
	// /plan enum
	// /seats maximum
	// /userId minLength
	// true
}

type ItemAddedV1 struct {
	SKU   string `json:"sku" jsonschema:"required"`
	Price int    `json:"price" jsonschema:"required,minimum=0"` // cents
}

type ItemAddedV2 struct {
	SKU   string `json:"sku" jsonschema:"required"`
	Price Price  `json:"price" jsonschema:"required"`
}

type Price struct {
	Cents    int    `json:"cents" jsonschema:"required,minimum=0"`
	Currency string `json:"currency" jsonschema:"required,enum=EUR,enum=USD"`
}

// A v1 event stored long ago is decoded as the current v2 through an
// upcaster.
func ExampleRegistry_RegisterUpcaster() {
	reg := schema.MustNewRegistry()
	schema.MustRegister[ItemAddedV1](reg, "ItemAdded", 1)
	schema.MustRegister[ItemAddedV2](reg, "ItemAdded", 2)
	err := reg.RegisterUpcaster("ItemAdded", 1, func(data json.RawMessage) (json.RawMessage, error) {
		var v1 ItemAddedV1
		if err := json.Unmarshal(data, &v1); err != nil {
			return nil, err
		}
		return json.Marshal(ItemAddedV2{SKU: v1.SKU, Price: Price{Cents: v1.Price, Currency: "EUR"}})
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	old, _ := reg.Encode(context.Background(), ItemAddedV1{SKU: "BOOK-1", Price: 1299})
	ev, err := reg.Decode(eventstore.RecordedEvent{ID: old.ID, Type: old.Type, ContentType: old.ContentType, Data: old.Data, Metadata: old.Metadata})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("stored as v%d, decoded as v%d: %+v\n", ev.Metadata.SchemaVersion, ev.Version, ev.Data)
	// Output:
	// stored as v1, decoded as v2: {SKU:BOOK-1 Price:{Cents:1299 Currency:EUR}}
}

// Publishing at start-up records the schemas as events and catches a type
// changed without a new version.
func ExampleRegistry_Publish() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()

	v1 := schema.MustNewRegistry()
	schema.MustRegister[ItemAddedV1](v1, "ItemAdded", 1)
	fmt.Println(v1.Publish(ctx, store))

	changed := schema.MustNewRegistry()
	schema.MustRegister[ItemAddedV2](changed, "ItemAdded", 1) // should have been v2
	err := changed.Publish(ctx, store)
	fmt.Println(errors.Is(err, schema.ErrChanged))
	fmt.Println(err)
	// Output:
	// <nil>
	// true
	// schema: ItemAdded v1: the schema in code differs from the published one (/$defs added, /properties/price/$ref added, /properties/price/minimum removed, /properties/price/type removed); bump the version (register the changed type as v2) and register an upcaster from v1
}
