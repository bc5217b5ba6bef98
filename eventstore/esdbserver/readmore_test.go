package esdbserver_test

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
)

// Reads encode their messages by hand into one reused buffer. These tests
// read many events of mixed sizes (small, 9 KB and 300 KB ones) through the
// official client, cancel reads midway (TestMain fails the run if a
// goroutine outlives its call), and send an event proto cannot encode.

func TestReadManyMixedSizes(t *testing.T) {
	ctx := testContext(t)
	store, srv := newMemoryServer(t)
	c := newClient(t, srv.ConnectionString())
	var want []eventstore.EventData
	for i := range 700 {
		data := []byte(fmt.Sprintf(`{"i":%d}`, i))
		switch {
		case i%97 == 0:
			data = bytes.Repeat([]byte{'a' + byte(i%26)}, 300<<10)
		case i%13 == 0:
			data = bytes.Repeat([]byte{'x'}, 9000)
		}
		want = append(want, eventstore.EventData{ID: uuid.New(), Type: fmt.Sprintf("E%d", i%5), ContentType: eventstore.ContentTypeBinary, Data: data, Metadata: []byte(fmt.Sprintf("m%d", i))})
	}
	for i := 0; i < len(want); i += 100 {
		if _, err := store.Append(ctx, "batches", eventstore.Any, want[i:i+100]...); err != nil {
			t.Fatal(err)
		}
	}
	check := func(name string, got []*esdb.ResolvedEvent, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d events, want %d", name, len(got), len(want))
		}
		for i, e := range got {
			r := e.OriginalEvent()
			if r.EventID != want[i].ID || r.EventType != want[i].Type || !bytes.Equal(r.Data, want[i].Data) ||
				!bytes.Equal(r.UserMetadata, want[i].Metadata) || r.EventNumber != uint64(i) {
				t.Fatalf("%s: event %d is %s %s rev %d, want %s %s", name, i, r.EventID, r.EventType, r.EventNumber, want[i].ID, want[i].Type)
			}
		}
	}
	rs, err := c.ReadStream(ctx, "batches", esdb.ReadStreamOptions{}, uint64(len(want)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAllEvents(t, rs)
	check("stream", got, err)
	all, err := c.ReadAll(ctx, esdb.ReadAllOptions{}, uint64(len(want)))
	if err != nil {
		t.Fatal(err)
	}
	got, err = readAllEvents(t, all)
	check("$all", got, err)
}

func TestReadCancelledMidway(t *testing.T) {
	ctx := testContext(t)
	store, srv := newMemoryServer(t)
	seed(t, store, "long", "E", 3000)
	raw := rawStreams(t, srv)
	for _, stop := range []int{0, 1, 200, 1000} {
		rctx, cancel := context.WithCancel(ctx)
		call, err := raw.Read(rctx, readReq(streamOpts("long"), countOpt(3000)))
		if err != nil {
			t.Fatal(err)
		}
		for i := range stop {
			if _, err := call.Recv(); err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
		}
		cancel()
	}
	// The server still serves a read to the end.
	c := newClient(t, srv.ConnectionString())
	rs, err := c.ReadStream(ctx, "long", esdb.ReadStreamOptions{}, 3000)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := readAllEvents(t, rs); err != nil || len(got) != 3000 {
		t.Fatalf("read after cancelled reads: %d events, %v", len(got), err)
	}
}

// badTypeStore reads the event of revision bad of every stream with a type
// that is not valid UTF-8, which no store validating its input records.
type badTypeStore struct {
	*memory.Store
	bad uint64
}

func (s *badTypeStore) ReadStream(ctx context.Context, stream string, o eventstore.ReadOptions) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		for e, err := range s.Store.ReadStream(ctx, stream, o) {
			if e.Revision == s.bad {
				e.Type = "bad\xff"
			}
			if !yield(e, err) {
				return
			}
		}
	}
}

func TestReadUnencodableEvent(t *testing.T) {
	ctx := testContext(t)
	store := &badTypeStore{Store: memory.New(), bad: 300}
	t.Cleanup(func() { store.Store.Close() })
	seed(t, store, "odd", "E", 400)
	raw := rawStreams(t, startServer(t, store))
	// Sending the event fails the call as gRPC's proto codec fails it; the
	// events before it arrive.
	st, msgs, _ := firstReadError(ctx, t, raw, readReq(streamOpts("odd"), countOpt(400)))
	if st == nil || st.Code() != codes.Internal || len(msgs) != 300 {
		t.Fatalf("read of an event with a non-UTF-8 type: %v after %d messages", st, len(msgs))
	}
}
