package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/chronicle-go/chronicle/examples/onboarding"
	"github.com/chronicle-go/chronicle/saga"
)

// demoBreakerOpen is how long the demo's breakers stay open: short, so the
// demo sees the payment provider recover, and long enough that the order
// placed after the one that opened it still finds it open on a slow
// machine.
const demoBreakerOpen = 3 * time.Second

// runDemo starts the service on an embedded store in a temporary
// directory, drives users and orders through its HTTP API — a payment
// outage trips the breaker and its orders are compensated — prints what
// happened, and shuts the service down.
func runDemo(ctx context.Context, o options, stdout, stderr io.Writer) error {
	dir, err := os.MkdirTemp("", "chronicle-shop-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	o.store = "sqlite://" + filepath.Join(dir, "shop.db")
	o.readModels = filepath.Join(dir, "readmodels")
	var out io.Writer
	if o.traces == "stdout" {
		out = stdout
	}
	spans := tracetest.NewInMemoryExporter()
	tp, err := newTracerProvider(ctx, out, spans)
	if err != nil {
		return err
	}
	defer tp.Shutdown(context.WithoutCancel(ctx))

	payments := NewPayments()
	s, err := start(ctx, o.store, "127.0.0.1:0", Config{
		ReadModels: o.readModels, Payments: payments,
		Breakers:       BreakerSettings{Failures: 3, Open: demoBreakerOpen},
		TracerProvider: tp,
		Logger:         slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	if err != nil {
		return err
	}
	d := &demo{ctx: ctx, out: stdout, base: s.addr, names: map[string]string{}}
	fmt.Fprintf(stdout, "Chronicle shop demo: store %s, read models in %s, API on %s\n", o.store, s.svc.read.where, d.base)
	err = d.script(payments)
	if err == nil {
		err = d.report(spans)
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return errors.Join(err, s.shutdown(shutdownCtx))
}

// demo is an HTTP client of the service that narrates what it does.
type demo struct {
	ctx    context.Context
	out    io.Writer
	base   string
	names  map[string]string // ID → name in the narration
	orders []string          // order IDs in order placed
	users  []string
	first  trace.TraceID // the trace of the first order's request
}

// response is an API response.
type response struct {
	status int
	header http.Header
	etag   string
	trace  trace.TraceID
	body   []byte
}

// call sends a request. The response's traceparent header tells the trace
// the request was served in.
func (d *demo) call(method, path string, body any, header ...string) (response, error) {
	var rd io.Reader
	if raw, ok := body.([]byte); ok { // sent as it is
		rd = bytes.NewReader(raw)
	} else if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return response{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(d.ctx, method, d.base+path, rd)
	if err != nil {
		return response{}, err
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, err
	}
	tc := propagation.TraceContext{}.Extract(context.Background(), propagation.HeaderCarrier(res.Header))
	return response{status: res.StatusCode, header: res.Header, etag: res.Header.Get("ETag"), body: b,
		trace: trace.SpanContextFromContext(tc).TraceID()}, nil
}

// expect calls the API and fails unless the status is want.
func (d *demo) expect(want int, method, path string, body any, header ...string) (response, error) {
	r, err := d.call(method, path, body, header...)
	if err != nil {
		return r, err
	}
	if r.status != want {
		return r, fmt.Errorf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.body)
	}
	return r, nil
}

func (d *demo) say(format string, args ...any) { fmt.Fprintf(d.out, format+"\n", args...) }

type created struct {
	ID string `json:"id"`
}

func (d *demo) register(name string) (string, error) {
	email := name + "@example.com"
	r, err := d.expect(http.StatusCreated, "POST", "/users", map[string]string{"email": email, "name": name})
	if err != nil {
		return "", err
	}
	var c created
	if err := json.Unmarshal(r.body, &c); err != nil {
		return "", err
	}
	d.names[c.ID], d.users = name, append(d.users, c.ID)
	d.say("  POST /users %-20s → %d, ETag %s", email, r.status, r.etag)
	r, err = d.expect(http.StatusOK, "POST", "/users/"+c.ID+"/verify-email", map[string]string{"email": email}, "If-Match", r.etag)
	if err != nil {
		return "", err
	}
	d.say("  POST /users/%s/verify-email (If-Match) → %d, ETag %s", name, r.status, r.etag)
	return c.ID, nil
}

// order places an order and waits for its fulfilment to end.
func (d *demo) order(label, userID string, lines []onboarding.Line, cents int64) (string, saga.Status, error) {
	r, err := d.expect(http.StatusCreated, "POST", "/orders", map[string]any{
		"userId": userID, "lines": lines, "totalCents": cents, "currency": "EUR",
	})
	if err != nil {
		return "", "", err
	}
	var c created
	if err := json.Unmarshal(r.body, &c); err != nil {
		return "", "", err
	}
	d.names[c.ID], d.orders = label, append(d.orders, c.ID)
	if len(d.orders) == 1 {
		d.first = r.trace
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := d.expect(http.StatusOK, "GET", "/orders/"+c.ID+"/fulfilment", nil)
		if err != nil {
			return "", "", err
		}
		var v FulfilmentView
		if err := json.Unmarshal(r.body, &v); err != nil {
			return "", "", err
		}
		switch v.Status {
		case saga.Completed, saga.Compensated, saga.NeedsAttention:
			d.say("  POST /orders %s for %s, %s → 201; fulfilment %s", label, d.names[userID], euros(cents), v.Status)
			return c.ID, v.Status, nil
		}
		if time.Now().After(deadline) {
			return "", "", fmt.Errorf("order %s: fulfilment still %s after 30s", label, v.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func euros(cents int64) string { return fmt.Sprintf("€%d.%02d", cents/100, cents%100) }

// script is the scenario.
func (d *demo) script(payments *Payments) error {
	d.say("\n1. Users sign up and verify their e-mail (ETag / If-Match)")
	ada, err := d.register("ada")
	if err != nil {
		return err
	}
	bob, err := d.register("bob")
	if err != nil {
		return err
	}

	d.say("\n2. Bad requests are refused with a problem document")
	for _, c := range []struct {
		method, path string
		body         any
		header       []string
	}{
		{"POST", "/users", []byte(`{"email": "ada@example.com", "name": }`), nil},
		{"POST", "/users", map[string]string{"email": "not-an-address", "name": "eve"}, nil},
		{"GET", "/orders/no-such-order", nil, nil},
		{"POST", "/users/" + ada + "/deactivate", map[string]string{"reason": "stale"}, []string{"If-Match", `"0"`}},
	} {
		r, err := d.call(c.method, c.path, c.body, c.header...)
		if err != nil {
			return err
		}
		var p problem
		if err := json.Unmarshal(r.body, &p); err != nil {
			return fmt.Errorf("%s %s: not a problem document: %s", c.method, c.path, r.body)
		}
		d.say("  %s %s → %d %s", c.method, strings.ReplaceAll(c.path, ada, "ada"), r.status, p.Title)
	}

	d.say("\n3. Orders are fulfilled by a saga: accept → reserve → charge → ship")
	if _, _, err := d.order("#1", ada, []onboarding.Line{{SKU: "BOOK-1", Quantity: 2}}, 3000); err != nil {
		return err
	}

	d.say("\n4. The payment provider goes down: the breaker opens, the orders are compensated")
	payments.SetDown(true)
	if _, _, err := d.order("#2", bob, []onboarding.Line{{SKU: "MUG-2", Quantity: 1}}, 1250); err != nil {
		return err
	}
	calls := payments.Calls()
	if _, _, err := d.order("#3", ada, []onboarding.Line{{SKU: "BOOK-1", Quantity: 1}}, 1500); err != nil {
		return err
	}
	d.say("  (the open breaker kept order #3 away from the provider: %d calls before it, %d after)", calls, payments.Calls())

	d.say("\n5. The provider recovers: after %v the breaker lets a probe through and closes", demoBreakerOpen)
	payments.SetDown(false)
	var b BreakerView
	if err := d.get("/breakers/"+PaymentsBreaker, &b); err != nil {
		return err
	}
	if len(b.History) == 0 || b.History[len(b.History)-1].Type != "BreakerOpened" {
		return fmt.Errorf("breaker %s: %+v, want it open", PaymentsBreaker, b)
	}
	time.Sleep(time.Until(b.History[len(b.History)-1].OpenUntil) + 50*time.Millisecond)
	if _, _, err := d.order("#4", bob, []onboarding.Line{{SKU: "MUG-2", Quantity: 2}}, 2500); err != nil {
		return err
	}
	return nil
}

// report prints the sagas' timelines, the read models, the breaker's
// history and the trace of the first order.
func (d *demo) report(spans *tracetest.InMemoryExporter) error {
	d.say("\nSaga timelines")
	for _, id := range d.orders {
		r, err := d.expect(http.StatusOK, "GET", "/orders/"+id+"/fulfilment", nil)
		if err != nil {
			return err
		}
		var v FulfilmentView
		if err := json.Unmarshal(r.body, &v); err != nil {
			return err
		}
		d.say("  order %s: %s", d.names[id], v.Status)
		for _, t := range v.Timeline {
			line := fmt.Sprintf("    %2d %-27s %-7s", t.Revision, t.Type, t.Step)
			if t.Attempt > 0 {
				line += fmt.Sprintf(" attempt %d", t.Attempt)
			}
			if t.Error != "" {
				line += "  " + t.Error
			}
			d.say("%s", strings.TrimRight(line, " "))
		}
	}

	d.say("\nRead model: users")
	var users []UserRow
	if err := d.get("/users", &users); err != nil {
		return err
	}
	for _, u := range users {
		d.say("  %-4s %-16s verified=%t", u.Name, u.Email, u.Verified)
	}
	d.say("\nRead model: orders per user")
	for _, id := range d.users {
		var orders []OrderRow
		if err := d.get("/users/"+id+"/orders", &orders); err != nil {
			return err
		}
		for _, o := range orders {
			d.say("  %-4s order %s %8s %s", d.names[id], d.names[o.ID], euros(o.TotalCents), o.Status)
		}
	}
	d.say("\nRead model: revenue per day")
	var revenue []RevenueRow
	if err := d.get("/revenue", &revenue); err != nil {
		return err
	}
	for _, r := range revenue {
		d.say("  %s %s paid orders %d, gross %s, refunded %s, net %s", r.Day, r.Currency, r.OrdersPaid,
			euros(r.GrossCents), euros(r.RefundedCents), euros(r.NetCents))
	}

	d.say("\nBreaker %q (stream %s)", PaymentsBreaker, "chronicle-breaker-"+PaymentsBreaker)
	var b BreakerView
	if err := d.get("/breakers/"+PaymentsBreaker, &b); err != nil {
		return err
	}
	for _, t := range b.History {
		d.say("  %-18s %s", t.Type, t.Reason)
	}
	d.say("  now %s", b.State)

	d.say("\nTrace of POST /orders for order #1 (one trace across the request, the commands, the saga steps; ~ marks projection batches linked to it)")
	tree := spanTree(spans.GetSpans(), d.first)
	for _, line := range strings.Split(strings.TrimRight(tree, "\n"), "\n") {
		d.say("  %s", line)
	}
	return nil
}

func (d *demo) get(path string, v any) error {
	r, err := d.expect(http.StatusOK, "GET", path, nil)
	if err != nil {
		return err
	}
	return json.Unmarshal(r.body, v)
}
