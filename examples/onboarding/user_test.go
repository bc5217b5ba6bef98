package onboarding_test

import (
	"testing"

	"github.com/chronicle-go/chronicle/aggregate"
	"github.com/chronicle-go/chronicle/examples/onboarding"
	"github.com/chronicle-go/chronicle/schema"
	"github.com/chronicle-go/chronicle/testkit"
)

func newRegistry(t testing.TB) *schema.Registry {
	t.Helper()
	reg, err := onboarding.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// Events shared by the tests.
var (
	registered  = onboarding.UserRegistered{Email: "ada@example.com", Name: "Ada"}
	verified    = onboarding.EmailVerified{Email: "ada@example.com"}
	deactivated = onboarding.UserDeactivated{Reason: "asked to"}
	dark        = onboarding.Preferences{Language: "de", Theme: "dark", Newsletter: true}
)

func TestRegisterUser(t *testing.T) {
	users := testkit.For(t, onboarding.UserType, newRegistry(t))

	users.When(onboarding.RegisterUser{Email: "ada@example.com", Name: "Ada"}.Decide).
		Then(registered).
		ThenState(onboarding.User{Registered: true, Email: "ada@example.com", Name: "Ada", Preferences: onboarding.DefaultPreferences})

	users.Given(registered).
		When(onboarding.RegisterUser{Email: "eve@example.com", Name: "Eve"}.Decide).
		ThenError(onboarding.ErrAlreadyRegistered)

	// The event's schema guards the data: no invalid user is ever stored.
	users.When(onboarding.RegisterUser{Email: "not an email", Name: "Ada"}.Decide).
		ThenError(schema.ErrValidation)
	users.When(onboarding.RegisterUser{Email: "ada@example.com"}.Decide).
		ThenError(aggregate.ErrInvalidEvent)
}

func TestVerifyEmail(t *testing.T) {
	users := testkit.For(t, onboarding.UserType, newRegistry(t))
	verify := onboarding.VerifyEmail{Email: "ada@example.com"}.Decide

	users.Given(registered).When(verify).Then(verified)
	users.Given(registered, verified).When(verify).ThenNothing()
	users.Given(registered).When(onboarding.VerifyEmail{Email: "eve@example.com"}.Decide).ThenError(onboarding.ErrEmailMismatch)
	users.When(verify).ThenError(onboarding.ErrNotRegistered)
	users.Given(registered, deactivated).When(verify).ThenError(onboarding.ErrDeactivated)
}

func TestSetPreferences(t *testing.T) {
	users := testkit.For(t, onboarding.UserType, newRegistry(t))
	set := onboarding.SetPreferences{Preferences: dark}.Decide

	users.Given(registered).When(set).
		Then(onboarding.PreferencesSet{Preferences: dark}).
		ThenState(onboarding.User{Registered: true, Email: "ada@example.com", Name: "Ada", Preferences: dark})
	users.Given(registered, onboarding.PreferencesSet{Preferences: dark}).When(set).ThenNothing()
	users.Given(registered).When(onboarding.SetPreferences{Preferences: onboarding.DefaultPreferences}.Decide).ThenNothing()
	users.Given(registered).When(onboarding.SetPreferences{Preferences: onboarding.Preferences{Language: "xx", Theme: "dark"}}.Decide).
		ThenError(schema.ErrValidation)
	users.Given(registered, deactivated).When(set).ThenError(onboarding.ErrDeactivated)
}

func TestDeactivateUser(t *testing.T) {
	users := testkit.For(t, onboarding.UserType, newRegistry(t))
	deactivate := onboarding.DeactivateUser{Reason: "asked to"}.Decide

	users.Given(registered, verified).When(deactivate).Then(deactivated)
	users.Given(registered, deactivated).When(deactivate).ThenNothing()
	users.When(deactivate).ThenError(onboarding.ErrNotRegistered)
	users.Given(registered).When(onboarding.DeactivateUser{}.Decide).ThenError(schema.ErrValidation)
}
