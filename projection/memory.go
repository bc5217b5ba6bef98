package projection

import (
	"context"
	"fmt"
	"sync"
)

// MemoryCheckpoints is a CheckpointStore in memory, for tests and for read
// models that are themselves rebuilt at every start. The zero value is
// ready to use.
type MemoryCheckpoints struct {
	mu sync.Mutex
	m  map[Key]Checkpoint
}

var _ CheckpointStore = (*MemoryCheckpoints)(nil)

// Load returns the checkpoint stored under key.
func (s *MemoryCheckpoints) Load(ctx context.Context, key Key) (Checkpoint, error) {
	if err := ctx.Err(); err != nil {
		return Checkpoint{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[key], nil
}

// Save moves key's checkpoint from prev to next.
func (s *MemoryCheckpoints) Save(ctx context.Context, key Key, prev, next Checkpoint) error {
	if err := CheckMove(key, prev, next); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.m[key]; cur != prev {
		return fmt.Errorf("%w: %v is at %v, not %v", ErrFenced, key, cur, prev)
	}
	if s.m == nil {
		s.m = make(map[Key]Checkpoint)
	}
	s.m[key] = next
	return nil
}
