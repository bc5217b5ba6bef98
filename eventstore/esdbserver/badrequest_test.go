package esdbserver_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/esdbserver"
)

// firstReadError runs a raw read and returns the status it ends with (nil
// when it ends normally) and the messages before.
func firstReadError(ctx context.Context, t *testing.T, raw streams.StreamsClient, req *streams.ReadReq) (*status.Status, []*streams.ReadResp, metadata.MD) {
	t.Helper()
	call, err := raw.Read(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []*streams.ReadResp
	for {
		m, err := call.Recv()
		if errors.Is(err, io.EOF) {
			return nil, msgs, call.Trailer()
		}
		if err != nil {
			return status.Convert(err), msgs, call.Trailer()
		}
		msgs = append(msgs, m)
	}
}

// assertServing checks the server still answers after a bad request.
func assertServing(ctx context.Context, t *testing.T, raw streams.StreamsClient) {
	t.Helper()
	if st, _, _ := firstReadError(ctx, t, raw, readReq(countOpt(1))); st != nil {
		t.Fatalf("server stopped serving: %v", st)
	}
}

func TestBadReadRequests(t *testing.T) {
	ctx := testContext(t)
	store, srv := newMemoryServer(t)
	seed(t, store, "bad-1", "E", 1)
	raw := rawStreams(t, srv)

	unset := func(f func(o *streams.ReadReq_Options)) readOpt { return f }
	tests := []struct {
		name string
		req  *streams.ReadReq
		want string // part of the message
	}{
		{"no options", &streams.ReadReq{}, "without options"},
		{"no stream option", readReq(unset(func(o *streams.ReadReq_Options) { o.StreamOption = nil })), "neither a stream nor $all"},
		{"no stream identifier", readReq(unset(func(o *streams.ReadReq_Options) {
			o.StreamOption = &streams.ReadReq_Options_Stream{Stream: &streams.ReadReq_Options_StreamOptions{RevisionOption: &streams.ReadReq_Options_StreamOptions_Start{Start: empty()}}}
		})), "stream_identifier is missing"},
		{"no revision option", readReq(streamOpts("bad-1"), unset(func(o *streams.ReadReq_Options) {
			o.GetStream().RevisionOption = nil
		})), "without a start"},
		{"no all option", readReq(unset(func(o *streams.ReadReq_Options) { o.GetAll().AllOption = nil })), "without a start"},
		{"prepare after commit", readReq(unset(func(o *streams.ReadReq_Options) {
			o.GetAll().AllOption = &streams.ReadReq_Options_AllOptions_Position{Position: &streams.ReadReq_Options_Position{CommitPosition: 1, PreparePosition: 2}}
		})), "prepare position"},
		{"unknown direction", readReq(unset(func(o *streams.ReadReq_Options) { o.ReadDirection = 7 })), "direction"},
		{"no count option", readReq(unset(func(o *streams.ReadReq_Options) { o.CountOption = nil })), "count or subscription"},
		{"no filter option", readReq(unset(func(o *streams.ReadReq_Options) { o.FilterOption = nil })), "no_filter"},
		{"no uuid option", readReq(unset(func(o *streams.ReadReq_Options) { o.UuidOption = nil })), "uuid_option"},
		{"empty uuid option", readReq(unset(func(o *streams.ReadReq_Options) { o.UuidOption.Content = nil })), "uuid_option"},
		{"filtered stream read", readReq(streamOpts("bad-1"), withFilter(streamPrefixFilter(1, 1, "x"))), "filters apply to $all only"},
		{"backwards subscription", readReq(subscriptionOpt(), backwards()), "forwards only"},
		{"filter without target", readReq(withFilter(&streams.ReadReq_Options_FilterOptions{Window: &streams.ReadReq_Options_FilterOptions_Count{Count: empty()}})), "neither stream_identifier nor event_type"},
		{"filter without window", readReq(withFilter(&streams.ReadReq_Options_FilterOptions{
			Filter: &streams.ReadReq_Options_FilterOptions_EventType{EventType: &streams.ReadReq_Options_FilterOptions_Expression{Regex: "x"}},
		})), "window"},
		{"filter with prefixes and regex", readReq(withFilter(&streams.ReadReq_Options_FilterOptions{
			Filter: &streams.ReadReq_Options_FilterOptions_EventType{EventType: &streams.ReadReq_Options_FilterOptions_Expression{Regex: "x", Prefix: []string{"y"}}},
			Window: &streams.ReadReq_Options_FilterOptions_Count{Count: empty()},
		})), "mutually exclusive"},
		{"filter with neither prefixes nor regex", readReq(withFilter(streamPrefixFilter(1, 1))), "prefixes or a regular expression"},
		{"filter with a bad regex", readReq(withFilter(&streams.ReadReq_Options_FilterOptions{
			Filter: &streams.ReadReq_Options_FilterOptions_StreamIdentifier{StreamIdentifier: &streams.ReadReq_Options_FilterOptions_Expression{Regex: "(?<=a)b"}},
			Window: &streams.ReadReq_Options_FilterOptions_Max{Max: 4},
		})), "filter is not valid"},
		{"empty stream name", readReq(streamOpts("")), "stream name is empty"},
		{"invalid UTF-8 stream name", readReq(streamBytes([]byte{'o', 0xff, 0xfe})), "not valid UTF-8"},
		{"stream name too long", readReq(streamOpts(strings.Repeat("n", eventstore.MaxStreamNameLength+1))), "too long"},
		{"$all as a stream", readReq(streamOpts("$all")), "ReadAll"},
		{"subscription to an empty stream name", readReq(streamOpts(""), subscriptionOpt()), "stream name is empty"},
		{"subscription to invalid UTF-8", readReq(streamBytes([]byte{0xc3, 0x28}), subscriptionOpt()), "not valid UTF-8"},
		{"control character in a stream name", readReq(streamOpts("\x00nul")), "control character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, msgs, _ := firstReadError(ctx, t, raw, tt.req)
			if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), tt.want) {
				t.Fatalf("status %v, want InvalidArgument containing %q", st, tt.want)
			}
			if len(msgs) != 0 {
				t.Fatalf("%d messages before the error, want none (not even a confirmation)", len(msgs))
			}
			assertServing(ctx, t, raw)
		})
	}
}

