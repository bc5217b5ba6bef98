package aggregate_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/aggregate"
	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/testkit"
)

// snapshotsOf decodes the snapshot stream of account id.
func snapshotsOf(t *testing.T, s eventstore.Store, id string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, rec := range testkit.Records(t, s, accountType.SnapshotStream(id)) {
		if rec.Type != aggregate.SnapshotEventType {
			t.Errorf("snapshot event type %q", rec.Type)
		}
		var m map[string]any
		if err := json.Unmarshal(rec.Data, &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// putSnapshot appends a hand-made snapshot of account id.
func putSnapshot(t *testing.T, s eventstore.Store, id string, typ, data string) {
	t.Helper()
	if _, err := s.Append(context.Background(), accountType.SnapshotStream(id), eventstore.Any,
		eventstore.EventData{Type: typ, Data: []byte(data)}); err != nil {
		t.Fatal(err)
	}
}

func TestSnapshotsAreTakenByPolicy(t *testing.T) {
	ctx := context.Background()
	clock := testkit.NewClock(time.Time{})
	e := newEnv(t, aggregate.WithSnapshotEvery(3), aggregate.WithSnapshotRetention(2), aggregate.WithClock(clock))
	mustDo(e.repo.Create(ctx, "1", open("ada"))) // rev 0
	mustDo(e.repo.Update(ctx, "1", deposit(1)))  // rev 1
	if got := snapshotsOf(t, e.store, "1"); got != nil {
		t.Fatalf("snapshot taken too early: %v", got)
	}
	mustDo(e.repo.Update(ctx, "1", deposit(2)))    // rev 2: 3 events → snapshot
	mustDo(e.repo.Update(ctx, "1", deposit(3, 4))) // rev 4: 2 since
	mustDo(e.repo.Update(ctx, "1", deposit(5)))    // rev 5: 3 since → snapshot
	for range 3 {
		mustDo(e.repo.Update(ctx, "1", deposit(1, 1, 1))) // each → snapshot
	}
	snaps := snapshotsOf(t, e.store, "1")
	if len(snaps) != 2 {
		t.Fatalf("%d snapshots visible, want 2 (retention)", len(snaps))
	}
	last := snaps[1]
	if last["takenAt"] != "2025-01-01T00:00:00Z" {
		t.Errorf("takenAt = %v, want the repository clock's time", last["takenAt"])
	}
	if last["revision"] != float64(14) || last["stream"] != "account-1" || !strings.HasPrefix(last["version"].(string), "schema-") {
		t.Errorf("last snapshot = %v", last)
	}
	if st := last["state"].(map[string]any); st["balance"] != float64(24) || st["owner"] != "ada" {
		t.Errorf("snapshot state = %v", st)
	}
	md, err := e.store.GetStreamMetadata(ctx, accountType.SnapshotStream("1"))
	if err != nil || md.Metadata.MaxCount != 2 {
		t.Errorf("snapshot stream metadata = %+v, %v; want $maxCount 2", md, err)
	}
	if eventstore.Category(accountType.SnapshotStream("1")) == "account" {
		t.Error("snapshots are in the aggregate's category")
	}
}

func TestLoadUsesSnapshot(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, aggregate.WithSnapshotEvery(2))
	mustDo(e.repo.Create(ctx, "1", open("ada")))
	mustDo(e.repo.Update(ctx, "1", deposit(10))) // snapshot at 1
	mustDo(e.repo.Update(ctx, "1", deposit(5)))  // rev 2, after the snapshot
	own := snapshotsOf(t, e.store, "1")[0]
	// A newer snapshot with a state the events could not produce proves that
	// Load starts from it and applies only the events after it.
	putSnapshot(t, e.store, "1", aggregate.SnapshotEventType,
		fmt.Sprintf(`{"stream":"account-1","revision":1,"eventId":%q,"version":%q,"state":{"owner":"snap","balance":1000,"events":2}}`, own["eventId"], own["version"]))
	a, err := e.repo.Load(ctx, "1")
	if err != nil {
		t.Fatal(err)
	}
	if want := (Account{Owner: "snap", Balance: 1005, Events: 3}); a.State != want || a.Revision != eventstore.Exact(2) {
		t.Errorf("Load = %+v, want %+v at 2", a, want)
	}
	// A repository without snapshots ignores them.
	plain := mustRepo(t, e.store, e.reg, accountType)
	if a, _ := plain.Load(ctx, "1"); a.State.Balance != 15 {
		t.Errorf("Load without snapshots = %+v", a)
	}
	// Commands start from the snapshot too.
	res := mustDo(e.repo.Update(ctx, "1", deposit(1)))
	if res.State.Balance != 1006 {
		t.Errorf("Update from snapshot = %+v", res)
	}
}

func TestSnapshotsIgnored(t *testing.T) {
	ctx := context.Background()
	const valid = `{"stream":"account-1","revision":1,"eventId":"$ID","version":"$V","state":{"owner":"snap","balance":1000,"events":2}}`
	tests := []struct {
		name, typ, data string
		warn            string
	}{
		{"another snapshot version", aggregate.SnapshotEventType, strings.Replace(valid, "$V", "schema-old", 1), ""},
		{"another stream", aggregate.SnapshotEventType, strings.Replace(valid, "account-1", "account-2", 1), ""},
		{"not a snapshot", "Something", valid, "not a snapshot"},
		{"malformed data", aggregate.SnapshotEventType, `{"stream":1}`, "not a snapshot"},
		{"state does not decode", aggregate.SnapshotEventType, strings.Replace(valid, `{"owner":"snap","balance":1000,"events":2}`, `"text"`, 1), "state does not decode"},
		{"another event at its revision", aggregate.SnapshotEventType, strings.Replace(valid, "$ID", "00000000-0000-4000-8000-000000000000", 1), "does not continue"},
		{"revision past the end", aggregate.SnapshotEventType, strings.Replace(valid, `"revision":1`, `"revision":7`, 1), "does not continue"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			e := newEnv(t, aggregate.WithSnapshotEvery(2), aggregate.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			mustDo(e.repo.Create(ctx, "1", open("ada")))
			mustDo(e.repo.Update(ctx, "1", deposit(10))) // the repository's own snapshot at 1
			mustDo(e.repo.Update(ctx, "1", deposit(5)))
			own := snapshotsOf(t, e.store, "1")[0]
			data := strings.NewReplacer("$ID", own["eventId"].(string), "$V", own["version"].(string)).Replace(tt.data)
			putSnapshot(t, e.store, "1", tt.typ, data)
			a, err := e.repo.Load(ctx, "1")
			if err != nil {
				t.Fatal(err)
			}
			if a.State != (Account{Owner: "ada", Balance: 15, Events: 3}) || a.Revision != eventstore.Exact(2) {
				t.Errorf("Load = %+v, want the state from the events", a)
			}
			if !strings.Contains(logs.String(), tt.warn) {
				t.Errorf("log %q does not mention %q", logs.String(), tt.warn)
			}
		})
	}
}

func TestSnapshotOfDeletedStreamIsIgnored(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, aggregate.WithSnapshotEvery(2))
	mustDo(e.repo.Create(ctx, "1", open("ada")))
	mustDo(e.repo.Update(ctx, "1", deposit(10))) // snapshot at 1
	if _, err := e.store.Delete(ctx, "account-1", eventstore.Any); err != nil {
		t.Fatal(err)
	}
	if _, err := e.repo.Load(ctx, "1"); !errors.Is(err, aggregate.ErrNotFound) {
		t.Fatalf("Load after delete = %v, want ErrNotFound despite the snapshot", err)
	}
	res := mustDo(e.repo.Create(ctx, "1", open("bob"))) // revision 2: revisions continue
	if res.State != (Account{Owner: "bob", Events: 1}) {
		t.Errorf("Create after delete = %+v", res)
	}
	a, err := e.repo.Load(ctx, "1")
	if err != nil || a.State != (Account{Owner: "bob", Events: 1}) || a.Revision != eventstore.Exact(2) {
		t.Errorf("Load = %+v, %v; want only bob's event", a, err)
	}
}

// AccountV2 is a changed state type: its snapshots must not be read as
// Account's, and the other way round.
type AccountV2 struct {
	Owner   string `json:"owner"`
	Balance int64  `json:"balanceCents"`
}

func TestChangedStateTypeIgnoresOldSnapshots(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, aggregate.WithSnapshotEvery(1))
	mustDo(e.repo.Create(ctx, "1", open("ada")))
	mustDo(e.repo.Update(ctx, "1", deposit(7)))
	v2 := aggregate.Type[AccountV2]{Category: "account", Evolve: func(s AccountV2, ev any) AccountV2 {
		a := evolve(Account{Owner: s.Owner, Balance: int(s.Balance)}, ev)
		return AccountV2{Owner: a.Owner, Balance: int64(a.Balance)}
	}}
	repo := mustRepo(t, e.store, e.reg, v2, aggregate.WithSnapshotEvery(1))
	a, err := repo.Load(ctx, "1")
	if err != nil || a.State != (AccountV2{Owner: "ada", Balance: 7}) {
		t.Errorf("Load with the new state type = %+v, %v", a, err)
	}
	mustDo(repo.Update(ctx, "1", func(AccountV2) ([]any, error) { return []any{Deposited{Amount: 1}}, nil }))
	snaps := snapshotsOf(t, e.store, "1")
	if len(snaps) != 3 || snaps[2]["version"] == snaps[1]["version"] {
		t.Errorf("snapshot versions %v and %v should differ", snaps[1]["version"], snaps[2]["version"])
	}
	// An explicit SnapshotVersion is used as is.
	typ := accountType
	typ.SnapshotVersion = "account-v9"
	explicit := mustRepo(t, e.store, e.reg, typ, aggregate.WithSnapshotEvery(1))
	mustDo(explicit.Update(ctx, "1", deposit(1)))
	if got := snapshotsOf(t, e.store, "1"); got[len(got)-1]["version"] != "account-v9" {
		t.Errorf("version = %v", got[len(got)-1]["version"])
	}
}

