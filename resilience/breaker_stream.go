package resilience

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/internal/backoff"
	"github.com/chronicle-go/chronicle/internal/clock"
)

// Event types of a breaker stream. Each event's data is a BreakerEvent in
// JSON.
const (
	EventBreakerOpened       = "BreakerOpened"
	EventBreakerHalfOpened   = "BreakerHalfOpened"
	EventBreakerClosed       = "BreakerClosed"
	EventBreakerForcedOpen   = "BreakerForcedOpen"
	EventBreakerForcedClosed = "BreakerForcedClosed"
	EventBreakerDisabled     = "BreakerDisabled"
)

// BreakerEvent is the data of every breaker event. Each event describes the
// whole new state, so the stream's last event alone determines it.
type BreakerEvent struct {
	// Instance is the ID of the instance that made the transition.
	Instance string `json:"instance"`
	// At is when it did, by its clock.
	At time.Time `json:"at"`
	// Reason says why: the trip rule for an opening, "probe succeeded" or
	// "reset" for a closing, "manual" for the forced states.
	Reason string `json:"reason,omitempty"`
	// Window is the trip window when the breaker opened.
	Window *WindowSnapshot `json:"window,omitempty"`
	// Opens counts consecutive openings (for a computed recovery delay).
	Opens int `json:"opens,omitempty"`
	// OpenUntil is when an opened breaker lets a probe through.
	OpenUntil time.Time `json:"openUntil,omitzero"`
	// ProbeUntil is when a half-open claim lapses.
	ProbeUntil time.Time `json:"probeUntil,omitzero"`
}

// BreakerStream returns the name of the stream of the breaker name.
func BreakerStream(name string) string { return eventstore.FrameworkStream("breaker", name) }

// Delays between attempts to reach an unreachable store.
const (
	reconnectInitial = 250 * time.Millisecond
	reconnectMax     = 15 * time.Second
	// flushRounds bounds how often one flush re-reads a stream that keeps
	// changing under it.
	flushRounds = 8
	// ownIDs is how many of its own event IDs an instance remembers, to
	// recognise its events when they come back through the subscription.
	ownIDs = 64
	// maxPending bounds the transitions queued while the store is away; the
	// oldest are dropped first.
	maxPending = 32
)

var reconnect = backoff.Policy{Initial: reconnectInitial, Max: reconnectMax, Multiplier: 2, Jitter: backoff.Decorrelated}

// streamSync shares a Breaker's state through its stream. Local transitions
// are queued and written in order by a writer goroutine, in one append
// expecting the revision the local state was derived from; a follower
// goroutine applies the events of other instances; the half-open claim is
// appended by the calling goroutine. When the store cannot be reached the
// breaker goes on locally, keeps queueing its transitions (the latest
// maxPending), and writes them when the store is back, unless the stream
// moved on meanwhile: then the stream's state wins, except over a manual
// transition, which is written on top with what followed it.
type streamSync struct {
	b        *Breaker
	store    eventstore.Store
	stream   string
	timeout  time.Duration
	maxCount uint64

	// Guarded by b.mu.
	rev        int64 // revision of the last event applied or written; -1 for none
	pending    []*pendingEvent
	base       int64 // the revision the pending transitions build on
	down       bool
	closed     bool
	retryArmed bool
	retries    int
	own        [ownIDs]uuid.UUID
	ownNext    int

	writeMu  sync.Mutex // serialises appends
	kick     chan struct{}
	life     context.Context
	stop     context.CancelFunc
	wg       sync.WaitGroup
	close1   sync.Once
	closeErr error
	metaMu   sync.Mutex
	metaSet  bool // guarded by metaMu
}

// pendingEvent is a local transition not yet written.
type pendingEvent struct {
	id     uuid.UUID
	typ    string
	ev     BreakerEvent
	manual bool
}

func newStreamSync(b *Breaker, o *options) *streamSync {
	life, stop := context.WithCancel(context.Background())
	s := &streamSync{
		b: b, store: o.store, stream: BreakerStream(b.name), timeout: o.storeTimeout, maxCount: o.maxCount,
		rev: -1, kick: make(chan struct{}, 1), life: life, stop: stop,
	}
	s.wg.Add(2)
	go s.follow()
	go s.write()
	return s
}

