package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/sqlite"
)

// linkFixture writes events of two categories and types, a soft delete, a
// tombstone and metadata of a category stream, and returns the link
// streams it produced.
func linkFixture(t *testing.T, s eventstore.Store) []string {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range 30 {
		stream := fmt.Sprintf("order-%d", i%4)
		if i%3 == 0 {
			stream = fmt.Sprintf("customer-%d", i%2)
		}
		_, err := s.Append(ctx, stream, eventstore.Any,
			eventstore.EventData{Type: fmt.Sprintf("Type%d", i%3), Data: fmt.Appendf(nil, `{"i":%d}`, i)},
			eventstore.EventData{Type: "Common", Data: []byte(`{}`)})
		must(err)
	}
	_, err := s.Append(ctx, "nocategory", eventstore.Any, eventstore.EventData{Type: "Common"})
	must(err)
	_, err = s.SetStreamMetadata(ctx, "$ce-customer", eventstore.Any, eventstore.StreamMetadata{MaxCount: 1000})
	must(err)
	_, err = s.Delete(ctx, "order-1", eventstore.Any)
	must(err)
	_, err = s.Tombstone(ctx, "order-2", eventstore.Any)
	must(err)
	_, err = s.Append(ctx, "order-1", eventstore.Any, eventstore.EventData{Type: "Type0"})
	must(err)
	return []string{"$ce-order", "$ce-customer", "$et-Type0", "$et-Type1", "$et-Type2", "$et-Common"}
}

// snapshot reads each stream forwards, links and resolved.
func snapshot(t *testing.T, s eventstore.Store, streams []string) map[string][]eventstore.RecordedEvent {
	t.Helper()
	out := make(map[string][]eventstore.RecordedEvent)
	for _, name := range streams {
		for _, resolve := range []bool{false, true} {
			var evs []eventstore.RecordedEvent
			for e, err := range s.ReadStream(context.Background(), name, eventstore.ReadOptions{ResolveLinks: resolve}) {
				if err != nil {
					t.Fatalf("ReadStream(%s): %v", name, err)
				}
				evs = append(evs, e)
			}
			out[fmt.Sprintf("%s resolved=%v", name, resolve)] = evs
		}
	}
	return out
}

// systemStreams turns the category and event-type streams on.
var systemStreams = sqlite.WithSystemStreams(true)

// TestUpgradeFromVersion1 turns a store into the layout of schema version 1
// (no links table, no rows for link streams but those with metadata) and
// checks that opening it for writing builds the same links, that a
// read-only open asks for that first, and that appends then go on.
func TestUpgradeFromVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	s := openAt(t, path, systemStreams)
	streams := linkFixture(t, s)
	want := snapshot(t, s, streams)
	if len(want["$ce-order resolved=false"]) == 0 {
		t.Fatal("the fixture wrote no links")
	}
	s.Close()

	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`DROP TABLE links`,
		`DROP TABLE settings`,
		`DELETE FROM streams WHERE (name LIKE '$ce-%' OR name LIKE '$et-%') AND meta IS NULL`,
		`UPDATE streams SET last = NULL WHERE name LIKE '$ce-%' OR name LIKE '$et-%'`,
		`PRAGMA user_version = 1`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	_, err = sqlite.Open(context.Background(), path, sqlite.ReadOnly())
	if !errors.Is(err, sqlite.ErrNotStore) || !strings.Contains(err.Error(), "upgrade") {
		t.Fatalf("read-only open of a version 1 store: %v, want ErrNotStore asking for an upgrade", err)
	}
	s = openAt(t, path, systemStreams)
	if diff := cmp.Diff(want, snapshot(t, s, streams)); diff != "" {
		t.Fatalf("links after the upgrade differ (-before +after):\n%s", diff)
	}
	res, err := s.Append(context.Background(), "order-3", eventstore.Any, eventstore.EventData{Type: "Type1"})
	if err != nil {
		t.Fatal(err)
	}
	var last eventstore.RecordedEvent
	for e, err := range s.ReadStream(context.Background(), "$ce-order", eventstore.ReadOptions{Direction: eventstore.Backwards, From: eventstore.End, MaxCount: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		last = e
	}
	if n := uint64(len(want["$ce-order resolved=false"])); last.Revision != n || last.Position != res.Position {
		t.Fatalf("new link %s@%d at %v, want revision %d at %v", last.Stream, last.Revision, last.Position, n, res.Position)
	}
	s.Close()
	r := openAt(t, path, sqlite.ReadOnly())
	if got := snapshot(t, r, []string{"$et-Type1"}); len(got["$et-Type1 resolved=true"]) != len(want["$et-Type1 resolved=true"])+1 {
		t.Fatalf("read-only store after the upgrade: %d links of $et-Type1, want %d", len(got["$et-Type1 resolved=true"]), len(want["$et-Type1 resolved=true"])+1)
	}
}

