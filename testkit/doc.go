// Package testkit tests Chronicle code without infrastructure: given-when-then
// fixtures for aggregates, an in-memory store seeded with events, a fake
// clock and deterministic IDs.
//
// # Aggregates
//
// [For] starts a [Fixture] for one aggregate.Type; [Fixture.Given] lists the
// events that already happened, [Fixture.When] runs a decision through a real
// aggregate.Repository over an in-memory store, and the [Outcome] checks
// what happened:
//
//	func TestShipPaidOrder(t *testing.T) {
//		testkit.For(t, onboarding.Order, registry).
//			Given(onboarding.OrderPlaced{...}, onboarding.OrderPaid{...}).
//			When(onboarding.Ship("DHL", "JD0123")).
//			Then(onboarding.OrderShipped{Carrier: "DHL", TrackingCode: "JD0123"})
//	}
//
// [Outcome.Then] expects exactly these events, [Outcome.ThenNothing] none,
// [Outcome.ThenError] an error matching a target with errors.Is (and nothing
// written), and [Outcome.ThenState] a state. Mismatches are reported as
// go-cmp diffs (-want +got).
//
// Every event passes through the schema registry, as in production: given
// events are encoded and validated before they are appended, the decision's
// events are encoded and validated by the repository, and expected events
// are encoded, validated and decoded before they are compared. So a test
// fails when any of its events would be rejected in production, and events
// compare in the shape the store gives back.
//
// # Helpers
//
// Helpers take a testing.TB, call tb.Helper, clean up with tb.Cleanup and
// start failure messages with "testkit:". [NewStore] returns an in-memory
// store seeded with events and closed when the test ends; [Events] encodes
// typed events for it through a registry. [Clock] is a fake clock and [IDs] a
// deterministic UUID source: pass clock.Now and ids.Next to
// schema.WithClock and schema.WithIDs (and clock.Now to memory.WithClock or
// aggregate.WithClock) to make every byte a test writes repeatable.
package testkit
