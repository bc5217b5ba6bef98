package esdbserver_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a server, subscription or client goroutine
// outlives the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
