package main

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"time"

	"github.com/chronicle-go/chronicle/aggregate"
	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/examples/onboarding"
	"github.com/chronicle-go/chronicle/resilience"
	"github.com/chronicle-go/chronicle/saga"
)

// Fulfilment is the input of the order-fulfilment saga, recorded as the
// first event of its stream.
type Fulfilment struct {
	OrderID    string            `json:"orderId" jsonschema:"required,minLength=1"`
	UserID     string            `json:"userId" jsonschema:"required,minLength=1"`
	Lines      []onboarding.Line `json:"lines" jsonschema:"required,minItems=1"`
	TotalCents int64             `json:"totalCents" jsonschema:"required,minimum=1"`
	Currency   string            `json:"currency" jsonschema:"required,enum=EUR,enum=USD"`
}

// FulfilmentSaga is the saga's name: its streams are
// "chronicle-saga-fulfilment-<order ID>".
const FulfilmentSaga = "fulfilment"

// Breaker names: their streams are resilience.BreakerStream(name).
const (
	PaymentsBreaker = "payments"
	MailBreaker     = "mail"
)

// dependencies are the outside services behind their resilience policies.
type dependencies struct {
	warehouse *Warehouse
	payments  *Payments
	mail      *Mail
	// payCall and mailCall wrap one call: a timeout around the breaker.
	payCall, mailCall resilience.Policy
	// stepRetry retries a step's attempt; an open breaker or a business
	// rejection is not retried.
	stepRetry resilience.Policy
	breakers  []*resilience.Breaker
	log       *slog.Logger
}

// retryable reports whether a failed attempt is worth another: not when a
// breaker is open (it fails fast on purpose), not when stock is out, and
// not when a command was rejected by the domain.
func retryable(err error) bool {
	var rejected *aggregate.RejectedError
	return !errors.Is(err, resilience.ErrCircuitOpen) && !errors.Is(err, ErrOutOfStock) && !errors.As(err, &rejected)
}

// fulfilment defines the saga: accept the order, reserve its stock, charge
// it, ship it. When a step fails for good, the steps before it are undone in
// reverse order: the charge is refunded, the stock released, and undoing
// "accept" cancels the order and tells the customer.
func fulfilment(orders *aggregate.Repository[onboarding.Order], users *aggregate.Repository[onboarding.User], deps *dependencies) *saga.Definition[Fulfilment] {
	// notify e-mails the customer, at the address the user has when the
	// message goes out.
	notify := func(ctx context.Context, sc saga.StepContext[Fulfilment], subject string) {
		u, err := users.Load(ctx, sc.Input.UserID)
		if err != nil {
			deps.log.WarnContext(ctx, "e-mail not sent", slog.String("user", sc.Input.UserID), slog.Any("error", err))
			return
		}
		deps.notify(ctx, sc.Key, Message{To: u.State.Email, Subject: "Order " + sc.Input.OrderID + " " + subject})
	}
	return saga.New(FulfilmentSaga,
		saga.Step[Fulfilment]{
			Name: "accept",
			Action: func(ctx context.Context, sc saga.StepContext[Fulfilment]) error {
				o, err := orders.Load(ctx, sc.Input.OrderID)
				if err != nil {
					return err
				}
				if o.State.Status == onboarding.StatusCancelled {
					return &aggregate.RejectedError{Stream: "order-" + sc.Input.OrderID, Err: onboarding.ErrCancelled}
				}
				return nil
			},
			Compensate: func(ctx context.Context, sc saga.StepContext[Fulfilment]) error {
				_, err := orders.Update(ctx, sc.Input.OrderID, onboarding.CancelOrder{Reason: "fulfilment failed"}.Decide,
					aggregate.WithCommandName("CancelOrder"))
				if err != nil {
					return err
				}
				notify(ctx, sc, "cancelled")
				return nil
			},
			Retry: deps.stepRetry,
		},
		saga.Step[Fulfilment]{
			Name: "reserve",
			Action: func(ctx context.Context, sc saga.StepContext[Fulfilment]) error {
				return deps.warehouse.Reserve(ctx, sc.Input.OrderID, sc.Input.Lines)
			},
			Compensate: func(ctx context.Context, sc saga.StepContext[Fulfilment]) error {
				return deps.warehouse.Release(ctx, sc.Input.OrderID)
			},
			Retry: deps.stepRetry,
		},
		saga.Step[Fulfilment]{
			Name: "charge",
			Action: func(ctx context.Context, sc saga.StepContext[Fulfilment]) error {
				var paymentID string
				err := resilience.Run(ctx, func(ctx context.Context) (err error) {
					paymentID, err = deps.payments.Charge(ctx, sc.Key, sc.Input.OrderID, sc.Input.TotalCents)
					return err
				}, deps.payCall)
				if err != nil {
					return err
				}
				_, err = orders.Update(ctx, sc.Input.OrderID,
					onboarding.PayOrder{PaymentID: paymentID, AmountCents: sc.Input.TotalCents}.Decide,
					aggregate.WithCommandName("PayOrder"))
				return err
			},
			Compensate: func(ctx context.Context, sc saga.StepContext[Fulfilment]) error {
				return resilience.Run(ctx, func(ctx context.Context) error {
					return deps.payments.Refund(ctx, sc.Input.OrderID)
				}, deps.payCall)
			},
			Retry: deps.stepRetry,
		},
		saga.Step[Fulfilment]{
			Name: "ship",
			Action: func(ctx context.Context, sc saga.StepContext[Fulfilment]) error {
				_, err := orders.Update(ctx, sc.Input.OrderID,
					onboarding.ShipOrder{Carrier: "DHL", TrackingCode: trackingCode(sc.Input.OrderID)}.Decide,
					aggregate.WithCommandName("ShipOrder"))
				if err != nil && !errors.Is(err, onboarding.ErrAlreadyShipped) { // a repeated attempt
					return err
				}
				notify(ctx, sc, "shipped")
				return nil
			},
			Retry: deps.stepRetry,
		},
	)
}

