package testkit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/chronicle-go/chronicle/aggregate"
	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/schema"
)

// DefaultID is the aggregate ID a Fixture uses unless told otherwise
// (WithID).
const DefaultID = "1"

// A Fixture is a given-when-then test of one aggregate type:
//
//	testkit.For(t, orders.Order, registry).
//		Given(orders.Placed{...}, orders.Paid{...}).
//		When(orders.Ship("DHL")).
//		Then(orders.Shipped{Carrier: "DHL"})
//
// Every event in the test passes through the schema registry: the given
// events are encoded (and validated) and appended to an in-memory store, the
// decision runs through an aggregate.Repository exactly as in production,
// and the expected events are encoded and decoded before they are compared,
// so a test fails when any event would be invalid in production.
//
// Methods return a new Fixture and never modify the receiver, so a Fixture
// with common givens can be shared by several tests.
type Fixture[S any] struct {
	tb      testing.TB
	typ     aggregate.Type[S]
	reg     *schema.Registry
	id      string
	given   []any
	opts    []aggregate.Option
	cmpOpts []cmp.Option
	ctx     context.Context
	clock   *Clock
}

// For starts a test of aggregates of type typ whose events reg encodes.
//
// The fixture has its own fake Clock (NewClock(Epoch); see WithClock and
// Clock): the repository, the in-memory store and the decided-at time of
// every event use it, so a test never depends on the wall clock. Use a
// registry built with deterministic IDs (schema.WithIDs(ids.Next)) for
// repeatable event IDs and correlation IDs.
func For[S any](tb testing.TB, typ aggregate.Type[S], reg *schema.Registry) *Fixture[S] {
	tb.Helper()
	if reg == nil {
		tb.Fatalf("testkit: For: nil registry")
	}
	return &Fixture[S]{tb: tb, typ: typ, reg: reg, id: DefaultID, clock: NewClock(time.Time{})}
}

// WithClock makes the fixture use c, for example to set the time of the
// given events or to share a clock with other fakes. Clock returns it.
func (f *Fixture[S]) WithClock(c *Clock) *Fixture[S] {
	if c == nil {
		f.tb.Fatalf("testkit: WithClock(nil)")
	}
	c2 := f.clone()
	c2.clock = c
	return c2
}

// Clock returns the fixture's fake clock.
func (f *Fixture[S]) Clock() *Clock { return f.clock }

func (f *Fixture[S]) clone() *Fixture[S] {
	c := *f
	c.given = slices.Clone(f.given)
	c.opts = slices.Clone(f.opts)
	c.cmpOpts = slices.Clone(f.cmpOpts)
	return &c
}

// WithID sets the aggregate's ID (DefaultID otherwise).
func (f *Fixture[S]) WithID(id string) *Fixture[S] {
	c := f.clone()
	c.id = id
	return c
}

// WithOptions adds options for the repository the decision runs through
// (aggregate.WithClock, aggregate.WithSnapshotEvery, …).
func (f *Fixture[S]) WithOptions(opts ...aggregate.Option) *Fixture[S] {
	c := f.clone()
	c.opts = append(c.opts, opts...)
	return c
}

// WithCmpOptions adds go-cmp options for comparing events and states, for
// example cmpopts.EquateApproxTime or cmp.AllowUnexported.
func (f *Fixture[S]) WithCmpOptions(opts ...cmp.Option) *Fixture[S] {
	c := f.clone()
	c.cmpOpts = append(c.cmpOpts, opts...)
	return c
}

// WithContext sets the context the decision runs in (the test's context
// otherwise), e.g. one carrying schema.WithCorrelation. The events'
// decided-at time is the fixture clock's (WithClock), whatever ctx says.
func (f *Fixture[S]) WithContext(ctx context.Context) *Fixture[S] {
	c := f.clone()
	c.ctx = ctx
	return c
}

// Given adds events that happened to the aggregate before the command, in
// order: values or pointers of registered event types.
func (f *Fixture[S]) Given(events ...any) *Fixture[S] {
	c := f.clone()
	c.given = append(c.given, events...)
	return c
}

// When runs the decision on the aggregate the given events produce, with
// Repository.Execute on a fresh in-memory store, and returns the outcome to
// check with Then, ThenError, ThenNothing, ThenState or ThenMetadata. It
// fails the test if a given event would be rejected in production. opts
// are the command's options (aggregate.WithCommandName, …).
func (f *Fixture[S]) When(decide aggregate.Decision[S], opts ...aggregate.CommandOption) *Outcome[S] {
	f.tb.Helper()
	return f.run((*aggregate.Repository[S]).Execute, decide, opts)
}

// WhenCreate is When with Repository.Create: the command fails with
// aggregate.ErrAlreadyExists if there are given events.
func (f *Fixture[S]) WhenCreate(decide aggregate.Decision[S], opts ...aggregate.CommandOption) *Outcome[S] {
	f.tb.Helper()
	return f.run((*aggregate.Repository[S]).Create, decide, opts)
}

