package resilience

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/chronicle-go/chronicle/eventstore"
)

// State is a Breaker's state.
type State uint8

const (
	// StateClosed lets calls through and counts their outcomes.
	StateClosed State = iota
	// StateOpen rejects calls until the recovery delay has passed.
	StateOpen
	// StateHalfOpen lets a limited number of probe calls through.
	StateHalfOpen
	// StateForcedOpen rejects every call until Reset.
	StateForcedOpen
	// StateForcedClosed lets every call through and never opens, until
	// Reset.
	StateForcedClosed
	// StateDisabled lets every call through and only counts (metrics only),
	// until Reset.
	StateDisabled

	numStates = 6
)

func (s State) String() string {
	switch s {
	case StateClosed:
		return "closed"
	case StateOpen:
		return "open"
	case StateHalfOpen:
		return "half-open"
	case StateForcedOpen:
		return "forced-open"
	case StateForcedClosed:
		return "forced-closed"
	case StateDisabled:
		return "disabled"
	}
	return "unknown"
}

// Counts are a Breaker's counters. Calls are the calls it let through that
// have finished; Rejections the calls it refused.
type Counts struct {
	Calls      uint64
	Successes  uint64
	Failures   uint64
	Ignored    uint64
	SlowCalls  uint64
	Rejections uint64
}

func (c *Counts) add(o Counts) {
	c.Calls += o.Calls
	c.Successes += o.Successes
	c.Failures += o.Failures
	c.Ignored += o.Ignored
	c.SlowCalls += o.SlowCalls
	c.Rejections += o.Rejections
}

// WindowSnapshot is the content of a Breaker's window at one time; opened
// events carry one.
type WindowSnapshot struct {
	Calls               int `json:"calls"`
	Failures            int `json:"failures"`
	SlowCalls           int `json:"slowCalls"`
	ConsecutiveFailures int `json:"consecutiveFailures"`
}

// BreakerMetrics is a snapshot of a Breaker's state and counters.
type BreakerMetrics struct {
	State State
	// Window is the current trip window (empty outside the closed,
	// forced-closed and disabled states).
	Window WindowSnapshot
	// Total sums ByState.
	Total Counts
	// ByState counts calls by the state the breaker was in when it let
	// them through or rejected them.
	ByState map[State]Counts
}

// Breaker is a circuit breaker: closed → open → half-open → closed. See the
// package documentation for the rules and for the state shared through an
// event store. A Breaker is safe for concurrent use; Close releases what a
// Breaker with a store holds.
type Breaker struct {
	name     string
	instance string
	cfg      BreakerConfig
	clock    Clock
	log      *slog.Logger
	timed    bool // the slow-call rule needs each call's duration
	windowed bool

	obs         observer
	mu          breakerMu
	state       State
	epoch       uint64 // bumped by every state change
	openUntil   time.Time
	opens       int
	reason      string
	cause       error
	owner       bool // this instance claimed half-open and may probe
	claimUntil  time.Time
	claiming    bool // a claim is being appended
	probes      int
	probeOK     int
	consecutive int
	win         window
	counts      [numStates]Counts

	m breakerInstruments
	s *streamSync // nil without a store
}

// permit is what acquire hands the call: the state it was let through in.
type permit struct {
	epoch uint64
	state State
	probe bool
}

// NewBreaker validates cfg and returns a Breaker named name (the name of
// its metrics and of its stream "chronicle-breaker-<name>"). It takes WithClock,
// WithMeterProvider, WithTracerProvider, WithListener, WithLogger, and, to
// share its state, WithStore with
// WithInstanceID, WithStoreTimeout and WithStreamMaxCount. With a store, it
// starts following its stream at once; call Sync to wait until it has read
// the stream's state.
func NewBreaker(name string, cfg BreakerConfig, opts ...Option) (*Breaker, error) {
	o, err := buildOptions("breaker", opts)
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, &ConfigError{Policy: "breaker", Field: "name", Reason: "is empty"}
	}
	if err := eventstore.ValidateStreamName("append", BreakerStream(name), false); err != nil {
		return nil, &ConfigError{Policy: "breaker", Field: "name", Reason: "does not make a valid stream name: " + err.Error()}
	}
	if cfg, err = cfg.normalize(); err != nil {
		return nil, err
	}
	if o.instance == "" {
		o.instance = uuid.NewString()
	}
	b := &Breaker{
		name: name, instance: o.instance, cfg: cfg, clock: o.clock,
		log:      o.logger.With(slog.String("breaker", name), slog.String("instance", o.instance)),
		timed:    cfg.SlowCallDuration > 0,
		windowed: cfg.CountWindow > 0 || cfg.TimeWindow > 0,
		win:      newWindow(cfg),
		m:        newBreakerInstruments(o.meter.Meter(meterName), name),
		obs:      newObserver("breaker", name, o),
	}
	b.mu.obs = &b.obs
	b.m.state(StateClosed, numStates)
	if o.store != nil {
		b.s = newStreamSync(b, o)
	}
	return b, nil
}

