package aggregate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"

	"github.com/chronicle-go/chronicle/aggregate"
	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/schema"
)

// The parallel decoding of long loads is checked against the sequential
// one (aggregate.WithDecoding(0, 0, 0)) on the same stores.

// trail is a state that depends on every event applied and on their order.
type trail struct {
	Hash   uint64 `json:"hash"`
	Events int    `json:"events"`
}

// Charged is version 2 of FeeCharged; version 1 ({"fee":n}) is upcast to it.
// A negative fee makes the upcaster fail, a fee of 13 makes it panic.
type Charged struct {
	Amount int `json:"amount" jsonschema:"required"`
}

var errNegativeFee = errors.New("negative fee")

func upcastFee(data json.RawMessage) (json.RawMessage, error) {
	var v1 struct {
		Fee int `json:"fee"`
	}
	if err := json.Unmarshal(data, &v1); err != nil {
		return nil, err
	}
	switch {
	case v1.Fee < 0:
		return nil, errNegativeFee
	case v1.Fee == 13:
		panic("unlucky fee")
	}
	return json.Marshal(Charged{Amount: v1.Fee})
}

func trailRegistry(t testing.TB, opts ...schema.Option) *schema.Registry {
	t.Helper()
	reg := newRegistry(t, opts...)
	if err := schema.Register[Charged](reg, "FeeCharged", 2, schema.UpcastFrom(upcastFee)); err != nil {
		t.Fatal(err)
	}
	return reg
}

// trailType returns the trail aggregate's type; its Evolve counts its calls.
func trailType(calls *atomic.Int64) aggregate.Type[trail] {
	return aggregate.Type[trail]{Category: "trail", Evolve: func(s trail, event any) trail {
		calls.Add(1)
		v := uint64(0)
		switch e := event.(type) {
		case Deposited:
			v = uint64(e.Amount)
		case Charged:
			v = uint64(e.Amount) << 32
		}
		s.Hash = (s.Hash ^ v) * 1099511628211 // FNV-like: order matters
		s.Events++
		return s
	}}
}

// kinds of raw events in a trail's stream.
type kind int

const (
	kDeposit   kind = iota // MoneyDeposited v1
	kFee                   // FeeCharged v1, upcast to v2
	kUnknown               // a type the registry does not know: skipped or an error
	kFuture                // MoneyDeposited v9: skipped or an error
	kMalformed             // MoneyDeposited whose data does not decode
	kBadFee                // FeeCharged v1 whose upcaster fails
)

func rawEvent(k kind, n int) eventstore.EventData {
	ev := eventstore.EventData{ID: uuid.New(), Type: "MoneyDeposited", Data: []byte(`{"amount":` + strconv.Itoa(n) + `}`)}
	switch k {
	case kFee:
		ev.Type, ev.Data, ev.Metadata = "FeeCharged", []byte(`{"fee":`+strconv.Itoa(n)+`}`), []byte(`{"schemaVersion":"1"}`)
	case kBadFee:
		ev.Type, ev.Data, ev.Metadata = "FeeCharged", []byte(`{"fee":-1}`), []byte(`{"schemaVersion":"1"}`)
	case kUnknown:
		ev.Type = "Mystery"
	case kFuture:
		ev.Metadata = []byte(`{"schemaVersion":"9"}`)
	case kMalformed:
		ev.Data = []byte(`{"amount":"lots"}`)
	}
	return ev
}

func appendKinds(t testing.TB, store eventstore.Store, stream string, kinds []kind, rng *rand.Rand) {
	t.Helper()
	for len(kinds) > 0 {
		chunk := kinds[:min(len(kinds), 500)]
		kinds = kinds[len(chunk):]
		data := make([]eventstore.EventData, len(chunk))
		for i, k := range chunk {
			data[i] = rawEvent(k, 1+rng.IntN(12))
		}
		if _, err := store.Append(context.Background(), stream, eventstore.Any, data...); err != nil {
			t.Fatal(err)
		}
	}
}

// cutStore ends reads of one stream after cut events (the cut-th read of
// it and later ones; -1: never) with err, or, when cancel is set, cancels
// the read's context there and lets the store notice.
type cutStore struct {
	eventstore.Store
	stream string
	cut    int
	err    error
	cancel context.CancelFunc
}