// WhenUpdate is When with Repository.Update: the command fails with
// aggregate.ErrNotFound if there are no given events.
func (f *Fixture[S]) WhenUpdate(decide aggregate.Decision[S], opts ...aggregate.CommandOption) *Outcome[S] {
	f.tb.Helper()
	return f.run((*aggregate.Repository[S]).Update, decide, opts)
}

type commandFunc[S any] func(*aggregate.Repository[S], context.Context, string, aggregate.Decision[S], ...aggregate.CommandOption) (aggregate.Result[S], error)

func (f *Fixture[S]) run(command commandFunc[S], decide aggregate.Decision[S], opts []aggregate.CommandOption) *Outcome[S] {
	f.tb.Helper()
	ctx := f.ctx
	if ctx == nil {
		ctx = f.tb.Context()
	}
	ctx = schema.WithDecidedAt(ctx, f.clock.Now())
	stream := f.typ.Stream(f.id)
	store := memory.New(memory.WithClock(f.clock.Now))
	f.tb.Cleanup(func() { store.Close() })
	if given := encodeCtx(ctx, f.tb, f.reg, "given event", f.given); len(given) > 0 {
		if _, err := store.Append(ctx, stream, eventstore.NoStream, given...); err != nil {
			f.tb.Fatalf("testkit: seed %q: %v", stream, err)
		}
	}
	repo, err := aggregate.NewRepository(store, f.reg, f.typ, append([]aggregate.Option{aggregate.WithClock(f.clock)}, f.opts...)...)
	if err != nil {
		f.tb.Fatalf("testkit: %v", err)
	}
	res, err := command(repo, ctx, f.id, decide, opts...)
	return &Outcome[S]{f: f, res: res, err: err, store: store, stream: stream}
}

// An Outcome is the result of a Fixture's When, to check. Each check
// reports failures with tb.Errorf and returns the Outcome, so checks chain:
//
//	.When(cmd).Then(ev1, ev2).ThenState(want)
type Outcome[S any] struct {
	f      *Fixture[S]
	res    aggregate.Result[S]
	err    error
	store  eventstore.Store
	stream string
}

// Result returns what the command returned, for checks of your own.
func (o *Outcome[S]) Result() aggregate.Result[S] { return o.res }

// Err returns the command's error, for checks of your own.
func (o *Outcome[S]) Err() error { return o.err }

// Then checks that the command succeeded and appended exactly these events,
// in order. The expected events are encoded and decoded through the
// registry first, so they compare as the stored events do; one the registry
// would reject fails the test. Then() with no events is ThenNothing().
func (o *Outcome[S]) Then(events ...any) *Outcome[S] {
	o.f.tb.Helper()
	if o.err != nil {
		o.f.tb.Errorf("testkit: want %d event(s), but the command failed: %v", len(events), o.err)
		return o
	}
	want := make([]any, 0, len(events))
	for i, d := range encode(o.f.tb, o.f.reg, "expected event", events) {
		rec := eventstore.RecordedEvent{ID: d.ID, Type: d.Type, ContentType: d.ContentType, Data: d.Data, Metadata: d.Metadata, Stream: o.stream}
		ev, err := o.f.reg.Decode(rec)
		if err != nil {
			o.f.tb.Fatalf("testkit: expected event %d (%T) does not decode: %v", i, events[i], err)
		}
		want = append(want, ev.Data)
	}
	if diff := cmp.Diff(want, o.appended(), o.f.cmpOpts...); diff != "" {
		o.f.tb.Errorf("testkit: events differ (-want +got):\n%s", diff)
	}
	return o
}

// ThenNothing checks that the command succeeded and appended no events.
func (o *Outcome[S]) ThenNothing() *Outcome[S] {
	o.f.tb.Helper()
	if o.err != nil {
		o.f.tb.Errorf("testkit: want no events, but the command failed: %v", o.err)
	} else if got := o.appended(); len(got) > 0 {
		o.f.tb.Errorf("testkit: want no events, got %d:\n%s", len(got), describe(got))
	}
	return o
}

// ThenError checks that the command failed with an error matching target
// (errors.Is), usually the domain's sentinel or aggregate.ErrInvalidEvent,
// and that nothing was appended.
func (o *Outcome[S]) ThenError(target error) *Outcome[S] {
	o.f.tb.Helper()
	switch {
	case target == nil:
		o.f.tb.Errorf("testkit: ThenError(nil): use Then or ThenNothing to expect success")
	case o.err == nil:
		o.f.tb.Errorf("testkit: want error %q, but the command succeeded with %d event(s):\n%s", target, len(o.res.Events), describe(o.appended()))
	case !errors.Is(o.err, target):
		o.f.tb.Errorf("testkit: want error %q, got %q", target, o.err)
	}
	if n := o.stored(); o.err != nil && n != len(o.f.given) {
		o.f.tb.Errorf("testkit: the failed command left %d events in %q, want the %d given", n, o.stream, len(o.f.given))
	}
	return o
}

