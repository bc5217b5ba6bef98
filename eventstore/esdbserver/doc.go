// Package esdbserver serves any [eventstore.Store] over the EventStoreDB
// (KurrentDB) gRPC protocol, so that EventStoreDB clients in any language —
// and Chronicle's own eventstore/esdb backend — can talk to an embedded or
// in-memory store, like the emulators cloud databases ship.
//
//	srv, err := esdbserver.New(store) // 127.0.0.1:2113, plaintext
//	if err != nil { … }
//	if err := srv.Listen(); err != nil { … }
//	fmt.Println(srv.ConnectionString()) // esdb://127.0.0.1:2113?tls=false
//	err = srv.Serve(ctx)                // until ctx ends, then a graceful shutdown
//
// # What is served
//
// Streams (Append, Read with reads and catch-up subscriptions, Delete,
// Tombstone), ServerFeatures (version [Version] and the implemented methods)
// and Gossip (one alive leader: this server); PersistentSubscriptions
// (Create, Update, Delete, Read with ack and nack, GetInfo, List,
// ReplayParked, RestartSubsystem, for streams and $all) when the store
// implements [eventstore.PersistentSubscriptions]. Projections, users,
// operations and BatchAppend are not served: calls to them fail with
// Unimplemented, and they are not advertised. Caught-up, fell-behind and
// checkpoint messages also carry the fields newer clients read (a
// timestamp, the subscription's revision or position).
//
// Reads and subscriptions go through the store, so the category and
// event-type streams of links ($ce-<category>, $et-<type>) that the
// embedded stores keep are served too, and resolve_links is answered with
// the store's ResolveLinks: ReadEvent{event: target, link: link record}, or
// the link record alone when its target is gone. A server with users
// ([WithUsers]) answers reads of $users with one "$User" event per user,
// whose data is the login name, as an EventStoreDB node writes at start-up.
//
// Errors follow the real server: a wrong expected revision on Append is an
// in-band result; a tombstoned stream is FailedPrecondition with the trailers
// "exception: stream-deleted" and "stream-name" (gRPC trailers carry
// printable ASCII only, so other bytes of a name are percent-encoded
// there); a wrong expected revision on
// Delete or Tombstone is FailedPrecondition with "exception:
// wrong-expected-version" and the versions; size limits and missing event
// metadata are InvalidArgument with the real server's trailers; malformed
// requests (unset oneofs, unknown enums, unsupported combinations such as a
// filtered stream read) are InvalidArgument. Appending one $metadata event to
// $$<stream> sets the stream's metadata (Store.SetStreamMetadata).
//
// # Transport
//
// The server binds 127.0.0.1 unless told otherwise ([WithAddress]), accepts
// the clients' keepalive pings every 10 s even without calls in flight, and
// messages of up to 17 MiB ([MaxMessageSize]). One append may total
// [DefaultMaxAppendSize] ([WithMaxAppendSize]); across all calls the server
// holds at most [DefaultMaxBytesInFlight] of proposed events
// ([WithMaxBytesInFlight]): an append whose first event does not fit waits,
// one that would need more once it holds some fails with ResourceExhausted.
// [WithTLS] serves TLS;
// [WithUsers] adds HTTP basic authentication, as EventStoreDB's secure mode:
// calls other than ServerFeatures and Gossip without valid credentials fail
// with Unauthenticated, whatever the method — authentication comes before
// dispatch. [Server.Register] mounts the services on an existing
// gRPC server instead.
//
// # Shutdown
//
// [Server.Shutdown] stops accepting calls, ends live subscriptions with
// Unavailable — clients then reconnect and resubscribe from their last
// position once a server is back — and waits for the other calls.
package esdbserver
