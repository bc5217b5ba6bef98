package testkit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"go.uber.org/goleak"

	"github.com/chronicle-go/chronicle/aggregate"
	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/resilience"
	"github.com/chronicle-go/chronicle/schema"
	"github.com/chronicle-go/chronicle/testkit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The test domain: a counter.

type Incremented struct {
	By int `json:"by" jsonschema:"required,minimum=1"`
}

type Reset struct{}

type Counter struct{ N int }

var counterType = aggregate.Type[Counter]{
	Category: "counter",
	Evolve: func(c Counter, ev any) Counter {
		switch e := ev.(type) {
		case Incremented:
			c.N += e.By
		case Reset:
			c.N = 0
		}
		return c
	},
}

var errTooMuch = errors.New("too much")

func increment(by int) aggregate.Decision[Counter] {
	return func(Counter) ([]any, error) {
		if by > 10 {
			return nil, errTooMuch
		}
		return []any{Incremented{By: by}}, nil
	}
}

func reset(c Counter) ([]any, error) {
	if c.N == 0 {
		return nil, nil
	}
	return []any{Reset{}}, nil
}

func newRegistry(opts ...schema.Option) *schema.Registry {
	r := schema.MustNewRegistry(opts...)
	schema.MustRegister[Incremented](r, "Incremented", 1)
	schema.MustRegister[Reset](r, "Reset", 1)
	return r
}

// fakeTB is a testing.TB that records failures instead of failing, so the
// tests can check that testkit fails when it should. Fatalf ends the
// goroutine, as testing.T's does; run waits for it.
type fakeTB struct {
	testing.TB // nil: any method not overridden panics
	mu         sync.Mutex
	errors     []string
	fatal      string
	cleanups   []func()
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatal = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fakeTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }

func (f *fakeTB) Context() context.Context { return context.Background() }

// run runs body with a fakeTB, then its cleanups, and returns it.
func run(body func(tb testing.TB)) *fakeTB {
	f := &fakeTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		body(f)
	}()
	<-done
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
	return f
}

// passed fails t unless the fake recorded no failure.
func (f *fakeTB) passed(t *testing.T) {
	t.Helper()
	if len(f.errors) > 0 || f.fatal != "" {
		t.Errorf("want no failure, got errors %q, fatal %q", f.errors, f.fatal)
	}
}

// failed fails t unless the fake recorded exactly one failure (an error, or
// a fatal when fatal is set) containing every one of wants.
func (f *fakeTB) failed(t *testing.T, fatal bool, wants ...string) {
	t.Helper()
	var msg string
	switch {
	case fatal && f.fatal != "" && len(f.errors) == 0:
		msg = f.fatal
	case !fatal && f.fatal == "" && len(f.errors) == 1:
		msg = f.errors[0]
	default:
		t.Fatalf("want one %s, got errors %q, fatal %q", map[bool]string{true: "fatal", false: "error"}[fatal], f.errors, f.fatal)
	}
	if !strings.HasPrefix(msg, "testkit: ") {
		t.Errorf("failure %q lacks the testkit: prefix", msg)
	}
	for _, w := range wants {
		if !strings.Contains(msg, w) {
			t.Errorf("failure %q does not contain %q", msg, w)
		}
	}
}

func TestPassingScenarios(t *testing.T) {
	reg := newRegistry()
	base := testkit.For(t, counterType, reg).Given(Incremented{By: 2}, &Incremented{By: 3})
	base.When(increment(4)).Then(Incremented{By: 4}).ThenState(Counter{N: 9})
	base.When(increment(4)).Then(&Incremented{By: 4}) // pointers compare as values
	base.When(reset).Then(Reset{}).ThenState(Counter{})
	base.When(increment(11)).ThenError(errTooMuch).ThenError(aggregate.ErrRejected)
	testkit.For(t, counterType, reg).When(reset).ThenNothing().Then().ThenState(Counter{})
	testkit.For(t, counterType, reg).When(increment(1)).Then(Incremented{By: 1})
}

func TestThenReportsDifferences(t *testing.T) {
	reg := newRegistry()
	f := run(func(tb testing.TB) {
		testkit.For(tb, counterType, reg).Given(Incremented{By: 1}).When(increment(2)).Then(Incremented{By: 3})
	})
	f.failed(t, false, "events differ (-want +got)", "By:", "3", "2")

	f = run(func(tb testing.TB) {
		testkit.For(tb, counterType, reg).When(increment(2)).Then(Incremented{By: 2}, Reset{})
	})
	f.failed(t, false, "events differ", "Reset")

	f = run(func(tb testing.TB) {
		testkit.For(tb, counterType, reg).When(increment(20)).Then(Incremented{By: 20})
	})
	f.failed(t, false, "want 1 event(s), but the command failed", "too much")
}

