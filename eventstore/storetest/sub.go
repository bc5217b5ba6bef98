package storetest

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
)

// protocol checks the order of a subscription's messages: events, then one
// CaughtUp; after it, live events, and a FellBehind only when live, always
// followed by another CaughtUp before the next FellBehind; Checkpoints only
// on filtered $all subscriptions, at non-decreasing positions.
type protocol struct {
	filtered bool
	live     bool // a CaughtUp was received and no FellBehind since

	caughtUps  int
	fellBehind int
	checkpoint eventstore.Position // the last one received
	caughtUpAt eventstore.Position // Position of the first CaughtUp
}

// check records m and reports how it breaks the protocol.
func (p *protocol) check(m eventstore.Message) error {
	switch m.Kind {
	case eventstore.MessageEvent:
	case eventstore.MessageCaughtUp:
		if p.live {
			return errors.New("CaughtUp while already live (no FellBehind before it)")
		}
		if p.caughtUps == 0 {
			p.caughtUpAt = m.Position
		}
		p.live = true
		p.caughtUps++
	case eventstore.MessageFellBehind:
		if !p.live {
			return errors.New("FellBehind while catching up (before a CaughtUp)")
		}
		p.live = false
		p.fellBehind++
	case eventstore.MessageCheckpoint:
		if !p.filtered {
			return errors.New("a Checkpoint on a subscription without a filter")
		}
		if m.Position.Compare(p.checkpoint) < 0 {
			return fmt.Errorf("checkpoint %v is before the previous one %v", m.Position, p.checkpoint)
		}
		p.checkpoint = m.Position
	default:
		return fmt.Errorf("a message of unknown kind %d", m.Kind)
	}
	return nil
}

// subscription pulls messages from a subscription iterator one at a time,
// in the test's goroutine, and checks the protocol as it goes.
type subscription struct {
	protocol
	t      *testing.T
	name   string
	next   func() (eventstore.Message, error, bool)
	stop   func()
	cancel context.CancelFunc
	wait   time.Duration // how long to wait for one message
	ended  bool
	// abandoned: a pull never returned; its goroutine still owns next.
	abandoned bool
}

// subscribeStream starts a stream subscription; it is stopped when the
// subtest ends.
func (e *env) subscribeStream(stream string, opts eventstore.SubscribeOptions) *subscription {
	e.t.Helper()
	ctx, cancel := context.WithCancel(e.ctx)
	return e.pull("SubscribeToStream("+stream+", "+opts.From.String()+")", false, cancel,
		e.s.SubscribeToStream(ctx, stream, opts))
}

// subscribeAll starts a $all subscription; it is stopped when the subtest
// ends.
func (e *env) subscribeAll(opts eventstore.SubscribeAllOptions) *subscription {
	e.t.Helper()
	ctx, cancel := context.WithCancel(e.ctx)
	return e.pull("SubscribeToAll("+opts.From.String()+")", opts.Filter != nil, cancel,
		e.s.SubscribeToAll(ctx, opts))
}

func (e *env) pull(name string, filtered bool, cancel context.CancelFunc, seq iter.Seq2[eventstore.Message, error]) *subscription {
	next, stop := iter.Pull2(seq)
	s := &subscription{protocol: protocol{filtered: filtered}, t: e.t, name: name, next: next, stop: stop, cancel: cancel, wait: e.f.timeout() / 2}
	e.t.Cleanup(s.close)
	return s
}

// close stops the subscription as a loop break would, then cancels its
// context.
func (s *subscription) close() {
	if !s.abandoned {
		s.stop()
	}
	s.cancel()
}

// pulled is what one call of next returned.
type pulled struct {
	m   eventstore.Message
	err error
	ok  bool
}

// nextWithin calls next, failing the test if it has not returned after
// s.wait: a subscription that ignores its context or loses the event the
// test waits for would otherwise hang the test.
func (s *subscription) nextWithin() (eventstore.Message, error, bool) {
	s.t.Helper()
	ch := make(chan pulled, 1)
	go func() {
		m, err, ok := s.next()
		ch <- pulled{m, err, ok}
	}()
	timer := time.NewTimer(s.wait)
	defer timer.Stop()
	select {
	case p := <-ch:
		return p.m, p.err, p.ok
	case <-timer.C:
		s.abandoned = true
		s.cancel()
		fmt.Fprintf(os.Stderr, "storetest: %s: %s: no message after %v\n", s.t.Name(), s.name, s.wait)
		s.t.Fatalf("%s: no message after %v", s.name, s.wait)
		return eventstore.Message{}, nil, false
	}
}

