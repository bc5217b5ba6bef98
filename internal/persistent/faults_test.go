package persistent_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/internal/persistent"
)

// This file tests the engine's error paths (a store that fails, bad
// checkpoints, bad arguments) and the places a group starts and resumes
// from, with a fake clock: no test here depends on speed.

var (
	order1   = eventstore.PersistentGroupOf("order-1", "g")
	allOrder = eventstore.PersistentGroupOf(eventstore.AllStream, "all")
)

// settings returns the default settings, with a filter on "order-" for a
// $all group (the renamed store's metadata streams are user streams).
func settings(g eventstore.PersistentGroup) eventstore.PersistentSettings {
	st := eventstore.DefaultPersistentSettings()
	if g.IsAll() {
		st.Filter = eventstore.StreamPrefixFilter("order-")
	}
	return st
}

// fromEnd returns g's settings with From End.
func fromEnd(g eventstore.PersistentGroup) eventstore.PersistentSettings {
	st := settings(g)
	st.From = eventstore.End
	return st
}

func (f *fakeEnv) create(g eventstore.PersistentGroup, st eventstore.PersistentSettings) {
	f.t.Helper()
	if err := f.r.CreatePersistentSubscription(f.ctx, g, st); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fakeEnv) subscribe(g eventstore.PersistentGroup, size int) eventstore.PersistentSubscription {
	f.t.Helper()
	sub, err := f.r.SubscribePersistent(f.ctx, g, eventstore.PersistentSubscribeOptions{BufferSize: size})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = sub.Close() })
	return sub
}

// reopen closes the engine and puts a new one, with the same clock, over
// the same data.
func (f *fakeEnv) reopen() {
	f.t.Helper()
	if err := f.r.Engine.Close(); err != nil {
		f.t.Fatal(err)
	}
	f.r = newRenamed(f.r.Store, persistent.WithClock(f.clk))
	r := f.r
	f.t.Cleanup(func() { _ = r.Engine.Close() })
}