func TestReadOddStreamNames(t *testing.T) {
	ctx := testContext(t)
	store, srv := newMemoryServer(t)
	raw := rawStreams(t, srv)
	// Valid but odd names that do not exist: stream_not_found, echoed byte for byte.
	for _, name := range []string{"ünïcødé-stream", "with space", "$$nothing", "日本-1"} {
		st, msgs, _ := firstReadError(ctx, t, raw, readReq(streamOpts(name)))
		if st != nil || len(msgs) != 1 || string(msgs[0].GetStreamNotFound().GetStreamIdentifier().GetStreamName()) != name {
			t.Errorf("read %q: %v, %v", name, st, msgs)
		}
	}
	seed(t, store, "ünïcødé-1", "E", 1)
	st, msgs, _ := firstReadError(ctx, t, raw, readReq(streamOpts("ünïcødé-1")))
	if st != nil || len(msgs) != 1 || string(msgs[0].GetEvent().GetEvent().GetStreamIdentifier().GetStreamName()) != "ünïcødé-1" {
		t.Errorf("read unicode stream: %v, %v", st, msgs)
	}
}

// appendRaw sends messages on one Append call and returns the response or
// the status and trailers.
func appendRaw(ctx context.Context, t *testing.T, raw streams.StreamsClient, msgs ...*streams.AppendReq) (*streams.AppendResp, *status.Status, metadata.MD) {
	t.Helper()
	call, err := raw.Append(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if err := call.Send(m); err != nil {
			break // the server already answered; CloseAndRecv returns it
		}
	}
	resp, err := call.CloseAndRecv()
	if err != nil {
		return nil, status.Convert(err), call.Trailer()
	}
	return resp, nil, call.Trailer()
}

