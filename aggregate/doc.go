// Package aggregate keeps event-sourced aggregates: state rebuilt from a
// stream of events, changed only by appending new events that a decision
// derives from the current state.
//
// # Types and repositories
//
// A [Type] describes one kind of aggregate once: its category (the stream of
// aggregate id is category + "-" + id), its initial state and its Evolve
// function, which applies one decoded event to a state. A [Repository] keeps
// aggregates of one Type in an [eventstore.Store], encoding and decoding
// events through a [schema.Registry]:
//
//	orders, err := aggregate.NewRepository(store, registry, Order,
//		aggregate.WithSnapshotEvery(100))
//
// NewRepository checks the registry's upcaster chains
// ([schema.Registry.Check]): register every type and upcaster first.
//
// # Commands
//
// A command is a [Decision]: a function from the current state to new events
// (or an error that rejects the command). [Repository.Create],
// [Repository.Update] and [Repository.Execute] run one with explicit
// expectations about existence:
//
//	Create   the aggregate must not exist yet   else *AlreadyExistsError
//	Update   the aggregate must exist           else *NotFoundError
//	Execute  either
//
// Each loads the aggregate (newest snapshot + later events), runs the
// decision, encodes and validates the events through the registry and
// decodes them back as a later load will (an invalid event, or one that
// would not read back, such as an older version whose upcaster chain is
// incomplete, is an *EventError and nothing is written), and appends them
// with the loaded revision as the expected revision. If another writer got
// there first, the command waits a random, exponentially growing time
// ([WithConflictBackoff]; full jitter, so colliding writers spread out),
// then loads and decides again, up to [WithMaxRetries] times and for as long
// as the context lasts, then returns a *ConflictError that unwraps to the
// last *eventstore.WrongExpectedVersionError (and to the context's error if
// that ended the wait). BenchmarkConflicts measures conflicts per command
// with 16 and 64 writers on one aggregate. A decision's error comes back as a
// *RejectedError that unwraps to it.
//
// Correlation and causation IDs set with schema.WithCorrelation, and the
// trace context of the command's span, are written into the metadata of
// every appended event by the registry.
//
// Each command takes [CommandOption]s. [WithExpectedRevision] passes the
// revision the caller read (an HTTP If-Match): if the aggregate is no longer
// there, or another writer wins the race to append, the command fails with
// an *eventstore.WrongExpectedVersionError and is not retried.
// [WithCommandName] names the command ("ShipOrder") in its span, its
// metrics and the metadata of its events ([MetadataCommand]).
//
// [WithAfterAppend] sets a hook that runs after each successful append,
// before the command returns (outbox, cache); its error does not undo the
// append and comes back as an *AfterAppendError with the full Result.
//
// # Snapshots
//
// With [WithSnapshotEvery](n), a command that leaves the aggregate at least n
// events past the snapshot it loaded from appends a snapshot: an event of
// type [SnapshotEventType] in the stream [Type.SnapshotStream]
// ("chronicle-snapshot-order-42" for "order-42"). Its category ("chronicle")
// differs from the aggregate's, so category subscriptions and projections
// never see snapshots. The stream's $maxCount follows
// [WithSnapshotRetention], also when it changes (other stream metadata is
// kept). A snapshot's metadata is that of the event it was taken after
// (correlation, trace context, command name), with that event as its cause
// and the time it was taken as decidedAt. Each snapshot records the revision it was taken
// at and a snapshot version ([Type.SnapshotVersion], by default a hash of the
// JSON Schema of the state type): a snapshot of another version is ignored,
// so changing the state type never loads a stale shape, and a snapshot the
// stream no longer continues (after a delete) is ignored too. The state must
// round-trip through encoding/json: unexported fields are not kept.
//
// # Long loads
//
// A load applies its events one after the other on the caller's goroutine.
// Most of a long load's time is decoding (encoding/json), so once a load
// has applied 512 events it decodes the rest in parallel: it goes on
// reading the same stream on the caller's goroutine, hands batches of 128
// events to min(GOMAXPROCS, 4) goroutines that decode them through the
// registry, and applies the decoded events in order. Evolve still runs on
// the caller's goroutine, one event after the other; what runs concurrently
// is [schema.Registry.Decode], with its upcasters, so upcasters must be
// safe to call from several goroutines at once (pure functions are). The
// result is the same as decoding one event after the other, errors
// included: the first event that does not decode fails the load and no
// event after it is applied (some may have been decoded); a panic while
// decoding is raised on the caller's goroutine at its event's turn. At
// most twice as many batches as decoding goroutines, plus one, are held at
// once. Shorter loads, and every load when GOMAXPROCS is 1, start no
// goroutine.
//
// # Time travel
//
// [Repository.LoadAt] rebuilds an aggregate as it was at a revision,
// [Repository.LoadAsOf] as it was at a point in time (by the events'
// decided-at metadata), and [Repository.Replay] yields the state after each
// event, for debugging and for the CLI's replay.
//
// # Observability
//
// Each command is one span ("aggregate.execute order", …) from the
// tracer "github.com/chronicle-go/chronicle/aggregate", with attributes
// chronicle.stream, chronicle.aggregate.command, .command.name (with
// WithCommandName; also on the command metrics), .attempts, .outcome,
// chronicle.revision and an event per conflict. Metrics, from the meter of
// the same name:
//
//	chronicle.aggregate.commands          counter    category, command, outcome
//	chronicle.aggregate.command.duration  histogram  seconds; category, command, outcome
//	chronicle.aggregate.conflicts         counter    category
//	chronicle.aggregate.events.loaded     counter    category
//	chronicle.aggregate.snapshots         counter    category
//
// Outcomes are ok, rejected, conflict, wrong_expected_version, not_found,
// already_exists, invalid_event, after_append_failed and error. Logs (WithLogger) are debug records per command
// and conflict, and warnings for failed or ignored snapshots.
package aggregate