// events returns the events of a stream as the inner store keeps them.
func (f *fakeEnv) events(stream string) []eventstore.RecordedEvent {
	f.t.Helper()
	var out []eventstore.RecordedEvent
	for ev, err := range f.r.ReadStream(f.ctx, stream, eventstore.ReadOptions{}) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return nil
		}
		if err != nil {
			f.t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

// park parks the next event of sub and waits until it is in the parked
// stream.
func (f *fakeEnv) park(g eventstore.PersistentGroup, sub eventstore.PersistentSubscription) eventstore.PersistentEvent {
	f.t.Helper()
	ev := f.recv(sub)
	before := f.info(g).ParkedMessageCount
	if err := sub.Nack(eventstore.NackPark, "test", ev.ID()); err != nil {
		f.t.Fatal(err)
	}
	f.eventually("parked", func() bool { return f.info(g).ParkedMessageCount == before+1 })
	return ev
}

func TestBadCheckpointStopsLoading(t *testing.T) {
	for _, tc := range []struct {
		name  string
		group eventstore.PersistentGroup
		data  string
		check func(error) bool
	}{
		{"stream group, a string", order1, `"7"`, func(err error) bool { var e *json.UnmarshalTypeError; return errors.As(err, &e) }},
		{"stream group, not JSON", order1, `{`, func(err error) bool { var e *json.SyntaxError; return errors.As(err, &e) }},
		{"$all group, a number", allOrder, `7`, func(err error) bool { var e *json.UnmarshalTypeError; return errors.As(err, &e) }},
		{"$all group, not a position", allOrder, `"C:1"`, func(err error) bool { return strings.Contains(err.Error(), "not C:<commit>/P:<prepare>") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			f.create(tc.group, settings(tc.group))
			if err := f.r.Engine.Close(); err != nil {
				t.Fatal(err)
			}
			bad := eventstore.EventData{Type: persistent.CheckpointEventType, ContentType: eventstore.ContentTypeBinary, Data: []byte(tc.data)}
			if _, err := f.r.Store.Append(f.ctx, hide(tc.group.CheckpointStream()), eventstore.Any, bad); err != nil {
				t.Fatal(err)
			}
			f.reopen()
			err := f.r.Start(f.ctx)
			if err == nil || !tc.check(err) || !strings.Contains(err.Error(), "persistent: checkpoint") {
				t.Fatalf("Start over checkpoint %s: %v", tc.data, err)
			}
			// Nothing was loaded: every call fails the same way, and the
			// bad checkpoint is left as it was.
			if _, err := f.r.ListPersistentSubscriptions(f.ctx, ""); err == nil || !tc.check(err) {
				t.Fatalf("list after a failed load: %v", err)
			}
			if evs := f.events(tc.group.CheckpointStream()); len(evs) != 1 || string(evs[0].Data) != tc.data {
				t.Fatalf("checkpoint stream after a failed load: %v", evs)
			}
		})
	}
}

func TestAllGroupResumesFromItsCheckpoint(t *testing.T) {
	f := newFake(t)
	st := settings(allOrder)
	st.MinCheckpointCount, st.MaxCheckpointCount = 1, 1
	f.create(allOrder, st)
	f.seed("order-1", 3)
	sub := f.subscribe(allOrder, 10)
	a, b := f.recv(sub), f.recv(sub)
	if err := sub.Ack(a.ID(), b.ID()); err != nil {
		t.Fatal(err)
	}
	want := eventstore.FromPosition(b.Event.Position)
	f.eventually("checkpoint at the second event", func() bool { return f.info(allOrder).LastCheckpointed == want })
	if evs := f.events(allOrder.CheckpointStream()); len(evs) == 0 || string(evs[len(evs)-1].Data) != `"`+b.Event.Position.String()+`"` {
		t.Fatalf("checkpoint events: %v", evs)
	}
	_ = sub.Close()

	f.reopen()
	if err := f.r.Start(f.ctx); err != nil {
		t.Fatal(err)
	}
	if got := f.info(allOrder); got.LastCheckpointed != want || got.LastKnown.IsStart() {
		t.Fatalf("after a restart: checkpointed %v, known %v, want %v", got.LastCheckpointed, got.LastKnown, want)
	}
	sub = f.subscribe(allOrder, 10)
	if ev := f.recv(sub); ev.Event.Revision != 2 || ev.RetryCount != 0 {
		t.Fatalf("first event after the restart: revision %d retry %d, want the third event", ev.Event.Revision, ev.RetryCount)
	}
}

func TestStreamGroupFromRevisionSurvivesRestart(t *testing.T) {
	f := newFake(t)
	st := settings(order1)
	st.From = eventstore.FromRevision(2)
	f.create(order1, st)
	f.seed("order-1", 4)
	f.reopen()
	if got := f.info(order1).Settings.From; got != eventstore.FromRevision(2) {
		t.Fatalf("From after a restart: %v", got)
	}
	sub := f.subscribe(order1, 10)
	if ev := f.recv(sub); ev.Event.Revision != 2 {
		t.Fatalf("first event: revision %d, want 2", ev.Event.Revision)
	}
}

// A $all group from a position whose prepare part is 0 starts at the first
// event at or after it, not one earlier.
func TestAllGroupFromPositionWithZeroPrepare(t *testing.T) {
	f := newFake(t)
	f.seed("order-1", 3)
	second := f.events("order-1")[1]
	if second.Position.Prepare == 0 {
		t.Fatalf("the memory store's position %v: the test needs a non-zero prepare", second.Position)
	}
	st := settings(allOrder)
	st.From = eventstore.FromPosition(eventstore.Position{Commit: second.Position.Commit})
	f.create(allOrder, st)
	sub := f.subscribe(allOrder, 10)
	if ev := f.recv(sub); ev.ID() != second.ID {
		t.Fatalf("first event: %s revision %d, want revision 1", ev.Event.Stream, ev.Event.Revision)
	}
}

func TestGroupsFromEndOfEmptySources(t *testing.T) {
	f := newFake(t)
	for _, g := range []eventstore.PersistentGroup{allOrder, order1} { // $all first, while it is empty
		f.create(g, fromEnd(g))
	}
	f.seed("order-1", 1)
	for _, g := range []eventstore.PersistentGroup{allOrder, order1} {
		sub := f.subscribe(g, 10)
		if ev := f.recv(sub); ev.Event.Stream != "order-1" || ev.Event.Revision != 0 {
			t.Fatalf("%s: first event %s@%d, want order-1@0", g, ev.Event.Stream, ev.Event.Revision)
		}
	}
}

func TestArgumentAndContextErrors(t *testing.T) {
	f := newFake(t)
	f.create(order1, settings(order1))
	noName := eventstore.PersistentGroupOf("order-1", "")
	ctx := canceled(f.ctx)
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"delete, no group name", f.r.DeletePersistentSubscription(f.ctx, noName), eventstore.ErrInvalidArgument},
		{"update, no group name", f.r.UpdatePersistentSubscription(f.ctx, noName, settings(order1)), eventstore.ErrInvalidArgument},
		{"info, no group name", second(f.r.GetPersistentSubscriptionInfo(f.ctx, noName)), eventstore.ErrInvalidArgument},
		{"list, control character", second(f.r.ListPersistentSubscriptions(f.ctx, "order\x01")), eventstore.ErrInvalidStreamName},
		{"subscribe, negative buffer", second(f.r.SubscribePersistent(f.ctx, order1, eventstore.PersistentSubscribeOptions{BufferSize: -1})), eventstore.ErrInvalidArgument},
		{"delete, canceled", f.r.DeletePersistentSubscription(ctx, order1), context.Canceled},
		{"update, canceled", f.r.UpdatePersistentSubscription(ctx, order1, settings(order1)), context.Canceled},
		{"restart, canceled", f.r.RestartPersistentSubscriptions(ctx), context.Canceled},
		{"list, canceled", second(f.r.ListPersistentSubscriptions(ctx, "")), context.Canceled},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	// None of them changed anything.
	if list, err := f.r.ListPersistentSubscriptions(f.ctx, ""); err != nil || len(list) != 1 || list[0].Settings.MessageTimeout != settings(order1).MessageTimeout {
		t.Fatalf("groups afterwards: %v, %v", list, err)
	}
	if evs := f.events(persistent.ConfigStream); len(evs) != 1 || evs[0].Revision != 0 {
		t.Fatalf("config events %v, want the create's only", evs)
	}
}

