package testkit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/schema"
)

// DefaultProjectionStream is the stream of the events given to a
// ProjectionFixture without In.
const DefaultProjectionStream = "test-1"

// ProjectionTimeout bounds how long a ProjectionFixture waits for a runner
// to handle the given events before it fails the test.
const ProjectionTimeout = 30 * time.Second

// StreamEvents are events of one stream, for ProjectionFixture.Given; In
// makes them.
type StreamEvents struct {
	Stream string
	Events []any
}

// In returns events appended to stream, for ProjectionFixture.Given:
//
//	Given(testkit.In("order-1", Placed{...}, Paid{...}), testkit.In("order-2", Placed{...}))
func In(stream string, events ...any) StreamEvents {
	return StreamEvents{Stream: stream, Events: events}
}

// A ProjectionFixture is a given-then test of a projection whose read model
// is in memory (a projection.Projection[projection.NoTx]):
//
//	testkit.ForProjection(t, reg, newOpenOrders).
//		Given(testkit.In("order-1", Placed{ID: "1"}), testkit.In("order-2", Placed{ID: "2"}, Shipped{ID: "2"})).
//		Then(map[string]bool{"1": true})
//
// Then runs the projection with a real projection.Runner over an in-memory
// store holding the given events, and checks the read model, and then that
// it is robust to what at-least-once delivery does (see Then).
//
// Methods return a new ProjectionFixture and never modify the receiver.
type ProjectionFixture[M any] struct {
	tb      testing.TB
	reg     *schema.Registry
	build   func() (*projection.Projection[projection.NoTx], func() M)
	given   []StreamEvents
	opts    []projection.Option
	cmpOpts []cmp.Option
}

// ForProjection starts a test of the projection that build defines. build
// is called once per run of the projection (Then runs three), and returns a
// new projection whose handlers write into a new, empty read model, and a
// function that returns the state of that read model as a value the fixture
// keeps and compares: a copy (maps.Clone, a struct by value), never a view
// of the live model, which later deliveries would change. reg encodes the
// given events; it is usually the registry the projection decodes with.
func ForProjection[M any](tb testing.TB, reg *schema.Registry, build func() (*projection.Projection[projection.NoTx], func() M)) *ProjectionFixture[M] {
	tb.Helper()
	if reg == nil || build == nil {
		tb.Fatalf("testkit: ForProjection: nil registry or build function")
	}
	return &ProjectionFixture[M]{tb: tb, reg: reg, build: build}
}

func (f *ProjectionFixture[M]) clone() *ProjectionFixture[M] {
	c := *f
	c.given = slices.Clone(f.given)
	c.opts = slices.Clone(f.opts)
	c.cmpOpts = slices.Clone(f.cmpOpts)
	return &c
}

// Given adds events, appended in order: each argument is either a
// StreamEvents (In) or an event, appended to DefaultProjectionStream. Events
// are values or pointers of types registered in the registry.
func (f *ProjectionFixture[M]) Given(events ...any) *ProjectionFixture[M] {
	c := f.clone()
	for _, ev := range events {
		switch e := ev.(type) {
		case StreamEvents:
			c.given = append(c.given, e)
		case *StreamEvents:
			c.given = append(c.given, *e)
		default:
			c.given = append(c.given, In(DefaultProjectionStream, ev))
		}
	}
	return c
}

// WithCmpOptions adds go-cmp options for comparing read models, for example
// cmpopts.EquateEmpty or cmp.AllowUnexported.
func (f *ProjectionFixture[M]) WithCmpOptions(opts ...cmp.Option) *ProjectionFixture[M] {
	c := f.clone()
	c.cmpOpts = append(c.cmpOpts, opts...)
	return c
}

// WithRunnerOptions adds options for the runners, such as
// projection.WithWorkers or projection.WithPartitionKey. The fixture sets
// its own retry and failure policies after them: a handler that fails, or
// an event that does not decode, fails the test.
func (f *ProjectionFixture[M]) WithRunnerOptions(opts ...projection.Option) *ProjectionFixture[M] {
	c := f.clone()
	c.opts = append(c.opts, opts...)
	return c
}

// givenEvent is a given event, encoded, with its stream.
type givenEvent struct {
	stream string
	data   eventstore.EventData
}

// Then runs the projection over the given events and checks that the read
// model equals want, reporting a go-cmp diff (-want +got). It then checks
// what at-least-once delivery requires of an in-memory read model, each time
// against the model one delivery gave:
//
//   - every event delivered twice in a row (a target whose transaction
//     is retried: projection.Target allows Update to run apply twice)
//     leaves the model unchanged;
//   - the whole history delivered again, in order, after it was handled (a
//     crash before the first checkpoint save) leaves the model unchanged;
//   - a runner stopped halfway and a new runner started from the saved
//     checkpoint over the same model give the same model as one run.
//
// A handler failure or an undecodable event fails the test with the event
// (handlers are not retried), and Then checks no further. Then returns the
// model one delivery gave, for checks of your own.
func (f *ProjectionFixture[M]) Then(want M) M {
	f.tb.Helper()
	given := f.encode()
	// One delivery.
	p, read := f.build()
	store, last := f.store(given)
	if !f.runAll(store, p, projection.AtLeastOnce(&projection.MemoryCheckpoints{}, 1, 0), last) {
		return read()
	}
	got := read()
	if diff := cmp.Diff(want, got, f.cmpOpts...); diff != "" {
		f.tb.Errorf("testkit: read model differs (-want +got):\n%s", diff)
	}
	const idempotent = "at-least-once delivery needs idempotent handlers"
	// The whole history again, over the same model.
	if f.runAll(store, p, projection.AtLeastOnce(&projection.MemoryCheckpoints{}, 1, 0), last) {
		f.same(got, read(), "delivering the whole history again", idempotent)
	}
	// Every event twice in a row, into a new model.
	p, read = f.build()
	store, last = f.store(given)
	if f.runAll(store, p, twice{projection.AtLeastOnce(&projection.MemoryCheckpoints{}, 1, 0)}, last, projection.WithBatchSize(1)) {
		f.same(got, read(), "delivering every event twice in a row", idempotent)
	}
	// A restart from the checkpoint halfway, into a new model.
	p, read = f.build()
	half := len(given) / 2
	store, last = f.store(given[:half])
	cps := &projection.MemoryCheckpoints{}
	if !f.runAll(store, p, projection.AtLeastOnce(cps, 1, 0), last) {
		return got
	}
	last = f.append(store, given[half:], half)
	if f.runAll(store, p, projection.AtLeastOnce(cps, 1, 0), last) {
		f.same(got, read(), fmt.Sprintf("stopping after %d of %d events and restarting from the checkpoint", half, len(given)),
			"the handlers must not depend on anything but the model and the events")
	}
	return got
}

