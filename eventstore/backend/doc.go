// Package backend holds the rules every eventstore.Store backend shares, so
// that all of them behave the same: checking and preparing appends
// (PrepareAppend, PrepareMetadata, ValidateExpected, EventSize), checking
// reads and subscriptions (ValidateRead, ValidateReadAll, ValidateSubscribe,
// ValidateSubscribeAll), and deciding writes from a stream's state
// (StreamState, DecideAppend with an EventLookup, DecideDelete). It is for
// those who write a backend, as database/sql/driver is for database drivers;
// applications use package eventstore.
package backend
