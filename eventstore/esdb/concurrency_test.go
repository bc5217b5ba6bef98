package esdb_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/esdb"
	"github.com/chronicle-go/chronicle/eventstore/memory"
)

// TestManyClients runs 100 clients, each with its own Store and
// connection, appending to their own streams and, under optimistic
// concurrency, to one shared stream, reading back and subscribing, all at
// once against one server.
func TestManyClients(t *testing.T) {
	const (
		clients      = 100
		own          = 10 // events each client appends to its stream
		shared       = 3  // events each client appends to the shared stream
		sharedStream = "shared-1"
	)
	mem := memory.New()
	t.Cleanup(func() { mem.Close() })
	srv := startServer(t, mem)
	ctx := testContext(t)

	stores := make([]*esdb.Store, clients)
	for i := range stores {
		stores[i] = open(t, srv.connString())
	}
	var (
		wg      sync.WaitGroup
		errs    = make(chan error, clients)
		mine    = make([]*recorder, clients)
		watches []*recorder
		ready   sync.WaitGroup
	)
	for i, s := range stores {
		stream := fmt.Sprintf("client-%d", i)
		mine[i] = record(t, ctx, stream, func(ctx context.Context) iter.Seq2[eventstore.Message, error] {
			return s.SubscribeToStream(ctx, stream, eventstore.SubscribeOptions{})
		})
		if i%10 == 0 {
			watches = append(watches, record(t, ctx, "shared watcher", func(ctx context.Context) iter.Seq2[eventstore.Message, error] {
				return s.SubscribeToAll(ctx, eventstore.SubscribeAllOptions{Filter: eventstore.StreamPrefixFilter("shared-")})
			}))
		}
	}
	ready.Add(clients)
	for i, s := range stores {
		wg.Go(func() {
			ready.Done()
			ready.Wait() // start together
			if err := client(ctx, s, fmt.Sprintf("client-%d", i), own, sharedStream, shared); err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}

	all, err := collect(t, mem.ReadAll(ctx, eventstore.ReadAllOptions{Filter: eventstore.StreamPrefixFilter("shared-")}))
	if err != nil || len(all) != clients*shared {
		t.Fatalf("%s holds %d events (%v), want %d", sharedStream, len(all), err, clients*shared)
	}
	for i, r := range mine {
		want, err := collect(t, mem.ReadStream(ctx, r.name, eventstore.ReadOptions{}))
		if err != nil {
			t.Fatal(err)
		}
		poll(t, r.name+" subscription", func() bool { got, _ := r.events(t); return len(got) >= own })
		if got, ups := r.events(t); sameEvents(got, want) != nil || ups != 1 {
			t.Errorf("client %d's subscription: %v, %d CaughtUp", i, sameEvents(got, want), ups)
		}
	}
	for _, r := range watches {
		poll(t, "shared watchers", func() bool { got, _ := r.events(t); return len(got) >= len(all) })
		if got, _ := r.events(t); sameEvents(got, all) != nil {
			t.Errorf("a watcher of %s: %v", sharedStream, sameEvents(got, all))
		}
	}
}

// client is one client's work: own events one by one with exact expected
// revisions, shared events under optimistic concurrency, and reads back.
func client(ctx context.Context, s eventstore.Store, stream string, own int, sharedStream string, shared int) error {
	expected := eventstore.NoStream
	for range own {
		res, err := s.Append(ctx, stream, expected, newEvent("Own"))
		if err != nil {
			return err
		}
		expected = res.Next
	}
	for range shared {
		for {
			last := eventstore.NoStream
			for e, err := range s.ReadStream(ctx, sharedStream, eventstore.ReadOptions{Direction: eventstore.Backwards, From: eventstore.End, MaxCount: 1}) {
				if err != nil && !errors.Is(err, eventstore.ErrStreamNotFound) {
					return err
				}
				if err == nil {
					last = eventstore.Exact(e.Revision)
				}
			}
			_, err := s.Append(ctx, sharedStream, last, newEvent("Shared"))
			if err == nil {
				break
			}
			var wrong *eventstore.WrongExpectedVersionError
			if !errors.As(err, &wrong) || wrong.Expected != last || wrong.Actual == last {
				return fmt.Errorf("shared append expecting %v: %w", last, err)
			}
			// Back off a little, as a real client would: 100 clients
			// retrying at once only waste each other's round trips.
			time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
		}
	}
	var evs []eventstore.RecordedEvent
	for e, err := range s.ReadStream(ctx, stream, eventstore.ReadOptions{}) {
		if err != nil {
			return err
		}
		evs = append(evs, e)
	}
	if len(evs) != own {
		return fmt.Errorf("read back %d events, want %d", len(evs), own)
	}
	for i, e := range evs {
		if e.Revision != uint64(i) || e.Stream != stream {
			return fmt.Errorf("event %d is %s@%d", i, e.Stream, e.Revision)
		}
	}
	return nil
}
