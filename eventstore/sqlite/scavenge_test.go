package sqlite_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/eventstore/sqlite"
)

// fileHolds reports whether the store's database file or its log holds
// secret.
func fileHolds(t *testing.T, path string, secret []byte) bool {
	t.Helper()
	for _, p := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(p)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		if bytes.Contains(b, secret) {
			return true
		}
	}
	return false
}

// TestScavengeErasesStream is a GDPR-style erasure: a stream holding
// personal data is deleted (softly or with a tombstone) and the store
// scavenged; then neither the database file nor its log holds any of the
// data, other streams are untouched, and the store goes on.
func TestScavengeErasesStream(t *testing.T) {
	for _, tombstone := range []bool{false, true} {
		t.Run(fmt.Sprintf("tombstone=%v", tombstone), func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "gdpr.db")
			s := openAt(t, path)
			secret := []byte("alice-7f3a9c@example.com")
			big := bytes.Repeat(append(append([]byte(nil), secret...), ' '), 400) // spills into overflow pages
			var personal []eventstore.EventData
			for i := range 5 {
				data, _ := json.Marshal(map[string]string{"email": string(secret), "n": fmt.Sprint(i)})
				personal = append(personal, eventstore.EventData{Type: "Registered", Data: data})
			}
			personal = append(personal, eventstore.EventData{Type: "Blob", ContentType: eventstore.ContentTypeBinary, Data: big,
				Metadata: []byte(`{"by":"` + string(secret) + `"}`)})
			mustAppend(t, s, "order-1", eventstore.NoStream, event("Before"))
			mustAppend(t, s, "user-1", eventstore.NoStream, personal...)
			if _, err := s.SetStreamMetadata(ctx, "user-1", eventstore.Any, eventstore.StreamMetadata{
				Custom: map[string]json.RawMessage{"owner": json.RawMessage(`"` + string(secret) + `"`)}}); err != nil {
				t.Fatal(err)
			}
			mustAppend(t, s, "order-1", eventstore.Exact(0), event("After"))
			orders := readStream(t, s, "order-1")
			if !fileHolds(t, path, secret) {
				t.Fatal("the data is not in the files before the erasure: the check below would prove nothing")
			}

			var err error
			if tombstone {
				_, err = s.Tombstone(ctx, "user-1", eventstore.Any)
			} else {
				_, err = s.Delete(ctx, "user-1", eventstore.Any)
			}
			if err != nil {
				t.Fatal(err)
			}
			res, err := s.Scavenge(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if res.EventsRemoved < int64(len(personal)) || res.BytesBefore == 0 || res.BytesAfter == 0 {
				t.Fatalf("scavenge: %+v, want at least %d events removed and the sizes", res, len(personal))
			}
			t.Logf("scavenge: %+v", res)
			if fileHolds(t, path, secret) {
				t.Fatal("the erased stream's data is still in the database file or its log")
			}
			if got := readStream(t, s, "order-1"); fmt.Sprint(positions(got)) != fmt.Sprint(positions(orders)) {
				t.Fatalf("order-1 after the scavenge at %v, want %v", positions(got), positions(orders))
			}
			// The store goes on: a soft-deleted stream continues its
			// revisions; a tombstoned one stays deleted.
			_, err = s.Append(ctx, "user-1", eventstore.Any, event("Again"))
			switch {
			case tombstone && !errors.Is(err, eventstore.ErrStreamDeleted):
				t.Fatalf("append to the tombstoned stream after the scavenge: %v", err)
			case !tombstone && err != nil:
				t.Fatal(err)
			case !tombstone:
				if got := readStream(t, s, "user-1"); len(got) != 1 || got[0].Revision != uint64(len(personal)) {
					t.Fatalf("user-1 after the scavenge and an append: %d events", len(got))
				}
			}
			s.Close()
			r := openAt(t, path)
			mustAppend(t, r, "order-1", eventstore.Exact(1), event("Later"))
			if fileHolds(t, path, secret) {
				t.Fatal("the erased data came back after a reopen")
			}
		})
	}
}

func readStream(t *testing.T, s eventstore.Store, stream string) []eventstore.RecordedEvent {
	t.Helper()
	var out []eventstore.RecordedEvent
	for e, err := range s.ReadStream(context.Background(), stream, eventstore.ReadOptions{}) {
		if err != nil {
			t.Fatalf("read %s: %v", stream, err)
		}
		out = append(out, e)
	}
	return out
}

func positions(evs []eventstore.RecordedEvent) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.Position.Commit
	}
	return out
}

