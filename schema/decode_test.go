package schema_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/schema"
)

func TestDecodeRoundTrip(t *testing.T) {
	r := newRegistry(t)
	in := goodCus
	in.Address = &Address{Street: "Main St 1", Zip: "12345"}
	in.Tags = []string{"vip"}
	ctx := schema.WithCorrelation(context.Background(), "corr", "cause")
	ctx = schema.WithExtraMetadata(ctx, "tenant", json.RawMessage(`"acme"`))
	rec := record(mustEncode(t, r, ctx, in))
	ev, err := r.Decode(rec)
	if err != nil {
		t.Fatal(err)
	}
	want := schema.Event{
		Type: "CustomerRegistered", Version: 1, Data: in,
		Metadata: schema.Metadata{
			SchemaVersion: 1, CorrelationID: "corr", CausationID: "cause", DecidedAt: t0,
			Extra: map[string]json.RawMessage{"tenant": json.RawMessage(`"acme"`)},
		},
		Record: rec,
	}
	if diff := cmp.Diff(want, ev); diff != "" {
		t.Errorf("Decode (-want +got):\n%s", diff)
	}
}

// orderRegistry has OrderPlaced v1 and v3 as Go types; v2 exists only as
// the step between them.
func orderRegistry(t *testing.T, opts ...schema.Option) *schema.Registry {
	t.Helper()
	r := newRegistry(t, opts...)
	schema.MustRegister[OrderPlacedV1](r, "OrderPlaced", 1)
	schema.MustRegister[OrderPlacedV3](r, "OrderPlaced", 3, schema.UpcastFrom(v2ToV3))
	if err := r.RegisterUpcaster("OrderPlaced", 1, v1ToV2); err != nil {
		t.Fatal(err)
	}
	return r
}

// v1ToV2 adds the currency v1 events implied.
func v1ToV2(data json.RawMessage) (json.RawMessage, error) {
	var v map[string]any
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, err
	}
	v["currency"] = "EUR"
	return json.Marshal(v)
}

// v2ToV3 nests amount and currency into total.
func v2ToV3(data json.RawMessage) (json.RawMessage, error) {
	var v2 OrderPlacedV2
	if err := json.Unmarshal(data, &v2); err != nil {
		return nil, err
	}
	return json.Marshal(OrderPlacedV3{OrderID: v2.OrderID, Total: Money{Amount: v2.Amount, Currency: v2.Currency}})
}

func TestDecodeUpcastsThroughTheChain(t *testing.T) {
	r := orderRegistry(t)
	rec := record(mustEncode(t, r, context.Background(), OrderPlacedV1{OrderID: "o-1", Amount: 250}))
	ev, err := r.Decode(rec)
	if err != nil {
		t.Fatal(err)
	}
	want := OrderPlacedV3{OrderID: "o-1", Total: Money{Amount: 250, Currency: "EUR"}}
	if ev.Data != want || ev.Version != 3 || ev.Metadata.SchemaVersion != 1 {
		t.Errorf("Decode = %+v (v%d, stored v%d), want %+v v3 from v1", ev.Data, ev.Version, ev.Metadata.SchemaVersion, want)
	}
	// A v2 event, written by a build that had the v2 type, starts mid-chain.
	v2 := eventstore.RecordedEvent{Type: "OrderPlaced", ContentType: eventstore.ContentTypeJSON,
		Data: []byte(`{"orderId":"o-2","amount":5,"currency":"USD"}`), Metadata: []byte(`{"schemaVersion":"2"}`)}
	if ev, err := r.Decode(v2); err != nil || ev.Data != (OrderPlacedV3{OrderID: "o-2", Total: Money{5, "USD"}}) {
		t.Errorf("Decode(v2) = %+v, %v", ev.Data, err)
	}
	// Current events are not upcast.
	v3 := OrderPlacedV3{OrderID: "o-3", Total: Money{7, "USD"}}
	if ev, err := r.Decode(record(mustEncode(t, r, context.Background(), v3))); err != nil || ev.Data != v3 {
		t.Errorf("Decode(v3) = %+v, %v", ev.Data, err)
	}
}

func TestDecodeWithoutSchemaVersionIsV1(t *testing.T) {
	r := orderRegistry(t)
	for _, md := range []string{"", `{}`, `{"other":1}`} {
		rec := eventstore.RecordedEvent{Type: "OrderPlaced", Data: []byte(`{"orderId":"o","amount":1}`), Metadata: []byte(md)}
		ev, err := r.Decode(rec)
		if err != nil || ev.Metadata.SchemaVersion != 1 || ev.Version != 3 {
			t.Errorf("metadata %q: Decode = v%d from v%d, %v", md, ev.Version, ev.Metadata.SchemaVersion, err)
		}
	}
}