// shared reports whether transitions go through the store now; b.mu is
// held.
func (s *streamSync) shared() bool { return !s.closed && !s.down }

// record queues a local transition; b.mu is held.
func (s *streamSync) record(typ string, ev BreakerEvent, manual bool) {
	if s.closed {
		return
	}
	ev.Instance = s.b.instance
	if len(s.pending) == 0 {
		s.base = s.rev
	}
	if len(s.pending) == maxPending {
		s.pending = slices.Delete(s.pending, 0, 1)
	}
	s.pending = append(s.pending, &pendingEvent{id: s.newOwnID(), typ: typ, ev: ev, manual: manual})
	s.poke()
}

// manualPending reports whether a manual transition is queued; b.mu is
// held.
func (s *streamSync) manualPending() bool {
	return slices.ContainsFunc(s.pending, func(p *pendingEvent) bool { return p.manual })
}

func (s *streamSync) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *streamSync) write() {
	defer s.wg.Done()
	for {
		select {
		case <-s.life.Done():
			return
		case <-s.kick:
			_ = s.flush(s.life)
		}
	}
}

func (s *streamSync) flush(ctx context.Context) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return s.flushLocked(ctx)
}

// flushLocked writes the queued transitions; s.writeMu is held.
func (s *streamSync) flushLocked(ctx context.Context) error {
	b := s.b
	for range flushRounds {
		b.mu.Lock()
		if s.closed {
			b.mu.Unlock()
			return nil
		}
		if len(s.pending) > 0 && s.base != s.rev && !s.manualPending() {
			s.pending = nil // the stream moved on: its state wins
		}
		if len(s.pending) == 0 {
			b.mu.Unlock()
			return nil
		}
		base, batch := s.base, slices.Clone(s.pending)
		b.mu.Unlock()
		events := make([]eventstore.EventData, len(batch))
		for i, p := range batch {
			data, err := json.Marshal(p.ev)
			if err != nil {
				return err
			}
			events[i] = eventstore.EventData{ID: p.id, Type: p.typ, Data: data}
		}
		res, err := s.append(ctx, base, events...)
		switch {
		case err == nil:
			b.mu.Lock()
			s.pending = slices.DeleteFunc(s.pending, func(p *pendingEvent) bool { return slices.Contains(batch, p) })
			s.advanceLocked(res, base)
			s.down, s.retries = false, 0
			b.mu.Unlock()
		case errors.Is(err, eventstore.ErrWrongExpectedVersion):
			if err := s.catchUp(ctx); err != nil {
				return err
			}
			b.mu.Lock()
			s.base = s.rev // what is still queued goes on top
			b.mu.Unlock()
		default:
			return s.failed(ctx, "write transition", err)
		}
	}
	return s.fail("write transition", errors.New("the stream kept changing"))
}

// claim appends a half-open claim expecting the stream's revision; it is
// called without b.mu, with b.claiming set, and returns the call's permit.
func (s *streamSync) claim(ctx context.Context, now time.Time) (permit, error) {
	b := s.b
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	_ = s.flushLocked(s.life) // our own transition first; a failure marks the store down
	b.mu.Lock()
	if !b.claimableLocked(now) || !s.shared() {
		return s.endClaimLocked(ctx, now, false)
	}
	rev, id := s.rev, s.newOwnID()
	data, _ := json.Marshal(BreakerEvent{Instance: b.instance, At: now, ProbeUntil: now.Add(b.cfg.ProbeTimeout)})
	b.mu.Unlock()
	res, err := s.append(s.life, rev, eventstore.EventData{ID: id, Type: EventBreakerHalfOpened, Data: data})
	switch {
	case err == nil:
		b.mu.Lock()
		s.advanceLocked(res, rev)
		return s.endClaimLocked(ctx, now, true)
	case errors.Is(err, eventstore.ErrWrongExpectedVersion):
		_ = s.catchUp(s.life) // another instance claimed first: learn its claim
	default:
		_ = s.fail("claim half-open", err)
	}
	b.mu.Lock()
	return s.endClaimLocked(ctx, now, false)
}

