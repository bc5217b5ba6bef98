package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/sqlite"
)

func event(typ string) eventstore.EventData {
	return eventstore.EventData{ID: uuid.New(), Type: typ, Data: []byte(`{"n":1}`)}
}

func mustAppend(t testing.TB, s eventstore.Store, stream string, expected eventstore.ExpectedRevision, evs ...eventstore.EventData) eventstore.AppendResult {
	t.Helper()
	r, err := s.Append(context.Background(), stream, expected, evs...)
	if err != nil {
		t.Fatalf("append %s: %v", stream, err)
	}
	return r
}

func readAll(t testing.TB, s eventstore.Store) []eventstore.RecordedEvent {
	t.Helper()
	var out []eventstore.RecordedEvent
	for e, err := range s.ReadAll(context.Background(), eventstore.ReadAllOptions{}) {
		if err != nil {
			t.Fatalf("read $all: %v", err)
		}
		out = append(out, e)
	}
	return out
}

// wantGapFree checks that $all holds positions 1..n in order.
func wantGapFree(t testing.TB, s eventstore.Store, n int) {
	t.Helper()
	evs := readAll(t, s)
	if len(evs) != n {
		t.Fatalf("$all holds %d events, want %d", len(evs), n)
	}
	for i, e := range evs {
		if p := uint64(i + 1); e.Position != (eventstore.Position{Commit: p, Prepare: p}) {
			t.Fatalf("$all[%d] at %v, want %d", i, e.Position, p)
		}
	}
}

// blockWriter holds the database's write lock from a foreign connection,
// so that the store's commit loop waits in BEGIN and appends queue up.
func blockWriter(t *testing.T, path string) (release func()) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	c, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			c.ExecContext(context.Background(), "ROLLBACK")
			c.Close()
			db.Close()
		})
	}
	t.Cleanup(release)
	return release
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSecondWriterIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locked.db")
	s := openAt(t, path)
	mustAppend(t, s, "a", eventstore.Any, event("E"))
	_, err := sqlite.Open(context.Background(), path)
	var le *sqlite.LockedError
	if !errors.Is(err, sqlite.ErrLocked) || !errors.As(err, &le) || le.Path != path+".lock" {
		t.Fatalf("second writer: %v, want a *LockedError for %s.lock", err, path)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openAt(t, path) // the lock went with the first store
	wantGapFree(t, s2, 1)
}

