package memory

import (
	"context"

	"github.com/chronicle-go/chronicle/eventstore"
)

var _ eventstore.PersistentSubscriptions = (*Store)(nil)

// CreatePersistentSubscription implements eventstore.PersistentSubscriptions
// (through internal/persistent; see the package doc).
func (s *Store) CreatePersistentSubscription(ctx context.Context, group eventstore.PersistentGroup, settings eventstore.PersistentSettings) error {
	return s.ps.CreatePersistentSubscription(ctx, group, settings)
}

// UpdatePersistentSubscription implements eventstore.PersistentSubscriptions.
func (s *Store) UpdatePersistentSubscription(ctx context.Context, group eventstore.PersistentGroup, settings eventstore.PersistentSettings) error {
	return s.ps.UpdatePersistentSubscription(ctx, group, settings)
}

// DeletePersistentSubscription implements eventstore.PersistentSubscriptions.
func (s *Store) DeletePersistentSubscription(ctx context.Context, group eventstore.PersistentGroup) error {
	return s.ps.DeletePersistentSubscription(ctx, group)
}

// GetPersistentSubscriptionInfo implements eventstore.PersistentSubscriptions.
func (s *Store) GetPersistentSubscriptionInfo(ctx context.Context, group eventstore.PersistentGroup) (eventstore.PersistentSubscriptionInfo, error) {
	return s.ps.GetPersistentSubscriptionInfo(ctx, group)
}

// ListPersistentSubscriptions implements eventstore.PersistentSubscriptions.
func (s *Store) ListPersistentSubscriptions(ctx context.Context, stream string) ([]eventstore.PersistentSubscriptionInfo, error) {
	return s.ps.ListPersistentSubscriptions(ctx, stream)
}

// SubscribePersistent implements eventstore.PersistentSubscriptions.
func (s *Store) SubscribePersistent(ctx context.Context, group eventstore.PersistentGroup, opts eventstore.PersistentSubscribeOptions) (eventstore.PersistentSubscription, error) {
	return s.ps.SubscribePersistent(ctx, group, opts)
}

// ReplayParkedMessages implements eventstore.PersistentSubscriptions.
func (s *Store) ReplayParkedMessages(ctx context.Context, group eventstore.PersistentGroup, stopAt uint64) error {
	return s.ps.ReplayParkedMessages(ctx, group, stopAt)
}

// RestartPersistentSubscriptions implements eventstore.PersistentSubscriptions.
func (s *Store) RestartPersistentSubscriptions(ctx context.Context) error {
	return s.ps.RestartPersistentSubscriptions(ctx)
}