// failingState cannot be encoded for a snapshot.
type failingState struct{ N int }

func (failingState) MarshalJSON() ([]byte, error) { return nil, errors.New("no JSON for you") }

func TestSnapshotFailuresDoNotFailCommands(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name  string
		store func(eventstore.Store) eventstore.Store
		state bool
		warn  string
	}{
		{"state does not encode", func(s eventstore.Store) eventstore.Store { return s }, true, "no JSON for you"},
		{"append fails", func(s eventstore.Store) eventstore.Store {
			return &faultyStore{Store: s, append: func(st string) error {
				if isSnapshotStream(st) {
					return errInjected
				}
				return nil
			}}
		}, false, "injected failure"},
		{"retention fails", func(s eventstore.Store) eventstore.Store {
			return &faultyStore{Store: s, setMeta: func(string) error { return errInjected }}
		}, false, "snapshot retention"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			mem := memory.New()
			defer mem.Close()
			store := c.store(mem)
			var err error
			if c.state {
				typ := aggregate.Type[failingState]{Category: "account", SnapshotVersion: "1", Evolve: func(s failingState, _ any) failingState { s.N++; return s }}
				repo := mustRepo(t, store, newRegistry(t), typ, aggregate.WithSnapshotEvery(1), aggregate.WithLogger(log))
				_, err = repo.Create(ctx, "1", func(failingState) ([]any, error) { return []any{Opened{Owner: "ada"}}, nil })
			} else {
				repo := mustRepo(t, store, newRegistry(t), accountType, aggregate.WithSnapshotEvery(1), aggregate.WithLogger(log))
				_, err = repo.Create(ctx, "1", open("ada"))
			}
			if err != nil {
				t.Fatalf("command failed with its snapshot: %v", err)
			}
			if !strings.Contains(logs.String(), "snapshot failed") || !strings.Contains(logs.String(), c.warn) {
				t.Errorf("log = %q, want a warning with %q", logs.String(), c.warn)
			}
		})
	}
}

