package main

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/sqlite"
	"github.com/chronicle-go/chronicle/resilience"
	"github.com/chronicle-go/chronicle/saga"
	"github.com/chronicle-go/chronicle/schema"
)

type shipment struct {
	Order string `json:"order"`
}

var errBroken = errors.New("warehouse API down")

// sagaEngine returns an engine of the workflow "shipping" (pick → pack →
// label) over store: label fails when the order is "fail", and pick's
// compensation fails while *undoBroken.
func sagaEngine(t *testing.T, store eventstore.Store, undoBroken *bool) *saga.Engine[shipment] {
	t.Helper()
	reg := schema.MustNewRegistry()
	schema.MustRegister[shipment](reg, "ShipmentRequested", 1)
	retry, err := resilience.NewRetry(resilience.RetryConfig{MaxAttempts: 2, InitialDelay: time.Microsecond, MaxDelay: time.Microsecond})
	if err != nil {
		t.Fatal(err)
	}
	ok := func(context.Context, saga.StepContext[shipment]) error { return nil }
	def := saga.New("shipping",
		saga.Step[shipment]{Name: "pick", Action: ok, Retry: retry, Compensate: func(context.Context, saga.StepContext[shipment]) error {
			if *undoBroken {
				return errBroken
			}
			return nil
		}},
		saga.Step[shipment]{Name: "pack", Action: ok, Retry: retry, Compensate: ok},
		saga.Step[shipment]{Name: "label", Retry: retry, Action: func(_ context.Context, sc saga.StepContext[shipment]) error {
			if sc.Input.Order == "fail" {
				return errBroken
			}
			return nil
		}},
	)
	e, err := saga.NewEngine(store, reg, def)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// seedSagas starts s1 (completed) and s2 (needs attention at pick's
// compensation) in store.
func seedSagas(t *testing.T, store eventstore.Store, undoBroken *bool) *saga.Engine[shipment] {
	t.Helper()
	e := sagaEngine(t, store, undoBroken)
	if st, err := e.Start(t.Context(), "s1", shipment{"ok"}); err != nil || st.Status != saga.Completed {
		t.Fatalf("s1: %+v, %v", st, err)
	}
	if st, err := e.Start(t.Context(), "s2", shipment{"fail"}); err != nil || st.Status != saga.NeedsAttention {
		t.Fatalf("s2: %+v, %v", st, err)
	}
	return e
}

func TestSagaListAndShow(t *testing.T) {
	url, store := newStore(t, "s")
	broken := true
	seedSagas(t, store, &broken)

	out := mustRun(t, "", "saga", "list", "--store", url)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "WORKFLOW") ||
		!strings.Contains(lines[1], "s1") || !strings.Contains(lines[1], "completed") ||
		!strings.Contains(lines[2], "s2") || !strings.Contains(lines[2], "needs-attention") || !strings.Contains(lines[2], "pick") ||
		!strings.Contains(lines[2], errBroken.Error()) {
		t.Fatalf("saga list:\n%s", out)
	}
	out = mustRun(t, "", "saga", "list", "--store", url, "--state", "needs-attention", "--json")
	got := parseLines(t, out)
	if len(got) != 1 || got[0]["id"] != "s2" || got[0]["workflow"] != "shipping" || got[0]["status"] != "needs-attention" ||
		got[0]["step"] != "pick" || len(got[0]["steps"].([]any)) != 3 {
		t.Fatalf("saga list --state needs-attention --json: %v", got)
	}
	if out := mustRun(t, "", "saga", "list", "--store", url, "--state", "completed", "--workflow", "shipping", "--json"); len(parseLines(t, out)) != 1 {
		t.Fatalf("--state completed: %s", out)
	}
	if out := mustRun(t, "", "saga", "list", "--store", url, "--workflow", "billing"); out != "no sagas\n" {
		t.Fatalf("list of another workflow: %q", out)
	}
	if out := mustRun(t, "", "saga", "list", "--store", url, "--workflow", "billing", "--json"); out != "" {
		t.Fatalf("empty --json list: %q", out)
	}

	out = mustRun(t, "", "saga", "show", "shipping", "s2", "--store", url)
	if got := headerField(out, "status"); got != "needs-attention" {
		t.Errorf("saga show: status %q", got)
	}
	for _, want := range []string{"SagaCompensationStarted", "SagaNeedsAttention", "compensation-failed",
		"chronicle saga retry shipping s2", "chronicle saga skip-step shipping s2 pick"} {
		if !strings.Contains(out, want) {
			t.Errorf("saga show lacks %q:\n%s", want, out)
		}
	}
	out = mustRun(t, "", "saga", "show", "shipping", "s1", "--store", url, "--json")
	got = parseLines(t, out)
	if len(got) != 1 || got[0]["status"] != "completed" {
		t.Fatalf("show --json: %s", out)
	}
	timeline := got[0]["timeline"].([]any)
	first, last := timeline[0].(map[string]any), timeline[len(timeline)-1].(map[string]any)
	if len(timeline) != 8 || first["type"] != saga.EventStarted || last["type"] != saga.EventCompleted {
		t.Fatalf("timeline of a completed three-step saga: %v", timeline)
	}
	if out := mustRun(t, "", "saga", "show", "shipping", "s1", "--store", url); strings.Contains(out, "needs attention") {
		t.Errorf("hint shown for a completed saga:\n%s", out)
	}
}

