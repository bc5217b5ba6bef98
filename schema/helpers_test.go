package schema_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/goleak"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/schema"
	"github.com/chronicle-go/chronicle/testkit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Test event types.

type Address struct {
	Street string `json:"street" jsonschema:"required,minLength=1"`
	Zip    string `json:"zip" jsonschema:"required,pattern=^[0-9]{5}$"`
}

type CustomerRegistered struct {
	CustomerID string   `json:"customerId" jsonschema:"required,minLength=1,maxLength=16"`
	Email      string   `json:"email" jsonschema:"required,format=email"`
	Plan       string   `json:"plan" jsonschema:"required,enum=free,enum=pro"`
	Seats      int      `json:"seats,omitempty" jsonschema:"minimum=1,maximum=500"`
	Address    *Address `json:"address,omitempty"`
	Tags       []string `json:"tags,omitempty" jsonschema:"maxItems=3"`
}

type OrderPlacedV1 struct {
	OrderID string `json:"orderId" jsonschema:"required"`
	Amount  int    `json:"amount" jsonschema:"required,minimum=0"`
}

type OrderPlacedV2 struct {
	OrderID  string `json:"orderId" jsonschema:"required"`
	Amount   int    `json:"amount" jsonschema:"required,minimum=0"`
	Currency string `json:"currency" jsonschema:"required,enum=EUR,enum=USD"`
}

type OrderPlacedV3 struct {
	OrderID string `json:"orderId" jsonschema:"required"`
	Total   Money  `json:"total" jsonschema:"required"`
}

type Money struct {
	Amount   int    `json:"amount" jsonschema:"required,minimum=0"`
	Currency string `json:"currency" jsonschema:"required,enum=EUR,enum=USD"`
}

var (
	t0      = time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
	goodCus = CustomerRegistered{CustomerID: "c-1", Email: "ada@example.com", Plan: "pro", Seats: 3}
)

// seqIDs returns a deterministic ID source: 00000000-…-000000000001, …02, ….
func seqIDs() func() uuid.UUID {
	var n atomic.Uint64
	return func() uuid.UUID {
		var id uuid.UUID
		v := n.Add(1)
		for i := 0; i < 8; i++ {
			id[15-i] = byte(v >> (8 * i))
		}
		return id
	}
}

// newRegistry returns a registry with a fixed clock and sequential IDs and
// CustomerRegistered v1 registered.
func newRegistry(t testing.TB, opts ...schema.Option) *schema.Registry {
	t.Helper()
	opts = append([]schema.Option{schema.WithClock(testkit.NewClock(t0)), schema.WithIDs(seqIDs())}, opts...)
	r := schema.MustNewRegistry(opts...)
	if err := schema.Register[CustomerRegistered](r, "CustomerRegistered", 1); err != nil {
		t.Fatal(err)
	}
	return r
}

// record turns EventData into the RecordedEvent a store would return.
func record(d eventstore.EventData) eventstore.RecordedEvent {
	return eventstore.RecordedEvent{
		ID: d.ID, Type: d.Type, ContentType: d.ContentType, Data: d.Data, Metadata: d.Metadata,
		Stream: "customer-1", Created: t0,
	}
}

func mustEncode(t testing.TB, r *schema.Registry, ctx context.Context, event any) eventstore.EventData {
	t.Helper()
	d, err := r.Encode(ctx, event)
	if err != nil {
		t.Fatalf("Encode(%T): %v", event, err)
	}
	return d
}

func newStore(t testing.TB) *memory.Store {
	s := memory.New()
	t.Cleanup(func() { s.Close() })
	return s
}

// violations formats a ValidationError's violations as "pointer keyword".
func violations(t testing.TB, err error) []string {
	t.Helper()
	var ve *schema.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v is not a *ValidationError", err)
	}
	if !errors.Is(err, schema.ErrValidation) {
		t.Fatalf("error %v does not match ErrValidation", err)
	}
	var out []string
	for _, v := range ve.Violations {
		if v.Message == "" {
			t.Errorf("violation %+v has no message", v)
		}
		out = append(out, fmt.Sprintf("%s %s", v.Pointer, v.Keyword))
	}
	return out
}

func equalStrings(t testing.TB, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}
