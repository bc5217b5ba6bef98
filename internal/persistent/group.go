package persistent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/chronicle-go/chronicle/eventstore"
)

// retryDelay is how long a group waits before it tries again a write or a
// subscription that failed.
const retryDelay = time.Second

func newID() uuid.UUID { return uuid.New() }

// group is a running group: its reader, its worker, its consumers and the
// messages between them. A group is stopped once, and replaced by a new one
// on update or restart.
type group struct {
	e   *Engine
	def *definition
	all bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	kick   chan struct{} // wakes the worker

	mu        sync.Mutex
	cond      *sync.Cond // the reader and the replayer wait on it for room
	stopped   bool
	consumers []*consumer
	lastID    uint64 // of consumers
	rr        int    // next consumer for RoundRobin
	slots     int    // sum of the consumers' buffer sizes

	buf      []*message // read, not taken by a consumer yet
	retry    []*message // to deliver again, before buf
	inflight map[uuid.UUID]*delivery
	toPark   []parking

	pending window // places of the messages read from the source
	replays window // parked-stream revisions of replayed messages

	ckpt, written       place // finished up to; checkpointed
	ckptSet, writtenSet bool
	resolvedSince       int // messages finished since the last checkpoint
	lastCkptAt          time.Time
	tbWant, tbWritten   uint64 // $tb of the parked stream
	backoffUntil        time.Time
	timerStop           func() bool
	timerAt             time.Time

	known     place
	knownSet  bool
	started   bool // the subscription started
	live      bool
	replaying bool
	total     int64
	startedAt time.Time
	seq       uint64 // of the last message taken
}

// newMessage returns the next message of the group. g.mu is held.
func (g *group) newMessage(ev eventstore.RecordedEvent) *message {
	g.seq++
	return &message{ev: ev, seq: g.seq}
}

// inOrder sorts deliveries in the order the group took their messages, so
// that the ones retried together are retried in that order.
func inOrder(ds []*delivery) []*delivery {
	sort.Slice(ds, func(i, j int) bool { return ds[i].m.seq < ds[j].m.seq })
	return ds
}

// message is an event on its way through the group.
type message struct {
	ev     eventstore.RecordedEvent
	retry  int
	seq    uint64    // the order the group took it in
	slot   *slot     // in pending; nil for a replayed parked message
	replay *slot     // in replays; nil otherwise
	last   *consumer // the consumer it was last delivered to
}

func (m *message) id() uuid.UUID { return m.ev.Original().ID }

// delivery is a message in flight on a consumer.
type delivery struct {
	m        *message
	c        *consumer
	deadline time.Time
}

type parking struct {
	m      *message
	reason string
}

// startGroup starts d's group from its checkpoint cp (nil: none); e.mu is
// held.
func (e *Engine) startGroup(d *definition, cp *place) *group {
	now := e.clk.Now()
	g := &group{e: e, def: d, all: d.id.IsAll(), kick: make(chan struct{}, 1), inflight: map[uuid.UUID]*delivery{}, startedAt: now, lastCkptAt: now}
	if cp != nil {
		g.ckpt, g.ckptSet, g.written, g.writtenSet = *cp, true, *cp, true
		g.known, g.knownSet = *cp, true
	}
	g.cond = sync.NewCond(&g.mu)
	g.ctx, g.cancel = context.WithCancel(e.ctx)
	g.wg.Add(2)
	go g.read()
	go g.work()
	return g
}

// stop ends the group: consumers end with reason, the reader, the replayer
// and the worker stop, and what was finished with is checkpointed.
func (g *group) stop(reason error) {
	g.mu.Lock()
	if !g.stopped {
		g.stopped = true
		for _, c := range g.consumers {
			c.end(reason)
		}
		g.consumers = nil
		if g.timerStop != nil {
			g.timerStop()
		}
		g.cond.Broadcast()
	}
	g.mu.Unlock()
	g.cancel()
	g.wg.Wait()
}

