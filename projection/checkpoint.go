package projection

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/chronicle-go/chronicle/eventstore"
)

// CheckpointKind says what a Checkpoint counts.
type CheckpointKind uint8

const (
	// NoCheckpoint: nothing handled yet; the projection starts from the
	// beginning of its source.
	NoCheckpoint CheckpointKind = iota
	// AllCheckpoint: a position in the global log, for sources on $all.
	AllCheckpoint
	// StreamCheckpoint: a revision of one stream, for single-stream sources.
	StreamCheckpoint
)

func (k CheckpointKind) String() string {
	switch k {
	case NoCheckpoint:
		return "none"
	case AllCheckpoint:
		return "all"
	case StreamCheckpoint:
		return "stream"
	}
	return "CheckpointKind(" + strconv.Itoa(int(k)) + ")"
}

// A Checkpoint is how far a projection has handled its source: the position
// in $all, or the revision in its stream, of the last event it handled (or
// examined, for events its filter left out). A $all position and a stream
// revision are different things and never compare: a projection refuses a
// stored checkpoint of the other kind (ErrCheckpointMismatch) instead of
// restarting from the wrong place.
//
// The zero Checkpoint is NoCheckpoint.
type Checkpoint struct {
	Kind CheckpointKind
	// Position is the $all position, for AllCheckpoint.
	Position eventstore.Position
	// Revision is the stream revision, for StreamCheckpoint.
	Revision uint64
}

// At returns the AllCheckpoint at p.
func At(p eventstore.Position) Checkpoint { return Checkpoint{Kind: AllCheckpoint, Position: p} }

// AtRevision returns the StreamCheckpoint at revision rev.
func AtRevision(rev uint64) Checkpoint { return Checkpoint{Kind: StreamCheckpoint, Revision: rev} }

// IsZero reports whether c is NoCheckpoint.
func (c Checkpoint) IsZero() bool { return c.Kind == NoCheckpoint }

// Compare returns -1, 0 or +1 as c is before, at or after d. NoCheckpoint
// is before everything. Checkpoints of different kinds do not compare: it
// panics, as comparing them is a bug.
func (c Checkpoint) Compare(d Checkpoint) int {
	switch {
	case c.Kind == NoCheckpoint && d.Kind == NoCheckpoint:
		return 0
	case c.Kind == NoCheckpoint:
		return -1
	case d.Kind == NoCheckpoint:
		return 1
	case c.Kind < d.Kind:
		return -1
	case c.Kind > d.Kind:
		return 1
	case c.Kind == AllCheckpoint:
		return c.Position.Compare(d.Position)
	}
	switch {
	case c.Revision < d.Revision:
		return -1
	case c.Revision > d.Revision:
		return 1
	}
	return 0
}

// String formats c as "none", "all:C:<commit>/P:<prepare>" or
// "stream:<revision>"; ParseCheckpoint reads it back.
func (c Checkpoint) String() string {
	switch c.Kind {
	case AllCheckpoint:
		return "all:" + c.Position.String()
	case StreamCheckpoint:
		return "stream:" + strconv.FormatUint(c.Revision, 10)
	case NoCheckpoint:
		return "none"
	}
	return c.Kind.String()
}

// ParseCheckpoint parses what Checkpoint.String returns.
func ParseCheckpoint(s string) (Checkpoint, error) {
	bad := func() (Checkpoint, error) {
		return Checkpoint{}, fmt.Errorf("projection: malformed checkpoint %q", s)
	}
	switch {
	case s == "none":
		return Checkpoint{}, nil
	case strings.HasPrefix(s, "stream:"):
		rev, err := strconv.ParseUint(s[len("stream:"):], 10, 64)
		if err != nil {
			return bad()
		}
		return AtRevision(rev), nil
	case strings.HasPrefix(s, "all:C:"):
		commit, prepare, ok := strings.Cut(s[len("all:C:"):], "/P:")
		if !ok {
			return bad()
		}
		c, err1 := strconv.ParseUint(commit, 10, 64)
		p, err2 := strconv.ParseUint(prepare, 10, 64)
		if err1 != nil || err2 != nil {
			return bad()
		}
		return At(eventstore.Position{Commit: c, Prepare: p}), nil
	}
	return bad()
}

