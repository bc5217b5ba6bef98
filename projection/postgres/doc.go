// Package postgres keeps projections' read models and their checkpoints in
// PostgreSQL, through github.com/jackc/pgx/v5: the projection.Target whose
// handlers receive a pgx.Tx. It also implements projection.Preparer
// (per-version setup) and projection.Rebuilder (blue/green rebuilds).
//
//	pool, _ := pgxpool.New(ctx, "postgres://…")
//	target, err := postgres.New(ctx, pool)
//	runner, err := projection.NewRunner(store, p, target)
//
// # Exactly once
//
// Update runs a batch of handlers in one transaction that also moves the
// checkpoint: the fenced UPDATE of the checkpoint row (or the INSERT of the
// first one) runs before the handlers, and the commit keeps both or
// neither. So after a crash at any moment the stored checkpoint says
// exactly which events' writes the read model holds: each event takes
// effect once. Durability is PostgreSQL's: a returned Update is committed,
// on disk when the server runs with fsync and synchronous_commit on (its
// defaults). Handlers must write only through the transaction they are given.
//
// Fencing: the checkpoint write succeeds only if the stored checkpoint is
// the one the runner last saw, so of two runners of one projection only one
// advances it; the other gets projection.ErrFenced before its handlers run,
// and its transaction is rolled back.
//
// # Schemas
//
// The control tables (projections, projection_versions, checkpoints) live
// in the schema "chronicle" (WithSchema). Each projection's read model lives
// in its own schema, named after the projection in lowercase with other
// characters than letters, digits and '_' replaced by '_' (and prefixed by
// WithSchemaPrefix): "Order.Summary" lives in "order_summary". Setup and
// handlers run with search_path set to their version's schema only, so they
// name tables without a schema (and qualify anything else, e.g.
// public.fn()). Readers query "<schema>.<table>" (Target.Schema).
//
// # Versions and rebuilds
//
// The live version of projection p is in schema "<p>"; a newer version is
// built beside it in "<p>_v<N>" while the live one keeps serving. Promote
// switches in one transaction: it renames "<p>" to "<p>_v<old>_retired"
// (kept for inspection until the next promotion drops it), renames
// "<p>_v<N>" to "<p>", drops the build schemas of older versions never
// promoted, records N as live and deletes the older versions' checkpoints.
// An older version's runner then fails its next Update with
// projection.ErrFenced (wrapping projection.ErrRetired). Projection names
// whose schema would end in "_v<digits>" are refused (ErrSchemaTaken), as
// would two names that map to one schema.
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
// (schema, partitions, when prepared, retired, where it started) and their
// checkpoints, for `chronicle projection status`.
package postgres
