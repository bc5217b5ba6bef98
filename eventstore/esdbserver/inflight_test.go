package esdbserver_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/esdbserver"
	"github.com/chronicle-go/chronicle/eventstore/memory"
)

// blockingStore holds every append until released, after saying it
// started: the server then holds that append's bytes.
type blockingStore struct {
	*memory.Store
	entered chan struct{}
	release chan struct{}
}

func (b *blockingStore) Append(ctx context.Context, s string, e eventstore.ExpectedRevision, evs ...eventstore.EventData) (eventstore.AppendResult, error) {
	b.entered <- struct{}{}
	<-b.release
	return b.Store.Append(ctx, s, e, evs...)
}

// TestBytesInFlightBounded: the size limit is per append, so without a
// bound across calls concurrent large appends add up. With a 3 MiB budget,
// an append that holds 2 MiB leaves room for 1 MiB: a second append's
// first event waits for room, and one that already holds some of the
// budget and needs more than is left fails with ResourceExhausted, having
// written nothing; once the first append is done the budget is free again.
func TestBytesInFlightBounded(t *testing.T) {
	ctx := testContext(t)
	const mib = 1 << 20
	store := &blockingStore{Store: memory.New(), entered: make(chan struct{}, 4), release: make(chan struct{})}
	defer store.Close()
	srv := startServer(t, store, esdbserver.WithMaxAppendSize(3*mib), esdbserver.WithMaxBytesInFlight(3*mib))
	raw := rawStreams(t, srv)
	binary := map[string]string{"type": "E", "content-type": "application/octet-stream"}

	first := make(chan codes.Code, 1)
	go func() {
		_, st, _ := appendRaw(ctx, t, raw, appendOptions("big-1", nil),
			proposed(structuredID(uuid.New()), binary, make([]byte, mib)),
			proposed(structuredID(uuid.New()), binary, make([]byte, mib)))
		first <- st.Code()
	}()
	<-store.entered // big-1 holds 2 MiB

	_, st, _ := appendRaw(ctx, t, raw, appendOptions("big-2", nil),
		proposed(structuredID(uuid.New()), binary, make([]byte, mib/2)),
		proposed(structuredID(uuid.New()), binary, make([]byte, mib)))
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("append beyond the bytes in flight: %v, want ResourceExhausted", st)
	}
	for _, err := range store.Store.ReadStream(ctx, "big-2", eventstore.ReadOptions{}) {
		if err == nil {
			t.Fatal("the refused append wrote something")
		}
	}

	// An append whose first event does not fit waits, then goes through.
	third := make(chan codes.Code, 1)
	go func() {
		_, st, _ := appendRaw(ctx, t, raw, appendOptions("big-3", nil),
			proposed(structuredID(uuid.New()), binary, make([]byte, 2*mib)))
		third <- st.Code()
	}()
	select {
	case <-store.entered:
		t.Fatal("an append that does not fit reached the store")
	case c := <-third:
		t.Fatalf("an append that does not fit ended with %v, want it to wait", c)
	default:
	}
	store.release <- struct{}{} // big-1 completes and frees its bytes
	if c := <-first; c != codes.OK {
		t.Fatalf("first append: %v", c)
	}
	<-store.entered
	store.release <- struct{}{}
	if c := <-third; c != codes.OK {
		t.Fatalf("waiting append: %v", c)
	}
}

// TestBytesInFlightOption: the budget must hold the largest append.
func TestBytesInFlightOption(t *testing.T) {
	for _, opts := range [][]esdbserver.Option{
		{esdbserver.WithMaxBytesInFlight(0)},
		{esdbserver.WithMaxAppendSize(2 << 20), esdbserver.WithMaxBytesInFlight(1 << 20)},
	} {
		if _, err := esdbserver.New(memory.New(), opts...); err == nil {
			t.Errorf("New with %d options succeeded, want an error", len(opts))
		}
	}
}
