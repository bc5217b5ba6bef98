package onboarding

import (
	"errors"
	"fmt"

	"github.com/chronicle-go/chronicle/aggregate"
)

// Domain errors of users. Decisions return them; callers match them with
// errors.Is (the repository wraps them in an *aggregate.RejectedError).
var (
	ErrAlreadyRegistered = errors.New("onboarding: user already registered")
	ErrNotRegistered     = errors.New("onboarding: user not registered")
	ErrDeactivated       = errors.New("onboarding: user is deactivated")
	ErrEmailMismatch     = errors.New("onboarding: email does not match the registered one")
)

// User is the state of a user, rebuilt from its events. It is only ever
// changed by evolve.
type User struct {
	Registered    bool        `json:"registered"`
	Email         string      `json:"email"`
	Name          string      `json:"name"`
	EmailVerified bool        `json:"emailVerified"`
	Preferences   Preferences `json:"preferences"`
	Deactivated   bool        `json:"deactivated"`
}

// DefaultPreferences are a new user's preferences.
var DefaultPreferences = Preferences{Language: "en", Theme: "system"}

// UserType describes the user aggregate: streams "user-<id>".
var UserType = aggregate.Type[User]{
	Category: "user",
	Initial:  func() User { return User{Preferences: DefaultPreferences} },
	Evolve:   User.evolve,
}

// evolve applies one event. It never fails and never checks rules: events
// are facts that already happened; the rules live in the decisions.
func (u User) evolve(event any) User {
	switch e := event.(type) {
	case UserRegistered:
		u.Registered, u.Email, u.Name = true, e.Email, e.Name
	case EmailVerified:
		u.EmailVerified = true
	case PreferencesSet:
		u.Preferences = e.Preferences
	case UserDeactivated:
		u.Deactivated = true
	}
	return u
}

// active checks that the user can still act.
func (u User) active() error {
	switch {
	case !u.Registered:
		return ErrNotRegistered
	case u.Deactivated:
		return ErrDeactivated
	}
	return nil
}

// Commands are structs with a Decide method: the decision, a pure function
// of the command and the current state, passed to a repository as
// cmd.Decide. A command that changes nothing returns no events; one that
// breaks a rule returns a domain error.

// RegisterUser signs a user up.
type RegisterUser struct {
	Email string
	Name  string
}

// Decide implements the command.
func (c RegisterUser) Decide(u User) ([]any, error) {
	if u.Registered {
		return nil, ErrAlreadyRegistered
	}
	return []any{UserRegistered{Email: c.Email, Name: c.Name}}, nil
}

// VerifyEmail records that the user proved they own Email. Verifying twice
// changes nothing.
type VerifyEmail struct {
	Email string
}

// Decide implements the command.
func (c VerifyEmail) Decide(u User) ([]any, error) {
	if err := u.active(); err != nil {
		return nil, err
	}
	if c.Email != u.Email {
		return nil, fmt.Errorf("%w: %q", ErrEmailMismatch, c.Email)
	}
	if u.EmailVerified {
		return nil, nil
	}
	return []any{EmailVerified{Email: c.Email}}, nil
}

// SetPreferences replaces the user's preferences; setting the current ones
// changes nothing.
type SetPreferences struct {
	Preferences Preferences
}

// Decide implements the command.
func (c SetPreferences) Decide(u User) ([]any, error) {
	if err := u.active(); err != nil {
		return nil, err
	}
	if c.Preferences == u.Preferences {
		return nil, nil
	}
	return []any{PreferencesSet{Preferences: c.Preferences}}, nil
}

// DeactivateUser closes the user's account; closing it twice changes
// nothing.
type DeactivateUser struct {
	Reason string
}

// Decide implements the command.
func (c DeactivateUser) Decide(u User) ([]any, error) {
	if !u.Registered {
		return nil, ErrNotRegistered
	}
	if u.Deactivated {
		return nil, nil
	}
	return []any{UserDeactivated{Reason: c.Reason}}, nil
}
