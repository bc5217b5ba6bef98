package storetest_test

import (
	"testing"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/eventstore/storetest"
)

// A backend runs the suite from an ordinary test of its own package; this
// is what eventstore/memory does. The example is compiled, not run: it needs
// the *testing.T of a real test.
func ExampleRun() {
	var t *testing.T // the argument of func TestConformance(t *testing.T)
	storetest.Run(t, storetest.Features{FallsBehind: true}, func(t *testing.T) eventstore.Store {
		s := memory.New()
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}
