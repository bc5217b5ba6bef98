package aggregate_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/chronicle-go/chronicle/aggregate"
	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/schema"
	"github.com/chronicle-go/chronicle/testkit"
)

func TestNewRepositoryRejectsBadInput(t *testing.T) {
	store, reg := memory.New(), newRegistry(t)
	defer store.Close()
	withEvolve := func(category string) aggregate.Type[Account] {
		return aggregate.Type[Account]{Category: category, Evolve: evolve}
	}
	tests := []struct {
		name  string
		store eventstore.Store
		reg   *schema.Registry
		typ   aggregate.Type[Account]
		opts  []aggregate.Option
		want  error
	}{
		{"nil store", nil, reg, accountType, nil, aggregate.ErrInvalidOption},
		{"nil registry", store, nil, accountType, nil, aggregate.ErrInvalidOption},
		{"empty category", store, reg, withEvolve(""), nil, aggregate.ErrInvalidType},
		{"dash in category", store, reg, withEvolve("bank-account"), nil, aggregate.ErrInvalidType},
		{"system category", store, reg, withEvolve("$account"), nil, aggregate.ErrInvalidType},
		{"snapshot category", store, reg, withEvolve("chronicle"), nil, aggregate.ErrInvalidType},
		{"nil evolve", store, reg, aggregate.Type[Account]{Category: "account"}, nil, aggregate.ErrInvalidType},
		{"negative snapshot interval", store, reg, accountType, []aggregate.Option{aggregate.WithSnapshotEvery(-1)}, aggregate.ErrInvalidOption},
		{"zero snapshot retention", store, reg, accountType, []aggregate.Option{aggregate.WithSnapshotRetention(0)}, aggregate.ErrInvalidOption},
		{"negative retries", store, reg, accountType, []aggregate.Option{aggregate.WithMaxRetries(-1)}, aggregate.ErrInvalidOption},
		{"nil clock", store, reg, accountType, []aggregate.Option{aggregate.WithClock(nil)}, aggregate.ErrInvalidOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := aggregate.NewRepository(tt.store, tt.reg, tt.typ, tt.opts...)
			if !errors.Is(err, tt.want) || r != nil {
				t.Fatalf("NewRepository = %v, %v; want nil, %v", r, err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "aggregate: ") {
				t.Errorf("error %q does not start with the package name", err)
			}
		})
	}
}

func TestSnapshotVersionOfUnsupportedState(t *testing.T) {
	type withChan struct{ C chan int }
	typ := aggregate.Type[withChan]{Category: "chan", Evolve: func(s withChan, _ any) withChan { return s }}
	store := memory.New()
	defer store.Close()
	_, err := aggregate.NewRepository(store, newRegistry(t), typ, aggregate.WithSnapshotEvery(1))
	if !errors.Is(err, aggregate.ErrInvalidType) || !strings.Contains(err.Error(), "SnapshotVersion") {
		t.Fatalf("err = %v, want ErrInvalidType asking for a SnapshotVersion", err)
	}
	typ.SnapshotVersion = "v1"
	if _, err := aggregate.NewRepository(store, newRegistry(t), typ, aggregate.WithSnapshotEvery(1)); err != nil {
		t.Fatalf("with SnapshotVersion: %v", err)
	}
}

func TestTypeStreams(t *testing.T) {
	if got := accountType.Stream("7"); got != "account-7" {
		t.Errorf("Stream = %q", got)
	}
	if got := accountType.SnapshotStream("7"); got != "chronicle-snapshot-account-7" {
		t.Errorf("SnapshotStream = %q", got)
	}
	if c := eventstore.Category(accountType.SnapshotStream("7")); c == accountType.Category {
		t.Errorf("snapshot stream is in the aggregate's category %q", c)
	}
	e := newEnv(t)
	if got := e.repo.Type().Category; got != "account" {
		t.Errorf("Type().Category = %q", got)
	}
}

