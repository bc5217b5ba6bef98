package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/examples/onboarding"
	"github.com/chronicle-go/chronicle/saga"
	"github.com/chronicle-go/chronicle/schema"
)

// shop is a service under test: on a memory store, with SQLite read models
// in a temporary directory, served by httptest.
type shop struct {
	t        *testing.T
	store    eventstore.Store
	svc      *Service
	srv      *httptest.Server
	payments *Payments
}

func newShop(t *testing.T, cfg Config) *shop {
	t.Helper()
	store := memory.New()
	cfg.Store = store
	cfg.ReadModels = t.TempDir()
	if cfg.Payments == nil {
		cfg.Payments = NewPayments()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if cfg.Breakers.Open == 0 {
		cfg.Breakers.Open = time.Hour
	}
	if cfg.Sweep == 0 {
		cfg.Sweep = -1 // tests that want it call StartUnfulfilled
	}
	svc, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- svc.Run(ctx) }()
	if err := svc.read.WaitCaughtUp(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(func() {
		srv.Close()
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
		svc.Drain(context.Background())
		if err := svc.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		store.Close()
	})
	return &shop{t: t, store: store, svc: svc, srv: srv, payments: cfg.Payments}
}

// do sends body (a []byte as it is, anything else as JSON) with header
// pairs, through the demo's client.
func (s *shop) do(method, path string, body any, header ...string) response {
	s.t.Helper()
	d := &demo{ctx: s.t.Context(), base: s.srv.URL}
	r, err := d.call(method, path, body, header...)
	if err != nil {
		s.t.Fatal(err)
	}
	return r
}

// must sends a request that must answer want, and decodes its body into v
// (when not nil).
func (s *shop) must(want int, method, path string, body, v any, header ...string) response {
	s.t.Helper()
	r := s.do(method, path, body, header...)
	if r.status != want {
		s.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.body)
	}
	if v != nil {
		if err := json.Unmarshal(r.body, v); err != nil {
			s.t.Fatalf("%s %s: %v: %s", method, path, err, r.body)
		}
	}
	return r
}

// user registers and verifies a user and returns its ID.
func (s *shop) user(name string) string {
	s.t.Helper()
	var u aggregateView[json.RawMessage]
	r := s.must(http.StatusCreated, "POST", "/users", map[string]string{"email": name + "@example.com", "name": name}, &u)
	s.must(http.StatusOK, "POST", "/users/"+u.ID+"/verify-email", map[string]string{"email": name + "@example.com"}, nil,
		"If-Match", r.header.Get("ETag"))
	return u.ID
}

// order places an order and returns its ID and the response.
func (s *shop) order(userID string, cents int64, header ...string) (string, response) {
	s.t.Helper()
	var o aggregateView[json.RawMessage]
	r := s.must(http.StatusCreated, "POST", "/orders", map[string]any{
		"userId": userID, "lines": []map[string]any{{"sku": "BOOK-1", "quantity": 1}}, "totalCents": cents, "currency": "EUR",
	}, &o, header...)
	return o.ID, r
}