func TestSagaBadInput(t *testing.T) {
	url, store := newStore(t, "s")
	broken := true
	seedSagas(t, store, &broken)
	before := len(allEvents(t, store))
	wantError(t, `--state "stuck": want one of needs-attention, running`, "saga", "list", "--store", url, "--state", "stuck")
	wantError(t, "saga: unknown saga", "saga", "show", "shipping", "nope", "--store", url)
	wantError(t, "saga: unknown saga", "saga", "show", "billing", "s1", "--store", url)
	wantError(t, "saga: unknown saga", "saga", "show", "shipping-s1", "x", "--store", url) // not saga "shipping" "s1-x"
	wantError(t, "accepts 2 arg(s)", "saga", "show", "s1", "--store", url)
	wantError(t, "saga: unknown saga", "saga", "retry", "shipping", "nope", "--store", url)
	wantError(t, "saga: unknown saga", "saga", "retry", "no-such", "s2", "--store", url)
	wantError(t, "shipping s1 is completed", "saga", "retry", "shipping", "s1", "--store", url)
	wantError(t, `step "pack" has no failed compensation`, "saga", "skip-step", "shipping", "s2", "pack", "--store", url)
	wantError(t, `step "ship" has no failed compensation`, "saga", "skip-step", "shipping", "s2", "ship", "--store", url)
	wantError(t, "accepts 3 arg(s)", "saga", "skip-step", "shipping", "s2", "--store", url)
	wantError(t, "open store", "saga", "list", "--store", "nosuch:")
	wantError(t, "open store", "saga", "retry", "shipping", "s2", "--store", "nosuch:")
	if after := len(allEvents(t, store)); after != before {
		t.Fatalf("refused commands wrote %d events", after-before)
	}
	codes := []struct {
		args []string
		want int
	}{
		{[]string{"saga", "list", "--state", "stuck"}, exitUsage},
		{[]string{"saga", "list", "--bogus"}, exitUsage},
		{[]string{"saga", "bogus"}, exitUsage},
		{[]string{"saga", "show", "shipping"}, exitUsage},
		{[]string{"saga", "skip-step", "shipping", "s2"}, exitUsage},
		{[]string{"saga", "show", "shipping", "nope"}, exitNotFound},
		{[]string{"saga", "retry", "shipping", "nope"}, exitNotFound},
		{[]string{"saga", "skip-step", "shipping", "nope", "pick"}, exitNotFound},
		{[]string{"saga", "retry", "shipping", "s1"}, exitFailure},             // completed
		{[]string{"saga", "skip-step", "shipping", "s2", "pack"}, exitFailure}, // no failed compensation
		{[]string{"saga", "show", "shipping", "s1"}, exitOK},
	}
	if out := mustRun(t, "", "saga"); !strings.Contains(out, "skip-step") {
		t.Errorf("chronicle saga without a subcommand: %q, want help", out)
	}
	for _, c := range codes {
		_, _, err := run(t, "", append(c.args, "--store", url)...)
		if got := exitCode(err); got != c.want {
			t.Errorf("chronicle %s: exit code %d (error %v), want %d", strings.Join(c.args, " "), got, err, c.want)
		}
	}
}

func TestSagaRetryAndSkip(t *testing.T) {
	for _, how := range []string{"retry", "skip-step"} {
		t.Run(how, func(t *testing.T) {
			url, store := newStore(t, "s")
			broken := true
			e := seedSagas(t, store, &broken)
			var out string
			if how == "retry" {
				broken = false
				out = mustRun(t, "", "saga", "retry", "shipping", "s2", "--store", url)
			} else {
				out = mustRun(t, "", "saga", "skip-step", "shipping", "s2", "pick", "--store", url, "--json")
			}
			if how == "retry" && !strings.Contains(out, "requested a retry of the failed compensation of saga shipping s2") {
				t.Fatalf("retry output:\n%s", out)
			}
			if how == "skip-step" {
				got := parseLines(t, out)
				if len(got) != 1 || got[0]["status"] != "compensating" {
					t.Fatalf("skip-step --json: %s", out)
				}
			}
			// Only the request was written; the engine carries it out.
			st, err := e.Load(t.Context(), "s2")
			if err != nil || st.Status != saga.Compensating {
				t.Fatalf("after %s: %+v, %v", how, st, err)
			}
			wantError(t, "shipping s2 is compensating", "saga", "retry", "shipping", "s2", "--store", url)
			wantError(t, "shipping s2 is compensating", "saga", "skip-step", "shipping", "s2", "pick", "--store", url)
			if n, err := e.ResumeAll(t.Context()); n != 1 || err != nil {
				t.Fatalf("ResumeAll = %d, %v", n, err)
			}
			out = mustRun(t, "", "saga", "show", "shipping", "s2", "--store", url)
			want := saga.EventRetryRequested
			if how == "skip-step" {
				want = saga.EventStepSkipped
			}
			if headerField(out, "status") != "compensated" || !strings.Contains(out, want) {
				t.Fatalf("show after the engine ran:\n%s", out)
			}
		})
	}
}

// TestSagaLiveEmbeddedStore: list and show read an embedded store that a
// running service holds open for writing; retry explains why it cannot.
func TestSagaLiveEmbeddedStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "live.db")
	store, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	broken := true
	seedSagas(t, store, &broken)
	url := "sqlite://" + path
	if out := mustRun(t, "", "saga", "list", "--store", url, "--json"); len(parseLines(t, out)) != 2 {
		t.Fatalf("list of a live store: %s", out)
	}
	if out := mustRun(t, "", "saga", "show", "shipping", "s2", "--store", url); !strings.Contains(out, "needs-attention") {
		t.Fatalf("show of a live store: %s", out)
	}
	wantError(t, "open for writing by another process", "saga", "retry", "shipping", "s2", "--store", url)
}

// headerField returns the value of the line "key   value" of show's output.
func headerField(out, key string) string {
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) == 2 && f[0] == key {
			return f[1]
		}
	}
	return ""
}
