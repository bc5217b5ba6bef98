package feed_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
)

func appendN(t *testing.T, s eventstore.Store, stream string, n int) {
	t.Helper()
	for i := range n {
		if _, err := s.Append(context.Background(), stream, eventstore.Any, eventstore.EventData{Type: "E", Data: []byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
}

// pull returns a function that takes the next message of a subscription.
func pull(t *testing.T, subscribe func(ctx context.Context) iter.Seq2[eventstore.Message, error]) (next func() (eventstore.Message, error), stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	seq := subscribe(ctx)
	type item struct {
		m   eventstore.Message
		err error
	}
	ch := make(chan item)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for m, err := range seq {
			select {
			case ch <- item{m, err}:
			case <-done:
				return
			}
		}
		close(ch)
	}()
	next = func() (eventstore.Message, error) {
		select {
		case it, ok := <-ch:
			if !ok {
				return eventstore.Message{}, errors.New("subscription ended")
			}
			return it.m, it.err
		case <-time.After(20 * time.Second):
			t.Fatal("no message within 20s")
			return eventstore.Message{}, nil
		}
	}
	stop = func() { cancel(); close(done); <-finished }
	return next, stop
}

func nextKind(t *testing.T, next func() (eventstore.Message, error), kind eventstore.MessageKind) eventstore.Message {
	t.Helper()
	for {
		m, err := next()
		if err != nil {
			t.Fatalf("waiting for %v: %v", kind, err)
		}
		if m.Kind == kind {
			return m
		}
	}
}

func TestSlowConsumerFallsBehindAndLosesNothing(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s := memory.New()
	defer s.Close()
	appendN(t, s, "a-1", 10)
	// The pull goroutine blocks on an unbuffered channel: the subscription
	// cannot deliver while we append, so its live queue overflows.
	next, stop := pull(t, func(ctx context.Context) iter.Seq2[eventstore.Message, error] {
		return s.SubscribeToAll(ctx, eventstore.SubscribeAllOptions{})
	})
	defer stop()
	nextKind(t, next, eventstore.MessageCaughtUp)
	const more = 3000
	appendN(t, s, "a-1", more)
	last := uint64(10) // the catch-up events came before CaughtUp
	fellBehind, caughtUpAgain := false, false
	for last < uint64(10+more) {
		m, err := next()
		if err != nil {
			t.Fatal(err)
		}
		switch m.Kind {
		case eventstore.MessageFellBehind:
			fellBehind = true
		case eventstore.MessageCaughtUp:
			caughtUpAgain = fellBehind
		case eventstore.MessageEvent:
			if m.Event.Position.Commit != last+1 {
				t.Fatalf("gap or duplicate: %d after %d", m.Event.Position.Commit, last)
			}
			last = m.Event.Position.Commit
		}
	}
	// The subscription caught up again after falling behind: either before
	// the last event (CaughtUp seen) or right after it.
	if !caughtUpAgain {
		nextKind(t, next, eventstore.MessageCaughtUp)
		caughtUpAgain = true
	}
	if !fellBehind || !caughtUpAgain {
		t.Fatalf("fellBehind=%v caughtUpAgain=%v", fellBehind, caughtUpAgain)
	}
}

func TestCloseEndsSubscriptions(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx := context.Background()
	s := memory.New()
	next, stop := pull(t, func(ctx context.Context) iter.Seq2[eventstore.Message, error] {
		return s.SubscribeToStream(ctx, "x-1", eventstore.SubscribeOptions{})
	})
	defer stop()
	nextKind(t, next, eventstore.MessageCaughtUp)
	s.Close()
	if _, err := next(); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("err = %v", err)
	}
	for _, err := range s.SubscribeToAll(ctx, eventstore.SubscribeAllOptions{}) {
		if !errors.Is(err, eventstore.ErrClosed) {
			t.Fatalf("after close: %v", err)
		}
		break
	}
}

func TestFromEndAndRevision(t *testing.T) {
	ctx := context.Background()
	s := memory.New()
	defer s.Close()
	appendN(t, s, "x-1", 5)
	appendN(t, s, "y-1", 1)

	next, stop := pull(t, func(ctx context.Context) iter.Seq2[eventstore.Message, error] {
		return s.SubscribeToStream(ctx, "x-1", eventstore.SubscribeOptions{From: eventstore.End})
	})
	defer stop()
	nextKind(t, next, eventstore.MessageCaughtUp)
	appendN(t, s, "y-1", 1)
	appendN(t, s, "x-1", 1)
	if m := nextKind(t, next, eventstore.MessageEvent); m.Event.Revision != 5 {
		t.Fatalf("from end: got revision %d", m.Event.Revision)
	}

	next2, stop2 := pull(t, func(ctx context.Context) iter.Seq2[eventstore.Message, error] {
		return s.SubscribeToStream(ctx, "x-1", eventstore.SubscribeOptions{From: eventstore.FromRevision(3)})
	})
	defer stop2()
	if m := nextKind(t, next2, eventstore.MessageEvent); m.Event.Revision != 4 {
		t.Fatalf("from revision 3: got %d", m.Event.Revision)
	}

	next3, stop3 := pull(t, func(ctx context.Context) iter.Seq2[eventstore.Message, error] {
		return s.SubscribeToAll(ctx, eventstore.SubscribeAllOptions{From: eventstore.End})
	})
	defer stop3()
	nextKind(t, next3, eventstore.MessageCaughtUp)
	res, _ := s.Append(ctx, "z-1", eventstore.Any, eventstore.EventData{Type: "E"})
	if m := nextKind(t, next3, eventstore.MessageEvent); m.Event.Position != res.Position {
		t.Fatalf("$all from end: got %v want %v", m.Event.Position, res.Position)
	}

	empty := memory.New()
	defer empty.Close()
	next4, stop4 := pull(t, func(ctx context.Context) iter.Seq2[eventstore.Message, error] {
		return empty.SubscribeToAll(ctx, eventstore.SubscribeAllOptions{From: eventstore.End})
	})
	defer stop4()
	nextKind(t, next4, eventstore.MessageCaughtUp)
	appendN(t, empty, "a-1", 1)
	if m := nextKind(t, next4, eventstore.MessageEvent); m.Event.Position.Commit != 1 {
		t.Fatalf("empty store from end: %v", m.Event.Position)
	}
}

func TestFilteredCheckpoints(t *testing.T) {
	s := memory.New()
	defer s.Close()
	appendN(t, s, "other-1", 7)
	appendN(t, s, "keep-1", 1)
	f := eventstore.StreamPrefixFilter("keep-")
	f.CheckpointInterval = 3
	next, stop := pull(t, func(ctx context.Context) iter.Seq2[eventstore.Message, error] {
		return s.SubscribeToAll(ctx, eventstore.SubscribeAllOptions{Filter: f})
	})
	defer stop()
	var kinds []string
	for {
		m, err := next()
		if err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, fmt.Sprintf("%v@%d", m.Kind, m.Position.Commit))
		if m.Kind == eventstore.MessageCaughtUp {
			break
		}
	}
	want := "[checkpoint@3 checkpoint@6 event@0 checkpoint@8 caught-up@8]"
	if got := fmt.Sprint(kinds); got != want {
		t.Fatalf("got %s want %s", got, want)
	}
	appendN(t, s, "other-1", 2)
	if m := nextKind(t, next, eventstore.MessageCheckpoint); m.Position.Commit != 9 {
		t.Fatalf("live checkpoint at %v", m.Position)
	}
}

