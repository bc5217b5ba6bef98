package esdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/chronicle-go/chronicle/eventstore"
)

// Store is an eventstore.Store backed by EventStoreDB or KurrentDB through
// the official Go client. Create one with Open (from a connection string) or
// New (from a client). It is safe for concurrent use.
type Store struct {
	client *esdb.Client
	// own: Close closes client (Open made it).
	own bool
	// probe is the configuration of the short-lived clients that check
	// whether an unreachable server is back (Open only; nil for New).
	probe *esdb.Configuration
	o     options
	log   *slog.Logger

	// closing is cancelled by Close; operations in flight then end with
	// ErrClosed.
	closing context.Context
	stop    context.CancelCauseFunc

	mu      sync.Mutex
	closed  bool
	active  int           // operations, subscriptions and probes running
	drained chan struct{} // closed once closed and active == 0

	gate gate
}

var _ eventstore.Store = (*Store)(nil)

// New returns a Store that uses client, an existing EventStoreDB client. The
// caller keeps ownership of client: Close does not close it.
//
// The v4 client stops for good when it fails to reach any node for
// maxDiscoverAttempts in a row (about a second with the defaults); after
// that the Store fails every operation with eventstore.ErrUnavailable. A
// Store from Open does not have this limit: it reconnects whenever the
// server comes back.
func New(client *esdb.Client, opts ...Option) (*Store, error) {
	if client == nil {
		return nil, errors.New("esdb: client is nil")
	}
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	return newStore(client, false, nil, o), nil
}

func newStore(client *esdb.Client, own bool, probe *esdb.Configuration, o options) *Store {
	s := &Store{client: client, own: own, probe: probe, o: o, log: o.logger, drained: make(chan struct{})}
	s.closing, s.stop = context.WithCancelCause(context.Background())
	return s
}

// Client returns the EventStoreDB client the store uses, for the features
// of EventStoreDB the eventstore contract does not cover (projections, the
// persistent-subscription options the contract leaves out). Do not close
// it.
func (s *Store) Client() *esdb.Client { return s.client }

// Close ends the operations and subscriptions in flight with
// eventstore.ErrClosed, waits for them to return at most WithCloseTimeout
// (default DefaultCloseTimeout), and closes the client if Open created it,
// also when an operation is still stuck inside the client then. It is
// idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	if s.active == 0 {
		close(s.drained)
	}
	s.mu.Unlock()
	s.stop(eventstore.ErrClosed)
	if !s.own {
		return nil
	}
	t := time.NewTimer(s.o.closeTimeout)
	defer t.Stop()
	select {
	case <-s.drained:
	case <-t.C:
		// An operation is stuck inside the client (waiting for node
		// discovery, which does not watch contexts). Close the client all
		// the same: it then refuses new calls, and ends its connection once
		// the discovery returns. The stuck call runs in a goroutine of
		// detach, which absorbs the client's panic on its closed channel.
		s.log.LogAttrs(context.Background(), slog.LevelWarn, "esdb: closing the client with operations still in flight",
			slog.Duration("waited", s.o.closeTimeout))
	}
	return s.client.Close()
}

// begin registers an operation. Its context ends when ctx ends or the store
// closes (then with cause ErrClosed); end must be called when it returns.
func (s *Store) begin(ctx context.Context) (context.Context, func(), error) {
	if !s.enter() {
		return nil, nil, eventstore.ErrClosed
	}
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(s.closing, func() { cancel(eventstore.ErrClosed) })
	return ctx, func() {
		stop()
		cancel(nil)
		s.leave()
	}, nil
}

// enter counts one more activity unless the store is closed.
func (s *Store) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.active++
	return true
}

func (s *Store) leave() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active--
	if s.active == 0 && s.closed {
		close(s.drained)
	}
}

// call describes an operation for error mapping and retries.
type call struct {
	op       string
	stream   string
	expected eventstore.ExpectedRevision
	// retry reports whether the operation may be repeated after it failed
	// with err (a transient error: it may have taken effect).
	retry func(err error) bool
}

// always is the call.retry of operations that are safe to repeat.
func always(error) bool { return true }

// run runs fn, an operation on the client, retrying it when that is safe,
// and maps its error.
func (s *Store) run(ctx context.Context, c call, fn func(context.Context) error) error {
	return s.attempts(ctx, c, func(ctx context.Context) (bool, error) {
		_, err := detach(s, ctx, func() (struct{}, error) { return struct{}{}, fn(ctx) })
		return false, err
	})
}

