package main

import (
	"slices"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/schema"
)

// One request that places an order is one trace: the caller's span, the
// server span, the commands (each with its append), every saga step with
// the calls and commands it makes. The projections, which handle events of
// many traces in one batch, have spans of their own linked to the commands
// whose events they handled, found through the trace context the events
// carry in their metadata.
func TestTraceOfOneRequest(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	t.Cleanup(func() { tp.Shutdown(t.Context()) })
	s := newShop(t, Config{TracerProvider: tp})
	ada := s.user("ada")

	caller := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:  trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		// Sampled: the server's spans follow the caller's decision.
		TraceFlags: trace.FlagsSampled,
	})
	orderID, r := s.order(ada, 1000, "traceparent", "00-"+caller.TraceID().String()+"-"+caller.SpanID().String()+"-01")
	if r.trace != caller.TraceID() {
		t.Fatalf("the response's traceparent names trace %s, want the caller's %s", r.trace, caller.TraceID())
	}
	s.fulfilled(orderID)

	// Projection spans end after their commit: wait for them.
	var all tracetest.SpanStubs
	find := func(name string, keep func(tracetest.SpanStub) bool) []tracetest.SpanStub {
		var out []tracetest.SpanStub
		for _, sp := range all {
			if sp.Name == name && (keep == nil || keep(sp)) {
				out = append(out, sp)
			}
		}
		return out
	}
	inTrace := func(sp tracetest.SpanStub) bool { return sp.SpanContext.TraceID() == caller.TraceID() }
	var create tracetest.SpanStub
	linkedTo := func(sp tracetest.SpanStub) bool {
		return slices.ContainsFunc(sp.Links, func(l sdktrace.Link) bool { return l.SpanContext.SpanID() == create.SpanContext.SpanID() })
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		all = spans.GetSpans()
		if c := find("aggregate.create order", inTrace); len(c) == 1 {
			create = c[0]
			if len(find("projection orders_per_user handle", linkedTo)) > 0 && len(find("projection revenue_per_day handle", linkedTo)) > 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("spans missing after 10s:\n%s", spanTree(all, caller.TraceID()))
		}
		time.Sleep(10 * time.Millisecond)
	}
	tree := spanTree(all, caller.TraceID())

	one := func(name string, parent trace.SpanContext) tracetest.SpanStub {
		t.Helper()
		got := find(name, func(sp tracetest.SpanStub) bool { return inTrace(sp) && sp.Parent.SpanID() == parent.SpanID() })
		if len(got) != 1 {
			t.Fatalf("%d spans %q under span %s, want 1; the trace:\n%s", len(got), name, parent.SpanID(), tree)
		}
		return got[0]
	}
	server := one("POST /orders", caller)
	if server.SpanKind != trace.SpanKindServer || !server.Parent.IsRemote() {
		t.Errorf("server span: kind %v, remote parent %t", server.SpanKind, server.Parent.IsRemote())
	}
	if !one("aggregate.create order", server.SpanContext).SpanContext.Equal(create.SpanContext) {
		t.Errorf("the order was created outside the request's span")
	}
	for _, step := range []string{"accept", "reserve", "charge", "ship"} {
		sp := one("saga fulfilment step "+step, server.SpanContext)
		switch step {
		case "charge":
			timeout := one("resilience.timeout payments", sp.SpanContext)
			one("resilience.breaker payments", timeout.SpanContext)
			one("aggregate.update order", sp.SpanContext)
		case "ship":
			one("aggregate.update order", sp.SpanContext)
			one("resilience.timeout mail", sp.SpanContext)
		}
	}
	for _, name := range []string{"projection orders_per_user handle", "projection revenue_per_day handle"} {
		for _, sp := range find(name, linkedTo) {
			if inTrace(sp) || sp.SpanKind != trace.SpanKindConsumer {
				t.Errorf("%s: in the request's trace %t, kind %v; want a consumer span of its own, linked", name, inTrace(sp), sp.SpanKind)
			}
		}
	}

	// The link comes from the event: its metadata carries the create span's
	// trace context.
	for e, err := range s.store.ReadStream(t.Context(), "order-"+orderID, eventstore.ReadOptions{MaxCount: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		var m schema.Metadata
		if err := m.UnmarshalJSON(e.Metadata); err != nil {
			t.Fatal(err)
		}
		if m.SpanContext().TraceID() != caller.TraceID() || m.SpanContext().SpanID() != create.SpanContext.SpanID() {
			t.Errorf("OrderPlaced metadata carries %s/%s, want %s/%s", m.SpanContext().TraceID(), m.SpanContext().SpanID(),
				caller.TraceID(), create.SpanContext.SpanID())
		}
	}
	if t.Failed() {
		t.Logf("the trace:\n%s", tree)
	}
}