func second[T any](_ T, err error) error { return err }

func TestStoreFailures(t *testing.T) {
	// Each case makes one call of the store fail once and checks that the
	// operation reports it and changed nothing; the same operation then
	// succeeds.
	for _, tc := range []struct {
		name       string
		setup      func(f *fakeEnv) // before the fault
		op, stream string           // the call that fails
		run        func(f *fakeEnv) error
		check      func(f *fakeEnv) // after the failure
		once       bool             // the operation is not run again
	}{
		{
			name: "start: config read",
			op:   opRead, stream: persistent.ConfigStream,
			run: func(f *fakeEnv) error { return f.r.Start(f.ctx) },
		},
		{
			name:  "start: checkpoint read",
			setup: func(f *fakeEnv) { f.create(order1, settings(order1)); f.reopen() },
			op:    opRead, stream: order1.CheckpointStream(),
			run: func(f *fakeEnv) error { return f.r.Start(f.ctx) },
		},
		{
			name: "restart: config read",
			op:   opRead, stream: persistent.ConfigStream,
			run: func(f *fakeEnv) error { return f.r.RestartPersistentSubscriptions(f.ctx) },
		},
		{
			name: "create: config stream metadata",
			op:   opSetMeta, stream: persistent.ConfigStream,
			run: func(f *fakeEnv) error { return f.r.CreatePersistentSubscription(f.ctx, order1, settings(order1)) },
			check: func(f *fakeEnv) {
				if evs := f.events(persistent.ConfigStream); len(evs) != 0 {
					f.t.Fatalf("config events after a failed create: %d", len(evs))
				}
			},
		},
		{
			name: "create from End: stream read",
			op:   opRead, stream: "order-1",
			run: func(f *fakeEnv) error {
				return f.r.CreatePersistentSubscription(f.ctx, order1, fromEnd(order1))
			},
			check: func(f *fakeEnv) { f.noGroup(order1) },
		},
		{
			name: "create from End: $all read",
			op:   opReadAll,
			run: func(f *fakeEnv) error {
				return f.r.CreatePersistentSubscription(f.ctx, allOrder, fromEnd(allOrder))
			},
			check: func(f *fakeEnv) { f.noGroup(allOrder) },
		},
		{
			name:  "update to End: stream read",
			setup: func(f *fakeEnv) { f.create(order1, settings(order1)); f.seed("order-1", 1) },
			op:    opRead, stream: "order-1",
			run: func(f *fakeEnv) error {
				return f.r.UpdatePersistentSubscription(f.ctx, order1, fromEnd(order1))
			},
			check: func(f *fakeEnv) {
				if from := f.info(order1).Settings.From; !from.IsStart() {
					f.t.Fatalf("From after a failed update: %v", from)
				}
			},
		},
		{
			name:  "update to End: checkpoint stream read",
			setup: func(f *fakeEnv) { f.create(order1, settings(order1)) },
			op:    opRead, stream: order1.CheckpointStream(),
			run: func(f *fakeEnv) error {
				return f.r.UpdatePersistentSubscription(f.ctx, order1, fromEnd(order1))
			},
			// The old checkpoint could not be dropped: the old group runs
			// on, as it was defined.
			check: func(f *fakeEnv) {
				if from := f.info(order1).Settings.From; !from.IsStart() {
					f.t.Fatalf("From after a failed update: %v", from)
				}
			},
		},
		{
			name:  "delete: checkpoint stream read",
			setup: func(f *fakeEnv) { f.create(order1, settings(order1)) },
			op:    opRead, stream: order1.CheckpointStream(),
			run: func(f *fakeEnv) error { return f.r.DeletePersistentSubscription(f.ctx, order1) },
			// The streams go before the definition: the group runs on.
			check: func(f *fakeEnv) { f.info(order1) },
		},
		{
			name:  "restart: checkpoint read",
			setup: func(f *fakeEnv) { f.create(order1, settings(order1)) },
			op:    opRead, stream: order1.CheckpointStream(),
			run: func(f *fakeEnv) error { return f.r.RestartPersistentSubscriptions(f.ctx) },
		},
		{
			name:  "info: parked stream read",
			setup: setupParked,
			op:    opRead, stream: order1.ParkedStream(),
			run: func(f *fakeEnv) error { return second(f.r.GetPersistentSubscriptionInfo(f.ctx, order1)) },
		},
		{
			name:  "list: parked stream metadata",
			setup: setupParked,
			op:    opGetMeta, stream: order1.ParkedStream(),
			run: func(f *fakeEnv) error { return second(f.r.ListPersistentSubscriptions(f.ctx, "")) },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			if tc.setup != nil {
				tc.setup(f)
			}
			f.r.faults.set(tc.op, tc.stream, 1)
			if err := tc.run(f); !errors.Is(err, errInjected) {
				t.Fatalf("with %s of %q failing: %v", tc.op, tc.stream, err)
			}
			if n := f.r.faults.left(tc.op, tc.stream); n != 0 {
				t.Fatalf("the fault was not reached where expected (%d left)", n)
			}
			if tc.check != nil {
				tc.check(f)
			}
			if tc.once {
				return
			}
			if err := tc.run(f); err != nil {
				t.Fatalf("again, without the fault: %v", err)
			}
		})
	}
}

