package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/goleak"

	"github.com/chronicle-go/chronicle/eventstore"
)

// RunPersistent runs the conformance suite of persistent subscriptions
// (eventstore.PersistentSubscriptions) against the backend that newStore
// creates; the stores it returns must implement the capability. newStore is
// as for Run. Restart checks also need Features.Reopen, and are skipped
// without it.
//
// The checks use only the public contract and real time: message timeouts
// of PersistentMessageTimeout, waits bounded by Features.Timeout. Like Run,
// it must not be called from a parallel test (the leak checks need a quiet
// process).
func RunPersistent(t *testing.T, f Features, newStore func(t *testing.T) eventstore.Store) {
	t.Helper()
	if newStore == nil {
		t.Fatal("storetest: newStore is nil")
	}
	s := &suite{f: f, newStore: newStore}
	t.Run("Groups", s.testPersistentGroups)
	t.Run("BadInput", s.testPersistentBadInput)
	t.Run("Delivery", s.testPersistentDelivery)
	t.Run("Nack", s.testPersistentNack)
	t.Run("Parking", s.testPersistentParking)
	t.Run("Strategies", s.testPersistentStrategies)
	t.Run("Changes", s.testPersistentChanges)
	t.Run("All", s.testPersistentAll)
	t.Run("Restart", s.testPersistentRestart)
	t.Run("Concurrency", s.testPersistentConcurrency)
	t.Run("Leaks", s.testPersistentLeaks)
}

// PersistentMessageTimeout is the MessageTimeout of the groups whose
// messages the suite lets time out.
const PersistentMessageTimeout = time.Second

// ps returns the store's persistent subscriptions.
func (e *env) ps() eventstore.PersistentSubscriptions {
	e.t.Helper()
	ps, ok := e.s.(eventstore.PersistentSubscriptions)
	if !ok {
		e.t.Fatalf("the store (%T) does not implement eventstore.PersistentSubscriptions", e.s)
	}
	return ps
}

// quickSettings are the defaults with a checkpoint after every finished
// message, so that the checks need not wait for one.
func quickSettings() eventstore.PersistentSettings {
	s := eventstore.DefaultPersistentSettings()
	s.MinCheckpointCount, s.MaxCheckpointCount, s.CheckpointAfter = 1, 1, 0
	return s
}

// create creates a group and fails the test on error.
func (e *env) create(g eventstore.PersistentGroup, settings eventstore.PersistentSettings) {
	e.t.Helper()
	if err := e.ps().CreatePersistentSubscription(e.ctx, g, settings); err != nil {
		e.t.Fatalf("CreatePersistentSubscription(%s): %v", g, err)
	}
}

// consumer is a connected consumer of the suite.
type consumer struct {
	e   *env
	sub eventstore.PersistentSubscription
}

// connect subscribes a consumer and fails the test on error.
func (e *env) connect(g eventstore.PersistentGroup, bufferSize int) *consumer {
	e.t.Helper()
	sub, err := e.ps().SubscribePersistent(e.ctx, g, eventstore.PersistentSubscribeOptions{BufferSize: bufferSize})
	if err != nil {
		e.t.Fatalf("SubscribePersistent(%s): %v", g, err)
	}
	e.t.Cleanup(func() { _ = sub.Close() })
	return &consumer{e: e, sub: sub}
}

// recv receives one event and fails the test on error.
func (c *consumer) recv() eventstore.PersistentEvent {
	c.e.t.Helper()
	ev, err := c.sub.Recv(c.e.ctx)
	if err != nil {
		c.e.t.Fatalf("Recv: %v", err)
	}
	return ev
}

// recvN receives n events.
func (c *consumer) recvN(n int) []eventstore.PersistentEvent {
	c.e.t.Helper()
	out := make([]eventstore.PersistentEvent, n)
	for i := range out {
		out[i] = c.recv()
	}
	return out
}

// ack acknowledges events and fails the test on error.
func (c *consumer) ack(evs ...eventstore.PersistentEvent) {
	c.e.t.Helper()
	ids := make([]uuid.UUID, len(evs))
	for i := range evs {
		ids[i] = evs[i].ID()
	}
	if err := c.sub.Ack(ids...); err != nil {
		c.e.t.Fatalf("Ack: %v", err)
	}
}

// nack nacks ids with action and fails the test on error.
func (c *consumer) nack(action eventstore.NackAction, reason string, ids ...uuid.UUID) {
	c.e.t.Helper()
	if err := c.sub.Nack(action, reason, ids...); err != nil {
		c.e.t.Fatalf("Nack(%v): %v", action, err)
	}
}

// billing creates the group "billing" of order-1 with quickSettings,
// appends n events to order-1 and connects one consumer with bufferSize.
func (e *env) billing(n, bufferSize int) (eventstore.PersistentGroup, *consumer) {
	e.t.Helper()
	g := eventstore.PersistentGroupOf("order-1", "billing")
	e.create(g, quickSettings())
	e.seed("order-1", n)
	return g, e.connect(g, bufferSize)
}

// nothing fails the test if the consumer receives an event within d: the
// check that something is held back (a full buffer, a parked message). It
// can only fail when the backend delivers what it must not.
func (c *consumer) nothing(what string, d time.Duration) {
	c.e.t.Helper()
	ctx, cancel := context.WithTimeout(c.e.ctx, d)
	defer cancel()
	ev, err := c.sub.Recv(ctx)
	if err == nil {
		c.e.t.Fatalf("%s: received %s@%d (retry %d), want nothing", what, ev.Event.Stream, ev.Event.Revision, ev.RetryCount)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		c.e.t.Fatalf("%s: Recv: %v, want nothing until the deadline", what, err)
	}
}

// ended fails unless the consumer's Recv ends with target.
func (c *consumer) ended(what string, target error) {
	c.e.t.Helper()
	for {
		ev, err := c.sub.Recv(c.e.ctx)
		if err == nil {
			continue // delivered before it ended
		}
		_ = ev
		wantErr(c.e.t, what, err, target)
		return
	}
}

// info returns a group's info and fails the test on error.
func (e *env) info(g eventstore.PersistentGroup) eventstore.PersistentSubscriptionInfo {
	e.t.Helper()
	info, err := e.ps().GetPersistentSubscriptionInfo(e.ctx, g)
	if err != nil {
		e.t.Fatalf("GetPersistentSubscriptionInfo(%s): %v", g, err)
	}
	return info
}

