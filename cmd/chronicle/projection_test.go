package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/sqlite"
	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/schema"
	"github.com/chronicle-go/chronicle/testkit"
)

type deposited struct {
	Account string `json:"account" jsonschema:"required,minLength=1"`
	Amount  int    `json:"amount" jsonschema:"required,minimum=1"`
}

// noRetry hands a failing handler's error straight to the failure policy.
type noRetry struct{}

func (noRetry) Wrap(next func(context.Context) error) func(context.Context) error { return next }

// balancesFixture is a projection "balances" whose handler fails on amounts
// of 13 while failing is set, so that those events are parked.
type balancesFixture struct {
	reg     *schema.Registry
	failing atomic.Bool
	mu      sync.Mutex
	amounts map[uuid.UUID]int // by event ID: a batch retried one event at a time hands an event over again
}

func newBalancesFixture() *balancesFixture {
	f := &balancesFixture{reg: schema.MustNewRegistry(), amounts: make(map[uuid.UUID]int)}
	schema.MustRegister[deposited](f.reg, "Deposited", 1)
	f.failing.Store(true)
	return f
}

func (f *balancesFixture) runner(t *testing.T, store eventstore.Store) *projection.Runner[projection.NoTx] {
	t.Helper()
	p := projection.New[projection.NoTx]("balances", projection.Category("account"), f.reg)
	projection.Handle(p, func(_ context.Context, ev projection.Event[deposited]) error {
		if ev.Data.Amount == 13 && f.failing.Load() {
			return errors.New("unlucky amount")
		}
		f.mu.Lock()
		f.amounts[ev.Record.ID] = ev.Data.Amount
		f.mu.Unlock()
		return nil
	})
	r, err := projection.NewRunner(store, p, projection.AtLeastOnce(projection.NewStreamCheckpoints(store), 1, 0),
		projection.WithRetry(noRetry{}))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (f *balancesFixture) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, a := range f.amounts {
		n += a
	}
	return n
}

// deposit appends deposits, to account-13 for the amount 13 (so that its
// parking blocks no other deposit) and to account-1 otherwise, and returns
// the last position.
func (f *balancesFixture) deposit(t *testing.T, store eventstore.Store, amounts ...int) eventstore.Position {
	t.Helper()
	var pos eventstore.Position
	for _, a := range amounts {
		account := "account-1"
		if a == 13 {
			account = "account-13"
		}
		res, err := store.Append(t.Context(), account, eventstore.Any, testkit.Events(t, f.reg, deposited{account, a})...)
		if err != nil {
			t.Fatal(err)
		}
		pos = res.Position
	}
	return pos
}

// runTo runs r until it has handled everything up to pos and returns a
// function that stops it.
func runTo[Tx any](t *testing.T, r *projection.Runner[Tx], pos eventstore.Position) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runner: %v", err)
		}
	}
	t.Cleanup(stop)
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	// WaitFor fails on a runner that has not started yet; WaitCaughtUp waits.
	if err := r.WaitCaughtUp(wctx); err != nil {
		t.Fatalf("WaitCaughtUp: %v", err)
	}
	if err := r.WaitFor(wctx, pos); err != nil {
		t.Fatalf("WaitFor(%v): %v", pos, err)
	}
	return stop
}

func statusRows(t *testing.T, args ...string) []statusRow {
	t.Helper()
	out := mustRun(t, "", append([]string{"projection", "status", "--json"}, args...)...)
	var rows []statusRow
	for line := range strings.Lines(out) {
		var r statusRow
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		rows = append(rows, r)
	}
	return rows
}

