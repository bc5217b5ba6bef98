// Package memory is an in-memory eventstore.Store for tests and examples.
//
// It implements the whole contract with EventStoreDB's semantics and passes
// the eventstore/storetest conformance suite, but keeps nothing on disk: the
// events live as long as the Store. It registers the URL scheme "memory:"
// for eventstore.Open (every Open returns a new, empty store).
//
// Byte slices in returned events are shared with the store and must not be
// modified.
package memory
