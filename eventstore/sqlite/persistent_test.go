package sqlite_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/sqlite"
)

// A read-only store cannot keep a group's state: every persistent
// subscription call is ErrReadOnly, and the file is not written.
func TestPersistentReadOnly(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "chronicle.db")
	w := openAt(t, path)
	g := eventstore.PersistentGroupOf("order-1", "billing")
	if err := w.CreatePersistentSubscription(ctx, g, eventstore.DefaultPersistentSettings()); err != nil {
		t.Fatal(err)
	}
	r := openAt(t, path, sqlite.ReadOnly())
	calls := map[string]error{
		"create":  r.CreatePersistentSubscription(ctx, eventstore.PersistentGroupOf("order-1", "other"), eventstore.DefaultPersistentSettings()),
		"update":  r.UpdatePersistentSubscription(ctx, g, eventstore.DefaultPersistentSettings()),
		"delete":  r.DeletePersistentSubscription(ctx, g),
		"replay":  r.ReplayParkedMessages(ctx, g, 0),
		"restart": r.RestartPersistentSubscriptions(ctx),
	}
	_, calls["info"] = r.GetPersistentSubscriptionInfo(ctx, g)
	_, calls["list"] = r.ListPersistentSubscriptions(ctx, "")
	_, calls["subscribe"] = r.SubscribePersistent(ctx, g, eventstore.PersistentSubscribeOptions{})
	for name, err := range calls {
		if !errors.Is(err, sqlite.ErrReadOnly) {
			t.Errorf("%s on a read-only store: %v, want ErrReadOnly", name, err)
		}
	}
	if list, err := w.ListPersistentSubscriptions(ctx, ""); err != nil || len(list) != 1 {
		t.Fatalf("groups of the writer: %v, %v", list, err)
	}
}