func TestBadAppendRequests(t *testing.T) {
	ctx := testContext(t)
	store, srv := newMemoryServer(t, esdbserver.WithMaxAppendSize(1000))
	raw := rawStreams(t, srv)
	id := func() *shared.UUID { return structuredID(uuid.New()) }
	ok := proposed(id(), jsonMeta("E"), []byte("{}"))
	noExpected := func(o *streams.AppendReq_Options) { o.ExpectedStreamRevision = nil }
	tests := []struct {
		name     string
		msgs     []*streams.AppendReq
		want     string
		trailers map[string]string
	}{
		{"nothing sent", nil, "without options", nil},
		{"event before options", []*streams.AppendReq{ok}, "must carry options", nil},
		{"no stream identifier", []*streams.AppendReq{{Content: &streams.AppendReq_Options_{Options: &streams.AppendReq_Options{
			ExpectedStreamRevision: &streams.AppendReq_Options_Any{Any: empty()},
		}}}, ok}, "stream_identifier", nil},
		{"no expected revision", []*streams.AppendReq{appendOptions("ok-1", noExpected), ok}, "expected_stream_revision", nil},
		{"options twice", []*streams.AppendReq{appendOptions("ok-1", nil), appendOptions("ok-1", nil)}, "proposed_message", nil},
		{"event without id", []*streams.AppendReq{appendOptions("ok-1", nil), proposed(nil, jsonMeta("E"), nil)}, "without an id", nil},
		{"event with a bad string id", []*streams.AppendReq{appendOptions("ok-1", nil),
			proposed(&shared.UUID{Value: &shared.UUID_String_{String_: "not-a-uuid"}}, jsonMeta("E"), nil)}, "not a UUID", nil},
		{"event without type", []*streams.AppendReq{appendOptions("ok-1", nil), proposed(id(), map[string]string{"content-type": "application/json"}, nil)},
			"required metadata", map[string]string{"exception": "missing-required-metadata-property", "required-metadata-properties": "type,content-type"}},
		{"event without content type", []*streams.AppendReq{appendOptions("ok-1", nil), proposed(id(), map[string]string{"type": "E"}, nil)},
			"required metadata", map[string]string{"exception": "missing-required-metadata-property", "required-metadata-properties": "type,content-type"}},
		{"empty event type", []*streams.AppendReq{appendOptions("ok-1", nil), proposed(id(), jsonMeta(""), nil)}, "event type is empty", nil},
		{"invalid JSON", []*streams.AppendReq{appendOptions("ok-1", nil), proposed(id(), jsonMeta("E"), []byte("{nope"))}, "not valid JSON", nil},
		{"append too large", []*streams.AppendReq{appendOptions("ok-1", nil),
			proposed(id(), jsonMeta("E"), []byte(`"`+strings.Repeat("a", 600)+`"`)),
			proposed(id(), jsonMeta("E"), []byte(`"`+strings.Repeat("a", 600)+`"`))},
			"larger than the maximum", map[string]string{"exception": "maximum-append-size-exceeded", "maximum-append-size": "1000"}},
		{"refused, then more than the drain budget", []*streams.AppendReq{appendOptions("ok-1", nil), proposed(nil, jsonMeta("E"), nil),
			proposed(id(), jsonMeta("E"), []byte(`"`+strings.Repeat("a", 600)+`"`)),
			proposed(id(), jsonMeta("E"), []byte(`"`+strings.Repeat("a", 600)+`"`)),
			proposed(id(), jsonMeta("E"), []byte(`"`+strings.Repeat("a", 600)+`"`))}, "without an id", nil},
		{"empty stream name", []*streams.AppendReq{appendOptions("", nil), ok}, "stream name is empty", nil},
		{"invalid UTF-8 stream name", []*streams.AppendReq{{Content: &streams.AppendReq_Options_{Options: &streams.AppendReq_Options{
			StreamIdentifier:       &shared.StreamIdentifier{StreamName: []byte{0xff}},
			ExpectedStreamRevision: &streams.AppendReq_Options_Any{Any: empty()},
		}}}, ok}, "not valid UTF-8", nil},
		{"system stream", []*streams.AppendReq{appendOptions("$users", nil), ok}, "reserved", nil},
		{"metadata stream with two events", []*streams.AppendReq{appendOptions("$$ok-1", nil),
			proposed(id(), jsonMeta("$metadata"), []byte("{}")), proposed(id(), jsonMeta("$metadata"), []byte("{}"))}, "one $metadata event", nil},
		{"metadata stream with another type", []*streams.AppendReq{appendOptions("$$ok-1", nil), ok}, "one $metadata event", nil},
		{"metadata that is not metadata", []*streams.AppendReq{appendOptions("$$ok-1", nil),
			proposed(id(), jsonMeta("$metadata"), []byte(`{"$maxCount":"lots"}`))}, "metadata is not valid", nil},
		{"metadata of a metadata stream", []*streams.AppendReq{appendOptions("$$$$ok-1", nil),
			proposed(id(), jsonMeta("$metadata"), []byte(`{}`))}, "metadata streams have no metadata", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, st, tr := appendRaw(ctx, t, raw, tt.msgs...)
			if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), tt.want) {
				t.Fatalf("append = %v, status %v; want InvalidArgument containing %q", resp, st, tt.want)
			}
			for k, v := range tt.trailers {
				if got := tr.Get(k); len(got) != 1 || got[0] != v {
					t.Errorf("trailer %s = %v, want %q", k, got, v)
				}
			}
			assertServing(ctx, t, raw)
		})
	}
	// Nothing was written by any of them.
	n := 0
	for _, err := range store.ReadAll(ctx, eventstore.ReadAllOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 0 {
		t.Fatalf("%d events written by bad appends", n)
	}
}

