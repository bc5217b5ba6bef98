package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	_ "modernc.org/sqlite" // the driver of rawScan

	"github.com/chronicle-go/chronicle/eventstore"
)

// Sizes scale a run.
type Sizes struct {
	Fsync        time.Duration // how long each fsync measurement runs
	Append       time.Duration // how long each append measurement runs
	MaxAppended  int           // events an append measurement writes at most
	StreamEvents int           // length of the stream read_stream reads
	AllEvents    int           // events in the store when $all is read
	Subscribed   int           // appends timed through a live subscription
}

// Full is the size of a normal run; Quick ends within a minute on two
// cores.
var (
	Full  = Sizes{Fsync: 2 * time.Second, Append: 3 * time.Second, MaxAppended: 300_000, StreamEvents: 100_000, AllEvents: 1_000_000, Subscribed: 2000}
	Quick = Sizes{Fsync: 500 * time.Millisecond, Append: time.Second, MaxAppended: 50_000, StreamEvents: 20_000, AllEvents: 100_000, Subscribed: 300}
)

// Options configure Run.
type Options struct {
	// URL is the store to measure, as for eventstore.Open; "" means a new
	// SQLite file in a temporary directory, removed afterwards.
	URL   string
	Sizes Sizes
	// Progress, when set, receives a line per phase.
	Progress io.Writer
	// Force lets Run write into a store given by URL that already holds
	// events; without it such a store is refused with ErrNotEmpty, so that a
	// benchmark never lands in a store someone uses by mistake.
	Force bool
	// Postgres, when set, is a PostgreSQL database URL to measure
	// projection/postgres in (in schemas of the run, dropped at the end).
	Postgres string
	// ThroughServer also measures reads, appends and subscriptions through
	// eventstore/esdbserver and the official client (see ServerResult).
	ThroughServer bool
}

// ErrNotEmpty is the error of Run on a store that holds events, without
// Options.Force.
var ErrNotEmpty = errors.New("bench: the store is not empty")

