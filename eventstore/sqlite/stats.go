package sqlite

import (
	"github.com/chronicle-go/chronicle/eventstore"
)

// Stats are counters of a store's activity since it was opened.
type Stats struct {
	Commits       uint64 // transactions the commit loop wrote
	Requests      uint64 // write requests (appends, deletes, metadata) in them
	Events        uint64 // events written
	Queued        int    // write requests waiting for the commit loop now
	Committing    int    // write requests in the commit under way now
	Checkpoints   int    // background checkpoints run
	CheckpointErr error  // the last background checkpoint's error
	Position      eventstore.Position
	// Err is the *FailedError of a store that failed (see ErrFailed), or nil.
	Err error
}

// Stats returns the store's counters; Position is that of the last event
// this store committed (zero for a read-only store).
func (s *Store) Stats() Stats {
	var st Stats
	if s.w != nil {
		st.Commits, st.Requests, st.Events = s.w.commits.Load(), s.w.requests.Load(), s.w.events.Load()
		st.Queued = len(s.w.queue)
		st.Committing = int(s.w.inCommit.Load())
		p := s.w.committed.Load()
		st.Position = eventstore.Position{Commit: p, Prepare: p}
	}
	if s.ckpt != nil {
		st.Checkpoints, st.CheckpointErr = s.ckpt.stats()
	}
	if f := s.failed.Load(); f != nil {
		st.Err = f
	}
	return st
}
