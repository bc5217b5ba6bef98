package persistent

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/internal/clock"
)

// AppendFunc appends prepared events (IDs set, content types set) to a
// stream, system streams ('$') included, which the public Store.Append
// refuses. The embedded stores pass their internal append path.
type AppendFunc func(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events []eventstore.EventData) (eventstore.AppendResult, error)

// An Option configures an Engine.
type Option func(*Engine)

// WithClock sets the clock of message timeouts and checkpoint timing
// (default clock.System).
func WithClock(c clock.Clock) Option { return func(e *Engine) { e.clk = c } }

// Engine serves eventstore.PersistentSubscriptions over a Store. It is safe
// for concurrent use. Its groups start when it is first used (Start starts
// them at once) and stop on Close.
type Engine struct {
	store  eventstore.Store
	append AppendFunc
	clk    clock.Clock

	ctx    context.Context // ends on Close
	cancel context.CancelFunc

	opMu      sync.Mutex // serializes loading and definition changes
	loaded    bool
	configRev eventstore.ExpectedRevision
	defs      map[eventstore.PersistentGroup]*definition

	mu     sync.Mutex
	groups map[eventstore.PersistentGroup]*group
	closed bool
}

// definition is a group as the configuration stream keeps it.
type definition struct {
	id       eventstore.PersistentGroup
	settings eventstore.PersistentSettings
	start    eventstore.From // inclusive; End resolved at creation
}

var _ eventstore.PersistentSubscriptions = (*Engine)(nil)

// New returns an engine over store that writes its system streams with
// appendFn. It starts no goroutine until used.
func New(store eventstore.Store, appendFn AppendFunc, opts ...Option) *Engine {
	e := &Engine{store: store, append: appendFn, clk: clock.System, groups: make(map[eventstore.PersistentGroup]*group)}
	for _, o := range opts {
		o(e)
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	return e
}

// Start loads the group definitions and starts every group, so that they
// read and checkpoint before any call.
func (e *Engine) Start(ctx context.Context) error {
	e.opMu.Lock()
	defer e.opMu.Unlock()
	return e.load(ctx)
}

// Close stops every group: connected consumers end with ErrClosed, what
// was acknowledged is checkpointed (if the store still takes writes), and
// every goroutine of the engine ends before Close returns. Later calls
// return ErrClosed. Close is idempotent.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	groups := e.groups
	e.groups = map[eventstore.PersistentGroup]*group{}
	e.mu.Unlock()
	for _, g := range groups {
		g.stop(eventstore.ErrClosed)
	}
	e.cancel()
	return nil
}

// load reads the definitions and starts the groups, once; e.opMu is held.
func (e *Engine) load(ctx context.Context) error {
	if err := e.checkOpen(); err != nil {
		return err
	}
	if e.loaded {
		return nil
	}
	defs := map[eventstore.PersistentGroup]*definition{}
	rev := eventstore.NoStream
	for ev, err := range e.store.ReadStream(ctx, ConfigStream, eventstore.ReadOptions{Direction: eventstore.Backwards, From: eventstore.End, MaxCount: 1}) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			break
		}
		if err != nil {
			return err
		}
		if defs, err = decodeConfig(ev.Data); err != nil {
			return err
		}
		rev = eventstore.Exact(ev.Revision)
	}
	cps := make(map[eventstore.PersistentGroup]*place, len(defs))
	for id := range defs {
		cp, err := e.readCheckpoint(ctx, id)
		if err != nil {
			return err
		}
		cps[id] = cp
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return eventstore.ErrClosed
	}
	e.defs, e.configRev, e.loaded = defs, rev, true
	for id, d := range defs {
		e.groups[id] = e.startGroup(d, cps[id])
	}
	return nil
}

func (e *Engine) checkOpen() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return eventstore.ErrClosed
	}
	return nil
}

// saveConfig writes defs as the new configuration; e.opMu is held.
func (e *Engine) saveConfig(ctx context.Context, defs map[eventstore.PersistentGroup]*definition) error {
	if e.configRev.IsNoStream() {
		// Keep only the latest definition event.
		if _, err := e.store.SetStreamMetadata(ctx, ConfigStream, eventstore.Any, eventstore.StreamMetadata{MaxCount: 1}); err != nil {
			return err
		}
	}
	ev := eventstore.EventData{ID: newID(), Type: ConfigEventType, ContentType: eventstore.ContentTypeJSON, Data: encodeConfig(defs)}
	res, err := e.append(ctx, ConfigStream, e.configRev, []eventstore.EventData{ev})
	if err != nil {
		return err
	}
	e.defs, e.configRev = defs, res.Next
	return nil
}