// Result is what a run measured. Rates are per second, latencies in
// microseconds. RawScanEventsPerS and ReadAllVsRaw are 0 for stores that
// are not SQLite files, BytesPerEvent for stores without a file.
type Result struct {
	Store string `json:"-"`
	// Prefix starts the names of the streams (and, with --postgres, the
	// schemas, '-' as '_') the run wrote.
	Prefix                   string  `json:"-"`
	FsyncPerS                float64 `json:"fsync_per_s"`
	Append1wPerS             float64 `json:"append_1w_per_s"`
	Append1wP50us            float64 `json:"append_1w_p50_us"`
	Append1wP99us            float64 `json:"append_1w_p99_us"`
	Append32wEventsPerS      float64 `json:"append_32w_events_per_s"`
	AppendBatch100EventsPerS float64 `json:"append_batch100_events_per_s"`
	ReadStreamEventsPerS     float64 `json:"read_stream_events_per_s"`
	ReadAllEventsPerS        float64 `json:"read_all_events_per_s"`
	RawScanEventsPerS        float64 `json:"raw_scan_events_per_s"`
	SubscribeLatencyP50us    float64 `json:"subscribe_latency_p50_us"`
	SubscribeLatencyP99us    float64 `json:"subscribe_latency_p99_us"`
	BytesPerEvent            float64 `json:"bytes_per_event"`
	Append1wVsFsync          float64 `json:"append_1w_vs_fsync"`
	Append32wVsFsync         float64 `json:"append_32w_vs_fsync"`
	Batch100VsFsync          float64 `json:"batch100_vs_fsync"`
	ReadAllVsRaw             float64 `json:"read_all_vs_raw"`
	SagaStepsPerS            float64 `json:"saga_steps_per_s"`
	SagaStepsVsAppend32w     float64 `json:"saga_steps_vs_append_32w"`
	// ProjectionCatchUpEventsPerS is the catch-up of a projection over the
	// same $all into an in-memory read model; ProjectionCatchUpVsReadAll
	// its ratio to ReadAllEventsPerS.
	ProjectionCatchUpEventsPerS float64 `json:"projection_catchup_events_per_s"`
	ProjectionCatchUpVsReadAll  float64 `json:"projection_catchup_vs_read_all"`
	// ProjectionSQLiteEventsPerS is the catch-up over the same $all into a
	// projection/sqlite read model, one row per event, with the checkpoint
	// in the same transaction; SQLiteInsertsPerS is plain batched inserts
	// of the same rows into a SQLite file with the same settings, and
	// ProjectionSQLiteVsInserts the ratio. The Postgres keys are the same
	// for projection/postgres, present when Options.Postgres is set.
	ProjectionSQLiteEventsPerS   float64 `json:"projection_sqlite_events_per_s"`
	SQLiteInsertsPerS            float64 `json:"sqlite_inserts_per_s"`
	ProjectionSQLiteVsInserts    float64 `json:"projection_sqlite_vs_inserts"`
	ProjectionPostgresEventsPerS float64 `json:"projection_postgres_events_per_s,omitempty"`
	PostgresInsertsPerS          float64 `json:"postgres_inserts_per_s,omitempty"`
	ProjectionPostgresVsInserts  float64 `json:"projection_postgres_vs_inserts,omitempty"`
	// PersistentEventsPerS is the run's events of $all consumed through one
	// persistent subscription group by 4 consumers acking every event
	// (persistent.go); PersistentVsReadAll its ratio to ReadAllEventsPerS.
	// Both are 0 for a store without eventstore.PersistentSubscriptions.
	PersistentEventsPerS float64 `json:"persistent_events_per_s"`
	PersistentVsReadAll  float64 `json:"persistent_vs_read_all"`
	// RawScanStreamEventsPerS is the raw scan of the stream read_stream
	// read, ReadStreamVsRaw the ratio; ReadAllAllocsPerEvent the heap
	// allocations of the $all read per event (runtime.MemStats.Mallocs).
	RawScanStreamEventsPerS float64 `json:"raw_scan_stream_events_per_s"`
	ReadStreamVsRaw         float64 `json:"read_stream_vs_raw"`
	ReadAllAllocsPerEvent   float64 `json:"read_all_allocs_per_event"`
	// AggregateLoadEventsPerS is the load of one 10 000-event aggregate
	// through aggregate.Repository (registry decode included),
	// AggregateLoadVsReadStream its ratio to ReadStreamEventsPerS.
	AggregateLoadEventsPerS   float64 `json:"aggregate_load_events_per_s"`
	AggregateLoadVsReadStream float64 `json:"aggregate_load_vs_read_stream"`
	// AggregateDecodeEventsPerS is encoding/json.Unmarshal of the same
	// events' data alone, from memory: the floor of a load that decodes
	// with encoding/json one event after the other.
	// AggregateDecodeVsReadStream is its ratio to ReadStreamEventsPerS (the
	// best AggregateLoadVsReadStream such a load can reach) and
	// AggregateLoadVsDecode the load's ratio to it.
	AggregateDecodeEventsPerS   float64 `json:"aggregate_decode_events_per_s"`
	AggregateDecodeVsReadStream float64 `json:"aggregate_decode_vs_read_stream"`
	AggregateLoadVsDecode       float64 `json:"aggregate_load_vs_decode"`
	// *ServerResult holds the through-server figures (its keys inline),
	// nil without Options.ThroughServer.
	*ServerResult
}

// fileStore is what a file-backed store (eventstore/sqlite) offers.
type fileStore interface {
	Path() string
}

// payload is a typical small event.
var payload = []byte(`{"orderId":"order-42","customer":"c-7","lines":[{"sku":"A-1","qty":2,"price":1250}],"total":2500}`)

func newEvent() eventstore.EventData {
	return eventstore.EventData{ID: uuid.New(), Type: "OrderPlaced", Data: payload, Metadata: []byte(`{"$correlationId":"bench"}`)}
}