func TestAppendSizeLimits(t *testing.T) {
	ctx := testContext(t)
	store, srv := newMemoryServer(t)
	raw := rawStreams(t, srv)
	eventID := uuid.New()

	// One event over the per-event limit (but within the message limit).
	big := make([]byte, eventstore.MaxEventSize-2*len("E")+1)
	_, st, tr := appendRaw(ctx, t, raw, appendOptions("big-1", nil),
		proposed(structuredID(eventID), map[string]string{"type": "E", "content-type": "application/octet-stream"}, big))
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("oversized event: %v", st)
	}
	want := map[string]string{
		"exception":                  "maximum-append-event-size-exceeded",
		"maximum-append-event-size":  "16777216",
		"event-id":                   eventID.String(),
		"proposed-append-event-size": "16777217",
	}
	for k, v := range want {
		if got := tr.Get(k); len(got) != 1 || got[0] != v {
			t.Errorf("trailer %s = %v, want %q", k, got, v)
		}
	}

	// An event exactly at the limit is accepted.
	resp, st, _ := appendRaw(ctx, t, raw, appendOptions("big-1", nil),
		proposed(structuredID(uuid.New()), map[string]string{"type": "E", "content-type": "application/octet-stream"}, big[:len(big)-1]))
	if st != nil || resp.GetSuccess() == nil {
		t.Fatalf("event at the limit: %v, %v", resp, st)
	}

	// A gRPC message over 17 MiB is refused by the transport.
	huge := make([]byte, esdbserver.MaxMessageSize+1)
	_, st, _ = appendRaw(ctx, t, raw, appendOptions("big-2", nil),
		proposed(structuredID(uuid.New()), map[string]string{"type": "E", "content-type": "application/octet-stream"}, huge))
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("oversized message: %v, want ResourceExhausted", st)
	}
	assertServing(ctx, t, raw)
	if _, err := store.GetStreamMetadata(ctx, "big-2"); err != nil {
		t.Fatal(err)
	}
	for _, err := range store.ReadStream(ctx, "big-2", eventstore.ReadOptions{}) {
		if !errors.Is(err, eventstore.ErrStreamNotFound) {
			t.Fatalf("oversized message wrote something: %v", err)
		}
	}
}

