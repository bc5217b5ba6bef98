// Package esdb is the eventstore.Store for EventStoreDB and KurrentDB, over
// the official Go client (github.com/EventStore/EventStore-Client-Go/v4).
//
// # Opening
//
// [Open] takes a connection string, "esdb://host:2113?tls=false",
// "esdb://user:password@host1:2113,host2:2113?tlsCAFile=ca.pem" or
// "esdb+discover://cluster.example.com:2113", validates every setting the
// client supports and checks that the server answers. [New] wraps an
// existing *esdb.Client. Importing the package registers the schemes
// "esdb" and "esdb+discover" for eventstore.Open:
//
//	import _ "github.com/chronicle-go/chronicle/eventstore/esdb"
//
//	store, err := eventstore.Open(ctx, "esdb://localhost:2113?tls=false")
//
// # Semantics
//
// The store follows the eventstore contract exactly; it validates input
// (backend.PrepareAppend and the Validate functions) before anything
// reaches the server, and maps the server's answers to the contract's
// errors: *eventstore.WrongExpectedVersionError with both revisions,
// *eventstore.StreamNotFoundError, *eventstore.StreamDeletedError,
// eventstore.ErrAccessDenied (also for failed authentication),
// eventstore.ErrUnavailable, eventstore.ErrNotLeader, and
// *eventstore.ArgumentError for requests the server rejects. Positions are
// the server's commit and prepare positions. Stream metadata is read and
// written as raw $metadata events of $$<stream>, so no value loses
// precision. Subscriptions to $all filter on the server and report its
// checkpoints as eventstore.MessageCheckpoint.
//
// Filtered ReadAll calls filter on the client, since the v4 client sends no
// filter with reads.
//
// ResolveLinks is passed to the server (ResolveLinkTos): a resolved link
// arrives as its target with the link record in RecordedEvent.Link, and a
// link whose target is gone as the link itself; reads and resumed
// subscriptions continue after the link (RecordedEvent.Original). The
// $ce-<category> and $et-<type> streams are the server's: on EventStoreDB
// its $by_category and $by_event_type system projections must be running
// (there, unlike the embedded stores, the links are also in $all).
//
// # Persistent subscriptions
//
// The Store implements eventstore.PersistentSubscriptions with the
// server's persistent subscriptions. What the v4 client cannot carry: the
// PinnedByCorrelation strategy (creating or updating a group with it is
// errors.ErrUnsupported), an update of a $all group to start from End
// (errors.ErrUnsupported; a stream group's is sent as the revision after
// its current last event), and a $all group's filter in its info (nil). A
// consumer checks acks and nacks against the events it received and did
// not settle yet, within the group's message timeout: the server answers
// nothing to an unknown id, so ErrUnknownMessage is decided locally.
// Consumers do not reconnect by themselves: a drop (the group updated,
// deleted or restarted, the server gone) is
// ErrPersistentSubscriptionDropped, and the caller subscribes again.
//
// # Failures
//
// When the server becomes unreachable, one prober per Store polls it with
// exponential backoff and jitter; operations wait for it (up to
// [WithReconnectTimeout]) instead of each hammering the server. Reads are
// retried from where they stopped, appends only when a repeat cannot write
// twice (see [Store.Append]), deletes unless they expect StreamExists,
// tombstones only when nothing was sent; these decisions use the client's
// typed error codes, never the text of a message. Subscriptions resume
// after every drop, from the last event delivered, without a gap,
// duplicate or second caught-up message. Close waits for operations in
// flight at most [WithCloseTimeout], then closes the client even if one is
// stuck inside it (the v4 client's node discovery does not watch contexts).
//
// Tests of this package run the eventstore/storetest conformance suite
// through the official client against eventstore/esdbserver, which serves
// any eventstore.Store over the EventStoreDB protocol.
package esdb
