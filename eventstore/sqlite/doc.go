// Package sqlite is Chronicle's embedded durable event store, the default:
// one SQLite file in WAL mode, through the pure-Go driver modernc.org/sqlite.
//
// # Opening
//
//	s, err := sqlite.Open(ctx, "chronicle.db")
//
// or by URL with eventstore.Open and a blank import of this package:
// "sqlite:///var/lib/app/events.db", "sqlite://events.db" (relative),
// "sqlite://events.db?readonly=true" (see ParseURL). A new file is created
// with mode 0600, atomically: the schema is written to a temporary file
// beside it (path.creating-*), synced and linked into place, so a crash
// leaves no store or a complete one, never a file readers refuse; a writer
// Open removes temporary files older than a minute. One Store per file may write: Open takes an exclusive lock
// on path+".lock" and a second writer gets a *LockedError. Any number of
// other processes may open the file with ReadOnly and read while it writes;
// their subscriptions learn of new events by polling.
//
// # Persistent subscriptions
//
// A writer Store implements eventstore.PersistentSubscriptions (competing
// consumers) through internal/persistent. Group definitions, checkpoints
// and parked messages are events of the file ($persistentSubscriptionConfig
// and the groups' $persistentsubscription-… streams), so a reopened store
// resumes every group from its checkpoint and keeps its parked messages; a
// read-only Store refuses them with ErrReadOnly.
//
// # Writes
//
// An append returns once its events are on disk (synchronous=FULL; one
// fdatasync per commit). One writer connection owns a commit loop without
// timers: it takes every write queued while the previous commit was syncing
// and commits them in one transaction, so concurrent appenders share an
// fsync. Each write is checked (expected revision, idempotency) against the
// batch's view of its stream before anything is written, so one that fails
// its check fails alone while the rest of its batch commits. Positions in
// $all are assigned inside the transaction: $all has no gaps and never shows
// an uncommitted event. Positions have Commit = Prepare, from 1.
//
// The writer's connection caches up to 64 MiB of database pages (SQLite
// allocates them as they are used): inserts into the per-stream index then
// rarely read pages back from the file, which measured 7–11 % more events
// per second for concurrent and batched appends.
//
// The streams table holds each stream's head (last revision, soft-deleted
// and tombstoned flags, current metadata), so the expected-revision check is
// one indexed lookup, and the commit loop caches heads it has written.
// Idempotent re-appends with Any or StreamExists are recognised by a
// bounded cache of recent event IDs (WithRecentIDs), as in EventStoreDB;
// those with an exact expected revision are checked against the database.
//
// # Durability, per platform
//
// "Durable" means the append's commit record was written to the
// write-ahead log and the log was synced before Append returned:
//
//   - Linux, FreeBSD, illumos, NetBSD: fdatasync(2) of the log (the file's
//     size is already on disk: Open reserves the log's blocks), which
//     returns once the device reports the data written; a disk with a
//     volatile write cache must honour flushes (most do; some consumer
//     drives and virtual disks do not).
//   - macOS: F_FULLFSYNC (PRAGMA fullfsync and checkpoint_fullfsync are on),
//     which also flushes the drive's cache; a plain fsync there does not.
//   - OpenBSD: fsync(2).
//   - Windows: FlushFileBuffers.
//
// TestCommitsAreSynced checks the writer's settings and counts the syncs
// of the log per commit through a VFS wrapper.
//
// # Failures
//
// A failure that certainly wrote nothing (the disk is full, a write fails
// its check, SQLite refuses the transaction before its commit) fails that
// batch; the store goes on. A full disk is a *DiskFullError, matched by
// ErrDiskFull and syscall.ENOSPC. Any other failed commit may or may not
// have reached the disk, and after a failed fsync Linux may drop the pages
// it could not write while later syncs succeed. So the store fails stop:
// the appends of that commit get eventstore.ErrUnknownOutcome, every other
// waiting and later call (writes, reads, subscriptions) a *FailedError
// (ErrFailed), until the Store is closed and opened again; Close then runs
// no checkpoint of its own, and the reopened store holds exactly what is
// on disk: every acknowledged append, all or nothing of the failed one, no
// gap. TestIOFaults injects failed writes, a torn commit, a failed commit
// record, a failed sync and a full disk through a VFS wrapper. An I/O error
// of a background checkpoint (copying the log into the database file and
// syncing it) fails the store the same way.
//
// What the store cannot return to a caller it logs to the *slog.Logger of
// WithLogger: other checkpoint errors (the next checkpoint retries), the
// failure that stopped the store, errors while closing, and a read-only
// store's failed polls for new events; after five failed polls in a row
// its live subscriptions end with the error instead of waiting for events
// they would never be sent.
//
// # Reads and subscriptions
//
// Reads run on a pool of read-only connections (WAL snapshots) and never
// block the writer. They stream in pages of 512 rows, keyed by revision or
// position, holding no connection while the caller handles events; while
// the caller handles one page the next is read on another goroutine. The
// pages are read through SQLite's own API (modernc.org/sqlite/lib, under the
// database/sql driver) on a pool of read-only connections of their own: each
// row is its integers and one BLOB packing the event's ID, type, stream
// name, data and metadata, and an event costs one heap allocation, the
// buffer its data and metadata share (BenchmarkReadAll, BenchmarkRawScanAll;
// through database/sql it was 15, and five at best with a packed row).
// Subscriptions catch up by reading, then receive the commit loop's
// committed batches in memory (internal/feed); one that falls behind reads
// again.
//
// # Category and event-type streams
//
// They are off unless turned on with WithSystemStreams (or the URL
// parameter system_streams=true), as EventStoreDB's system projections are:
// they cost appends (chronicle bench, --quick, medians of 3, one sitting:
// batches of 100 about 0.5×, 32 writers about 0.75× the events/s without
// them) and about 60 bytes of file per event. The file remembers the
// choice. The links of $ce-<category> and $et-<type> (see the eventstore package
// documentation) are rows of the links table, written by the transaction
// that appends their events: one row per link, keyed by the link stream and
// the link's revision (WITHOUT ROWID), holding the position, stream,
// revision and creation time of the event it points to — about 30 bytes
// and one B-tree insert per link, no copy of the event. A link stream has a
// head in the streams table like any stream, so a read of $ce-order is an
// index range scan of its rows, never a scan of the log, and the commit
// loop caches its last revision. Links to events that a scavenge removed
// stay (they resolve to nothing, as before the scavenge); a scavenge
// removes the links that $maxCount, $tb or $maxAge on a link stream hide.
// A read-only store's watcher publishes the links of the link streams its
// subscribers follow. Stores of schema version 1 (before the links table)
// are upgraded when first opened for writing, in one transaction that
// reads the log once in pages and writes the links of every event it
// holds; a read-only Open of such a store fails with ErrNotStore until
// then.
//
// # Checkpoints
//
// Automatic checkpoints are off on the writer; a background checkpointer on
// its own connection copies the log into the database file (PASSIVE) each
// time it grew by WithCheckpointPages pages. SQLite only restarts the log
// from its beginning when a write starts with every frame copied, which
// never happens beside a busy writer, so the checkpointer leaves the last
// few frames (at most 64) to the commit loop, which copies them between two
// commits: the log then stays a few megabytes long and is overwritten in
// place, which the disk syncs faster than a growing file. Close checkpoints
// and truncates the log.
//
// # Scavenge
//
// Deleted, tombstoned, truncated ($tb, $maxCount) and expired ($maxAge)
// events stay in the file, hidden from reads, until Store.Scavenge (or
// `chronicle scavenge`) removes them, online, in transactions of at most
// 1 000 events, with SQLite's secure_delete on, and then checkpoints and
// truncates the log: a deleted stream's data is then in neither file (a
// GDPR erasure is delete + scavenge; the test searches the files' bytes).
// Tombstone records, stream heads and the positions of surviving events
// stay. Stores are created with SQLite's incremental auto-vacuum, so the
// scavenge then gives the freed pages back to the file system in steps of
// 1 024 pages and the file shrinks (a VACUUM would hold the write lock
// throughout); a store created before this version keeps its free pages,
// which take new events first. Truncating the log gives back the space
// Open reserved for it, which it then regains as it grows.
//
// # Other tools
//
// Any SQLite tool may read the file while a Store writes it (the tables are
// streams, events and links; see schema.go). Writing to it with another tool while
// a Store has it open is not supported: the commit loop caches stream heads
// and positions.
//
// # Close
//
// Close stops the commit loop: writes still queued fail with
// eventstore.ErrClosed, while a commit already under way completes and its
// callers get its outcome.
package sqlite