func TestStreamLifecycle(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := memory.New()
	defer s.Close()
	// Not yet existing, then created, then tombstoned while live.
	next, stop := pull(t, func(ctx context.Context) iter.Seq2[eventstore.Message, error] {
		return s.SubscribeToStream(ctx, "x-1", eventstore.SubscribeOptions{})
	})
	defer stop()
	nextKind(t, next, eventstore.MessageCaughtUp)
	appendN(t, s, "x-1", 1)
	nextKind(t, next, eventstore.MessageEvent)
	if _, err := s.Tombstone(ctx, "x-1", eventstore.Any); err != nil {
		t.Fatal(err)
	}
	if m := nextKind(t, next, eventstore.MessageEvent); m.Event.Type != eventstore.StreamDeletedEventType {
		t.Fatalf("got %v", m.Event.Type)
	}
	if _, err := next(); !errors.Is(err, eventstore.ErrStreamDeleted) {
		t.Fatalf("err = %v", err)
	}
	// Subscribing after the tombstone fails at once.
	for _, err := range s.SubscribeToStream(ctx, "x-1", eventstore.SubscribeOptions{}) {
		if !errors.Is(err, eventstore.ErrStreamDeleted) {
			t.Fatalf("after tombstone: %v", err)
		}
		break
	}
	// Cancellation ends a live subscription with the context's error.
	next2, stop2 := pull(t, func(context.Context) iter.Seq2[eventstore.Message, error] {
		return s.SubscribeToStream(ctx, "y-1", eventstore.SubscribeOptions{})
	})
	defer stop2()
	nextKind(t, next2, eventstore.MessageCaughtUp)
	cancel()
	if _, err := next2(); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestInvalidSubscriptions(t *testing.T) {
	s := memory.New()
	defer s.Close()
	for _, err := range s.SubscribeToStream(context.Background(), "", eventstore.SubscribeOptions{}) {
		if !errors.Is(err, eventstore.ErrInvalidArgument) {
			t.Fatal(err)
		}
	}
	for _, err := range s.SubscribeToAll(context.Background(), eventstore.SubscribeAllOptions{From: eventstore.FromRevision(1)}) {
		if !errors.Is(err, eventstore.ErrInvalidArgument) {
			t.Fatal(err)
		}
	}
}

func TestBreakReleases(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s := memory.New()
	defer s.Close()
	appendN(t, s, "x-1", 3)
	for _, stop := range []eventstore.MessageKind{eventstore.MessageEvent, eventstore.MessageCaughtUp} {
		for m, err := range s.SubscribeToAll(context.Background(), eventstore.SubscribeAllOptions{Filter: eventstore.StreamPrefixFilter("x")}) {
			if err != nil {
				t.Fatal(err)
			}
			if m.Kind == stop {
				break
			}
		}
	}
}

// TestStreamSubscriberIgnoresOtherStreams: traffic on other streams neither
// fills a stream subscriber's queue nor makes it fall behind, while its own
// stream's traffic does, and it loses nothing either way.
func TestStreamSubscriberIgnoresOtherStreams(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s := memory.New()
	defer s.Close()
	next, stop := pull(t, func(ctx context.Context) iter.Seq2[eventstore.Message, error] {
		return s.SubscribeToStream(ctx, "mine-1", eventstore.SubscribeOptions{})
	})
	defer stop()
	nextKind(t, next, eventstore.MessageCaughtUp)
	// The subscription blocks delivering this event (nobody reads) while
	// more batches than its queue holds are committed to another stream.
	appendN(t, s, "mine-1", 1)
	appendN(t, s, "other-1", 3000)
	appendN(t, s, "mine-1", 1)
	for want := uint64(0); want < 2; want++ {
		if m, err := next(); err != nil || m.Kind != eventstore.MessageEvent || m.Event.Revision != want {
			t.Fatalf("got %v revision %d (%v), want revision %d with no fall-behind", m.Kind, m.Event.Revision, err, want)
		}
	}
	appendN(t, s, "mine-1", 3000)
	fellBehind := false
	for last := uint64(1); last < 3001; {
		m, err := next()
		if err != nil {
			t.Fatal(err)
		}
		switch m.Kind {
		case eventstore.MessageFellBehind:
			fellBehind = true
		case eventstore.MessageEvent:
			if m.Event.Revision != last+1 {
				t.Fatalf("revision %d after %d", m.Event.Revision, last)
			}
			last = m.Event.Revision
		}
	}
	if !fellBehind {
		t.Fatal("3000 unread events of its own stream did not make the subscriber fall behind")
	}
}