// endClaimLocked finishes a claim with b.mu held and releases it: won
// means the claim was appended; otherwise the breaker claims locally if it
// still may and the store is out of reach, or admits or rejects the call
// by its current state.
func (s *streamSync) endClaimLocked(ctx context.Context, now time.Time, won bool) (permit, error) {
	b := s.b
	defer b.mu.Unlock()
	b.claiming = false
	if b.claimableLocked(now) {
		if won {
			return b.halfOpenLocked(now, false), nil
		}
		if !s.shared() {
			return b.halfOpenLocked(now, true), nil
		}
	}
	if p, ok := b.admitLocked(); ok {
		return p, nil
	}
	return permit{}, b.rejectLocked(ctx)
}

// append writes events expecting rev, after making sure the stream has its
// $maxCount.
func (s *streamSync) append(ctx context.Context, rev int64, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	expected := eventstore.NoStream
	if rev >= 0 {
		expected = eventstore.Exact(uint64(rev))
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.setMaxCount(ctx); err != nil {
		return eventstore.AppendResult{}, err
	}
	return s.store.Append(ctx, s.stream, expected, events...)
}

// advanceLocked records the revision of an event this instance wrote over
// base; b.mu is held.
func (s *streamSync) advanceLocked(res eventstore.AppendResult, base int64) {
	r, ok := res.Next.Revision()
	if !ok || int64(r) <= s.rev {
		return // the follower got there first
	}
	s.rev = int64(r)
	if s.base == base {
		s.base = s.rev // later local transitions build on these
	}
}

func (s *streamSync) newOwnID() uuid.UUID {
	id := uuid.New()
	s.own[s.ownNext%ownIDs] = id
	s.ownNext++
	return id
}

func (s *streamSync) isOwn(id uuid.UUID) bool {
	for _, o := range s.own {
		if o == id {
			return true
		}
	}
	return false
}

// catchUp reads and applies the events after the last one applied.
func (s *streamSync) catchUp(ctx context.Context) error {
	s.b.mu.Lock()
	from := uint64(s.rev + 1)
	s.b.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	for rec, err := range s.store.ReadStream(ctx, s.stream, eventstore.ReadOptions{From: eventstore.FromRevision(from)}) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			break
		}
		if err != nil {
			return s.failed(ctx, "read stream", err)
		}
		s.b.mu.Lock()
		s.applyLocked(&rec)
		s.b.mu.Unlock()
	}
	s.reachable()
	return nil
}

// applyLocked applies an event of the stream; b.mu is held.
func (s *streamSync) applyLocked(rec *eventstore.RecordedEvent) {
	if int64(rec.Revision) <= s.rev {
		return
	}
	prev := s.rev
	s.rev = int64(rec.Revision)
	if s.isOwn(rec.ID) {
		// Written by this instance (perhaps by an append whose answer was
		// lost): no longer pending, and what is still queued builds on it.
		s.pending = slices.DeleteFunc(s.pending, func(p *pendingEvent) bool { return p.id == rec.ID })
		if s.base == prev {
			s.base = s.rev
		}
		return
	}
	if len(s.pending) > 0 {
		if s.manualPending() {
			return // our manual transition goes on top of it
		}
		s.pending = nil // the stream moved on: its state wins
	}
	b := s.b
	var ev BreakerEvent
	if err := json.Unmarshal(rec.Data, &ev); err != nil {
		b.log.Warn("breaker event not understood", slog.Uint64("revision", rec.Revision), slog.String("error", err.Error()))
		return
	}
	switch rec.Type {
	case EventBreakerOpened:
		b.setState(StateOpen)
		b.openUntil, b.opens = ev.OpenUntil, ev.Opens
		b.reason = fmt.Sprintf("opened by %s: %s", ev.Instance, ev.Reason)
	case EventBreakerHalfOpened:
		b.setState(StateHalfOpen)
		b.claimUntil = ev.ProbeUntil
	case EventBreakerClosed:
		b.opens = 0
		b.setState(StateClosed)
	case EventBreakerForcedOpen:
		b.setState(StateForcedOpen)
	case EventBreakerForcedClosed:
		b.setState(StateForcedClosed)
	case EventBreakerDisabled:
		b.setState(StateDisabled)
	default:
		return // written by a newer version: not ours to interpret
	}
	b.log.Debug("breaker state from stream", slog.String("state", b.state.String()), slog.String("from_instance", ev.Instance))
}