func TestInvalidEventsFail(t *testing.T) {
	reg := newRegistry()
	t.Run("given", func(t *testing.T) {
		after := false
		f := run(func(tb testing.TB) {
			testkit.For(tb, counterType, reg).Given(Incremented{By: 1}, Incremented{By: 0}).When(increment(1))
			after = true
		})
		f.failed(t, true, "given event 1 (testkit_test.Incremented) would be rejected in production", "/by", "minimum")
		if after {
			t.Error("the test went on after the fatal failure")
		}
	})
	t.Run("expected", func(t *testing.T) {
		f := run(func(tb testing.TB) {
			testkit.For(tb, counterType, reg).When(increment(1)).Then(Incremented{By: -1})
		})
		f.failed(t, true, "expected event 0", "would be rejected in production", "/by")
	})
	t.Run("unregistered given", func(t *testing.T) {
		f := run(func(tb testing.TB) {
			testkit.For(tb, counterType, reg).Given(struct{ X int }{}).When(increment(1))
		})
		f.failed(t, true, "given event 0", "not registered")
	})
	t.Run("emitted", func(t *testing.T) {
		bad := func(Counter) ([]any, error) { return []any{Incremented{By: 0}}, nil }
		f := run(func(tb testing.TB) {
			testkit.For(tb, counterType, reg).When(bad).Then(Incremented{By: 1})
		})
		f.failed(t, false, "the command failed", "invalid")
		run(func(tb testing.TB) {
			testkit.For(tb, counterType, reg).When(bad).ThenError(aggregate.ErrInvalidEvent).ThenError(schema.ErrValidation)
		}).passed(t)
	})
}

func TestThenError(t *testing.T) {
	reg := newRegistry()
	tests := []struct {
		name   string
		decide aggregate.Decision[Counter]
		target error
		wants  []string
	}{
		{"nil target", increment(20), nil, []string{"ThenError(nil)"}},
		{"no error", increment(2), errTooMuch, []string{`want error "too much"`, "succeeded with 1 event(s)", "Incremented"}},
		{"another error", increment(20), aggregate.ErrNotFound, []string{`want error "aggregate: not found"`, "too much"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := run(func(tb testing.TB) {
				testkit.For(tb, counterType, reg).Given(Incremented{By: 1}).When(tt.decide).ThenError(tt.target)
			})
			f.failed(t, false, tt.wants...)
		})
	}
}

func TestThenNothing(t *testing.T) {
	reg := newRegistry()
	f := run(func(tb testing.TB) {
		testkit.For(tb, counterType, reg).When(increment(3)).ThenNothing()
	})
	f.failed(t, false, "want no events, got 1", "testkit_test.Incremented {By:3}")

	f = run(func(tb testing.TB) {
		testkit.For(tb, counterType, reg).When(increment(30)).ThenNothing()
	})
	f.failed(t, false, "want no events, but the command failed", "too much")
}

func TestThenState(t *testing.T) {
	reg := newRegistry()
	f := run(func(tb testing.TB) {
		testkit.For(tb, counterType, reg).Given(Incremented{By: 1}).When(increment(3)).ThenState(Counter{N: 5})
	})
	f.failed(t, false, "state differs (-want +got)", "N:")

	f = run(func(tb testing.TB) {
		testkit.For(tb, counterType, reg).When(increment(30)).ThenState(Counter{})
	})
	f.failed(t, false, "want a state, but the command failed")
}

type withUnexported struct{ n int }

