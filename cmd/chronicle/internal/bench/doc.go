// Package bench measures an event store the way `chronicle bench` reports
// it: the disk's fsync rate, durable appends (one writer, 32 writers,
// batches of 100), reads of one long stream and of $all, the engine's own
// scan speed (SQLite stores), live-subscription latency and the bytes each
// event takes on disk, in one run against any store URL.
package bench