// follow applies the stream's events as they come, reconnecting with
// backoff when the store fails.
func (s *streamSync) follow() {
	defer s.wg.Done()
	var delay time.Duration
	for attempt := 1; ; attempt++ {
		caughtUp, err := s.followOnce()
		if s.life.Err() != nil {
			return
		}
		if caughtUp {
			attempt, delay = 1, 0
		}
		_ = s.fail("follow stream", err)
		delay = reconnect.Delay(attempt, delay, rand.Float64())
		if clock.Sleep(s.life, s.b.clock, delay) != nil {
			return
		}
	}
}

var errSubscriptionEnded = errors.New("subscription ended")

func (s *streamSync) followOnce() (caughtUp bool, err error) {
	if err := s.setMaxCount(s.life); err != nil {
		return false, err
	}
	s.b.mu.Lock()
	from := eventstore.Start
	if s.rev >= 0 {
		from = eventstore.FromRevision(uint64(s.rev))
	}
	s.b.mu.Unlock()
	for msg, err := range s.store.SubscribeToStream(s.life, s.stream, eventstore.SubscribeOptions{From: from}) {
		if err != nil {
			return caughtUp, err
		}
		switch msg.Kind {
		case eventstore.MessageEvent:
			s.b.mu.Lock()
			s.applyLocked(&msg.Event)
			s.b.mu.Unlock()
		case eventstore.MessageCaughtUp:
			caughtUp = true
			s.reachable()
		}
	}
	return caughtUp, errSubscriptionEnded
}

// setMaxCount keeps the stream short with $maxCount; once done, it does
// nothing.
func (s *streamSync) setMaxCount(ctx context.Context) error {
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	if s.metaSet {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	res, err := s.store.GetStreamMetadata(ctx, s.stream)
	if err != nil {
		return err
	}
	if res.Metadata.MaxCount != s.maxCount {
		meta := res.Metadata
		meta.MaxCount = s.maxCount
		_, err = s.store.SetStreamMetadata(ctx, s.stream, res.Revision, meta)
		if err != nil && !errors.Is(err, eventstore.ErrWrongExpectedVersion) { // a conflict: another instance set it
			return err
		}
	}
	s.metaSet = true
	return nil
}

// reachable notes that the store answered and has the writer try the
// pending event.
func (s *streamSync) reachable() {
	s.b.mu.Lock()
	s.down, s.retries = false, 0
	pending := len(s.pending) > 0
	s.b.mu.Unlock()
	if pending {
		s.poke()
	}
}

// failed is fail for an operation done for a caller: when the caller's
// context ended, the store is not to blame.
func (s *streamSync) failed(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("resilience: breaker %q: %s: %w", s.b.name, op, err)
	}
	return s.fail(op, err)
}

// fail notes that the store failed: the breaker works locally and the
// writer retries later. It returns the error to report.
func (s *streamSync) fail(op string, err error) error {
	b := s.b
	b.mu.Lock()
	wasDown := s.down
	s.down = true
	arm := !s.retryArmed && !s.closed && len(s.pending) > 0
	if arm {
		s.retryArmed = true
		s.retries++
	}
	n := s.retries
	b.mu.Unlock()
	if !wasDown && s.life.Err() == nil {
		b.log.Warn("breaker store unreachable, working locally", slog.String("op", op), slog.String("error", err.Error()))
	}
	if arm {
		b.clock.AfterFunc(reconnect.Delay(n, 0, rand.Float64()), func() {
			b.mu.Lock()
			s.retryArmed = false
			b.mu.Unlock()
			s.poke()
		})
	}
	return fmt.Errorf("resilience: breaker %q: %s: %w", b.name, op, err)
}

func (s *streamSync) close() error {
	s.close1.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
		defer cancel()
		s.closeErr = s.flush(ctx)
		s.b.mu.Lock()
		s.closed, s.pending = true, nil
		s.b.mu.Unlock()
		s.stop()
		s.wg.Wait()
	})
	return s.closeErr
}