// fulfilled waits for an order's saga to end and returns its view.
func (s *shop) fulfilled(orderID string) FulfilmentView {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var v FulfilmentView
		s.must(http.StatusOK, "GET", "/orders/"+orderID+"/fulfilment", nil, &v)
		switch v.Status {
		case saga.Completed, saga.Compensated, saga.NeedsAttention:
			return v
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("order %s: fulfilment still %s", orderID, v.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// events counts every event in the store, framework streams included.
func (s *shop) events() int {
	s.t.Helper()
	n := 0
	for _, err := range s.store.ReadAll(s.t.Context(), eventstore.ReadAllOptions{}) {
		if err != nil {
			s.t.Fatal(err)
		}
		n++
	}
	return n
}

// Every bad request gets its status and a problem document, never a 500,
// and writes nothing.
func TestBadRequests(t *testing.T) {
	s := newShop(t, Config{})
	ada := s.user("ada")
	unverified := ""
	{
		var u aggregateView[json.RawMessage]
		s.must(http.StatusCreated, "POST", "/users", map[string]string{"email": "bob@example.com", "name": "bob"}, &u)
		unverified = u.ID
	}
	order := func(fields map[string]any) map[string]any {
		o := map[string]any{"userId": ada, "lines": []map[string]any{{"sku": "BOOK-1", "quantity": 1}}, "totalCents": 1000, "currency": "EUR"}
		for k, v := range fields {
			o[k] = v
		}
		return o
	}
	for _, c := range []struct {
		name         string
		method, path string
		body         any
		header       []string
		status       int
		title        string
	}{
		{"malformed JSON", "POST", "/users", []byte(`{"email": "x@example.com", "name": }`), nil, 400, "Malformed JSON"},
		{"not an object", "POST", "/users", []byte(`["x@example.com"]`), nil, 400, "Malformed JSON"},
		{"unknown field", "POST", "/users", map[string]string{"email": "x@example.com", "name": "x", "role": "admin"}, nil, 400, "Malformed JSON"},
		{"trailing data", "POST", "/users", []byte(`{"email": "x@example.com", "name": "x"} {}`), nil, 400, "Malformed JSON"},
		{"empty body", "POST", "/orders", []byte(``), nil, 400, "Malformed JSON"},
		{"body over 1 MiB", "POST", "/users", []byte(`{"email": "x@example.com", "name": "` + strings.Repeat("x", maxBody) + `"}`), nil, 413, "Content Too Large"},
		{"invalid email", "POST", "/users", map[string]string{"email": "not-an-address", "name": "x"}, nil, 422, "Invalid event"},
		{"empty name", "POST", "/users", map[string]string{"email": "x@example.com", "name": ""}, nil, 422, "Invalid event"},
		{"bad SKU", "POST", "/orders", order(map[string]any{"lines": []map[string]any{{"sku": "book", "quantity": 1}}}), nil, 422, "Invalid event"},
		{"no lines", "POST", "/orders", order(map[string]any{"lines": []any{}}), nil, 422, "Invalid event"},
		{"zero total", "POST", "/orders", order(map[string]any{"totalCents": 0}), nil, 422, "Invalid event"},
		{"unknown currency", "POST", "/orders", order(map[string]any{"currency": "GBP"}), nil, 422, "Invalid event"},
		{"order for an unknown user", "POST", "/orders", order(map[string]any{"userId": "nobody"}), nil, 422, "Unknown user"},
		{"order for an unverified user", "POST", "/orders", order(map[string]any{"userId": unverified}), nil, 409, "Command rejected"},
		{"unknown user", "GET", "/users/nobody", nil, nil, 404, "Not Found"},
		{"orders of an unknown user", "GET", "/users/nobody/orders", nil, nil, 404, "Not Found"},
		{"verify an unknown user", "POST", "/users/nobody/verify-email", map[string]string{"email": "x@example.com"}, nil, 404, "Not Found"},
		{"unknown order", "GET", "/orders/nothing", nil, nil, 404, "Not Found"},
		{"cancel an unknown order", "POST", "/orders/nothing/cancel", map[string]string{"reason": "r"}, nil, 404, "Not Found"},
		{"fulfilment of an unknown order", "GET", "/orders/nothing/fulfilment", nil, nil, 404, "Not Found"},
		{"unknown breaker", "GET", "/breakers/nothing", nil, nil, 404, "Not Found"},
		{"unknown route", "GET", "/nothing", nil, nil, 404, "Not Found"},
		{"wrong method", "DELETE", "/users/" + ada, nil, nil, 405, "Method Not Allowed"},
		{"wrong method on a collection", "PUT", "/orders", map[string]string{}, nil, 405, "Method Not Allowed"},
		{"stale If-Match", "POST", "/users/" + ada + "/deactivate", map[string]string{"reason": "r"}, []string{"If-Match", `"0"`}, 412, "Stale If-Match"},
		{"If-Match ahead", "POST", "/users/" + ada + "/deactivate", map[string]string{"reason": "r"}, []string{"If-Match", `"7"`}, 412, "Stale If-Match"},
		{"unquoted If-Match", "POST", "/users/" + ada + "/deactivate", map[string]string{"reason": "r"}, []string{"If-Match", `1`}, 400, "Bad If-Match"},
		{"If-Match not a revision", "POST", "/users/" + ada + "/deactivate", map[string]string{"reason": "r"}, []string{"If-Match", `"abc"`}, 400, "Bad If-Match"},
		{"unknown theme", "PUT", "/users/" + ada + "/preferences", map[string]any{"language": "en", "theme": "neon"}, nil, 422, "Invalid event"},
		{"wrong e-mail", "POST", "/users/" + ada + "/verify-email", map[string]string{"email": "other@example.com"}, nil, 409, "Command rejected"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := s.events()
			r := s.do(c.method, c.path, c.body, c.header...)
			if r.status != c.status {
				t.Errorf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type %q", ct)
			}
			var p problem
			if err := json.Unmarshal(r.body, &p); err != nil {
				t.Fatalf("not a problem document: %v: %s", err, r.body)
			}
			if p.Status != c.status || p.Title != c.title || p.Type != "about:blank" || p.Instance != c.path {
				t.Errorf("problem %+v, want status %d, title %q, instance %q", p, c.status, c.title, c.path)
			}
			if c.status == 422 && c.title == "Invalid event" && (len(p.Violations) == 0 || p.Violations[0].Pointer == "" || p.Violations[0].Keyword == "") {
				t.Errorf("no violations listed: %s", r.body)
			}
			if c.status == http.StatusMethodNotAllowed && r.header.Get("Allow") == "" {
				t.Errorf("405 without Allow")
			}
			if after := s.events(); after != before {
				t.Errorf("%d events written by a refused request", after-before)
			}
		})
	}
}

// Of writers that read the same revision, exactly one wins; the others get
// 412 and write nothing.
func TestIfMatchRace(t *testing.T) {
	s := newShop(t, Config{})
	ada := s.user("ada")
	var u aggregateView[json.RawMessage]
	etag := s.must(http.StatusOK, "GET", "/users/"+ada, nil, &u).header.Get("ETag")
	if etag != `"1"` {
		t.Fatalf("ETag %s, want \"1\"", etag)
	}
	const writers = 16
	statuses := make(chan int, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			r := s.do("POST", "/users/"+ada+"/deactivate", map[string]string{"reason": "writer " + string(rune('a'+i))}, "If-Match", etag)
			statuses <- r.status
		})
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for st := range statuses {
		count[st]++
	}
	if count[200] != 1 || count[412] != writers-1 {
		t.Fatalf("statuses %v, want one 200 and %d 412", count, writers-1)
	}
	n := 0
	for e, err := range s.store.ReadStream(t.Context(), "user-"+ada, eventstore.ReadOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Type == "UserDeactivated" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d UserDeactivated events, want 1", n)
	}
	if got := s.must(http.StatusOK, "GET", "/users/"+ada, nil, nil).header.Get("ETag"); got != `"2"` {
		t.Fatalf("ETag after the race %s, want \"2\"", got)
	}
}

// Without If-Match, a writer that loses a race decides again on fresh
// state (up to the repository's retry limit; past it, 503): it never gets
// the 412 that means "you sent a stale If-Match".
func TestConcurrentWritesWithoutIfMatch(t *testing.T) {
	s := newShop(t, Config{})
	ada := s.user("ada")
	const writers, writes = 8, 10
	statuses := make(chan int, writers*writes)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range writes {
				prefs := onboarding.Preferences{Language: []string{"en", "de", "fr"}[w%3],
					Theme: []string{"light", "dark"}[i%2], Newsletter: w%2 == 0}
				statuses <- s.do("PUT", "/users/"+ada+"/preferences", prefs).status
			}
		})
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for st := range statuses {
		count[st]++
	}
	t.Logf("statuses %v", count)
	if count[http.StatusOK] == 0 || count[http.StatusOK]+count[http.StatusServiceUnavailable] != writers*writes {
		t.Fatalf("statuses %v, want 200s (and 503s past the retry limit)", count)
	}
}

