package resilience_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/internal/clock"
	"github.com/chronicle-go/chronicle/resilience"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var errBoom = errors.New("boom")

func ok(context.Context) error   { return nil }
func fail(context.Context) error { return errBoom }

func newClock() *clock.Fake { return clock.NewFake(t0) }

// eventually polls cond until it holds or 10 seconds pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitTimers waits until the fake clock has at least n pending timers.
func waitTimers(t *testing.T, c *clock.Fake, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := c.WaitPending(ctx, n); err != nil {
		t.Fatalf("waiting for %d timers: %v", n, err)
	}
}

// wantConfigError checks that err is a *ConfigError about field.
func wantConfigError(t *testing.T, err error, field string) {
	t.Helper()
	var ce *resilience.ConfigError
	if !errors.Is(err, resilience.ErrInvalidConfig) || !errors.As(err, &ce) {
		t.Fatalf("err = %v, want a *ConfigError", err)
	}
	if ce.Field != field {
		t.Fatalf("ConfigError.Field = %q (%v), want %q", ce.Field, err, field)
	}
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