// poke wakes the worker.
func (g *group) poke() {
	select {
	case g.kick <- struct{}{}:
	default:
	}
}

// sleep waits d of the engine's clock, or until the group stops; it
// reports whether the group still runs.
func (g *group) sleep(d time.Duration) bool {
	done := make(chan struct{})
	stop := g.e.clk.AfterFunc(d, func() { close(done) })
	defer stop()
	select {
	case <-done:
		return true
	case <-g.ctx.Done():
		return false
	}
}

// placeOf returns where e is in the group's source.
func (g *group) placeOf(e *eventstore.RecordedEvent) place {
	o := e.Original()
	if g.all {
		return place{pos: o.Position}
	}
	return place{rev: o.Revision}
}

func (g *group) fromOf(p place) eventstore.From {
	if g.all {
		return eventstore.FromPosition(p.pos)
	}
	return eventstore.FromRevision(p.rev)
}

// internal reports whether a $all group skips e: the engine's own streams.
func internal(e *eventstore.RecordedEvent) bool {
	o := e.Original()
	return o.Stream == ConfigStream || strings.HasPrefix(o.Stream, eventstore.PersistentSubscriptionStreamPrefix) ||
		strings.HasPrefix(o.Stream, "$$"+eventstore.PersistentSubscriptionStreamPrefix) || o.Stream == "$$"+ConfigStream
}

// read feeds the group from its source until the group stops.
func (g *group) read() {
	defer g.wg.Done()
	for {
		err := g.readOnce()
		if g.ctx.Err() != nil {
			return
		}
		_ = err // a failed subscription is tried again from where it was
		if !g.sleep(retryDelay) {
			return
		}
	}
}

// readOnce subscribes to the source after the last place read (the
// checkpoint at first), or from the group's start.
func (g *group) readOnce() error {
	g.mu.Lock()
	g.started = true
	known, knownSet := g.known, g.knownSet
	g.mu.Unlock()
	st := g.def.settings
	if g.all {
		opts := eventstore.SubscribeAllOptions{Filter: st.Filter, ResolveLinks: st.ResolveLinks}
		switch pos, isPos := g.def.start.Position(); {
		case knownSet:
			opts.From = eventstore.FromPosition(known.pos)
		case isPos && !pos.IsZero():
			opts.From = eventstore.FromPosition(prevPosition(pos))
		}
		return g.consume(g.e.store.SubscribeToAll(g.ctx, opts))
	}
	opts := eventstore.SubscribeOptions{ResolveLinks: st.ResolveLinks}
	switch rev, isRev := g.def.start.Revision(); {
	case knownSet:
		opts.From = eventstore.FromRevision(known.rev)
	case isRev && rev > 0:
		opts.From = eventstore.FromRevision(rev - 1)
	}
	return g.consume(g.e.store.SubscribeToStream(g.ctx, g.def.id.Stream, opts))
}

// readCheckpoint returns the last checkpoint of group id.
func (e *Engine) readCheckpoint(ctx context.Context, id eventstore.PersistentGroup) (*place, error) {
	for ev, err := range e.store.ReadStream(ctx, id.CheckpointStream(), eventstore.ReadOptions{Direction: eventstore.Backwards, From: eventstore.End, MaxCount: 1}) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			break
		}
		if err != nil {
			return nil, err
		}
		p, err := decodeCheckpoint(id.IsAll(), ev.Data)
		if err != nil {
			return nil, err
		}
		return &p, nil
	}
	return nil, nil
}