// Run measures the store. It writes streams named bench-<run>-… and, for
// $all, enough events to hold Sizes.AllEvents in total.
func Run(ctx context.Context, o Options) (res Result, err error) {
	url := o.URL
	if url == "" {
		dir, err := os.MkdirTemp("", "chronicle-bench-")
		if err != nil {
			return res, fmt.Errorf("bench: %w", err)
		}
		defer os.RemoveAll(dir)
		url = "sqlite://" + filepath.Join(dir, "bench.db")
	}
	res.Store = url
	s, err := eventstore.Open(ctx, url)
	if err != nil {
		return res, fmt.Errorf("bench: open %s: %w", url, err)
	}
	closed := false
	defer func() {
		if !closed {
			s.Close()
		}
	}()
	if o.URL != "" && !o.Force {
		if err := checkEmpty(ctx, s); err != nil {
			return res, err
		}
	}
	r := &runner{ctx: ctx, s: s, sz: o.Sizes, out: o.Progress, prefix: "bench-" + uuid.NewString()[:8], streams: map[string]bool{}}
	res.Prefix = r.prefix
	if o.URL != "" {
		// A store the caller named keeps nothing of the run: delete its
		// streams, even when the run fails or is interrupted.
		defer func() {
			if cerr := r.cleanup(); cerr != nil && err == nil {
				err = cerr
			}
		}()
	}
	fs, isFile := s.(fileStore)
	dir := os.TempDir()
	if isFile {
		dir = filepath.Dir(fs.Path())
	}
	allEvents := 0 // events in $all, as read_all read them
	steps := []struct {
		name string
		run  func() error
	}{
		{"fsync", func() (err error) { res.FsyncPerS, err = r.fsync(dir); return err }},
		{"append, 1 writer", func() (err error) {
			res.Append1wPerS, res.Append1wP50us, res.Append1wP99us, err = r.append1()
			return err
		}},
		{"append, 32 writers", func() (err error) { res.Append32wEventsPerS, err = r.append32(); return err }},
		{"append, batches of 100", func() (err error) { res.AppendBatch100EventsPerS, err = r.batch100(); return err }},
		{"sagas, 32 concurrent", func() (err error) { res.SagaStepsPerS, err = r.sagaSteps(); return err }},
		{"fsync again", func() error {
			again, err := r.fsync(dir)
			res.FsyncPerS = (res.FsyncPerS + again) / 2 // the disk is shared: average before and after
			return err
		}},
		{"subscription latency", func() (err error) {
			res.SubscribeLatencyP50us, res.SubscribeLatencyP99us, err = r.subscribe()
			return err
		}},
		{"read a stream", func() (err error) { res.ReadStreamEventsPerS, err = r.readStream(); return err }},
		{"read $all", func() (err error) {
			res.ReadAllEventsPerS, allEvents, err = r.readAll()
			res.ReadAllAllocsPerEvent = float64(r.readAllMallocs) / float64(max(allEvents, 1))
			return err
		}},
		{"projection catch-up", func() (err error) {
			res.ProjectionCatchUpEventsPerS, err = r.projectionCatchUp(allEvents)
			return err
		}},
		{"persistent subscription, 4 consumers", func() (err error) { res.PersistentEventsPerS, err = r.persistentEvents(); return err }},
		{"projection into SQLite", func() (err error) {
			res.ProjectionSQLiteEventsPerS, res.SQLiteInsertsPerS, err = r.sqliteProjection(dir, allEvents)
			return err
		}},
		{"projection into PostgreSQL", func() (err error) {
			if o.Postgres == "" {
				return nil
			}
			res.ProjectionPostgresEventsPerS, res.PostgresInsertsPerS, err = r.postgresProjection(o.Postgres, allEvents)
			return err
		}},
		{"aggregate load", func() (err error) {
			res.AggregateLoadEventsPerS, res.AggregateDecodeEventsPerS, err = r.aggregateLoad()
			return err
		}},
		{"through the server", func() error {
			if !o.ThroughServer {
				return nil
			}
			return r.throughServer(&res, allEvents, o.URL != "")
		}},
		{"raw scan", func() (err error) {
			if !isFile {
				return nil
			}
			res.RawScanEventsPerS, err = timedRawScan(func() (int, error) { return rawScan(ctx, fs.Path()) })
			if err == nil {
				res.RawScanStreamEventsPerS, err = timedRawScan(func() (int, error) { return rawScanStream(ctx, fs.Path(), r.prefix+"-long") })
			}
			return err
		}},
	}
	for _, st := range steps {
		r.progress("%s…", st.name)
		if err := st.run(); err != nil {
			return res, fmt.Errorf("bench: %s: %w", st.name, err)
		}
	}
	if isFile {
		if o.URL != "" {
			if err := r.cleanup(); err != nil {
				return res, err
			}
		}
		closed = true
		if err := s.Close(); err != nil {
			return res, fmt.Errorf("bench: close: %w", err)
		}
		fi, err := os.Stat(fs.Path())
		if err != nil {
			return res, fmt.Errorf("bench: %w", err)
		}
		res.BytesPerEvent = float64(fi.Size()) / float64(r.total.Load())
	}
	res.Append1wVsFsync = ratio(res.Append1wPerS, res.FsyncPerS)
	res.Append32wVsFsync = ratio(res.Append32wEventsPerS, res.FsyncPerS)
	res.Batch100VsFsync = ratio(res.AppendBatch100EventsPerS, res.FsyncPerS)
	res.ReadAllVsRaw = ratio(res.ReadAllEventsPerS, res.RawScanEventsPerS)
	res.ReadStreamVsRaw = ratio(res.ReadStreamEventsPerS, res.RawScanStreamEventsPerS)
	res.AggregateLoadVsReadStream = ratio(res.AggregateLoadEventsPerS, res.ReadStreamEventsPerS)
	res.AggregateDecodeVsReadStream = ratio(res.AggregateDecodeEventsPerS, res.ReadStreamEventsPerS)
	res.AggregateLoadVsDecode = ratio(res.AggregateLoadEventsPerS, res.AggregateDecodeEventsPerS)
	res.SagaStepsVsAppend32w = ratio(res.SagaStepsPerS, res.Append32wEventsPerS)
	res.ProjectionCatchUpVsReadAll = ratio(res.ProjectionCatchUpEventsPerS, res.ReadAllEventsPerS)
	res.PersistentVsReadAll = ratio(res.PersistentEventsPerS, res.ReadAllEventsPerS)
	res.ProjectionSQLiteVsInserts = ratio(res.ProjectionSQLiteEventsPerS, res.SQLiteInsertsPerS)
	res.ProjectionPostgresVsInserts = ratio(res.ProjectionPostgresEventsPerS, res.PostgresInsertsPerS)
	return res, nil
}