func (c *cutStore) ReadStream(ctx context.Context, stream string, opts eventstore.ReadOptions) iter.Seq2[eventstore.RecordedEvent, error] {
	inner := c.Store.ReadStream(ctx, stream, opts)
	if stream != c.stream || c.cut < 0 {
		return inner
	}
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		n := 0
		for rec, err := range inner {
			if n == c.cut && err == nil {
				if c.cancel != nil {
					c.cancel()
				} else {
					yield(eventstore.RecordedEvent{}, c.err)
					return
				}
			}
			n++
			if !yield(rec, err) {
				return
			}
		}
	}
}

// loadedCounter sums a meter provider's chronicle.aggregate.events.loaded.
func loadedCounter(t testing.TB, reader *sdkmetric.ManualReader) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if d, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "chronicle.aggregate.events.loaded" {
				for _, dp := range d.DataPoints {
					n += dp.Value
				}
			}
		}
	}
	return n
}

// sentinels are the errors whose matching (errors.Is) must not change.
var sentinels = []error{
	aggregate.ErrNotFound, schema.ErrMalformed, schema.ErrUpcast, schema.ErrUnknownType, schema.ErrSkipped,
	errNegativeFee, errInjected, context.Canceled, eventstore.ErrStreamNotFound,
}

// loader is one repository under comparison, with what it observed.
type loader struct {
	repo   *aggregate.Repository[trail]
	calls  *atomic.Int64
	reader *sdkmetric.ManualReader
}

func newLoader(t testing.TB, store eventstore.Store, reg *schema.Registry, opts ...aggregate.Option) loader {
	t.Helper()
	l := loader{calls: new(atomic.Int64), reader: sdkmetric.NewManualReader()}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(l.reader))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	l.repo = mustRepo(t, store, reg, trailType(l.calls), append(opts, aggregate.WithMeterProvider(mp))...)
	return l
}

// outcome is what one load did, for comparison.
type outcome struct {
	Root    aggregate.Root[trail]
	Err     string
	Is      []bool
	Evolves int64
	Loaded  int64
}

func (l loader) run(t testing.TB, load func(*aggregate.Repository[trail]) (aggregate.Root[trail], error)) outcome {
	t.Helper()
	calls, loaded := l.calls.Load(), loadedCounter(t, l.reader)
	root, err := load(l.repo)
	o := outcome{Root: root, Evolves: l.calls.Load() - calls, Loaded: loadedCounter(t, l.reader) - loaded}
	if err != nil {
		o.Err = err.Error()
		for _, s := range sentinels {
			o.Is = append(o.Is, errors.Is(err, s))
		}
	}
	return o
}

var cmpRoot = cmp.Comparer(func(a, b eventstore.ExpectedRevision) bool { return a.String() == b.String() })

// scenario is one random stream and how it is read.
type scenario struct {
	skip     bool // the registry skips unknown types and versions
	prefix   []kind
	snapshot bool // taken after prefix (with one more deposit)
	suffix   []kind
	truncate uint64 // $tb, 0: none
	cut      int    // events after which reads fail (-1: never)
	cutErr   error  // nil: the context is cancelled there
	decoding []aggregate.Option
	upTo     []uint64
}

func (s scenario) String() string {
	return fmt.Sprintf("skip=%v prefix=%d snapshot=%v suffix=%d truncate=%d cut=%d cutErr=%v decoding=%d upTo=%v",
		s.skip, len(s.prefix), s.snapshot, len(s.suffix), s.truncate, s.cut, s.cutErr, len(s.decoding), s.upTo)
}

func randomLength(rng *rand.Rand) int {
	switch rng.IntN(4) {
	case 0:
		return rng.IntN(40)
	case 1:
		return 500 + rng.IntN(30) // around the default threshold (512)
	default:
		return 600 + rng.IntN(3000)
	}
}

