package projection_test

import (
	"testing"

	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/projection/checkpointtest"
)

func TestMemoryCheckpointsConformance(t *testing.T) {
	checkpointtest.Run(t, func(*testing.T) projection.CheckpointStore { return &projection.MemoryCheckpoints{} })
}