type runner struct {
	ctx    context.Context
	s      eventstore.Store
	sz     Sizes
	out    io.Writer
	prefix string
	total  atomic.Int64 // events in the store, as far as this run knows
	placed int          // this run's OrderPlaced events in $all, counted by readAll
	// readAllMallocs is the heap allocations of readAll's read.
	readAllMallocs uint64

	mu      sync.Mutex
	streams map[string]bool // written by this run, not yet deleted
}

// track notes a stream the run writes, for cleanup.
func (r *runner) track(stream string) {
	r.mu.Lock()
	r.streams[stream] = true
	r.mu.Unlock()
}

// cleanup deletes the streams the run wrote (soft delete: they read as not
// found). It runs after a cancelled run too, with its own deadline.
func (r *runner) cleanup() error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), time.Minute)
	defer cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, stream := range slices.Sorted(maps.Keys(r.streams)) {
		if _, err := r.s.Delete(ctx, stream, eventstore.Any); err != nil && !neverWritten(err) {
			return fmt.Errorf("bench: delete %q: %w", stream, err)
		}
		delete(r.streams, stream)
	}
	return nil
}

// neverWritten reports whether a Delete failed because the stream does not
// exist: a writer that ran out of time before its first append leaves none.
func neverWritten(err error) bool {
	var wev *eventstore.WrongExpectedVersionError
	return errors.Is(err, eventstore.ErrStreamNotFound) || errors.As(err, &wev) && wev.Actual.IsNoStream()
}

