package backoff_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/internal/backoff"
)

func TestNoJitterGrowsAndCaps(t *testing.T) {
	p := backoff.Policy{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 2, Jitter: backoff.None}
	for n, want := range map[int]time.Duration{0: 100 * time.Millisecond, 1: 100 * time.Millisecond, 2: 200 * time.Millisecond,
		4: 800 * time.Millisecond, 5: time.Second, 10_000: time.Second} {
		if got := p.Delay(n, 0, 0.5); got != want {
			t.Errorf("Delay(%d) = %v, want %v", n, got, want)
		}
	}
}

func TestFullJitterStaysUnderTheCeiling(t *testing.T) {
	p := backoff.Policy{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 3, Jitter: backoff.Full}
	for n := 1; n < 8; n++ {
		ceiling := min(time.Second, 100*time.Millisecond*time.Duration(pow(3, n-1)))
		for range 200 {
			if d := p.Delay(n, 0, rand.Float64()); d < 0 || d >= ceiling {
				t.Fatalf("Delay(%d) = %v, want in [0, %v)", n, d, ceiling)
			}
		}
		if d := p.Delay(n, 0, 0); d != 0 {
			t.Fatalf("Delay(%d, r=0) = %v", n, d)
		}
	}
}

func TestDecorrelatedJitterStaysInItsRange(t *testing.T) {
	p := backoff.Policy{Initial: 100 * time.Millisecond, Max: 2 * time.Second, Multiplier: 2, Jitter: backoff.Decorrelated}
	var prev time.Duration
	for n := 1; n < 200; n++ {
		d := p.Delay(n, prev, rand.Float64())
		hi := 3 * max(prev, p.Initial)
		if d < p.Initial || d > p.Max || (d >= hi && d != p.Max) {
			t.Fatalf("retry %d after %v: delay %v, want in [%v, %v) capped at %v", n, prev, d, p.Initial, hi, p.Max)
		}
		prev = d
	}
	if d := p.Delay(1, time.Hour, 0.9); d != p.Max {
		t.Fatalf("huge previous delay gave %v, want the cap", d)
	}
}

func pow(b, e int) int {
	r := 1
	for range e {
		r *= b
	}
	return r
}
