package resilience_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/resilience"
)

func TestRegistryConfig(t *testing.T) {
	_, err := resilience.NewRegistry(resilience.BreakerConfig{ConsecutiveFailures: -1})
	wantConfigError(t, err, "ConsecutiveFailures")
	_, err = resilience.NewRegistry(resilience.BreakerConfig{}, resilience.WithClock(nil))
	wantConfigError(t, err, "WithClock")
	r := must[*resilience.Registry](t)(resilience.NewRegistry(resilience.BreakerConfig{}))
	wantConfigError(t, r.Configure("x", resilience.BreakerConfig{FailureRatio: 2}), "FailureRatio")
	if err := r.Execute(t.Context(), "", ok); !errors.Is(err, resilience.ErrInvalidConfig) {
		t.Fatalf("empty name: %v", err)
	}
	if len(r.Names()) != 0 {
		t.Fatalf("a failed creation left %v", r.Names())
	}
}

func TestRegistryExecutesUnderNamedBreakers(t *testing.T) {
	clk := newClock()
	r := must[*resilience.Registry](t)(resilience.NewRegistry(resilience.BreakerConfig{ConsecutiveFailures: 3}, resilience.WithClock(clk)))
	t.Cleanup(func() { _ = r.Close() })
	if err := r.Configure("fragile", resilience.BreakerConfig{ConsecutiveFailures: 1}); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for range 2 {
		_ = r.Execute(ctx, "fragile", fail)
		_ = r.Execute(ctx, "sturdy", fail)
	}
	if s, err := r.State("fragile"); err != nil || s != resilience.StateOpen {
		t.Fatalf("fragile: %v, %v", s, err)
	}
	if s, err := r.State("sturdy"); err != nil || s != resilience.StateClosed {
		t.Fatalf("sturdy: %v, %v", s, err)
	}
	m, err := r.Metrics("fragile")
	if err != nil || m.Total.Failures != 1 || m.Total.Rejections != 1 {
		t.Fatalf("fragile metrics %+v, %v", m, err)
	}
	if err := r.Configure("sturdy", resilience.BreakerConfig{}); err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("reconfiguring a breaker in use: %v", err)
	}
	if _, err := r.State("nope"); !errors.Is(err, resilience.ErrUnknownBreaker) {
		t.Fatalf("unknown: %v", err)
	}
	if _, err := r.Metrics("nope"); !errors.Is(err, resilience.ErrUnknownBreaker) {
		t.Fatalf("unknown: %v", err)
	}
	if names := r.Names(); !slices.Equal(names, []string{"fragile", "sturdy"}) {
		t.Fatalf("Names = %v", names)
	}
	b, err := r.Breaker(ctx, "fragile")
	if err != nil || b.Name() != "fragile" {
		t.Fatalf("Breaker: %v, %v", b, err)
	}
}

func TestRegistryConcurrentFirstUse(t *testing.T) {
	r := must[*resilience.Registry](t)(resilience.NewRegistry(resilience.BreakerConfig{}))
	var wg sync.WaitGroup
	got := make([]*resilience.Breaker, 50)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := r.Breaker(t.Context(), "shared")
			if err != nil {
				t.Error(err)
			}
			got[i] = b
		}()
	}
	wg.Wait()
	for _, b := range got {
		if b != got[0] {
			t.Fatal("two breakers created for one name")
		}
	}
}

func TestRegistryWithStoreReadsTheStream(t *testing.T) {
	store := memory.New()
	t.Cleanup(func() { _ = store.Close() })
	clk := newClock()
	cfg := resilience.BreakerConfig{ConsecutiveFailures: 1, OpenDuration: time.Minute}
	first := must[*resilience.Registry](t)(resilience.NewRegistry(cfg, resilience.WithStore(store), resilience.WithClock(clk)))
	_ = first.Execute(t.Context(), "pg", fail)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second := must[*resilience.Registry](t)(resilience.NewRegistry(cfg, resilience.WithStore(store), resilience.WithClock(clk)))
	t.Cleanup(func() { _ = second.Close() })
	err := second.Execute(t.Context(), "pg", func(context.Context) error { t.Error("ran"); return nil })
	if !errors.Is(err, resilience.ErrCircuitOpen) {
		t.Fatalf("a restarted service's first call: %v, want the open circuit from the stream", err)
	}
}
