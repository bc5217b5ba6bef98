package persistent_test

import (
	"errors"
	"testing"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/internal/persistent"
)

// This file tests that a change of a group's definition that fails
// part-way leaves a group that runs as defined, and never a checkpoint or
// parked messages without their group.

// consumeAll receives and acks n events of g and waits for the checkpoint
// of the last one.
func (f *fakeEnv) consumeAll(g eventstore.PersistentGroup, n int) {
	f.t.Helper()
	sub := f.subscribe(g, 10)
	for range n {
		ev := f.recv(sub)
		if err := sub.Ack(ev.ID()); err != nil {
			f.t.Fatal(err)
		}
	}
	if err := sub.Close(); err != nil {
		f.t.Fatal(err)
	}
	want := eventstore.FromRevision(uint64(n - 1))
	f.eventually("checkpoint", func() bool { return f.info(g).LastCheckpointed == want })
}

// eager returns g's settings with a checkpoint after every ack.
func eager(g eventstore.PersistentGroup) eventstore.PersistentSettings {
	st := settings(g)
	st.MinCheckpointCount, st.MaxCheckpointCount = 1, 1
	return st
}

// firstRevision is the revision of the first event a new consumer of g
// gets.
func (f *fakeEnv) firstRevision(g eventstore.PersistentGroup) uint64 {
	f.t.Helper()
	sub := f.subscribe(g, 10)
	defer sub.Close()
	return f.recv(sub).Event.Revision
}

func TestDeleteThatFailsKeepsTheGroup(t *testing.T) {
	f := newFake(t)
	f.create(order1, eager(order1))
	f.seed("order-1", 3)
	f.consumeAll(order1, 3)
	// The streams are gone, the definition stays: the group runs again,
	// from its start.
	f.r.fail.Store(1)
	if err := f.r.DeletePersistentSubscription(f.ctx, order1); err == nil {
		t.Fatal("delete with the definition's write failing: no error")
	}
	if got := f.firstRevision(order1); got != 0 {
		t.Fatalf("after a failed delete the group starts at %d, want 0 (its checkpoint was dropped)", got)
	}
	if err := f.r.DeletePersistentSubscription(f.ctx, order1); err != nil {
		t.Fatalf("delete again: %v", err)
	}
	f.noGroup(order1)
	f.create(order1, settings(order1))
	if got := f.firstRevision(order1); got != 0 {
		t.Fatalf("a new group of the same name starts at %d, want 0", got)
	}
}

func TestCreateIgnoresStreamsOfAnEarlierGroup(t *testing.T) {
	f := newFake(t)
	f.seed("order-1", 3)
	// What a deletion that failed after its definition, in an earlier
	// version, left: a checkpoint at revision 2 and a parked message.
	cp := eventstore.EventData{Type: persistent.CheckpointEventType, ContentType: eventstore.ContentTypeJSON, Data: []byte("2")}
	if _, err := f.r.Store.Append(f.ctx, hide(order1.CheckpointStream()), eventstore.Any, cp); err != nil {
		t.Fatal(err)
	}
	link := eventstore.EventData{Type: eventstore.LinkEventType, ContentType: eventstore.ContentTypeBinary, Data: eventstore.LinkData("order-1", 1)}
	if _, err := f.r.Store.Append(f.ctx, hide(order1.ParkedStream()), eventstore.Any, link); err != nil {
		t.Fatal(err)
	}
	f.create(order1, settings(order1))
	if n := f.info(order1).ParkedMessageCount; n != 0 {
		t.Fatalf("parked messages of a new group: %d", n)
	}
	if got := f.firstRevision(order1); got != 0 {
		t.Fatalf("a new group starts at %d, want 0", got)
	}
}

func TestCreateThatCannotStartDefinesNothing(t *testing.T) {
	f := newFake(t)
	// The first read of the checkpoint stream (dropping what an earlier
	// group left) passes, the second (the start) fails.
	f.r.faults.setAfter(opRead, order1.CheckpointStream(), 1, 1)
	if err := f.r.CreatePersistentSubscription(f.ctx, order1, settings(order1)); !errors.Is(err, errInjected) {
		t.Fatalf("create that cannot start: %v", err)
	}
	f.noGroup(order1)
	f.create(order1, settings(order1))
	f.info(order1)
}

func TestUpdateThatCannotStartIsResumed(t *testing.T) {
	f := newFake(t)
	f.create(order1, settings(order1))
	f.seed("order-1", 2)
	st := settings(order1)
	st.MaxRetryCount = 3
	// The new definition is saved; reading the checkpoint to start it
	// fails.
	f.r.faults.set(opRead, order1.CheckpointStream(), 1)
	if err := f.r.UpdatePersistentSubscription(f.ctx, order1, st); !errors.Is(err, errInjected) {
		t.Fatalf("update that cannot start: %v", err)
	}
	// The next call that looks the group up starts it.
	if got := f.info(order1).Settings.MaxRetryCount; got != 3 {
		t.Fatalf("MaxRetryCount %d, want 3", got)
	}
	if got := f.firstRevision(order1); got != 0 {
		t.Fatalf("first revision %d, want 0", got)
	}
	// So does a listing.
	f.r.faults.set(opRead, order1.CheckpointStream(), 1)
	if err := f.r.UpdatePersistentSubscription(f.ctx, order1, settings(order1)); !errors.Is(err, errInjected) {
		t.Fatalf("update that cannot start: %v", err)
	}
	list, err := f.r.ListPersistentSubscriptions(f.ctx, "")
	if err != nil || len(list) != 1 || list[0].Settings.MaxRetryCount != settings(order1).MaxRetryCount {
		t.Fatalf("list after a failed start: %+v, %v", list, err)
	}
}

func TestUpdateThatFailsKeepsTheOldGroup(t *testing.T) {
	f := newFake(t)
	f.create(order1, eager(order1))
	f.seed("order-1", 3)
	f.consumeAll(order1, 3)
	// A new start point: the checkpoint is dropped, then the definition's
	// write fails. The old group runs again from its start.
	st := eager(order1)
	st.From = eventstore.FromRevision(2)
	f.r.fail.Store(1)
	if err := f.r.UpdatePersistentSubscription(f.ctx, order1, st); err == nil {
		t.Fatal("update with the definition's write failing: no error")
	}
	if from := f.info(order1).Settings.From; !from.IsStart() {
		t.Fatalf("From after a failed update: %v", from)
	}
	if got := f.firstRevision(order1); got != 0 {
		t.Fatalf("first revision %d, want 0", got)
	}
	if err := f.r.UpdatePersistentSubscription(f.ctx, order1, st); err != nil {
		t.Fatalf("update again: %v", err)
	}
	if got := f.firstRevision(order1); got != 2 {
		t.Fatalf("first revision after the update %d, want 2", got)
	}
}