// recv returns the next message, failing the test if the subscription ends
// or breaks the protocol.
func (s *subscription) recv() eventstore.Message {
	s.t.Helper()
	m, err, ok := s.pullOne()
	switch {
	case !ok:
		s.t.Fatalf("%s ended without an error, want a message", s.name)
	case err != nil:
		s.t.Fatalf("%s failed: %v", s.name, err)
	}
	return m
}

// pullOne pulls one message and checks it against the protocol.
func (s *subscription) pullOne() (eventstore.Message, error, bool) {
	s.t.Helper()
	if s.ended {
		s.t.Fatalf("%s: pulled after it ended", s.name)
	}
	m, err, ok := s.nextWithin()
	if !ok || err != nil {
		s.ended = true
		if ok && m.Kind != 0 {
			s.t.Errorf("%s yielded a %v message along with the error %v", s.name, m.Kind, err)
		}
		if ok { // the iterator must end after its error
			if m2, err2, more := s.nextWithin(); more {
				s.t.Errorf("%s yielded (%v, %v) after the error %v", s.name, m2.Kind, err2, err)
			}
		}
		return m, err, ok
	}
	if err := s.check(m); err != nil {
		s.t.Fatalf("%s: %v", s.name, err)
	}
	return m, nil, true
}

// event returns the next event, skipping checkpoints and the CaughtUp and
// FellBehind signals.
func (s *subscription) event() eventstore.RecordedEvent {
	s.t.Helper()
	for {
		if m := s.recv(); m.Kind == eventstore.MessageEvent {
			return m.Event
		}
	}
}

// events returns the next n events, skipping other messages.
func (s *subscription) events(n int) []eventstore.RecordedEvent {
	s.t.Helper()
	out := make([]eventstore.RecordedEvent, 0, n)
	for len(out) < n {
		out = append(out, s.event())
	}
	return out
}

// caughtUp returns the events received up to the first CaughtUp.
func (s *subscription) caughtUp() []eventstore.RecordedEvent {
	s.t.Helper()
	if s.caughtUps > 0 {
		s.t.Fatalf("%s: already caught up", s.name)
	}
	var out []eventstore.RecordedEvent
	for {
		switch m := s.recv(); m.Kind {
		case eventstore.MessageEvent:
			out = append(out, m.Event)
		case eventstore.MessageCaughtUp:
			return out
		}
	}
}

// wantEnd fails unless the subscription ends with an error matching target,
// after nothing but messages that skip accepts (skip may be nil).
func (s *subscription) wantEnd(target error, skip func(eventstore.Message) bool) error {
	s.t.Helper()
	for {
		m, err, ok := s.pullOne()
		switch {
		case !ok:
			s.t.Fatalf("%s ended without an error, want %v", s.name, target)
		case err != nil:
			if !errors.Is(err, target) {
				s.t.Fatalf("%s ended with %v, want %v", s.name, err, target)
			}
			return err
		case skip == nil || !skip(m):
			s.t.Fatalf("%s yielded a %v message (%s@%d), want it to end with %v", s.name, m.Kind, m.Event.Stream, m.Event.Revision, target)
		}
	}
}

// isSignal reports whether m is not an event.
func isSignal(m eventstore.Message) bool { return m.Kind != eventstore.MessageEvent }

// anyMessage accepts every message.
func anyMessage(eventstore.Message) bool { return true }

// endOf ranges over a subscription that must end by itself (a bad request,
// a closed store, a deleted stream) and returns the error it ends with. It
// fails the test if an event arrives or the subscription does not end.
func (e *env) endOf(name string, seq iter.Seq2[eventstore.Message, error]) error {
	e.t.Helper()
	sub := e.pull(name, true, func() {}, seq)
	for {
		m, err, ok := sub.nextWithin()
		switch {
		case !ok:
			return nil
		case err != nil:
			return err
		case m.Kind == eventstore.MessageEvent:
			e.t.Fatalf("%s delivered %s@%d, want it to end with an error", name, m.Event.Stream, m.Event.Revision)
		}
	}
}
