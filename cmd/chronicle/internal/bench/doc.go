// Package bench measures an event store the way `chronicle bench` reports
// it: the disk's fsync rate, durable appends (one writer, 32 writers,
// batches of 100), durable saga steps (three-step sagas of the saga
// package, 32 at once), reads of one long stream and of $all, the catch-up
// of a projection over $all into an in-memory read model and into SQL read
// models (projection/sqlite; projection/postgres with Options.Postgres)
// against plain batched inserts of the same rows, the engine's own scan
// speed (SQLite stores), live-subscription latency and the bytes each event
// takes on disk, in one run against any store URL.
package bench