func TestFixtureOptions(t *testing.T) {
	reg := newRegistry()
	base := testkit.For(t, counterType, reg)
	o := base.WithID("c-7").When(increment(1))
	if got := o.Result().Events[0].Record.Stream; got != "counter-c-7" {
		t.Errorf("stream = %q, want counter-c-7", got)
	}
	if o.Err() != nil || o.Result().Revision != eventstore.Exact(0) {
		t.Errorf("result %+v, %v", o.Result(), o.Err())
	}
	ctx := schema.WithCorrelation(context.Background(), "corr-9", "")
	o = base.WithContext(ctx).When(increment(1))
	if got := o.Result().Events[0].Metadata.CorrelationID; got != "corr-9" {
		t.Errorf("correlation = %q", got)
	}

	// Givens do not leak between fixtures derived from one base.
	one := base.Given(Incremented{By: 1})
	one.Given(Incremented{By: 5}).When(increment(1)).ThenState(Counter{N: 7})
	one.When(increment(1)).ThenState(Counter{N: 2})
	base.When(increment(1)).ThenState(Counter{N: 1})

	// Repository options reach the repository, which checks them.
	f := run(func(tb testing.TB) {
		testkit.For(tb, counterType, reg).WithOptions(aggregate.WithMaxRetries(-1)).When(increment(1))
	})
	f.failed(t, true, "testkit: aggregate: invalid option")

	// cmp options reach the comparisons.
	typ := aggregate.Type[withUnexported]{Category: "u", Evolve: func(s withUnexported, _ any) withUnexported { s.n++; return s }}
	inc := func(withUnexported) ([]any, error) { return []any{Incremented{By: 1}}, nil }
	testkit.For(t, typ, reg).WithCmpOptions(cmp.AllowUnexported(withUnexported{})).
		Given(Incremented{By: 1}).When(inc).ThenState(withUnexported{n: 2})

	f = run(func(tb testing.TB) { testkit.For(tb, counterType, nil) })
	f.failed(t, true, "nil registry")
}

func TestNewStoreAndEvents(t *testing.T) {
	reg := newRegistry()
	var store eventstore.Store
	run(func(tb testing.TB) {
		store = testkit.NewStore(tb, "counter-1", testkit.Events(tb, reg, Incremented{By: 1}, Reset{})...)
		var types []string
		for rec, err := range store.ReadStream(context.Background(), "counter-1", eventstore.ReadOptions{}) {
			if err != nil {
				t.Fatal(err)
			}
			types = append(types, rec.Type)
		}
		if diff := cmp.Diff([]string{"Incremented", "Reset"}, types); diff != "" {
			t.Errorf("seeded types (-want +got):\n%s", diff)
		}
	}).passed(t)
	if _, err := store.Append(context.Background(), "x", eventstore.Any, eventstore.EventData{Type: "T"}); !errors.Is(err, eventstore.ErrClosed) {
		t.Errorf("append after cleanup = %v, want ErrClosed", err)
	}
	empty := testkit.NewStore(t, "counter-1")
	if _, err := empty.Append(context.Background(), "counter-1", eventstore.NoStream); err != nil {
		t.Errorf("the store without events has the stream: %v", err)
	}

	f := run(func(tb testing.TB) { testkit.NewStore(tb, "$system", eventstore.EventData{Type: "T"}) })
	f.failed(t, true, `seed "$system"`, "reserved")
	f = run(func(tb testing.TB) { testkit.Events(tb, reg, Incremented{}) })
	f.failed(t, true, "event 0 (testkit_test.Incremented) would be rejected in production")
}

func TestRecords(t *testing.T) {
	reg := newRegistry()
	store := testkit.NewStore(t, "counter-1", testkit.Events(t, reg, Incremented{By: 1}, Reset{})...)
	if got := testkit.Records(t, store, "counter-1"); len(got) != 2 || got[0].Type != "Incremented" || got[1].Revision != 1 {
		t.Errorf("Records = %+v", got)
	}
	if got := testkit.Records(t, store, "counter-2"); got != nil {
		t.Errorf("Records of a missing stream = %+v, want nil", got)
	}
	if _, err := store.Tombstone(context.Background(), "counter-1", eventstore.Any); err != nil {
		t.Fatal(err)
	}
	f := run(func(tb testing.TB) { testkit.Records(tb, store, "counter-1") })
	f.failed(t, true, `testkit: read "counter-1"`, "deleted")
}

func TestClock(t *testing.T) {
	c := testkit.NewClock(time.Time{})
	if !c.Now().Equal(testkit.Epoch) {
		t.Errorf("zero start = %v, want Epoch", c.Now())
	}
	if got := c.Advance(time.Hour); !got.Equal(testkit.Epoch.Add(time.Hour)) || !c.Now().Equal(got) {
		t.Errorf("Advance = %v, Now = %v", got, c.Now())
	}
	at := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	c.Set(at)
	if !c.Now().Equal(at) {
		t.Errorf("after Set: %v", c.Now())
	}
	if got := testkit.NewClock(at).Now(); !got.Equal(at) {
		t.Errorf("NewClock(at) = %v", got)
	}
}