// groups lists the groups of stream ("" for all) as their names.
func (e *env) groups(stream string) ([]eventstore.PersistentGroup, error) {
	e.t.Helper()
	infos, err := e.ps().ListPersistentSubscriptions(e.ctx, stream)
	out := make([]eventstore.PersistentGroup, len(infos))
	for i, info := range infos {
		out[i] = info.Group
	}
	return out, err
}

// waitCheckpoint waits until the group's checkpoint is at want.
func (e *env) waitCheckpoint(g eventstore.PersistentGroup, want eventstore.From) {
	e.t.Helper()
	e.poll(fmt.Sprintf("%s checkpointed at %v", g, want), e.f.timeout()/2, func() bool {
		return e.info(g).LastCheckpointed == want
	})
}

// waitParked waits until the group's parked stream holds n messages.
func (e *env) waitParked(g eventstore.PersistentGroup, n int64) {
	e.t.Helper()
	e.poll(fmt.Sprintf("%s has %d parked messages", g, n), e.f.timeout()/2, func() bool {
		return e.info(g).ParkedMessageCount == n
	})
}

// wantRevisions fails unless evs are the events of stream at revs, in
// order.
func wantRevisions(t *testing.T, what string, evs []eventstore.PersistentEvent, stream string, revs ...uint64) {
	t.Helper()
	got := make([]string, len(evs))
	want := make([]string, len(revs))
	for i := range evs {
		got[i] = fmt.Sprintf("%s@%d", evs[i].Event.Stream, evs[i].Event.Revision)
	}
	for i := range revs {
		want[i] = fmt.Sprintf("%s@%d", stream, revs[i])
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

func seq(from, to uint64) []uint64 {
	var out []uint64
	for r := from; r <= to; r++ {
		out = append(out, r)
	}
	return out
}

// testPersistentGroups checks create, info, list, update and delete.
func (s *suite) testPersistentGroups(t *testing.T) {
	s.run(t, "CreateInfoList", func(e *env) {
		ps := e.ps()
		if got, err := e.groups(""); err != nil || len(got) != 0 {
			e.t.Fatalf("List(\"\") of a new store: %v, %v; want an empty list", got, err)
		}
		_, err := e.groups("order-1")
		wantErr(e.t, "List(order-1) without groups", err, eventstore.ErrPersistentSubscriptionNotFound)
		g1 := eventstore.PersistentGroupOf("order-1", "billing")
		g2 := eventstore.PersistentGroupOf("order-1", "shipping")
		g3 := eventstore.PersistentGroupOf(eventstore.AllStream, "audit")
		settings := eventstore.DefaultPersistentSettings()
		settings.MaxRetryCount, settings.ConsumerStrategy, settings.ExtraStatistics = 3, eventstore.DispatchToSingle, true
		e.create(g1, settings)
		e.create(g2, eventstore.DefaultPersistentSettings())
		all := eventstore.DefaultPersistentSettings()
		all.Filter = eventstore.StreamPrefixFilter("order-")
		e.create(g3, all)
		info := e.info(g1)
		if info.Group != g1 || info.Settings.MaxRetryCount != 3 || info.Settings.ConsumerStrategy != eventstore.DispatchToSingle || !info.Settings.ExtraStatistics || !info.Settings.From.IsStart() {
			e.t.Fatalf("info of %s: %+v, want the settings it was created with", g1, info)
		}
		if info.Status == "" {
			e.t.Fatalf("info of %s has no status", g1)
		}
		if got := e.info(g3).Settings.Filter; !e.f.InfoWithoutFilter && (got == nil || len(got.Prefixes) != 1 || got.Prefixes[0] != "order-") {
			e.t.Fatalf("info of %s: filter %+v, want the prefix order-", g3, got)
		}
		got, err := e.groups("")
		if err != nil || fmt.Sprint(got) != fmt.Sprint([]eventstore.PersistentGroup{g3, g1, g2}) && len(got) != 3 {
			e.t.Fatalf("List(\"\"): %v, %v; want %v", got, err, []eventstore.PersistentGroup{g1, g2, g3})
		}
		if got, err := e.groups("order-1"); err != nil || len(got) != 2 {
			e.t.Fatalf("List(order-1): %v, %v; want %v and %v", got, err, g1, g2)
		}
		if got, err := e.groups(eventstore.AllStream); err != nil || len(got) != 1 || got[0] != g3 {
			e.t.Fatalf("List($all): %v, %v; want %v", got, err, g3)
		}
		if err := ps.DeletePersistentSubscription(e.ctx, g2); err != nil {
			e.t.Fatalf("Delete(%s): %v", g2, err)
		}
		_, err = ps.GetPersistentSubscriptionInfo(e.ctx, g2)
		wantErr(e.t, "info of a deleted group", err, eventstore.ErrPersistentSubscriptionNotFound)
		if got, err := e.groups("order-1"); err != nil || len(got) != 1 || got[0] != g1 {
			e.t.Fatalf("List(order-1) after deleting %s: %v, %v; want %v", g2, got, err, g1)
		}
		// A deleted group can be created again.
		e.create(g2, eventstore.DefaultPersistentSettings())
	})
	s.run(t, "Update", func(e *env) {
		g := eventstore.PersistentGroupOf("order-1", "billing")
		e.create(g, eventstore.DefaultPersistentSettings())
		settings := eventstore.DefaultPersistentSettings()
		settings.MaxRetryCount, settings.MessageTimeout = 7, 5*time.Second
		if err := e.ps().UpdatePersistentSubscription(e.ctx, g, settings); err != nil {
			e.t.Fatalf("Update: %v", err)
		}
		info := e.info(g)
		if info.Settings.MaxRetryCount != 7 || info.Settings.MessageTimeout != 5*time.Second {
			e.t.Fatalf("info after update: %+v, want max retry 7 and timeout 5s", info.Settings)
		}
	})
	s.run(t, "StartPoints", func(e *env) {
		e.seed("order-1", 4)
		fromStart := eventstore.PersistentGroupOf("order-1", "start")
		fromTwo := eventstore.PersistentGroupOf("order-1", "two")
		fromEnd := eventstore.PersistentGroupOf("order-1", "end")
		fromLater := eventstore.PersistentGroupOf("order-1", "later")
		e.create(fromStart, quickSettings())
		st := quickSettings()
		st.From = eventstore.FromRevision(2)
		e.create(fromTwo, st)
		st.From = eventstore.End
		e.create(fromEnd, st)
		st.From = eventstore.FromRevision(5) // inclusive: not written yet
		e.create(fromLater, st)
		// Appended after the groups were created, before anyone connects.
		e.seed("order-1", 2)
		wantRevisions(e.t, "from start", e.connect(fromStart, 10).recvN(6), "order-1", seq(0, 5)...)
		wantRevisions(e.t, "from revision 2", e.connect(fromTwo, 10).recvN(4), "order-1", seq(2, 5)...)
		wantRevisions(e.t, "from the end at creation", e.connect(fromEnd, 10).recvN(2), "order-1", 4, 5)
		wantRevisions(e.t, "from revision 5", e.connect(fromLater, 10).recvN(1), "order-1", 5)
	})
}

// testPersistentBadInput checks that bad calls fail with their typed
// error and change nothing.
func (s *suite) testPersistentBadInput(t *testing.T) {
	s.run(t, "Names", func(e *env) {
		for _, g := range []eventstore.PersistentGroup{{Stream: "order-1"}, {Stream: "", Group: "g"}, {Stream: "order-1", Group: "a\x00b"}} {
			err := e.ps().CreatePersistentSubscription(e.ctx, g, eventstore.DefaultPersistentSettings())
			wantErr(e.t, fmt.Sprintf("Create(%q)", g), err, eventstore.ErrInvalidArgument)
		}
		e.wantNoGroups()
	})
	s.run(t, "Settings", func(e *env) {
		g := eventstore.PersistentGroupOf("order-1", "g")
		all := eventstore.PersistentGroupOf(eventstore.AllStream, "g")
		bad := []struct {
			name   string
			group  eventstore.PersistentGroup
			change func(*eventstore.PersistentSettings)
		}{
			{"negative message timeout", g, func(s *eventstore.PersistentSettings) { s.MessageTimeout = -time.Second }},
			{"negative checkpoint after", g, func(s *eventstore.PersistentSettings) { s.CheckpointAfter = -time.Second }},
			{"negative max retry count", g, func(s *eventstore.PersistentSettings) { s.MaxRetryCount = -1 }},
			{"live buffer 0", g, func(s *eventstore.PersistentSettings) { s.LiveBufferSize = 0 }},
			{"read batch 0", g, func(s *eventstore.PersistentSettings) { s.ReadBatchSize = 0 }},
			{"history buffer 0", g, func(s *eventstore.PersistentSettings) { s.HistoryBufferSize = 0 }},
			{"checkpoint min above max", g, func(s *eventstore.PersistentSettings) { s.MinCheckpointCount, s.MaxCheckpointCount = 20, 10 }},
			{"negative min checkpoint", g, func(s *eventstore.PersistentSettings) { s.MinCheckpointCount = -1 }},
			{"max checkpoint 0", g, func(s *eventstore.PersistentSettings) { s.MinCheckpointCount, s.MaxCheckpointCount = 0, 0 }},
			{"negative max subscribers", g, func(s *eventstore.PersistentSettings) { s.MaxSubscriberCount = -1 }},
			{"unknown strategy", g, func(s *eventstore.PersistentSettings) { s.ConsumerStrategy = "Random" }},
			{"position on a stream group", g, func(s *eventstore.PersistentSettings) {
				s.From = eventstore.FromPosition(eventstore.Position{Commit: 1, Prepare: 1})
			}},
			{"revision on a $all group", all, func(s *eventstore.PersistentSettings) { s.From = eventstore.FromRevision(1) }},
			{"filter on a stream group", g, func(s *eventstore.PersistentSettings) { s.Filter = eventstore.StreamPrefixFilter("a") }},
			{"bad filter regex", all, func(s *eventstore.PersistentSettings) { s.Filter = eventstore.StreamRegexFilter("(") }},
		}
		for _, b := range bad {
			st := eventstore.DefaultPersistentSettings()
			b.change(&st)
			err := e.ps().CreatePersistentSubscription(e.ctx, b.group, st)
			wantErr(e.t, "Create with "+b.name, err, eventstore.ErrInvalidArgument)
		}
		e.wantNoGroups()
		// Updates with bad settings change nothing either.
		e.create(g, eventstore.DefaultPersistentSettings())
		for _, b := range bad {
			if b.group != g {
				continue
			}
			st := eventstore.DefaultPersistentSettings()
			b.change(&st)
			err := e.ps().UpdatePersistentSubscription(e.ctx, g, st)
			wantErr(e.t, "Update with "+b.name, err, eventstore.ErrInvalidArgument)
		}
		if got := e.info(g).Settings; got.MaxRetryCount != 10 || got.LiveBufferSize != 500 || got.ConsumerStrategy != eventstore.RoundRobin {
			e.t.Fatalf("settings after refused updates: %+v, want the defaults", got)
		}
	})
	s.run(t, "Missing", func(e *env) {
		ps := e.ps()
		g := eventstore.PersistentGroupOf("order-1", "nobody")
		_, err := ps.SubscribePersistent(e.ctx, g, eventstore.PersistentSubscribeOptions{})
		wantErr(e.t, "Subscribe to a missing group", err, eventstore.ErrPersistentSubscriptionNotFound)
		_, err = ps.GetPersistentSubscriptionInfo(e.ctx, g)
		wantErr(e.t, "info of a missing group", err, eventstore.ErrPersistentSubscriptionNotFound)
		wantErr(e.t, "Update of a missing group", ps.UpdatePersistentSubscription(e.ctx, g, eventstore.DefaultPersistentSettings()), eventstore.ErrPersistentSubscriptionNotFound)
		wantErr(e.t, "Delete of a missing group", ps.DeletePersistentSubscription(e.ctx, g), eventstore.ErrPersistentSubscriptionNotFound)
		wantErr(e.t, "ReplayParked of a missing group", ps.ReplayParkedMessages(e.ctx, g, 0), eventstore.ErrPersistentSubscriptionNotFound)
		e.wantNoGroups()
	})
	s.run(t, "Exists", func(e *env) {
		g := eventstore.PersistentGroupOf("order-1", "billing")
		first := eventstore.DefaultPersistentSettings()
		first.MaxRetryCount = 4
		e.create(g, first)
		second := eventstore.DefaultPersistentSettings()
		err := e.ps().CreatePersistentSubscription(e.ctx, g, second)
		wantErr(e.t, "Create of an existing group", err, eventstore.ErrPersistentSubscriptionExists)
		if got := e.info(g).Settings.MaxRetryCount; got != 4 {
			e.t.Fatalf("max retry count after a refused create: %d, want 4", got)
		}
		if got, _ := e.groups(""); len(got) != 1 {
			e.t.Fatalf("groups after a refused create: %v, want only %v", got, g)
		}
	})
	s.run(t, "MaxSubscribers", func(e *env) {
		g := eventstore.PersistentGroupOf("order-1", "billing")
		st := quickSettings()
		st.MaxSubscriberCount = 2
		e.create(g, st)
		a := e.connect(g, 10)
		e.connect(g, 10)
		_, err := e.ps().SubscribePersistent(e.ctx, g, eventstore.PersistentSubscribeOptions{})
		wantErr(e.t, "a third consumer with MaxSubscriberCount 2", err, eventstore.ErrMaximumSubscribersReached)
		if n := len(e.info(g).Connections); n != 2 {
			e.t.Fatalf("connections after a refused subscribe: %d, want 2", n)
		}
		// A consumer that leaves makes room.
		if err := a.sub.Close(); err != nil {
			e.t.Fatal(err)
		}
		e.poll("the closed consumer is gone", e.f.timeout()/2, func() bool { return len(e.info(g).Connections) == 1 })
		e.connect(g, 10)
	})
	s.run(t, "UnknownAck", func(e *env) {
		g, c := e.billing(3, 10)
		evs := c.recvN(3)
		wantErr(e.t, "Ack of an unknown ID", c.sub.Ack(uuid.New()), eventstore.ErrUnknownMessage)
		wantErr(e.t, "Nack of an unknown ID", c.sub.Nack(eventstore.NackPark, "x", uuid.New()), eventstore.ErrUnknownMessage)
		// One unknown ID: none of the call's IDs is acknowledged.
		wantErr(e.t, "Ack of a known and an unknown ID", c.sub.Ack(evs[0].ID(), uuid.New()), eventstore.ErrUnknownMessage)
		c.ack(evs[0])
		wantErr(e.t, "second Ack of an ID", c.sub.Ack(evs[0].ID()), eventstore.ErrUnknownMessage)
		wantErr(e.t, "Nack of an acked ID", c.sub.Nack(eventstore.NackRetry, "x", evs[0].ID()), eventstore.ErrUnknownMessage)
		// Another consumer cannot ack this one's events.
		other := e.connect(g, 10)
		wantErr(e.t, "Ack of another consumer's event", other.sub.Ack(evs[1].ID()), eventstore.ErrUnknownMessage)
		c.ack(evs[1], evs[2])
		e.waitCheckpoint(g, eventstore.FromRevision(2))
		if info := e.info(g); info.ParkedMessageCount != 0 {
			e.t.Fatalf("parked messages after refused nacks: %d, want 0", info.ParkedMessageCount)
		}
	})
}

// wantNoGroups fails unless the store has no group.
func (e *env) wantNoGroups() {
	e.t.Helper()
	if got, err := e.groups(""); err != nil || len(got) != 0 {
		e.t.Fatalf("groups: %v, %v; want none", got, err)
	}
}

// testPersistentDelivery checks acks, buffer sizes, checkpoints and
// timeouts.
func (s *suite) testPersistentDelivery(t *testing.T) {
	s.run(t, "AckAndCheckpoint", func(e *env) {
		g := eventstore.PersistentGroupOf("order-1", "billing")
		e.create(g, quickSettings())
		want := e.seed("order-1", 10)
		c := e.connect(g, 20)
		evs := c.recvN(10)
		wantRevisions(e.t, "one consumer", evs, "order-1", seq(0, 9)...)
		for i, ev := range evs {
			if d := sameEvent(ev.Event, want[i]); d != "" || ev.RetryCount != 0 || ev.ID() != want[i].ID {
				e.t.Fatalf("event %d: %s (retry count %d)", i, d, ev.RetryCount)
			}
		}
		c.ack(evs[:5]...)
		e.waitCheckpoint(g, eventstore.FromRevision(4))
		c.ack(evs[5:]...)
		e.waitCheckpoint(g, eventstore.FromRevision(9))
		info := e.info(g)
		if info.TotalItems < 10 || info.LastKnown != eventstore.FromRevision(9) || len(info.Connections) != 1 || info.InFlightMessages != 0 {
			e.t.Fatalf("info after acking everything: %+v", info)
		}
		// The checkpoint is an event of the checkpoint stream.
		cps := e.mustRead(g.CheckpointStream(), eventstore.ReadOptions{Direction: eventstore.Backwards, From: eventstore.End, MaxCount: 1})
		if len(cps) != 1 || cps[0].Type != "$SubscriptionCheckpoint" {
			e.t.Fatalf("last checkpoint event: %v, want a $SubscriptionCheckpoint", revisions(cps))
		}
		// Live events follow.
		e.seed("order-1", 1)
		wantRevisions(e.t, "live", c.recvN(1), "order-1", 10)
	})
	s.run(t, "CheckpointAtLowestUnacked", func(e *env) {
		g, c := e.billing(5, 10)
		evs := c.recvN(5)
		c.ack(evs[0], evs[1], evs[3], evs[4]) // 2 is outstanding
		e.waitCheckpoint(g, eventstore.FromRevision(1))
		c.ack(evs[2])
		e.waitCheckpoint(g, eventstore.FromRevision(4))
	})
	s.run(t, "BufferSize", func(e *env) {
		g, c := e.billing(4, 2)
		evs := c.recvN(2)
		e.poll("two in flight", e.f.timeout()/2, func() bool {
			info := e.info(g)
			return info.InFlightMessages == 2 && len(info.Connections) == 1 && info.Connections[0].AvailableSlots == 0
		})
		c.nothing("a third event with BufferSize 2", 300*time.Millisecond)
		c.ack(evs[0])
		wantRevisions(e.t, "after one ack", c.recvN(1), "order-1", 2)
	})
	s.run(t, "Timeout", func(e *env) {
		g := eventstore.PersistentGroupOf("order-1", "billing")
		st := quickSettings()
		st.MessageTimeout = PersistentMessageTimeout
		e.create(g, st)
		e.seed("order-1", 1)
		a := e.connect(g, 10)
		first := a.recv()
		got := time.Now()
		b := e.connect(g, 10)
		// Not acked: after the timeout it goes to the other consumer.
		again := b.recv()
		if again.ID() != first.ID() || again.RetryCount != 1 {
			e.t.Fatalf("redelivery: %s@%d retry %d, want %s@%d retry 1", again.Event.Stream, again.Event.Revision, again.RetryCount, first.Event.Stream, first.Event.Revision)
		}
		// The server's timer started when it sent the event, a consumer's
		// (one that decides acks locally, as esdb's) when it got it: wait
		// until the timeout has passed on the consumer's side too.
		time.Sleep(time.Until(got.Add(st.MessageTimeout)))
		wantErr(e.t, "Ack by the consumer it timed out on", a.sub.Ack(first.ID()), eventstore.ErrUnknownMessage)
		b.ack(again)
		e.waitCheckpoint(g, eventstore.FromRevision(0))
	})
	s.run(t, "CloseRedelivers", func(e *env) {
		g, a := e.billing(2, 10)
		evs := a.recvN(2)
		b := e.connect(g, 10)
		if err := a.sub.Close(); err != nil {
			e.t.Fatal(err)
		}
		if err := a.sub.Close(); err != nil {
			e.t.Fatalf("second Close: %v", err)
		}
		a.ended("Recv after Close", eventstore.ErrClosed)
		got := b.recvN(2)
		wantRevisions(e.t, "in-flight events of a closed consumer", got, "order-1", 0, 1)
		for _, ev := range got {
			if ev.RetryCount != 1 {
				e.t.Fatalf("retry count after the consumer closed: %d, want 1", ev.RetryCount)
			}
		}
		_ = evs
		b.ack(got...)
	})
	s.run(t, "ContextEnds", func(e *env) {
		g := eventstore.PersistentGroupOf("order-1", "billing")
		e.create(g, quickSettings())
		ctx, cancel := context.WithCancel(e.ctx)
		sub, err := e.ps().SubscribePersistent(ctx, g, eventstore.PersistentSubscribeOptions{})
		if err != nil {
			e.t.Fatal(err)
		}
		defer sub.Close()
		cancel()
		_, err = sub.Recv(e.ctx)
		wantErr(e.t, "Recv after the subscription's context ended", err, context.Canceled)
		e.poll("the consumer is gone", e.f.timeout()/2, func() bool { return len(e.info(g).Connections) == 0 })
	})
}

// testPersistentNack checks each nack action.
func (s *suite) testPersistentNack(t *testing.T) {
	for _, action := range []eventstore.NackAction{eventstore.NackRetry, eventstore.NackUnknown} {
		s.run(t, action.String(), func(e *env) {
			g := eventstore.PersistentGroupOf("order-1", "billing")
			e.create(g, quickSettings())
			e.seed("order-1", 1)
			c := e.connect(g, 10)
			ev := c.recv()
			c.nack(action, "try again", ev.ID())
			again := c.recv()
			if again.ID() != ev.ID() || again.RetryCount != 1 {
				e.t.Fatalf("after Nack(%v): %v retry %d, want %v retry 1", action, again.ID(), again.RetryCount, ev.ID())
			}
			c.ack(again)
			e.waitCheckpoint(g, eventstore.FromRevision(0))
		})
	}
	s.run(t, "skip", func(e *env) {
		g, c := e.billing(2, 10)
		evs := c.recvN(2)
		c.nack(eventstore.NackSkip, "not for us", evs[0].ID())
		c.ack(evs[1])
		e.waitCheckpoint(g, eventstore.FromRevision(1))
		c.nothing("a skipped event", 300*time.Millisecond)
		if n := e.info(g).ParkedMessageCount; n != 0 {
			e.t.Fatalf("parked after a skip: %d", n)
		}
	})
	s.run(t, "park", func(e *env) {
		g, c := e.billing(2, 10)
		evs := c.recvN(2)
		c.nack(eventstore.NackPark, "poison", evs[0].ID())
		c.ack(evs[1])
		e.waitParked(g, 1)
		e.waitCheckpoint(g, eventstore.FromRevision(1))
		parked := e.mustRead(g.ParkedStream(), eventstore.ReadOptions{})
		if len(parked) != 1 || parked[0].Type != eventstore.LinkEventType {
			e.t.Fatalf("parked stream: %v, want one link", revisions(parked))
		}
		if stream, rev, ok := eventstore.ParseLink(parked[0].Data); !ok || stream != "order-1" || rev != 0 {
			e.t.Fatalf("parked link data %q, want 0@order-1", parked[0].Data)
		}
		c.nothing("a parked event", 300*time.Millisecond)
	})
	s.run(t, "stop", func(e *env) {
		g, a := e.billing(1, 10)
		ev := a.recv()
		b := e.connect(g, 10)
		a.nack(eventstore.NackStop, "shutting down", ev.ID())
		if _, err := a.sub.Recv(e.ctx); err == nil {
			e.t.Fatal("Recv after Nack(stop) succeeded, want the consumer closed")
		}
		again := b.recv()
		if again.ID() != ev.ID() || again.RetryCount != 1 {
			e.t.Fatalf("after Nack(stop): %v retry %d, want %v retry 1", again.ID(), again.RetryCount, ev.ID())
		}
		b.ack(again)
	})
}

// testPersistentParking checks parking after MaxRetryCount and replaying
// parked messages.
func (s *suite) testPersistentParking(t *testing.T) {
	s.run(t, "MaxRetries", func(e *env) {
		g := eventstore.PersistentGroupOf("order-1", "billing")
		st := quickSettings()
		st.MaxRetryCount = 2
		e.create(g, st)
		e.seed("order-1", 1)
		c := e.connect(g, 10)
		for want := 0; want <= 2; want++ {
			ev := c.recv()
			if ev.RetryCount != want {
				e.t.Fatalf("delivery %d: retry count %d", want, ev.RetryCount)
			}
			c.nack(eventstore.NackRetry, "failing", ev.ID())
		}
		e.waitParked(g, 1)
		c.nothing("an event retried MaxRetryCount times", 300*time.Millisecond)
		e.waitCheckpoint(g, eventstore.FromRevision(0))
	})
	s.run(t, "TimeoutsPark", func(e *env) {
		g := eventstore.PersistentGroupOf("order-1", "billing")
		st := quickSettings()
		st.MaxRetryCount, st.MessageTimeout = 1, PersistentMessageTimeout
		e.create(g, st)
		e.seed("order-1", 1)
		c := e.connect(g, 10)
		if ev := c.recv(); ev.RetryCount != 0 {
			e.t.Fatalf("first delivery: retry count %d", ev.RetryCount)
		}
		if ev := c.recv(); ev.RetryCount != 1 {
			e.t.Fatalf("after a timeout: retry count %d", ev.RetryCount)
		}
		e.waitParked(g, 1)
	})
	s.run(t, "Replay", func(e *env) {
		g := eventstore.PersistentGroupOf("order-1", "billing")
		e.create(g, quickSettings())
		want := e.seed("order-1", 3)
		c := e.connect(g, 10)
		evs := c.recvN(3)
		c.nack(eventstore.NackPark, "later", evs[0].ID(), evs[2].ID())
		c.ack(evs[1])
		e.waitParked(g, 2)
		if err := e.ps().ReplayParkedMessages(e.ctx, g, 1); err != nil {
			e.t.Fatal(err)
		}
		first := c.recv()
		if first.Event.ID != want[0].ID || first.Event.Link == nil || first.Event.Link.Stream != g.ParkedStream() {
			e.t.Fatalf("replayed event %v (link %v), want event %v through a link of %s", first.Event.ID, first.Event.Link, want[0].ID, g.ParkedStream())
		}
		if d := sameEvent(first.Event, want[0]); d != "" {
			e.t.Fatalf("replayed event: %s", d)
		}
		c.nothing("a second parked message with stopAt 1", 300*time.Millisecond)
		c.ack(first)
		e.waitParked(g, 1)
		if err := e.ps().ReplayParkedMessages(e.ctx, g, 0); err != nil {
			e.t.Fatal(err)
		}
		second := c.recv()
		if second.Event.ID != want[2].ID {
			e.t.Fatalf("second replay: %v, want %v", second.Event.ID, want[2].ID)
		}
		// Parked again: it goes back to the parked stream.
		c.nack(eventstore.NackPark, "still failing", second.ID())
		e.poll("one parked message, the re-parked one", e.f.timeout()/2, func() bool {
			parked, err := e.read(g.ParkedStream(), eventstore.ReadOptions{})
			return err == nil && len(parked) == 1 && parked[0].Revision == 2
		})
		if err := e.ps().ReplayParkedMessages(e.ctx, g, 0); err != nil {
			e.t.Fatal(err)
		}
		third := c.recv()
		if third.Event.ID != want[2].ID {
			e.t.Fatalf("third replay: %v, want %v", third.Event.ID, want[2].ID)
		}
		c.ack(third)
		e.waitParked(g, 0)
	})
}

// testPersistentStrategies checks how each strategy shares events among
// several consumers.
func (s *suite) testPersistentStrategies(t *testing.T) {
	s.run(t, "RoundRobin", func(e *env) {
		g := eventstore.PersistentGroupOf("order-1", "billing")
		e.create(g, quickSettings())
		cs := []*consumer{e.connect(g, 100), e.connect(g, 100), e.connect(g, 100)}
		e.seed("order-1", 30)
		got := e.share(cs, 30)
		for i, n := range got {
			if n == 0 {
				e.t.Fatalf("RoundRobin: consumer %d got nothing of 30 events (%v)", i, got)
			}
		}
	})
	s.run(t, "DispatchToSingle", func(e *env) {
		g := eventstore.PersistentGroupOf("order-1", "billing")
		st := quickSettings()
		st.ConsumerStrategy = eventstore.DispatchToSingle
		e.create(g, st)
		a, b := e.connect(g, 5), e.connect(g, 5)
		e.seed("order-1", 8)
		// The first consumer's five slots fill before the second gets any.
		wantRevisions(e.t, "first consumer", a.recvN(5), "order-1", seq(0, 4)...)
		wantRevisions(e.t, "second consumer", b.recvN(3), "order-1", 5, 6, 7)
	})
	pinned := func(strategy eventstore.ConsumerStrategy, key func(ev eventstore.RecordedEvent) string) func(e *env) {
		return func(e *env) {
			g := eventstore.PersistentGroupOf(eventstore.AllStream, "pinned")
			st := quickSettings()
			st.ConsumerStrategy = strategy
			st.Filter = eventstore.StreamPrefixFilter("pin-")
			if slices.Contains(e.f.UnsupportedStrategies, strategy) {
				if err := e.ps().CreatePersistentSubscription(e.ctx, g, st); !errors.Is(err, errors.ErrUnsupported) {
					e.t.Fatalf("create with the unsupported %s: %v, want errors.ErrUnsupported", strategy, err)
				}
				e.t.Skipf("Features.UnsupportedStrategies lists %s", strategy)
			}
			e.create(g, st)
			cs := []*consumer{e.connect(g, 200), e.connect(g, 200), e.connect(g, 200)}
			total := 0
			for i := range 6 {
				evs := newEvents(10, "Pinned")
				for j := range evs {
					evs[j].Metadata = fmt.Appendf(nil, `{"$correlationId":"corr-%d"}`, (i+j)%4)
				}
				e.append(fmt.Sprintf("pin-%d", i), eventstore.Any, evs...)
				total += len(evs)
			}
			owner := map[string]int{}
			e.shareBy(cs, total, func(i int, ev eventstore.PersistentEvent) {
				k := key(ev.Event)
				if o, ok := owner[k]; ok && o != i {
					e.t.Fatalf("%s: key %q went to consumers %d and %d", strategy, k, o, i)
				}
				owner[k] = i
			})
		}
	}
	s.run(t, "Pinned", pinned(eventstore.Pinned, func(ev eventstore.RecordedEvent) string { return ev.Stream }))
	s.run(t, "PinnedByCorrelation", pinned(eventstore.PinnedByCorrelation, func(ev eventstore.RecordedEvent) string {
		return string(ev.Metadata)
	}))
}

// share receives n events over the consumers, acking each, and returns how
// many each got; every event must arrive exactly once.
func (e *env) share(cs []*consumer, n int) []int {
	e.t.Helper()
	counts := make([]int, len(cs))
	e.shareBy(cs, n, func(i int, _ eventstore.PersistentEvent) { counts[i]++ })
	return counts
}

// shareBy receives n events over the consumers concurrently, acking each,
// and calls seen (serially) for each; every event must arrive once.
func (e *env) shareBy(cs []*consumer, n int, seen func(consumer int, ev eventstore.PersistentEvent)) {
	e.t.Helper()
	type got struct {
		i  int
		ev eventstore.PersistentEvent
	}
	ch := make(chan got)
	ctx, cancel := context.WithCancel(e.ctx)
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() {
			for {
				ev, err := c.sub.Recv(ctx)
				if err != nil {
					return
				}
				if err := c.sub.Ack(ev.ID()); err != nil {
					return
				}
				select {
				case ch <- got{i, ev}:
				case <-ctx.Done():
					return
				}
			}
		})
	}
	defer wg.Wait()
	defer cancel()
	ids := map[uuid.UUID]bool{}
	for len(ids) < n {
		select {
		case g := <-ch:
			if ids[g.ev.ID()] {
				e.t.Fatalf("event %v delivered twice", g.ev.ID())
			}
			ids[g.ev.ID()] = true
			seen(g.i, g.ev)
		case <-e.ctx.Done():
			e.t.Fatalf("received %d of %d events before the deadline", len(ids), n)
		}
	}
}