func TestSnapshotReadFailureFailsLoad(t *testing.T) {
	store := &faultyStore{Store: memory.New(), read: func(st string) error {
		if isSnapshotStream(st) {
			return errInjected
		}
		return nil
	}}
	defer store.Close()
	repo := mustRepo(t, store, newRegistry(t), accountType, aggregate.WithSnapshotEvery(1))
	if _, err := repo.Load(context.Background(), "1"); !errors.Is(err, errInjected) {
		t.Errorf("Load = %v, want the read error", err)
	}
	if _, err := repo.Execute(context.Background(), "1", open("ada")); !errors.Is(err, errInjected) {
		t.Errorf("Execute = %v, want the read error", err)
	}
	if len(store.appended) != 0 {
		t.Errorf("appended to %v", store.appended)
	}
}

func TestInitialState(t *testing.T) {
	typ := accountType
	typ.Initial = func() Account { return Account{Owner: "nobody"} }
	e := newEnv(t)
	repo := mustRepo(t, e.store, e.reg, typ)
	res := mustDo(repo.Execute(context.Background(), "1", func(a Account) ([]any, error) {
		if a.Owner != "nobody" {
			t.Errorf("decision saw %+v, want the initial state", a)
		}
		return []any{Deposited{Amount: 1}}, nil
	}))
	if res.State != (Account{Owner: "nobody", Balance: 1, Events: 1}) {
		t.Errorf("state = %+v", res.State)
	}
}
