// Package storetest is the conformance suite of the eventstore.Store
// contract: its executable specification, with EventStoreDB's semantics.
// Every backend runs it (eventstore/memory, eventstore/sqlite, and
// eventstore/esdb against an EventStoreDB protocol server), so it uses only
// the public contract, never sleeps to wait for something, and polls with
// generous deadlines, since remote backends are slower.
//
// A backend runs the whole suite from one of its tests with [Run], giving a
// factory that returns a new, empty store for every subtest and registers
// its cleanup:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Features{FallsBehind: true}, func(t *testing.T) eventstore.Store {
//			s := memory.New()
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// [Features] declares optional behaviour; a check that a backend does not
// declare is skipped with a reason naming the feature, never silently.
//
// # What it checks
//
// Subtests are named after the rule they check, so a failure says which
// rule broke:
//
//   - Append, ExpectedRevision, Idempotency: results, the whole
//     expected-revision table (absent, existing, soft-deleted and tombstoned
//     streams × Any, NoStream, StreamExists, Exact), the
//     *WrongExpectedVersionError fields, idempotent re-appends by event ID
//     and partial matches, empty appends, generated IDs, content types,
//     Created timestamps.
//   - ReadStream, ReadAll, Iterators: ranges in both directions, $all order
//     and start points, every filter kind, lazy iterators, breaking out of
//     loops, writing from inside a loop.
//   - Delete, Tombstone, Metadata: soft deletes that continue revisions,
//     tombstones forever, $$<stream> metadata streams, $maxCount, $tb and
//     $maxAge.
//   - Subscribe, Checkpoints: start points, catch-up then live with no gap
//     and no duplicate under concurrent appends, slow consumers, deletes
//     while live, filtered $all subscriptions and their checkpoints.
//   - Concurrency: racing Exact appends, many writers on many streams, and a
//     history of appends and reads checked for linearizability with
//     porcupine. Run it with -race.
//   - InvalidArgument: every bad input fails with an *ArgumentError that
//     names its cause, and writes nothing.
//   - Lifecycle, Leaks: context cancellation, Close, and no goroutine left
//     behind (go.uber.org/goleak).
//
// With -short, the load tests append a few hundred events instead of
// thousands.
package storetest
