package aggregate

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/chronicle-go/chronicle/eventstore"
)

// Defaults of parallel decoding (see pipeline): a load applies
// decodeAfter events one by one, then decodes the rest in batches of
// decodeBatch events on min(GOMAXPROCS, maxDecodeWorkers) goroutines.
const (
	decodeAfter      = 512
	decodeBatch      = 128
	maxDecodeWorkers = 4
)

// decoding says when and how a load decodes in parallel.
type decoding struct {
	after   int // events applied one by one first; 0: never in parallel
	batch   int // events per batch
	workers int // decoding goroutines; 0: min(GOMAXPROCS, maxDecodeWorkers)
}

// pipelines counts the pipelines started, for tests.
var pipelines atomic.Int64

func defaultDecoding() decoding { return decoding{after: decodeAfter, batch: decodeBatch} }

// startPipeline returns a pipeline for the rest of a load that has applied
// r.opts.decoding.after events, or nil when the load goes on one event after the other:
// with one processor, decoding elsewhere would not run sooner.
func startPipeline[S any](r *Repository[S]) *pipeline[S] {
	d := r.opts.decoding
	workers := d.workers
	if workers == 0 {
		if workers = min(runtime.GOMAXPROCS(0), maxDecodeWorkers); workers < 2 {
			return nil
		}
	}
	pipelines.Add(1)
	return newPipeline(r, workers, max(d.batch, 1))
}

// A pipeline decodes the rest of a long load on worker goroutines while
// the loading goroutine goes on ranging over the store's read and applies
// the decoded events in order (Evolve stays on the loading goroutine, one
// event after the other). The loading goroutine gathers records into a
// batch; a full batch is handed over (offered to the workers), and once
// depth batches are out it applies the oldest before it hands over the
// next: at most depth+1 batches of records are held. Batches are recycled.
//
// Whoever claims a batch first decodes it: a worker, or the loading
// goroutine itself when it needs a batch no worker has claimed, or while it
// waits for one a worker is decoding. So a load never waits for workers
// that get no processor (a busy machine): it decodes as the sequential load
// does, and faster when they run.
//
// What a load returns does not change: events are applied in order up to
// the first that fails to decode, whose error is returned (later events of
// the same batch are not decoded; those of later batches may be, never
// applied); a panic while decoding is raised again on the loading goroutine
// when its event's turn comes; a store error comes after the events read
// before it are applied. stop ends the workers on every path.
type pipeline[S any] struct {
	r     *Repository[S]
	size  int
	work  chan job
	ring  []*batch // batches handed over, oldest at ring[head]
	head  int
	out   int // batches handed over, not yet applied
	cur   *batch
	spare *batch // applied, for reuse
	abort atomic.Bool
	wg    sync.WaitGroup
}

// A batch is records of a load and, once decoded, the first n of them
// decoded. A batch is reused: each use is a generation, gen, and is
// decoded by whoever moves claimed from gen-1 to gen. Only the loading
// goroutine touches gen and mine.
type batch struct {
	recs    []eventstore.RecordedEvent
	res     []decoded
	n       int
	gen     uint64
	claimed atomic.Uint64
	mine    bool          // this generation was decoded by the loading goroutine
	done    chan struct{} // a worker decoded this generation
}

// A job offers a generation of a batch to the workers.
type job struct {
	b   *batch
	gen uint64
}

// claim reports whether the caller won generation gen of b, and must
// decode it.
func (b *batch) claim(gen uint64) bool { return b.claimed.CompareAndSwap(gen-1, gen) }

// decoded is one record's outcome.
type decoded struct {
	data     any
	applied  bool // false: skipped by the registry
	err      error
	panicked bool // decoding panicked with value data
}

func newPipeline[S any](r *Repository[S], workers, size int) *pipeline[S] {
	depth := 2 * workers
	p := &pipeline[S]{r: r, size: size, work: make(chan job, depth), ring: make([]*batch, depth)}
	p.cur = p.newBatch()
	p.wg.Add(workers)
	for range workers {
		go p.worker()
	}
	return p
}

