package resilience_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/resilience"
)

// tracer is a Policy written outside the package: it records its name on
// the way in and out.
type tracer struct {
	name string
	log  *[]string
}

func (p tracer) Wrap(next func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		*p.log = append(*p.log, p.name+">")
		err := next(ctx)
		*p.log = append(*p.log, "<"+p.name)
		return err
	}
}

func TestComposeOrderIsOutermostFirst(t *testing.T) {
	var log []string
	a, b, c := tracer{"a", &log}, tracer{"b", &log}, tracer{"c", &log}
	retry := must[*resilience.Retry](t)(resilience.NewRetry(resilience.RetryConfig{
		MaxAttempts: 2, DelayHint: func(error) (time.Duration, bool) { return 0, true },
	}))
	inner := resilience.Compose(b, retry, c) // nested pipelines flatten
	p := resilience.Compose(a, inner)
	calls := 0
	err := p.Run(t.Context(), func(context.Context) error {
		log = append(log, "call")
		calls++
		if calls == 1 {
			return errBoom
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "a> b> c> call <c c> call <c <b <a"
	if got := strings.Join(log, " "); got != want {
		t.Fatalf("order %q, want %q", got, want)
	}
}

func TestPipelineAsAPolicyAndRun(t *testing.T) {
	var log []string
	p := resilience.Compose(tracer{"inner", &log})
	if err := resilience.Run(t.Context(), ok, tracer{"outer", &log}, p); err != nil {
		t.Fatal(err)
	}
	if err := p.Wrap(fail)(t.Context()); err != errBoom {
		t.Fatalf("Wrap: err = %v", err)
	}
	want := "outer> inner> <inner <outer inner> <inner"
	if got := strings.Join(log, " "); got != want {
		t.Fatalf("order %q, want %q", got, want)
	}
	if err := resilience.Run(t.Context(), fail); err != errBoom {
		t.Fatalf("no policies: err = %v", err)
	}
}

func TestComposePanicsOnNil(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "policy 1 is nil") {
			t.Fatalf("recover() = %v", r)
		}
	}()
	resilience.Compose(resilience.Compose(), nil)
}

func TestEveryPolicyWraps(t *testing.T) {
	retry := must[*resilience.Retry](t)(resilience.NewRetry(resilience.RetryConfig{MaxAttempts: 1}))
	bulkhead := must[*resilience.Bulkhead](t)(resilience.NewBulkhead(resilience.BulkheadConfig{MaxConcurrent: 1}))
	breaker := must[*resilience.Breaker](t)(resilience.NewBreaker("w", resilience.BreakerConfig{}))
	for _, p := range []resilience.Policy{retry, bulkhead, breaker} {
		if err := p.Wrap(ok)(t.Context()); err != nil {
			t.Fatalf("%T: %v", p, err)
		}
	}
}