func TestProjectionStatus(t *testing.T) {
	url, store := newStore(t, "src")
	ctx := t.Context()
	if out := mustRun(t, "", "projection", "status", "--store", url); !strings.Contains(out, "no projections in the store") {
		t.Fatalf("status of an empty store:\n%s", out)
	}
	if out := mustRun(t, "", "projection", "status", "--json", "--store", url); out != "" {
		t.Fatalf("status --json of an empty store: %q", out)
	}

	f := newBalancesFixture()
	last := f.deposit(t, store, 5, 13, 7)
	stop := runTo(t, f.runner(t, store), last)
	stop()
	cps := projection.NewStreamCheckpoints(store)
	v1 := projection.Key{Projection: "balances", Version: 1}
	v1cp, err := cps.Load(ctx, v1)
	if err != nil || v1cp.Compare(projection.At(last)) < 0 {
		t.Fatalf("v1 checkpoint %v, %v; want at least %v", v1cp, err, last)
	}
	// Version 2 is being rebuilt with two partitions: behind version 1.
	v2, v2p1 := projection.Key{Projection: "balances", Version: 2}, projection.Key{Projection: "balances", Version: 2, Partition: 1}
	early := projection.At(eventstore.Position{Commit: 1, Prepare: 1})
	if err := cps.Save(ctx, v2, projection.Checkpoint{}, early); err != nil {
		t.Fatal(err)
	}
	if err := cps.Save(ctx, v2p1, projection.Checkpoint{}, early); err != nil {
		t.Fatal(err)
	}
	head := f.deposit(t, store, 1, 2, 3)
	// Another projection, of one stream: revision checkpoints.
	if err := cps.Save(ctx, projection.Key{Projection: "onestream", Version: 1}, projection.Checkpoint{}, projection.AtRevision(4)); err != nil {
		t.Fatal(err)
	}

	rows := statusRows(t, "--store", url)
	if len(rows) != 3 {
		t.Fatalf("status rows: %+v", rows)
	}
	r1, r2, r3 := rows[0], rows[1], rows[2]
	wantLag := head.Commit - v1cp.Position.Commit
	switch {
	case r1.Projection != "balances" || r1.Version != 1 || r1.Checkpoint != v1cp.String() || r1.Head != head.String() || r1.Source != "store":
		t.Errorf("v1 row: %+v", r1)
	case r1.Lag == nil || *r1.Lag != wantLag || r1.Parked != 1 || r1.State != "ahead of v2" || r1.LastSaved == nil || r1.LagSeconds <= 0:
		t.Errorf("v1 row: %+v; want lag %d, 1 parked, ahead of v2, a last checkpoint time", r1, wantLag)
	case r1.Progress == nil || r1.Progress.Done != v1cp.Position.Commit || r1.Progress.Total != head.Commit:
		t.Errorf("v1 progress: %+v", r1.Progress)
	}
	if r1.AllHead == r1.Head {
		t.Errorf("allHead %s: want the checkpoint events after the application head %s", r1.AllHead, r1.Head)
	}
	switch {
	case r2.Version != 2 || r2.State != "rebuilding" || r2.Checkpoint != early.String() || r2.Parked != 0:
		t.Errorf("v2 row: %+v", r2)
	case len(r2.Partitions) != 1 || r2.Partitions[0].Partition != 1 || r2.Partitions[0].Checkpoint != early.String():
		t.Errorf("v2 partitions: %+v", r2.Partitions)
	case r2.Lag == nil || *r2.Lag != head.Commit-1:
		t.Errorf("v2 lag: %+v", r2)
	}
	if r3.Projection != "onestream" || r3.Checkpoint != "stream:4" || r3.Lag != nil || r3.State != "-" {
		t.Errorf("stream projection row: %+v", r3)
	}

	table := mustRun(t, "", "projection", "status", "balances", "--store", url)
	for _, want := range []string{"PROJECTION", "LAST CHECKPOINT", "balances", "v1", "ahead of v2", "rebuilding", v1cp.String(), " ago)"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if strings.Contains(table, "onestream") {
		t.Errorf("status balances lists another projection:\n%s", table)
	}

	// Version 2 passes version 1: version 1 is superseded.
	if err := cps.Save(ctx, v2, early, projection.At(head)); err != nil {
		t.Fatal(err)
	}
	rows = statusRows(t, "balances", "--store", url)
	if len(rows) != 2 || rows[0].State != "superseded by v2" || rows[1].State != "caught up" || *rows[1].Lag != 0 || rows[1].LagSeconds != 0 {
		t.Errorf("after v2 passed v1: %+v", rows)
	}
}

func TestProjectionStatusErrors(t *testing.T) {
	url, store := newStore(t, "src")
	wantError(t, `projection status: no projection "nosuch" in the store: no checkpoint stream chronicle-checkpoint-nosuch`,
		"projection", "status", "nosuch", "--store", url)
	wantError(t, `projection status: "bad-name" is not a projection name`, "projection", "status", "bad-name", "--store", url)
	wantError(t, "accepts at most 1 arg", "projection", "status", "a", "b", "--store", url)
	wantError(t, "unknown driver", "projection", "status", "--store", "nosuch:")

	// A stream under the checkpoint prefix that breaks the naming rule is
	// left out with a warning; one that holds other events is an error.
	appendEvents(t, store, "chronicle-checkpoint-odd-x1", event("Whatever", `{}`))
	appendEvents(t, store, "chronicle-checkpoint-broken", event("Whatever", `{}`))
	appendEvents(t, store, "chronicle-checkpoint-brokenparts-p2", event("Whatever", `{}`))
	if err := projection.NewStreamCheckpoints(store).Save(t.Context(), projection.Key{Projection: "brokenparts", Version: 1},
		projection.Checkpoint{}, projection.At(eventstore.Position{Commit: 1, Prepare: 1})); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := run(t, "", "projection", "status", "--store", url)
	if err == nil || err.Error() != "projection status: 2 checkpoint stream(s) could not be read" {
		t.Fatalf("status over foreign checkpoint streams: %v\n%s", err, out)
	}
	for _, want := range []string{"broken ", "error: projection: stored checkpoint does not fit", "partition 2: error: "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "chronicle-checkpoint-odd-x1 is not a checkpoint stream name") || strings.Contains(out, "odd") {
		t.Errorf("odd stream: stderr %q, stdout:\n%s", errOut, out)
	}
}

func TestProjectionStatusSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	store, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	f := newBalancesFixture()
	last := f.deposit(t, store, 13, 2)
	stop := runTo(t, f.runner(t, store), last)
	stop()
	url := "sqlite://" + path
	check := func() {
		t.Helper()
		rows := statusRows(t, "--store", url)
		if len(rows) != 1 || rows[0].Projection != "balances" || rows[0].Parked != 1 || rows[0].State != "caught up" {
			t.Fatalf("status over SQLite: %+v", rows)
		}
		if out := mustRun(t, "", "projection", "parked", "balances", "--store", url); !strings.Contains(out, "account-13@0") {
			t.Fatalf("parked over SQLite:\n%s", out)
		}
	}
	// While the "service" has the store open for writing, status and parked
	// read it read-only, and replay-parked says why it cannot append.
	check()
	before := len(testkit.Records(t, store, projection.ParkedStream("balances")))
	wantError(t, "The embedded store is open for writing by another process, the running service", "projection", "replay-parked", "balances", "--store", url)
	if after := len(testkit.Records(t, store, projection.ParkedStream("balances"))); after != before {
		t.Errorf("a refused replay-parked appended %d events", after-before)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	check()
	wantError(t, "projection status: open store: sqlite: create", "projection", "status", "--store", "sqlite://"+filepath.Join(t.TempDir(), "missing", "x.db"))
}

func TestProjectionParked(t *testing.T) {
	url, store := newStore(t, "src")
	f := newBalancesFixture()
	last := f.deposit(t, store, 1, 13, 2, 13)
	stop := runTo(t, f.runner(t, store), last)
	stop()

	out := mustRun(t, "", "projection", "parked", "balances", "--store", url)
	for _, want := range []string{"PARKED AT", "REPLAY ERROR", "account-13@0 ", "account-13@1 ", "Deposited", "failed ", "unlucky amount", "blocked "} {
		if !strings.Contains(out, want) {
			t.Errorf("parked table lacks %q:\n%s", want, out)
		}
	}
	lines := parseLines(t, mustRun(t, "", "projection", "parked", "balances", "--json", "--store", url))
	if len(lines) != 2 || lines[0]["stream"] != "account-13" || lines[0]["revision"] != 0.0 || lines[0]["reason"] != "failed" ||
		lines[1]["reason"] != "blocked" || lines[0]["projection"] != "balances" {
		t.Errorf("parked --json: %v", lines)
	}

	// A projection with checkpoints and nothing parked.
	if err := projection.NewStreamCheckpoints(store).Save(t.Context(), projection.Key{Projection: "clean", Version: 3},
		projection.Checkpoint{}, projection.At(last)); err != nil {
		t.Fatal(err)
	}
	if out := mustRun(t, "", "projection", "parked", "clean", "--store", url); out != "projection clean has no unresolved parked events\n" {
		t.Errorf("parked clean: %q", out)
	}
	if out := mustRun(t, "", "projection", "parked", "clean", "--json", "--store", url); out != "" {
		t.Errorf("parked clean --json: %q", out)
	}
	wantError(t, `projection parked: no projection "cle" in the store`, "projection", "parked", "cle", "--store", url)
	wantError(t, `projection parked: "1x" is not a projection name`, "projection", "parked", "1x", "--store", url)
	wantError(t, "accepts 1 arg", "projection", "parked", "--store", url)
	wantError(t, "unknown driver", "projection", "parked", "x", "--store", "nosuch:")
}

func TestProjectionReplayParked(t *testing.T) {
	url, store := newStore(t, "src")
	ctx := t.Context()
	f := newBalancesFixture()
	last := f.deposit(t, store, 1, 13, 2)
	r := f.runner(t, store)
	stop := runTo(t, r, last)
	if f.total() != 3 {
		t.Fatalf("total %d before the replay; want 3", f.total())
	}
	f.failing.Store(false)
	out := mustRun(t, "", "projection", "replay-parked", "balances", "--store", url)
	for _, want := range []string{"requested a replay of the 1 unresolved parked event(s) of projection balances",
		"ProjectionReplayRequested event in chronicle-parked-balances", "chronicle projection parked balances"} {
		if !strings.Contains(out, want) {
			t.Errorf("replay-parked output lacks %q:\n%s", want, out)
		}
	}
	// The running runner carries the request out.
	deadline := time.Now().Add(30 * time.Second)
	for {
		parked, err := projection.ListParked(ctx, store, "balances")
		if err != nil {
			t.Fatal(err)
		}
		if len(parked) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the runner did not replay the parked event: %+v (state %+v)", parked, r.State())
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if f.total() != 16 {
		t.Errorf("total %d after the replay; want 16", f.total())
	}
	if out := mustRun(t, "", "projection", "parked", "balances", "--store", url); !strings.Contains(out, "no unresolved parked events") {
		t.Errorf("parked after the replay:\n%s", out)
	}

	// Nothing parked: nothing is appended.
	before := len(testkit.Records(t, store, projection.ParkedStream("balances")))
	out = mustRun(t, "", "projection", "replay-parked", "balances", "--store", url)
	if out != "projection balances has no unresolved parked events; nothing requested\n" {
		t.Errorf("replay-parked with nothing parked: %q", out)
	}
	lines := parseLines(t, mustRun(t, "", "projection", "replay-parked", "balances", "--json", "--store", url))
	if len(lines) != 1 || lines[0]["requested"] != false || lines[0]["unresolved"] != 0.0 || lines[0]["projection"] != "balances" {
		t.Errorf("replay-parked --json with nothing parked: %v", lines)
	}
	if after := len(testkit.Records(t, store, projection.ParkedStream("balances"))); after != before {
		t.Errorf("replay-parked with nothing parked appended %d events", after-before)
	}

	// An unknown projection: an error, and nothing written.
	n := len(allEvents(t, store))
	wantError(t, `projection replay-parked: no projection "nosuch" in the store`, "projection", "replay-parked", "nosuch", "--store", url)
	wantError(t, `projection replay-parked: "no-such" is not a projection name`, "projection", "replay-parked", "no-such", "--store", url)
	if got := len(allEvents(t, store)); got != n {
		t.Errorf("a refused replay-parked wrote %d events", got-n)
	}
}

func TestParseCheckpointStream(t *testing.T) {
	for _, tc := range []struct {
		stream string
		want   projection.Key
		ok     bool
	}{
		{"chronicle-checkpoint-orders", projection.Key{Projection: "orders", Version: 1}, true},
		{"chronicle-checkpoint-orders.v_x-v2", projection.Key{Projection: "orders.v_x", Version: 2}, true},
		{"chronicle-checkpoint-orders-p3", projection.Key{Projection: "orders", Version: 1, Partition: 3}, true},
		{"chronicle-checkpoint-orders-v12-p3", projection.Key{Projection: "orders", Version: 12, Partition: 3}, true},
		{"chronicle-checkpoint-orders-v1", projection.Key{}, false},
		{"chronicle-checkpoint-orders-p0", projection.Key{}, false},
		{"chronicle-checkpoint-orders-p3-v2", projection.Key{}, false},
		{"chronicle-checkpoint-orders-v2-v3", projection.Key{}, false},
		{"chronicle-checkpoint-orders-vx", projection.Key{}, false},
		{"chronicle-checkpoint-orders-v-1", projection.Key{}, false},
		{"chronicle-checkpoint-", projection.Key{}, false},
		{"chronicle-checkpoint-1orders", projection.Key{}, false},
		{"chronicle-parked-orders", projection.Key{}, false},
	} {
		got, ok := parseCheckpointStream(tc.stream)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("parseCheckpointStream(%q) = %v, %v; want %v, %v", tc.stream, got, ok, tc.want, tc.ok)
		}
	}
}

func TestProgressOf(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(c uint64) projection.Checkpoint { return projection.At(eventstore.Position{Commit: c, Prepare: c}) }
	for _, tc := range []struct {
		name        string
		first, last checkpointMark
		done, total uint64
		want        progressStatus
	}{
		{"catching up", checkpointMark{at(100), t0}, checkpointMark{at(1100), t0.Add(10 * time.Second)}, 1100, 2100,
			progressStatus{Done: 1100, Total: 2100, Rate: 100, ETASeconds: 10}},
		{"caught up", checkpointMark{at(100), t0}, checkpointMark{at(1100), t0.Add(10 * time.Second)}, 1100, 1100,
			progressStatus{Done: 1100, Total: 1100, Rate: 100}},
		{"one checkpoint", checkpointMark{at(100), t0}, checkpointMark{at(100), t0}, 100, 300,
			progressStatus{Done: 100, Total: 300}},
		{"revisions", checkpointMark{projection.AtRevision(1), t0}, checkpointMark{projection.AtRevision(9), t0.Add(time.Second)}, 9, 20,
			progressStatus{Done: 9, Total: 20}},
		{"past the head", checkpointMark{}, checkpointMark{}, 30, 20, progressStatus{Done: 30, Total: 30}},
	} {
		if got := progressOf(tc.first, tc.last, tc.done, tc.total); *got != tc.want {
			t.Errorf("%s: progressOf = %+v; want %+v", tc.name, *got, tc.want)
		}
	}
}

func TestPrintStatusColumns(t *testing.T) {
	lag := uint64(500)
	saved := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var b strings.Builder
	err := printStatus(&b, []statusRow{{Projection: "p", Version: 1, State: "behind", Checkpoint: "all:C:10/P:10", Head: "C:510/P:510",
		Lag: &lag, LagSeconds: 2.5, Progress: &progressStatus{Done: 10, Total: 510, Rate: 50, ETASeconds: 10}, LastSaved: &saved}}, false, saved.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"500 (2.5s)", " 50 ", "10s", "2026-01-01T00:00:00Z (1m0s ago)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

// TestProjectionThroughServe runs the commands against EventStoreDB's
// protocol: status reads the same as from the store itself, and
// replay-parked reaches a runner of the served store, as it does when a
// service serves its embedded store.
func TestProjectionThroughServe(t *testing.T) {
	url, store := newStore(t, "src")
	f := newBalancesFixture()
	last := f.deposit(t, store, 1, 13, 2)
	r := f.runner(t, store)
	stop := runTo(t, r, last)
	conn, stopServe, _ := startServe(t, "--store", url, "--addr", "127.0.0.1:0")

	direct, served := statusRows(t, "--store", url), statusRows(t, "--store", conn)
	// The protocol carries times in 100 ns ticks: rates computed from
	// checkpoints microseconds apart differ by a few per cent.
	if diff := cmp.Diff(direct, served, cmpopts.IgnoreUnexported(statusRow{}), cmpopts.EquateApproxTime(time.Microsecond),
		cmpopts.EquateApprox(0.05, 0)); diff != "" {
		t.Errorf("status through esdb:// differs (-store +served):\n%s", diff)
	}
	if len(served) != 1 || served[0].Parked != 1 {
		t.Fatalf("status through esdb://: %+v", served)
	}
	f.failing.Store(false)
	lines := parseLines(t, mustRun(t, "", "projection", "replay-parked", "balances", "--json", "--store", conn))
	if len(lines) != 1 || lines[0]["requested"] != true || lines[0]["unresolved"] != 1.0 || lines[0]["stream"] != "chronicle-parked-balances" {
		t.Errorf("replay-parked --json: %v", lines)
	}
	deadline := time.Now().Add(30 * time.Second)
	for out := ""; !strings.Contains(out, "no unresolved parked events"); out = mustRun(t, "", "projection", "parked", "balances", "--store", conn) {
		if time.Now().After(deadline) {
			t.Fatalf("the runner did not replay the parked event:\n%s", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if err := stopServe(); err != nil {
		t.Fatal(err)
	}
	if f.total() != 16 {
		t.Errorf("total %d after the replay; want 16", f.total())
	}
}

// fakeSource is a checkpoint source that knows which version is live, as
// the SQL targets do.
type fakeSource []versionInfo

func (f fakeSource) versions(_ context.Context, name string) ([]versionInfo, error) {
	var out []versionInfo
	for _, v := range f {
		if name == "" || v.projection == name {
			out = append(out, v)
		}
	}
	return out, nil
}

func TestProjectionStatusOtherSources(t *testing.T) {
	_, store := newStore(t, "src")
	f := newBalancesFixture()
	head := f.deposit(t, store, 1, 2, 3)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(c uint64) projection.Checkpoint { return projection.At(eventstore.Position{Commit: c, Prepare: c}) }
	version := func(v int, cp projection.Checkpoint, parts ...storedCheckpoint) versionInfo {
		return versionInfo{source: "fake", projection: "sqlmodel", version: v, liveKnown: true, live: 2,
			partitions: append([]storedCheckpoint{{checkpoint: cp, saved: t0.Add(time.Minute), since: checkpointMark{at(0), t0}}}, parts...)}
	}
	src := fakeSource{
		version(1, at(head.Commit)),
		version(2, at(head.Commit-1), storedCheckpoint{partition: 1, checkpoint: at(1)}, storedCheckpoint{partition: 2, err: errors.New("unreadable")}),
		version(3, at(1)),
		{source: "fake", projection: "other", version: 1, partitions: []storedCheckpoint{{err: errors.New("broken")}}},
	}
	rows, err := projectionStatus(t.Context(), store, "sqlmodel", io.Discard, src)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("rows: %+v", rows)
	}
	for i, want := range []string{"retired", "behind", "rebuilding"} {
		if rows[i].State != want || rows[i].Source != "fake" {
			t.Errorf("v%d: state %q, source %q; want %q", rows[i].Version, rows[i].State, rows[i].Source, want)
		}
	}
	if p := rows[1].Progress; p == nil || p.Rate != float64(head.Commit-1)/60 || len(rows[1].Partitions) != 2 || rows[1].Partitions[1].Error != "unreadable" {
		t.Errorf("v2: %+v, progress %+v", rows[1], rows[1].Progress)
	}
	rows, err = projectionStatus(t.Context(), store, "", io.Discard, src)
	if err != nil || len(rows) != 4 || rows[0].Projection != "other" || rows[0].State != "error" || countErrors(rows) != 2 {
		t.Fatalf("all rows: %+v, %v", rows, err)
	}
}

func TestProjectionExitCodes(t *testing.T) {
	url, store := newStore(t, "src")
	f := newBalancesFixture()
	runTo(t, f.runner(t, store), f.deposit(t, store, 13))()
	for _, tt := range []struct {
		args []string
		want int
	}{
		{[]string{"projection", "status"}, exitOK},
		{[]string{"projection", "parked", "balances"}, exitOK},
		{[]string{"projection", "status", "nope"}, exitNotFound},
		{[]string{"projection", "parked", "nope"}, exitNotFound},
		{[]string{"projection", "replay-parked", "nope"}, exitNotFound},
		{[]string{"projection", "status", "no-pe"}, exitUsage},
		{[]string{"projection", "parked"}, exitUsage},
		{[]string{"projection", "replay-parked", "a", "b"}, exitUsage},
		{[]string{"projection", "status", "--postgres-schema", "x"}, exitUsage},
		{[]string{"projection", "status", "--bogus"}, exitUsage},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, _, err := run(t, "", append(tt.args, "--store", url)...)
			if got := exitCode(err); got != tt.want {
				t.Errorf("exit code %d (error %v), want %d", got, err, tt.want)
			}
		})
	}
}
