package storetest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/chronicle-go/chronicle/eventstore"
)

// testIterators checks the producer side of the iterator contract: nothing
// happens until the loop runs, breaking out stops the producer and releases
// what it held, and the store stays usable from inside a loop.
func (s *suite) testIterators(t *testing.T) {
	s.run(t, "ReadStreamIsLazy", func(e *env) {
		// Created before the stream exists, ranged after: a producer that
		// did its work early would report ErrStreamNotFound.
		seq := e.s.ReadStream(e.ctx, "order-1", eventstore.ReadOptions{})
		evs := e.seed("order-1", 2)
		got, err := collect(e.t, seq)
		if err != nil {
			e.t.Fatalf("ReadStream created before the append, ranged after it: %v", err)
		}
		wantStream(e.t, "ReadStream", got, "order-1", 0, false, evs)
	})
	s.run(t, "ReadAllIsLazy", func(e *env) {
		seq := e.s.ReadAll(e.ctx, eventstore.ReadAllOptions{Direction: eventstore.Backwards, From: eventstore.End, MaxCount: 1})
		evs := e.seed("order-1", 1)
		got, err := collect(e.t, seq)
		if err != nil || len(got) != 1 || got[0].ID != evs[0].ID {
			e.t.Fatalf("ReadAll created before an append and ranged after it returned %s (%v), want the new event", revisions(got), err)
		}
	})
	s.run(t, "ErrorsOnlyWhenRanged", func(e *env) {
		// Building iterators for bad requests must neither fail nor panic;
		// the error comes from ranging.
		seqs := map[string]func() error{
			"ReadStream": func() error {
				_, err := collect(e.t, e.s.ReadStream(e.ctx, "", eventstore.ReadOptions{}))
				return err
			},
			"ReadAll": func() error {
				_, err := collect(e.t, e.s.ReadAll(e.ctx, eventstore.ReadAllOptions{From: eventstore.FromRevision(1)}))
				return err
			},
			"SubscribeToStream": func() error {
				return e.endOf("SubscribeToStream with a bad request", e.s.SubscribeToStream(e.ctx, "", eventstore.SubscribeOptions{}))
			},
			"SubscribeToAll": func() error {
				return e.endOf("SubscribeToAll with a bad request", e.s.SubscribeToAll(e.ctx, eventstore.SubscribeAllOptions{From: eventstore.FromRevision(1)}))
			},
		}
		for name, fn := range seqs {
			if err := fn(); !errors.Is(err, eventstore.ErrInvalidArgument) {
				e.t.Fatalf("%s with a bad request yielded %v, want ErrInvalidArgument", name, err)
			}
		}
	})
	s.run(t, "BreakReadStream", func(e *env) {
		e.seed("order-1", 600) // more than one page of most backends
		e.breakAfter("ReadStream", 2, func(yield func() bool) {
			for _, err := range e.s.ReadStream(e.ctx, "order-1", eventstore.ReadOptions{}) {
				if err != nil || !yield() {
					return
				}
			}
		})
	})
	s.run(t, "BreakReadStreamBackwards", func(e *env) {
		e.seed("order-1", 600)
		e.breakAfter("ReadStream backwards", 3, func(yield func() bool) {
			for _, err := range e.s.ReadStream(e.ctx, "order-1", eventstore.ReadOptions{Direction: eventstore.Backwards, From: eventstore.End}) {
				if err != nil || !yield() {
					return
				}
			}
		})
	})
	s.run(t, "BreakReadAll", func(e *env) {
		e.seed("order-1", 600)
		e.breakAfter("ReadAll", 2, func(yield func() bool) {
			for _, err := range e.s.ReadAll(e.ctx, eventstore.ReadAllOptions{Filter: eventstore.StreamPrefixFilter("order-")}) {
				if err != nil || !yield() {
					return
				}
			}
		})
	})
	s.run(t, "WriteInsideReadStreamLoop", func(e *env) {
		e.seed("order-1", 5)
		var errs []error
		within(e.t, e.f.timeout()/2, "Append inside a ReadStream loop", func() {
			n := 0
			for ev, err := range e.s.ReadStream(e.ctx, "order-1", eventstore.ReadOptions{}) {
				if err != nil {
					errs = append(errs, err)
					return
				}
				if _, err := e.s.Append(e.ctx, "order-2", eventstore.Any, newEvent("Copied")); err != nil {
					errs = append(errs, fmt.Errorf("append to another stream at revision %d: %w", ev.Revision, err))
					return
				}
				if n++; n == 2 {
					if _, err := e.s.Append(e.ctx, "order-1", eventstore.Any, newEvent("More")); err != nil {
						errs = append(errs, fmt.Errorf("append to the stream being read: %w", err))
						return
					}
				}
			}
		})
		if err := errors.Join(errs...); err != nil {
			e.t.Fatal(err)
		}
		if got := e.mustRead("order-2", eventstore.ReadOptions{}); len(got) < 5 {
			e.t.Fatalf("order-2 holds %d events, want at least 5", len(got))
		}
	})
	s.run(t, "WriteInsideReadAllLoop", func(e *env) {
		e.seed("order-1", 3)
		var errs []error
		within(e.t, e.f.timeout()/2, "Append inside a ReadAll loop", func() {
			for _, err := range e.s.ReadAll(e.ctx, eventstore.ReadAllOptions{Filter: eventstore.StreamPrefixFilter("order-1")}) {
				if err != nil {
					errs = append(errs, err)
					return
				}
				if _, err := e.s.Append(e.ctx, "invoice-1", eventstore.Any, newEvent("Copied")); err != nil {
					errs = append(errs, err)
					return
				}
				if _, err := e.s.SetStreamMetadata(e.ctx, "invoice-1", eventstore.Any, eventstore.StreamMetadata{MaxCount: 10}); err != nil {
					errs = append(errs, err)
					return
				}
			}
		})
		if err := errors.Join(errs...); err != nil {
			e.t.Fatal(err)
		}
	})
}

// breakAfter runs loop, whose body is yield, and breaks out of it after n
// events; it then checks the store still serves writes and reads (a
// producer that kept a lock or a cursor would block them).
func (e *env) breakAfter(what string, n int, loop func(yield func() bool)) {
	e.t.Helper()
	got := 0
	loop(func() bool {
		got++
		if got > n {
			e.t.Errorf("%s: the loop body ran again after the break", what)
		}
		return got < n
	})
	if got != n {
		e.t.Fatalf("%s: the loop body ran %d times, want %d", what, got, n)
	}
	var errs []error
	within(e.t, e.f.timeout()/2, "Append and ReadStream after breaking out of "+what, func() {
		if _, err := e.s.Append(e.ctx, "order-1", eventstore.Any, newEvent("After")); err != nil {
			errs = append(errs, err)
		}
		for _, err := range e.s.ReadStream(e.ctx, "order-1", eventstore.ReadOptions{Direction: eventstore.Backwards, From: eventstore.End, MaxCount: 1}) {
			if err != nil {
				errs = append(errs, err)
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		e.t.Fatalf("after breaking out of %s: %v", what, err)
	}
}
