// Package onboarding is a small, complete domain built on Chronicle, meant
// to be copied: users sign up, verify their email, set preferences and may
// be deactivated; verified users place orders, which are paid, shipped or
// cancelled.
//
// # How it is laid out
//
//	events.go   the event types (the JSON Schema comes from struct tags),
//	            Register/NewRegistry, and the OrderPlaced v1→v2 upcaster
//	user.go     the User state, its Evolve, and the user commands
//	order.go    the Order state, its Evolve, and the order commands
//	service.go  repositories wired together, and a command that reads one
//	            aggregate to decide on another
//	*_test.go   given-when-then tests with testkit, one per rule
//
// # The pattern
//
// State is a plain struct, rebuilt by an evolve method that applies one
// event and never fails (events are facts). Commands are structs whose
// Decide method looks at the state and returns new events, nothing (the
// command changes nothing: commands are idempotent where the business
// allows), or a domain error. Decisions have no side effects: on a
// concurrency conflict the repository runs them again on fresh state.
//
//	res, err := svc.Orders.Update(ctx, "o-1", onboarding.PayOrder{PaymentID: "p-9", AmountCents: 4200}.Decide)
//	if errors.Is(err, onboarding.ErrWrongAmount) { … }
//
// # Versioning events
//
// Stored events are never rewritten. When an event's shape must change
// incompatibly, register the new shape under the next version with an
// upcaster from the previous one, and keep the old Go type registered so
// that old events still validate: OrderPlaced v1 (items and a dollar total)
// became v2 (lines and cents of a currency). Code sees only the current
// version.
package onboarding