func TestIDs(t *testing.T) {
	ids := testkit.NewIDs()
	first, second := ids.Next(), ids.Next()
	if first.String() != "00000000-0000-4000-8000-000000000001" || second != testkit.ID(2) {
		t.Errorf("IDs = %v, %v", first, second)
	}
	if first.Version() != 4 || first.Variant() != uuid.RFC4122 {
		t.Errorf("version %v, variant %v", first.Version(), first.Variant())
	}
	// Concurrent use hands out each ID once.
	const workers, each = 8, 100
	var mu sync.Mutex
	seen := map[uuid.UUID]bool{}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				id := ids.Next()
				mu.Lock()
				seen[id] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != workers*each {
		t.Errorf("%d distinct IDs, want %d", len(seen), workers*each)
	}
	// Deterministic registries encode the same event the same way.
	encodeOnce := func() eventstore.EventData {
		clock, ids := testkit.NewClock(time.Time{}), testkit.NewIDs()
		return testkit.Events(t, newRegistry(schema.WithClock(clock), schema.WithIDs(ids.Next)), Incremented{By: 1})[0]
	}
	if diff := cmp.Diff(encodeOnce(), encodeOnce()); diff != "" {
		t.Errorf("two deterministic encodings differ:\n%s", diff)
	}
}

// countedV1 and countedV2 are two versions of "Counted"; the upcaster
// between them rejects every v1 event.
type countedV1 struct {
	Step int `json:"step" jsonschema:"required"`
}

type countedV2 struct {
	By int `json:"by" jsonschema:"required,minimum=1"`
}

// A decision that returns an event the registry could not read back fails
// in the fixture exactly as in production: a typed error, nothing written.
func TestUnreadableEventFailsTheCommand(t *testing.T) {
	reg := newRegistry()
	schema.MustRegister[countedV1](reg, "Counted", 1)
	schema.MustRegister[countedV2](reg, "Counted", 2, schema.UpcastFrom(func(json.RawMessage) (json.RawMessage, error) {
		return nil, errors.New("steps cannot become increments")
	}))
	emitOld := func(Counter) ([]any, error) { return []any{countedV1{Step: 1}}, nil }
	testkit.For(t, counterType, reg).
		Given(Incremented{By: 2}).
		When(emitOld).
		ThenError(aggregate.ErrUnreadableEvent)
}

// Create and Update have their own semantics in the fixture, as in the
// repository: Create needs no history, Update needs one.
func TestWhenCreateAndWhenUpdate(t *testing.T) {
	reg := newRegistry()
	fresh := testkit.For(t, counterType, reg)
	existing := fresh.Given(Incremented{By: 2})

	fresh.WhenCreate(increment(1)).Then(Incremented{By: 1}).ThenState(Counter{N: 1})
	existing.WhenCreate(increment(1)).ThenError(aggregate.ErrAlreadyExists)
	existing.WhenUpdate(increment(1)).Then(Incremented{By: 1}).ThenState(Counter{N: 3})
	fresh.WhenUpdate(increment(1)).ThenError(aggregate.ErrNotFound)
	existing.WhenUpdate(increment(1), aggregate.WithExpectedRevision(eventstore.Exact(0))).Then(Incremented{By: 1})
	existing.WhenUpdate(increment(1), aggregate.WithExpectedRevision(eventstore.Exact(5))).ThenError(eventstore.ErrWrongExpectedVersion)

	f := run(func(tb testing.TB) {
		testkit.For(tb, counterType, reg).WhenUpdate(increment(1)).Then(Incremented{By: 1})
	})
	f.failed(t, false, "the command failed", "not found")
}

// The fixture's fake clock dates the events, the store and the repository;
// WithClock shares one.
func TestFixtureClock(t *testing.T) {
	reg := newRegistry()
	base := testkit.For(t, counterType, reg).Given(Incremented{By: 1})
	if !base.Clock().Now().Equal(testkit.Epoch) {
		t.Fatalf("default clock reads %v, want Epoch", base.Clock().Now())
	}
	base.When(increment(1)).ThenMetadata(schema.Metadata{DecidedAt: testkit.Epoch, SchemaVersion: 1})

	c := testkit.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	out := base.WithClock(c).When(increment(1)).ThenMetadata(schema.Metadata{DecidedAt: c.Now()})
	if got := out.Result().Events[0].Record.Created; !got.Equal(c.Now()) {
		t.Errorf("Created = %v, want the fixture clock's %v", got, c.Now())
	}
	f := run(func(tb testing.TB) { testkit.For(tb, counterType, reg).WithClock(nil) })
	f.failed(t, true, "WithClock(nil)")
}

