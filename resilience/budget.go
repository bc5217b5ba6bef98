package resilience

import (
	"math"
	"sync/atomic"
)

// A RetryBudget limits retries across every Retry that shares it, so that a
// failing dependency is not hit by a storm of retries: a retry spends one
// token and is not made when none is left; each successful call earns
// Ratio tokens back, up to the maximum. It starts full. It is safe for
// concurrent use.
type RetryBudget struct {
	max, ratio int64 // in thousandths of a token
	tokens     atomic.Int64
}

// NewRetryBudget returns a budget of maxTokens tokens (at least 1) that
// earns ratio tokens (0 < ratio <= maxTokens) per successful call: with
// ratio 0.1, sustained retries are bounded at one per ten successes.
func NewRetryBudget(maxTokens int, ratio float64) (*RetryBudget, error) {
	bad := func(field, reason string) (*RetryBudget, error) {
		return nil, &ConfigError{Policy: "budget", Field: field, Reason: reason}
	}
	if maxTokens < 1 || maxTokens > math.MaxInt32 {
		return bad("maxTokens", "must be between 1 and 2^31-1")
	}
	if !(ratio > 0) || ratio > float64(maxTokens) {
		return bad("ratio", "must be positive and at most maxTokens")
	}
	b := &RetryBudget{max: int64(maxTokens) * 1000, ratio: int64(math.Ceil(ratio * 1000))}
	b.tokens.Store(b.max)
	return b, nil
}

// Tokens returns the tokens left.
func (b *RetryBudget) Tokens() float64 { return float64(b.tokens.Load()) / 1000 }

func (b *RetryBudget) spend() bool {
	for {
		t := b.tokens.Load()
		if t < 1000 {
			return false
		}
		if b.tokens.CompareAndSwap(t, t-1000) {
			return true
		}
	}
}

func (b *RetryBudget) earn() {
	for {
		t := b.tokens.Load()
		if t >= b.max {
			return
		}
		if b.tokens.CompareAndSwap(t, min(t+b.ratio, b.max)) {
			return
		}
	}
}