// checkEmpty returns ErrNotEmpty if s holds any event.
func checkEmpty(ctx context.Context, s eventstore.Store) error {
	for _, err := range s.ReadAll(ctx, eventstore.ReadAllOptions{MaxCount: 1}) {
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		return fmt.Errorf("%w: it holds events; use --force to write bench-* streams into it anyway (they are deleted afterwards)", ErrNotEmpty)
	}
	return nil
}

func (r *runner) progress(format string, args ...any) {
	if r.out != nil {
		fmt.Fprintf(r.out, "bench: "+format+"\n", args...)
	}
}

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// percentile returns the p-th percentile of sorted durations, in µs.
func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := min(int(p*float64(len(sorted))), len(sorted)-1)
	return float64(sorted[i]) / float64(time.Microsecond)
}

// fsync appends 4 KiB blocks to a file in dir, each fdatasync'd: the
// disk's rate of durable writes, which bounds durable appends.
func (r *runner) fsync(dir string) (float64, error) {
	f, err := os.CreateTemp(dir, ".chronicle-fsync-")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	block := make([]byte, 4096)
	n := 0
	start := time.Now()
	for time.Since(start) < r.sz.Fsync && r.ctx.Err() == nil {
		if _, err := f.Write(block); err != nil {
			return 0, err
		}
		if err := datasync(f); err != nil {
			return 0, err
		}
		n++
	}
	return rate(n, time.Since(start)), r.ctx.Err()
}

// timed runs appends of perAppend events from writers goroutines, each on
// its own stream, until the time or event budget is spent. It returns the
// events written, the time taken and, per append, its latency.
func (r *runner) timed(name string, writers, perAppend int) (int, time.Duration, []time.Duration, error) {
	var (
		written atomic.Int64
		mu      sync.Mutex
		lat     []time.Duration
		firstEr error
		wg      sync.WaitGroup
	)
	start := time.Now()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := fmt.Sprintf("%s-%s-%d", r.prefix, name, w)
			r.track(stream)
			evs := make([]eventstore.EventData, perAppend)
			var mine []time.Duration
			defer func() { mu.Lock(); lat = append(lat, mine...); mu.Unlock() }()
			// At least one append each: on a loaded machine a writer may start
			// after the time is up.
			for first := true; first || (time.Since(start) < r.sz.Append && written.Load() < int64(r.sz.MaxAppended)); first = false {
				for i := range evs {
					evs[i] = newEvent()
				}
				t0 := time.Now()
				if _, err := r.s.Append(r.ctx, stream, eventstore.Any, evs...); err != nil {
					mu.Lock()
					firstEr = cmpErr(firstEr, err)
					mu.Unlock()
					return
				}
				mine = append(mine, time.Since(t0))
				written.Add(int64(perAppend))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	r.total.Add(written.Load())
	slices.Sort(lat)
	return int(written.Load()), elapsed, lat, firstEr
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

func (r *runner) append1() (perS, p50, p99 float64, err error) {
	n, d, lat, err := r.timed("1w", 1, 1)
	return rate(n, d), percentile(lat, 0.50), percentile(lat, 0.99), err
}

func (r *runner) append32() (float64, error) {
	n, d, _, err := r.timed("32w", 32, 1)
	return rate(n, d), err
}

func (r *runner) batch100() (float64, error) {
	n, d, _, err := r.timed("batch", 1, 100)
	return rate(n, d), err
}

// subscribe appends one event at a time while a live $all subscription
// (filtered to this run's stream) receives them, and measures from each
// append's return to the subscriber's receipt (0 when the subscriber had it
// first).
func (r *runner) subscribe() (p50, p99 float64, err error) {
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	stream := r.prefix + "-sub"
	r.track(stream)
	got := make(chan time.Time, r.sz.Subscribed)
	ready := make(chan struct{})
	subErr := make(chan error, 1)
	go func() {
		defer close(got)
		f := eventstore.StreamPrefixFilter(stream)
		caughtUp := false
		for m, err := range r.s.SubscribeToAll(ctx, eventstore.SubscribeAllOptions{From: eventstore.End, Filter: f}) {
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					subErr <- err
				}
				return
			}
			switch m.Kind {
			case eventstore.MessageCaughtUp:
				if !caughtUp {
					caughtUp = true
					close(ready)
				}
			case eventstore.MessageEvent:
				got <- time.Now()
			}
		}
	}()
	select {
	case <-ready:
	case err := <-subErr:
		return 0, 0, err
	}
	lat := make([]time.Duration, 0, r.sz.Subscribed)
	for range r.sz.Subscribed {
		if _, err := r.s.Append(ctx, stream, eventstore.Any, newEvent()); err != nil {
			return 0, 0, err
		}
		returned := time.Now()
		select {
		case at, ok := <-got:
			if !ok {
				return 0, 0, cmpErr(<-subErr, errors.New("subscription ended"))
			}
			lat = append(lat, max(at.Sub(returned), 0))
		case err := <-subErr:
			return 0, 0, err
		}
	}
	r.total.Add(int64(r.sz.Subscribed))
	slices.Sort(lat)
	return percentile(lat, 0.50), percentile(lat, 0.99), nil
}

