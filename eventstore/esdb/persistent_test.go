package esdb_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chronicle-go/chronicle/eventstore"
)

func appendN(t *testing.T, s eventstore.Store, stream string, n int) {
	t.Helper()
	for range n {
		if _, err := s.Append(testContext(t), stream, eventstore.Any, eventstore.EventData{ID: uuid.New(), Type: "E", ContentType: eventstore.ContentTypeJSON, Data: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPersistentEdges covers what the conformance suite does not: the v4
// client's gaps, drops by the server, and the consumer's local checks.
func TestPersistentEdges(t *testing.T) {
	ctx := testContext(t)
	srv := newMemoryServer(t)
	s := open(t, srv.connString())
	g := eventstore.PersistentGroupOf("edge-1", "g")
	all := eventstore.PersistentGroupOf(eventstore.AllStream, "g")
	appendN(t, s, "edge-1", 3)

	if err := s.UpdatePersistentSubscription(ctx, g, eventstore.DefaultPersistentSettings()); !errors.Is(err, eventstore.ErrPersistentSubscriptionNotFound) {
		t.Errorf("update of a missing group: %v", err)
	}
	if err := s.DeletePersistentSubscription(ctx, g); !errors.Is(err, eventstore.ErrPersistentSubscriptionNotFound) {
		t.Errorf("delete of a missing group: %v", err)
	}
	if err := s.ReplayParkedMessages(ctx, g, 0); !errors.Is(err, eventstore.ErrPersistentSubscriptionNotFound) {
		t.Errorf("replay of a missing group: %v", err)
	}
	if _, err := s.SubscribePersistent(ctx, g, eventstore.PersistentSubscribeOptions{}); !errors.Is(err, eventstore.ErrPersistentSubscriptionNotFound) {
		t.Errorf("subscribe to a missing group: %v", err)
	}
	bad := eventstore.PersistentGroupOf("edge-1", "")
	for name, err := range map[string]error{
		"delete": s.DeletePersistentSubscription(ctx, bad),
		"replay": s.ReplayParkedMessages(ctx, bad, 0),
		"update": s.UpdatePersistentSubscription(ctx, bad, eventstore.DefaultPersistentSettings()),
		"subscribe": func() error {
			_, err := s.SubscribePersistent(ctx, bad, eventstore.PersistentSubscribeOptions{})
			return err
		}(),
		"info": func() error { _, err := s.GetPersistentSubscriptionInfo(ctx, bad); return err }(),
		"list": func() error { _, err := s.ListPersistentSubscriptions(ctx, "bad\x00name"); return err }(),
		"buffer": func() error {
			_, err := s.SubscribePersistent(ctx, g, eventstore.PersistentSubscribeOptions{BufferSize: -1})
			return err
		}(),
	} {
		if !errors.Is(err, eventstore.ErrInvalidArgument) {
			t.Errorf("%s with a bad group: %v, want ErrInvalidArgument", name, err)
		}
	}

	st := eventstore.DefaultPersistentSettings()
	st.MaxSubscriberCount = 1
	if err := s.CreatePersistentSubscription(ctx, g, st); err != nil {
		t.Fatal(err)
	}
	// Update to End: sent as the revision after the stream's last event.
	st.From = eventstore.End
	if err := s.UpdatePersistentSubscription(ctx, g, st); err != nil {
		t.Fatal(err)
	}
	if info, err := s.GetPersistentSubscriptionInfo(ctx, g); err != nil || info.Settings.From != eventstore.FromRevision(3) {
		t.Errorf("after update to End: %+v, %v", info.Settings.From, err)
	}
	allSt := eventstore.DefaultPersistentSettings()
	allSt.From = eventstore.End
	if err := s.CreatePersistentSubscription(ctx, all, allSt); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdatePersistentSubscription(ctx, all, allSt); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("update of a $all group to End: %v", err)
	}
	allSt.From = eventstore.FromPosition(eventstore.Position{})
	if err := s.UpdatePersistentSubscription(ctx, all, allSt); err != nil {
		t.Errorf("update of a $all group to a position: %v", err)
	}

	st.From = eventstore.Start
	if err := s.UpdatePersistentSubscription(ctx, g, st); err != nil {
		t.Fatal(err)
	}
	c, err := s.SubscribePersistent(ctx, g, eventstore.PersistentSubscribeOptions{BufferSize: 2, Name: "edge"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := s.SubscribePersistent(ctx, g, eventstore.PersistentSubscribeOptions{}); !errors.Is(err, eventstore.ErrMaximumSubscribersReached) {
		t.Errorf("second consumer: %v, want ErrMaximumSubscribersReached", err)
	}
	ev, err := c.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Ack(); err != nil {
		t.Errorf("ack of nothing: %v", err)
	}
	if err := c.Ack(ev.ID(), ev.ID()); !errors.Is(err, eventstore.ErrUnknownMessage) {
		t.Errorf("ack of one id twice: %v", err)
	}
	if err := c.Nack(eventstore.NackAction(42), "", ev.ID()); !errors.Is(err, eventstore.ErrInvalidArgument) {
		t.Errorf("nack with a bad action: %v", err)
	}
	if err := c.Nack(eventstore.NackSkip, "skip", ev.ID()); err != nil {
		t.Fatal(err)
	}
	if err := c.Nack(eventstore.NackSkip, "skip", ev.ID()); !errors.Is(err, eventstore.ErrUnknownMessage) {
		t.Errorf("nack of a settled id: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	for {
		if _, err = c.Recv(short); err != nil {
			break
		}
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Recv with a short context: %v", err)
	}

	// Deleting the group drops the consumer.
	if err := s.DeletePersistentSubscription(ctx, g); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Recv(ctx); !errors.Is(err, eventstore.ErrPersistentSubscriptionDropped) {
		t.Errorf("after delete: %v, want ErrPersistentSubscriptionDropped", err)
	}
	if err := c.Ack(ev.ID()); !errors.Is(err, eventstore.ErrPersistentSubscriptionDropped) {
		t.Errorf("ack after the drop: %v", err)
	}

	// NackStop closes the consumer.
	if err := s.CreatePersistentSubscription(ctx, g, eventstore.DefaultPersistentSettings()); err != nil {
		t.Fatal(err)
	}
	c2, err := s.SubscribePersistent(ctx, g, eventstore.PersistentSubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ev, err = c2.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.Nack(eventstore.NackStop, "stop", ev.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Recv(ctx); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("after nack stop: %v, want ErrClosed", err)
	}
	c2.Close()

	// The server's shutdown drops a consumer; the store's Close ends the
	// next one with ErrClosed.
	c3, err := s.SubscribePersistent(ctx, g, eventstore.PersistentSubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv.stop()
	for err = nil; err == nil; {
		_, err = c3.Recv(ctx)
	}
	if !errors.Is(err, eventstore.ErrPersistentSubscriptionDropped) {
		t.Errorf("after the server's shutdown: %v, want ErrPersistentSubscriptionDropped", err)
	}
	c3.Close()
	srv.start()
	c4, err := s.SubscribePersistent(ctx, g, eventstore.PersistentSubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := c4.Recv(ctx); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("after the store's Close: %v, want ErrClosed", err)
	}
	if err := s.CreatePersistentSubscription(ctx, eventstore.PersistentGroupOf("x", "y"), eventstore.DefaultPersistentSettings()); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("create after Close: %v", err)
	}
	if _, err := s.SubscribePersistent(ctx, g, eventstore.PersistentSubscribeOptions{}); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("subscribe after Close: %v", err)
	}
}