// withDefs copies the definitions, applies change, and returns the copy.
func (e *Engine) withDefs(change func(map[eventstore.PersistentGroup]*definition)) map[eventstore.PersistentGroup]*definition {
	out := make(map[eventstore.PersistentGroup]*definition, len(e.defs)+1)
	for k, v := range e.defs {
		out[k] = v
	}
	change(out)
	return out
}

// begin validates a definition change and loads the engine; on success
// e.opMu is held and the caller must unlock it.
func (e *Engine) begin(ctx context.Context, id eventstore.PersistentGroup, op string) error {
	if err := id.Validate(op); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	e.opMu.Lock()
	if err := e.load(ctx); err != nil {
		e.opMu.Unlock()
		return err
	}
	return nil
}

// CreatePersistentSubscription implements eventstore.PersistentSubscriptions.
func (e *Engine) CreatePersistentSubscription(ctx context.Context, id eventstore.PersistentGroup, settings eventstore.PersistentSettings) error {
	if err := id.Validate("create persistent subscription"); err != nil {
		return err
	}
	if err := settings.Validate(id); err != nil {
		return err
	}
	if err := e.begin(ctx, id, "create persistent subscription"); err != nil {
		return err
	}
	defer e.opMu.Unlock()
	if _, ok := e.defs[id]; ok {
		return fmt.Errorf("%w: %s", eventstore.ErrPersistentSubscriptionExists, id)
	}
	start, err := e.resolveStart(ctx, id, settings.From)
	if err != nil {
		return err
	}
	// A group of this name that was deleted may have left its streams (a
	// deletion that failed part-way, or a file an older version wrote): a
	// new group starts from its own start with nothing parked.
	if err := e.deleteStreams(ctx, id); err != nil {
		return err
	}
	d := &definition{id: id, settings: cloneSettings(settings), start: start}
	if err := e.saveConfig(ctx, e.withDefs(func(m map[eventstore.PersistentGroup]*definition) { m[id] = d })); err != nil {
		return err
	}
	if err := e.replace(ctx, id, d, nil); err != nil {
		// Undo the definition, so that the create can be retried; should
		// that fail too, the group is defined and resume starts it.
		if uerr := e.saveConfig(context.WithoutCancel(ctx), e.withDefs(func(m map[eventstore.PersistentGroup]*definition) { delete(m, id) })); uerr != nil {
			return errors.Join(err, uerr)
		}
		return err
	}
	return nil
}

// resume starts group id if it is defined but not running, which a change
// whose last step (reading the checkpoint) failed leaves; e.opMu is held.
func (e *Engine) resume(ctx context.Context, id eventstore.PersistentGroup) error {
	d, ok := e.defs[id]
	if !ok {
		return nil
	}
	e.mu.Lock()
	running := e.groups[id] != nil
	e.mu.Unlock()
	if running {
		return nil
	}
	return e.replace(ctx, id, d, nil)
}

// restore starts group id again as it is defined, after a change failed
// with err part-way, and returns err (joined with the restart's error; the
// group is then resumed by the next call that looks it up). It runs even
// when ctx has ended, which may be what made the change fail.
func (e *Engine) restore(ctx context.Context, id eventstore.PersistentGroup, err error) error {
	if rerr := e.replace(context.WithoutCancel(ctx), id, e.defs[id], nil); rerr != nil {
		return errors.Join(err, rerr)
	}
	return err
}

// replace stops the running group id (its consumers end with reason) and
// starts d in its place, from its checkpoint (none when d is nil).
func (e *Engine) replace(ctx context.Context, id eventstore.PersistentGroup, d *definition, reason error) error {
	e.mu.Lock()
	old := e.groups[id]
	delete(e.groups, id)
	e.mu.Unlock()
	if old != nil {
		old.stop(reason)
	}
	var cp *place
	if d != nil {
		var err error
		if cp, err = e.readCheckpoint(ctx, id); err != nil {
			return err
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return eventstore.ErrClosed
	}
	if d != nil {
		e.groups[id] = e.startGroup(d, cp)
	}
	return nil
}

// resolveStart returns the inclusive start of a new group: End becomes the
// place after the last event of the stream or of $all.
func (e *Engine) resolveStart(ctx context.Context, id eventstore.PersistentGroup, from eventstore.From) (eventstore.From, error) {
	if !from.IsEnd() {
		return from, nil
	}
	if id.IsAll() {
		for ev, err := range e.store.ReadAll(ctx, eventstore.ReadAllOptions{Direction: eventstore.Backwards, From: eventstore.End, MaxCount: 1}) {
			if err != nil {
				return from, err
			}
			return eventstore.FromPosition(nextPosition(ev.Position)), nil
		}
		return eventstore.Start, nil
	}
	for ev, err := range e.store.ReadStream(ctx, id.Stream, eventstore.ReadOptions{Direction: eventstore.Backwards, From: eventstore.End, MaxCount: 1}) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			break
		}
		if err != nil {
			return from, err
		}
		return eventstore.FromRevision(ev.Revision + 1), nil
	}
	return eventstore.Start, nil
}

