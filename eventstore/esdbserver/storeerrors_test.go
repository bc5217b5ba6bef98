package esdbserver_test

import (
	"bytes"
	"context"
	"errors"
	"iter"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/esdbserver"
	"github.com/chronicle-go/chronicle/eventstore/memory"
)

// faultyStore is a memory store whose operations fail with err when it is
// set, and whose subscriptions replay script when it is set.
type faultyStore struct {
	*memory.Store
	mu     sync.Mutex
	err    error
	script []eventstore.Message
	// readErrAfter makes reads fail with err after this many events.
	readErrAfter int
	// only, when set, limits read failures to this stream.
	only string
	// noPosition makes Delete and Tombstone succeed without a position.
	noPosition bool
}

func (f *faultyStore) fault() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *faultyStore) set(err error, readErrAfter int, script ...eventstore.Message) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err, f.readErrAfter, f.script = err, readErrAfter, script
}

func (f *faultyStore) Append(ctx context.Context, s string, e eventstore.ExpectedRevision, evs ...eventstore.EventData) (eventstore.AppendResult, error) {
	if err := f.fault(); err != nil {
		return eventstore.AppendResult{}, err
	}
	return f.Store.Append(ctx, s, e, evs...)
}

func (f *faultyStore) Delete(ctx context.Context, s string, e eventstore.ExpectedRevision) (eventstore.DeleteResult, error) {
	if err := f.fault(); err != nil || f.noPosition {
		return eventstore.DeleteResult{}, err
	}
	return f.Store.Delete(ctx, s, e)
}

func (f *faultyStore) Tombstone(ctx context.Context, s string, e eventstore.ExpectedRevision) (eventstore.DeleteResult, error) {
	if f.noPosition {
		return eventstore.DeleteResult{}, nil
	}
	return f.Store.Tombstone(ctx, s, e)
}

func (f *faultyStore) GetStreamMetadata(ctx context.Context, s string) (eventstore.MetadataResult, error) {
	if err := f.fault(); err != nil {
		return eventstore.MetadataResult{}, err
	}
	return f.Store.GetStreamMetadata(ctx, s)
}

func (f *faultyStore) failAfter(stream string, events iter.Seq2[eventstore.RecordedEvent, error]) iter.Seq2[eventstore.RecordedEvent, error] {
	err := f.fault()
	f.mu.Lock()
	after, only := f.readErrAfter, f.only
	f.mu.Unlock()
	if err == nil || only != "" && only != stream {
		return events
	}
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		n := 0
		for e, rerr := range events {
			if n == after || rerr != nil {
				yield(eventstore.RecordedEvent{}, err)
				return
			}
			if !yield(e, nil) {
				return
			}
			n++
		}
		yield(eventstore.RecordedEvent{}, err)
	}
}

func (f *faultyStore) ReadStream(ctx context.Context, s string, o eventstore.ReadOptions) iter.Seq2[eventstore.RecordedEvent, error] {
	return f.failAfter(s, f.Store.ReadStream(ctx, s, o))
}

func (f *faultyStore) ReadAll(ctx context.Context, o eventstore.ReadAllOptions) iter.Seq2[eventstore.RecordedEvent, error] {
	return f.failAfter(eventstore.AllStream, f.Store.ReadAll(ctx, o))
}

func (f *faultyStore) scripted() iter.Seq2[eventstore.Message, error] {
	f.mu.Lock()
	script, err := f.script, f.err
	f.mu.Unlock()
	return func(yield func(eventstore.Message, error) bool) {
		for _, m := range script {
			if !yield(m, nil) {
				return
			}
		}
		if err != nil {
			yield(eventstore.Message{}, err)
		}
	}
}

func (f *faultyStore) SubscribeToStream(context.Context, string, eventstore.SubscribeOptions) iter.Seq2[eventstore.Message, error] {
	return f.scripted()
}

func (f *faultyStore) SubscribeToAll(context.Context, eventstore.SubscribeAllOptions) iter.Seq2[eventstore.Message, error] {
	return f.scripted()
}

func newFaultyServer(t *testing.T, opts ...esdbserver.Option) (*faultyStore, streams.StreamsClient) {
	t.Helper()
	f := &faultyStore{Store: memory.New()}
	t.Cleanup(func() { f.Store.Close() })
	srv := startServer(t, f, opts...)
	return f, rawStreams(t, srv)
}

