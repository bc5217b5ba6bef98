package testkit_test

import (
	"context"
	"errors"
	"maps"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/schema"
	"github.com/chronicle-go/chronicle/testkit"
)

// The projection test domain: orders placed and shipped, and a read model
// of the open ones.

type OrderPlaced struct {
	ID string `json:"id" jsonschema:"required,minLength=1"`
}

type OrderShipped struct {
	ID string `json:"id" jsonschema:"required,minLength=1"`
}

func orderRegistry() *schema.Registry {
	reg := schema.MustNewRegistry()
	schema.MustRegister[OrderPlaced](reg, "OrderPlaced", 1)
	schema.MustRegister[OrderShipped](reg, "OrderShipped", 1)
	return reg
}

// openOrders is an idempotent read model: the set of open orders.
func openOrders(reg *schema.Registry) func() (*projection.Projection[projection.NoTx], func() map[string]bool) {
	return func() (*projection.Projection[projection.NoTx], func() map[string]bool) {
		var mu sync.Mutex
		open := map[string]bool{}
		p := projection.New[projection.NoTx]("open_orders", projection.Category("order"), reg)
		projection.Handle(p, func(_ context.Context, ev projection.Event[OrderPlaced]) error {
			mu.Lock()
			defer mu.Unlock()
			open[ev.Data.ID] = true
			return nil
		})
		projection.Handle(p, func(_ context.Context, ev projection.Event[OrderShipped]) error {
			mu.Lock()
			defer mu.Unlock()
			delete(open, ev.Data.ID)
			return nil
		})
		return p, func() map[string]bool {
			mu.Lock()
			defer mu.Unlock()
			return maps.Clone(open)
		}
	}
}

// countModel builds a projection whose model is count(state, event) folded
// over the OrderPlaced events, starting from zero.
func countModel(reg *schema.Registry, count func(n int, last *string, ev OrderPlaced) int) func() (*projection.Projection[projection.NoTx], func() int) {
	return func() (*projection.Projection[projection.NoTx], func() int) {
		var mu sync.Mutex
		n, last := 0, ""
		p := projection.New[projection.NoTx]("counted", projection.AllStreams(), reg)
		projection.Handle(p, func(_ context.Context, ev projection.Event[OrderPlaced]) error {
			mu.Lock()
			defer mu.Unlock()
			n = count(n, &last, ev.Data)
			return nil
		})
		return p, func() int {
			mu.Lock()
			defer mu.Unlock()
			return n
		}
	}
}

func TestProjectionFixturePasses(t *testing.T) {
	reg := orderRegistry()
	base := testkit.ForProjection(t, reg, openOrders(reg)).
		Given(testkit.In("order-1", OrderPlaced{"1"}), testkit.In("order-2", OrderPlaced{"2"}, OrderShipped{"2"}))
	got := base.Then(map[string]bool{"1": true})
	if len(got) != 1 || !got["1"] {
		t.Errorf("Then returned %v", got)
	}
	// Given adds to a copy; pointers and *StreamEvents work as values.
	base.Given(&testkit.StreamEvents{Stream: "order-1", Events: []any{&OrderShipped{"1"}}}).Then(map[string]bool{})
	base.Then(map[string]bool{"1": true})
	// Events of other categories, or of types without handlers, are left out.
	testkit.ForProjection(t, reg, openOrders(reg)).Given(OrderPlaced{"x"}).Then(map[string]bool{})
	testkit.ForProjection(t, reg, openOrders(reg)).Then(map[string]bool{})
	// Partitioned runners, and go-cmp options.
	testkit.ForProjection(t, reg, openOrders(reg)).
		WithRunnerOptions(projection.WithWorkers(3)).
		WithCmpOptions(cmpopts.EquateEmpty()).
		Given(testkit.In("order-1", OrderPlaced{"1"}, OrderShipped{"1"}), testkit.In("order-2", OrderPlaced{"2"}, OrderShipped{"2"})).
		Then(nil)
}

func TestProjectionFixtureReportsDifferences(t *testing.T) {
	reg := orderRegistry()
	f := run(func(tb testing.TB) {
		testkit.ForProjection(tb, reg, openOrders(reg)).Given(testkit.In("order-1", OrderPlaced{"1"})).Then(map[string]bool{"2": true})
	})
	f.failed(t, false, "read model differs (-want +got)", `"1"`, `"2"`)
}

func TestProjectionFixtureChecksIdempotency(t *testing.T) {
	reg := orderRegistry()
	given := []any{testkit.In("order-1", OrderPlaced{"1"}), testkit.In("order-2", OrderPlaced{"2"}), testkit.In("order-3", OrderPlaced{"3"})}

	// Counting is not idempotent: both checks catch it.
	f := run(func(tb testing.TB) {
		testkit.ForProjection(tb, reg, countModel(reg, func(n int, _ *string, _ OrderPlaced) int { return n + 1 })).Given(given...).Then(3)
	})
	f.failedAll(t,
		"testkit: delivering the whole history again changed the read model; at-least-once delivery needs idempotent handlers (-once +after)",
		"testkit: delivering every event twice in a row changed the read model")

	// Skipping an event equal to the previous one passes the check in a
	// row, but not the redelivery of the whole history.
	f = run(func(tb testing.TB) {
		testkit.ForProjection(tb, reg, countModel(reg, func(n int, last *string, ev OrderPlaced) int {
			if ev.ID == *last {
				return n
			}
			*last = ev.ID
			return n + 1
		})).Given(given...).Then(3)
	})
	f.failed(t, false, "delivering the whole history again changed the read model", "3,", "6,")
}

