package esdbserver_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"google.golang.org/grpc/status"

	"github.com/chronicle-go/chronicle/eventstore"
)

// subEvent is one thing a subscription delivered, as text: "event s@r",
// "caught-up", "checkpoint", "fell-behind" or "dropped: <code>".
func recvKind(t *testing.T, sub *esdb.Subscription) (string, *esdb.SubscriptionEvent) {
	t.Helper()
	ev := sub.Recv()
	switch {
	case ev.EventAppeared != nil:
		e := ev.EventAppeared.OriginalEvent()
		return fmt.Sprintf("event %s@%d", e.StreamID, e.EventNumber), ev
	case ev.CaughtUp != nil:
		return "caught-up", ev
	case ev.CheckPointReached != nil:
		return "checkpoint", ev
	case ev.FellBehind != nil:
		return "fell-behind", ev
	case ev.SubscriptionDropped != nil:
		return "dropped: " + status.Code(ev.SubscriptionDropped.Error).String(), ev
	}
	return "nothing", ev
}

// expectSequence receives len(want) messages and compares their kinds.
func expectSequence(t *testing.T, sub *esdb.Subscription, want ...string) []*esdb.SubscriptionEvent {
	t.Helper()
	var got []string
	var evs []*esdb.SubscriptionEvent
	for range want {
		k, ev := recvKind(t, sub)
		got = append(got, k)
		evs = append(evs, ev)
		if strings.HasPrefix(k, "dropped") {
			break
		}
	}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Fatalf("subscription delivered\n  %s\nwant\n  %s", strings.Join(got, ", "), strings.Join(want, ", "))
	}
	return evs
}

func TestSubscribeToStream(t *testing.T) {
	ctx := testContext(t)
	store, srv := newMemoryServer(t)
	c := newClient(t, srv.ConnectionString())
	seed(t, store, "sub-1", "E", 3)

	tests := []struct {
		name string
		from esdb.StreamPosition
		want []string
	}{
		{"from start", esdb.Start{}, []string{"event sub-1@0", "event sub-1@1", "event sub-1@2", "caught-up", "event sub-1@3"}},
		{"from a revision, exclusive", esdb.Revision(1), []string{"event sub-1@2", "caught-up", "event sub-1@3"}},
		{"from end", esdb.End{}, []string{"caught-up", "event sub-1@3"}},
	}
	subs := make([]*esdb.Subscription, len(tests))
	for i, tt := range tests {
		sub, err := c.SubscribeToStream(ctx, "sub-1", esdb.SubscribeToStreamOptions{From: tt.from})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		if sub.Id() == "" {
			t.Error("empty subscription id")
		}
		subs[i] = sub
		// Catch-up part first, so that the live event comes after caught-up.
		expectSequence(t, sub, tt.want[:len(tt.want)-1]...)
	}
	seed(t, store, "sub-1", "E", 1)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { expectSequence(t, subs[i], tt.want[len(tt.want)-1]) })
	}
}