// withParked creates order1 with one event, parked by the consumer it
// returns.
func (f *fakeEnv) withParked() eventstore.PersistentSubscription {
	f.t.Helper()
	f.create(order1, settings(order1))
	f.seed("order-1", 1)
	sub := f.subscribe(order1, 10)
	f.park(order1, sub)
	return sub
}

func setupParked(f *fakeEnv) { f.withParked() }

func (f *fakeEnv) noGroup(g eventstore.PersistentGroup) {
	f.t.Helper()
	if _, err := f.r.GetPersistentSubscriptionInfo(f.ctx, g); !errors.Is(err, eventstore.ErrPersistentSubscriptionNotFound) {
		f.t.Fatalf("%s after a failed create: %v", g, err)
	}
}

// A group whose subscription fails tries again after a delay of the
// engine's clock, from where it was.
func TestFailedSubscriptionIsRetried(t *testing.T) {
	f := newFake(t)
	f.r.faults.set(opSubscribe, "order-1", 1)
	f.create(order1, settings(order1))
	f.eventually("the retry is scheduled", func() bool { return f.r.faults.left(opSubscribe, "order-1") == 0 && f.clk.Pending() == 1 })
	f.seed("order-1", 1)
	sub := f.subscribe(order1, 10)
	f.clk.Advance(time.Second)
	if ev := f.recv(sub); ev.Event.Revision != 0 {
		t.Fatalf("first event after the retry: revision %d", ev.Event.Revision)
	}
}

// Close ends a group that waits to try its subscription again, and drops
// its timer.
func TestCloseDuringRetryDelay(t *testing.T) {
	f := newFake(t)
	f.r.faults.set(opSubscribeAll, "", -1)
	f.create(allOrder, settings(allOrder))
	f.eventually("the retry is scheduled", func() bool { return f.clk.Pending() == 1 })
	if err := f.r.Engine.Close(); err != nil {
		t.Fatal(err)
	}
	if n := f.clk.Pending(); n != 0 {
		t.Fatalf("%d timers left after Close", n)
	}
	if _, err := f.r.GetPersistentSubscriptionInfo(f.ctx, allOrder); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("info after Close: %v", err)
	}
}