func TestAppendRawSucceeds(t *testing.T) {
	ctx := testContext(t)
	store, srv := newMemoryServer(t)
	raw := rawStreams(t, srv)
	id := uuid.New()
	// String ids, other content types (stored as binary), metadata with empty data.
	resp, st, _ := appendRaw(ctx, t, raw, appendOptions("raw-1", func(o *streams.AppendReq_Options) {
		o.ExpectedStreamRevision = &streams.AppendReq_Options_NoStream{NoStream: empty()}
	}), proposed(&shared.UUID{Value: &shared.UUID_String_{String_: id.String()}}, map[string]string{"type": "T", "content-type": "text/plain"}, []byte("hi")))
	if st != nil || resp.GetSuccess().GetCurrentRevision() != 0 || resp.GetSuccess().GetPosition().GetCommitPosition() == 0 {
		t.Fatalf("append: %v, %v", resp, st)
	}
	for e, err := range store.ReadStream(ctx, "raw-1", eventstore.ReadOptions{}) {
		if err != nil || e.ID != id || e.ContentType != eventstore.ContentTypeBinary || string(e.Data) != "hi" {
			t.Fatalf("stored %+v, %v", e, err)
		}
	}
	resp, st, _ = appendRaw(ctx, t, raw, appendOptions("$$raw-1", nil), proposed(structuredID(uuid.New()), jsonMeta("$metadata"), nil))
	if st != nil || resp.GetSuccess().GetCurrentRevision() != 0 {
		t.Fatalf("empty metadata: %v, %v", resp, st)
	}
	// Empty appends to a metadata stream check its revision.
	resp, st, _ = appendRaw(ctx, t, raw, appendOptions("$$raw-1", func(o *streams.AppendReq_Options) {
		o.ExpectedStreamRevision = &streams.AppendReq_Options_Revision{Revision: 0}
	}))
	if st != nil || resp.GetSuccess().GetCurrentRevision() != 0 || resp.GetSuccess().GetNoPosition() == nil {
		t.Fatalf("empty metadata append: %v, %v", resp, st)
	}
	resp, st, _ = appendRaw(ctx, t, raw, appendOptions("$$raw-2", func(o *streams.AppendReq_Options) {
		o.ExpectedStreamRevision = &streams.AppendReq_Options_StreamExists{StreamExists: empty()}
	}))
	if w := resp.GetWrongExpectedVersion(); st != nil || w == nil || w.GetCurrentNoStream() == nil || w.GetExpectedStreamExists() == nil {
		t.Fatalf("empty metadata append to a missing stream: %v, %v", resp, st)
	}
}

func TestWrongExpectedVersionFields(t *testing.T) {
	ctx := testContext(t)
	store, srv := newMemoryServer(t)
	raw := rawStreams(t, srv)
	seed(t, store, "wev-1", "E", 2)
	ev := func() *streams.AppendReq { return proposed(structuredID(uuid.New()), jsonMeta("E"), nil) }
	tests := []struct {
		name     string
		stream   string
		expected func(*streams.AppendReq_Options)
		check    func(w *streams.AppendResp_WrongExpectedVersion) bool
	}{
		{"no_stream on an existing stream", "wev-1", func(o *streams.AppendReq_Options) {
			o.ExpectedStreamRevision = &streams.AppendReq_Options_NoStream{NoStream: empty()}
		}, func(w *streams.AppendResp_WrongExpectedVersion) bool {
			return w.GetExpectedNoStream() != nil && w.GetExpectedRevision_20_6_0() == ^uint64(0) &&
				w.GetCurrentRevision() == 1 && w.GetCurrentRevision_20_6_0() == 1
		}},
		{"revision on a missing stream", "wev-2", func(o *streams.AppendReq_Options) {
			o.ExpectedStreamRevision = &streams.AppendReq_Options_Revision{Revision: 5}
		}, func(w *streams.AppendResp_WrongExpectedVersion) bool {
			return w.GetExpectedRevision() == 5 && w.GetExpectedRevision_20_6_0() == 5 &&
				w.GetCurrentNoStream() != nil && w.GetNoStream_20_6_0() != nil
		}},
		{"stream_exists on a missing stream", "wev-2", func(o *streams.AppendReq_Options) {
			o.ExpectedStreamRevision = &streams.AppendReq_Options_StreamExists{StreamExists: empty()}
		}, func(w *streams.AppendResp_WrongExpectedVersion) bool {
			return w.GetExpectedStreamExists() != nil && w.GetStreamExists_20_6_0() != nil && w.GetCurrentNoStream() != nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, st, _ := appendRaw(ctx, t, raw, appendOptions(tt.stream, tt.expected), ev())
			if st != nil || resp.GetWrongExpectedVersion() == nil || !tt.check(resp.GetWrongExpectedVersion()) {
				t.Fatalf("append = %v, %v", resp, st)
			}
		})
	}
	// Partial idempotency (first id written, the rest differ) is a wrong
	// expected version with expected any.
	first := uuid.New()
	if _, err := store.Append(ctx, "wev-3", eventstore.Any, eventstore.EventData{ID: first, Type: "E"}); err != nil {
		t.Fatal(err)
	}
	resp, st, _ := appendRaw(ctx, t, raw, appendOptions("wev-3", nil),
		proposed(structuredID(first), jsonMeta("E"), nil), ev())
	if w := resp.GetWrongExpectedVersion(); st != nil || w == nil || w.GetExpectedAny() == nil || w.GetAny_20_6_0() == nil {
		t.Fatalf("corrupted idempotency: %v, %v", resp, st)
	}
}