// A write's response means the read models show it: no sleeping, no
// polling.
func TestReadYourWrites(t *testing.T) {
	s := newShop(t, Config{})
	for i := range 10 {
		id := s.user("user" + string(rune('a'+i)))
		var users []UserRow
		s.must(http.StatusOK, "GET", "/users", nil, &users)
		if len(users) != i+1 || users[i].ID != id || !users[i].Verified {
			t.Fatalf("after registering and verifying %s, the user list is %+v", id, users)
		}
		orderID, _ := s.order(id, 1000)
		var orders []OrderRow
		s.must(http.StatusOK, "GET", "/users/"+id+"/orders", nil, &orders)
		if len(orders) != 1 || orders[0].ID != orderID {
			t.Fatalf("after placing %s, the orders of %s are %+v", orderID, id, orders)
		}
	}
}

// An order is shipped; during a payment outage the breaker opens after
// three failures, the orders are compensated (stock released, order
// cancelled, customer told), and calls stop reaching the provider.
func TestFulfilment(t *testing.T) {
	s := newShop(t, Config{Breakers: BreakerSettings{Failures: 3, Open: time.Hour}})
	ada := s.user("ada")
	stock := s.svc.deps.warehouse.Stock("BOOK-1")
	shipped, _ := s.order(ada, 1000)
	if v := s.fulfilled(shipped); v.Status != saga.Completed {
		t.Fatalf("order %s: %s, want completed: %+v", shipped, v.Status, v.Timeline)
	}
	s.payments.SetDown(true)
	failed, _ := s.order(ada, 2000)
	if v := s.fulfilled(failed); v.Status != saga.Compensated {
		t.Fatalf("order %s: %s, want compensated", failed, v.Status)
	}
	calls := s.payments.Calls()
	fast, _ := s.order(ada, 3000)
	if v := s.fulfilled(fast); v.Status != saga.Compensated || !strings.Contains(v.Error, "breaker") {
		t.Fatalf("order %s: %s (%s), want compensated by the open breaker", fast, v.Status, v.Error)
	}
	if s.payments.Calls() != calls {
		t.Errorf("the open breaker let %d calls through", s.payments.Calls()-calls)
	}
	if got := s.svc.deps.warehouse.Stock("BOOK-1"); got != stock-1 {
		t.Errorf("stock %d, want %d: compensations must release what they reserved", got, stock-1)
	}
	var orders []OrderRow
	s.must(http.StatusOK, "GET", "/users/"+ada+"/orders", nil, &orders)
	status := map[string]string{}
	for _, o := range orders {
		status[o.ID] = o.Status
	}
	if status[shipped] != "shipped" || status[failed] != "cancelled" || status[fast] != "cancelled" {
		t.Errorf("orders read model %+v", orders)
	}
	var revenue []RevenueRow
	s.must(http.StatusOK, "GET", "/revenue", nil, &revenue)
	if len(revenue) != 1 || revenue[0].GrossCents != 1000 || revenue[0].OrdersPaid != 1 {
		t.Errorf("revenue %+v, want the shipped order's 1000 cents", revenue)
	}
	var b BreakerView
	s.must(http.StatusOK, "GET", "/breakers/payments", nil, &b)
	if b.State != "open" || len(b.History) != 1 || b.History[0].Type != "BreakerOpened" {
		t.Errorf("breaker %+v, want open after one BreakerOpened", b)
	}
	var mails []string
	for _, m := range s.svc.deps.mail.Sent() {
		mails = append(mails, m.Subject)
	}
	want := []string{"Order " + shipped + " shipped", "Order " + failed + " cancelled", "Order " + fast + " cancelled"}
	if strings.Join(mails, "\n") != strings.Join(want, "\n") {
		t.Errorf("mails %q, want %q", mails, want)
	}
}