func TestReopenContinues(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reopen.db")
	s := openAt(t, path)
	first := event("E")
	mustAppend(t, s, "a", eventstore.NoStream, first)
	mustAppend(t, s, "b", eventstore.NoStream, event("E"), event("E"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path)
	// The recent-ID cache was refilled: re-appending with Any is idempotent.
	r := mustAppend(t, s, "a", eventstore.Any, first)
	if r.Next != eventstore.Exact(0) || r.Position.Commit != 1 {
		t.Fatalf("idempotent re-append after reopen: %+v", r)
	}
	r = mustAppend(t, s, "a", eventstore.Exact(0), event("E"))
	if r.Next != eventstore.Exact(1) || r.Position.Commit != 4 {
		t.Fatalf("append after reopen: %+v, want revision 1 at position 4", r)
	}
	wantGapFree(t, s, 4)
}

func TestRecentIDsDisabled(t *testing.T) {
	s := open(t, sqlite.WithRecentIDs(0))
	e := event("E")
	mustAppend(t, s, "a", eventstore.Any, e)
	// Without the cache an Any re-append is not recognised…
	if r := mustAppend(t, s, "a", eventstore.Any, e); r.Next != eventstore.Exact(1) {
		t.Fatalf("Any re-append without the cache: %+v, want a second write", r)
	}
	// …but one with an exact expected revision is, from the database.
	if r := mustAppend(t, s, "a", eventstore.Exact(0), e); r.Next != eventstore.Exact(1) || r.Position.Commit != 2 {
		t.Fatalf("Exact re-append: %+v, want the earlier result", r)
	}
	wantGapFree(t, s, 2)
}

func TestRecentIDsEvictOldest(t *testing.T) {
	s := open(t, sqlite.WithRecentIDs(2))
	a, b, c := event("E"), event("E"), event("E")
	for _, e := range []eventstore.EventData{a, b, c} {
		mustAppend(t, s, "s", eventstore.Any, e)
	}
	if r := mustAppend(t, s, "s", eventstore.Any, c); r.Position.Commit != 3 {
		t.Fatalf("recent re-append: %+v, want the earlier result", r)
	}
	if r := mustAppend(t, s, "s", eventstore.Any, a); r.Position.Commit != 4 {
		t.Fatalf("re-append of an evicted ID: %+v, want a new write", r)
	}
}

func TestReadOnly(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shared.db")
	w := openAt(t, path)
	mustAppend(t, w, "a", eventstore.NoStream, event("E"))

	ro := openAt(t, path, sqlite.ReadOnly(), sqlite.WithPollInterval(time.Millisecond))
	if _, err := ro.Append(ctx, "a", eventstore.Any, event("E")); !errors.Is(err, sqlite.ErrReadOnly) {
		t.Fatalf("append to a read-only store: %v, want ErrReadOnly", err)
	}
	for _, err := range []error{
		func() error { _, err := ro.Delete(ctx, "a", eventstore.Any); return err }(),
		func() error { _, err := ro.Tombstone(ctx, "a", eventstore.Any); return err }(),
		func() error {
			_, err := ro.SetStreamMetadata(ctx, "a", eventstore.Any, eventstore.StreamMetadata{MaxCount: 1})
			return err
		}(),
	} {
		if !errors.Is(err, sqlite.ErrReadOnly) {
			t.Fatalf("write to a read-only store: %v, want ErrReadOnly", err)
		}
	}
	// A subscription of the reader sees what the writer commits later.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got := make(chan eventstore.RecordedEvent, 16)
	go func() {
		for m, err := range ro.SubscribeToAll(sctx, eventstore.SubscribeAllOptions{}) {
			if err != nil {
				close(got)
				return
			}
			if m.Kind == eventstore.MessageEvent {
				got <- m.Event
			}
		}
	}()
	mustAppend(t, w, "b", eventstore.NoStream, event("E"), event("E"))
	for i := uint64(1); i <= 3; i++ {
		select {
		case e, ok := <-got:
			if !ok || e.Position.Commit != i {
				t.Fatalf("read-only subscription: got %v (open %v), want position %d", e.Position, ok, i)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("read-only subscription: no event %d", i)
		}
	}
	wantGapFree(t, ro, 3)
	if st := ro.Stats(); st.Commits != 0 || st.Position != (eventstore.Position{}) {
		t.Fatalf("read-only stats: %+v", st)
	}
	wantGapFree(t, w, 3) // nothing written through the reader
}

func TestReadOnlyMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.db")
	if _, err := sqlite.Open(context.Background(), path, sqlite.ReadOnly()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("read-only open of a missing file: %v, want ErrNotExist", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("read-only open created the file: %v", err)
	}
}

func TestNotAStore(t *testing.T) {
	dir := t.TempDir()
	foreign := filepath.Join(dir, "foreign.db")
	db, err := sql.Open("sqlite", foreign)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE t (x)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, opts := range [][]sqlite.Option{nil, {sqlite.ReadOnly()}} {
		if _, err := sqlite.Open(context.Background(), foreign, opts...); !errors.Is(err, sqlite.ErrNotStore) {
			t.Fatalf("open of a foreign database: %v, want ErrNotStore", err)
		}
	}
	other := filepath.Join(dir, "other.db")
	db, _ = sql.Open("sqlite", other)
	if _, err := db.Exec(`PRAGMA application_id = 7`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := sqlite.Open(context.Background(), other); !errors.Is(err, sqlite.ErrNotStore) {
		t.Fatalf("open of another application's database: %v, want ErrNotStore", err)
	}
	newer := filepath.Join(dir, "newer.db")
	s := openAt(t, newer)
	s.Close()
	db, _ = sql.Open("sqlite", newer)
	if _, err := db.Exec(`PRAGMA user_version = 99`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := sqlite.Open(context.Background(), newer); !errors.Is(err, sqlite.ErrNotStore) {
		t.Fatalf("open of a newer schema: %v, want ErrNotStore", err)
	}
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte("this is not a database, not at all, no no no no no no no no no no no no no no no no no no no no no"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.Open(context.Background(), garbage); err == nil {
		t.Fatal("open of a garbage file succeeded")
	}
	if _, err := sqlite.Open(context.Background(), filepath.Join(dir, "no", "such", "dir.db")); err == nil {
		t.Fatal("open in a missing directory succeeded")
	}
}

func TestOptionErrors(t *testing.T) {
	for name, opt := range map[string]sqlite.Option{
		"readers":    sqlite.WithReaders(0),
		"checkpoint": sqlite.WithCheckpointPages(0),
		"recent":     sqlite.WithRecentIDs(-1),
		"poll":       sqlite.WithPollInterval(0),
		"heads":      sqlite.WithCachedHeads(0),
		"clock":      sqlite.WithClock(nil),
	} {
		path := filepath.Join(t.TempDir(), "opt.db")
		if _, err := sqlite.Open(context.Background(), path, opt); err == nil {
			t.Errorf("%s: bad option accepted", name)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: bad option created the file", name)
		}
	}
}

func TestCloseSemantics(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	mustAppend(t, s, "a", eventstore.Any, event("E"))
	sub := s.SubscribeToAll(ctx, eventstore.SubscribeAllOptions{})
	ended := make(chan error, 1)
	go func() {
		for _, err := range sub {
			if err != nil {
				ended <- err
				return
			}
		}
		ended <- nil
	}()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := <-ended; !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("subscription after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Append(ctx, "a", eventstore.Any, event("E")); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("append after Close: %v", err)
	}
	if _, err := s.Delete(ctx, "a", eventstore.Any); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("delete after Close: %v", err)
	}
	for _, err := range s.ReadStream(ctx, "a", eventstore.ReadOptions{}) {
		if !errors.Is(err, eventstore.ErrClosed) {
			t.Fatalf("read after Close: %v", err)
		}
	}
	for _, err := range s.ReadAll(ctx, eventstore.ReadAllOptions{}) {
		if !errors.Is(err, eventstore.ErrClosed) {
			t.Fatalf("read $all after Close: %v", err)
		}
	}
	if _, err := s.GetStreamMetadata(ctx, "a"); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("metadata after Close: %v", err)
	}
	ro := openAt(t, s.Path(), sqlite.ReadOnly())
	ro.Close()
	if _, err := ro.Append(ctx, "a", eventstore.Any, event("E")); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("append to a closed read-only store: %v", err)
	}
}

// TestCloseWhileAppending closes the store under many appenders: each
// append either succeeds (and is then in the file) or fails with ErrClosed.
func TestCloseWhileAppending(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "closing.db")
	s := openAt(t, path)
	var (
		mu sync.Mutex
		ok = map[uuid.UUID]bool{}
		wg sync.WaitGroup
	)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				e := event("E")
				_, err := s.Append(ctx, fmt.Sprintf("s-%d", g), eventstore.Any, e)
				if errors.Is(err, eventstore.ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				ok[e.ID] = true
				mu.Unlock()
			}
		}()
	}
	waitFor(t, "appends", func() bool { return s.Stats().Events >= 100 })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	s = openAt(t, path)
	evs := readAll(t, s)
	for _, e := range evs {
		delete(ok, e.ID)
	}
	if len(ok) > 0 {
		t.Fatalf("%d acknowledged appends lost", len(ok))
	}
	wantGapFree(t, s, len(evs))
}

