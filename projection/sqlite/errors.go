package sqlite

import (
	"errors"
	"fmt"
)

var (
	// ErrPartitionCount: a projection version is run with another number of
	// partitions than its stored checkpoints were written with. The error is
	// a *PartitionCountError.
	ErrPartitionCount = errors.New("sqlite: partition count changed")
	// ErrNotLive: DB was asked for a projection that has no live version.
	ErrNotLive = errors.New("sqlite: projection has no live version")
	// ErrClosed: the Target was closed.
	ErrClosed = errors.New("sqlite: target closed")
)

// A PartitionCountError reports the counts behind ErrPartitionCount.
// Changing the partition count of a version would break exactly-once (a
// partition's checkpoint only covers the streams that hashed into it); run
// a new version of the projection instead.
type PartitionCountError struct {
	Projection string
	Version    int
	Stored     int // partitions the version runs with
	Requested  int // partitions asked for by SetPartitions; 0 for a Load
	Partition  int // for a Load: the partition asked for, which Stored does not have
}

func (e *PartitionCountError) Error() string {
	if e.Requested == 0 {
		return fmt.Sprintf("sqlite: projection %q version %d runs with %d partition(s), which have no partition %d; bump the version to change the count",
			e.Projection, e.Version, e.Stored, e.Partition)
	}
	return fmt.Sprintf("sqlite: projection %q version %d runs with %d partition(s), not %d; bump the version to change the count",
		e.Projection, e.Version, e.Stored, e.Requested)
}

// Is makes errors.Is(err, ErrPartitionCount) true.
func (e *PartitionCountError) Is(target error) bool { return target == ErrPartitionCount }