// TestScavengeRemovesOnlyWhatReadsHide: $tb, $maxCount, $maxAge and old
// metadata events are removed; what every stream read shows is the same
// before and after, at the same positions.
func TestScavengeRemovesOnlyWhatReadsHide(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := open(t, sqlite.WithClock(clock))
	streams := map[string]eventstore.StreamMetadata{
		"count-1": {MaxCount: 2},
		"tb-1":    {TruncateBefore: 3},
		"age-1":   {MaxAge: time.Hour},
		"plain-1": {},
	}
	for name, meta := range streams {
		for range 5 {
			mustAppend(t, s, name, eventstore.Any, event("E"))
		}
		if name != "plain-1" {
			for range 3 { // three metadata events: two are hidden
				if _, err := s.SetStreamMetadata(ctx, name, eventstore.Any, meta); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if _, err := s.SetStreamMetadata(ctx, "empty-1", eventstore.NoStream, eventstore.StreamMetadata{MaxCount: 1}); err != nil {
		t.Fatal(err) // metadata of a stream without events
	}
	mu.Lock()
	now = now.Add(2 * time.Hour) // age-1's events expire, then one more comes
	mu.Unlock()
	mustAppend(t, s, "age-1", eventstore.Any, event("E"))
	names := []string{"count-1", "tb-1", "age-1", "plain-1", "$$count-1", "$$tb-1", "$$age-1"}
	before := map[string][]uint64{}
	for _, n := range names {
		before[n] = positions(readStream(t, s, n))
	}
	res, err := s.Scavenge(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// count-1: 3, tb-1: 3, age-1: 5, and 2 metadata events of each of 3.
	if want := int64(3 + 3 + 5 + 3*2); res.EventsRemoved != want {
		t.Fatalf("removed %d events, want %d", res.EventsRemoved, want)
	}
	for _, n := range names {
		if got := positions(readStream(t, s, n)); fmt.Sprint(got) != fmt.Sprint(before[n]) {
			t.Errorf("%s after the scavenge: %v, want %v", n, got, before[n])
		}
	}
	if again, err := s.Scavenge(ctx); err != nil || again.EventsRemoved != 0 {
		t.Fatalf("second scavenge: %+v, %v; want nothing removed", again, err)
	}
}

// TestScavengedRetry: a retry of an append whose events were scavenged is
// not idempotent any more (the events are gone): it is a wrong expected
// version, not a failure to find the event.
func TestScavengedRetry(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	first := event("E")
	mustAppend(t, s, "a", eventstore.NoStream, first)
	mustAppend(t, s, "a", eventstore.Exact(0), event("E"))
	if _, err := s.SetStreamMetadata(ctx, "a", eventstore.Any, eventstore.StreamMetadata{MaxCount: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Scavenge(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "a", eventstore.NoStream, first); !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		t.Fatalf("retry of a scavenged append: %v, want ErrWrongExpectedVersion", err)
	}
}

func TestScavengeUnsupported(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ro.db")
	w := openAt(t, path)
	mustAppend(t, w, "a", eventstore.NoStream, event("E"))
	r := openAt(t, path, sqlite.ReadOnly())
	if _, err := eventstore.Scavenge(ctx, r); !errors.Is(err, sqlite.ErrReadOnly) {
		t.Fatalf("scavenge of a read-only store: %v, want ErrReadOnly", err)
	}
	m := memory.New()
	defer m.Close()
	if _, err := eventstore.Scavenge(ctx, m); !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "scavenge") {
		t.Fatalf("scavenge of a store without it: %v, want ErrUnsupported", err)
	}
	w.Close()
	if _, err := w.Scavenge(ctx); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("scavenge of a closed store: %v, want ErrClosed", err)
	}
}

// TestScavengeOnline: a scavenge of several chunks runs while writers
// append; every append succeeds and the scavenge removes what it should.
func TestScavengeOnline(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	const n = 2500 // three chunks
	for i := 0; i < n; i += 250 {
		evs := make([]eventstore.EventData, 250)
		for j := range evs {
			evs[j] = event("Old")
		}
		mustAppend(t, s, "big-1", eventstore.Any, evs...)
	}
	if _, err := s.SetStreamMetadata(ctx, "big-1", eventstore.Any, eventstore.StreamMetadata{TruncateBefore: n}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var appended [4]int
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.Append(ctx, fmt.Sprintf("live-%d", g), eventstore.Any, event("E")); err != nil {
					t.Errorf("append during the scavenge: %v", err)
					return
				}
				appended[g]++
			}
		}()
	}
	res, err := s.Scavenge(ctx)
	close(stop)
	wg.Wait()
	if err != nil || res.EventsRemoved != n {
		t.Fatalf("scavenge: %+v, %v; want %d events removed", res, err, n)
	}
	for g := range 4 {
		if appended[g] == 0 {
			continue
		}
		if got := len(readStream(t, s, fmt.Sprintf("live-%d", g))); got != appended[g] {
			t.Fatalf("live-%d holds %d events, want %d", g, got, appended[g])
		}
	}
}

// TestScavengeCorruptMetadata: stored metadata the scavenge cannot decode
// stops it with an error naming the stream, having removed nothing of it.
func TestScavengeCorruptMetadata(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "corrupt.db")
	s := openAt(t, path)
	mustAppend(t, s, "a", eventstore.NoStream, event("E"), event("E"))
	if _, err := s.SetStreamMetadata(ctx, "a", eventstore.Any, eventstore.StreamMetadata{MaxCount: 1}); err != nil {
		t.Fatal(err)
	}
	foreignExec(t, path, `UPDATE streams SET meta = x'7b6e6f' WHERE name = 'a'`)
	if _, err := s.Scavenge(ctx); err == nil || !strings.Contains(err.Error(), `"a"`) {
		t.Fatalf("scavenge with corrupt metadata: %v, want an error naming the stream", err)
	}
	foreignExec(t, path, `SELECT 1`)
	var n int
	for range s.ReadAll(ctx, eventstore.ReadAllOptions{}) {
		n++
	}
	if n != 3 {
		t.Fatalf("$all holds %d events, want 3 (nothing removed)", n)
	}
}