// TestGroupCommit queues appends behind a foreign write lock and checks
// that they are committed together, all of them, gap-free.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "group.db")
	s := openAt(t, path)
	release := blockWriter(t, path)
	const n = 32
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Append(ctx, fmt.Sprintf("g-%d", i), eventstore.NoStream, event("E"), event("E"))
			errs <- err
		}()
	}
	// The loop may have taken several appends into the commit it is blocked
	// in; wait until every append is either there or queued behind it.
	waitFor(t, "queued appends", func() bool { st := s.Stats(); return st.Queued+st.Committing == n })
	release()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	st := s.Stats()
	if st.Requests != n || st.Events != 2*n || st.Commits > n/2+1 {
		t.Fatalf("stats %+v: want %d requests in at most %d commits", st, n, n/2+1)
	}
	wantGapFree(t, s, 2*n)
}

// TestFailsAlone puts a failing append in a batch with good ones: it fails
// and writes nothing, they commit.
func TestFailsAlone(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "alone.db")
	s := openAt(t, path)
	mustAppend(t, s, "x", eventstore.NoStream, event("E"))
	// The loop clears Committing just after answering: wait for it, so that
	// the Committing == 1 below is the first append's batch, not this one's.
	waitFor(t, "the setup commit to finish", func() bool { return s.Stats().Committing == 0 })
	release := blockWriter(t, path)
	type result struct {
		name string
		err  error
	}
	results := make(chan result, 8)
	do := func(name, stream string, expected eventstore.ExpectedRevision) {
		_, err := s.Append(ctx, stream, expected, event("E"), event("E"))
		results <- result{name, err}
	}
	go do("first", "x", eventstore.Exact(0))
	waitFor(t, "the first append to be taken", func() bool { st := s.Stats(); return st.Committing == 1 && st.Queued == 0 })
	go do("good-1", "x", eventstore.Exact(2))
	go do("bad", "x", eventstore.Exact(0)) // stale once first commits
	go do("good-2", "y", eventstore.NoStream)
	go do("bad-2", "y", eventstore.StreamExists) // y does not exist yet… unless good-2 ran first
	waitFor(t, "queued appends", func() bool { return s.Stats().Queued == 4 })
	release()
	got := map[string]error{}
	for range 5 {
		r := <-results
		got[r.name] = r.err
	}
	for _, name := range []string{"first", "good-1", "good-2"} {
		if got[name] != nil {
			t.Fatalf("%s: %v", name, got[name])
		}
	}
	if !errors.Is(got["bad"], eventstore.ErrWrongExpectedVersion) {
		t.Fatalf("bad: %v, want ErrWrongExpectedVersion", got["bad"])
	}
	n := 1 + 2 + 2 + 2
	if got["bad-2"] == nil {
		n += 2
	}
	wantGapFree(t, s, n)
}

