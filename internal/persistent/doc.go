// Package persistent is the engine of persistent subscriptions (competing
// consumers) for stores that do not serve them natively: it implements
// eventstore.PersistentSubscriptions over any eventstore.Store, given a
// way to append to the store's '$' system streams, with EventStoreDB's
// semantics. eventstore/memory and eventstore/sqlite serve the capability
// through it.
//
// Everything a group needs to survive a restart is kept as events of the
// store, as EventStoreDB keeps it:
//
//   - the definitions of the groups, in ConfigStream: each create, update
//     or delete appends one ConfigEventType event holding every group's
//     settings as JSON (the stream keeps only its last event, $maxCount 1);
//   - each group's checkpoint, in PersistentGroup.CheckpointStream: a
//     CheckpointEventType event with the revision (a stream group) or the
//     position (a $all group) up to which every message was acknowledged,
//     skipped or parked ($maxCount 1);
//   - parked messages, in PersistentGroup.ParkedStream: one link event
//     (eventstore.LinkEventType) each, to the event that was parked, with
//     the reason in its metadata ({"reason": "..."}); ReplayParkedMessages
//     moves the stream's $tb past the replayed ones once they are finished
//     with again.
//
// A group reads its source with the store's SubscribeToStream or
// SubscribeToAll (catch-up, then live), from its checkpoint or its start
// point, and holds at most HistoryBufferSize (catching up) or
// LiveBufferSize (live) events that no consumer has taken yet: when its
// buffer is full it stops reading, and the store's subscription falls back
// to storage. A consumer has at most its BufferSize events in flight. An
// event not acknowledged within MessageTimeout is retried (to another
// consumer when RoundRobin or DispatchToSingle has one with room), and
// parked once it has been retried MaxRetryCount times. The checkpoint is
// written once MinCheckpointCount messages were finished with and
// CheckpointAfter has passed since the last one, or at once when
// MaxCheckpointCount were, and when the group stops; after a crash, the
// messages finished with since the last checkpoint are delivered again:
// delivery is at least once.
//
// Groups of $all do not deliver the events of the engine's own streams
// (those whose names start with eventstore.PersistentSubscriptionStreamPrefix,
// and ConfigStream): a group would otherwise be fed by its own checkpoints
// and parked links.
//
// Time (message timeouts, checkpoint timing) comes from an
// internal/clock.Clock, so tests can use a fake one.
package persistent