func TestDecodeUpcastFailures(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name     string
		setup    func(r *schema.Registry)
		from, to int
		cause    error
	}{
		{"missing upcaster", func(r *schema.Registry) {
			schema.MustRegister[OrderPlacedV1](r, "OrderPlaced", 1)
			schema.MustRegister[OrderPlacedV2](r, "OrderPlaced", 2)
		}, 1, 2, nil},
		{"upcaster fails", func(r *schema.Registry) {
			schema.MustRegister[OrderPlacedV1](r, "OrderPlaced", 1)
			schema.MustRegister[OrderPlacedV2](r, "OrderPlaced", 2, schema.UpcastFrom(func(json.RawMessage) (json.RawMessage, error) { return nil, boom }))
		}, 1, 2, boom},
		{"upcaster output invalid", func(r *schema.Registry) {
			schema.MustRegister[OrderPlacedV1](r, "OrderPlaced", 1)
			schema.MustRegister[OrderPlacedV2](r, "OrderPlaced", 2, schema.UpcastFrom(schema.Identity)) // lacks currency
		}, 1, 2, schema.ErrValidation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRegistry(t)
			tt.setup(r)
			rec := record(mustEncode(t, r, context.Background(), OrderPlacedV1{OrderID: "o", Amount: 1}))
			ev, err := r.Decode(rec)
			var ue *schema.UpcastError
			if !errors.As(err, &ue) || !errors.Is(err, schema.ErrUpcast) || ue.From != tt.from || ue.To != tt.to || ue.Type != "OrderPlaced" {
				t.Fatalf("Decode error = %v, want an UpcastError v%d→v%d", err, tt.from, tt.to)
			}
			if tt.cause == nil && (ue.Unwrap() != nil || !strings.Contains(err.Error(), "no upcaster")) {
				t.Errorf("error %v, want no cause", err)
			}
			if tt.cause != nil && !errors.Is(err, tt.cause) {
				t.Errorf("error %v does not wrap %v", err, tt.cause)
			}
			if ev.Data != nil || ev.Record.Type != "OrderPlaced" {
				t.Errorf("failed Decode returned %+v", ev)
			}
		})
	}
}

func TestDecodeUnknown(t *testing.T) {
	unknownType := eventstore.RecordedEvent{Type: "Mystery", Data: []byte(`{}`), Metadata: []byte(`{"$correlationId":"c"}`)}
	newer := eventstore.RecordedEvent{Type: "CustomerRegistered", Data: []byte(`{}`), Metadata: []byte(`{"schemaVersion":"9"}`)}
	orphan := eventstore.RecordedEvent{Type: "OrderPlaced", Data: []byte(`{}`), Metadata: []byte(`{"schemaVersion":"1"}`)}
	for _, policy := range []schema.UnknownPolicy{schema.Fail, schema.Skip} {
		t.Run(policy.String(), func(t *testing.T) {
			r := newRegistry(t, schema.WithUnknown(policy))
			schema.MustRegister[OrderPlacedV2](r, "OrderPlaced", 2) // v1 has neither a type nor an upcaster
			skipped := policy == schema.Skip

			ev, err := r.Decode(unknownType)
			var ut *schema.UnknownTypeError
			if !errors.As(err, &ut) || ut.Type != "Mystery" || ut.Skipped != skipped || !errors.Is(err, schema.ErrUnknownType) || errors.Is(err, schema.ErrSkipped) != skipped {
				t.Errorf("unknown type: %v", err)
			}
			if ev.Type != "Mystery" || ev.Metadata.CorrelationID != "c" || ev.Data != nil {
				t.Errorf("unknown type: event %+v lacks what is known", ev)
			}
			if skipped != strings.Contains(err.Error(), "skipped") {
				t.Errorf("message %q", err)
			}

			for _, rec := range []eventstore.RecordedEvent{newer, orphan} {
				_, err = r.Decode(rec)
				var uv *schema.UnknownVersionError
				if !errors.As(err, &uv) || uv.Type != rec.Type || uv.Skipped != skipped || !errors.Is(err, schema.ErrUnknownVersion) || errors.Is(err, schema.ErrSkipped) != skipped {
					t.Errorf("unknown version of %s: %v", rec.Type, err)
				}
				if skipped != strings.Contains(err.Error(), "skipped") {
					t.Errorf("message %q", err)
				}
			}
		})
	}
}

func TestDecodeMalformed(t *testing.T) {
	tests := []struct {
		name string
		rec  eventstore.RecordedEvent
	}{
		{"metadata not an object", eventstore.RecordedEvent{Metadata: []byte(`[1]`)}},
		{"metadata not JSON", eventstore.RecordedEvent{Metadata: []byte(`{`)}},
		{"schema version not a string", eventstore.RecordedEvent{Metadata: []byte(`{"schemaVersion":1}`)}},
		{"schema version not a number", eventstore.RecordedEvent{Metadata: []byte(`{"schemaVersion":"one"}`)}},
		{"schema version 0", eventstore.RecordedEvent{Metadata: []byte(`{"schemaVersion":"0"}`)}},
		{"decided-at not a time", eventstore.RecordedEvent{Metadata: []byte(`{"decidedAt":"yesterday"}`)}},
		{"binary content", eventstore.RecordedEvent{ContentType: eventstore.ContentTypeBinary, Data: []byte{1}}},
		{"data not JSON", eventstore.RecordedEvent{Data: []byte(`{"customerId":`)}},
		{"data of the wrong shape", eventstore.RecordedEvent{Data: []byte(`{"customerId":5}`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRegistry(t)
			tt.rec.Type = "CustomerRegistered"
			if tt.rec.Data == nil {
				tt.rec.Data = []byte(`{}`)
			}
			_, err := r.Decode(tt.rec)
			if !errors.Is(err, schema.ErrMalformed) || !strings.HasPrefix(err.Error(), "schema: ") {
				t.Errorf("Decode = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestDecodeConcurrently(t *testing.T) {
	r := orderRegistry(t)
	recs := make([]eventstore.RecordedEvent, 50)
	for i := range recs {
		recs[i] = record(mustEncode(t, r, context.Background(), OrderPlacedV1{OrderID: fmt.Sprint(i), Amount: i}))
	}
	errs := make(chan error, 16)
	for g := 0; g < 16; g++ {
		go func() {
			for i, rec := range recs {
				ev, err := r.Decode(rec)
				if err == nil && ev.Data.(OrderPlacedV3).Total.Amount != i {
					err = fmt.Errorf("event %d decoded as %+v", i, ev.Data)
				}
				if err == nil {
					_, err = r.Encode(context.Background(), ev.Data)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for g := 0; g < 16; g++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
