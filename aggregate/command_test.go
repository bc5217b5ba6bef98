package aggregate_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/chronicle-go/chronicle/aggregate"
	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/schema"
	"github.com/chronicle-go/chronicle/testkit"
)

// A caller that read revision n (an HTTP If-Match) gets
// ErrWrongExpectedVersion when the aggregate moved on, without a retry and
// without the decision running.
func TestExpectedRevisionFromTheCaller(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	mustDo(e.repo.Create(ctx, "1", open("ada")))
	mustDo(e.repo.Update(ctx, "1", deposit(5))) // revision 1

	ran := 0
	counting := func(a Account) ([]any, error) { ran++; return deposit(1)(a) }
	tests := []struct {
		name     string
		run      func() (aggregate.Result[Account], error)
		actual   eventstore.ExpectedRevision
		expected eventstore.ExpectedRevision
	}{
		{"stale revision", func() (aggregate.Result[Account], error) {
			return e.repo.Update(ctx, "1", counting, aggregate.WithExpectedRevision(eventstore.Exact(0)))
		}, eventstore.Exact(1), eventstore.Exact(0)},
		{"future revision", func() (aggregate.Result[Account], error) {
			return e.repo.Update(ctx, "1", counting, aggregate.WithExpectedRevision(eventstore.Exact(7)))
		}, eventstore.Exact(1), eventstore.Exact(7)},
		{"no stream, but it exists", func() (aggregate.Result[Account], error) {
			return e.repo.Execute(ctx, "1", counting, aggregate.WithExpectedRevision(eventstore.NoStream))
		}, eventstore.Exact(1), eventstore.NoStream},
		{"stream exists, but it does not", func() (aggregate.Result[Account], error) {
			return e.repo.Execute(ctx, "2", counting, aggregate.WithExpectedRevision(eventstore.StreamExists))
		}, eventstore.NoStream, eventstore.StreamExists},
		{"exact on a missing stream", func() (aggregate.Result[Account], error) {
			return e.repo.Execute(ctx, "2", counting, aggregate.WithExpectedRevision(eventstore.Exact(0)))
		}, eventstore.NoStream, eventstore.Exact(0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ran = 0
			res, err := tt.run()
			var wev *eventstore.WrongExpectedVersionError
			if !errors.As(err, &wev) || !errors.Is(err, eventstore.ErrWrongExpectedVersion) || errors.Is(err, aggregate.ErrConflict) {
				t.Fatalf("err = %v, want a WrongExpectedVersionError and no ConflictError", err)
			}
			if wev.Expected != tt.expected || wev.Actual != tt.actual {
				t.Errorf("error says expected %v, actual %v; want %v, %v", wev.Expected, wev.Actual, tt.expected, tt.actual)
			}
			if ran != 0 || res.Attempts != 1 {
				t.Errorf("decision ran %d times in %d attempts, want 0 in 1", ran, res.Attempts)
			}
		})
	}
	if n := len(testkit.Records(t, e.store, "account-1")); n != 2 {
		t.Errorf("%d events after the refused commands, want 2", n)
	}

	// Matching expectations run as usual.
	res := mustDo(e.repo.Update(ctx, "1", deposit(1), aggregate.WithExpectedRevision(eventstore.Exact(1))))
	mustDo(e.repo.Update(ctx, "1", deposit(1), aggregate.WithExpectedRevision(eventstore.Any)))
	mustDo(e.repo.Update(ctx, "1", deposit(1), aggregate.WithExpectedRevision(eventstore.StreamExists)))
	mustDo(e.repo.Create(ctx, "3", open("bob"), aggregate.WithExpectedRevision(eventstore.NoStream)))
	if res.Revision != eventstore.Exact(2) {
		t.Errorf("revision after the matching command = %v", res.Revision)
	}

	// A writer that wins the race between load and append: no retry.
	var seen []int
	_, err := e.repo.Update(ctx, "1", competingDecision(t, e.store, e.reg, 5, &seen), aggregate.WithExpectedRevision(eventstore.Exact(4)))
	if !errors.Is(err, eventstore.ErrWrongExpectedVersion) || errors.Is(err, aggregate.ErrConflict) || len(seen) != 1 {
		t.Fatalf("lost race: err = %v after %d decisions, want ErrWrongExpectedVersion after 1", err, len(seen))
	}

	// Any expects nothing: a lost race is retried as without the option.
	var raced []int
	if res, err := e.repo.Update(ctx, "1", competingDecision(t, e.store, e.reg, 1, &raced), aggregate.WithExpectedRevision(eventstore.Any)); err != nil || res.Attempts != 2 {
		t.Errorf("Update with Any after a lost race = %+v, %v; want success in 2 attempts", res, err)
	}
}