// UpdatePersistentSubscription implements eventstore.PersistentSubscriptions.
func (e *Engine) UpdatePersistentSubscription(ctx context.Context, id eventstore.PersistentGroup, settings eventstore.PersistentSettings) error {
	if err := id.Validate("update persistent subscription"); err != nil {
		return err
	}
	if err := settings.Validate(id); err != nil {
		return err
	}
	if err := e.begin(ctx, id, "update persistent subscription"); err != nil {
		return err
	}
	defer e.opMu.Unlock()
	old, ok := e.defs[id]
	if !ok {
		return fmt.Errorf("%w: %s", eventstore.ErrPersistentSubscriptionNotFound, id)
	}
	d := &definition{id: id, settings: cloneSettings(settings), start: old.start}
	restart := settings.From != old.settings.From
	if restart {
		start, err := e.resolveStart(ctx, id, settings.From)
		if err != nil {
			return err
		}
		d.start = start
	}
	// Stop the old group (it checkpoints what it acknowledged), drop its
	// checkpoint for a new start point, then save the new definition and
	// start it. A failure before the save restores the old group: from its
	// checkpoint, or from its start when the checkpoint was dropped (events
	// may be delivered again; none is skipped).
	if err := e.replace(ctx, id, nil, eventstore.ErrPersistentSubscriptionDropped); err != nil {
		return err
	}
	if restart {
		if err := e.deleteStream(ctx, id.CheckpointStream()); err != nil {
			return e.restore(ctx, id, err)
		}
	}
	if err := e.saveConfig(ctx, e.withDefs(func(m map[eventstore.PersistentGroup]*definition) { m[id] = d })); err != nil {
		return e.restore(ctx, id, err)
	}
	return e.replace(ctx, id, d, nil)
}

// deleteStream soft-deletes one of a group's streams, if it exists, as
// Store.Delete does ({"$tb": TombstoneRevision}); Delete itself refuses '$'
// names.
func (e *Engine) deleteStream(ctx context.Context, stream string) error {
	for _, err := range e.store.ReadStream(ctx, stream, eventstore.ReadOptions{Direction: eventstore.Backwards, From: eventstore.End, MaxCount: 1}) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	_, err := e.store.SetStreamMetadata(ctx, stream, eventstore.Any, eventstore.StreamMetadata{TruncateBefore: eventstore.TombstoneRevision})
	return err
}

// DeletePersistentSubscription implements eventstore.PersistentSubscriptions.
func (e *Engine) DeletePersistentSubscription(ctx context.Context, id eventstore.PersistentGroup) error {
	if err := e.begin(ctx, id, "delete persistent subscription"); err != nil {
		return err
	}
	defer e.opMu.Unlock()
	if _, ok := e.defs[id]; !ok {
		return fmt.Errorf("%w: %s", eventstore.ErrPersistentSubscriptionNotFound, id)
	}
	// Stop the group, drop its streams, then its definition: a failure
	// part-way restores the group (from what is left of its checkpoint: events
	// may be delivered again) and the deletion can be retried; it never
	// leaves a checkpoint without its group, which a group created later
	// under the same name would resume from.
	if err := e.replace(ctx, id, nil, eventstore.ErrPersistentSubscriptionDropped); err != nil {
		return err
	}
	if err := e.deleteStreams(ctx, id); err != nil {
		return e.restore(ctx, id, err)
	}
	if err := e.saveConfig(ctx, e.withDefs(func(m map[eventstore.PersistentGroup]*definition) { delete(m, id) })); err != nil {
		return e.restore(ctx, id, err)
	}
	return nil
}

// deleteStreams soft-deletes group id's checkpoint and parked streams.
func (e *Engine) deleteStreams(ctx context.Context, id eventstore.PersistentGroup) error {
	if err := e.deleteStream(ctx, id.CheckpointStream()); err != nil {
		return err
	}
	return e.deleteStream(ctx, id.ParkedStream())
}

// RestartPersistentSubscriptions implements eventstore.PersistentSubscriptions.
func (e *Engine) RestartPersistentSubscriptions(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e.opMu.Lock()
	defer e.opMu.Unlock()
	if err := e.load(ctx); err != nil {
		return err
	}
	for _, d := range sortedDefinitions(e.defs) {
		if err := e.replace(ctx, d.id, d, eventstore.ErrPersistentSubscriptionDropped); err != nil {
			return err
		}
	}
	return nil
}

