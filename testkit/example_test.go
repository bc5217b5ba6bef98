package testkit_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/schema"
	"github.com/chronicle-go/chronicle/testkit"
)

// printTB stands in for the *testing.T a real test has, printing failures.
type printTB struct{ testing.TB }

func (printTB) Helper()                   {}
func (printTB) Context() context.Context  { return context.Background() }
func (printTB) Cleanup(func())            {}
func (printTB) Errorf(f string, a ...any) { fmt.Printf(f+"\n", a...) }
func (printTB) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }

func ExampleFor() {
	var t testing.TB = printTB{} // in a test: the *testing.T
	reg := newRegistry()

	testkit.For(t, counterType, reg).
		Given(Incremented{By: 2}).
		When(increment(3)).
		Then(Incremented{By: 3}).
		ThenState(Counter{N: 5})

	testkit.For(t, counterType, reg).
		When(increment(11)).
		ThenError(errTooMuch)

	// A failing check reports what went wrong.
	testkit.For(t, counterType, reg).
		Given(Incremented{By: 2}).
		When(reset).
		ThenNothing()
	// Output:
	// testkit: want no events, got 1:
	// 	0: testkit_test.Reset {}
}

func ExampleNewStore() {
	var t testing.TB = printTB{}
	clock, ids := testkit.NewClock(time.Time{}), testkit.NewIDs()
	reg := newRegistry(schema.WithClock(clock), schema.WithIDs(ids.Next))

	store := testkit.NewStore(t, "counter-1", testkit.Events(t, reg, Incremented{By: 1}, Incremented{By: 2})...)
	for rec, err := range store.ReadStream(context.Background(), "counter-1", eventstore.ReadOptions{}) {
		if err != nil {
			panic(err)
		}
		fmt.Println(rec.Revision, rec.ID, rec.Type, string(rec.Data))
	}
	// Output:
	// 0 00000000-0000-4000-8000-000000000001 Incremented {"by":1}
	// 1 00000000-0000-4000-8000-000000000002 Incremented {"by":2}
}

func ExampleClock() {
	clock := testkit.NewClock(time.Time{})
	fmt.Println(clock.Now())
	fmt.Println(clock.Advance(90 * time.Minute))
	// Output:
	// 2025-01-01 00:00:00 +0000 UTC
	// 2025-01-01 01:30:00 +0000 UTC
}

func ExampleIDs() {
	ids := testkit.NewIDs()
	fmt.Println(ids.Next())
	fmt.Println(ids.Next() == testkit.ID(2))
	// Output:
	// 00000000-0000-4000-8000-000000000001
	// true
}