// testPersistentChanges checks updates, deletes and restarts while
// consumers are connected.
func (s *suite) testPersistentChanges(t *testing.T) {
	s.run(t, "UpdateWhileConnected", func(e *env) {
		g, c := e.billing(4, 10)
		evs := c.recvN(4)
		c.ack(evs[:2]...)
		e.waitCheckpoint(g, eventstore.FromRevision(1))
		st := quickSettings()
		st.MaxRetryCount = 3
		if err := e.ps().UpdatePersistentSubscription(e.ctx, g, st); err != nil {
			e.t.Fatal(err)
		}
		c.ended("Recv after an update", eventstore.ErrPersistentSubscriptionDropped)
		// The group keeps its checkpoint: the unacked events come again.
		again := e.connect(g, 10).recvN(2)
		wantRevisions(e.t, "after the update", again, "order-1", 2, 3)
		if got := e.info(g).Settings.MaxRetryCount; got != 3 {
			e.t.Fatalf("max retry count after the update: %d", got)
		}
	})
	s.run(t, "UpdateStartPoint", func(e *env) {
		g, c := e.billing(6, 10)
		c.ack(c.recvN(2)...)
		e.waitCheckpoint(g, eventstore.FromRevision(1))
		st := quickSettings()
		st.From = eventstore.FromRevision(4)
		if err := e.ps().UpdatePersistentSubscription(e.ctx, g, st); err != nil {
			e.t.Fatal(err)
		}
		wantRevisions(e.t, "after moving the start point", e.connect(g, 10).recvN(2), "order-1", 4, 5)
	})
	s.run(t, "DeleteWhileConnected", func(e *env) {
		g, c := e.billing(3, 10)
		evs := c.recvN(3)
		c.ack(evs[0])
		c.nack(eventstore.NackPark, "x", evs[1].ID())
		e.waitParked(g, 1)
		e.waitCheckpoint(g, eventstore.FromRevision(1))
		if err := e.ps().DeletePersistentSubscription(e.ctx, g); err != nil {
			e.t.Fatal(err)
		}
		c.ended("Recv after a delete", eventstore.ErrPersistentSubscriptionDropped)
		wantErr(e.t, "Ack after a delete", c.sub.Ack(evs[2].ID()), eventstore.ErrPersistentSubscriptionDropped)
		_, err := e.ps().SubscribePersistent(e.ctx, g, eventstore.PersistentSubscribeOptions{})
		wantErr(e.t, "Subscribe after a delete", err, eventstore.ErrPersistentSubscriptionNotFound)
		e.wantNotFound(g.CheckpointStream())
		e.wantNotFound(g.ParkedStream())
		// Created again, it starts afresh.
		e.create(g, quickSettings())
		wantRevisions(e.t, "recreated", e.connect(g, 10).recvN(3), "order-1", 0, 1, 2)
		if n := e.info(g).ParkedMessageCount; n != 0 {
			e.t.Fatalf("parked messages of the recreated group: %d", n)
		}
	})
	s.run(t, "RestartSubsystem", func(e *env) {
		g, c := e.billing(3, 10)
		evs := c.recvN(3)
		c.ack(evs[0])
		e.waitCheckpoint(g, eventstore.FromRevision(0))
		if err := e.ps().RestartPersistentSubscriptions(e.ctx); err != nil {
			e.t.Fatal(err)
		}
		c.ended("Recv after a restart", eventstore.ErrPersistentSubscriptionDropped)
		wantRevisions(e.t, "after the restart", e.connect(g, 10).recvN(2), "order-1", 1, 2)
	})
}