// notify sends an e-mail through the mail policies. E-mail is best effort:
// a message that cannot be sent is logged, and the order goes on.
func (d *dependencies) notify(ctx context.Context, key string, msg Message) {
	err := resilience.Run(ctx, func(ctx context.Context) error { return d.mail.Send(ctx, key, msg) }, d.mailCall)
	if err != nil {
		d.log.WarnContext(ctx, "e-mail not sent", slog.String("to", msg.To), slog.String("subject", msg.Subject), slog.Any("error", err))
	}
}

// trackingCode derives a carrier tracking code from an order ID, so that a
// repeated ship attempt records the same one.
func trackingCode(orderID string) string {
	h := fnv.New64a()
	h.Write([]byte(orderID))
	return fmt.Sprintf("TRK%012X", h.Sum64()&0xFFFFFFFFFFFF)
}

// BreakerSettings configure the breakers of the dependencies.
type BreakerSettings struct {
	// Failures is how many consecutive failures open a breaker.
	Failures int
	// Open is how long a breaker stays open before it lets a probe through.
	Open time.Duration
}

// newDependencies wraps the fakes in their policies: each call has a
// timeout around a breaker whose state is the event stream
// resilience.BreakerStream(name) in the store, shared by every instance of
// the service.
func newDependencies(store eventstore.Store, w *Warehouse, p *Payments, m *Mail, bs BreakerSettings, opts []resilience.Option, instance string, log *slog.Logger) (*dependencies, error) {
	d := &dependencies{warehouse: w, payments: p, mail: m, log: log}
	policy := func(name string) (resilience.Policy, error) {
		b, err := resilience.NewBreaker(name, resilience.BreakerConfig{ConsecutiveFailures: bs.Failures, OpenDuration: bs.Open},
			append([]resilience.Option{resilience.WithStore(store), resilience.WithInstanceID(instance + "/" + name)}, opts...)...)
		if err != nil {
			return nil, err
		}
		d.breakers = append(d.breakers, b)
		t, err := resilience.NewTimeout(2*time.Second, append([]resilience.Option{resilience.WithName(name)}, opts...)...)
		if err != nil {
			return nil, err
		}
		return resilience.Compose(t, b), nil
	}
	var err error
	if d.payCall, err = policy(PaymentsBreaker); err != nil {
		return nil, err
	}
	if d.mailCall, err = policy(MailBreaker); err != nil {
		return nil, errors.Join(err, d.close())
	}
	if d.stepRetry, err = resilience.NewRetry(resilience.RetryConfig{
		MaxAttempts: 3, InitialDelay: 20 * time.Millisecond, MaxDelay: 200 * time.Millisecond, RetryIf: retryable,
	}, append([]resilience.Option{resilience.WithName(FulfilmentSaga)}, opts...)...); err != nil {
		return nil, errors.Join(err, d.close())
	}
	return d, nil
}

// close releases the breakers.
func (d *dependencies) close() error {
	var errs []error
	for _, b := range d.breakers {
		errs = append(errs, b.Close())
	}
	return errors.Join(errs...)
}