func TestCommandName(t *testing.T) {
	ctx := context.Background()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(ctx)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(ctx)
	e := newEnv(t, aggregate.WithTracerProvider(tp), aggregate.WithMeterProvider(mp))

	mustDo(e.repo.Create(ctx, "1", open("ada"), aggregate.WithCommandName("OpenAccount")))
	res := mustDo(e.repo.Update(ctx, "1", deposit(1, 2), aggregate.WithCommandName("Deposit")))
	mustDo(e.repo.Update(ctx, "1", deposit(3)))

	for i, ev := range res.Events {
		if got := string(ev.Metadata.Extra[aggregate.MetadataCommand]); got != `"Deposit"` {
			t.Errorf("event %d: metadata command = %s", i, got)
		}
	}
	stored := testkit.Records(t, e.store, "account-1")
	ev, err := e.reg.Decode(stored[3])
	if err != nil {
		t.Fatal(err)
	}
	if _, named := ev.Metadata.Extra[aggregate.MetadataCommand]; named {
		t.Errorf("an unnamed command's event has a command in its metadata: %s", stored[3].Metadata)
	}

	var names []string
	for _, s := range rec.Ended() {
		name := ""
		for _, kv := range s.Attributes() {
			if kv.Key == "chronicle.aggregate.command.name" {
				name = kv.Value.AsString()
			}
		}
		names = append(names, name)
	}
	if diff := cmp.Diff([]string{"OpenAccount", "Deposit", ""}, names); diff != "" {
		t.Errorf("span command names (-want +got):\n%s", diff)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	counted := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if d, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "chronicle.aggregate.commands" {
				for _, dp := range d.DataPoints {
					v, _ := dp.Attributes.Value("chronicle.aggregate.command.name")
					counted[v.AsString()] += dp.Value
				}
			}
		}
	}
	if diff := cmp.Diff(map[string]int64{"OpenAccount": 1, "Deposit": 1, "": 1}, counted); diff != "" {
		t.Errorf("commands by name (-want +got):\n%s", diff)
	}

	for name, opt := range map[string]aggregate.CommandOption{"empty name": aggregate.WithCommandName(""), "nil option": nil} {
		if _, err := e.repo.Update(ctx, "1", deposit(1), opt); !errors.Is(err, aggregate.ErrInvalidOption) {
			t.Errorf("%s: err = %v, want ErrInvalidOption", name, err)
		}
	}
}

func TestAfterAppendHook(t *testing.T) {
	ctx := context.Background()
	type call struct {
		stream    string
		revisions []uint64
	}
	var calls []call
	var fail error
	hook := func(_ context.Context, stream string, events []schema.Event) error {
		c := call{stream: stream}
		for _, ev := range events {
			c.revisions = append(c.revisions, ev.Record.Revision)
		}
		calls = append(calls, c)
		return fail
	}
	e := newEnv(t, aggregate.WithAfterAppend(hook))
	mustDo(e.repo.Create(ctx, "1", open("ada")))
	mustDo(e.repo.Update(ctx, "1", deposit(1, 2)))
	mustDo(e.repo.Update(ctx, "1", func(Account) ([]any, error) { return nil, nil })) // nothing appended
	_, _ = e.repo.Update(ctx, "1", withdraw(100))                                     // rejected
	want := []call{{"account-1", []uint64{0}}, {"account-1", []uint64{1, 2}}}
	if diff := cmp.Diff(want, calls, cmp.AllowUnexported(call{})); diff != "" {
		t.Errorf("hook calls (-want +got):\n%s", diff)
	}

	fail = errors.New("outbox down")
	res, err := e.repo.Update(ctx, "1", deposit(4))
	var ae *aggregate.AfterAppendError
	if !errors.As(err, &ae) || !errors.Is(err, aggregate.ErrAfterAppend) || !errors.Is(err, fail) || ae.Stream != "account-1" {
		t.Fatalf("err = %v, want an AfterAppendError wrapping the hook's", err)
	}
	if res.Revision != eventstore.Exact(3) || len(res.Events) != 1 || len(testkit.Records(t, e.store, "account-1")) != 4 {
		t.Errorf("the failed hook's command: result %+v; the event must be appended and reported", res)
	}

	if _, err := aggregate.NewRepository(e.store, e.reg, accountType, aggregate.WithAfterAppend(nil)); !errors.Is(err, aggregate.ErrInvalidOption) {
		t.Errorf("WithAfterAppend(nil): %v", err)
	}
}

// Snapshots carry the metadata of the event they were taken after, and
// their stream's $maxCount follows the retention policy when it changes,
// keeping the rest of the stream's metadata.
func TestSnapshotMetadataAndRetentionChanges(t *testing.T) {
	ctx := schema.WithCorrelation(context.Background(), "corr-9", "")
	clock := testkit.NewClock(time.Time{})
	e := newEnv(t, aggregate.WithSnapshotEvery(1), aggregate.WithSnapshotRetention(2), aggregate.WithClock(clock))
	mustDo(e.repo.Create(ctx, "1", open("ada")))
	res := mustDo(e.repo.Update(ctx, "1", deposit(1), aggregate.WithCommandName("Deposit")))

	stream := accountType.SnapshotStream("1")
	recs := testkit.Records(t, e.store, stream)
	var md schema.Metadata
	if err := md.UnmarshalJSON(recs[len(recs)-1].Metadata); err != nil {
		t.Fatal(err)
	}
	last := res.Events[0]
	if md.CorrelationID != "corr-9" || md.CausationID != last.Record.ID.String() || !md.DecidedAt.Equal(testkit.Epoch) ||
		md.SchemaVersion != 0 || string(md.Extra[aggregate.MetadataCommand]) != `"Deposit"` {
		t.Errorf("snapshot metadata = %+v", md)
	}

	meta, err := e.store.GetStreamMetadata(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	custom := meta.Metadata
	custom.MaxAge = time.Hour
	if _, err := e.store.SetStreamMetadata(ctx, stream, meta.Revision, custom); err != nil {
		t.Fatal(err)
	}
	for _, keep := range []int{5, 1} {
		repo := mustRepo(t, e.store, e.reg, accountType, aggregate.WithSnapshotEvery(1), aggregate.WithSnapshotRetention(keep))
		mustDo(repo.Update(ctx, "1", deposit(1)))
		got, err := e.store.GetStreamMetadata(ctx, stream)
		if err != nil || got.Metadata.MaxCount != uint64(keep) || got.Metadata.MaxAge != time.Hour {
			t.Errorf("retention %d: stream metadata %+v, %v; want $maxCount %d and $maxAge kept", keep, got.Metadata, err, keep)
		}
	}
}