// syncBuffer is a bytes.Buffer safe for a logger used by handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestStoreErrorsMapToStatus(t *testing.T) {
	ctx := testContext(t)
	var logs syncBuffer
	f, raw := newFaultyServer(t, esdbserver.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	tests := []struct {
		name     string
		err      error
		code     codes.Code
		trailers map[string]string
	}{
		{"access denied", eventstore.ErrAccessDenied, codes.PermissionDenied, map[string]string{"exception": "access-denied"}},
		{"not leader", eventstore.ErrNotLeader, codes.Unavailable, nil},
		{"unavailable", eventstore.ErrUnavailable, codes.Unavailable, nil},
		{"closed", eventstore.ErrClosed, codes.Unavailable, nil},
		{"bare stream deleted", eventstore.ErrStreamDeleted, codes.FailedPrecondition, map[string]string{"exception": "stream-deleted", "stream-name": "f-1"}},
		{"stream deleted naming no stream", &eventstore.StreamDeletedError{}, codes.FailedPrecondition, map[string]string{"exception": "stream-deleted", "stream-name": "f-1"}},
		{"wrong version naming no stream", &eventstore.WrongExpectedVersionError{Expected: eventstore.Exact(3), Actual: eventstore.Exact(4)}, codes.FailedPrecondition,
			map[string]string{"exception": "wrong-expected-version", "stream-name": "f-1", "expected-version": "3", "actual-version": "4"}},
		{"not found", &eventstore.StreamNotFoundError{Stream: "f-1"}, codes.NotFound, nil},
		{"event too large", &eventstore.ArgumentError{Op: "append", Event: 0, Err: eventstore.ErrEventTooLarge}, codes.InvalidArgument,
			map[string]string{"exception": "maximum-append-event-size-exceeded", "maximum-append-event-size": "16777216"}},
		{"deadline", context.DeadlineExceeded, codes.DeadlineExceeded, nil},
		{"cancelled", context.Canceled, codes.Canceled, nil},
		{"a status", status.Error(codes.Aborted, "operation timed out"), codes.Aborted, nil},
		{"anything else", errors.New("disk on fire"), codes.Internal, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.set(tt.err, 0)
			var tr metadata.MD
			_, err := raw.Delete(ctx, &streams.DeleteReq{Options: &streams.DeleteReq_Options{
				StreamIdentifier: streamID("f-1"), ExpectedStreamRevision: &streams.DeleteReq_Options_Any{Any: empty()},
			}}, grpc.Trailer(&tr))
			if status.Code(err) != tt.code {
				t.Fatalf("delete = %v, want %v", err, tt.code)
			}
			for k, v := range tt.trailers {
				if got := tr.Get(k); len(got) != 1 || got[0] != v {
					t.Errorf("trailer %s = %v, want %q", k, got, v)
				}
			}
			if len(tt.trailers) == 0 && len(tr.Get("exception")) != 0 {
				t.Errorf("unexpected exception trailer %v", tr.Get("exception"))
			}
		})
	}
	if !strings.Contains(logs.String(), "disk on fire") || !strings.Contains(logs.String(), "op=delete") {
		t.Errorf("internal error not logged:\n%s", logs.String())
	}

	// Appends and empty metadata appends map errors the same way.
	f.set(eventstore.ErrAccessDenied, 0)
	if _, st, _ := appendRaw(ctx, t, raw, appendOptions("f-1", nil), proposed(structuredID(uuid.New()), jsonMeta("E"), nil)); st.Code() != codes.PermissionDenied {
		t.Errorf("append: %v", st)
	}
	if _, st, _ := appendRaw(ctx, t, raw, appendOptions("$$f-1", nil)); st.Code() != codes.PermissionDenied {
		t.Errorf("empty metadata append: %v", st)
	}
}

// TestDeleteWithoutPosition: a store that reports no position for a delete
// is answered with no_position.
func TestDeleteWithoutPosition(t *testing.T) {
	ctx := testContext(t)
	f := &faultyStore{Store: memory.New(), noPosition: true}
	defer f.Store.Close()
	raw := rawStreams(t, startServer(t, f))
	d, err := raw.Delete(ctx, &streams.DeleteReq{Options: &streams.DeleteReq_Options{
		StreamIdentifier: streamID("np-1"), ExpectedStreamRevision: &streams.DeleteReq_Options_Any{Any: empty()},
	}})
	if err != nil || d.GetNoPosition() == nil {
		t.Fatalf("delete = %v, %v", d, err)
	}
	ts, err := raw.Tombstone(ctx, &streams.TombstoneReq{Options: &streams.TombstoneReq_Options{
		StreamIdentifier: streamID("np-1"), ExpectedStreamRevision: &streams.TombstoneReq_Options_Any{Any: empty()},
	}})
	if err != nil || ts.GetNoPosition() == nil {
		t.Fatalf("tombstone = %v, %v", ts, err)
	}
}

