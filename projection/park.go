package projection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/chronicle-go/chronicle/eventstore"
)

// Event types of a projection's parked stream.
const (
	// ParkedEventType records an event the projection could not handle.
	// Its data is a ParkedEvent.
	ParkedEventType = "ProjectionEventParked"
	// ParkedResolvedEventType records that a parked event was replayed
	// successfully: {"parkedId": "…"}.
	ParkedResolvedEventType = "ProjectionParkedResolved"
	// ParkedReplayFailedEventType records a replay that failed again:
	// {"parkedId": "…", "error": "…"}.
	ParkedReplayFailedEventType = "ProjectionParkedReplayFailed"
	// ReplayRequestedEventType asks the running projection to replay its
	// parked events (what `chronicle projection replay-parked` appends).
	ReplayRequestedEventType = "ProjectionReplayRequested"
)

// Why an event was parked.
const (
	// ReasonFailed: its handler failed after the retry policy.
	ReasonFailed = "failed"
	// ReasonUndecodable: the registry could not decode it.
	ReasonUndecodable = "undecodable"
	// ReasonBlocked: an earlier event with its partition key is parked;
	// order within a key is kept by parking the later ones too.
	ReasonBlocked = "blocked"
)

// ParkedStream returns the name of a projection's parked stream,
// "chronicle-parked-<projection>", a framework stream.
func ParkedStream(projection string) string { return eventstore.FrameworkStream("parked", projection) }

// A ParkedEvent is an event a projection parked: where it is in the store,
// why it was parked, and the last replay error.
type ParkedEvent struct {
	// ID identifies the parked record (derived from the projection, its
	// version and the event's ID, so parking an event twice is a no-op).
	ID         uuid.UUID           `json:"id"`
	Projection string              `json:"projection"`
	Version    int                 `json:"version"`
	Stream     string              `json:"stream"`
	Revision   uint64              `json:"revision"`
	Position   eventstore.Position `json:"position"`
	EventID    uuid.UUID           `json:"eventId"`
	EventType  string              `json:"eventType"`
	// Key is the partition key the event blocks.
	Key      string    `json:"key"`
	Reason   string    `json:"reason"`
	Error    string    `json:"error"`
	Attempts int       `json:"attempts"`
	ParkedAt time.Time `json:"parkedAt"`
	// ReplayError is the error of the last failed replay, if any.
	ReplayError string `json:"replayError,omitempty"`
}

type parkedRef struct {
	ParkedID uuid.UUID `json:"parkedId"`
	Error    string    `json:"error,omitempty"`
}

var parkedNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/chronicle-go/chronicle/projection/parked"))

// parkedSet is the fold of a parked stream: the unresolved parked events in
// order, and the keys they block.
type parkedSet struct {
	mu      sync.Mutex
	list    []*ParkedEvent
	byID    map[uuid.UUID]*ParkedEvent
	blocked map[string]int // key → unresolved parked events
	lastRev eventstore.From
	version int // only this version's parked events; 0: every version's
	// requested: a replay was requested after the last replay outcome (no
	// runner was running to carry it out).
	requested bool
}

func newParkedSet() *parkedSet {
	return &parkedSet{byID: make(map[uuid.UUID]*ParkedEvent), blocked: make(map[string]int), lastRev: eventstore.Start}
}

// apply folds one event of the parked stream.
func (s *parkedSet) apply(e *eventstore.RecordedEvent) error {
	s.lastRev = eventstore.FromRevision(e.Revision)
	switch e.Type {
	case ParkedEventType:
		var p ParkedEvent
		if err := json.Unmarshal(e.Data, &p); err != nil {
			return fmt.Errorf("%w: %s@%d: %v", ErrCheckpointMismatch, e.Stream, e.Revision, err)
		}
		if s.version != 0 && p.Version != s.version {
			return nil // another version's: a rebuilt version has its own handlers
		}
		s.add(&p)
	case ParkedResolvedEventType, ParkedReplayFailedEventType:
		var ref parkedRef
		if err := json.Unmarshal(e.Data, &ref); err != nil {
			return fmt.Errorf("%w: %s@%d: %v", ErrCheckpointMismatch, e.Stream, e.Revision, err)
		}
		if e.Type == ParkedResolvedEventType {
			s.resolve(ref.ParkedID)
		} else if p := s.byID[ref.ParkedID]; p != nil {
			p.ReplayError = ref.Error
		}
		s.requested = false
	case ReplayRequestedEventType:
		s.requested = true
	default:
		return fmt.Errorf("%w: %s@%d has type %q, not a parked-stream event", ErrCheckpointMismatch, e.Stream, e.Revision, e.Type)
	}
	return nil
}

func (s *parkedSet) add(p *ParkedEvent) bool {
	if _, dup := s.byID[p.ID]; dup {
		return false
	}
	s.list = append(s.list, p)
	s.byID[p.ID] = p
	s.blocked[p.Key]++
	return true
}