// detach calls fn in a goroutine of its own and waits for it, or for ctx
// to end. The client waits for node discovery without watching contexts;
// callers must not wait longer than their context allows. The goroutine
// counts as an activity of the store, so that Close never closes the client
// under it.
func detach[T any](s *Store, ctx context.Context, fn func() (T, error)) (T, error) {
	var zero T
	if !s.enter() {
		return zero, eventstore.ErrClosed
	}
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer s.leave()
		defer func() {
			// A call that was stuck in the client when Close closed it
			// may panic (the v4 client sends on its closed channel); the
			// store is closed, and nobody waits for the result.
			if r := recover(); r != nil {
				if s.closing.Err() == nil {
					panic(r)
				}
				done <- result{zero, eventstore.ErrClosed}
			}
		}()
		v, err := fn()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// attempts is run for operations that can make progress before they fail
// (reads): fn reports whether it did, and then the retries start again.
func (s *Store) attempts(ctx context.Context, c call, fn func(context.Context) (progress bool, err error)) error {
	ctx, end, err := s.begin(ctx)
	if err != nil {
		return opError(c.op, c.stream, nil, err)
	}
	defer end()
	for n := 1; ; n++ {
		if err := s.ready(ctx, c, s.o.reconnectTimeout); err != nil {
			return err
		}
		progress, err := fn(ctx)
		if err == nil {
			return nil
		}
		if progress {
			n = 1
		}
		if !s.retryable(ctx, err, n, c.retry) {
			return mapError(ctx, c.op, c.stream, c.expected, err)
		}
		if sleep(ctx, s.o.backoff(n)) != nil {
			return mapError(ctx, c.op, c.stream, c.expected, err)
		}
	}
}

// retryable reports whether the n-th failure of an operation with err
// should be followed by another attempt; it also notes unreachable
// servers.
func (s *Store) retryable(ctx context.Context, err error, n int, retry func(error) bool) bool {
	if ctx.Err() != nil {
		return false
	}
	f := classify(err)
	if f == failTransport {
		s.trip(err)
	}
	return f != failFinal && n <= s.o.retries && retry(err)
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ready waits until the server is believed reachable (see gate), at most
// limit (0: no limit), and maps the failure to wait.
func (s *Store) ready(ctx context.Context, c call, limit time.Duration) error {
	err := s.gate.wait(ctx, limit)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return mapError(ctx, c.op, c.stream, c.expected, err)
	}
	return opError(c.op, c.stream, eventstore.ErrUnavailable, err)
}

// errStillUnreachable is the cause of an operation that gave up waiting for
// the server.
var errStillUnreachable = errors.New("server still unreachable")

// gate holds operations back while the server is unreachable, so that a
// single prober (not every operation and subscription) polls it, with
// backoff, and everyone proceeds together when it is back.
type gate struct {
	mu sync.Mutex
	// down is non-nil while the server is believed unreachable; it is closed
	// when the prober is done.
	down    chan struct{}
	lastErr error // why the server is believed unreachable
	dead    error // set when the client gave up for good (New only)
}

// wait returns once the server is believed reachable, ctx ends (its error),
// limit passes (0: never), or the client is dead.
func (g *gate) wait(ctx context.Context, limit time.Duration) error {
	g.mu.Lock()
	down, dead := g.down, g.dead
	g.mu.Unlock()
	if dead != nil {
		return dead
	}
	if down == nil {
		return nil
	}
	var timeout <-chan time.Time
	if limit > 0 {
		t := time.NewTimer(limit)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-down:
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.dead
	case <-ctx.Done():
		return ctx.Err()
	case <-timeout:
		g.mu.Lock()
		defer g.mu.Unlock()
		return fmt.Errorf("%w after %v: %w", errStillUnreachable, limit, g.lastErr)
	}
}

// trip notes that the server looks unreachable (cause) and starts the
// prober unless it runs already.
func (s *Store) trip(cause error) {
	s.gate.mu.Lock()
	defer s.gate.mu.Unlock()
	if s.gate.down != nil || s.gate.dead != nil || !s.enter() {
		return
	}
	s.gate.down = make(chan struct{})
	s.gate.lastErr = cause
	s.log.LogAttrs(context.Background(), slog.LevelWarn, "esdb: server unreachable; reconnecting", slog.String("error", cause.Error()))
	go s.reconnect()
}

// reconnect probes the server with backoff until it answers, then lets the
// waiting operations go.
func (s *Store) reconnect() {
	defer s.leave()
	var dead error
	for n := 1; ; n++ {
		if sleep(s.closing, s.o.backoff(n)) != nil {
			break
		}
		err := s.probeServer(s.closing)
		if err == nil {
			s.log.LogAttrs(context.Background(), slog.LevelInfo, "esdb: server reachable again", slog.Int("probes", n))
			break
		}
		if errors.Is(err, errClientDead) {
			dead = err
			s.log.LogAttrs(context.Background(), slog.LevelError, "esdb: client closed for good", slog.String("error", err.Error()))
			break
		}
		s.log.LogAttrs(context.Background(), slog.LevelDebug, "esdb: server still unreachable", slog.Int("probes", n), slog.String("error", err.Error()))
		s.gate.mu.Lock()
		s.gate.lastErr = err
		s.gate.mu.Unlock()
	}
	s.gate.mu.Lock()
	defer s.gate.mu.Unlock()
	s.gate.dead = dead
	close(s.gate.down)
	s.gate.down = nil
}