// testPersistentAll checks groups of $all and their filters.
func (s *suite) testPersistentAll(t *testing.T) {
	for _, tc := range []struct {
		name   string
		filter *eventstore.Filter
	}{
		{"StreamPrefix", eventstore.StreamPrefixFilter("keep-")},
		{"EventTypeRegex", eventstore.EventTypeRegexFilter("^Kept")},
	} {
		s.run(t, tc.name, func(e *env) {
			g := eventstore.PersistentGroupOf(eventstore.AllStream, "kept")
			st := quickSettings()
			st.Filter = tc.filter
			e.create(g, st)
			var want []uuid.UUID
			for i := range 5 {
				kept := newEvents(2, "Kept")
				e.append(fmt.Sprintf("keep-%d", i), eventstore.Any, kept...)
				e.append(fmt.Sprintf("drop-%d", i), eventstore.Any, newEvents(3, "Dropped")...)
				want = append(want, kept[0].ID, kept[1].ID)
			}
			c := e.connect(g, 50)
			evs := c.recvN(len(want))
			for i, ev := range evs {
				if ev.Event.ID != want[i] {
					e.t.Fatalf("event %d: %s@%d %v, want %v", i, ev.Event.Stream, ev.Event.Revision, ev.Event.ID, want[i])
				}
			}
			c.ack(evs...)
			last := evs[len(evs)-1].Event.Position
			e.poll("checkpoint at or after the last kept event", e.f.timeout()/2, func() bool {
				p, ok := e.info(g).LastCheckpointed.Position()
				return ok && p.Compare(last) >= 0
			})
			c.nothing("a filtered-out event", 300*time.Millisecond)
		})
	}
	s.run(t, "FromPosition", func(e *env) {
		e.seed("order-1", 2)
		res := e.append("order-2", eventstore.Any, newEvents(1, "Third")...)
		e.seed("order-3", 1)
		g := eventstore.PersistentGroupOf(eventstore.AllStream, "from")
		st := quickSettings()
		st.From = eventstore.FromPosition(res.Position) // inclusive
		st.Filter = eventstore.StreamPrefixFilter("order-")
		e.create(g, st)
		evs := e.connect(g, 10).recvN(2)
		if evs[0].Event.Stream != "order-2" || evs[1].Event.Stream != "order-3" {
			e.t.Fatalf("from position %v: got %s, %s; want order-2, order-3", res.Position, evs[0].Event.Stream, evs[1].Event.Stream)
		}
	})
}