// A shipped order cannot be cancelled; a paid one is refunded, and the
// revenue read model takes the refund back on the day of the cancellation.
func TestCancel(t *testing.T) {
	s := newShop(t, Config{})
	ada := s.user("ada")
	id, _ := s.order(ada, 1000)
	s.fulfilled(id)
	r := s.must(http.StatusOK, "GET", "/orders/"+id, nil, nil)
	before := s.events()
	s.must(http.StatusConflict, "POST", "/orders/"+id+"/cancel", map[string]string{"reason": "late"}, nil, "If-Match", r.header.Get("ETag"))
	if after := s.events(); after != before {
		t.Fatalf("a refused cancel wrote %d events", after-before)
	}

	// An order paid but not shipped, written without the saga.
	ctx := t.Context()
	orders := s.svc.domain.Orders
	if _, err := s.svc.domain.PlaceOrder(ctx, "manual", onboarding.PlaceOrder{UserID: ada,
		Lines: []onboarding.Line{{SKU: "MUG-2", Quantity: 1}}, TotalCents: 700, Currency: "EUR"}); err != nil {
		t.Fatal(err)
	}
	if _, err := orders.Update(ctx, "manual", onboarding.PayOrder{PaymentID: "p-1", AmountCents: 700}.Decide); err != nil {
		t.Fatal(err)
	}
	var o aggregateView[onboarding.Order]
	r = s.must(http.StatusOK, "GET", "/orders/manual", nil, &o)
	s.must(http.StatusOK, "POST", "/orders/manual/cancel", map[string]string{"reason": "changed my mind"}, &o, "If-Match", r.header.Get("ETag"))
	if o.State.Status != onboarding.StatusCancelled {
		t.Fatalf("order %+v, want cancelled", o)
	}
	var revenue []RevenueRow
	s.must(http.StatusOK, "GET", "/revenue", nil, &revenue)
	if len(revenue) != 1 || revenue[0].GrossCents != 1700 || revenue[0].RefundedCents != 700 || revenue[0].NetCents != 1000 || revenue[0].OrdersPaid != 2 {
		t.Fatalf("revenue %+v, want gross 1700, refunded 700, net 1000 of 2 paid orders", revenue)
	}
}