func (s *parkedSet) resolve(id uuid.UUID) {
	p := s.byID[id]
	if p == nil {
		return
	}
	delete(s.byID, id)
	for i, q := range s.list {
		if q == p {
			s.list = append(s.list[:i], s.list[i+1:]...)
			break
		}
	}
	if s.blocked[p.Key]--; s.blocked[p.Key] <= 0 {
		delete(s.blocked, p.Key)
	}
}

func (s *parkedSet) isBlocked(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.blocked[key] > 0
}

func (s *parkedSet) blockedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.blocked)
}

func (s *parkedSet) unresolved() []ParkedEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ParkedEvent, len(s.list))
	for i, p := range s.list {
		out[i] = *p
	}
	return out
}

// readParked folds a projection's parked stream: the parked events of
// version (0: of every version).
func readParked(ctx context.Context, store eventstore.Store, projection string, version int) (*parkedSet, error) {
	set := newParkedSet()
	set.version = version
	for e, err := range store.ReadStream(ctx, ParkedStream(projection), eventstore.ReadOptions{}) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("projection %q: read parked events: %w", projection, err)
		}
		if err := set.apply(&e); err != nil {
			return nil, err
		}
	}
	return set, nil
}

// ListParked returns the parked events of a projection that are not
// resolved yet, in the order they were parked.
func ListParked(ctx context.Context, store eventstore.Store, projection string) ([]ParkedEvent, error) {
	set, err := readParked(ctx, store, projection, 0)
	if err != nil {
		return nil, err
	}
	return set.unresolved(), nil
}

// RequestReplay asks the running runners of a projection to replay its
// parked events, by appending a ReplayRequestedEventType event to its
// parked stream (what `chronicle projection replay-parked` does from
// another process).
func RequestReplay(ctx context.Context, store eventstore.Store, projection string) error {
	if !nameRE.MatchString(projection) {
		return invalid(projection, "a name is letters, digits, '_' and '.', starting with a letter")
	}
	_, err := store.Append(ctx, ParkedStream(projection), eventstore.Any, eventstore.EventData{
		Type: ReplayRequestedEventType, Data: []byte(`{}`),
	})
	return err
}

// parkedItem is an event to park.
type parkedItem struct {
	it     *item
	key    string
	reason string
	err    error
}

// park records an event in the parked stream and blocks its key.
func (r *Runner[Tx]) park(ctx context.Context, pk parkedItem, attempts int) error {
	rec := &pk.it.rec
	p := &ParkedEvent{
		ID:         uuid.NewSHA1(parkedNamespace, []byte(fmt.Sprintf("%s/%d/%s", r.p.name, r.p.version, rec.ID))),
		Projection: r.p.name, Version: r.p.version,
		Stream: rec.Stream, Revision: rec.Revision, Position: rec.Position, EventID: rec.ID, EventType: rec.Type,
		Key: pk.key, Reason: pk.reason, Error: pk.err.Error(), Attempts: attempts, ParkedAt: r.o.now().UTC(),
	}
	r.parked.mu.Lock()
	_, dup := r.parked.byID[p.ID]
	r.parked.mu.Unlock()
	if dup {
		return nil
	}
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if _, err := r.store.Append(ctx, ParkedStream(r.p.name), eventstore.Any, eventstore.EventData{ID: p.ID, Type: ParkedEventType, Data: data}); err != nil {
		return fmt.Errorf("projection %q: park %s@%d: %w", r.p.name, rec.Stream, rec.Revision, err)
	}
	r.parked.mu.Lock()
	added := r.parked.add(p)
	blocked := len(r.parked.blocked)
	r.parked.mu.Unlock()
	if added {
		r.o.logger.Warn("projection: event parked", "projection", r.p.name, "stream", rec.Stream, "revision", rec.Revision,
			"type", rec.Type, "reason", pk.reason, "error", pk.err)
		r.tel.parked.Add(ctx, 1, r.tel.attrs)
		r.update(func(st *State) {
			st.Parked++
			st.Blocked = blocked
		})
	}
	return nil
}

// ReplayResult counts what a replay of parked events did.
type ReplayResult struct {
	Replayed, Failed int
}

type replayRequest struct {
	reply chan replayOutcome
}

type replayOutcome struct {
	res ReplayResult
	err error
}

// ReplayParked hands the projection's unresolved parked events to their
// handlers again, in the order they were parked, while the runner runs
// (between two batches, with every partition idle). An event whose handler
// succeeds is resolved; one that fails again stays parked with the new
// error, and the later parked events of its key wait. A key is unblocked
// once all its parked events are resolved. A replayed event's writes commit
// in the target's transaction, but the record that resolves it is appended
// after that commit: a crash in between replays it once more.
//
// A runner with WithPersistentGroup parks in the group's parked stream:
// ReplayParked asks the group to deliver its parked messages again (to any
// of its consumers; the outcome shows in their State), and returns the
// number of messages that were parked as Replayed. It needs no running
// runner.
func (r *Runner[Tx]) ReplayParked(ctx context.Context) (ReplayResult, error) {
	if r.pers != nil {
		return r.replayPersistent(ctx)
	}
	req := replayRequest{reply: make(chan replayOutcome, 1)}
	select {
	case r.replays <- req:
	case <-ctx.Done():
		return ReplayResult{}, ctx.Err()
	}
	select {
	case out := <-req.reply:
		return out.res, out.err
	case <-ctx.Done():
		return ReplayResult{}, ctx.Err()
	}
}