// testPersistentRestart checks that groups, checkpoints and parked
// messages survive the store's restart.
func (s *suite) testPersistentRestart(t *testing.T) {
	s.run(t, "Reopen", func(e *env) {
		if e.f.Reopen == nil {
			e.t.Skip("Features.Reopen is nil: the backend cannot be reopened over the same data")
		}
		g, c := e.billing(10, 20)
		evs := c.recvN(10)
		c.ack(evs[:5]...)
		c.nack(eventstore.NackPark, "poison", evs[5].ID())
		e.waitParked(g, 1)
		e.waitCheckpoint(g, eventstore.FromRevision(5))
		e.s = e.f.Reopen(e.t, e.s)
		if got, err := e.groups("order-1"); err != nil || len(got) != 1 || got[0] != g {
			e.t.Fatalf("groups after reopening: %v, %v", got, err)
		}
		info := e.info(g)
		if info.LastCheckpointed != eventstore.FromRevision(5) || info.ParkedMessageCount != 1 || info.Settings.MaxCheckpointCount != 1 {
			e.t.Fatalf("info after reopening: %+v", info)
		}
		c2 := e.connect(g, 20)
		wantRevisions(e.t, "after reopening", c2.recvN(4), "order-1", 6, 7, 8, 9)
		if err := e.ps().ReplayParkedMessages(e.ctx, g, 0); err != nil {
			e.t.Fatal(err)
		}
		if ev := c2.recv(); ev.Event.Revision != 5 {
			e.t.Fatalf("replayed after reopening: revision %d, want 5", ev.Event.Revision)
		}
	})
}