// same reports a difference between the model of one delivery and another
// run's.
func (f *ProjectionFixture[M]) same(once, other M, what, hint string) {
	f.tb.Helper()
	if diff := cmp.Diff(once, other, f.cmpOpts...); diff != "" {
		f.tb.Errorf("testkit: %s changed the read model; %s (-once +after):\n%s", what, hint, diff)
	}
}

// encode encodes the given events through the registry.
func (f *ProjectionFixture[M]) encode() []givenEvent {
	f.tb.Helper()
	var out []givenEvent
	for _, se := range f.given {
		if se.Stream == "" {
			f.tb.Fatalf("testkit: In: empty stream name")
		}
		for _, d := range encode(f.tb, f.reg, "given event", se.Events) {
			out = append(out, givenEvent{stream: se.Stream, data: d})
		}
	}
	return out
}

// A givenStore is an in-memory store whose clock stamps the i-th given
// event with Epoch + i seconds, so that every run sees the same events.
type givenStore struct {
	*memory.Store
	clock *Clock
}

// store returns a new in-memory store holding given and the position of
// the last event.
func (f *ProjectionFixture[M]) store(given []givenEvent) (givenStore, eventstore.Position) {
	f.tb.Helper()
	clock := NewClock(time.Time{})
	s := givenStore{Store: memory.New(memory.WithClock(clock.Now)), clock: clock}
	f.tb.Cleanup(func() { s.Close() })
	return s, f.append(s, given, 0)
}

// append appends given one event at a time, given[i] being given event
// first+i, and returns the last position.
func (f *ProjectionFixture[M]) append(s givenStore, given []givenEvent, first int) eventstore.Position {
	f.tb.Helper()
	var last eventstore.Position
	for i, g := range given {
		s.clock.Set(Epoch.Add(time.Duration(first+i) * time.Second))
		res, err := s.Append(context.Background(), g.stream, eventstore.Any, g.data)
		if err != nil {
			f.tb.Fatalf("testkit: append given event %d to %q: %v", first+i, g.stream, err)
		}
		last = res.Position
	}
	return last
}

// runAll runs p over s into target until it has handled everything up to
// last, then stops the runner. It reports a failure and returns false when
// the runner fails or does not get there within ProjectionTimeout.
func (f *ProjectionFixture[M]) runAll(s givenStore, p *projection.Projection[projection.NoTx], target projection.Target[projection.NoTx],
	last eventstore.Position, extra ...projection.Option) bool {
	f.tb.Helper()
	opts := append(slices.Clone(f.opts), extra...)
	opts = append(opts, projection.WithRetry(noRetry{}), projection.OnFailure(projection.Stop), projection.OnUndecodable(projection.Stop))
	r, err := projection.NewRunner(s.Store, p, target, opts...)
	if err != nil {
		f.tb.Fatalf("testkit: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	wait, stop := context.WithTimeout(ctx, ProjectionTimeout)
	err = r.WaitCaughtUp(wait)
	if err == nil {
		err = r.WaitFor(wait, last)
	}
	stop()
	cancel()
	runErr := <-done
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		f.tb.Errorf("testkit: the projection did not handle the given events within %v (state %+v)", ProjectionTimeout, r.State())
		return false
	case err != nil || runErr != nil:
		f.tb.Errorf("testkit: the projection failed: %v", errors.Join(runErr, unwrapNotRunning(err, runErr)))
		return false
	}
	return true
}

// unwrapNotRunning drops a wait's error that only repeats Run's.
func unwrapNotRunning(waitErr, runErr error) error {
	if runErr != nil && errors.Is(waitErr, projection.ErrNotRunning) {
		return nil
	}
	return waitErr
}

// noRetry hands a failing handler's error straight to the failure policy.
type noRetry struct{}

func (noRetry) Wrap(next func(context.Context) error) func(context.Context) error { return next }

// twice is a target whose every transaction runs its work twice, as a
// Target may when it retries a transaction: without a database to roll the
// first attempt back, each event reaches the handlers two times.
type twice struct {
	*projection.Deferred
}

func (t twice) Update(ctx context.Context, key projection.Key, prev, next projection.Checkpoint,
	apply func(ctx context.Context, tx projection.NoTx) error) error {
	return t.Deferred.Update(ctx, key, prev, next, func(ctx context.Context, tx projection.NoTx) error {
		if err := apply(ctx, tx); err != nil {
			return err
		}
		return apply(ctx, tx)
	})
}
