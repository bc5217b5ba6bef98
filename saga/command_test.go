package saga_test

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/chronicle-go/chronicle/aggregate"
	"github.com/chronicle-go/chronicle/internal/clock"
	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/saga"
	"github.com/chronicle-go/chronicle/schema"
	"github.com/chronicle-go/chronicle/testkit"
)

type orderStatus struct {
	Confirmed bool
}

// TestProcessSendsCommands: a process handler sends a command through an
// aggregate.Repository with its context; the aggregate's event carries the
// handled event as cause, its correlation ID and its trace.
func TestProcessSendsCommands(t *testing.T) {
	store := newMemory(t)
	reg := processRegistry()
	orders, err := aggregate.NewRepository(store, reg, aggregate.Type[orderStatus]{
		Category: "order",
		Evolve: func(s orderStatus, ev any) orderStatus {
			if _, ok := ev.(OrderConfirmed); ok {
				s.Confirmed = true
			}
			return s
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := saga.NewProcess[payState]("confirm", projection.Category("payments"), reg, nil)
	saga.On(p, func(ev projection.Event[PaymentReceived]) string { return ev.Data.OrderID },
		func(ctx context.Context, pc *saga.Context[payState], ev projection.Event[PaymentReceived]) error {
			_, err := orders.Execute(ctx, pc.Key, func(s orderStatus) ([]any, error) {
				if s.Confirmed {
					return nil, nil
				}
				return []any{OrderConfirmed{pc.Key}}, nil
			})
			return err
		})
	m, err := saga.NewManager(store, p, saga.WithProcessClock(clock.NewFake(testkit.Epoch)))
	if err != nil {
		t.Fatal(err)
	}
	stop := runManager(t, m)
	defer stop()

	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("test").Start(schema.WithCorrelation(t.Context(), "checkout-9", ""), "pay")
	paid := emit(t, store, reg, ctx, "payments-o9", PaymentReceived{"o9"})
	span.End()
	waitFor(t, m, paid.Position)

	recs := testkit.Records(t, store, "order-o9")
	if len(recs) != 1 {
		t.Fatalf("order-o9 has %d events", len(recs))
	}
	var md schema.Metadata
	if err := md.UnmarshalJSON(recs[0].Metadata); err != nil {
		t.Fatal(err)
	}
	payment := testkit.Records(t, store, "payments-o9")[0]
	if md.CorrelationID != "checkout-9" || md.CausationID != payment.ID.String() || md.TraceID != span.SpanContext().TraceID().String() {
		t.Errorf("command's event metadata = %+v; want correlation checkout-9, cause %s, trace %s", md, payment.ID, span.SpanContext().TraceID())
	}
}