// testPersistentConcurrency runs many consumers over concurrent appends.
func (s *suite) testPersistentConcurrency(t *testing.T) {
	s.run(t, "ManyConsumers", func(e *env) {
		g := eventstore.PersistentGroupOf(eventstore.AllStream, "many")
		st := quickSettings()
		st.Filter = eventstore.StreamPrefixFilter("load-")
		st.MinCheckpointCount, st.MaxCheckpointCount, st.CheckpointAfter = 10, 100, 100*time.Millisecond
		st.MessageTimeout = 0 // nothing is redelivered: each event exactly once
		st.LiveBufferSize, st.HistoryBufferSize = 20, 20
		e.create(g, st)
		var cs []*consumer
		for i := range 8 {
			cs = append(cs, e.connect(g, 1+i%4))
		}
		streams := []string{"load-1", "load-2", "load-3", "load-4"}
		n := loadSize()
		errs := make(chan error, 1)
		go func() { errs <- e.appendConcurrently(streams, 4, n) }()
		counts := e.share(cs, n)
		if err := <-errs; err != nil {
			e.t.Fatal(err)
		}
		busy := 0
		for _, c := range counts {
			if c > 0 {
				busy++
			}
		}
		if busy < 2 {
			e.t.Fatalf("events per consumer %v: want the work shared", counts)
		}
	})
}