// A delivery that times out before the consumer received it is taken out
// of the consumer's queue: the consumer receives only the retry.
func TestQueuedDeliveryTimesOut(t *testing.T) {
	f := newFake(t)
	st := settings(order1)
	st.MessageTimeout = 10 * time.Second
	f.create(order1, st)
	f.seed("order-1", 1)
	sub := f.subscribe(order1, 10)
	f.eventually("in flight, timer armed", func() bool { return f.info(order1).InFlightMessages == 1 && f.clk.Pending() == 1 })
	f.clk.Advance(10 * time.Second)
	f.eventually("delivered again", func() bool { return f.info(order1).TotalItems == 2 })
	if ev := f.recv(sub); ev.RetryCount != 1 {
		t.Fatalf("first received: retry %d, want the retry", ev.RetryCount)
	}
	if ev, err := sub.Recv(canceled(f.ctx)); !errors.Is(err, context.Canceled) {
		t.Fatalf("a second delivery was queued: %v retry %d", ev.Event.Revision, ev.RetryCount)
	}
}

// A Pinned group waits for room on the consumer a stream is pinned to.
func TestPinnedConsumerWithoutRoom(t *testing.T) {
	f := newFake(t)
	st := settings(order1)
	st.ConsumerStrategy = eventstore.Pinned
	f.create(order1, st)
	f.seed("order-1", 2)
	sub := f.subscribe(order1, 1)
	first := f.recv(sub)
	f.eventually("the second waits in the buffer", func() bool {
		info := f.info(order1)
		return info.InFlightMessages == 1 && info.LiveBufferCount+info.ReadBufferCount == 1
	})
	if _, err := sub.Recv(canceled(f.ctx)); !errors.Is(err, context.Canceled) {
		t.Fatalf("delivered past the buffer size: %v", err)
	}
	if err := sub.Ack(first.ID()); err != nil {
		t.Fatal(err)
	}
	if ev := f.recv(sub); ev.Event.Revision != 1 {
		t.Fatalf("after the ack: revision %d", ev.Event.Revision)
	}
}

// A group whose history buffer is full stays behind: it holds
// HistoryBufferSize events and reads no more until a consumer takes them.
func TestBehindWithFullHistoryBuffer(t *testing.T) {
	f := newFake(t)
	st := settings(order1)
	st.HistoryBufferSize, st.LiveBufferSize = 2, 2
	// The events are there before the group: it meets them catching up
	// (appended after it, they could find it live).
	f.seed("order-1", 5)
	f.create(order1, st)
	f.eventually("the buffer is full", func() bool { return f.info(order1).ReadBufferCount == 2 })
	info := f.info(order1)
	if info.Status != "Behind" || info.LastKnown != eventstore.FromRevision(1) {
		t.Fatalf("status %q, last known %v; want Behind at 1", info.Status, info.LastKnown)
	}
	sub := f.subscribe(order1, 10)
	for i := range uint64(5) {
		if ev := f.recv(sub); ev.Event.Revision != i {
			t.Fatalf("event %d: revision %d", i, ev.Event.Revision)
		}
	}
}

// The parked stream's $tb that the worker failed to move is moved on its
// retry, or when the group stops.
func TestParkedTruncationFailure(t *testing.T) {
	for _, stop := range []bool{false, true} {
		name := "retried"
		if stop {
			name = "on close"
		}
		t.Run(name, func(t *testing.T) {
			f := newFake(t)
			sub := f.withParked()
			f.r.faults.set(opSetMeta, order1.ParkedStream(), 1)
			if err := f.r.ReplayParkedMessages(f.ctx, order1, 0); err != nil {
				t.Fatal(err)
			}
			ev := f.recv(sub)
			if err := sub.Ack(ev.ID()); err != nil {
				t.Fatal(err)
			}
			f.eventually("the failed $tb's retry is scheduled", func() bool {
				return f.r.faults.left(opSetMeta, order1.ParkedStream()) == 0 && f.clk.Pending() == 1
			})
			if n := f.info(order1).ParkedMessageCount; n != 1 {
				t.Fatalf("parked after the failure: %d", n)
			}
			if stop {
				f.reopen()
			} else {
				f.clk.Advance(time.Second)
			}
			f.eventually("the replayed message leaves the parked stream", func() bool { return f.info(order1).ParkedMessageCount == 0 })
		})
	}
}