// lookup loads the engine and returns the running group id.
func (e *Engine) lookup(ctx context.Context, id eventstore.PersistentGroup, op string) (*group, error) {
	if err := e.begin(ctx, id, op); err != nil {
		return nil, err
	}
	err := e.resume(ctx, id)
	e.opMu.Unlock()
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, eventstore.ErrClosed
	}
	g := e.groups[id]
	if g == nil {
		return nil, fmt.Errorf("%w: %s", eventstore.ErrPersistentSubscriptionNotFound, id)
	}
	return g, nil
}

// GetPersistentSubscriptionInfo implements eventstore.PersistentSubscriptions.
func (e *Engine) GetPersistentSubscriptionInfo(ctx context.Context, id eventstore.PersistentGroup) (eventstore.PersistentSubscriptionInfo, error) {
	g, err := e.lookup(ctx, id, "get persistent subscription info")
	if err != nil {
		return eventstore.PersistentSubscriptionInfo{}, err
	}
	return g.info(ctx)
}

// ListPersistentSubscriptions implements eventstore.PersistentSubscriptions.
func (e *Engine) ListPersistentSubscriptions(ctx context.Context, stream string) ([]eventstore.PersistentSubscriptionInfo, error) {
	if stream != "" && stream != eventstore.AllStream {
		if err := eventstore.ValidateStreamName("list persistent subscriptions", stream, true); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e.opMu.Lock()
	err := e.load(ctx)
	for _, d := range sortedDefinitions(e.defs) {
		if err == nil {
			err = e.resume(ctx, d.id)
		}
	}
	e.opMu.Unlock()
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	var groups []*group
	for id, g := range e.groups {
		if stream == "" || id.Stream == stream {
			groups = append(groups, g)
		}
	}
	e.mu.Unlock()
	if stream != "" && len(groups) == 0 {
		return nil, fmt.Errorf("%w: no group of %s", eventstore.ErrPersistentSubscriptionNotFound, stream)
	}
	sort.Slice(groups, func(i, j int) bool { return lessGroup(groups[i].def.id, groups[j].def.id) })
	out := make([]eventstore.PersistentSubscriptionInfo, 0, len(groups))
	for _, g := range groups {
		info, err := g.info(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	return out, nil
}

// SubscribePersistent implements eventstore.PersistentSubscriptions.
func (e *Engine) SubscribePersistent(ctx context.Context, id eventstore.PersistentGroup, opts eventstore.PersistentSubscribeOptions) (eventstore.PersistentSubscription, error) {
	if opts.BufferSize < 0 {
		return nil, eventstore.NewArgumentError("subscribe persistent", id.Stream, eventstore.ErrInvalidArgument, fmt.Sprintf("buffer size %d is negative", opts.BufferSize))
	}
	g, err := e.lookup(ctx, id, "subscribe persistent")
	if err != nil {
		return nil, err
	}
	return g.connect(ctx, opts)
}

// ReplayParkedMessages implements eventstore.PersistentSubscriptions.
func (e *Engine) ReplayParkedMessages(ctx context.Context, id eventstore.PersistentGroup, stopAt uint64) error {
	g, err := e.lookup(ctx, id, "replay parked messages")
	if err != nil {
		return err
	}
	g.replay(stopAt)
	return nil
}

func lessGroup(a, b eventstore.PersistentGroup) bool {
	if a.Stream != b.Stream {
		return a.Stream < b.Stream
	}
	return a.Group < b.Group
}

func sortedDefinitions(defs map[eventstore.PersistentGroup]*definition) []*definition {
	out := make([]*definition, 0, len(defs))
	for _, d := range defs {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return lessGroup(out[i].id, out[j].id) })
	return out
}

// cloneSettings copies s so that the caller's Filter slices are not shared.
func cloneSettings(s eventstore.PersistentSettings) eventstore.PersistentSettings {
	if s.Filter != nil {
		f := *s.Filter
		f.Prefixes = append([]string(nil), f.Prefixes...)
		s.Filter = &f
	}
	return s
}

// nextPosition returns the position just after p: a $all group created
// from End starts there.
func nextPosition(p eventstore.Position) eventstore.Position {
	return eventstore.Position{Commit: p.Commit, Prepare: p.Prepare + 1}
}

// prevPosition returns a position just before p (no event lies between),
// so that an exclusive subscription from it starts at p.
func prevPosition(p eventstore.Position) eventstore.Position {
	if p.Prepare > 0 {
		return eventstore.Position{Commit: p.Commit, Prepare: p.Prepare - 1}
	}
	return eventstore.Position{Commit: p.Commit - 1, Prepare: ^uint64(0)}
}
