package esdbserver_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
)

// seed appends n events of type typ to stream through the store.
func seed(t *testing.T, store eventstore.Store, stream, typ string, n int) []eventstore.AppendResult {
	t.Helper()
	var out []eventstore.AppendResult
	for i := range n {
		res, err := store.Append(context.Background(), stream, eventstore.Any, eventstore.EventData{Type: typ, Data: []byte(fmt.Sprintf(`{"i":%d}`, i))})
		if err != nil {
			t.Fatalf("seed %s: %v", stream, err)
		}
		out = append(out, res)
	}
	return out
}

func revisions(events []*esdb.ResolvedEvent) []uint64 {
	out := make([]uint64, len(events))
	for i, e := range events {
		out[i] = e.OriginalEvent().EventNumber
	}
	return out
}

func streamsOf(events []*esdb.ResolvedEvent) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.OriginalEvent().StreamID
	}
	return out
}

func TestReadStreamRanges(t *testing.T) {
	ctx := testContext(t)
	store, srv := newMemoryServer(t)
	c := newClient(t, srv.ConnectionString())
	seed(t, store, "r-1", "E", 5)

	tests := []struct {
		name  string
		opts  esdb.ReadStreamOptions
		count uint64
		want  []uint64
	}{
		{"forwards from start", esdb.ReadStreamOptions{From: esdb.Start{}}, 10, []uint64{0, 1, 2, 3, 4}},
		{"forwards with count", esdb.ReadStreamOptions{From: esdb.Start{}}, 2, []uint64{0, 1}},
		{"forwards from revision", esdb.ReadStreamOptions{From: esdb.Revision(3)}, 10, []uint64{3, 4}},
		{"forwards from end", esdb.ReadStreamOptions{From: esdb.End{}}, 10, []uint64{}},
		{"forwards past the end", esdb.ReadStreamOptions{From: esdb.Revision(9)}, 10, []uint64{}},
		{"backwards from end", esdb.ReadStreamOptions{From: esdb.End{}, Direction: esdb.Backwards}, 3, []uint64{4, 3, 2}},
		{"backwards from revision", esdb.ReadStreamOptions{From: esdb.Revision(1), Direction: esdb.Backwards}, 10, []uint64{1, 0}},
		{"count zero", esdb.ReadStreamOptions{From: esdb.Start{}}, 0, []uint64{}},
		{"resolve links without links", esdb.ReadStreamOptions{From: esdb.Start{}, ResolveLinkTos: true}, 1, []uint64{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := c.ReadStream(ctx, "r-1", tt.opts, tt.count)
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAllEvents(t, rs)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(revisions(got)) != fmt.Sprint(tt.want) {
				t.Fatalf("revisions %v, want %v", revisions(got), tt.want)
			}
		})
	}
}

