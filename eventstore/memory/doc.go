// Package memory is an in-memory eventstore.Store for tests and examples.
//
// It implements the whole contract with EventStoreDB's semantics and passes
// the eventstore/storetest conformance suite, but keeps nothing on disk: the
// events live as long as the Store. It registers the URL scheme "memory:"
// for eventstore.Open (every Open returns a new, empty store).
//
// It serves persistent subscriptions (eventstore.PersistentSubscriptions:
// competing consumers with acks, retries, parked messages and checkpoints)
// through internal/persistent, keeping their state as events of the store,
// as the sqlite store does.
//
// It behaves as the sqlite store does where the contract leaves a choice,
// so that a test suite built on "memory:" does not pass on behaviour the
// durable store lacks (storetest checks each):
//
//   - Appends copy the events' byte slices, and reads hand out copies: a
//     caller that modifies an event's Data changes nothing in the store.
//   - A read ends at the events there were when it started; events
//     appended while it runs are not read (SQLite's snapshot reads).
//   - Idempotent re-appends with Any or StreamExists are recognised while
//     the first event ID is among the last WithRecentIDs (default
//     DefaultRecentIDs) event IDs written, in the stream it was last written
//     to; NoStream and Exact re-appends compare IDs at their revisions,
//     whatever their age. EventStoreDB does the same with a bounded cache of
//     committed event IDs, emptied by a restart.
package memory