// TestScavengeShrinksTheFile: a scavenge gives the space of removed events
// back to the file system.
func TestScavengeShrinksTheFile(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "shrink.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	big := make([]byte, 64<<10)
	for i := range big {
		big[i] = 'a' + byte(i%26)
	}
	for i := range 40 {
		data := []byte(fmt.Sprintf(`{"i":%d,"blob":%q}`, i, big))
		if _, err := s.Append(ctx, "bulk-1", eventstore.Any, eventstore.EventData{Type: "Bulk", Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Delete(ctx, "bulk-1", eventstore.Any); err != nil {
		t.Fatal(err)
	}
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	res, err := s.Scavenge(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.EventsRemoved != 40 || res.FreeBytes != 0 || size() > 1<<20 || res.BytesAfter >= res.BytesBefore-(1<<20) {
		t.Fatalf("scavenge %+v, database file %d bytes; want 40 events removed, no free pages left and the ~2.6 MB given back", res, size())
	}
}

// TestScavengeRefusedDeletes: when the database refuses a scavenge's
// deletion (here a trigger another tool added), Scavenge reports the
// error, removes nothing in that step and leaves the store usable; once the
// cause is gone, the next Scavenge removes what it should.
func TestScavengeRefusedDeletes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "refused.db")
	s := openAt(t, path)
	mustAppend(t, s, "trunc", eventstore.NoStream, event("E"), event("E"), event("E"))
	if _, err := s.SetStreamMetadata(ctx, "trunc", eventstore.Any, eventstore.StreamMetadata{TruncateBefore: 2}); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, "gone", eventstore.NoStream, event("E"))
	if _, err := s.SetStreamMetadata(ctx, "gone", eventstore.Any, eventstore.StreamMetadata{MaxCount: 5}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Tombstone(ctx, "gone", eventstore.Any); err != nil {
		t.Fatal(err)
	}
	removed := int64(0)
	for i, c := range []struct{ name, trigger string }{
		{"the events' deletion", `CREATE TRIGGER refuse BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, 'refused by test'); END`},
		{"the tombstoned stream's metadata", `CREATE TRIGGER refuse BEFORE UPDATE OF meta ON streams BEGIN SELECT RAISE(ABORT, 'refused by test'); END`},
	} {
		foreignExec(t, path, c.trigger)
		res, err := s.Scavenge(ctx)
		if err == nil || !strings.Contains(err.Error(), "refused by test") || errors.Is(err, sqlite.ErrFailed) {
			t.Fatalf("Scavenge with %s refused = %+v, %v; want the database's error", c.name, res, err)
		}
		if i == 0 && res.EventsRemoved != 0 {
			t.Fatalf("Scavenge whose deletions were refused removed %d events", res.EventsRemoved)
		}
		removed += res.EventsRemoved
		foreignExec(t, path, `DROP TRIGGER refuse`)
		// The store goes on.
		mustAppend(t, s, "after", eventstore.Any, event("E"))
	}
	res, err := s.Scavenge(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// trunc's revisions 0 and 1, gone's event (its tombstone record stays)
	// and its metadata stream's event.
	if removed += res.EventsRemoved; removed != 4 {
		t.Fatalf("removed %d events in all, want 4", removed)
	}
	if again, err := s.Scavenge(ctx); err != nil || again.EventsRemoved != 0 {
		t.Fatalf("a second Scavenge = %+v, %v; want nothing removed", again, err)
	}
	var revs []uint64
	for ev, err := range s.ReadStream(ctx, "trunc", eventstore.ReadOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, ev.Revision)
	}
	if fmt.Sprint(revs) != "[2]" {
		t.Fatalf("trunc after the scavenge: revisions %v, want [2]", revs)
	}
}
