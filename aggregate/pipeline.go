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
// batch; a full batch goes to the workers, and once depth batches are out
// it waits for the oldest and applies it before it hands over the next:
// at most depth+1 batches of records are held. Batches are recycled.
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
	work  chan *batch
	ring  []*batch // batches handed over, oldest at ring[head]
	head  int
	out   int // batches handed over, not yet applied
	cur   *batch
	spare *batch // applied, for reuse
	abort atomic.Bool
	wg    sync.WaitGroup
}

// A batch is records of a load and, once a worker is done with it (done
// has a value), the first n of them decoded.
type batch struct {
	recs []eventstore.RecordedEvent
	res  []decoded
	n    int
	done chan struct{}
}

// decoded is one record's outcome.
type decoded struct {
	data     any
	applied  bool // false: skipped by the registry
	err      error
	panicked bool // decoding panicked with value data
}

func newPipeline[S any](r *Repository[S], workers, size int) *pipeline[S] {
	depth := 2 * workers
	p := &pipeline[S]{r: r, size: size, work: make(chan *batch, depth), ring: make([]*batch, depth)}
	p.cur = p.newBatch()
	p.wg.Add(workers)
	for range workers {
		go p.worker()
	}
	return p
}

func (p *pipeline[S]) newBatch() *batch {
	return &batch{recs: make([]eventstore.RecordedEvent, 0, p.size), res: make([]decoded, p.size), done: make(chan struct{}, 1)}
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
	p.ring[(p.head+p.out)%len(p.ring)] = p.cur
	p.out++
	p.work <- p.cur // never blocks: the channel holds depth batches
	p.cur, p.spare = p.spare, nil
	if p.cur == nil {
		p.cur = p.newBatch()
	}
	return nil
}

// applyOldest waits for the oldest batch out and applies its events to l
// in order, up to the first error, as load does.
func (p *pipeline[S]) applyOldest(l *loaded[S]) error {
	b := p.ring[p.head]
	<-b.done
	p.ring[p.head], p.head, p.out = nil, (p.head+1)%len(p.ring), p.out-1
	for i := range b.n {
		if b.res[i].panicked {
			panic(b.res[i].data)
		}
		d := &b.res[i]
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
	b.recs, b.n, p.spare = b.recs[:0], 0, b
	return nil
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
	for b := range p.work {
		if !p.abort.Load() {
			p.decodeBatch(b)
		}
		b.done <- struct{}{}
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
