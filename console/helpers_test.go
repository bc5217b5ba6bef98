package console_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/aggregate"
	"github.com/chronicle-go/chronicle/console"
	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/resilience"
	"github.com/chronicle-go/chronicle/saga"
	"github.com/chronicle-go/chronicle/schema"
)

// Domain of the tests: orders, with a note that may hold HTML.
type OrderPlaced struct {
	OrderID string `json:"orderId" jsonschema:"required,minLength=1"`
	Amount  int    `json:"amount" jsonschema:"required,minimum=1"`
	Note    string `json:"note,omitempty"`
}

type OrderShipped struct {
	OrderID string `json:"orderId" jsonschema:"required,minLength=1"`
}

type Order struct {
	ID      string `json:"id"`
	Amount  int    `json:"amount"`
	Shipped bool   `json:"shipped"`
	Note    string `json:"note"`
}

type Fulfil struct {
	OrderID string `json:"orderId" jsonschema:"required"`
}

var orderType = aggregate.Type[Order]{
	Category: "order",
	Evolve: func(s Order, ev any) Order {
		switch e := ev.(type) {
		case OrderPlaced:
			s.ID, s.Amount, s.Note = e.OrderID, e.Amount, e.Note
		case OrderShipped:
			s.Shipped = true
		}
		return s
	},
}

// evil is data a store may hold that must never reach a page as markup.
const evil = `<script>alert("x")</script><b onmouseover="x()">bold</b>`

func newRegistry(t testing.TB) *schema.Registry {
	t.Helper()
	reg := schema.MustNewRegistry()
	schema.MustRegister[OrderPlaced](reg, "OrderPlaced", 1)
	schema.MustRegister[OrderShipped](reg, "OrderShipped", 1)
	schema.MustRegister[Fulfil](reg, "Fulfil", 1)
	return reg
}

// fixture is a store seeded with every kind of stream the console shows.
type fixture struct {
	store *memory.Store
	reg   *schema.Registry
	repo  *aggregate.Repository[Order]
}

// seed writes: published schemas; orders 1..n (order-1 with evil data, one
// shipped); an invalid event and a binary one; a saga that needs attention
// and one that completed; a projection with a checkpoint and parked events;
// a breaker that opened and closed.
func seed(t testing.TB, n int) *fixture {
	t.Helper()
	ctx := context.Background()
	store := memory.New()
	t.Cleanup(func() { store.Close() })
	reg := newRegistry(t)
	if err := reg.Publish(ctx, store); err != nil {
		t.Fatal(err)
	}
	repo, err := aggregate.NewRepository(store, reg, orderType)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		note := ""
		if i == 1 {
			note = evil
		}
		id := fmt.Sprint(i)
		if _, err := repo.Create(ctx, id, func(Order) ([]any, error) {
			return []any{OrderPlaced{OrderID: id, Amount: 10 * i, Note: note}}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := repo.Update(ctx, "1", func(Order) ([]any, error) { return []any{OrderShipped{OrderID: "1"}}, nil }); err != nil {
		t.Fatal(err)
	}
	// Invalid under the published schema (amount 0), written around the registry.
	mustAppend(t, store, "order-bad", eventstore.EventData{Type: "OrderPlaced", Data: []byte(`{"orderId":"bad","amount":0}`)})
	mustAppend(t, store, "blob-1", eventstore.EventData{Type: "Blob", ContentType: eventstore.ContentTypeBinary, Data: []byte{0xff, 0x00, 0x3c}})
	mustAppend(t, store, "note-<i>x</i>", eventstore.EventData{Type: "Note<b>", Data: []byte(`{"html":"` + strings.ReplaceAll(evil, `"`, `\"`) + `"}`), Metadata: []byte(`{"who":"</pre><script>x()</script>"}`)})

	seedSagas(t, store, reg)
	seedProjection(t, store, reg)
	seedBreaker(t, store)
	return &fixture{store: store, reg: reg, repo: repo}
}

func mustAppend(t testing.TB, s eventstore.Store, stream string, events ...eventstore.EventData) {
	t.Helper()
	if _, err := s.Append(context.Background(), stream, eventstore.Any, events...); err != nil {
		t.Fatal(err)
	}
}

// once is a resilience.Policy that calls once: no retries.
type once struct{}

func (once) Wrap(next func(context.Context) error) func(context.Context) error { return next }

func seedSagas(t testing.TB, store eventstore.Store, reg *schema.Registry) {
	t.Helper()
	ctx := context.Background()
	ok := func(context.Context, saga.StepContext[Fulfil]) error { return nil }
	def := saga.New("fulfilment",
		saga.Step[Fulfil]{Name: "reserve", Action: ok, Retry: once{},
			Compensate: func(ctx context.Context, sc saga.StepContext[Fulfil]) error {
				if sc.Input.OrderID == "2" {
					return errors.New("warehouse <down>")
				}
				return nil
			}},
		saga.Step[Fulfil]{Name: "charge", Retry: once{}, Action: func(ctx context.Context, sc saga.StepContext[Fulfil]) error {
			if sc.Input.OrderID == "2" {
				return errors.New("card declined")
			}
			return nil
		}},
	)
	engine, err := saga.NewEngine(store, reg, def)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := engine.Start(ctx, "1", Fulfil{OrderID: "1"}); err != nil || st.Status != saga.Completed {
		t.Fatalf("saga 1: %v %v", st.Status, err)
	}
	if st, _ := engine.Start(ctx, "2", Fulfil{OrderID: "2"}); st.Status != saga.NeedsAttention {
		t.Fatalf("saga 2: %v", st.Status)
	}
}

func seedProjection(t testing.TB, store eventstore.Store, reg *schema.Registry) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	p := projection.New[projection.NoTx]("orders", projection.Category("order"), reg)
	projection.Handle(p, func(ctx context.Context, ev projection.Event[OrderShipped]) error {
		return errors.New("read model <full>")
	})
	runner, err := projection.NewRunner(store, p, projection.AtLeastOnce(projection.NewStreamCheckpoints(store), 1, 0),
		projection.WithRetry(once{}), projection.OnUndecodable(projection.Park))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- runner.Run(ctx) }()
	head, _ := lastPosition(store)
	if err := runner.WaitFor(ctx, head); err != nil {
		t.Fatal(err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func lastPosition(store eventstore.Store) (eventstore.Position, error) {
	for e, err := range store.ReadAll(context.Background(), eventstore.ReadAllOptions{Direction: eventstore.Backwards, From: eventstore.End, MaxCount: 1}) {
		return e.Position, err
	}
	return eventstore.Position{}, nil
}

func seedBreaker(t testing.TB, store eventstore.Store) {
	t.Helper()
	ctx := context.Background()
	b, err := resilience.NewBreaker("payments", resilience.BreakerConfig{ConsecutiveFailures: 2, OpenDuration: time.Minute},
		resilience.WithStore(store), resilience.WithInstanceID("east"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for range 2 {
		_ = b.Run(ctx, func(context.Context) error { return errors.New("gateway <timeout>") })
	}
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
}

// server serves a console over f's store with opts.
func (f *fixture) server(t testing.TB, opts ...console.Option) *httptest.Server {
	t.Helper()
	h, err := console.New(f.store, opts...)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// get fetches path and returns the status and body.
func get(t testing.TB, srv *httptest.Server, path string) (int, string) {
	t.Helper()
	res, err := srv.Client().Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

// mustGet is get that fails the test unless the status is 200.
func mustGet(t testing.TB, srv *httptest.Server, path string) string {
	t.Helper()
	code, body := get(t, srv, path)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", path, code, body)
	}
	return body
}

func httpServer(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}