func TestDeleteAndTombstoneRaw(t *testing.T) {
	ctx := testContext(t)
	store, srv := newMemoryServer(t)
	raw := rawStreams(t, srv)
	seed(t, store, "del-1", "E", 3)
	seed(t, store, "del-2", "E", 1)

	del := func(stream string, exp func(*streams.DeleteReq_Options)) (*streams.DeleteResp, *status.Status, metadata.MD) {
		o := &streams.DeleteReq_Options{StreamIdentifier: streamID(stream), ExpectedStreamRevision: &streams.DeleteReq_Options_Any{Any: empty()}}
		if exp != nil {
			exp(o)
		}
		var tr metadata.MD
		resp, err := raw.Delete(ctx, &streams.DeleteReq{Options: o}, grpc.Trailer(&tr))
		return resp, status.Convert(err), tr
	}
	tomb := func(stream string, exp func(*streams.TombstoneReq_Options)) (*streams.TombstoneResp, *status.Status, metadata.MD) {
		o := &streams.TombstoneReq_Options{StreamIdentifier: streamID(stream), ExpectedStreamRevision: &streams.TombstoneReq_Options_Any{Any: empty()}}
		if exp != nil {
			exp(o)
		}
		var tr metadata.MD
		resp, err := raw.Tombstone(ctx, &streams.TombstoneReq{Options: o}, grpc.Trailer(&tr))
		return resp, status.Convert(err), tr
	}
	checkTrailers := func(t *testing.T, tr metadata.MD, want map[string]string) {
		t.Helper()
		for k, v := range want {
			if got := tr.Get(k); len(got) != 1 || got[0] != v {
				t.Errorf("trailer %s = %v, want %q", k, got, v)
			}
		}
	}

	t.Run("wrong expected version", func(t *testing.T) {
		cases := []struct {
			exp      func(*streams.DeleteReq_Options)
			stream   string
			expected string
			actual   string
		}{
			{func(o *streams.DeleteReq_Options) {
				o.ExpectedStreamRevision = &streams.DeleteReq_Options_Revision{Revision: 1}
			}, "del-1", "1", "2"},
			{func(o *streams.DeleteReq_Options) {
				o.ExpectedStreamRevision = &streams.DeleteReq_Options_NoStream{NoStream: empty()}
			}, "del-1", "-1", "2"},
			{func(o *streams.DeleteReq_Options) {
				o.ExpectedStreamRevision = &streams.DeleteReq_Options_StreamExists{StreamExists: empty()}
			}, "del-9", "-4", "-1"},
			{nil, "del-9", "-2", "-1"}, // deleting a stream that never existed
		}
		for _, c := range cases {
			_, st, tr := del(c.stream, c.exp)
			if st.Code() != codes.FailedPrecondition {
				t.Fatalf("delete %s: %v", c.stream, st)
			}
			checkTrailers(t, tr, map[string]string{"exception": "wrong-expected-version", "stream-name": c.stream,
				"expected-version": c.expected, "actual-version": c.actual})
		}
		_, st, tr := tomb("del-1", func(o *streams.TombstoneReq_Options) {
			o.ExpectedStreamRevision = &streams.TombstoneReq_Options_Revision{Revision: 0}
		})
		if st.Code() != codes.FailedPrecondition {
			t.Fatalf("tombstone: %v", st)
		}
		checkTrailers(t, tr, map[string]string{"exception": "wrong-expected-version", "stream-name": "del-1", "expected-version": "0", "actual-version": "2"})
	})

	t.Run("positions", func(t *testing.T) {
		resp, st, _ := del("del-1", func(o *streams.DeleteReq_Options) {
			o.ExpectedStreamRevision = &streams.DeleteReq_Options_Revision{Revision: 2}
		})
		if st != nil || resp.GetPosition().GetCommitPosition() == 0 {
			t.Fatalf("delete: %v, %v", resp, st)
		}
		tresp, st, _ := tomb("del-2", func(o *streams.TombstoneReq_Options) {
			o.ExpectedStreamRevision = &streams.TombstoneReq_Options_StreamExists{StreamExists: empty()}
		})
		if st != nil || tresp.GetPosition().GetCommitPosition() <= resp.GetPosition().GetCommitPosition() {
			t.Fatalf("tombstone: %v, %v", tresp, st)
		}
		// Tombstoning a stream that never existed is allowed.
		if _, st, _ := tomb("del-never", func(o *streams.TombstoneReq_Options) {
			o.ExpectedStreamRevision = &streams.TombstoneReq_Options_NoStream{NoStream: empty()}
		}); st != nil {
			t.Fatalf("tombstone a new stream: %v", st)
		}
	})

	t.Run("stream deleted", func(t *testing.T) {
		_, st, tr := del("del-2", nil)
		if st.Code() != codes.FailedPrecondition {
			t.Fatalf("delete tombstoned: %v", st)
		}
		checkTrailers(t, tr, map[string]string{"exception": "stream-deleted", "stream-name": "del-2"})
		_, st, tr = tomb("del-2", nil)
		if st.Code() != codes.FailedPrecondition {
			t.Fatalf("tombstone tombstoned: %v", st)
		}
		checkTrailers(t, tr, map[string]string{"exception": "stream-deleted", "stream-name": "del-2"})
	})

	t.Run("bad requests", func(t *testing.T) {
		if _, err := raw.Delete(ctx, &streams.DeleteReq{}); status.Code(err) != codes.InvalidArgument {
			t.Errorf("delete without options: %v", err)
		}
		if _, err := raw.Tombstone(ctx, &streams.TombstoneReq{}); status.Code(err) != codes.InvalidArgument {
			t.Errorf("tombstone without options: %v", err)
		}
		if _, st, _ := del("del-3", func(o *streams.DeleteReq_Options) { o.ExpectedStreamRevision = nil }); st.Code() != codes.InvalidArgument {
			t.Errorf("delete without expected revision: %v", st)
		}
		if _, st, _ := tomb("x", func(o *streams.TombstoneReq_Options) { o.StreamIdentifier = nil }); st.Code() != codes.InvalidArgument {
			t.Errorf("tombstone without stream: %v", st)
		}
		for _, name := range []string{"", "$all", "$$x", string([]byte{0xff})} {
			if _, st, _ := del(name, nil); st.Code() != codes.InvalidArgument {
				t.Errorf("delete %q: %v", name, st)
			}
			if _, st, _ := tomb(name, nil); st.Code() != codes.InvalidArgument {
				t.Errorf("tombstone %q: %v", name, st)
			}
		}
		assertServing(ctx, t, raw)
	})
}

