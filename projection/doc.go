// Package projection builds read models from events: a Runner subscribes to
// a projection's source from its stored checkpoint, hands each event to a
// typed handler, moves the checkpoint with the handler's writes, and keeps
// the read model live, so that services never write their own checkpoint
// loop.
//
// # Defining a projection
//
// A Projection is a name, a Source and typed handlers, with the transaction
// type Tx its handlers write with:
//
//	p := projection.New[*sql.Tx]("orders_per_user", projection.Category("order"), reg)
//	projection.On(p, func(ctx context.Context, tx *sql.Tx, ev projection.Event[OrderPlaced]) error {
//		_, err := tx.ExecContext(ctx, `INSERT INTO orders(user_id, order_id) VALUES (?, ?)`, ev.Data.UserID, ev.Data.OrderID)
//		return err
//	})
//
// Registering a handler for E subscribes to E's event type in the schema
// registry; events are decoded (and upcast to the current version) before
// the handler sees them, with their metadata and their recorded form
// (stream, revision, position). A read model outside a database uses
// NoTx and Handle.
//
// Sources read $all — every application stream (AllStreams), one category
// (Category), or a server-side Filter (stream-name or event-type prefixes or
// a regular expression) — or one Stream. Chronicle's own streams (the
// "chronicle" category: schemas, snapshots, breakers, checkpoints, parked
// events) and the store's '$' streams are left out unless
// Source.IncludeFramework is set. Checkpoints are typed: a $all source
// stores positions, a stream source revisions, and a stored checkpoint of
// the other kind is refused (ErrCheckpointMismatch) rather than misread.
//
// Definition errors — no handlers, two handlers for one type, a type the
// registry does not know, a bad name or filter — are reported by NewRunner,
// before anything is written.
//
// # Targets and checkpoints
//
// A Target is where handlers write and checkpoints live. Its Update runs a
// batch of handlers and the checkpoint move in one transaction:
//
//   - projection/postgres and projection/sqlite keep the checkpoint in the
//     read model's own database, in the same transaction as the handlers'
//     writes, so each event's effect happens exactly once, across crashes.
//   - AtLeastOnce wraps any CheckpointStore — MemoryCheckpoints, or
//     StreamCheckpoints, which keeps checkpoints as events in the store's
//     "chronicle-checkpoint-<projection>" stream — for read models outside a
//     database; it saves every N events or T seconds, and after a crash the
//     events since the last save are handled again, so handlers must be
//     idempotent.
//
// Every checkpoint write is fenced (an expected revision on the checkpoint
// stream, or the stored checkpoint in the transaction's WHERE clause): of two
// runners of one projection only one advances it, and the other stops with
// ErrFenced. The conformance suite projection/checkpointtest checks every
// implementation.
//
// # Running
//
// Runner.Run loads the checkpoint, catches up, reports CaughtUp, and goes
// live. When the subscription drops it resubscribes by itself, once per
// drop, from the last handled position, after a backoff with full jitter:
// no gap and no duplicate. Filtered subscriptions advance through long runs
// of events they leave out (their checkpoint messages move the checkpoint).
// Canceling Run's context finishes the batch in hand, saves the checkpoint
// and returns nil. State and Status expose the position, the lag behind the
// store's head in events and in time, caught-up, counters and the last
// error; WaitFor(ctx, position) blocks until the read model includes an
// append's result, for read-your-writes in request handlers.
//
// # Partitions
//
// WithWorkers(n) handles events in n partitions in parallel, by stream (or
// WithPartitionKey), keeping order within a partition. Each partition
// commits its own checkpoint with its writes, so exactly-once holds per
// partition; the runner's own checkpoint moves only past positions every
// partition has finished (a gap-aware commit), and a restart resumes from it,
// each partition skipping what it had already committed.
//
// # Competing consumers
//
// WithPersistentGroup runs a projection through a persistent subscription
// group of a store that implements eventstore.PersistentSubscriptions, so
// that several instances of a service share its events: the group hands
// each event to one of its consumers, and the runner acks it after its
// handler's transaction commits (Transactor). A failing handler is nacked
// for the group to retry, then parked in the group's parked stream, skipped
// or stopped on, per OnFailure. The trade-offs: no global order, no runner
// checkpoint (the group's replaces it), and at-least-once delivery on every
// target, so handlers must be idempotent. Partitions, WaitFor, WaitCaughtUp
// and rebuilds do not apply and are refused with ErrInvalidProjection.
//
// # Poison events
//
// A failing handler is retried alone, in its own transaction, under a
// resilience policy (WithRetry). When it still fails, OnFailure decides: Park
// (the default) records it in the projection's parked stream
// "chronicle-parked-<projection>" with the error and blocks its partition
// key, so the key's later events are parked behind it while other keys flow;
// Skip counts it; Stop ends Run. Events the registry cannot decode follow
// OnUndecodable the same way. ListParked lists the parked events;
// Runner.ReplayParked, or RequestReplay from another process (`chronicle
// projection replay-parked`), hands them to their handlers again in order
// and unblocks keys whose events all succeed.
//
// # Rebuilds
//
// A new version of a projection (Projection.Version) is a new read model. On
// a Rebuilder target it is built beside the live version — into its own
// schema or file — while the live one keeps serving, from the start of the
// source; once caught up and past the live version's checkpoint it is
// promoted in one transaction, and the old version's runner retires
// (ErrRetired). Status reports the progress (done, total, rate, ETA).
//
// # Observability
//
// Each handled batch is a span ("projection <name> handle", kind consumer)
// linked to the traces the events carry in their metadata (traceparent), and
// handlers get a context whose causation and correlation IDs are the
// event's. Metrics: chronicle.projection.events.handled, .errors,
// .events.parked, .lag.events and .lag.seconds, by projection. Only the
// OpenTelemetry API is used.
package projection