// watchReplays follows the parked stream for replay requests from other
// processes.
func (s *session[Tx]) watchReplays(ctx context.Context) (<-chan replayRequest, func()) {
	r := s.r
	out := make(chan replayRequest)
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	r.parked.mu.Lock()
	from := r.parked.lastRev
	pendingRequest := r.parked.requested && len(r.parked.list) > 0
	r.parked.mu.Unlock()
	wg.Go(func() {
		if pendingRequest {
			// A request appended while no runner was running.
			select {
			case out <- replayRequest{reply: make(chan replayOutcome, 1)}:
			case <-wctx.Done():
				return
			}
		}
		for m, err := range r.store.SubscribeToStream(wctx, ParkedStream(r.p.name), eventstore.SubscribeOptions{From: from}) {
			if err != nil {
				if wctx.Err() == nil {
					r.o.logger.Error("projection: parked-stream watch ended", "projection", r.p.name, "error", err)
				}
				return
			}
			if m.Kind == eventstore.MessageEvent && m.Event.Type == ReplayRequestedEventType {
				select {
				case out <- replayRequest{reply: make(chan replayOutcome, 1)}:
				case <-wctx.Done():
					return
				}
			}
		}
	})
	return out, func() {
		cancel()
		wg.Wait()
	}
}

// replay replays the unresolved parked events with every partition idle.
func (s *session[Tx]) replay(ctx context.Context, req replayRequest) replayOutcome {
	r := s.r
	if err := s.drain(ctx); err != nil {
		return replayOutcome{err: err}
	}
	var res ReplayResult
	failedKeys := make(map[string]bool)
	for _, pe := range r.parked.unresolved() {
		if failedKeys[pe.Key] {
			continue
		}
		err := s.replayOne(ctx, &pe)
		if errors.Is(err, ErrFenced) || ctx.Err() != nil {
			return replayOutcome{res: res, err: r.fenceError(ctx, err)}
		}
		evType, ref := ParkedResolvedEventType, parkedRef{ParkedID: pe.ID}
		if err != nil {
			evType, ref.Error = ParkedReplayFailedEventType, err.Error()
			failedKeys[pe.Key] = true
			res.Failed++
		} else {
			res.Replayed++
		}
		data, _ := json.Marshal(ref)
		if _, aerr := r.store.Append(ctx, ParkedStream(r.p.name), eventstore.Any, eventstore.EventData{Type: evType, Data: data}); aerr != nil {
			return replayOutcome{res: res, err: fmt.Errorf("projection %q: record replay: %w", r.p.name, aerr)}
		}
		r.parked.mu.Lock()
		if err == nil {
			r.parked.resolve(pe.ID)
		} else if p := r.parked.byID[pe.ID]; p != nil {
			p.ReplayError = err.Error()
		}
		blocked := len(r.parked.blocked)
		r.parked.mu.Unlock()
		r.update(func(st *State) { st.Blocked = blocked })
	}
	r.o.logger.Info("projection: parked events replayed", "projection", r.p.name, "replayed", res.Replayed, "failed", res.Failed)
	return replayOutcome{res: res}
}

// replayOne reads a parked event back and hands it to its handler in the
// transaction of its partition, without moving the checkpoint.
func (s *session[Tx]) replayOne(ctx context.Context, pe *ParkedEvent) error {
	r := s.r
	var rec eventstore.RecordedEvent
	found := false
	for e, err := range r.store.ReadStream(ctx, pe.Stream, eventstore.ReadOptions{From: eventstore.FromRevision(pe.Revision), MaxCount: 1}) {
		if err != nil {
			return fmt.Errorf("read %s@%d: %w", pe.Stream, pe.Revision, err)
		}
		rec, found = e, true
	}
	if !found || rec.ID != pe.EventID {
		return fmt.Errorf("read %s@%d: the parked event is no longer in the store", pe.Stream, pe.Revision)
	}
	h, ok := r.p.handlers[rec.Type]
	if !ok {
		return fmt.Errorf("no handler for %q", rec.Type)
	}
	ev, err := r.p.reg.Decode(rec)
	if err != nil {
		return err
	}
	p := s.parts[0]
	if len(s.parts) > 1 {
		p = s.parts[partitionOf(pe.Key, len(s.parts))]
	}
	at := p.stored
	if at.IsZero() {
		at = p.done
	}
	if at.IsZero() {
		return fmt.Errorf("partition %v has no checkpoint yet", p.key)
	}
	err = r.target.Update(ctx, p.key, p.stored, at, func(ctx context.Context, tx Tx) error {
		return h.handle(ctx, tx, ev)
	})
	if err != nil {
		return err
	}
	p.stored = at
	r.count(0, 1)
	return nil
}
