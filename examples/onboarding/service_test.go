package onboarding_test

import (
	"context"
	"errors"
	"testing"

	"github.com/chronicle-go/chronicle/aggregate"
	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/examples/onboarding"
	"github.com/chronicle-go/chronicle/testkit"
)

func newService(t *testing.T) *onboarding.Service {
	t.Helper()
	svc, err := onboarding.NewService(testkit.NewStore(t, "unused"), newRegistry(t))
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func TestServicePlaceOrder(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	place := onboarding.PlaceOrder{UserID: "u-1", Lines: lines, TotalCents: 4200, Currency: "EUR"}

	if _, err := svc.PlaceOrder(ctx, "o-1", place); !errors.Is(err, onboarding.ErrNotRegistered) {
		t.Errorf("unknown user: %v", err)
	}
	if _, err := svc.Users.Create(ctx, "u-1", onboarding.RegisterUser{Email: "ada@example.com", Name: "Ada"}.Decide); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.PlaceOrder(ctx, "o-1", place); !errors.Is(err, onboarding.ErrEmailNotVerified) {
		t.Errorf("unverified user: %v", err)
	}
	if _, err := svc.Users.Update(ctx, "u-1", onboarding.VerifyEmail{Email: "ada@example.com"}.Decide); err != nil {
		t.Fatal(err)
	}
	res, err := svc.PlaceOrder(ctx, "o-1", place)
	if err != nil || res.State.Status != onboarding.StatusPlaced || res.Revision != eventstore.Exact(0) {
		t.Fatalf("PlaceOrder = %+v, %v", res, err)
	}
	if _, err := svc.PlaceOrder(ctx, "o-1", place); !errors.Is(err, aggregate.ErrAlreadyExists) {
		t.Errorf("placing o-1 twice: %v", err)
	}
	if _, err := svc.Users.Update(ctx, "u-1", onboarding.DeactivateUser{Reason: "asked to"}.Decide); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.PlaceOrder(ctx, "o-2", place); !errors.Is(err, onboarding.ErrDeactivated) {
		t.Errorf("deactivated user: %v", err)
	}
	if _, err := svc.PlaceOrder(ctx, "o-3", onboarding.PlaceOrder{}); !errors.Is(err, aggregate.ErrInvalidID) {
		t.Errorf("no user ID: %v", err)
	}
}

func TestNewServiceRejectsBadOptions(t *testing.T) {
	if _, err := onboarding.NewService(testkit.NewStore(t, "unused"), newRegistry(t), aggregate.WithMaxRetries(-1)); !errors.Is(err, aggregate.ErrInvalidOption) {
		t.Errorf("NewService = %v", err)
	}
	if _, err := onboarding.NewService(nil, newRegistry(t)); err == nil {
		t.Error("NewService(nil store) succeeded")
	}
}
