package sqlite

import (
	"context"
	"fmt"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/internal/persistent"
)

var _ eventstore.PersistentSubscriptions = (*Store)(nil)

// CreatePersistentSubscription implements eventstore.PersistentSubscriptions
// (through internal/persistent: groups, checkpoints and parked messages are
// events of the file, so a reopened store resumes every group from its
// checkpoint). A read-only store serves none of it: ErrReadOnly.
func (s *Store) CreatePersistentSubscription(ctx context.Context, group eventstore.PersistentGroup, settings eventstore.PersistentSettings) error {
	ps, err := s.engine("CreatePersistentSubscription")
	if err != nil {
		return err
	}
	return ps.CreatePersistentSubscription(ctx, group, settings)
}

// UpdatePersistentSubscription implements eventstore.PersistentSubscriptions.
func (s *Store) UpdatePersistentSubscription(ctx context.Context, group eventstore.PersistentGroup, settings eventstore.PersistentSettings) error {
	ps, err := s.engine("UpdatePersistentSubscription")
	if err != nil {
		return err
	}
	return ps.UpdatePersistentSubscription(ctx, group, settings)
}

// DeletePersistentSubscription implements eventstore.PersistentSubscriptions.
func (s *Store) DeletePersistentSubscription(ctx context.Context, group eventstore.PersistentGroup) error {
	ps, err := s.engine("DeletePersistentSubscription")
	if err != nil {
		return err
	}
	return ps.DeletePersistentSubscription(ctx, group)
}

// GetPersistentSubscriptionInfo implements eventstore.PersistentSubscriptions.
func (s *Store) GetPersistentSubscriptionInfo(ctx context.Context, group eventstore.PersistentGroup) (eventstore.PersistentSubscriptionInfo, error) {
	ps, err := s.engine("GetPersistentSubscriptionInfo")
	if err != nil {
		return eventstore.PersistentSubscriptionInfo{}, err
	}
	return ps.GetPersistentSubscriptionInfo(ctx, group)
}

// ListPersistentSubscriptions implements eventstore.PersistentSubscriptions.
func (s *Store) ListPersistentSubscriptions(ctx context.Context, stream string) ([]eventstore.PersistentSubscriptionInfo, error) {
	ps, err := s.engine("ListPersistentSubscriptions")
	if err != nil {
		return nil, err
	}
	return ps.ListPersistentSubscriptions(ctx, stream)
}

// SubscribePersistent implements eventstore.PersistentSubscriptions.
func (s *Store) SubscribePersistent(ctx context.Context, group eventstore.PersistentGroup, opts eventstore.PersistentSubscribeOptions) (eventstore.PersistentSubscription, error) {
	ps, err := s.engine("SubscribePersistent")
	if err != nil {
		return nil, err
	}
	return ps.SubscribePersistent(ctx, group, opts)
}

// ReplayParkedMessages implements eventstore.PersistentSubscriptions.
func (s *Store) ReplayParkedMessages(ctx context.Context, group eventstore.PersistentGroup, stopAt uint64) error {
	ps, err := s.engine("ReplayParkedMessages")
	if err != nil {
		return err
	}
	return ps.ReplayParkedMessages(ctx, group, stopAt)
}

// RestartPersistentSubscriptions implements eventstore.PersistentSubscriptions.
func (s *Store) RestartPersistentSubscriptions(ctx context.Context) error {
	ps, err := s.engine("RestartPersistentSubscriptions")
	if err != nil {
		return err
	}
	return ps.RestartPersistentSubscriptions(ctx)
}

// engine returns the persistent-subscription engine, or ErrReadOnly (the
// groups keep their state by writing).
func (s *Store) engine(op string) (*persistent.Engine, error) {
	if s.w == nil && !s.closed.Load() {
		return nil, fmt.Errorf("sqlite: %s: %w", op, ErrReadOnly)
	}
	return s.ps, nil
}

// appendSystem is the engine's way to append to its '$' streams, which
// Append refuses.
func (s *Store) appendSystem(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events []eventstore.EventData) (eventstore.AppendResult, error) {
	return s.submit(ctx, "append", &request{kind: opAppend, stream: stream, expected: expected, events: events, size: size(events)})
}