func TestCreateUpdateExecute(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)

	res := mustDo(e.repo.Create(ctx, "1", open("ada")))
	if want := (Account{Owner: "ada", Events: 1}); res.State != want {
		t.Errorf("state after Create = %+v, want %+v", res.State, want)
	}
	if rev, ok := res.Revision.Revision(); !ok || rev != 0 || res.Attempts != 1 || res.Position.IsZero() || len(res.Events) != 1 || res.ID != "1" {
		t.Errorf("Create result = %+v", res)
	}
	if got := res.Events[0].Data; got != (Opened{Owner: "ada"}) {
		t.Errorf("Events[0].Data = %#v", got)
	}

	res = mustDo(e.repo.Update(ctx, "1", deposit(10, 5)))
	if rev, _ := res.Revision.Revision(); rev != 2 || res.State.Balance != 15 {
		t.Errorf("Update result = %+v", res)
	}
	if res.Events[1].Record.Position != res.Position || res.Events[1].Record.Revision != 2 {
		t.Errorf("last event record = %+v, result position %v", res.Events[1].Record, res.Position)
	}

	res = mustDo(e.repo.Execute(ctx, "1", withdraw(15)))
	if rev, _ := res.Revision.Revision(); rev != 3 || res.State.Balance != 0 {
		t.Errorf("Execute on existing = %+v", res)
	}
	res = mustDo(e.repo.Execute(ctx, "2", open("bob")))
	if rev, _ := res.Revision.Revision(); rev != 0 || res.State.Owner != "bob" {
		t.Errorf("Execute on new = %+v", res)
	}

	a, err := e.repo.Load(ctx, "1")
	if err != nil {
		t.Fatal(err)
	}
	if want := (Account{Owner: "ada", Balance: 0, Events: 4}); a.State != want || !a.Exists() || a.Revision != eventstore.Exact(3) {
		t.Errorf("Load = %+v, want state %+v at 3", a, want)
	}
	var types []string
	for _, rec := range testkit.Records(t, e.store, "account-1") {
		types = append(types, rec.Type)
	}
	if diff := cmp.Diff([]string{"AccountOpened", "MoneyDeposited", "MoneyDeposited", "MoneyWithdrawn"}, types); diff != "" {
		t.Errorf("stored types (-want +got):\n%s", diff)
	}
}

func TestCreateExisting(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	mustDo(e.repo.Create(ctx, "1", open("ada")))
	ran := false
	_, err := e.repo.Create(ctx, "1", func(Account) ([]any, error) { ran = true; return []any{Opened{Owner: "eve"}}, nil })
	var ae *aggregate.AlreadyExistsError
	if !errors.As(err, &ae) || !errors.Is(err, aggregate.ErrAlreadyExists) || ae.Stream != "account-1" || ae.Revision != 0 {
		t.Fatalf("err = %v, want *AlreadyExistsError for account-1 at 0", err)
	}
	if ran {
		t.Error("the decision ran")
	}
	if n := len(testkit.Records(t, e.store, "account-1")); n != 1 {
		t.Errorf("stream has %d events, want 1", n)
	}
}

func TestUpdateMissing(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	ran := false
	_, err := e.repo.Update(ctx, "9", func(Account) ([]any, error) { ran = true; return []any{Deposited{Amount: 1}}, nil })
	var nf *aggregate.NotFoundError
	if !errors.As(err, &nf) || !errors.Is(err, aggregate.ErrNotFound) || nf.Stream != "account-9" {
		t.Fatalf("err = %v, want *NotFoundError for account-9", err)
	}
	if err.Error() != `aggregate: "account-9" not found` {
		t.Errorf("message = %q", err)
	}
	if ran || testkit.Records(t, e.store, "account-9") != nil {
		t.Error("the decision ran or something was written")
	}
	if _, err := e.repo.Load(ctx, "9"); !errors.Is(err, aggregate.ErrNotFound) {
		t.Errorf("Load of a missing aggregate = %v, want ErrNotFound", err)
	}
}