// A Key names one stored checkpoint: a projection, the version of it being
// built (see Projection.Version), and the partition, for runners whose
// target commits each partition in its own transaction (0 otherwise).
type Key struct {
	Projection string
	Version    int
	Partition  int
}

func (k Key) String() string {
	return fmt.Sprintf("%s/v%d/p%d", k.Projection, k.Version, k.Partition)
}

// A CheckpointStore keeps checkpoints. Implementations are safe for
// concurrent use and are checked by the conformance suite
// projection/checkpointtest.
//
// Every write is fenced: Save moves a checkpoint from prev to next only if
// prev is what is stored, and otherwise fails with ErrFenced and changes
// nothing. So of two runners of one projection, only one advances it; the
// other learns it has lost its claim.
type CheckpointStore interface {
	// Load returns the checkpoint stored under key: NoCheckpoint when none
	// was ever saved.
	Load(ctx context.Context, key Key) (Checkpoint, error)
	// Save replaces prev by next under key. prev must be what Load (or the
	// last successful Save) returned; next must not be before prev.
	// Errors: ErrFenced (prev is not what is stored), ErrInvalidCheckpoint
	// (next is of another kind than prev, or before it), or the backend's.
	Save(ctx context.Context, key Key, prev, next Checkpoint) error
}

// A Target is where a projection's handlers write and where its checkpoints
// live, with the transaction type Tx its handlers receive. A Target that
// keeps the checkpoint in the same database as the read model (the SQL
// targets in projection/postgres and projection/sqlite) makes each event's
// effect happen exactly once: Update commits the handlers' writes and the
// checkpoint move in one transaction. An in-memory read model with an
// ordinary CheckpointStore (AtLeastOnce) gets at-least-once delivery: after
// a crash, the events handled since the last saved checkpoint are handled
// again, so its handlers must be idempotent.
type Target[Tx any] interface {
	CheckpointStore
	// Update runs apply in one transaction that also moves key's checkpoint
	// from prev to next (fenced as Save is). If apply fails, or the move
	// does, nothing of the transaction is kept and Update returns the error.
	// apply may be called more than once if the transaction is retried.
	Update(ctx context.Context, key Key, prev, next Checkpoint, apply func(ctx context.Context, tx Tx) error) error
}

// CheckMove returns an ErrInvalidCheckpoint error when a move from prev to
// next under key is not one a CheckpointStore accepts: a key without a
// projection name, a version below 1, a negative partition, a next of no
// kind or of another kind than prev, or a next before prev. Implementations
// of CheckpointStore call it first.
func CheckMove(key Key, prev, next Checkpoint) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %v: %s", ErrInvalidCheckpoint, key, fmt.Sprintf(format, args...))
	}
	if err := CheckKey(key); err != nil {
		return err
	}
	switch {
	case next.Kind != AllCheckpoint && next.Kind != StreamCheckpoint:
		return bad("cannot save a %v checkpoint", next.Kind)
	case prev.Kind != NoCheckpoint && prev.Kind != next.Kind:
		return bad("a %v checkpoint cannot become a %v one", prev.Kind, next.Kind)
	case next.Compare(prev) < 0:
		return bad("%v is before %v", next, prev)
	}
	return nil
}

// CheckKey returns an ErrInvalidCheckpoint error for a key without a
// projection name, with a version below 1 or a negative partition.
// CheckMove and Transactor implementations call it first.
func CheckKey(key Key) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %v: %s", ErrInvalidCheckpoint, key, fmt.Sprintf(format, args...))
	}
	switch {
	case key.Projection == "":
		return bad("no projection name")
	case key.Version < 1:
		return bad("version %d < 1", key.Version)
	case key.Partition < 0:
		return bad("partition %d < 0", key.Partition)
	}
	return nil
}