func TestCancelledCallsMidFlight(t *testing.T) {
	ctx := testContext(t)
	store, srv := newMemoryServer(t)
	raw := rawStreams(t, srv)
	seed(t, store, "many-1", "E", 2000)

	// A read cancelled after the first event.
	rctx, cancel := context.WithCancel(ctx)
	call, err := raw.Read(rctx, readReq(streamOpts("many-1"), countOpt(5000)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := call.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel()
	for {
		if _, err := call.Recv(); err != nil {
			if status.Code(err) != codes.Canceled {
				t.Fatalf("cancelled read ended with %v", err)
			}
			break
		}
	}

	// An append cancelled after some events: nothing is written.
	actx, cancel := context.WithCancel(ctx)
	acall, err := raw.Append(actx)
	if err != nil {
		t.Fatal(err)
	}
	if err := acall.Send(appendOptions("half-1", nil)); err != nil {
		t.Fatal(err)
	}
	if err := acall.Send(proposed(structuredID(uuid.New()), jsonMeta("E"), []byte("{}"))); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := acall.CloseAndRecv(); status.Code(err) != codes.Canceled {
		t.Fatalf("cancelled append: %v", err)
	}

	// A subscription cancelled while catching up.
	sctx, cancel := context.WithCancel(ctx)
	scall, err := raw.Read(sctx, readReq(streamOpts("many-1"), subscriptionOpt()))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := scall.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	cancel()

	assertServing(ctx, t, raw)
	for _, err := range store.ReadStream(ctx, "half-1", eventstore.ReadOptions{}) {
		if !errors.Is(err, eventstore.ErrStreamNotFound) {
			t.Fatalf("cancelled append wrote something: %v", err)
		}
	}
}