// TestScavengeKeepsLinks checks that a scavenge, which removes the events
// of deleted streams, leaves the links as they read before: the links to
// the removed events already resolved to nothing.
func TestScavengeKeepsLinks(t *testing.T) {
	s := open(t, systemStreams)
	streams := linkFixture(t, s)
	want := snapshot(t, s, streams)
	res, err := s.Scavenge(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.EventsRemoved == 0 {
		t.Fatal("the scavenge removed nothing: the test checks nothing")
	}
	if diff := cmp.Diff(want, snapshot(t, s, streams)); diff != "" {
		t.Fatalf("links after the scavenge differ (-before +after):\n%s", diff)
	}
}

// TestScavengeLinkStreamMetadata checks that $maxCount on a category stream
// hides its older links and a scavenge removes them.
func TestScavengeLinkStreamMetadata(t *testing.T) {
	s := open(t, systemStreams)
	ctx := context.Background()
	for i := range 10 {
		if _, err := s.Append(ctx, fmt.Sprintf("item-%d", i), eventstore.Any, eventstore.EventData{Type: "Added"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.SetStreamMetadata(ctx, "$ce-item", eventstore.Any, eventstore.StreamMetadata{MaxCount: 3}); err != nil {
		t.Fatal(err)
	}
	want := snapshot(t, s, []string{"$ce-item"})
	if got := want["$ce-item resolved=false"]; len(got) != 3 || got[0].Revision != 7 {
		t.Fatalf("$ce-item with $maxCount 3: %d links from revision %d, want 3 from 7", len(got), got[0].Revision)
	}
	res, err := s.Scavenge(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.EventsRemoved != 7 {
		t.Fatalf("the scavenge removed %d, want the 7 hidden links", res.EventsRemoved)
	}
	db, err := sql.Open("sqlite", s.Path()+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rows int
	if err := db.QueryRow(`SELECT count(*) FROM links l JOIN streams s ON s.id = l.stream WHERE s.name = '$ce-item'`).Scan(&rows); err != nil || rows != 3 {
		t.Fatalf("links rows of $ce-item after the scavenge: %d (%v), want 3", rows, err)
	}
	if diff := cmp.Diff(want, snapshot(t, s, []string{"$ce-item"})); diff != "" {
		t.Fatalf("links after the scavenge differ (-before +after):\n%s", diff)
	}
}

// TestReadOnlyLinkSubscription checks that a read-only store's
// subscriptions to link streams get the links another writer commits.
func TestReadOnlyLinkSubscription(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	w := openAt(t, path, systemStreams)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := w.Append(ctx, "cart-1", eventstore.Any, eventstore.EventData{Type: "Added"}, eventstore.EventData{Type: "Added"}); err != nil {
		t.Fatal(err)
	}
	r := openAt(t, path, sqlite.ReadOnly(), sqlite.WithPollInterval(5*time.Millisecond))
	// A subscriber of a category that has no link yet costs the watcher
	// nothing.
	go func() {
		for range r.SubscribeToStream(ctx, "$ce-none", eventstore.SubscribeOptions{}) {
		}
	}()
	got := make(chan eventstore.RecordedEvent, 16)
	caught := make(chan struct{})
	go func() {
		for m, err := range r.SubscribeToStream(ctx, "$ce-cart", eventstore.SubscribeOptions{From: eventstore.FromRevision(0), ResolveLinks: true}) {
			if err != nil {
				close(got)
				return
			}
			switch m.Kind {
			case eventstore.MessageCaughtUp:
				close(caught)
			case eventstore.MessageEvent:
				got <- m.Event
			}
		}
	}()
	first := <-got
	if first.Link == nil || first.Link.Revision != 1 || first.Revision != 1 {
		t.Fatalf("catch-up delivered %s@%d (link %v), want cart-1@1 through $ce-cart@1", first.Stream, first.Revision, first.Link)
	}
	<-caught
	// Link streams nobody listens to cost the watcher nothing.
	for i := range 3 {
		if _, err := w.Append(ctx, fmt.Sprintf("cart-%d", i+2), eventstore.Any, eventstore.EventData{Type: "Added"}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		e, ok := <-got
		if !ok {
			t.Fatal("the subscription ended")
		}
		if e.Link == nil || e.Link.Revision != uint64(i+2) || e.Stream != fmt.Sprintf("cart-%d", i+2) {
			t.Fatalf("live message %d: %s@%d (link %v), want cart-%d@0 through $ce-cart@%d", i, e.Stream, e.Revision, e.Link, i+2, i+2)
		}
	}
}

// TestUpgradeFailsCleanly: an upgrade that fails (here, the file already
// has a links table of its own) changes nothing and says why.
func TestUpgradeFailsCleanly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	s := openAt(t, path, systemStreams)
	linkFixture(t, s)
	s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`PRAGMA user_version = 1`); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.Open(context.Background(), path); err == nil || !strings.Contains(err.Error(), "upgrade schema from version 1") {
		t.Fatalf("open of a version 1 store whose upgrade fails: %v", err)
	}
	var version int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil || version != 1 {
		t.Fatalf("user_version after the failed upgrade: %d, %v", version, err)
	}
}

// TestScavengeExpiredLinks: $maxAge on a category stream hides its links
// older than the age, and a scavenge removes them.
func TestScavengeExpiredLinks(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	s := open(t, systemStreams, sqlite.WithClock(func() time.Time { return time.Unix(0, clock.Load()) }))
	ctx := context.Background()
	for i := range 4 {
		if i == 2 {
			clock.Add(int64(time.Hour))
		}
		if _, err := s.Append(ctx, fmt.Sprintf("aged-%d", i), eventstore.Any, eventstore.EventData{Type: "Aged"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.SetStreamMetadata(ctx, "$ce-aged", eventstore.Any, eventstore.StreamMetadata{MaxAge: time.Minute}); err != nil {
		t.Fatal(err)
	}
	want := snapshot(t, s, []string{"$ce-aged"})
	if got := want["$ce-aged resolved=false"]; len(got) != 2 || got[0].Revision != 2 {
		t.Fatalf("$ce-aged with $maxAge: %d links", len(got))
	}
	res, err := s.Scavenge(ctx)
	if err != nil || res.EventsRemoved != 2 {
		t.Fatalf("scavenge: %+v, %v; want the 2 expired links removed", res, err)
	}
	if diff := cmp.Diff(want, snapshot(t, s, []string{"$ce-aged"})); diff != "" {
		t.Fatalf("links after the scavenge differ (-before +after):\n%s", diff)
	}
}

// TestReadOnlyLinkPages: a read-only store's watcher publishes more than a
// page of links at once, and finds where to start in a link stream a
// subscriber joins while many links are new; each link arrives once.
func TestReadOnlyLinkPages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	w := openAt(t, path, systemStreams)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := openAt(t, path, sqlite.ReadOnly(), sqlite.WithPollInterval(100*time.Millisecond))
	bulk := func(stream string, n int) {
		t.Helper()
		evs := make([]eventstore.EventData, n)
		for i := range evs {
			evs[i] = eventstore.EventData{Type: "Bulk"}
		}
		if _, err := w.Append(ctx, stream, eventstore.Any, evs...); err != nil {
			t.Fatal(err)
		}
	}
	bulk("bulk-1", 700)
	next, stop := iter.Pull2(r.SubscribeToStream(ctx, "$ce-bulk", eventstore.SubscribeOptions{}))
	defer stop()
	want := uint64(0)
	expect := func(n uint64) {
		t.Helper()
		for want < n {
			m, err, ok := next()
			if !ok || err != nil {
				t.Fatalf("subscription ended: %v", err)
			}
			if m.Kind != eventstore.MessageEvent {
				continue
			}
			if m.Event.Revision != want {
				t.Fatalf("link %d, want %d", m.Event.Revision, want)
			}
			want++
		}
	}
	expect(700)
	bulk("bulk-2", 1100)
	expect(1800)
}

// TestLinkReadOnClosedStore: a read of a link stream that outlives its
// store ends with ErrClosed at the first page not read ahead before Close
// (reads hold at most the page in hand and the next one).
func TestLinkReadOnClosedStore(t *testing.T) {
	s := open(t, systemStreams)
	ctx := context.Background()
	evs := make([]eventstore.EventData, 3*sqlite.PageRows)
	for i := range evs {
		evs[i] = eventstore.EventData{Type: "Many"}
	}
	if _, err := s.Append(ctx, "many-1", eventstore.Any, evs...); err != nil {
		t.Fatal(err)
	}
	n := 0
	var last error
	for _, err := range s.ReadStream(ctx, "$et-Many", eventstore.ReadOptions{}) {
		if err != nil {
			last = err
			break
		}
		if n++; n == 1 {
			s.Close()
		}
	}
	if !errors.Is(last, eventstore.ErrClosed) || n > 2*sqlite.PageRows {
		t.Fatalf("read of a closed store's link stream: %d links, then %v", n, last)
	}
}

// TestSystemStreamsSetting: the category and event-type streams are off in
// a new file (no links written, $ce- reads as not found), the file keeps
// the choice across opens, turning them on builds the links of the events
// already there (the same links an always-on store writes), and turning
// them off drops them.
func TestSystemStreamsSetting(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	s := openAt(t, path)
	streams := linkFixture(t, s)
	for _, name := range streams {
		if !strings.HasPrefix(name, "$") {
			continue
		}
		for _, err := range s.ReadStream(ctx, name, eventstore.ReadOptions{}) {
			if !errors.Is(err, eventstore.ErrStreamNotFound) {
				t.Fatalf("%s with the system streams off: %v, want ErrStreamNotFound", name, err)
			}
		}
	}
	s.Close()

	s = openAt(t, path) // still off: the file says so
	for _, err := range s.ReadStream(ctx, "$ce-order", eventstore.ReadOptions{}) {
		if !errors.Is(err, eventstore.ErrStreamNotFound) {
			t.Fatalf("$ce-order after a reopen without the option: %v, want ErrStreamNotFound", err)
		}
	}
	s.Close()

	// The same writes into a store that always had them on.
	ref := open(t, systemStreams)
	want := snapshot(t, ref, linkFixture(t, ref))

	s = openAt(t, path, systemStreams) // builds the links
	// The two stores' events differ in their IDs and times only.
	if diff := cmp.Diff(want, snapshot(t, s, streams), cmpopts.IgnoreFields(eventstore.RecordedEvent{}, "ID", "Created")); diff != "" {
		t.Fatalf("links built when turned on differ from links written with the appends (-written +built):\n%s", diff)
	}
	s.Close()
	s = openAt(t, path) // stays on
	if _, err := s.Append(ctx, "order-9", eventstore.Any, eventstore.EventData{Type: "Type1"}); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, err := range s.ReadStream(ctx, "$ce-order", eventstore.ReadOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != len(want["$ce-order resolved=false"])+1 {
		t.Fatalf("$ce-order after a reopen and an append: %d links, want %d", n, len(want["$ce-order resolved=false"])+1)
	}
	s.Close()

	s = openAt(t, path, sqlite.WithSystemStreams(false)) // drops them
	for _, err := range s.ReadStream(ctx, "$ce-order", eventstore.ReadOptions{}) {
		if !errors.Is(err, eventstore.ErrStreamNotFound) {
			t.Fatalf("$ce-order turned off: %v, want ErrStreamNotFound", err)
		}
	}
	s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var links int
	if err := db.QueryRow(`SELECT count(*) FROM links`).Scan(&links); err != nil || links != 0 {
		t.Fatalf("links left after turning the system streams off: %d, %v", links, err)
	}

	// A read-only store follows its file.
	w := openAt(t, path, systemStreams)
	r := openAt(t, path, sqlite.ReadOnly())
	for _, err := range r.ReadStream(ctx, "$ce-order", eventstore.ReadOptions{MaxCount: 1}) {
		if err != nil {
			t.Fatalf("read-only $ce-order with the file's system streams on: %v", err)
		}
	}
	w.Close()
}

func TestSystemStreamsURL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	for _, c := range []struct {
		param string
		ok    bool
	}{{"system_streams=true", true}, {"system_streams=0", true}, {"system_streams=maybe", false}} {
		_, opts, err := sqlite.ParseURL("sqlite://" + path + "?" + c.param)
		if (err == nil) != c.ok || (c.ok && len(opts) != 1) {
			t.Errorf("%s: %d options, %v", c.param, len(opts), err)
		}
	}
}

// TestSystemStreamsFailedBuild: turning the system streams on in a file
// whose link build fails (an insert refused by a trigger) fails the open,
// and the file is as before: off, its link streams empty.
func TestSystemStreamsFailedBuild(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	s := openAt(t, path, systemStreams)
	linkFixture(t, s)
	s.Close()
	s = openAt(t, path, sqlite.WithSystemStreams(false))
	s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TRIGGER refuse BEFORE INSERT ON links BEGIN SELECT RAISE(FAIL, 'injected'); END`); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.Open(ctx, path, systemStreams); err == nil || !strings.Contains(err.Error(), "turn system streams on") {
		t.Fatalf("open that cannot build the links: %v, want the build's error", err)
	}
	var on, links, heads int
	if err := db.QueryRow(`SELECT value FROM settings WHERE key = 'links'`).Scan(&on); err != nil || on != 0 {
		t.Fatalf("setting after the failed build: %d, %v, want 0", on, err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM links`).Scan(&links); err != nil || links != 0 {
		t.Fatalf("links after the failed build: %d, %v", links, err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM streams WHERE substr(name, 1, 4) IN ('$ce-', '$et-') AND last IS NOT NULL`).Scan(&heads); err != nil || heads != 0 {
		t.Fatalf("link streams with a head after the failed build: %d, %v", heads, err)
	}
	if _, err := db.Exec(`DROP TRIGGER refuse`); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path, systemStreams) // builds now
	n := 0
	for _, err := range s.ReadStream(ctx, "$ce-order", eventstore.ReadOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no links after the build succeeded")
	}
}

// TestSystemStreamsFailedDrop: turning them off in a file where dropping
// the links fails (a trigger refuses the delete) fails the open and leaves
// the file on, every link and head in place.
func TestSystemStreamsFailedDrop(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	s := openAt(t, path, systemStreams)
	streams := linkFixture(t, s)
	want := snapshot(t, s, streams)
	s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TRIGGER refuse BEFORE DELETE ON links BEGIN SELECT RAISE(FAIL, 'injected'); END`); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.Open(ctx, path, sqlite.WithSystemStreams(false)); err == nil || !strings.Contains(err.Error(), "turn system streams off") {
		t.Fatalf("open that cannot drop the links: %v, want the drop's error", err)
	}
	if _, err := db.Exec(`DROP TRIGGER refuse`); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path) // the file says on
	if diff := cmp.Diff(want, snapshot(t, s, streams)); diff != "" {
		t.Fatalf("links after the failed drop differ (-before +after):\n%s", diff)
	}
}
