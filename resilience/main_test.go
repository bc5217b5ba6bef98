package resilience_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind: a closed Breaker
// stops following its stream.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