func TestDecisionRejects(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	mustDo(e.repo.Create(ctx, "1", open("ada")))
	res, err := e.repo.Update(ctx, "1", withdraw(5))
	var rej *aggregate.RejectedError
	if !errors.Is(err, errInsufficient) || !errors.Is(err, aggregate.ErrRejected) || !errors.As(err, &rej) || rej.Stream != "account-1" {
		t.Fatalf("err = %v, want a *RejectedError wrapping errInsufficient", err)
	}
	if !strings.Contains(err.Error(), "insufficient funds") {
		t.Errorf("message %q does not say why", err)
	}
	if res.Revision != eventstore.Exact(0) || len(res.Events) != 0 {
		t.Errorf("result = %+v, want the loaded aggregate and no events", res)
	}
	if n := len(testkit.Records(t, e.store, "account-1")); n != 1 {
		t.Errorf("stream has %d events, want 1", n)
	}
}

func TestInvalidEventsAppendNothing(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		events []any
		index  int
		cause  error
	}{
		{"violates its schema", []any{Deposited{Amount: 3}, Deposited{Amount: 0}}, 1, schema.ErrValidation},
		{"unregistered type", []any{Unregistered{}}, 0, schema.ErrUnknownType},
		{"nil event", []any{Deposited{Amount: 1}, nil}, 1, schema.ErrUnknownType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			mustDo(e.repo.Create(ctx, "1", open("ada")))
			_, err := e.repo.Update(ctx, "1", func(Account) ([]any, error) { return tt.events, nil })
			var ee *aggregate.EventError
			if !errors.As(err, &ee) || !errors.Is(err, aggregate.ErrInvalidEvent) || !errors.Is(err, tt.cause) {
				t.Fatalf("err = %v, want *EventError wrapping %v", err, tt.cause)
			}
			if ee.Index != tt.index || ee.Stream != "account-1" {
				t.Errorf("EventError = %+v, want index %d", ee, tt.index)
			}
			if n := len(testkit.Records(t, e.store, "account-1")); n != 1 {
				t.Errorf("stream has %d events, want 1 (nothing appended)", n)
			}
		})
	}
	t.Run("validation error lists the field", func(t *testing.T) {
		e := newEnv(t)
		_, err := e.repo.Create(ctx, "1", func(Account) ([]any, error) { return []any{Opened{}}, nil })
		var ve *schema.ValidationError
		if !errors.As(err, &ve) || len(ve.Violations) == 0 || ve.Violations[0].Pointer != "/owner" {
			t.Fatalf("err = %v, want a ValidationError on /owner", err)
		}
		if testkit.Records(t, e.store, "account-1") != nil {
			t.Error("the stream was created")
		}
	})
}

func TestNoEventsAppendsNothing(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	nothing := func(Account) ([]any, error) { return nil, nil }
	res := mustDo(e.repo.Execute(ctx, "1", nothing))
	if res.Exists() || res.Attempts != 1 || !res.Position.IsZero() {
		t.Errorf("Execute on a new aggregate = %+v", res)
	}
	if testkit.Records(t, e.store, "account-1") != nil {
		t.Error("the stream was created")
	}
	mustDo(e.repo.Create(ctx, "1", open("ada")))
	res = mustDo(e.repo.Update(ctx, "1", nothing))
	if res.Revision != eventstore.Exact(0) || res.State.Owner != "ada" {
		t.Errorf("Update with no events = %+v", res)
	}
}

