package resilience_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/chronicle-go/chronicle/resilience"
)

func TestFallbackConfig(t *testing.T) {
	_, err := resilience.NewFallback(resilience.FallbackConfig{})
	wantConfigError(t, err, "Func")
	_, err = resilience.NewFallback(resilience.FallbackConfig{Func: func(context.Context, error) error { return nil }}, nil)
	wantConfigError(t, err, "option")
}

func TestFallback(t *testing.T) {
	skip := errors.New("not for the fallback")
	fbErr := errors.New("cache empty")
	var got error
	f := must[*resilience.Fallback](t)(resilience.NewFallback(resilience.FallbackConfig{
		Func: func(_ context.Context, err error) error {
			got = err
			if errors.Is(err, errBoom) {
				return nil
			}
			return fbErr
		},
		If: func(err error) bool { return !errors.Is(err, skip) },
	}, resilience.WithName("price")))

	if err := resilience.Run(t.Context(), ok, f); err != nil || got != nil {
		t.Fatalf("success: err = %v, fallback saw %v", err, got)
	}
	if err := resilience.Run(t.Context(), fail, f); err != nil || got != errBoom {
		t.Fatalf("fallback: err = %v, fallback saw %v", err, got)
	}
	if err := resilience.Run(t.Context(), func(context.Context) error { return skip }, f); err != skip {
		t.Fatalf("not handled: err = %v", err)
	}
	other := errors.New("other")
	err := f.Wrap(func(context.Context) error { return other })(t.Context())
	var fe *resilience.FallbackError
	if !errors.Is(err, resilience.ErrFallbackFailed) || !errors.Is(err, fbErr) || !errors.Is(err, other) || !errors.As(err, &fe) {
		t.Fatalf("err = %v", err)
	}
	if fe.Err != other || fe.FallbackErr != fbErr || fe.Name != "price" {
		t.Fatalf("FallbackError = %+v", fe)
	}
	if !strings.Contains(err.Error(), `fallback "price": cache empty (after: other)`) {
		t.Fatalf("message %q", err)
	}
}