func randomScenario(rng *rand.Rand) scenario {
	s := scenario{skip: rng.IntN(2) == 0, cut: -1}
	good := func() kind {
		switch r := rng.IntN(20); {
		case r < 14:
			return kDeposit
		case r < 18 || !s.skip:
			return kFee
		case r == 18:
			return kUnknown
		}
		return kFuture
	}
	badRate := []float64{0, 0, 1.0 / 3000, 1.0 / 300}[rng.IntN(4)]
	s.prefix = make([]kind, randomLength(rng))
	for i := range s.prefix {
		s.prefix[i] = good()
	}
	s.snapshot = len(s.prefix) > 0 && rng.IntN(2) == 0
	s.suffix = make([]kind, randomLength(rng))
	for i := range s.suffix {
		s.suffix[i] = good()
		if rng.Float64() < badRate {
			s.suffix[i] = kind(2 + rng.IntN(4)) // unknown, future, malformed, bad fee
		}
	}
	total := len(s.prefix) + len(s.suffix)
	if s.snapshot {
		total++
	}
	if total > 0 && rng.IntN(6) == 0 {
		s.truncate = uint64(rng.IntN(total))
	}
	if total > 0 && rng.IntN(4) == 0 {
		s.cut = rng.IntN(total)
		switch rng.IntN(3) {
		case 0:
			s.cutErr = errInjected
		case 1:
			s.cutErr = &eventstore.StreamNotFoundError{Stream: "trail-1"}
		}
	}
	if rng.IntN(2) == 0 { // else the defaults
		s.decoding = []aggregate.Option{aggregate.WithDecoding(1+rng.IntN(64), 1+rng.IntN(40), 1+rng.IntN(4))}
	}
	for range 3 {
		s.upTo = append(s.upTo, uint64(rng.IntN(total+3)))
	}
	return s
}

// TestParallelDecodingMatchesSequential loads random streams, long and
// short, with every kind of event (upcast, skipped, unknown, malformed,
// failing upcasts), snapshots valid and stale, truncation, LoadAt, store
// errors and cancellation at random points, with parallel decoding and
// without, and compares everything: state, revision, error (message and
// errors.Is), Evolve calls and the events.loaded metric.
func TestParallelDecodingMatchesSequential(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	cases := 60
	if testing.Short() {
		cases = 15
	}
	started := aggregate.Pipelines()
	var failedInPipeline, comparisons int
	for c := range cases {
		s := randomScenario(rng)
		t.Run(strconv.Itoa(c), func(t *testing.T) {
			var opts []schema.Option
			if s.skip {
				opts = append(opts, schema.WithUnknown(schema.Skip))
			}
			reg := trailRegistry(t, opts...)
			mem := memory.New()
			defer mem.Close()
			appendKinds(t, mem, "trail-1", s.prefix, rng)
			if s.snapshot {
				taker := newLoader(t, mem, reg, aggregate.WithSnapshotEvery(1))
				mustDo(taker.repo.Execute(context.Background(), "1", func(trail) ([]any, error) { return []any{Deposited{Amount: 1}}, nil }))
			}
			appendKinds(t, mem, "trail-1", s.suffix, rng)
			if s.truncate > 0 {
				if _, err := mem.SetStreamMetadata(context.Background(), "trail-1", eventstore.Any, eventstore.StreamMetadata{TruncateBefore: s.truncate}); err != nil {
					t.Fatal(err)
				}
			}
			store := &cutStore{Store: mem, stream: "trail-1", cut: s.cut, err: s.cutErr}
			var snap []aggregate.Option
			if s.snapshot {
				snap = append(snap, aggregate.WithSnapshotEvery(1))
			}
			seq := newLoader(t, store, reg, append(snap, aggregate.WithDecoding(0, 0, 0))...)
			par := newLoader(t, store, reg, append(snap, s.decoding...)...)
			loads := []func(*aggregate.Repository[trail], context.Context) (aggregate.Root[trail], error){
				func(r *aggregate.Repository[trail], ctx context.Context) (aggregate.Root[trail], error) {
					return r.Load(ctx, "1")
				},
			}
			for _, rev := range s.upTo {
				loads = append(loads, func(r *aggregate.Repository[trail], ctx context.Context) (aggregate.Root[trail], error) {
					return r.LoadAt(ctx, "1", rev)
				})
			}
			for i, load := range loads {
				outcomes := make([]outcome, 2)
				for j, l := range []loader{seq, par} {
					ctx, cancel := context.WithCancel(context.Background())
					store.cancel = nil
					if s.cut >= 0 && s.cutErr == nil {
						store.cancel = cancel
					}
					before := aggregate.Pipelines()
					outcomes[j] = l.run(t, func(r *aggregate.Repository[trail]) (aggregate.Root[trail], error) { return load(r, ctx) })
					cancel()
					if j == 1 && aggregate.Pipelines() > before && outcomes[j].Err != "" {
						failedInPipeline++
					}
				}
				comparisons++
				if diff := cmp.Diff(outcomes[0], outcomes[1], cmpRoot); diff != "" {
					t.Errorf("%v\nload %d: sequential (-) and parallel (+) differ:\n%s", s, i, diff)
				}
			}
		})
	}
	if aggregate.Pipelines() == started {
		t.Error("no load decoded in parallel")
	}
	t.Logf("%d comparisons, %d pipelines, %d failed loads in a pipeline", comparisons, aggregate.Pipelines()-started, failedInPipeline)
}