func TestBadArguments(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	if _, err := e.repo.Execute(ctx, "", open("x")); !errors.Is(err, aggregate.ErrInvalidID) {
		t.Errorf("empty ID: %v", err)
	}
	if _, err := e.repo.Load(ctx, ""); !errors.Is(err, aggregate.ErrInvalidID) {
		t.Errorf("Load empty ID: %v", err)
	}
	if _, err := e.repo.Execute(ctx, "1", nil); !errors.Is(err, aggregate.ErrInvalidOption) {
		t.Errorf("nil decision: %v", err)
	}
	if testkit.Records(t, e.store, "account-") != nil || testkit.Records(t, e.store, "account-1") != nil {
		t.Error("something was written")
	}
}

func TestStoreFailures(t *testing.T) {
	ctx := context.Background()
	t.Run("closed store", func(t *testing.T) {
		e := newEnv(t)
		e.store.Close()
		if _, err := e.repo.Execute(ctx, "1", open("ada")); !errors.Is(err, eventstore.ErrClosed) {
			t.Errorf("Execute = %v, want ErrClosed", err)
		}
		if _, err := e.repo.Load(ctx, "1"); !errors.Is(err, eventstore.ErrClosed) {
			t.Errorf("Load = %v, want ErrClosed", err)
		}
	})
	t.Run("append fails", func(t *testing.T) {
		store := &faultyStore{Store: memory.New(), append: func(string) error { return errInjected }}
		defer store.Close()
		repo := mustRepo(t, store, newRegistry(t), accountType)
		_, err := repo.Execute(ctx, "1", open("ada"))
		if !errors.Is(err, errInjected) || errors.Is(err, aggregate.ErrConflict) {
			t.Errorf("Execute = %v, want the append error", err)
		}
	})
	t.Run("tombstoned stream", func(t *testing.T) {
		e := newEnv(t)
		mustDo(e.repo.Create(ctx, "1", open("ada")))
		if _, err := e.store.Tombstone(ctx, "account-1", eventstore.Any); err != nil {
			t.Fatal(err)
		}
		if _, err := e.repo.Execute(ctx, "1", deposit(1)); !errors.Is(err, eventstore.ErrStreamDeleted) {
			t.Errorf("Execute = %v, want ErrStreamDeleted", err)
		}
	})
	t.Run("soft-deleted stream can be created again", func(t *testing.T) {
		e := newEnv(t)
		mustDo(e.repo.Create(ctx, "1", open("ada")))
		if _, err := e.store.Delete(ctx, "account-1", eventstore.Any); err != nil {
			t.Fatal(err)
		}
		if _, err := e.repo.Update(ctx, "1", deposit(1)); !errors.Is(err, aggregate.ErrNotFound) {
			t.Errorf("Update after delete = %v, want ErrNotFound", err)
		}
		res := mustDo(e.repo.Create(ctx, "1", open("bob")))
		if res.State != (Account{Owner: "bob", Events: 1}) || res.Revision != eventstore.Exact(1) {
			t.Errorf("Create after delete = %+v", res)
		}
	})
	t.Run("undecodable event", func(t *testing.T) {
		e := newEnv(t)
		if _, err := e.store.Append(ctx, "account-1", eventstore.NoStream, eventstore.EventData{Type: "Mystery", Data: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
		_, err := e.repo.Load(ctx, "1")
		if !errors.Is(err, schema.ErrUnknownType) || !strings.Contains(err.Error(), `"account-1" revision 0`) {
			t.Errorf("Load = %v, want ErrUnknownType naming the event", err)
		}
	})
}

// competingDecision returns a decision that, the first `times` times it
// runs, appends an event behind the repository's back, so that the
// repository's append conflicts.
func competingDecision(t *testing.T, store eventstore.Store, reg *schema.Registry, times int, seen *[]int) aggregate.Decision[Account] {
	return func(a Account) ([]any, error) {
		*seen = append(*seen, a.Balance)
		if len(*seen) <= times {
			d, err := reg.Encode(context.Background(), Deposited{Amount: 100})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := store.Append(context.Background(), "account-1", eventstore.Any, d); err != nil {
				t.Fatal(err)
			}
		}
		return []any{Withdrawn{Amount: 1}}, nil
	}
}

func TestConflictRetries(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	mustDo(e.repo.Create(ctx, "1", open("ada")))
	var seen []int
	res := mustDo(e.repo.Update(ctx, "1", competingDecision(t, e.store, e.reg, 2, &seen)))
	if res.Attempts != 3 {
		t.Errorf("Attempts = %d, want 3", res.Attempts)
	}
	if diff := cmp.Diff([]int{0, 100, 200}, seen); diff != "" {
		t.Errorf("states the decision saw (-want +got):\n%s", diff)
	}
	if res.State.Balance != 199 || res.Revision != eventstore.Exact(3) {
		t.Errorf("result = %+v", res)
	}
}

func TestConflictGivesUp(t *testing.T) {
	ctx := context.Background()
	for _, retries := range []int{0, 2} {
		e := newEnv(t, aggregate.WithMaxRetries(retries))
		mustDo(e.repo.Create(ctx, "1", open("ada")))
		var seen []int
		_, err := e.repo.Update(ctx, "1", competingDecision(t, e.store, e.reg, 100, &seen))
		var ce *aggregate.ConflictError
		var wev *eventstore.WrongExpectedVersionError
		if !errors.As(err, &ce) || !errors.Is(err, aggregate.ErrConflict) || !errors.Is(err, eventstore.ErrWrongExpectedVersion) || !errors.As(err, &wev) {
			t.Fatalf("retries %d: err = %v, want a *ConflictError unwrapping to the conflict", retries, err)
		}
		if ce.Attempts != retries+1 || len(seen) != retries+1 || ce.Stream != "account-1" {
			t.Errorf("retries %d: %d attempts, decision ran %d times", retries, ce.Attempts, len(seen))
		}
		if wev.Actual != eventstore.Exact(uint64(retries+1)) {
			t.Errorf("retries %d: last conflict %v", retries, wev)
		}
		for _, rec := range testkit.Records(t, e.store, "account-1") {
			if rec.Type == "MoneyWithdrawn" {
				t.Errorf("retries %d: the repository appended despite the conflicts", retries)
			}
		}
	}
}

// Concurrent writers converge with a small bound on retries: conflicts
// back off with jitter instead of retrying in lockstep (which needed 1 000
// retries here).
func TestConcurrentCommands(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, aggregate.WithMaxRetries(25))
	mustDo(e.repo.Create(ctx, "1", open("ada")))
	const workers, each = 16, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for range workers {
		wg.Go(func() {
			for range each {
				if _, err := e.repo.Update(ctx, "1", deposit(1)); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	a, err := e.repo.Load(ctx, "1")
	if err != nil {
		t.Fatal(err)
	}
	if a.State.Balance != workers*each || a.Revision != eventstore.Exact(workers*each) {
		t.Errorf("after %d concurrent deposits: %+v", workers*each, a)
	}
}

// The wait between attempts ends with the context: the command fails with
// a ConflictError that matches the context's error too.
func TestConflictBackoffEndsWithTheContext(t *testing.T) {
	e := newEnv(t, aggregate.WithConflictBackoff(time.Hour, time.Hour), aggregate.WithMaxRetries(5))
	mustDo(e.repo.Create(context.Background(), "1", open("ada")))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	var seen []int
	_, err := e.repo.Update(ctx, "1", competingDecision(t, e.store, e.reg, 100, &seen))
	var ce *aggregate.ConflictError
	if !errors.As(err, &ce) || !errors.Is(err, aggregate.ErrConflict) || !errors.Is(err, context.DeadlineExceeded) ||
		!errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		t.Fatalf("err = %v, want a ConflictError matching the deadline and the conflict", err)
	}
	if ce.Attempts != len(seen) || ce.Attempts > 5 {
		t.Errorf("%d attempts, the decision ran %d times", ce.Attempts, len(seen))
	}
}

// The wait between attempts is on the repository's clock: a fake clock
// holds the retry until the test advances it.
func TestConflictBackoffUsesTheClock(t *testing.T) {
	clock := testkit.NewClock(time.Time{})
	e := newEnv(t, aggregate.WithClock(clock), aggregate.WithConflictBackoff(time.Second, time.Second))
	mustDo(e.repo.Create(context.Background(), "1", open("ada")))
	var seen []int
	done := make(chan error, 1)
	go func() {
		_, err := e.repo.Update(context.Background(), "1", competingDecision(t, e.store, e.reg, 1, &seen))
		done <- err
	}()
	if err := clock.WaitPending(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Fatalf("the command returned %v before the clock moved", err)
	default:
	}
	clock.Advance(time.Second) // the delay is in [0, 1s)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 {
		t.Errorf("decision ran %d times, want 2", len(seen))
	}
}

func TestConflictBackoffOption(t *testing.T) {
	for _, tt := range []struct{ initial, max time.Duration }{{-1, time.Second}, {0, time.Second}, {time.Second, time.Millisecond}, {time.Second, 0}} {
		_, err := aggregate.NewRepository(memory.New(), newRegistry(t), accountType, aggregate.WithConflictBackoff(tt.initial, tt.max))
		if !errors.Is(err, aggregate.ErrInvalidOption) {
			t.Errorf("WithConflictBackoff(%v, %v): %v, want ErrInvalidOption", tt.initial, tt.max, err)
		}
	}
	e := newEnv(t, aggregate.WithConflictBackoff(0, 0)) // retry at once
	mustDo(e.repo.Create(context.Background(), "1", open("ada")))
	var seen []int
	if res := mustDo(e.repo.Update(context.Background(), "1", competingDecision(t, e.store, e.reg, 2, &seen))); res.Attempts != 3 {
		t.Errorf("Attempts = %d, want 3", res.Attempts)
	}
}

func TestMetadataPropagation(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	e := newEnv(t, aggregate.WithTracerProvider(tp))

	ctx := schema.WithCorrelation(context.Background(), "corr-1", "cmd-7")
	mustDo(e.repo.Execute(ctx, "1", open("ada")))
	// Without a correlation in the context, one decision's events share the
	// first event's ID as their correlation, and one decided-at time.
	res := mustDo(e.repo.Execute(context.Background(), "1", deposit(1, 2, 3)))

	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want one per command", len(spans))
	}
	if spans[0].Name() != "aggregate.execute account" {
		t.Errorf("span name %q", spans[0].Name())
	}
	stored := testkit.Records(t, e.store, "account-1")
	md := func(i int) schema.Metadata {
		ev, err := e.reg.Decode(stored[i])
		if err != nil {
			t.Fatal(err)
		}
		return ev.Metadata
	}
	first := md(0)
	if first.CorrelationID != "corr-1" || first.CausationID != "cmd-7" {
		t.Errorf("first command's metadata = %+v", first)
	}
	if first.TraceID != spans[0].SpanContext().TraceID().String() || first.SpanID != spans[0].SpanContext().SpanID().String() || first.TraceParent == "" {
		t.Errorf("trace context %s/%s, want the command span's %v", first.TraceID, first.SpanID, spans[0].SpanContext())
	}
	corr := res.Events[0].Record.ID.String()
	for i := 1; i <= 3; i++ {
		m := md(i)
		if m.CorrelationID != corr || m.CausationID != "" || !m.DecidedAt.Equal(md(1).DecidedAt) {
			t.Errorf("event %d metadata = %+v, want correlation %s and the first event's decided-at", i, m, corr)
		}
		if m.SpanID != spans[1].SpanContext().SpanID().String() {
			t.Errorf("event %d span %s, want %s", i, m.SpanID, spans[1].SpanContext().SpanID())
		}
	}
	attrs := map[string]string{}
	for _, kv := range spans[1].Attributes() {
		attrs[string(kv.Key)] = kv.Value.String()
	}
	want := map[string]string{
		"chronicle.aggregate.category": "account", "chronicle.stream": "account-1",
		"chronicle.aggregate.command": "execute", "chronicle.aggregate.attempts": "1",
		"chronicle.aggregate.outcome": "ok", "chronicle.revision": "3", "chronicle.aggregate.events": "3",
	}
	if diff := cmp.Diff(want, attrs); diff != "" {
		t.Errorf("span attributes (-want +got):\n%s", diff)
	}
}

func TestFailedCommandSpanAndLog(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := newEnv(t, aggregate.WithTracerProvider(tp), aggregate.WithLogger(log))
	if _, err := e.repo.Update(context.Background(), "1", deposit(1)); err == nil {
		t.Fatal("Update of a missing aggregate succeeded")
	}
	span := rec.Ended()[0]
	if span.Status().Code.String() != "Error" || len(span.Events()) == 0 {
		t.Errorf("span status %v, events %v", span.Status(), span.Events())
	}
	if !strings.Contains(logs.String(), "command failed") || !strings.Contains(logs.String(), "outcome=not_found") {
		t.Errorf("log = %s", logs.String())
	}
	logs.Reset()
	ctx := schema.WithCorrelation(context.Background(), "corr-5", "")
	mustDo(e.repo.Create(ctx, "1", open("ada")))
	res := mustDo(e.repo.Update(context.Background(), "1", deposit(1)))
	for _, want := range []string{
		`msg="command done" stream=account-1 command=create correlation_id=corr-5 events=1 revision=0`,
		`msg="command done" stream=account-1 command=update correlation_id=` + res.Events[0].Record.ID.String(),
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log does not contain %q:\n%s", want, logs.String())
		}
	}
}

func TestMetrics(t *testing.T) {
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(ctx)
	e := newEnv(t, aggregate.WithMeterProvider(mp), aggregate.WithMaxRetries(0), aggregate.WithSnapshotEvery(2))

	mustDo(e.repo.Create(ctx, "1", open("ada")))                            // ok
	mustDo(e.repo.Update(ctx, "1", deposit(5)))                             // ok, snapshot
	e.repo.Create(ctx, "1", open("ada"))                                    // already_exists
	e.repo.Update(ctx, "2", deposit(1))                                     // not_found
	e.repo.Update(ctx, "1", withdraw(50))                                   // rejected
	e.repo.Update(ctx, "1", deposit(0))                                     // invalid_event
	var seen []int                                                          //
	e.repo.Update(ctx, "1", competingDecision(t, e.store, e.reg, 1, &seen)) // conflict

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	outcomes := map[string]int64{}
	sums := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != "github.com/chronicle-go/chronicle/aggregate" {
			t.Errorf("scope %q", sm.Scope.Name)
		}
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					sums[m.Name] += dp.Value
					if m.Name == "chronicle.aggregate.commands" {
						o, _ := dp.Attributes.Value("chronicle.aggregate.outcome")
						outcomes[o.AsString()] += dp.Value
					}
				}
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					sums[m.Name] += int64(dp.Count)
				}
			}
		}
	}
	wantOutcomes := map[string]int64{"ok": 2, "already_exists": 1, "not_found": 1, "rejected": 1, "invalid_event": 1, "conflict": 1}
	if diff := cmp.Diff(wantOutcomes, outcomes); diff != "" {
		t.Errorf("command outcomes (-want +got):\n%s", diff)
	}
	if sums["chronicle.aggregate.command.duration"] != 7 || sums["chronicle.aggregate.conflicts"] != 1 || sums["chronicle.aggregate.snapshots"] != 1 {
		t.Errorf("metrics = %v", sums)
	}
	if sums["chronicle.aggregate.events.loaded"] == 0 {
		t.Errorf("no events.loaded recorded: %v", sums)
	}
}