// consume takes the messages of a subscription until it fails or the group
// stops.
func (g *group) consume(msgs func(func(eventstore.Message, error) bool)) error {
	for msg, err := range msgs {
		if err != nil {
			return err
		}
		switch msg.Kind {
		case eventstore.MessageEvent:
			if !g.push(msg.Event) {
				return nil
			}
		case eventstore.MessageCaughtUp, eventstore.MessageFellBehind:
			g.mu.Lock()
			g.live = msg.Kind == eventstore.MessageCaughtUp
			g.mu.Unlock()
		case eventstore.MessageCheckpoint:
			g.mu.Lock()
			if g.pending.len() == 0 && (!g.knownSet || msg.Position.Compare(g.known.pos) > 0) {
				g.known, g.knownSet = place{pos: msg.Position}, true
				g.ckpt, g.ckptSet = g.known, true
			}
			g.mu.Unlock()
		}
	}
	return g.ctx.Err()
}

// bufLimit is how many read events the group holds for its consumers.
func (g *group) bufLimit() int {
	if g.live {
		return g.def.settings.LiveBufferSize
	}
	return g.def.settings.HistoryBufferSize
}

// windowLimit bounds the places the group tracks: past it, the reader (or
// the replayer) waits for the oldest message to be finished with.
func (g *group) windowLimit() int {
	s := g.def.settings
	return g.slots + 2*max(s.LiveBufferSize, s.HistoryBufferSize)
}

// push hands an event read from the source to the group, waiting for room;
// it reports false when the group stopped.
func (g *group) push(ev eventstore.RecordedEvent) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for !g.stopped && (len(g.buf) >= g.bufLimit() || g.pending.len() >= g.windowLimit()) {
		g.cond.Wait()
	}
	if g.stopped {
		return false
	}
	p := g.placeOf(&ev)
	g.known, g.knownSet = p, true
	s := g.pending.add(p)
	if g.all && internal(&ev) {
		s.done = true
		g.settle(false)
		return true
	}
	m := g.newMessage(ev)
	m.slot = s
	g.buf = append(g.buf, m)
	g.dispatch()
	return true
}

// settle drops the finished messages' places and moves the checkpoint and
// the parked stream's $tb; counted says a message was finished with. g.mu
// is held.
func (g *group) settle(counted bool) {
	if counted {
		g.resolvedSince++
	}
	if p, _, ok := g.pending.advance(); ok {
		g.ckpt, g.ckptSet = p, true
	}
	if p, _, ok := g.replays.advance(); ok {
		g.tbWant = p.rev + 1
		g.poke()
	}
	// The worker (re)arms its timer when the count reaches
	// MinCheckpointCount, and checkpoints at MaxCheckpointCount.
	if n, st := g.resolvedSince, g.def.settings; counted && (n >= st.MaxCheckpointCount || n-1 < st.MinCheckpointCount && n >= st.MinCheckpointCount) {
		g.poke()
	}
	g.cond.Broadcast()
}

// finish marks m finished with (acknowledged, skipped or parked). g.mu is
// held.
func (g *group) finish(m *message) {
	if m.replay != nil {
		m.replay.done = true
	}
	if m.slot != nil {
		m.slot.done = true
	}
	g.settle(m.slot != nil)
}

// dispatch hands waiting messages to consumers with room, retries first.
// g.mu is held.
func (g *group) dispatch() {
	for !g.stopped {
		var m *message
		retry := len(g.retry) > 0
		switch {
		case retry:
			m = g.retry[0]
		case len(g.buf) > 0:
			m = g.buf[0]
		default:
			g.cond.Broadcast()
			return
		}
		if _, dup := g.inflight[m.id()]; dup {
			break // the same ID is in flight: wait for it
		}
		c := g.pick(m)
		if c == nil {
			break
		}
		if retry {
			g.retry[0] = nil
			g.retry = g.retry[1:]
		} else {
			g.buf[0] = nil
			g.buf = g.buf[1:]
		}
		g.send(c, m)
	}
	g.cond.Broadcast()
}