func TestThenMetadata(t *testing.T) {
	reg := newRegistry(schema.WithIDs(testkit.NewIDs().Next))
	ctx := schema.WithCorrelation(context.Background(), "req-7", "msg-3")
	named := aggregate.WithCommandName("Increment")
	base := testkit.For(t, counterType, reg).WithContext(ctx)
	base.When(increment(2), named).ThenMetadata(schema.Metadata{
		CorrelationID: "req-7", CausationID: "msg-3",
		Extra: map[string]json.RawMessage{aggregate.MetadataCommand: json.RawMessage(` "Increment" `)},
	})
	double := func(Counter) ([]any, error) { return []any{Incremented{By: 1}, Incremented{By: 2}}, nil }
	base.When(double).ThenMetadata(schema.Metadata{CorrelationID: "req-7"}, schema.Metadata{SchemaVersion: 1})

	tests := []struct {
		name  string
		check func(tb testing.TB)
		wants []string
	}{
		{"wrong correlation", func(tb testing.TB) {
			testkit.For(tb, counterType, reg).WithContext(ctx).When(increment(1)).ThenMetadata(schema.Metadata{CorrelationID: "other"})
		}, []string{"event 0 (Incremented) metadata", `CorrelationID = "req-7", want "other"`}},
		{"missing extra", func(tb testing.TB) {
			testkit.For(tb, counterType, reg).When(increment(1)).ThenMetadata(schema.Metadata{Extra: map[string]json.RawMessage{"command": json.RawMessage(`"X"`)}})
		}, []string{`command = (missing), want "X"`}},
		{"wrong extra", func(tb testing.TB) {
			testkit.For(tb, counterType, reg).When(increment(1), named).ThenMetadata(schema.Metadata{Extra: map[string]json.RawMessage{"command": json.RawMessage(`"X"`)}})
		}, []string{`command = "Increment", want "X"`}},
		{"wrong version and time", func(tb testing.TB) {
			testkit.For(tb, counterType, reg).When(increment(1)).ThenMetadata(schema.Metadata{SchemaVersion: 2})
		}, []string{"SchemaVersion = 1, want 2"}},
		{"wrong time", func(tb testing.TB) {
			testkit.For(tb, counterType, reg).When(increment(1)).ThenMetadata(schema.Metadata{DecidedAt: time.Unix(0, 0)})
		}, []string{"DecidedAt = 2025-01-01"}},
		{"failed command", func(tb testing.TB) {
			testkit.For(tb, counterType, reg).When(increment(20)).ThenMetadata(schema.Metadata{})
		}, []string{"want event metadata, but the command failed"}},
		{"nothing expected", func(tb testing.TB) { testkit.For(tb, counterType, reg).When(increment(1)).ThenMetadata() }, []string{"ThenMetadata()"}},
		{"count mismatch", func(tb testing.TB) {
			testkit.For(tb, counterType, reg).When(increment(1)).ThenMetadata(schema.Metadata{}, schema.Metadata{})
		}, []string{"2 metadata for 1 events"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { run(tt.check).failed(t, false, tt.wants...) })
	}
}

// The exported fake clock has timers, for code that schedules (timeouts,
// retries, saga deadlines), and drives resilience policies.
func TestClockTimers(t *testing.T) {
	c := testkit.NewClock(time.Time{})
	var fired []string
	c.AfterFunc(2*time.Second, func() { fired = append(fired, "b") })
	stop := c.AfterFunc(3*time.Second, func() { fired = append(fired, "never") })
	c.AfterFunc(time.Second, func() { fired = append(fired, "a") })
	if d, ok := c.Next(); !ok || d != time.Second || c.Pending() != 3 {
		t.Fatalf("Next = %v, %v; Pending = %d", d, ok, c.Pending())
	}
	if !stop() {
		t.Error("stop of a pending timer = false")
	}
	c.Advance(1500 * time.Millisecond)
	c.Set(testkit.Epoch.Add(5 * time.Second))
	if diff := cmp.Diff([]string{"a", "b"}, fired); diff != "" {
		t.Errorf("fired (-want +got):\n%s", diff)
	}
	c.Set(testkit.Epoch) // back: nothing runs
	if !c.Now().Equal(testkit.Epoch) || c.Pending() != 0 {
		t.Errorf("after Set back: %v, %d pending", c.Now(), c.Pending())
	}

	to, err := resilience.NewTimeout(time.Minute, resilience.WithClock(c))
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		errc <- to.Wrap(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })(t.Context())
	}()
	if err := c.WaitPending(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Minute)
	if err := <-errc; !errors.Is(err, resilience.ErrTimeout) {
		t.Errorf("Timeout on the fake clock: %v", err)
	}
}
