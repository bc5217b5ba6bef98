// Package eventstore is Chronicle's store contract: an append-only log of
// events grouped in streams, with the exact semantics of EventStoreDB.
//
// # The contract
//
// [Store] is the interface every backend implements: [Store.Append] with an
// [ExpectedRevision] for optimistic concurrency, reads of a stream or of the
// global log $all as iterators ([Store.ReadStream], [Store.ReadAll]),
// catch-up subscriptions that switch to live delivery
// ([Store.SubscribeToStream], [Store.SubscribeToAll]), soft delete,
// tombstones, and stream metadata ([StreamMetadata]) kept as events in
// $$<stream>. Errors are sentinels matched with errors.Is
// ([ErrWrongExpectedVersion], [ErrStreamNotFound], [ErrStreamDeleted],
// [ErrInvalidArgument], [ErrClosed]) and typed errors that carry the details
// ([*WrongExpectedVersionError], [*ArgumentError]).
//
// Backends live in subpackages: eventstore/memory (tests), eventstore/sqlite
// (the embedded durable default) and eventstore/esdb (EventStoreDB and
// KurrentDB). eventstore/storetest is the conformance suite they all pass;
// eventstore/esdbserver serves any Store over the EventStoreDB gRPC protocol.
//
// # Opening a store by URL
//
// Libraries and tests call a backend's constructor. Programs and config files
// use [Open], which picks a registered [Driver] by URL scheme, like
// database/sql:
//
//	import _ "github.com/chronicle-go/chronicle/eventstore/sqlite"
//
//	store, err := eventstore.Open(ctx, "sqlite:///var/lib/app/events.db")
//
// # Limits
//
// Stream names are non-empty UTF-8 of at most [MaxStreamNameLength] bytes;
// names starting with '$' are reserved for the store. One event is at most
// [MaxEventSize] bytes (data + metadata + twice the type), EventStoreDB's
// default of 16 MiB.
//
// # For backend authors
//
// [PrepareAppend], [ValidateRead] and the other Validate functions check
// input; [DecideAppend] and [DecideDelete] apply the expected-revision and
// idempotency rules to a [StreamState], so that every backend behaves alike.
package eventstore