// A failed write is tried again retryDelay (a second) after it failed,
// however long the failed write took: here the clock passes the whole
// delay while the write fails, and the retry follows without more time
// passing.
func TestRetryDelayCountsFromTheFailure(t *testing.T) {
	f := newFake(t)
	sub := f.withParked()
	f.r.faults.setThen(opSetMeta, order1.ParkedStream(), 1, func() { f.clk.Advance(time.Second) })
	if err := f.r.ReplayParkedMessages(f.ctx, order1, 0); err != nil {
		t.Fatal(err)
	}
	ev := f.recv(sub)
	// The worker is idle once it has armed the replayed message's timeout:
	// the ack's is then the only step that writes the $tb, and fails.
	f.eventually("the replayed message's timeout is armed", func() bool {
		d, ok := f.clk.Next()
		return ok && d == settings(order1).MessageTimeout
	})
	if err := sub.Ack(ev.ID()); err != nil {
		t.Fatal(err)
	}
	f.eventually("the replayed message leaves the parked stream", func() bool {
		return f.r.faults.left(opSetMeta, order1.ParkedStream()) == 0 && f.info(order1).ParkedMessageCount == 0
	})
}

// A replay that finds nothing to replay, or fails to read the parked
// stream, ends; the next one replays.
func TestReplayEndsAndRunsAgain(t *testing.T) {
	f := newFake(t)
	f.create(order1, settings(order1))
	f.seed("order-1", 1)
	sub := f.subscribe(order1, 10)
	notReplaying := func() bool { return !strings.Contains(f.info(order1).Status, "Replaying") }
	if err := f.r.ReplayParkedMessages(f.ctx, order1, 0); err != nil {
		t.Fatal(err)
	}
	f.eventually("the empty replay ends", notReplaying)
	parked := f.park(order1, sub)
	f.r.faults.set(opRead, order1.ParkedStream(), 1)
	if err := f.r.ReplayParkedMessages(f.ctx, order1, 0); err != nil {
		t.Fatal(err)
	}
	f.eventually("the failed replay ends", func() bool { return f.r.faults.left(opRead, order1.ParkedStream()) == 0 && notReplaying() })
	if err := f.r.ReplayParkedMessages(f.ctx, order1, 0); err != nil {
		t.Fatal(err)
	}
	if ev := f.recv(sub); ev.Event.ID != parked.Event.ID || ev.Event.Link == nil || ev.Event.Link.Stream != order1.ParkedStream() {
		t.Fatalf("replayed: %v link %v, want the parked event through its link", ev.Event.ID, ev.Event.Link)
	}
}

// A parked entry that is not a link, or whose event is gone, is replayed
// as it is.
func TestReplayOfEntriesWithoutTheirEvent(t *testing.T) {
	f := newFake(t)
	sub := f.withParked()
	if _, err := f.r.Store.Delete(f.ctx, "order-1", eventstore.Any); err != nil {
		t.Fatal(err)
	}
	odd := eventstore.EventData{Type: "NotALink", ContentType: eventstore.ContentTypeBinary, Data: []byte("x")}
	if _, err := f.r.Store.Append(f.ctx, hide(order1.ParkedStream()), eventstore.Any, odd); err != nil {
		t.Fatal(err)
	}
	if err := f.r.ReplayParkedMessages(f.ctx, order1, 0); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{eventstore.LinkEventType, "NotALink"} {
		ev := f.recv(sub)
		if ev.Event.Type != want || ev.Event.Stream != order1.ParkedStream() || ev.Event.Link != nil {
			t.Fatalf("replayed %s of %s (link %v), want the parked stream's %s itself", ev.Event.Type, ev.Event.Stream, ev.Event.Link, want)
		}
		if err := sub.Ack(ev.ID()); err != nil {
			t.Fatal(err)
		}
	}
	f.eventually("both leave the parked stream", func() bool { return f.info(order1).ParkedMessageCount == 0 })
	// The parked stream exists but holds nothing now: a replay ends at
	// once, delivering nothing.
	if err := f.r.ReplayParkedMessages(f.ctx, order1, 0); err != nil {
		t.Fatal(err)
	}
	f.eventually("the empty replay ends", func() bool { return !strings.Contains(f.info(order1).Status, "Replaying") })
	if ev, err := sub.Recv(canceled(f.ctx)); !errors.Is(err, context.Canceled) {
		t.Fatalf("an empty replay delivered %s", ev.Event.Type)
	}
}