// TestWithdrawnAppend cancels an append while it waits in the queue: it
// returns the context's error and is never written.
func TestWithdrawnAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "withdraw.db")
	s := openAt(t, path)
	release := blockWriter(t, path)
	first := make(chan error, 1)
	go func() {
		_, err := s.Append(context.Background(), "a", eventstore.Any, event("E"))
		first <- err
	}()
	waitFor(t, "the first append to be taken", func() bool { st := s.Stats(); return st.Committing == 1 && st.Queued == 0 })
	ctx, cancel := context.WithCancel(context.Background())
	second := make(chan error, 1)
	go func() {
		_, err := s.Append(ctx, "b", eventstore.Any, event("E"))
		second <- err
	}()
	waitFor(t, "the second append to queue", func() bool { return s.Stats().Queued == 1 })
	cancel()
	if err := <-second; !errors.Is(err, context.Canceled) {
		t.Fatalf("withdrawn append: %v, want context.Canceled", err)
	}
	release()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, "c", eventstore.Any, event("E"))
	evs := readAll(t, s)
	if len(evs) != 2 || evs[0].Stream != "a" || evs[1].Stream != "c" {
		t.Fatalf("$all after a withdrawn append: %d events", len(evs))
	}
	if _, err := s.Append(ctx, "d", eventstore.Any, event("E")); !errors.Is(err, context.Canceled) {
		t.Fatalf("append with a done context: %v", err)
	}
}

