package testkit_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/saga"
	"github.com/chronicle-go/chronicle/schema"
	"github.com/chronicle-go/chronicle/testkit"
)

type CartCheckedOut struct {
	CartID string `json:"cartId" jsonschema:"required"`
}

type CartPaid struct {
	CartID string `json:"cartId" jsonschema:"required"`
}

type CartExpired struct {
	CartID string `json:"cartId" jsonschema:"required"`
}

type cartState struct {
	Open bool `json:"open"`
}

func cartRegistry() *schema.Registry {
	reg := schema.MustNewRegistry()
	schema.MustRegister[CartCheckedOut](reg, "CartCheckedOut", 1)
	schema.MustRegister[CartPaid](reg, "CartPaid", 1)
	schema.MustRegister[CartExpired](reg, "CartExpired", 1)
	return reg
}

// cartTimeout expires carts not paid within an hour.
func cartTimeout(reg *schema.Registry) *saga.Process[cartState] {
	p := saga.NewProcess[cartState]("cart_timeout", projection.Category("cart"), reg, nil)
	saga.On(p, func(ev projection.Event[CartCheckedOut]) string { return ev.Data.CartID },
		func(ctx context.Context, pc *saga.Context[cartState], ev projection.Event[CartCheckedOut]) error {
			pc.State.Open = true
			pc.Schedule("expire", time.Hour)
			return nil
		})
	saga.On(p, func(ev projection.Event[CartPaid]) string { return ev.Data.CartID },
		func(ctx context.Context, pc *saga.Context[cartState], ev projection.Event[CartPaid]) error {
			if !pc.State.Open {
				return nil
			}
			pc.State.Open = false
			pc.Cancel("expire")
			return nil
		})
	p.OnDeadline("expire", func(ctx context.Context, pc *saga.Context[cartState], d saga.Deadline) error {
		pc.State.Open = false
		_, err := pc.Emit(ctx, "cart-"+pc.Key, eventstore.Any, CartExpired{pc.Key})
		return err
	})
	return p
}

func TestProcessFixture(t *testing.T) {
	reg := cartRegistry()
	t.Run("schedules on checkout", func(t *testing.T) {
		testkit.ForProcess(t, reg, cartTimeout(reg)).
			When("cart-1", CartCheckedOut{"1"}).
			ThenScheduled("expire").
			ThenCancelled().
			ThenEvents("cart-1").
			ThenState("1", cartState{Open: true})
	})
	t.Run("payment cancels the deadline", func(t *testing.T) {
		f := testkit.ForProcess(t, reg, cartTimeout(reg)).Given("cart-1", CartCheckedOut{"1"})
		f.When("cart-1", CartPaid{"1"}).ThenCancelled("expire").ThenScheduled()
		f.WhenTimeElapses(2 * time.Hour).ThenNothingHappened()
	})
	t.Run("expires after an hour", func(t *testing.T) {
		f := testkit.ForProcess(t, reg, cartTimeout(reg)).Given("cart-1", CartCheckedOut{"1"})
		f.WhenTimeElapses(59 * time.Minute).ThenNothingHappened()
		f.WhenTimeElapses(time.Minute).ThenEvents("cart-1", CartExpired{"1"}).ThenState("1", cartState{})
		if f.Clock().Now() != testkit.Epoch.Add(time.Hour) || f.Store() == nil {
			t.Error("fixture clock or store")
		}
	})
	t.Run("a paid cart again does nothing", func(t *testing.T) {
		f := testkit.ForProcess(t, reg, cartTimeout(reg))
		f.When("cart-2", CartPaid{"2"}).ThenNothingHappened()
	})
}

// TestProcessFixtureReports: the fixture fails a test whose expectations do
// not hold, with readable messages.
func TestProcessFixtureReports(t *testing.T) {
	reg := cartRegistry()
	rec := run(func(tb testing.TB) {
		f := testkit.ForProcess(tb, reg, cartTimeout(reg)).Given("cart-1", CartCheckedOut{"1"})
		out := f.WhenTimeElapses(2 * time.Hour)
		out.ThenEvents("cart-1")
		out.ThenScheduled("expire")
		out.ThenState("1", cartState{Open: true})
		out.ThenNothingHappened()
	})
	expectFailures(t, rec, "testkit: events in cart-1", "testkit: deadlines scheduled", "testkit: state of 1", "want nothing to happen")
}

type fulfilOrder struct {
	ID string `json:"id" jsonschema:"required"`
}

func TestWorkflowFixture(t *testing.T) {
	reg := schema.MustNewRegistry()
	schema.MustRegister[fulfilOrder](reg, "FulfilOrder", 1)
	boom := errors.New("boom")
	step := func(name string, fail, failUndo bool) saga.Step[fulfilOrder] {
		return saga.Step[fulfilOrder]{
			Name: name,
			Action: func(context.Context, saga.StepContext[fulfilOrder]) error {
				if fail {
					return boom
				}
				return nil
			},
			Compensate: func(context.Context, saga.StepContext[fulfilOrder]) error {
				if failUndo {
					return boom
				}
				return nil
			},
			Retry: noRetry{},
		}
	}
	testkit.ForWorkflow(t, reg, saga.New("ok", step("a", false, false), step("b", false, false))).
		Start("1", fulfilOrder{"1"}).ThenAttempts("a", 1).ThenCompleted()
	testkit.ForWorkflow(t, reg, saga.New("comp", step("a", false, false), step("b", false, false), step("c", true, false))).
		Start("1", fulfilOrder{"1"}).ThenCompensated("b", "a")
	testkit.ForWorkflow(t, reg, saga.New("stuck", step("a", false, false), step("b", false, true), step("c", true, false))).
		Start("1", fulfilOrder{"1"}).ThenNeedsAttention("b")

	var out *testkit.WorkflowOutcome
	rec := run(func(tb testing.TB) {
		out = testkit.ForWorkflow(tb, reg, saga.New("ok", step("a", false, false))).Start("1", fulfilOrder{"1"})
		out.ThenCompensated("a")
		out.ThenAttempts("a", 2)
		out.ThenAttempts("z", 1)
		bad := testkit.ForWorkflow(tb, reg, saga.New("ok", step("a", false, false))).Start("", fulfilOrder{"1"})
		bad.ThenCompleted()
	})
	expectFailures(t, rec, "saga ended completed, want compensated", "attempted 1 times, want 2", "no step z", "testkit: saga failed")
	if out.State().Status != saga.Completed {
		t.Error(out.State())
	}
}

type noRetry struct{}

func (noRetry) Wrap(next func(context.Context) error) func(context.Context) error { return next }

func expectFailures(t *testing.T, f *fakeTB, wants ...string) {
	t.Helper()
	all := strings.Join(f.errors, "\n") + f.fatal
	for _, want := range wants {
		if !strings.Contains(all, want) {
			t.Errorf("no failure mentioning %q in:\n%s", want, all)
		}
	}
}