// seed appends n events to stream in appends of 1000.
func (r *runner) seed(stream string, n int) error {
	r.track(stream)
	evs := make([]eventstore.EventData, 0, 1000)
	for n > 0 {
		evs = evs[:0]
		for range min(n, 1000) {
			evs = append(evs, newEvent())
		}
		if _, err := r.s.Append(r.ctx, stream, eventstore.Any, evs...); err != nil {
			return err
		}
		n -= len(evs)
		r.total.Add(int64(len(evs)))
	}
	return nil
}

func (r *runner) readStream() (float64, error) {
	stream := r.prefix + "-long"
	if err := r.seed(stream, r.sz.StreamEvents); err != nil {
		return 0, err
	}
	return r.timeStream(stream)
}

// timeStream reads the Sizes.StreamEvents events of stream.
func (r *runner) timeStream(stream string) (float64, error) {
	start := time.Now()
	n := 0
	for _, err := range r.s.ReadStream(r.ctx, stream, eventstore.ReadOptions{}) {
		if err != nil {
			return 0, err
		}
		n++
	}
	d := time.Since(start)
	if n != r.sz.StreamEvents {
		return 0, fmt.Errorf("read %d events of %d", n, r.sz.StreamEvents)
	}
	return rate(n, d), nil
}

func (r *runner) readAll() (float64, int, error) {
	for i := 0; r.total.Load() < int64(r.sz.AllEvents); i++ {
		if err := r.seed(fmt.Sprintf("%s-all-%d", r.prefix, i%100), int(min(int64(r.sz.AllEvents)-r.total.Load(), 10_000))); err != nil {
			return 0, 0, err
		}
		if i%10 == 9 {
			r.progress("  %d of %d events", r.total.Load(), r.sz.AllEvents)
		}
	}
	return r.timeAll(0)
}

// timeAll reads $all, up to limit events (0: all of it), and counts the
// read's heap allocations.
func (r *runner) timeAll(limit uint64) (float64, int, error) {
	m0 := mallocs()
	start := time.Now()
	n := 0
	for e, err := range r.s.ReadAll(r.ctx, eventstore.ReadAllOptions{MaxCount: limit}) {
		if err != nil {
			return 0, 0, err
		}
		n++
		if r.placedByRun(&e) {
			r.placed++
		}
	}
	d := time.Since(start)
	r.readAllMallocs = mallocs() - m0
	return rate(n, d), n, nil
}

// placedByRun reports whether e is one of the OrderPlaced events this run
// wrote (the projections must handle each of them).
func (r *runner) placedByRun(e *eventstore.RecordedEvent) bool {
	return e.Type == "OrderPlaced" && strings.HasPrefix(e.Stream, r.prefix+"-")
}

