package projection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/chronicle-go/chronicle/eventstore"
)

// CheckpointEventType is the type of the events StreamCheckpoints appends.
// Their data is {"projection": …, "version": …, "partition": …,
// "checkpoint": "<Checkpoint.String()>"}.
const CheckpointEventType = "ProjectionCheckpoint"

// DefaultCheckpointMaxCount is the $maxCount StreamCheckpoints sets on a
// checkpoint stream: only the latest checkpoints are kept.
const DefaultCheckpointMaxCount = 10

// CheckpointStream returns the stream that holds the checkpoints of key:
// "chronicle-checkpoint-<projection>", with "-v<version>" for versions
// after 1 and "-p<partition>" for partitions after 0. Projection names
// contain no '-', so the name is unambiguous.
func CheckpointStream(key Key) string {
	name := key.Projection
	if key.Version != 1 {
		name += "-v" + strconv.Itoa(key.Version)
	}
	if key.Partition != 0 {
		name += "-p" + strconv.Itoa(key.Partition)
	}
	return eventstore.FrameworkStream("checkpoint", name)
}

// StreamCheckpoints keeps checkpoints in the event store itself, as events
// of each key's checkpoint stream (CheckpointStream), everything being an
// event. Each Save appends one event with the stream's last revision as
// the expected revision, so of two runners that loaded the same checkpoint
// only the first one's save lands; the other gets ErrFenced. The stream's
// $maxCount keeps it short. Use it with AtLeastOnce, which saves every N
// events or T seconds.
type StreamCheckpoints struct {
	store    eventstore.Store
	maxCount uint64

	mu   sync.Mutex
	seen map[Key]streamHead
}

type streamHead struct {
	cp  Checkpoint
	rev uint64
}

type checkpointData struct {
	Projection string `json:"projection"`
	Version    int    `json:"version"`
	Partition  int    `json:"partition"`
	Checkpoint string `json:"checkpoint"`
}

var _ CheckpointStore = (*StreamCheckpoints)(nil)

// NewStreamCheckpoints returns a CheckpointStore in store.
func NewStreamCheckpoints(store eventstore.Store) *StreamCheckpoints {
	return &StreamCheckpoints{store: store, maxCount: DefaultCheckpointMaxCount, seen: make(map[Key]streamHead)}
}

// Load reads key's latest checkpoint event. A stream that holds anything
// else than checkpoint events of key is ErrCheckpointMismatch.
func (s *StreamCheckpoints) Load(ctx context.Context, key Key) (Checkpoint, error) {
	if key.Projection == "" {
		return Checkpoint{}, fmt.Errorf("%w: %v: no projection name", ErrInvalidCheckpoint, key)
	}
	head, ok, err := s.read(ctx, key)
	if err != nil || !ok {
		return Checkpoint{}, err
	}
	s.remember(key, head)
	return head.cp, nil
}

func (s *StreamCheckpoints) read(ctx context.Context, key Key) (streamHead, bool, error) {
	stream := CheckpointStream(key)
	for e, err := range s.store.ReadStream(ctx, stream, eventstore.ReadOptions{Direction: eventstore.Backwards, From: eventstore.End, MaxCount: 1}) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return streamHead{}, false, nil
		}
		if err != nil {
			return streamHead{}, false, fmt.Errorf("projection: load checkpoint %v: %w", key, err)
		}
		mismatch := func(why string) error {
			return fmt.Errorf("%w: %s@%d: %s; the stream was written by something else than a checkpoint store", ErrCheckpointMismatch, stream, e.Revision, why)
		}
		if e.Type != CheckpointEventType {
			return streamHead{}, false, mismatch(fmt.Sprintf("event type %q", e.Type))
		}
		var d checkpointData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return streamHead{}, false, mismatch(err.Error())
		}
		if d.Projection != key.Projection || d.Version != key.Version || d.Partition != key.Partition {
			return streamHead{}, false, mismatch(fmt.Sprintf("checkpoint of %s/v%d/p%d", d.Projection, d.Version, d.Partition))
		}
		cp, err := ParseCheckpoint(d.Checkpoint)
		if err != nil {
			return streamHead{}, false, mismatch(err.Error())
		}
		return streamHead{cp: cp, rev: e.Revision}, true, nil
	}
	return streamHead{}, false, nil
}

func (s *StreamCheckpoints) remember(key Key, h streamHead) {
	s.mu.Lock()
	s.seen[key] = h
	s.mu.Unlock()
}

// Save appends next to key's checkpoint stream if the stream's latest
// checkpoint is prev.
func (s *StreamCheckpoints) Save(ctx context.Context, key Key, prev, next Checkpoint) error {
	if err := CheckMove(key, prev, next); err != nil {
		return err
	}
	expected := eventstore.NoStream
	if !prev.IsZero() {
		s.mu.Lock()
		h, ok := s.seen[key]
		s.mu.Unlock()
		if !ok || h.cp != prev {
			var found bool
			var err error
			if h, found, err = s.read(ctx, key); err != nil {
				return err
			}
			if !found || h.cp != prev {
				return fmt.Errorf("%w: %v is at %v, not %v", ErrFenced, key, h.cp, prev)
			}
		}
		expected = eventstore.Exact(h.rev)
	}
	data, err := json.Marshal(checkpointData{Projection: key.Projection, Version: key.Version, Partition: key.Partition, Checkpoint: next.String()})
	if err != nil {
		return err
	}
	stream := CheckpointStream(key)
	res, err := s.store.Append(ctx, stream, expected, eventstore.EventData{Type: CheckpointEventType, Data: data})
	if errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		return fmt.Errorf("%w: %v: %w", ErrFenced, key, err)
	}
	if err != nil {
		return fmt.Errorf("projection: save checkpoint %v: %w", key, err)
	}
	rev, _ := res.Next.Revision()
	if rev == 0 && s.maxCount > 0 {
		// The first checkpoint: bound the stream. A failure here leaves a
		// longer stream, not a wrong checkpoint, so it is not an error.
		_, _ = s.store.SetStreamMetadata(ctx, stream, eventstore.Any, eventstore.StreamMetadata{MaxCount: s.maxCount})
	}
	s.remember(key, streamHead{cp: next, rev: rev})
	return nil
}
