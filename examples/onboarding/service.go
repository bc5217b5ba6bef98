package onboarding

import (
	"context"
	"errors"
	"fmt"

	"github.com/chronicle-go/chronicle/aggregate"
	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/schema"
)

// ErrEmailNotVerified: a user must verify their email before they order.
var ErrEmailNotVerified = errors.New("onboarding: email not verified")

// Service is the application layer: it holds one repository per aggregate
// type and runs commands that need more than one aggregate. Handlers (HTTP,
// gRPC, queues) call the repositories directly for single-aggregate
// commands:
//
//	svc.Users.Create(ctx, id, onboarding.RegisterUser{Email: e, Name: n}.Decide)
type Service struct {
	Users  *aggregate.Repository[User]
	Orders *aggregate.Repository[Order]
}

// NewService returns a Service over store whose events registry encodes (see
// NewRegistry); opts apply to both repositories.
func NewService(store eventstore.Store, registry *schema.Registry, opts ...aggregate.Option) (*Service, error) {
	users, err := aggregate.NewRepository(store, registry, UserType, opts...)
	if err != nil {
		return nil, err
	}
	orders, err := aggregate.NewRepository(store, registry, OrderType, opts...)
	if err != nil {
		return nil, err
	}
	return &Service{Users: users, Orders: orders}, nil
}

// PlaceOrder places order orderID for a registered, active user whose email
// is verified. The user is read, not locked: a user deactivated while the
// order is placed still gets it, which is fine for this business (a process
// manager reacting to UserDeactivated would cancel open orders).
func (s *Service) PlaceOrder(ctx context.Context, orderID string, cmd PlaceOrder) (aggregate.Result[Order], error) {
	user, err := s.Users.Load(ctx, cmd.UserID)
	if errors.Is(err, aggregate.ErrNotFound) {
		return aggregate.Result[Order]{}, fmt.Errorf("%w: %q", ErrNotRegistered, cmd.UserID)
	}
	if err != nil {
		return aggregate.Result[Order]{}, err
	}
	if err := user.State.active(); err != nil {
		return aggregate.Result[Order]{}, err
	}
	if !user.State.EmailVerified {
		return aggregate.Result[Order]{}, ErrEmailNotVerified
	}
	return s.Orders.Create(ctx, orderID, cmd.Decide)
}
