package projection

import (
	"context"
	"time"
)

// A StatusReporter is a Target that keeps read models (the SQL targets) and
// can list them, for tools such as `chronicle projection status`.
type StatusReporter interface {
	// Statuses lists the projections the target keeps, in name order.
	Statuses(ctx context.Context) ([]TargetStatus, error)
}

// A TargetStatus describes one projection a target keeps.
type TargetStatus struct {
	Projection string
	// Place is where readers find the live version: a PostgreSQL schema,
	// a SQLite file; "" when the target has no such place or none is live.
	Place    string
	Live     int // the live version; 0 when none was promoted
	Promoted time.Time
	Versions []VersionStatus // in version order
}

// A VersionStatus describes one version of a projection.
type VersionStatus struct {
	Version int
	// Place is where the version's tables are (its schema or file); ""
	// once dropped.
	Place      string
	Partitions int       // the partition count recorded by SetPartitions; 0 when unknown
	Created    time.Time // when the target first saw the version
	Prepared   time.Time // when setup ran; zero if it did not
	Retired    time.Time // when a newer version took over; zero if it did not
	// Started is the first checkpoint the version saved (partition 0):
	// where in the source it began.
	Started     Checkpoint
	Checkpoints []PartitionCheckpoint // in partition order; none once retired
}

// A PartitionCheckpoint is one stored checkpoint of a version.
type PartitionCheckpoint struct {
	Partition  int
	Checkpoint Checkpoint
	Updated    time.Time
}
