// Package eventstore is Chronicle's store contract: an append-only log of
// events grouped in streams, with EventStoreDB's semantics except for the
// differences listed under "Differences from EventStoreDB".
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
// # Differences from EventStoreDB
//
// The in-process backends (memory, sqlite) and the rules they share differ
// from EventStoreDB in these documented ways; storetest checks only what
// EventStoreDB guarantees where the two differ:
//
//   - Writes to '$' streams: user appends to names starting with '$' are
//     rejected (ErrReservedStreamName); EventStoreDB lets privileged users
//     write system streams. Metadata streams are written through
//     SetStreamMetadata only.
//   - Category and event-type streams: the embedded stores keep, for every
//     event of a user stream whose type does not start with '$', a link in
//     $et-<type> and, when the stream's name holds a '-', in
//     $ce-<category> (see IsLinked), as EventStoreDB's $by_category and
//     $by_event_type system projections do — but in the transaction of the
//     append, so a link exists exactly when its event is committed, and
//     with no projection to enable. These streams are read-only. Their
//     links are not in $all (EventStoreDB writes them there): a link has
//     the position and creation time of the event it points to, and an ID
//     derived from its stream and revision, the same on every read.
//     EventStoreDB's other system projections ($streams,
//     $by_correlation_id, $stream_by_category) are not kept.
//   - Links: ReadOptions.ResolveLinks (and its siblings on ReadAll and the
//     subscriptions) returns the event a link ("$>", "<revision>@<stream>")
//     points to, with the link in RecordedEvent.Link; a link whose target
//     is deleted, tombstoned, truncated or expired is returned as itself,
//     as EventStoreDB does.
//   - Idempotency: a re-append with Any or StreamExists is recognised while
//     its first event ID is among the last 65 536 event IDs written (see
//     Store.Append); EventStoreDB uses a cache of its own size, emptied by a
//     restart. Re-appends with NoStream or Exact compare IDs at their
//     revisions in both.
//   - Input: stream names with control characters, JSON data that is not
//     UTF-8, and Exact revisions above MaxRevision are rejected; positions
//     have Commit == Prepare.
//   - Scavenge: the sqlite backend scavenges on request (Scavenger), not on
//     a schedule.
//
// # For backend authors
//
// The rules every backend shares — checking input, and applying the
// expected-revision and idempotency rules to a stream's state — are in
// package eventstore/backend, as database/sql/driver is beside database/sql;
// applications do not need it. Backends register a URL scheme with Register.
package eventstore