// pick chooses the consumer for m by the group's strategy; nil when none
// has room (or, pinned, when m's consumer has none).
func (g *group) pick(m *message) *consumer {
	n := len(g.consumers)
	if n == 0 {
		return nil
	}
	switch g.def.settings.ConsumerStrategy {
	case eventstore.Pinned, eventstore.PinnedByCorrelation:
		c := g.pinned(m)
		if c.inflight >= c.size {
			return nil
		}
		return c
	case eventstore.DispatchToSingle:
		return g.firstFree(0, m.last)
	}
	c := g.firstFree(g.rr, m.last)
	if c != nil {
		for i, x := range g.consumers {
			if x == c {
				g.rr = (i + 1) % n
			}
		}
	}
	return c
}

// firstFree returns the first consumer with room from index start on,
// preferring one other than avoid.
func (g *group) firstFree(start int, avoid *consumer) *consumer {
	var fallback *consumer
	n := len(g.consumers)
	for i := range n {
		c := g.consumers[(start+i)%n]
		if c.inflight >= c.size {
			continue
		}
		if c != avoid {
			return c
		}
		fallback = c
	}
	return fallback
}

// pinned returns m's consumer by rendezvous hashing of its key over the
// connected consumers: a key keeps its consumer while that one stays, and
// only the keys of a consumer that leaves move.
func (g *group) pinned(m *message) *consumer {
	key := m.ev.Stream
	if g.def.settings.ConsumerStrategy == eventstore.PinnedByCorrelation {
		var meta map[string]any
		if json.Unmarshal(m.ev.Metadata, &meta) == nil {
			if id, ok := meta[eventstore.MetadataCorrelationID].(string); ok && id != "" {
				key = id
			}
		}
	}
	var best *consumer
	var bestScore uint64
	for _, c := range g.consumers {
		h := fnv.New64a()
		fmt.Fprintf(h, "%d\x00%s", c.id, key)
		if s := h.Sum64(); best == nil || s > bestScore {
			best, bestScore = c, s
		}
	}
	return best
}

// send puts m in flight on c. g.mu is held.
func (g *group) send(c *consumer, m *message) {
	d := &delivery{m: m, c: c}
	if t := g.def.settings.MessageTimeout; t > 0 {
		d.deadline = g.e.clk.Now().Add(t)
		if g.timerAt.IsZero() {
			g.poke() // the worker arms the timer
		}
	}
	g.inflight[m.id()] = d
	m.last = c
	c.inflight++
	c.total++
	g.total++
	c.queue = append(c.queue, d)
	select {
	case c.ready <- struct{}{}:
	default:
	}
}

// unflight takes d out of flight. g.mu is held.
func (g *group) unflight(d *delivery) {
	delete(g.inflight, d.m.id())
	c := d.c
	c.inflight--
	for i, q := range c.queue {
		if q == d {
			c.queue = append(c.queue[:i], c.queue[i+1:]...)
			break
		}
	}
}

// retryOrPark queues m for another delivery, or parks it when it was
// retried MaxRetryCount times. g.mu is held.
func (g *group) retryOrPark(m *message, reason string) {
	if m.retry >= g.def.settings.MaxRetryCount {
		g.park(m, reason)
		return
	}
	m.retry++
	g.retry = append(g.retry, m)
}

// park queues m to be written to the parked stream. g.mu is held.
func (g *group) park(m *message, reason string) {
	g.toPark = append(g.toPark, parking{m: m, reason: reason})
	g.poke()
}

// work is the group's worker: timeouts, parking, checkpoints and the parked
// stream's truncation, whenever something pokes it.
func (g *group) work() {
	defer g.wg.Done()
	for {
		select {
		case <-g.ctx.Done():
			g.flush()
			return
		case <-g.kick:
		}
		g.step()
	}
}