// Name returns the breaker's name.
func (b *Breaker) Name() string { return b.name }

// InstanceID returns the ID this instance writes into its events.
func (b *Breaker) InstanceID() string { return b.instance }

// State returns the current state.
func (b *Breaker) State() State {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

// Metrics returns the state and counters.
func (b *Breaker) Metrics() BreakerMetrics {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := BreakerMetrics{State: b.state, Window: b.snapshot(b.clock.Now()), ByState: make(map[State]Counts, numStates)}
	for s, c := range b.counts {
		if c != (Counts{}) {
			m.ByState[State(s)] = c
			m.Total.add(c)
		}
	}
	return m
}

func (b *Breaker) snapshot(now time.Time) WindowSnapshot {
	calls, failures, slow := b.win.totals(now)
	return WindowSnapshot{Calls: calls, Failures: failures, SlowCalls: slow, ConsecutiveFailures: b.consecutive}
}

// Run calls fn under the breaker alone.
func (b *Breaker) Run(ctx context.Context, fn func(context.Context) error) error {
	return b.run(ctx, chain{fn: fn})
}

// Wrap implements Policy.
func (b *Breaker) Wrap(next func(context.Context) error) func(context.Context) error {
	return wrap(b, next)
}

func (b *Breaker) run(ctx context.Context, next chain) (err error) {
	ctx, span := b.obs.start(ctx)
	if span != nil {
		defer func() { b.obs.end(span, err) }()
	}
	p, err := b.acquire(ctx)
	if err != nil {
		return err
	}
	var start time.Time
	if b.timed {
		start = b.clock.Now()
	}
	finished := false
	defer func() {
		if !finished { // the call panicked: count a failure, let the panic go on
			b.release(ctx, p, OutcomeFailure, 0, nil)
		}
	}()
	err = next.call(ctx)
	finished = true
	var took time.Duration
	if b.timed {
		took = b.clock.Now().Sub(start)
	}
	o := OutcomeSuccess
	if err != nil {
		o = b.cfg.Classify(err)
	}
	b.release(ctx, p, o, took, err)
	return err
}

// acquire lets a call through or rejects it.
func (b *Breaker) acquire(ctx context.Context) (permit, error) {
	b.mu.Lock()
	if p, ok := b.admitLocked(); ok {
		b.mu.Unlock()
		return p, nil
	}
	if !b.claiming && (b.state == StateOpen || b.state == StateHalfOpen) {
		if now := b.clock.Now(); b.claimableLocked(now) {
			return b.claim(ctx, now)
		}
	}
	err := b.rejectLocked(ctx)
	b.mu.Unlock()
	return permit{}, err
}

// admitLocked lets a call through if the state allows it without a
// transition; b.mu is held.
func (b *Breaker) admitLocked() (permit, bool) {
	switch b.state {
	case StateClosed, StateForcedClosed, StateDisabled:
		return permit{epoch: b.epoch, state: b.state}, true
	case StateHalfOpen:
		if b.owner && b.probes < b.cfg.HalfOpenCalls {
			b.probes++
			return permit{epoch: b.epoch, state: StateHalfOpen, probe: true}, true
		}
	}
	return permit{}, false
}

// claimableLocked reports whether a call may claim half-open now: the
// breaker is open and its delay has passed, or it is half-open with no
// probe slot left for this instance and the claim has lapsed; b.mu is held.
func (b *Breaker) claimableLocked(now time.Time) bool {
	switch b.state {
	case StateOpen:
		return !now.Before(b.openUntil)
	case StateHalfOpen:
		return !(b.owner && b.probes < b.cfg.HalfOpenCalls) && !now.Before(b.claimUntil)
	}
	return false
}

// rejectLocked counts a rejection and returns its error; b.mu is held.
func (b *Breaker) rejectLocked(ctx context.Context) error {
	b.counts[b.state].Rejections++
	b.m.call(ctx, b.state, outcomeRejected)
	e := &CircuitOpenError{Breaker: b.name, State: b.state, Reason: b.reason, Err: b.cause}
	switch b.state {
	case StateOpen:
		e.Until = b.openUntil
	case StateHalfOpen:
		e.Until = b.claimUntil
		e.Reason = "half-open: probe in progress"
	case StateForcedOpen:
		e.Reason = "forced open"
	}
	return e
}

// claim moves to half-open with this instance probing. b.mu is held on
// entry and released on return. With a store, the claim is an append
// expecting the stream's revision, so that one instance wins.
func (b *Breaker) claim(ctx context.Context, now time.Time) (permit, error) {
	if b.s == nil || !b.s.shared() {
		p := b.halfOpenLocked(now, true)
		b.mu.Unlock()
		return p, nil
	}
	b.claiming = true
	b.mu.Unlock()
	return b.s.claim(ctx, now)
}

// halfOpenLocked makes this instance the half-open prober and lets the
// current call through as the first probe; b.mu is held.
func (b *Breaker) halfOpenLocked(now time.Time, record bool) permit {
	b.setState(StateHalfOpen)
	b.owner, b.probes = true, 1
	b.claimUntil = now.Add(b.cfg.ProbeTimeout)
	if record {
		b.recordLocked(EventBreakerHalfOpened, BreakerEvent{At: now, ProbeUntil: b.claimUntil}, false)
	}
	return permit{epoch: b.epoch, state: StateHalfOpen, probe: true}
}

// release counts the outcome of a call let through and applies the rules.
func (b *Breaker) release(ctx context.Context, p permit, o Outcome, took time.Duration, err error) {
	slow := b.timed && took >= b.cfg.SlowCallDuration
	b.mu.Lock()
	defer b.mu.Unlock()
	c := &b.counts[p.state]
	switch o {
	case OutcomeSuccess:
		c.Calls++
		c.Successes++
	case OutcomeFailure:
		c.Calls++
		c.Failures++
	default:
		c.Calls++
		c.Ignored++
	}
	if slow {
		c.SlowCalls++
	}
	b.m.call(ctx, p.state, int(o))
	if p.epoch != b.epoch {
		return // the state changed while the call ran: its outcome is stale
	}
	switch b.state {
	case StateClosed, StateForcedClosed, StateDisabled:
		if o == OutcomeIgnored {
			return
		}
		var now time.Time // read only where it matters: the clock can be slow
		if b.cfg.TimeWindow > 0 {
			now = b.clock.Now()
		}
		if o == OutcomeFailure {
			b.consecutive++
		} else {
			b.consecutive = 0
		}
		if b.windowed {
			b.win.add(now, o == OutcomeFailure, slow)
		}
		if b.state == StateClosed {
			if reason := b.tripReason(now); reason != "" {
				b.openLocked(b.clock.Now(), reason, err)
			}
		}
	case StateHalfOpen:
		switch o {
		case OutcomeIgnored:
			b.probes-- // give the slot back
		case OutcomeFailure:
			b.openLocked(b.clock.Now(), "probe failed", err)
		default:
			b.probeOK++
			if b.probeOK >= b.cfg.HalfOpenSuccesses {
				b.opens = 0
				b.setState(StateClosed)
				b.recordLocked(EventBreakerClosed, BreakerEvent{At: b.clock.Now(), Reason: "probe succeeded"}, false)
			}
		}
	}
}

// tripReason returns why the rules open the breaker now, or "".
func (b *Breaker) tripReason(now time.Time) string {
	if n := b.cfg.ConsecutiveFailures; n > 0 && b.consecutive >= n {
		return fmt.Sprintf("%d consecutive failures", b.consecutive)
	}
	if !b.windowed {
		return ""
	}
	calls, failures, slow := b.win.totals(now)
	if calls < b.cfg.MinimumCalls || calls == 0 {
		return ""
	}
	if r := b.cfg.FailureRatio; r > 0 && float64(failures) >= r*float64(calls) {
		if b.cfg.TimeWindow > 0 {
			return fmt.Sprintf("failure rate %d/%d over %v", failures, calls, b.cfg.TimeWindow)
		}
		return fmt.Sprintf("failure ratio %d/%d", failures, calls)
	}
	if r := b.cfg.SlowCallRatio; r > 0 && float64(slow) >= r*float64(calls) {
		return fmt.Sprintf("slow calls %d/%d (>= %v)", slow, calls, b.cfg.SlowCallDuration)
	}
	return ""
}

// openLocked opens the breaker; b.mu is held.
func (b *Breaker) openLocked(now time.Time, reason string, cause error) {
	snap := b.snapshot(now)
	b.opens++
	delay := b.cfg.OpenDuration
	if b.cfg.RecoveryDelay != nil {
		if d := b.cfg.RecoveryDelay(b.opens); d > 0 {
			delay = d
		}
	}
	b.setState(StateOpen)
	b.openUntil = now.Add(delay)
	b.reason, b.cause = reason, cause
	b.log.Info("breaker opened", slog.String("reason", reason), slog.Time("until", b.openUntil))
	b.recordLocked(EventBreakerOpened, BreakerEvent{At: now, Reason: reason, Window: &snap, Opens: b.opens, OpenUntil: b.openUntil}, false)
}

// setState changes the state and starts it afresh; b.mu is held.
func (b *Breaker) setState(to State) {
	from := b.state
	b.state = to
	b.epoch++
	b.owner, b.probes, b.probeOK, b.consecutive = false, 0, 0, 0
	b.win.reset()
	if to != StateOpen {
		b.reason, b.cause = "", nil
	}
	b.m.transition(from, to)
	if len(b.obs.listeners) > 0 {
		b.mu.pending = append(b.mu.pending, Event{Kind: BreakerStateChanged, From: from, To: to, At: b.clock.Now()})
	}
}

// breakerMu is a Breaker's mutex. Transitions made while it is held are
// reported to the listeners when it is released, so that listeners run in
// order, in the goroutine that made them, with no lock held.
type breakerMu struct {
	sync.Mutex
	pending []Event
	obs     *observer
}

func (m *breakerMu) Unlock() {
	if len(m.pending) == 0 {
		m.Mutex.Unlock()
		return
	}
	pending := m.pending
	m.pending = nil
	m.Mutex.Unlock()
	for _, e := range pending {
		m.obs.notify(context.Background(), e)
	}
}

// recordLocked hands a transition to the stream writer (with a store);
// b.mu is held. Manual transitions are written even over newer events of
// other instances.
func (b *Breaker) recordLocked(typ string, ev BreakerEvent, manual bool) {
	if b.s != nil {
		b.s.record(typ, ev, manual)
	}
}

// ForceOpen holds the breaker open (rejecting every call) until Reset. With
// a store, every instance follows; the transition applies locally at once,
// and the error, if any, says it could not be written yet (it will be, when
// the store is back).
func (b *Breaker) ForceOpen(ctx context.Context) error {
	return b.manual(ctx, StateForcedOpen, EventBreakerForcedOpen)
}

// ForceClose holds the breaker closed (never opening) until Reset.
func (b *Breaker) ForceClose(ctx context.Context) error {
	return b.manual(ctx, StateForcedClosed, EventBreakerForcedClosed)
}

// Disable turns the breaker into a metrics-only pass-through until Reset.
func (b *Breaker) Disable(ctx context.Context) error {
	return b.manual(ctx, StateDisabled, EventBreakerDisabled)
}

// Reset returns the breaker to automatic operation, closed.
func (b *Breaker) Reset(ctx context.Context) error {
	return b.manual(ctx, StateClosed, EventBreakerClosed)
}

func (b *Breaker) manual(ctx context.Context, to State, typ string) error {
	b.mu.Lock()
	now := b.clock.Now()
	b.opens = 0
	b.setState(to)
	reason := "manual"
	if to == StateClosed {
		reason = "reset"
	}
	b.log.Info("breaker set", slog.String("state", to.String()))
	b.recordLocked(typ, BreakerEvent{At: now, Reason: reason}, true)
	b.mu.Unlock()
	if b.s == nil {
		return nil
	}
	return b.s.flush(ctx)
}

// Sync writes this instance's unwritten transition, if any, then reads the
// stream and applies what other instances wrote, so that the breaker is in
// the stream's state when it returns. It returns an error, wrapping the
// store's, when the store cannot be reached; the breaker keeps working
// locally either way. Without a store it does nothing.
func (b *Breaker) Sync(ctx context.Context) error {
	if b.s == nil {
		return nil
	}
	if err := b.s.flush(ctx); err != nil {
		return err
	}
	return b.s.catchUp(ctx)
}

// Close stops following the stream, after a last attempt to write an
// unwritten transition. The breaker keeps working locally. Close is
// idempotent and returns nil without a store.
func (b *Breaker) Close() error {
	if b.s == nil {
		return nil
	}
	return b.s.close()
}