func TestReadStreamNotFoundAndDeleted(t *testing.T) {
	ctx := testContext(t)
	store, srv := newMemoryServer(t)
	c := newClient(t, srv.ConnectionString())
	seed(t, store, "gone-soft", "E", 2)
	seed(t, store, "gone-hard", "E", 2)
	if _, err := store.Delete(ctx, "gone-soft", eventstore.Any); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Tombstone(ctx, "gone-hard", eventstore.Any); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"never-was", "gone-soft"} {
		rs, err := c.ReadStream(ctx, name, esdb.ReadStreamOptions{}, 10)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := readAllEvents(t, rs); errorCode(err) != esdb.ErrorCodeResourceNotFound || !strings.Contains(err.Error(), "'"+name+"'") {
			t.Errorf("read %s: %v, want not found", name, err)
		}
	}
	for _, count := range []uint64{0, 10} {
		rs, err := c.ReadStream(ctx, "never-was", esdb.ReadStreamOptions{}, count)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := readAllEvents(t, rs); errorCode(err) != esdb.ErrorCodeResourceNotFound {
			t.Errorf("read count %d of a missing stream: %v", count, err)
		}
	}
	rs, err := c.ReadStream(ctx, "gone-hard", esdb.ReadStreamOptions{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readAllEvents(t, rs); errorCode(err) != esdb.ErrorCodeStreamDeleted || !strings.Contains(err.Error(), "'gone-hard'") {
		t.Errorf("read tombstoned: %v, want stream deleted", err)
	}
}

func TestReadAll(t *testing.T) {
	ctx := testContext(t)
	store, srv := newMemoryServer(t)
	c := newClient(t, srv.ConnectionString())
	seed(t, store, "a-1", "A", 2)
	mid := seed(t, store, "b-1", "B", 2)
	seed(t, store, "a-2", "A", 2)
	p := esdb.Position{Commit: mid[0].Position.Commit, Prepare: mid[0].Position.Prepare}

	read := func(opts esdb.ReadAllOptions, count uint64) []*esdb.ResolvedEvent {
		t.Helper()
		rs, err := c.ReadAll(ctx, opts, count)
		if err != nil {
			t.Fatal(err)
		}
		got, err := readAllEvents(t, rs)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := streamsOf(read(esdb.ReadAllOptions{}, 100)); fmt.Sprint(got) != "[a-1 a-1 b-1 b-1 a-2 a-2]" {
		t.Errorf("$all forwards = %v", got)
	}
	if got := streamsOf(read(esdb.ReadAllOptions{From: p}, 3)); fmt.Sprint(got) != "[b-1 b-1 a-2]" {
		t.Errorf("$all from a position (inclusive) = %v", got)
	}
	if got := read(esdb.ReadAllOptions{From: p, Direction: esdb.Backwards}, 100); fmt.Sprint(streamsOf(got)) != "[a-1 a-1]" || got[0].Event.Position.Commit >= p.Commit {
		t.Errorf("$all backwards from a position (exclusive) = %v", streamsOf(got))
	}
	if got := streamsOf(read(esdb.ReadAllOptions{From: esdb.End{}, Direction: esdb.Backwards}, 1)); fmt.Sprint(got) != "[a-2]" {
		t.Errorf("$all backwards from the end = %v", got)
	}
	if got := read(esdb.ReadAllOptions{From: esdb.Start{}, Direction: esdb.Backwards}, 10); len(got) != 0 {
		t.Errorf("$all backwards from the start = %v, want nothing", streamsOf(got))
	}
	if got := read(esdb.ReadAllOptions{From: esdb.End{}}, 10); len(got) != 0 {
		t.Errorf("$all forwards from the end = %v, want nothing", streamsOf(got))
	}
	all := read(esdb.ReadAllOptions{}, 100)
	for i := 1; i < len(all); i++ {
		if all[i].Event.Position.Commit <= all[i-1].Event.Position.Commit {
			t.Fatalf("positions not increasing: %v then %v", all[i-1].Event.Position, all[i].Event.Position)
		}
	}
}

func TestResolveLinks(t *testing.T) {
	ctx := testContext(t)
	store, srv := newMemoryServer(t)
	c := newClient(t, srv.ConnectionString())
	seed(t, store, "target-1", "T", 3)
	link := func(data string) eventstore.EventData {
		return eventstore.EventData{Type: "$>", ContentType: eventstore.ContentTypeBinary, Data: []byte(data)}
	}
	if _, err := store.Append(ctx, "links-1", eventstore.NoStream,
		link("1@target-1"), link("7@target-1"), link("0@nowhere"), link("garbage"), link("x@target-1")); err != nil {
		t.Fatal(err)
	}

	rs, err := c.ReadStream(ctx, "links-1", esdb.ReadStreamOptions{ResolveLinkTos: true}, 10)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAllEvents(t, rs)
	if err != nil || len(got) != 5 {
		t.Fatalf("read links: %d, %v", len(got), err)
	}
	if got[0].Event == nil || got[0].Event.StreamID != "target-1" || got[0].Event.EventNumber != 1 ||
		got[0].Link == nil || got[0].Link.StreamID != "links-1" || *got[0].Commit != got[0].Link.Position.Commit {
		t.Errorf("resolved link = %+v", got[0])
	}
	for i, e := range got[1:] {
		if e.Event != nil || e.Link == nil || e.Link.EventNumber != uint64(i+1) {
			t.Errorf("unresolvable link %d = event %v link %v", i+1, e.Event, e.Link)
		}
	}

	// Without resolution, links are plain events.
	rs, err = c.ReadStream(ctx, "links-1", esdb.ReadStreamOptions{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	got, err = readAllEvents(t, rs)
	if err != nil || len(got) != 1 || got[0].Link != nil || got[0].Event.EventType != "$>" || string(got[0].Event.Data) != "1@target-1" {
		t.Fatalf("unresolved read: %+v, %v", got, err)
	}

	// Subscriptions resolve too.
	sub, err := c.SubscribeToStream(ctx, "links-1", esdb.SubscribeToStreamOptions{From: esdb.Start{}, ResolveLinkTos: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ev := sub.Recv()
	if ev.EventAppeared == nil || ev.EventAppeared.Event == nil || ev.EventAppeared.Event.StreamID != "target-1" || ev.EventAppeared.Link == nil {
		t.Fatalf("subscription link = %+v", ev)
	}
}

// TestReadHonoursMaxAge stamps events with a clock the test controls.
func TestReadHonoursMaxAge(t *testing.T) {
	ctx := testContext(t)
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	store := memory.New(memory.WithClock(func() time.Time { return time.Unix(0, now.Load()) }))
	t.Cleanup(func() { store.Close() })
	srv := startServer(t, store)
	c := newClient(t, srv.ConnectionString())
	seed(t, store, "aged-1", "E", 2)
	if _, err := store.SetStreamMetadata(ctx, "aged-1", eventstore.Any, eventstore.StreamMetadata{MaxAge: time.Second}); err != nil {
		t.Fatal(err)
	}
	now.Add(int64(2 * time.Second))
	rs, err := c.ReadStream(ctx, "aged-1", esdb.ReadStreamOptions{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAllEvents(t, rs)
	if err != nil || len(got) != 0 {
		t.Fatalf("read of expired events = %d events, %v; want none and no error", len(got), err)
	}
}

func TestStringUUIDs(t *testing.T) {
	ctx := testContext(t)
	store, srv := newMemoryServer(t)
	ids := seed(t, store, "u-1", "E", 1)
	_ = ids
	var want uuid.UUID
	for e, err := range store.ReadStream(ctx, "u-1", eventstore.ReadOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		want = e.ID
	}
	raw := rawStreams(t, srv)
	call, err := raw.Read(ctx, readReq(streamOpts("u-1"), countOpt(1), withStringUUID()))
	if err != nil {
		t.Fatal(err)
	}
	msg, err := call.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if got := msg.GetEvent().GetEvent().GetId().GetString_(); got != want.String() {
		t.Fatalf("string id = %q, want %q", got, want)
	}
}