func TestSubscribeToMissingThenTombstonedStream(t *testing.T) {
	ctx := testContext(t)
	store, srv := newMemoryServer(t)
	c := newClient(t, srv.ConnectionString())

	sub, err := c.SubscribeToStream(ctx, "later-1", esdb.SubscribeToStreamOptions{From: esdb.Start{}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	expectSequence(t, sub, "caught-up")
	seed(t, store, "later-1", "E", 1)
	expectSequence(t, sub, "event later-1@0")
	if _, err := store.Tombstone(ctx, "later-1", eventstore.Any); err != nil {
		t.Fatal(err)
	}
	evs := expectSequence(t, sub, fmt.Sprintf("event later-1@%d", eventstore.TombstoneRevision), "dropped: FailedPrecondition")
	if evs[0].EventAppeared.Event.EventType != "$streamDeleted" {
		t.Errorf("tombstone record type %q", evs[0].EventAppeared.Event.EventType)
	}

	// Subscribing after the tombstone: confirmation, then the error.
	sub2, err := c.SubscribeToStream(ctx, "later-1", esdb.SubscribeToStreamOptions{From: esdb.Start{}})
	if err != nil {
		t.Fatalf("subscribe to a tombstoned stream must be confirmed first: %v", err)
	}
	defer sub2.Close()
	k, ev := recvKind(t, sub2)
	if k != "dropped: FailedPrecondition" {
		t.Fatalf("got %s, want the stream-deleted error", k)
	}
	if st := status.Convert(ev.SubscriptionDropped.Error); !strings.Contains(st.Message(), "later-1") {
		t.Errorf("error %v does not name the stream", st)
	}
}

func TestSubscribeToAllFiltered(t *testing.T) {
	ctx := testContext(t)
	store, srv := newMemoryServer(t)
	c := newClient(t, srv.ConnectionString())
	for i := range 5 {
		seed(t, store, fmt.Sprintf("other-%d", i), "O", 1)
		seed(t, store, fmt.Sprintf("match-%d", i), "M", 1)
	}

	// Window 2 × multiplier 2: a checkpoint every 4 examined events, and
	// one right before caught-up.
	sub, err := c.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{
		From:               esdb.Start{},
		Filter:             &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{"match-"}},
		MaxSearchWindow:    2,
		CheckpointInterval: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	evs := expectSequence(t, sub,
		"event match-0@0", "event match-1@0", "checkpoint",
		"event match-2@0", "event match-3@0", "checkpoint",
		"event match-4@0", "checkpoint", "caught-up")
	var last eventstore.Position
	for e := range store.ReadAll(ctx, eventstore.ReadAllOptions{Direction: eventstore.Backwards, From: eventstore.End, MaxCount: 1}) {
		last = e.Position
	}
	if cp := evs[7].CheckPointReached; cp.Commit != last.Commit || cp.Prepare != last.Prepare {
		t.Errorf("checkpoint before caught-up = %v, want the last examined position %v", cp, last)
	}
	seed(t, store, "other-9", "O", 1)
	seed(t, store, "match-9", "M", 1)
	expectSequence(t, sub, "event match-9@0")

	// Event-type regex filter, from a position (exclusive).
	sub2, err := c.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{
		From:   esdb.Position{Commit: evs[0].EventAppeared.Event.Position.Commit, Prepare: evs[0].EventAppeared.Event.Position.Prepare},
		Filter: &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Regex: "^M$"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub2.Close()
	expectSequence(t, sub2, "event match-1@0", "event match-2@0", "event match-3@0", "event match-4@0", "event match-9@0", "checkpoint", "caught-up")
}

func TestSubscribeToAllUnfiltered(t *testing.T) {
	ctx := testContext(t)
	store, srv := newMemoryServer(t)
	c := newClient(t, srv.ConnectionString())
	seed(t, store, "x-1", "E", 2)
	sub, err := c.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: esdb.Start{}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	expectSequence(t, sub, "event x-1@0", "event x-1@1", "caught-up")
	sub2, err := c.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: esdb.End{}, Filter: esdb.ExcludeSystemEventsFilter()})
	if err != nil {
		t.Fatal(err)
	}
	defer sub2.Close()
	expectSequence(t, sub2, "checkpoint", "caught-up")
	seed(t, store, "x-2", "E", 1)
	expectSequence(t, sub, "event x-2@0")
	expectSequence(t, sub2, "event x-2@0")
}

func TestSubscriptionCancelledByClient(t *testing.T) {
	ctx := testContext(t)
	store, srv := newMemoryServer(t)
	c := newClient(t, srv.ConnectionString())
	seed(t, store, "cx-1", "E", 1)
	for range 10 {
		sub, err := c.SubscribeToStream(ctx, "cx-1", esdb.SubscribeToStreamOptions{From: esdb.Start{}})
		if err != nil {
			t.Fatal(err)
		}
		expectSequence(t, sub, "event cx-1@0")
		sub.Close()
	}
	// The server keeps serving.
	if _, err := c.AppendToStream(ctx, "cx-1", esdb.AppendToStreamOptions{}, jsonEvent("E", "{}")); err != nil {
		t.Fatal(err)
	}
}