// seedTrail appends n deposits of 1..12 to trail-<id>, and, at index bad
// (if in range), the event of kind k.
func seedTrail(t testing.TB, store eventstore.Store, id string, n, bad int, k kind) {
	t.Helper()
	kinds := make([]kind, n)
	if bad >= 0 && bad < n {
		kinds[bad] = k
	}
	appendKinds(t, store, "trail-"+id, kinds, rand.New(rand.NewPCG(uint64(n), 2)))
}

// TestParallelDecodingStopsAtFirstError puts one bad event at places
// before, in and after the pipeline's batches: the load fails with that
// event's error, and Evolve has run for the events before it only.
func TestParallelDecodingStopsAtFirstError(t *testing.T) {
	defer goleak.VerifyNone(t)
	reg := trailRegistry(t)
	sentinel := map[kind]error{kMalformed: schema.ErrMalformed, kBadFee: schema.ErrUpcast, kUnknown: schema.ErrUnknownType}
	for _, bad := range []int{0, 99, 100, 101, 163, 164, 2047, 2999} {
		for k, want := range sentinel {
			store := memory.New()
			seedTrail(t, store, "1", 3000, bad, k)
			par := newLoader(t, store, reg, aggregate.WithDecoding(100, 64, 3))
			_, err := par.repo.Load(context.Background(), "1")
			if !errors.Is(err, want) || !strings.Contains(fmt.Sprint(err), `"trail-1" revision `+strconv.Itoa(bad)+":") {
				t.Errorf("kind %d at %d: err = %v, want %v of revision %d", k, bad, err, want, bad)
			}
			if got := par.calls.Load(); got != int64(bad) {
				t.Errorf("kind %d at %d: Evolve ran %d times, want %d", k, bad, got, bad)
			}
			store.Close()
		}
	}
}

// TestParallelDecodingStoreFailure fails the store's read, and cancels the
// load's context, in the middle of a pipeline: the load returns the
// store's error as the sequential load does, and no goroutine is left.
func TestParallelDecodingStoreFailure(t *testing.T) {
	defer goleak.VerifyNone(t)
	reg := trailRegistry(t)
	mem := memory.New()
	defer mem.Close()
	seedTrail(t, mem, "1", 5000, -1, 0)
	for _, cut := range []int{600, 2500, 4000} {
		for _, cutErr := range []error{errInjected, nil} {
			store := &cutStore{Store: mem, stream: "trail-1", cut: cut, err: cutErr}
			var errs [2]error
			for i, opt := range []aggregate.Option{aggregate.WithDecoding(0, 0, 0), aggregate.WithDecoding(512, 128, 2)} {
				ctx, cancel := context.WithCancel(context.Background())
				if cutErr == nil {
					store.cancel = cancel
				}
				l := newLoader(t, store, reg, opt)
				_, errs[i] = l.repo.Load(ctx, "1")
				cancel()
			}
			want := cutErr
			if want == nil {
				want = context.Canceled
			}
			if !errors.Is(errs[1], want) || fmt.Sprint(errs[0]) != fmt.Sprint(errs[1]) {
				t.Errorf("cut at %d: parallel load: %v, sequential: %v, want %v", cut, errs[1], errs[0], want)
			}
		}
	}
}

