package esdb_test

import (
	"context"
	"fmt"
	"iter"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/esdb"
	"github.com/chronicle-go/chronicle/eventstore/memory"
)

// countingStore counts the subscriptions the server opens on the store.
type countingStore struct {
	eventstore.Store
	subscriptions atomic.Int64
}

func (c *countingStore) SubscribeToStream(ctx context.Context, stream string, opts eventstore.SubscribeOptions) iter.Seq2[eventstore.Message, error] {
	c.subscriptions.Add(1)
	return c.Store.SubscribeToStream(ctx, stream, opts)
}

func (c *countingStore) SubscribeToAll(ctx context.Context, opts eventstore.SubscribeAllOptions) iter.Seq2[eventstore.Message, error] {
	c.subscriptions.Add(1)
	return c.Store.SubscribeToAll(ctx, opts)
}

// recorder consumes a subscription in the background.
type recorder struct {
	name string
	mu   sync.Mutex
	msgs []eventstore.Message
	err  error
}

func record(t *testing.T, ctx context.Context, name string, subscribe func(context.Context) iter.Seq2[eventstore.Message, error]) *recorder {
	r := &recorder{name: name}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range subscribe(ctx) {
			r.mu.Lock()
			if err != nil {
				r.err = err
			} else {
				r.msgs = append(r.msgs, m)
			}
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return r
}

// events returns the events delivered so far and how many CaughtUp
// messages came, and fails the test if the subscription ended.
func (r *recorder) events(t *testing.T) (evs []eventstore.RecordedEvent, caughtUps int) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		t.Fatalf("%s ended: %v", r.name, r.err)
	}
	for _, m := range r.msgs {
		switch m.Kind {
		case eventstore.MessageEvent:
			evs = append(evs, m.Event)
		case eventstore.MessageCaughtUp:
			caughtUps++
		}
	}
	return evs, caughtUps
}

// poll waits until cond holds, failing the test after testTimeout.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sameEvents compares delivered events with the stored ones by ID and
// position, reporting the first difference.
func sameEvents(got, want []eventstore.RecordedEvent) error {
	for i := range min(len(got), len(want)) {
		if got[i].ID != want[i].ID || got[i].Position != want[i].Position {
			return fmt.Errorf("event %d is %s@%d (%v), want %s@%d (%v)", i, got[i].Stream, got[i].Revision, got[i].Position, want[i].Stream, want[i].Revision, want[i].Position)
		}
	}
	if len(got) != len(want) {
		return fmt.Errorf("%d events, want %d", len(got), len(want))
	}
	return nil
}

func seedEvents(n int, typ string) []eventstore.EventData {
	evs := make([]eventstore.EventData, n)
	for i := range evs {
		evs[i] = newEvent(typ)
	}
	return evs
}

func TestServerRestartUnderLiveSubscriptions(t *testing.T) {
	mem := memory.New()
	t.Cleanup(func() { mem.Close() })
	counted := &countingStore{Store: mem}
	srv := startServer(t, counted)
	logs := &logCounter{}
	s := open(t, srv.connString(), esdb.WithBackoff(5*time.Millisecond, 50*time.Millisecond), esdb.WithLogger(slog.New(logs)))
	ctx := testContext(t)

	write := func(store eventstore.Store, stream string, n int) {
		t.Helper()
		if _, err := store.Append(ctx, stream, eventstore.Any, seedEvents(n, "Seeded")...); err != nil {
			t.Fatalf("append to %s: %v", stream, err)
		}
	}
	write(s, "order-1", 5)
	head := eventstore.Position{Commit: 5, Prepare: 5}
	subs := []*recorder{
		record(t, ctx, "order-1 from start", func(ctx context.Context) iter.Seq2[eventstore.Message, error] {
			return s.SubscribeToStream(ctx, "order-1", eventstore.SubscribeOptions{})
		}),
		record(t, ctx, "order-1 from end", func(ctx context.Context) iter.Seq2[eventstore.Message, error] {
			return s.SubscribeToStream(ctx, "order-1", eventstore.SubscribeOptions{From: eventstore.End})
		}),
		record(t, ctx, "$all from start", func(ctx context.Context) iter.Seq2[eventstore.Message, error] {
			return s.SubscribeToAll(ctx, eventstore.SubscribeAllOptions{})
		}),
		record(t, ctx, "invoices from end", func(ctx context.Context) iter.Seq2[eventstore.Message, error] {
			return s.SubscribeToAll(ctx, eventstore.SubscribeAllOptions{From: eventstore.End, Filter: eventstore.StreamPrefixFilter("invoice-")})
		}),
	}
	// want returns what each subscription should have delivered, from the
	// memory store behind the server.
	want := func() [][]eventstore.RecordedEvent {
		all, err := collect(t, mem.ReadAll(ctx, eventstore.ReadAllOptions{}))
		if err != nil {
			t.Fatal(err)
		}
		var order, orderAfterEnd, invoices []eventstore.RecordedEvent
		for _, e := range all {
			switch e.Stream {
			case "order-1":
				order = append(order, e)
				if e.Position.Compare(head) > 0 {
					orderAfterEnd = append(orderAfterEnd, e)
				}
			case "invoice-1":
				invoices = append(invoices, e)
			}
		}
		return [][]eventstore.RecordedEvent{order, orderAfterEnd, all, invoices}
	}
	settled := func(caughtUp bool) func() bool {
		return func() bool {
			w := want()
			for i, r := range subs {
				got, ups := r.events(t)
				if sameEvents(got, w[i]) != nil || (caughtUp && ups == 0) {
					return false
				}
			}
			return true
		}
	}
	poll(t, "the subscriptions to catch up", settled(true))

	write(s, "order-1", 20)
	write(s, "invoice-1", 20)
	poll(t, "the first events", settled(false))

	srv.stop()
	// Written while the server is away: a resumed subscription must not
	// miss them.
	write(mem, "order-1", 10)
	write(mem, "invoice-1", 10)
	// An operation during the outage waits for the server.
	appended := make(chan error, 1)
	go func() {
		_, err := s.Append(ctx, "order-1", eventstore.Exact(34), newEvent("DuringOutage"))
		appended <- err
	}()
	// Restart only once the store has found the server away a few times.
	poll(t, "failed reconnection probes", func() bool { return logs.count("esdb: server still unreachable") >= 3 })
	srv.start()
	if err := <-appended; err != nil {
		t.Fatalf("append during the outage: %v", err)
	}
	write(s, "order-1", 10)
	write(s, "invoice-1", 10)
	poll(t, "every event after the restart", settled(false))

	w := want()
	for i, r := range subs {
		got, ups := r.events(t)
		if err := sameEvents(got, w[i]); err != nil || ups != 1 {
			t.Errorf("%s: %v, %d CaughtUp messages; want every event once and one CaughtUp", r.name, err, ups)
		}
	}
	// One subscription each, and one more per drop (every subscriber is
	// dropped at least once; the count of drops comes from the store's
	// log): no resubscription storm reached the server.
	drops := logs.count("esdb: subscription dropped; resuming")
	if n := counted.subscriptions.Load(); drops < len(subs) || n != int64(len(subs)+drops) {
		t.Errorf("the server opened %d subscriptions for %d subscribers dropped %d times, want %d", n, len(subs), drops, len(subs)+drops)
	}
}

// logCounter is a slog.Handler that counts records by message.
type logCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (l *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCounter) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logCounter) WithGroup(string) slog.Handler            { return l }

func (l *logCounter) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == nil {
		l.n = make(map[string]int)
	}
	l.n[r.Message]++
	return nil
}

func (l *logCounter) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n[msg]
}