// An order whose fulfilment was never started (the process died between
// the append and the start) is found and fulfilled, in the trace of the
// request that placed it; orders with a saga are left alone.
func TestStartUnfulfilled(t *testing.T) {
	s := newShop(t, Config{})
	ada := s.user("ada")
	normal, _ := s.order(ada, 1000)
	s.fulfilled(normal)
	res, err := s.svc.domain.PlaceOrder(t.Context(), "orphan", onboarding.PlaceOrder{UserID: ada,
		Lines: []onboarding.Line{{SKU: "MUG-2", Quantity: 1}}, TotalCents: 500, Currency: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.svc.read.WaitFor(t.Context(), res.Position, projOrders); err != nil {
		t.Fatal(err)
	}
	if v := s.must(http.StatusOK, "GET", "/orders/orphan/fulfilment", nil, nil); !strings.Contains(string(v.body), `"status": "pending"`) || !strings.Contains(string(v.body), `"steps": []`) {
		t.Fatalf("fulfilment of an order without a saga: %s", v.body)
	}
	if n, err := s.svc.StartUnfulfilled(t.Context(), time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("StartUnfulfilled of orders older than an hour = %d, %v; want 0", n, err)
	}
	n, err := s.svc.StartUnfulfilled(t.Context(), time.Now())
	if err != nil || n != 1 {
		t.Fatalf("StartUnfulfilled = %d, %v; want 1", n, err)
	}
	if v := s.fulfilled("orphan"); v.Status != saga.Completed {
		t.Fatalf("orphan: %s", v.Status)
	}
	if n, err := s.svc.StartUnfulfilled(t.Context(), time.Now()); err != nil || n != 0 {
		t.Fatalf("second StartUnfulfilled = %d, %v; want 0", n, err)
	}
}

// The service publishes its schemas, and refuses to start when a published
// one no longer matches the code (a type changed without a new version).
func TestPublishedSchemas(t *testing.T) {
	store := memory.New()
	defer store.Close()
	type fulfilmentOfOld struct {
		OrderID string `json:"orderId" jsonschema:"required"`
	}
	old := schema.MustNewRegistry()
	schema.MustRegister[fulfilmentOfOld](old, "FulfilmentRequested", 1)
	if err := old.Publish(t.Context(), store); err != nil {
		t.Fatal(err)
	}
	_, err := New(t.Context(), Config{Store: store, ReadModels: t.TempDir()})
	if !errors.Is(err, schema.ErrChanged) {
		t.Fatalf("New over a store with another FulfilmentRequested v1: %v, want schema.ErrChanged", err)
	}

	s := newShop(t, Config{})
	n := 0
	for _, err := range s.store.ReadStream(t.Context(), eventstore.FrameworkStream("schemas", ""), eventstore.ReadOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no schemas published")
	}
}

// An order stored as OrderPlaced v1, before lines and currencies, reads
// as v2 everywhere: the aggregate and the read models see the upcast shape.
func TestUpcastedOrder(t *testing.T) {
	s := newShop(t, Config{})
	ada := s.user("ada")
	reg, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	old, err := reg.Encode(t.Context(), onboarding.OrderPlacedV1{UserID: ada, Items: []string{"BOOK-1", "MUG-2"}, Total: 19.99})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.store.Append(t.Context(), "order-legacy", eventstore.NoStream, old)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.svc.read.WaitFor(t.Context(), res.Position, projOrders, projRevenue); err != nil {
		t.Fatal(err)
	}
	var o aggregateView[onboarding.Order]
	s.must(http.StatusOK, "GET", "/orders/legacy", nil, &o)
	want := onboarding.Order{Status: onboarding.StatusPlaced, UserID: ada, TotalCents: 1999, Currency: "USD",
		Lines: []onboarding.Line{{SKU: "BOOK-1", Quantity: 1}, {SKU: "MUG-2", Quantity: 1}}}
	if diff := cmp.Diff(want, o.State); diff != "" {
		t.Errorf("order loaded from v1 (-want +got):\n%s", diff)
	}
	var orders []OrderRow
	s.must(http.StatusOK, "GET", "/users/"+ada+"/orders", nil, &orders)
	if len(orders) != 1 || orders[0].ID != "legacy" || orders[0].TotalCents != 1999 || orders[0].Currency != "USD" {
		t.Errorf("orders read model from v1: %+v", orders)
	}
}