// TestParallelDecodingPanics: a panic in Evolve ends the pipeline's
// goroutines as it unwinds the load; a panic while decoding (in an
// upcaster, on a worker) is raised on the loading goroutine, with its
// value, when its event's turn comes, after Evolve has run for the events
// before it.
func TestParallelDecodingPanics(t *testing.T) {
	defer goleak.VerifyNone(t)
	reg := trailRegistry(t)
	store := memory.New()
	defer store.Close()
	data := make([]eventstore.EventData, 3000)
	for i := range data {
		data[i] = rawEvent(kDeposit, 1)
	}
	data[2100] = rawEvent(kFee, 13) // the upcaster panics
	if _, err := store.Append(context.Background(), "trail-1", eventstore.NoStream, data...); err != nil {
		t.Fatal(err)
	}
	recovered := func(f func()) (v any) {
		defer func() { v = recover() }()
		f()
		return nil
	}

	var calls atomic.Int64
	typ := trailType(&calls)
	evolve := typ.Evolve
	typ.Evolve = func(s trail, ev any) trail {
		if s.Events == 1500 {
			panic("evolve")
		}
		return evolve(s, ev)
	}
	repo := mustRepo(t, store, reg, typ, aggregate.WithDecoding(512, 64, 2))
	if v := recovered(func() { repo.Load(context.Background(), "1") }); v != "evolve" {
		t.Errorf("Evolve's panic: recovered %v", v)
	}

	par := newLoader(t, store, reg, aggregate.WithDecoding(512, 64, 2))
	if v := recovered(func() { par.repo.Load(context.Background(), "1") }); v != "unlucky fee" {
		t.Errorf("the upcaster's panic: recovered %v", v)
	}
	if got := par.calls.Load(); got != 2100 {
		t.Errorf("Evolve ran %d times before the panic, want 2100", got)
	}
}

// TestParallelDecodingConcurrentLoads loads long aggregates from many
// goroutines at once (run with -race): each load gets the state a
// sequential load gets.
func TestParallelDecodingConcurrentLoads(t *testing.T) {
	defer goleak.VerifyNone(t)
	reg := trailRegistry(t)
	store := memory.New()
	defer store.Close()
	ids := []string{"a", "b", "c"}
	for i, id := range ids {
		seedTrail(t, store, id, 1000*(i+1)+17, -1, 0)
	}
	seq := newLoader(t, store, reg, aggregate.WithDecoding(0, 0, 0))
	want := map[string]aggregate.Root[trail]{}
	for _, id := range ids {
		var err error
		if want[id], err = seq.repo.Load(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
	par := newLoader(t, store, reg, aggregate.WithDecoding(256, 64, 4))
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 4 {
				id := ids[(g+i)%len(ids)]
				got, err := par.repo.Load(context.Background(), id)
				if err != nil {
					t.Error(err)
					return
				}
				if diff := cmp.Diff(want[id], got, cmpRoot); diff != "" {
					t.Errorf("%s (-sequential +parallel):\n%s", id, diff)
				}
			}
		})
	}
	wg.Wait()
}

// TestParallelDecodingNeedsProcessors: with GOMAXPROCS 1, the default
// decodes a long load one event after the other, starting no goroutine.
func TestParallelDecodingNeedsProcessors(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	reg := trailRegistry(t)
	store := memory.New()
	defer store.Close()
	seedTrail(t, store, "1", 2000, -1, 0)
	l := newLoader(t, store, reg)
	before := aggregate.Pipelines()
	if a, err := l.repo.Load(context.Background(), "1"); err != nil || a.State.Events != 2000 {
		t.Fatalf("Load = %+v, %v", a, err)
	}
	if aggregate.Pipelines() != before {
		t.Error("a load decoded in parallel with GOMAXPROCS 1")
	}
	runtime.GOMAXPROCS(2)
	if _, err := l.repo.Load(context.Background(), "1"); err != nil {
		t.Fatal(err)
	}
	if aggregate.Pipelines() == before {
		t.Error("no parallel decoding with GOMAXPROCS 2")
	}
}
