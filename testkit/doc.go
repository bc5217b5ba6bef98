// Package testkit tests Chronicle code without infrastructure: given-when-then
// fixtures for aggregates, given-then fixtures for projections, an in-memory
// store seeded with events, a fake clock and deterministic IDs.
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
// # Projections
//
// [ForProjection] starts a [ProjectionFixture] for a projection with an
// in-memory read model: a build function returns a new
// projection.Projection[projection.NoTx] writing into a new model, and a
// function that returns a copy of the model. [ProjectionFixture.Given] lists
// events (by default in [DefaultProjectionStream]; [In] puts them in a
// stream), and [ProjectionFixture.Then] runs the projection through a real
// projection.Runner over an in-memory store and compares the model with the
// expected one. It then checks what at-least-once delivery asks of the
// handlers: delivering every event twice in a row, and the whole history
// again, leaves the model unchanged, and stopping halfway and restarting
// from the saved checkpoint gives the same model:
//
//	func TestOpenOrders(t *testing.T) {
//		testkit.ForProjection(t, registry, newOpenOrders).
//			Given(testkit.In("order-1", OrderPlaced{ID: "1"}), testkit.In("order-2", OrderPlaced{ID: "2"}, OrderShipped{ID: "2"})).
//			Then(map[string]bool{"1": true})
//	}
//
// A handler that fails, or an event that does not decode, fails the test
// with the event.
//
// # Helpers
//
// Helpers take a testing.TB, call tb.Helper, clean up with tb.Cleanup and
// start failure messages with "testkit:". [NewStore] returns an in-memory
// store seeded with events and closed when the test ends; [Events] encodes
// typed events for it through a registry. [IDs] is a deterministic UUID
// source (pass ids.Next to schema.WithIDs).
//
// # Clock
//
// [Clock] is a fake clock with timers and the one clock type the packages
// take: pass it to schema.WithClock, aggregate.WithClock and
// resilience.WithClock (and its Now method to memory.WithClock). Time moves
// only through [Clock.Advance] and [Clock.Set]; functions scheduled with
// [Clock.AfterFunc] — a Timeout's deadline, a Retry's or a conflict's
// backoff, a breaker's recovery, a saga's deadline — run when the time
// reaches them, and [Clock.WaitPending] tells a test that the code under
// test is waiting before it advances. A [Fixture] has its own Clock
// ([Fixture.Clock], [Fixture.WithClock]) that dates every event, so
// fixtures never read the wall clock.
//
// [Fixture.When] runs a command with Repository.Execute; [Fixture.WhenCreate]
// and [Fixture.WhenUpdate] test Create and Update semantics, and all three
// take the command's options (aggregate.WithExpectedRevision,
// aggregate.WithCommandName). [Outcome.ThenMetadata] checks the appended
// events' metadata: correlation and causation, the command name, the
// decided-at time.
package testkit