// Table formats a result for people.
func (res Result) Table() string {
	var b strings.Builder
	row := func(name, value, note string) {
		b.WriteString(strings.TrimRight(fmt.Sprintf("%-40s %14s  %s", name, value, note), " ") + "\n")
	}
	num := func(v float64) string { return fmt.Sprintf("%.0f", v) }
	row("store", "", res.Store)
	row("fsync_per_s", num(res.FsyncPerS), "fdatasync'd 4 KiB appends beside the store: the disk's limit")
	row("append_1w_per_s", num(res.Append1wPerS), fmt.Sprintf("%.2f × fsync; p50 %.0f µs, p99 %.0f µs", res.Append1wVsFsync, res.Append1wP50us, res.Append1wP99us))
	row("append_32w_events_per_s", num(res.Append32wEventsPerS), fmt.Sprintf("%.2f × fsync", res.Append32wVsFsync))
	row("append_batch100_events_per_s", num(res.AppendBatch100EventsPerS), fmt.Sprintf("%.2f × fsync", res.Batch100VsFsync))
	row("saga_steps_per_s", num(res.SagaStepsPerS), fmt.Sprintf("%.2f × append_32w; three-step sagas, 32 concurrent", res.SagaStepsVsAppend32w))
	row("read_stream_events_per_s", num(res.ReadStreamEventsPerS), rawNote(res.ReadStreamVsRaw, res.RawScanStreamEventsPerS))
	row("read_all_events_per_s", num(res.ReadAllEventsPerS), rawNote(res.ReadAllVsRaw, res.RawScanEventsPerS))
	row("read_all_allocs_per_event", fmt.Sprintf("%.2f", res.ReadAllAllocsPerEvent), "heap allocations of the $all read, per event")
	row("aggregate_load_events_per_s", num(res.AggregateLoadEventsPerS),
		fmt.Sprintf("%.2f × read_stream: one 10 000-event aggregate through aggregate.Repository", res.AggregateLoadVsReadStream))
	row("aggregate_decode_events_per_s", num(res.AggregateDecodeEventsPerS),
		fmt.Sprintf("%.2f × read_stream; the load is %.2f × this: encoding/json.Unmarshal of the same events alone", res.AggregateDecodeVsReadStream, res.AggregateLoadVsDecode))
	row("projection_catchup_events_per_s", num(res.ProjectionCatchUpEventsPerS),
		fmt.Sprintf("%.2f × read_all: $all into an in-memory read model through projection.Runner", res.ProjectionCatchUpVsReadAll))
	row("persistent_events_per_s", num(res.PersistentEventsPerS),
		fmt.Sprintf("%.2f × read_all: one persistent subscription group of $all, 4 consumers acking every event", res.PersistentVsReadAll))
	row("projection_sqlite_events_per_s", num(res.ProjectionSQLiteEventsPerS),
		fmt.Sprintf("%.2f × plain batched inserts (%.0f rows/s): $all into projection/sqlite", res.ProjectionSQLiteVsInserts, res.SQLiteInsertsPerS))
	if res.ProjectionPostgresEventsPerS > 0 {
		row("projection_postgres_events_per_s", num(res.ProjectionPostgresEventsPerS),
			fmt.Sprintf("%.2f × plain batched inserts (%.0f rows/s): $all into projection/postgres", res.ProjectionPostgresVsInserts, res.PostgresInsertsPerS))
	} else {
		row("projection_postgres_events_per_s", "-", "no --postgres URL")
	}
	if res.RawScanEventsPerS > 0 {
		row("raw_scan_events_per_s", num(res.RawScanEventsPerS), "plain SQL scan of the events table")
	} else {
		row("raw_scan_events_per_s", "-", "not a SQLite store")
	}
	row("subscribe_latency_p50_us", num(res.SubscribeLatencyP50us), "append returned → live subscriber has it")
	row("subscribe_latency_p99_us", num(res.SubscribeLatencyP99us), "")
	if res.ServerResult != nil {
		res.ServerResult.table(row)
	}
	if res.BytesPerEvent > 0 {
		row("bytes_per_event", num(res.BytesPerEvent), "file size / events")
	} else {
		row("bytes_per_event", "-", "no file")
	}
	return b.String()
}

// rawNote is the note of a read beside its raw scan (none when there was
// none).
func rawNote(vsRaw, raw float64) string {
	if raw == 0 {
		return ""
	}
	return fmt.Sprintf("%.2f × raw scan (%.0f rows/s)", vsRaw, raw)
}