func TestReadErrorsMidway(t *testing.T) {
	ctx := testContext(t)
	f, raw := newFaultyServer(t)
	seed(t, f.Store, "mid-1", "E", 3)
	link := eventstore.EventData{Type: "$>", ContentType: eventstore.ContentTypeBinary, Data: []byte("0@mid-1")}
	if _, err := f.Store.Append(ctx, "links-1", eventstore.Any, link); err != nil {
		t.Fatal(err)
	}

	f.set(errors.New("bad sector"), 2)
	st, msgs, _ := firstReadError(ctx, t, raw, readReq(streamOpts("mid-1")))
	if st.Code() != codes.Internal || len(msgs) != 2 {
		t.Fatalf("read failing after 2 events: %v after %d messages", st, len(msgs))
	}
	st, msgs, _ = firstReadError(ctx, t, raw, readReq())
	if st.Code() != codes.Internal || len(msgs) != 2 {
		t.Fatalf("$all read failing after 2 events: %v after %d messages", st, len(msgs))
	}

	// The store resolves links (ResolveLinks): a resolved read that fails
	// fails the call; in a subscription too, after the event it delivered,
	// sent as an unresolved link.
	f.set(errors.New("bad sector"), 0)
	f.mu.Lock()
	f.only = "links-1"
	f.mu.Unlock()
	resolve := func(o *streams.ReadReq_Options) { o.ResolveLinks = true }
	st, msgs, _ = firstReadError(ctx, t, raw, readReq(streamOpts("links-1"), resolve))
	if st.Code() != codes.Internal || len(msgs) != 0 {
		t.Fatalf("resolved read failing in the store: %v after %d messages", st, len(msgs))
	}
	var linkRec eventstore.RecordedEvent
	for e := range f.Store.ReadStream(ctx, "links-1", eventstore.ReadOptions{}) {
		linkRec = e
	}
	f.set(errors.New("bad sector"), 0, eventstore.Message{Kind: eventstore.MessageEvent, Event: linkRec})
	st, msgs, _ = firstReadError(ctx, t, raw, readReq(streamOpts("links-1"), resolve, subscriptionOpt()))
	if st.Code() != codes.Internal || len(msgs) != 2 || msgs[0].GetConfirmation() == nil ||
		msgs[1].GetEvent().GetLink().GetStreamIdentifier() == nil || msgs[1].GetEvent().GetEvent() != nil {
		t.Fatalf("subscription failing in the store after a link it could not resolve: %v after %v", st, msgs)
	}
}

func TestSubscriptionMessagesFromTheStore(t *testing.T) {
	ctx := testContext(t)
	f, raw := newFaultyServer(t)
	p := eventstore.Position{Commit: 7, Prepare: 7}
	ev := eventstore.RecordedEvent{ID: uuid.New(), Type: "E", ContentType: eventstore.ContentTypeJSON, Stream: "s-1", Position: p}

	kinds := func(msgs []*streams.ReadResp) string {
		var out []string
		for _, m := range msgs {
			switch {
			case m.GetConfirmation() != nil:
				out = append(out, "confirmation")
			case m.GetEvent() != nil:
				out = append(out, "event")
			case m.GetCheckpoint() != nil:
				out = append(out, "checkpoint")
			case m.GetCaughtUp() != nil:
				out = append(out, "caught-up")
			case m.GetFellBehind() != nil:
				out = append(out, "fell-behind")
			}
		}
		return strings.Join(out, " ")
	}

	// A filtered subscription gets a checkpoint before caught-up even when
	// the store sent none; fell-behind passes through; a store that ends the
	// subscription makes it Unavailable.
	f.set(nil, 0,
		eventstore.Message{Kind: eventstore.MessageEvent, Event: ev},
		eventstore.Message{Kind: eventstore.MessageCaughtUp, Position: p},
		eventstore.Message{Kind: eventstore.MessageFellBehind, Position: p},
		eventstore.Message{Kind: eventstore.MessageCheckpoint, Position: p},
		eventstore.Message{Kind: eventstore.MessageCaughtUp, Position: p},
	)
	st, msgs, _ := firstReadError(ctx, t, raw, readReq(subscriptionOpt(), withFilter(streamPrefixFilter(0, 0, "s-"))))
	if got := kinds(msgs); got != "confirmation event checkpoint caught-up fell-behind checkpoint caught-up" {
		t.Errorf("filtered subscription sent %s", got)
	}
	if cp := msgs[2].GetCheckpoint(); cp.GetCommitPosition() != 7 || cp.GetPreparePosition() != 7 {
		t.Errorf("checkpoint %v", cp)
	}
	if st.Code() != codes.Unavailable {
		t.Errorf("subscription the store ended: %v", st)
	}

	// Unfiltered: no checkpoints added; store errors end the subscription.
	f.set(eventstore.ErrAccessDenied, 0, eventstore.Message{Kind: eventstore.MessageCaughtUp, Position: p})
	st, msgs, tr := firstReadError(ctx, t, raw, readReq(streamOpts("s-1"), subscriptionOpt()))
	if got := kinds(msgs); got != "confirmation caught-up" || st.Code() != codes.PermissionDenied || tr.Get("exception")[0] != "access-denied" {
		t.Errorf("unfiltered subscription sent %s, then %v %v", got, st, tr)
	}
}