// ThenState checks the aggregate's state after the command.
func (o *Outcome[S]) ThenState(want S) *Outcome[S] {
	o.f.tb.Helper()
	if o.err != nil {
		o.f.tb.Errorf("testkit: want a state, but the command failed: %v", o.err)
	} else if diff := cmp.Diff(want, o.res.State, o.f.cmpOpts...); diff != "" {
		o.f.tb.Errorf("testkit: state differs (-want +got):\n%s", diff)
	}
	return o
}

// ThenMetadata checks the metadata of the events the command appended:
// with one want, every event's; otherwise want[i] is event i's. Only the
// fields set in a want are compared (CorrelationID, CausationID,
// SchemaVersion, trace fields, DecidedAt, and each key of Extra), so a test
// states what it cares about:
//
//	.ThenMetadata(schema.Metadata{CorrelationID: "req-7", Extra: map[string]json.RawMessage{
//		aggregate.MetadataCommand: json.RawMessage(`"Ship"`)}})
func (o *Outcome[S]) ThenMetadata(want ...schema.Metadata) *Outcome[S] {
	o.f.tb.Helper()
	switch {
	case o.err != nil:
		o.f.tb.Errorf("testkit: want event metadata, but the command failed: %v", o.err)
		return o
	case len(want) == 0:
		o.f.tb.Errorf("testkit: ThenMetadata(): give the metadata to expect")
		return o
	case len(want) != 1 && len(want) != len(o.res.Events):
		o.f.tb.Errorf("testkit: ThenMetadata: %d metadata for %d events", len(want), len(o.res.Events))
		return o
	}
	for i, ev := range o.res.Events {
		w := want[0]
		if len(want) > 1 {
			w = want[i]
		}
		for _, d := range metadataDiffs(w, ev.Metadata) {
			o.f.tb.Errorf("testkit: event %d (%s) metadata: %s", i, ev.Type, d)
		}
	}
	return o
}

// metadataDiffs lists how got differs from want in the fields want sets.
func metadataDiffs(want, got schema.Metadata) []string {
	var out []string
	field := func(name, w, g string) {
		if w != "" && w != g {
			out = append(out, fmt.Sprintf("%s = %q, want %q", name, g, w))
		}
	}
	if want.SchemaVersion != 0 && want.SchemaVersion != got.SchemaVersion {
		out = append(out, fmt.Sprintf("SchemaVersion = %d, want %d", got.SchemaVersion, want.SchemaVersion))
	}
	field("CorrelationID", want.CorrelationID, got.CorrelationID)
	field("CausationID", want.CausationID, got.CausationID)
	field("TraceParent", want.TraceParent, got.TraceParent)
	field("TraceState", want.TraceState, got.TraceState)
	field("TraceID", want.TraceID, got.TraceID)
	field("SpanID", want.SpanID, got.SpanID)
	if !want.DecidedAt.IsZero() && !want.DecidedAt.Equal(got.DecidedAt) {
		out = append(out, fmt.Sprintf("DecidedAt = %v, want %v", got.DecidedAt, want.DecidedAt))
	}
	for _, k := range slices.Sorted(maps.Keys(want.Extra)) {
		if g, ok := got.Extra[k]; !ok || !jsonEqual(g, want.Extra[k]) {
			out = append(out, fmt.Sprintf("%s = %s, want %s", k, orMissing(g, ok), want.Extra[k]))
		}
	}
	return out
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && cmp.Equal(x, y)
}

func orMissing(v []byte, ok bool) string {
	if !ok {
		return "(missing)"
	}
	return string(v)
}

// appended returns the decoded events the command appended.
func (o *Outcome[S]) appended() []any {
	got := make([]any, len(o.res.Events))
	for i, ev := range o.res.Events {
		got[i] = ev.Data
	}
	return got
}

// stored counts the events in the aggregate's stream.
func (o *Outcome[S]) stored() int {
	n := 0
	for _, err := range o.store.ReadStream(context.Background(), o.stream, eventstore.ReadOptions{}) {
		if err != nil {
			break
		}
		n++
	}
	return n
}

func describe(events []any) string {
	var b strings.Builder
	for i, ev := range events {
		fmt.Fprintf(&b, "\t%d: %T %+v\n", i, ev, ev)
	}
	return b.String()
}

// encode encodes events through the registry, failing the test with what
// they are ("given event", "event", …) if the registry rejects one.
func encode(tb testing.TB, reg *schema.Registry, what string, events []any) []eventstore.EventData {
	tb.Helper()
	return encodeCtx(tb.Context(), tb, reg, what, events)
}

func encodeCtx(ctx context.Context, tb testing.TB, reg *schema.Registry, what string, events []any) []eventstore.EventData {
	tb.Helper()
	out := make([]eventstore.EventData, len(events))
	for i, ev := range events {
		d, err := reg.Encode(ctx, ev)
		if err != nil {
			tb.Fatalf("testkit: %s %d (%T) would be rejected in production: %v", what, i, ev, err)
		}
		out[i] = d
	}
	return out
}