func (p *pipeline[S]) newBatch() *batch {
	return &batch{recs: make([]eventstore.RecordedEvent, 0, p.size), res: make([]decoded, p.size), gen: 1, done: make(chan struct{}, 1)}
}

// add queues rec; when that fills a batch, it hands the batch over, first
// applying the oldest one out to l if depth batches are out.
func (p *pipeline[S]) add(l *loaded[S], rec eventstore.RecordedEvent) error {
	p.cur.recs = append(p.cur.recs, rec)
	if len(p.cur.recs) < p.size {
		return nil
	}
	return p.handOver(l)
}

func (p *pipeline[S]) handOver(l *loaded[S]) error {
	if len(p.cur.recs) == 0 {
		return nil
	}
	if p.out == len(p.ring) {
		if err := p.applyOldest(l); err != nil {
			return err
		}
	}
	b := p.cur
	p.ring[(p.head+p.out)%len(p.ring)] = b
	p.out++
	select {
	case p.work <- job{b, b.gen}:
	default: // the channel is full of jobs the loading goroutine took
	}
	p.cur, p.spare = p.spare, nil
	if p.cur == nil {
		p.cur = p.newBatch()
	}
	return nil
}

// applyOldest gets the oldest batch out decoded (decoding it, or younger
// ones, while no worker has it done) and applies its events to l in order,
// up to the first error, as load does.
func (p *pipeline[S]) applyOldest(l *loaded[S]) error {
	b := p.ring[p.head]
	for !b.mine {
		if b.claim(b.gen) {
			p.decodeBatch(b)
			b.mine = true
			break
		}
		select {
		case <-b.done:
		default:
			if p.help() {
				continue
			}
			<-b.done
		}
		break
	}
	p.ring[p.head], p.head, p.out = nil, (p.head+1)%len(p.ring), p.out-1
	for i := range b.n {
		d := &b.res[i]
		if d.panicked {
			panic(d.data)
		}
		if d.err != nil {
			return d.err
		}
		if d.applied {
			l.state = p.r.typ.Evolve(l.state, d.data)
		}
		l.exists, l.rev, l.lastID = true, b.recs[i].Revision, b.recs[i].ID
	}
	clear(b.recs) // the records' data is garbage now
	clear(b.res[:b.n])
	b.recs, b.n, b.mine, p.spare = b.recs[:0], 0, false, b
	b.gen++
	return nil
}

// help decodes the oldest batch out after the first that no worker has
// claimed, and reports whether there was one.
func (p *pipeline[S]) help() bool {
	for i := 1; i < p.out; i++ {
		b := p.ring[(p.head+i)%len(p.ring)]
		if !b.mine && b.claim(b.gen) {
			p.decodeBatch(b)
			b.mine = true
			return true
		}
	}
	return false
}

// finish hands over the last, partial batch and applies every batch out.
func (p *pipeline[S]) finish(l *loaded[S]) error {
	if err := p.handOver(l); err != nil {
		return err
	}
	for p.out > 0 {
		if err := p.applyOldest(l); err != nil {
			return err
		}
	}
	return nil
}

// stop ends the workers (those busy finish their batch; batches not yet
// started are not decoded) and waits for them.
func (p *pipeline[S]) stop() {
	p.abort.Store(true)
	close(p.work)
	p.wg.Wait()
}

func (p *pipeline[S]) worker() {
	defer p.wg.Done()
	for j := range p.work {
		if p.abort.Load() || !j.b.claim(j.gen) {
			continue
		}
		p.decodeBatch(j.b)
		j.b.done <- struct{}{}
	}
}

// decodeBatch decodes b's records in order up to the first that fails or
// panics.
func (p *pipeline[S]) decodeBatch(b *batch) {
	defer func() {
		if v := recover(); v != nil {
			b.res[b.n] = decoded{data: v, panicked: true}
			b.n++
		}
	}()
	for i := range b.recs {
		ev, applied, err := p.r.decodeEvent(b.recs[i])
		b.res[i] = decoded{data: ev.Data, applied: applied, err: err}
		b.n = i + 1
		if err != nil {
			return
		}
	}
}