func TestProjectionFixtureChecksRestarts(t *testing.T) {
	reg := orderRegistry()
	// A model that depends on something else than the events (here, which
	// build it came from) fails every check that compares two models built
	// apart: twice in a row and the restart.
	builds := 0
	build := func() (*projection.Projection[projection.NoTx], func() int) {
		builds++
		var mu sync.Mutex
		mine, n := builds, 0
		p := projection.New[projection.NoTx]("builds", projection.AllStreams(), reg)
		projection.Handle(p, func(_ context.Context, ev projection.Event[OrderPlaced]) error {
			mu.Lock()
			defer mu.Unlock()
			n = mine
			return nil
		})
		return p, func() int {
			mu.Lock()
			defer mu.Unlock()
			return n
		}
	}
	f := run(func(tb testing.TB) {
		testkit.ForProjection(tb, reg, build).Given(testkit.In("order-1", OrderPlaced{"1"}, OrderPlaced{"2"})).Then(1)
	})
	f.failedAll(t, "testkit: delivering every event twice in a row changed",
		"testkit: stopping after 1 of 2 events and restarting from the checkpoint changed the read model; the handlers must not depend on anything but the model and the events")
	if builds != 3 {
		t.Errorf("%d builds; want 3", builds)
	}
}

func TestProjectionFixtureHandlerFailures(t *testing.T) {
	reg := orderRegistry()
	build := func() (*projection.Projection[projection.NoTx], func() int) {
		p := projection.New[projection.NoTx]("failing", projection.AllStreams(), reg)
		projection.Handle(p, func(_ context.Context, ev projection.Event[OrderPlaced]) error {
			if ev.Data.ID == "bad" {
				return errors.New("boom")
			}
			return nil
		})
		return p, func() int { return 0 }
	}
	f := run(func(tb testing.TB) {
		testkit.ForProjection(tb, reg, build).Given(OrderPlaced{"ok"}, OrderPlaced{"bad"}).Then(0)
	})
	f.failed(t, false, "testkit: the projection failed: projection failing: test-1@1 (OrderPlaced)", "boom")

	// An event the projection's registry cannot decode stops it too: here
	// a version it does not know.
	newer := schema.MustNewRegistry()
	schema.MustRegister[OrderPlaced](newer, "OrderPlaced", 2)
	f = run(func(tb testing.TB) {
		testkit.ForProjection(tb, newer, build).Given(OrderPlaced{"ok"}).Then(0)
	})
	f.failed(t, false, "testkit: the projection failed: projection failing: test-1@0 (OrderPlaced)", "version 2")
}

func TestProjectionFixtureBadInput(t *testing.T) {
	reg := orderRegistry()
	for _, tc := range []struct {
		name string
		body func(tb testing.TB)
		want []string
	}{
		{"nil registry", func(tb testing.TB) { testkit.ForProjection(tb, nil, openOrders(reg)) }, []string{"ForProjection: nil registry"}},
		{"nil build", func(tb testing.TB) {
			testkit.ForProjection[int](tb, reg, nil)
		}, []string{"ForProjection: nil registry or build function"}},
		{"unregistered event", func(tb testing.TB) {
			testkit.ForProjection(tb, reg, openOrders(reg)).Given(struct{ X int }{}).Then(nil)
		}, []string{"given event 0", "would be rejected in production"}},
		{"invalid event", func(tb testing.TB) {
			testkit.ForProjection(tb, reg, openOrders(reg)).Given(testkit.In("order-1", OrderPlaced{"1"}, OrderPlaced{})).Then(nil)
		}, []string{"given event 1 (testkit_test.OrderPlaced) would be rejected in production", "minLength"}},
		{"empty stream", func(tb testing.TB) {
			testkit.ForProjection(tb, reg, openOrders(reg)).Given(testkit.In("", OrderPlaced{"1"})).Then(nil)
		}, []string{"In: empty stream name"}},
		{"invalid projection", func(tb testing.TB) {
			testkit.ForProjection(tb, reg, func() (*projection.Projection[projection.NoTx], func() int) {
				return projection.New[projection.NoTx]("empty", projection.AllStreams(), reg), func() int { return 0 }
			}).Then(0)
		}, []string{"testkit: projection: invalid projection", "no handlers"}},
		{"stream conflict", func(tb testing.TB) {
			testkit.ForProjection(tb, reg, openOrders(reg)).Given(testkit.In("$system", OrderPlaced{"1"})).Then(nil)
		}, []string{`append given event 0 to "$system"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run(tc.body).failed(t, true, tc.want...)
		})
	}
}

// failedAll fails t unless the fake recorded errors (no fatal) that start
// with each of wants, one each, in order.
func (f *fakeTB) failedAll(t *testing.T, wants ...string) {
	t.Helper()
	if f.fatal != "" || len(f.errors) != len(wants) {
		t.Fatalf("want %d errors, got errors %q, fatal %q", len(wants), f.errors, f.fatal)
	}
	for i, w := range wants {
		if !strings.HasPrefix(f.errors[i], w) {
			t.Errorf("error %d %q does not start with %q", i, f.errors[i], w)
		}
	}
}