// step does what is due now and arms the timer for what is due next.
func (g *group) step() {
	now := g.e.clk.Now()
	g.mu.Lock()
	g.expire(now)
	var parks []parking
	var ckpt place
	var doCkpt bool
	var since int
	tb := uint64(0)
	if !now.Before(g.backoffUntil) {
		parks, g.toPark = g.toPark, nil
		if doCkpt = g.checkpointDue(now); doCkpt {
			ckpt, since = g.ckpt, g.resolvedSince
		}
		if g.tbWant > g.tbWritten {
			tb = g.tbWant
		}
	}
	g.mu.Unlock()

	failed := false
	for i, p := range parks {
		if err := g.writePark(g.ctx, p); err != nil {
			g.mu.Lock()
			g.toPark = append(parks[i:len(parks):len(parks)], g.toPark...)
			g.mu.Unlock()
			failed = true
			break
		}
		g.mu.Lock()
		g.finish(p.m)
		g.mu.Unlock()
	}
	if doCkpt && !failed {
		if err := g.writeCheckpoint(g.ctx, ckpt); err != nil {
			failed = true
		} else {
			g.mu.Lock()
			g.written, g.writtenSet = ckpt, true
			g.resolvedSince -= since
			g.lastCkptAt = now
			g.mu.Unlock()
		}
	}
	if tb > 0 && !failed {
		if err := g.truncateParked(g.ctx, tb); err != nil {
			failed = true
		} else {
			g.mu.Lock()
			g.tbWritten = max(g.tbWritten, tb)
			g.mu.Unlock()
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if failed {
		g.backoffUntil = now.Add(retryDelay)
	}
	g.arm()
}

// expire retries (or parks) the messages whose time is up. g.mu is held.
func (g *group) expire(now time.Time) {
	if g.def.settings.MessageTimeout <= 0 {
		return
	}
	var due []*delivery
	for _, d := range g.inflight {
		if !now.Before(d.deadline) {
			due = append(due, d)
		}
	}
	for _, d := range inOrder(due) {
		g.unflight(d)
		g.retryOrPark(d.m, "message timeout")
	}
	if len(due) > 0 {
		g.dispatch()
	}
}

// checkpointDue reports whether a checkpoint should be written now. g.mu is
// held.
func (g *group) checkpointDue(now time.Time) bool {
	if !g.ckptSet || (g.writtenSet && g.ckpt == g.written) {
		return false
	}
	s := g.def.settings
	if g.resolvedSince >= s.MaxCheckpointCount {
		return true
	}
	return g.resolvedSince >= s.MinCheckpointCount && !now.Before(g.lastCkptAt.Add(s.CheckpointAfter))
}

// arm sets the timer for the next thing due: a message timeout, a
// checkpoint, or a retry after a failure. The timer is set for that time
// as the clock tells it now, not as it told it when the step began: the
// step's writes may have taken a while (or a test's fake clock moved), and
// what is due must not come later by that much. g.mu is held.
func (g *group) arm() {
	var next time.Time
	earlier := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, d := range g.inflight {
		if !d.deadline.IsZero() {
			earlier(d.deadline)
		}
	}
	if g.ckptSet && (!g.writtenSet || g.ckpt != g.written) && g.resolvedSince >= g.def.settings.MinCheckpointCount {
		earlier(g.lastCkptAt.Add(g.def.settings.CheckpointAfter))
	}
	if len(g.toPark) > 0 || g.tbWant > g.tbWritten {
		earlier(g.backoffUntil)
	}
	if !next.IsZero() && next.Before(g.backoffUntil) {
		next = g.backoffUntil // nothing is written before then
	}
	if next.Equal(g.timerAt) || g.stopped {
		return
	}
	if g.timerStop != nil {
		g.timerStop()
		g.timerStop = nil
	}
	g.timerAt = next
	if next.IsZero() {
		return
	}
	g.timerStop = g.e.clk.AfterFunc(next.Sub(g.e.clk.Now()), func() {
		g.mu.Lock()
		g.timerAt = time.Time{}
		g.mu.Unlock()
		g.poke()
	})
}

// flush writes the last checkpoint and $tb when the group stops.
func (g *group) flush() {
	g.mu.Lock()
	ckpt, doCkpt := g.ckpt, g.ckptSet && (!g.writtenSet || g.ckpt != g.written)
	tb := g.tbWant
	doTB := tb > g.tbWritten
	g.mu.Unlock()
	if doCkpt {
		_ = g.writeCheckpoint(g.e.ctx, ckpt) // at least once: a lost checkpoint means redeliveries
	}
	if doTB {
		_ = g.truncateParked(g.e.ctx, tb)
	}
}

// writePark appends a link to the parked message to the parked stream.
func (g *group) writePark(ctx context.Context, p parking) error {
	meta, _ := json.Marshal(map[string]any{"reason": p.reason, "retryCount": p.m.retry})
	ev := eventstore.EventData{ID: newID(), Type: eventstore.LinkEventType, ContentType: eventstore.ContentTypeBinary,
		Data: eventstore.LinkData(p.m.ev.Stream, p.m.ev.Revision), Metadata: meta}
	_, err := g.e.append(ctx, g.def.id.ParkedStream(), eventstore.Any, []eventstore.EventData{ev})
	return err
}

// writeCheckpoint appends a checkpoint, after making sure the stream keeps
// only its last one.
func (g *group) writeCheckpoint(ctx context.Context, p place) error {
	if err := g.setMetadata(ctx, g.def.id.CheckpointStream(), func(m *eventstore.StreamMetadata) bool {
		if m.MaxCount == 1 {
			return false
		}
		m.MaxCount = 1
		return true
	}); err != nil {
		return err
	}
	ev := eventstore.EventData{ID: newID(), Type: CheckpointEventType, ContentType: eventstore.ContentTypeJSON, Data: encodeCheckpoint(g.all, p)}
	_, err := g.e.append(ctx, g.def.id.CheckpointStream(), eventstore.Any, []eventstore.EventData{ev})
	return err
}

// truncateParked moves the parked stream's $tb to tb.
func (g *group) truncateParked(ctx context.Context, tb uint64) error {
	return g.setMetadata(ctx, g.def.id.ParkedStream(), func(m *eventstore.StreamMetadata) bool {
		if m.TruncateBefore >= tb {
			return false
		}
		m.TruncateBefore = tb
		return true
	})
}

// setMetadata changes a stream's metadata, keeping what change does not
// touch; change reports whether it changed anything.
func (g *group) setMetadata(ctx context.Context, stream string, change func(*eventstore.StreamMetadata) bool) error {
	cur, err := g.e.store.GetStreamMetadata(ctx, stream)
	if err != nil {
		return err
	}
	if !change(&cur.Metadata) {
		return nil
	}
	_, err = g.e.store.SetStreamMetadata(ctx, stream, cur.Revision, cur.Metadata)
	return err
}

// replay starts replaying the parked messages, unless a replay runs.
func (g *group) replay(stopAt uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.replaying || g.stopped {
		return
	}
	g.replaying = true
	g.wg.Add(1)
	go g.replayParked(stopAt)
}

// replayParked hands the parked messages there are now (at most stopAt of
// them when stopAt > 0) back to the group, a page of ReadBatchSize at a
// time.
func (g *group) replayParked(stopAt uint64) {
	defer g.wg.Done()
	defer func() {
		g.mu.Lock()
		g.replaying = false
		g.mu.Unlock()
	}()
	stream := g.def.id.ParkedStream()
	var last uint64
	found := false
	for ev, err := range g.e.store.ReadStream(g.ctx, stream, eventstore.ReadOptions{Direction: eventstore.Backwards, From: eventstore.End, MaxCount: 1}) {
		if err != nil {
			return
		}
		last, found = ev.Revision, true
	}
	if !found {
		return
	}
	next, n := uint64(0), uint64(0)
	for next <= last && (stopAt == 0 || n < stopAt) {
		page := make([]eventstore.RecordedEvent, 0, g.def.settings.ReadBatchSize)
		for ev, err := range g.e.store.ReadStream(g.ctx, stream, eventstore.ReadOptions{From: eventstore.FromRevision(next), MaxCount: uint64(g.def.settings.ReadBatchSize)}) {
			if err != nil {
				return
			}
			page = append(page, ev)
		}
		if len(page) == 0 {
			return
		}
		for _, link := range page {
			if link.Revision > last || (stopAt > 0 && n >= stopAt) {
				return
			}
			if !g.pushReplay(g.resolve(link), link.Revision) {
				return
			}
			n++
		}
		next = page[len(page)-1].Revision + 1
	}
}

// resolve returns the event a parked link points to, with the link in
// Link; the link itself when it points nowhere.
func (g *group) resolve(link eventstore.RecordedEvent) eventstore.RecordedEvent {
	stream, rev, ok := eventstore.ParseLink(link.Data)
	if !ok {
		return link
	}
	for ev, err := range g.e.store.ReadStream(g.ctx, stream, eventstore.ReadOptions{From: eventstore.FromRevision(rev), MaxCount: 1}) {
		if err != nil || ev.Revision != rev {
			break
		}
		l := link
		ev.Link = &l
		return ev
	}
	return link
}

// pushReplay hands a replayed parked message to the group, waiting for
// room; it reports false when the group stopped.
func (g *group) pushReplay(ev eventstore.RecordedEvent, rev uint64) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for !g.stopped && (len(g.retry) >= g.def.settings.HistoryBufferSize || g.replays.len() >= g.windowLimit()) {
		g.cond.Wait()
	}
	if g.stopped {
		return false
	}
	m := g.newMessage(ev)
	m.replay = g.replays.add(place{rev: rev})
	g.retry = append(g.retry, m)
	g.dispatch()
	return true
}

// info describes the group.
func (g *group) info(ctx context.Context) (eventstore.PersistentSubscriptionInfo, error) {
	parked, err := g.parkedCount(ctx)
	if err != nil {
		return eventstore.PersistentSubscriptionInfo{}, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	info := eventstore.PersistentSubscriptionInfo{
		Group:              g.def.id,
		Settings:           cloneSettings(g.def.settings),
		LastCheckpointed:   eventstore.Start,
		LastKnown:          eventstore.Start,
		TotalItems:         g.total,
		InFlightMessages:   len(g.inflight),
		RetryBufferCount:   len(g.retry),
		ParkedMessageCount: parked,
	}
	info.OutstandingMessages = info.InFlightMessages
	if g.writtenSet {
		info.LastCheckpointed = g.fromOf(g.written)
	}
	if g.knownSet {
		info.LastKnown = g.fromOf(g.known)
	}
	if secs := g.e.clk.Now().Sub(g.startedAt).Seconds(); secs > 0 {
		info.AveragePerSecond = float64(g.total) / secs
	}
	switch {
	case !g.started:
		info.Status = "NotReady"
	case g.live:
		info.Status = "Live"
		info.LiveBufferCount = len(g.buf)
	default:
		info.Status = "Behind"
		info.ReadBufferCount = len(g.buf)
	}
	if g.replaying {
		info.Status += ",ReplayingParkedMessages"
	}
	for _, c := range g.consumers {
		info.Connections = append(info.Connections, eventstore.PersistentConnectionInfo{
			Name: c.name, From: "in-process", TotalItems: c.total, AvailableSlots: c.size - c.inflight, InFlightMessages: c.inflight,
		})
	}
	return info, nil
}

// parkedCount returns how many messages the parked stream holds.
func (g *group) parkedCount(ctx context.Context) (int64, error) {
	stream := g.def.id.ParkedStream()
	for ev, err := range g.e.store.ReadStream(ctx, stream, eventstore.ReadOptions{Direction: eventstore.Backwards, From: eventstore.End, MaxCount: 1}) {
		if errors.Is(err, eventstore.ErrStreamNotFound) {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		meta, err := g.e.store.GetStreamMetadata(ctx, stream)
		if err != nil {
			return 0, err
		}
		first := min(meta.Metadata.TruncateBefore, ev.Revision+1)
		return int64(ev.Revision + 1 - first), nil
	}
	return 0, nil
}
