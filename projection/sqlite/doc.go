// Package sqlite keeps projections' read models and their checkpoints in
// SQLite files, through database/sql and the pure-Go driver
// modernc.org/sqlite: the embedded default, with nothing to set up. It is
// the projection.Target whose handlers receive a *sql.Tx, and it implements
// projection.Preparer (per-version setup) and projection.Rebuilder
// (blue/green rebuilds).
//
//	target, err := sqlite.Open(filepath.Join(dataDir, "projections"))
//	runner, err := projection.NewRunner(store, p, target)
//	db, err := target.DB(ctx, "order.totals") // readers
//
// # Files
//
// SQLite has no schemas, so each version of each projection is its own
// file, "<dir>/<projection>.v<version>.db", holding that version's tables
// and its checkpoints (tables chronicle_version and chronicle_checkpoints,
// which handlers leave alone). The control file "<dir>/projections.db"
// records each projection's live version. Projection names must be usable
// as file names: letters, digits, '_', '.' and '-', starting with a letter
// or digit.
//
// # Exactly once, and what durable means
//
// Update runs a batch of handlers in one transaction of the version's file
// that first moves the checkpoint (fenced: only from the checkpoint the
// runner last saw, else projection.ErrFenced before the handlers run) and
// commits both or neither. So after a crash at any moment the stored
// checkpoint says exactly which events' writes the file holds: each event
// takes effect once. Files are in WAL mode with synchronous=FULL: when
// Update returns, the commit is fsync'd and survives a power loss; a new
// file's directory entry is fsync'd too. Handlers must write only through
// the transaction they are given.
//
// Each file has one writer connection whose transactions take SQLite's
// write lock at BEGIN, so the partitions of a runner queue for it in the
// process instead of failing with SQLITE_BUSY; another process's writers
// wait up to 10 s (busy timeout). Readers use their own connections and
// never block the writer.
//
// # Versions and rebuilds
//
// A new version is built in its own file while the live one keeps serving.
// Promote first fences every older version (one transaction per file
// deletes its checkpoints and marks it retired, so its runners' next Update
// fails with projection.ErrFenced wrapping projection.ErrRetired), then
// records the new version as live in one transaction of the control file;
// DB returns the new file from then on. The replaced version's file is kept
// until the next promotion, which removes it.
//
// # Partitions
//
// A partitioned runner keeps one checkpoint per partition. A partition's
// checkpoint only covers the streams that hash into it, so a version must
// keep its partition count: SetPartitions records it, and another count, or
// a Load of a partition outside it, fails with a *PartitionCountError. Run a
// new version to change the count.
//
// # Status
//
// Statuses lists every projection with its live version, its versions
// (file, partitions, when prepared, retired, where it started) and their
// checkpoints, for `chronicle projection status`.
package sqlite