// TestFailedCommit makes the database refuse one batch (a trigger aborts
// it): its appends fail, the store recovers and stays gap-free.
func TestFailedCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fail.db")
	s := openAt(t, path)
	mustAppend(t, s, "a", eventstore.NoStream, event("E"))
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TRIGGER boom BEFORE INSERT ON events WHEN NEW.type = 'Boom' BEGIN SELECT RAISE(ABORT, 'boom'); END`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(context.Background(), "a", eventstore.Exact(0), event("Boom")); err == nil {
		t.Fatal("append aborted by the database succeeded")
	}
	if _, err := db.Exec(`DROP TRIGGER boom`); err != nil {
		t.Fatal(err)
	}
	r := mustAppend(t, s, "a", eventstore.Exact(0), event("E"))
	if r.Position.Commit != 2 {
		t.Fatalf("append after a failed commit: %+v", r)
	}
	wantGapFree(t, s, 2)
}

// TestCheckpointer checks that the background checkpointer copies the log
// into the database file.
func TestCheckpointer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ckpt.db")
	s := openAt(t, path, sqlite.WithCheckpointPages(1))
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	before := fi.Size()
	for range 20 {
		mustAppend(t, s, "a", eventstore.Any, eventstore.EventData{Type: "E", Data: make([]byte, 3000), ContentType: eventstore.ContentTypeBinary})
	}
	waitFor(t, "a checkpoint", func() bool {
		fi, err := os.Stat(path)
		return err == nil && fi.Size() > before && s.Stats().Checkpoints > 0
	})
	if err := s.Stats().CheckpointErr; err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Close checkpoints the rest and removes the log.
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > 0 {
		t.Fatalf("log after Close: %d bytes", fi.Size())
	}
}

// TestLargeEventsPage reads events whose data exceeds a read page's byte
// bound, forwards and backwards.
func TestLargeEventsPage(t *testing.T) {
	s := open(t)
	big := make([]byte, 3<<20)
	for i := range 3 {
		big[0] = byte(i)
		mustAppend(t, s, "big", eventstore.Any, eventstore.EventData{Type: "Big", ContentType: eventstore.ContentTypeBinary, Data: big})
	}
	for _, dir := range []eventstore.Direction{eventstore.Forwards, eventstore.Backwards} {
		var revs []uint64
		for e, err := range s.ReadStream(context.Background(), "big", eventstore.ReadOptions{Direction: dir, From: map[eventstore.Direction]eventstore.From{eventstore.Forwards: eventstore.Start, eventstore.Backwards: eventstore.End}[dir]}) {
			if err != nil {
				t.Fatal(err)
			}
			if len(e.Data) != len(big) || e.Data[0] != byte(e.Revision) {
				t.Fatalf("event %d: data of %d bytes", e.Revision, len(e.Data))
			}
			revs = append(revs, e.Revision)
		}
		if len(revs) != 3 {
			t.Fatalf("%v: read %v", dir, revs)
		}
	}
	if n := len(readAll(t, s)); n != 3 {
		t.Fatalf("$all holds %d events, want 3", n)
	}
}

// TestReadCancel cancels a long read between pages.
func TestReadCancel(t *testing.T) {
	s := open(t)
	evs := make([]eventstore.EventData, 1200)
	for i := range evs {
		evs[i] = event("E")
	}
	mustAppend(t, s, "long", eventstore.NoStream, evs...)
	for name, read := range map[string]func(context.Context) func(func(eventstore.RecordedEvent, error) bool){
		"stream": func(ctx context.Context) func(func(eventstore.RecordedEvent, error) bool) {
			return s.ReadStream(ctx, "long", eventstore.ReadOptions{})
		},
		"all": func(ctx context.Context) func(func(eventstore.RecordedEvent, error) bool) {
			return s.ReadAll(ctx, eventstore.ReadAllOptions{})
		},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		n := 0
		var last error
		for _, err := range read(ctx) {
			if err != nil {
				last = err
				break
			}
			if n++; n == 10 {
				cancel()
			}
		}
		cancel()
		if !errors.Is(last, context.Canceled) || n >= len(evs) {
			t.Fatalf("%s: read %d events, then %v; want context.Canceled", name, n, last)
		}
	}
}

// TestMaxAgeWithClock checks $maxAge against the store's clock.
func TestMaxAgeWithClock(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := open(t, sqlite.WithClock(clock))
	ctx := context.Background()
	mustAppend(t, s, "a", eventstore.NoStream, event("Old"))
	mu.Lock()
	now = now.Add(time.Hour)
	mu.Unlock()
	mustAppend(t, s, "a", eventstore.Exact(0), event("New"))
	if _, err := s.SetStreamMetadata(ctx, "a", eventstore.NoStream, eventstore.StreamMetadata{MaxAge: time.Minute}); err != nil {
		t.Fatal(err)
	}
	var types []string
	for e, err := range s.ReadStream(ctx, "a", eventstore.ReadOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, e.Type)
		if !e.Created.Equal(now) {
			t.Fatalf("created %v, want the store clock's %v", e.Created, now)
		}
	}
	if len(types) != 1 || types[0] != "New" {
		t.Fatalf("read with $maxAge: %v, want [New]", types)
	}
}

// TestLogRestarts appends without pause and checks that the write-ahead log
// is reused from its start instead of growing for as long as writes go on.
func TestLogRestarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "restart.db")
	s := openAt(t, path, sqlite.WithCheckpointPages(50))
	const frame = 4096 + 24
	n := 0
	for n < 1500 || s.Stats().Checkpoints < 5 {
		mustAppend(t, s, "a", eventstore.Any, event("E"))
		n++
	}
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	// Each one-event commit adds at least two frames to the log.
	if grown := int64(2 * n * frame); fi.Size() > grown/4 {
		t.Fatalf("log of %d bytes after %d commits: it was not restarted (%d bytes if never)", fi.Size(), n, grown)
	}
}

// foreignExec runs statements on the store's file through a connection of
// the test's own, as a careless tool would.
func foreignExec(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// TestCorruptMetadata damages stored metadata: reads and writes that need
// it fail with an error naming the stream, and nothing is written.
func TestCorruptMetadata(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "corrupt.db")
	s := openAt(t, path)
	mustAppend(t, s, "a", eventstore.NoStream, event("E"))
	mustAppend(t, s, "b", eventstore.NoStream, event("E"))
	if _, err := s.SetStreamMetadata(ctx, "b", eventstore.NoStream, eventstore.StreamMetadata{MaxCount: 5}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, "a", eventstore.Any); err != nil {
		t.Fatal(err)
	}
	s.Close()
	foreignExec(t, path, `UPDATE streams SET meta = x'7b' WHERE name IN ('a', 'b')`)
	s = openAt(t, path)
	for _, err := range s.ReadStream(ctx, "b", eventstore.ReadOptions{}) {
		if err == nil || !strings.Contains(err.Error(), `"b"`) {
			t.Fatalf("read with corrupt metadata: %v", err)
		}
	}
	if _, err := s.GetStreamMetadata(ctx, "b"); err == nil {
		t.Fatal("GetStreamMetadata of corrupt metadata succeeded")
	}
	// Undeleting "a" needs its metadata.
	if _, err := s.Append(ctx, "a", eventstore.Any, event("E")); err == nil {
		t.Fatal("append undeleting a stream with corrupt metadata succeeded")
	}
	wantGapFree(t, s, 4) // nothing more written
}

func TestOpenDirectory(t *testing.T) {
	dir := t.TempDir()
	if _, err := sqlite.Open(context.Background(), dir); err == nil {
		t.Fatal("Open of a directory succeeded")
	}
	if _, err := sqlite.Open(context.Background(), dir, sqlite.ReadOnly()); err == nil {
		t.Fatal("read-only Open of a directory succeeded")
	}
}

// TestFewCachedHeads appends to more streams than the commit loop caches:
// evicted heads are read again from the database.
func TestFewCachedHeads(t *testing.T) {
	s := open(t, sqlite.WithCachedHeads(4))
	for round := range 3 {
		for i := range 10 {
			r := mustAppend(t, s, fmt.Sprintf("s-%d", i), eventstore.Any, event("E"))
			if r.Next != eventstore.Exact(uint64(round)) {
				t.Fatalf("s-%d round %d: %+v", i, round, r)
			}
		}
	}
	wantGapFree(t, s, 30)
}

// TestLogReserved checks that Open gives the write-ahead log room in
// advance, and that the store works over the reserved zeros, also after a
// reopen.
func TestLogReserved(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reserved.db")
	s := openAt(t, path)
	fi, err := os.Stat(path + "-wal")
	if err != nil || fi.Size() < 1<<20 {
		t.Fatalf("log after Open: %v, %v; want at least 1 MiB reserved", fi, err)
	}
	mustAppend(t, s, "a", eventstore.NoStream, event("E"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path)
	mustAppend(t, s, "a", eventstore.Exact(0), event("E"))
	wantGapFree(t, s, 2)
}
