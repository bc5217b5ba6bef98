package sqlite

import (
	"fmt"
	"log/slog"
	"time"
)

// An Option configures Open.
type Option func(*options) error

type options struct {
	readOnly        bool
	readers         int
	checkpointPages int
	recentIDs       int
	cachedHeads     int
	pollInterval    time.Duration
	now             func() time.Time
	vfs             string // SQLite VFS to open the file through; "": the default
	logger          *slog.Logger
	systemStreams   int8 // WithSystemStreams: +1 on, -1 off, 0 as the file says
}

func defaultOptions() options {
	return options{
		readers:         4,
		checkpointPages: 1000,
		recentIDs:       1 << 16,
		cachedHeads:     1 << 16,
		pollInterval:    100 * time.Millisecond,
		now:             time.Now,
		logger:          slog.New(slog.DiscardHandler),
	}
}

// ReadOnly opens the store for reading only, without taking the writer lock,
// so that another process may keep writing to the same file. Writes return
// ErrReadOnly; subscriptions see new events by polling the file (see
// WithPollInterval). The file must exist.
func ReadOnly() Option {
	return func(o *options) error { o.readOnly = true; return nil }
}

// WithSystemStreams turns the category and event-type streams ($ce-<category>,
// $et-<type>; see eventstore.CategoryStream) on or off, as EventStoreDB's
// $by_category and $by_event_type system projections are. The choice is kept
// in the file: without this option a store keeps what its file says, and a
// new file starts with them off. On, every append also writes the links of
// its events in the same transaction — two index rows per event, which costs
// appends about a third of their speed and a file about 60 bytes per event
// (chronicle bench) — and reads and subscriptions of $ce-/$et- streams
// serve them. Turning them on for a file that holds events builds the links
// of every event it holds, in one transaction, at Open; turning them off
// drops them. Off, $ce-/$et- streams do not exist (ErrStreamNotFound). A
// read-only store follows its file.
func WithSystemStreams(on bool) Option {
	return func(o *options) error {
		o.systemStreams = -1
		if on {
			o.systemStreams = 1
		}
		return nil
	}
}

// WithReaders sets how many connections serve reads concurrently (default 4).
func WithReaders(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("sqlite: WithReaders(%d): need at least one reader", n)
		}
		o.readers = n
		return nil
	}
}

// WithCheckpointPages sets how many pages the write-ahead log may grow by
// before the background checkpointer copies it into the database file
// (default 1000, SQLite's own default).
func WithCheckpointPages(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("sqlite: WithCheckpointPages(%d): need at least one page", n)
		}
		o.checkpointPages = n
		return nil
	}
}

// WithRecentIDs sets how many recently written event IDs the store remembers
// for idempotent re-appends with Any or StreamExists (default 65536; 0
// disables the cache). Re-appends that name the expected revision are
// checked against the database and do not need it. The cache is refilled
// from the end of the log when the store opens.
func WithRecentIDs(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("sqlite: WithRecentIDs(%d): must not be negative", n)
		}
		o.recentIDs = n
		return nil
	}
}

// WithCachedHeads sets how many streams' heads the commit loop keeps in
// memory, sparing their appends a lookup (default 65536).
func WithCachedHeads(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("sqlite: WithCachedHeads(%d): need at least one", n)
		}
		o.cachedHeads = n
		return nil
	}
}

// WithPollInterval sets how often a read-only store looks for events written
// by another process, to feed its subscriptions (default 100ms).
func WithPollInterval(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("sqlite: WithPollInterval(%v): must be positive", d)
		}
		o.pollInterval = d
		return nil
	}
}

// WithClock makes the store stamp events with now() instead of time.Now and
// judge $maxAge by it; tests use it for fake clocks.
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return fmt.Errorf("sqlite: WithClock(nil)")
		}
		o.now = now
		return nil
	}
}

// WithLogger makes the store log what it cannot return to a caller: failed
// background checkpoints, a read-only store's failed polls for new events,
// the failure that made the store fail-stop, errors while closing (nil,
// the default, discards them). Messages are constant; the error and the
// file are attributes ("err", "path").
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			l = slog.New(slog.DiscardHandler)
		}
		o.logger = l
		return nil
	}
}
