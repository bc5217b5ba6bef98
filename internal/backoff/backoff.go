// Package backoff computes the delays between retries: capped exponential
// growth with full or decorrelated jitter (the two schemes of the AWS
// Architecture Blog's "Exponential Backoff And Jitter"), or none.
package backoff

import (
	"math"
	"time"
)

// Jitter selects how a delay is randomised.
type Jitter uint8

const (
	// Full draws the delay uniformly from [0, min(Max, Initial×Multiplier^(n-1))).
	Full Jitter = iota
	// Decorrelated draws the delay uniformly from [Initial, 3×previous delay),
	// capped at Max.
	Decorrelated
	// None uses min(Max, Initial×Multiplier^(n-1)) exactly.
	None
)

// Policy describes a backoff. Initial > 0, Max >= Initial and
// Multiplier >= 1 are the caller's to check.
type Policy struct {
	Initial    time.Duration
	Max        time.Duration
	Multiplier float64
	Jitter     Jitter
}

// Delay returns the delay before retry n (1 for the first retry), given the
// previous delay (used by Decorrelated; 0 before the first retry) and a
// random number r in [0, 1).
func (p Policy) Delay(n int, prev time.Duration, r float64) time.Duration {
	switch p.Jitter {
	case Decorrelated:
		lo := float64(p.Initial)
		hi := 3 * math.Max(float64(prev), lo)
		return p.clamp(lo + r*(hi-lo))
	case None:
		return p.ceiling(n)
	default:
		return time.Duration(r * float64(p.ceiling(n)))
	}
}

// ceiling returns min(Max, Initial×Multiplier^(n-1)) without overflowing.
func (p Policy) ceiling(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	return p.clamp(float64(p.Initial) * math.Pow(p.Multiplier, float64(n-1)))
}

func (p Policy) clamp(d float64) time.Duration {
	if d >= float64(p.Max) || math.IsNaN(d) {
		return p.Max
	}
	return time.Duration(d)
}