// testPersistentLeaks checks that consumers and groups leave no goroutine
// behind.
func (s *suite) testPersistentLeaks(t *testing.T) {
	s.leak(t, "DeleteGroup", func(e *env) error {
		g := eventstore.PersistentGroupOf("order-1", "leak")
		ps := e.ps()
		if err := ps.CreatePersistentSubscription(e.ctx, g, quickSettings()); err != nil {
			return err
		}
		sub, err := ps.SubscribePersistent(e.ctx, g, eventstore.PersistentSubscribeOptions{})
		if err != nil {
			return err
		}
		ev, err := sub.Recv(e.ctx)
		if err != nil {
			return err
		}
		if err := sub.Ack(ev.ID()); err != nil {
			return err
		}
		if err := ps.DeletePersistentSubscription(e.ctx, g); err != nil {
			return err
		}
		return sub.Close()
	})
	s.leak(t, "CloseStore", func(e *env) error {
		g := eventstore.PersistentGroupOf(eventstore.AllStream, "leak")
		ps := e.ps()
		if err := ps.CreatePersistentSubscription(e.ctx, g, quickSettings()); err != nil {
			return err
		}
		sub, err := ps.SubscribePersistent(e.ctx, g, eventstore.PersistentSubscribeOptions{})
		if err != nil {
			return err
		}
		if _, err := sub.Recv(e.ctx); err != nil {
			return err
		}
		if err := e.s.Close(); err != nil {
			return err
		}
		if _, err := sub.Recv(e.ctx); !errors.Is(err, eventstore.ErrClosed) {
			return fmt.Errorf("Recv after the store closed: %v, want ErrClosed", err)
		}
		return nil
	})
}

var _ = goleak.IgnoreCurrent
