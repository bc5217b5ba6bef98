package esdbserver_test

import (
	"encoding/base64"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/esdbserver"
)

// The fuzz targets feed arbitrary bytes, decoded as protocol messages, to the
// request decoders: they must never panic, must reject with InvalidArgument
// only, and must never accept a combination the server cannot serve. The
// seeds (run by every `go test`) are what the official client sends plus
// malformed variants.

func mustMarshal(t testing.TB, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func checkInvalidArgument(t *testing.T, err error) {
	t.Helper()
	if st, ok := status.FromError(err); !ok || st.Code() != codes.InvalidArgument {
		t.Fatalf("decoder error %v is not InvalidArgument", err)
	}
}

func FuzzDecodeReadRequest(f *testing.F) {
	resolve := func(o *streams.ReadReq_Options) { o.ResolveLinks = true }
	for _, req := range []*streams.ReadReq{
		readReq(),
		readReq(backwards(), countOpt(10)),
		readReq(streamOpts("order-1"), resolve),
		readReq(streamOpts("order-1"), subscriptionOpt()),
		readReq(subscriptionOpt(), withFilter(streamPrefixFilter(32, 1, "order-"))),
		readReq(withStringUUID(), withFilter(&streams.ReadReq_Options_FilterOptions{
			Filter: &streams.ReadReq_Options_FilterOptions_EventType{EventType: &streams.ReadReq_Options_FilterOptions_Expression{Regex: `^[^\$]`}},
			Window: &streams.ReadReq_Options_FilterOptions_Count{Count: empty()},
		})),
		readReq(func(o *streams.ReadReq_Options) {
			o.GetAll().AllOption = &streams.ReadReq_Options_AllOptions_Position{Position: &streams.ReadReq_Options_Position{CommitPosition: 9, PreparePosition: 9}}
		}),
		readReq(streamOpts("x"), withFilter(streamPrefixFilter(1, 1, "x"))),
		readReq(subscriptionOpt(), backwards()),
		readReq(func(o *streams.ReadReq_Options) { o.UuidOption = nil }),
		{},
	} {
		f.Add(mustMarshal(f, req))
	}
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		var req streams.ReadReq
		if proto.Unmarshal(data, &req) != nil {
			return
		}
		r, err := esdbserver.DecodeRead(&req)
		if err != nil {
			checkInvalidArgument(t, err)
			return
		}
		_, fromRev := r.From().Revision()
		_, fromPos := r.From().Position()
		switch {
		case r.Filter() != nil && !r.IsAll():
			t.Fatal("accepted a filtered stream read")
		case r.Subscribe() && r.Direction() == eventstore.Backwards:
			t.Fatal("accepted a backwards subscription")
		case r.IsAll() && fromRev, !r.IsAll() && fromPos:
			t.Fatalf("start point %v does not fit the target", r.From())
		case r.Direction() > eventstore.Backwards:
			t.Fatalf("direction %v", r.Direction())
		}
		if r.Filter() != nil {
			if _, err := r.Filter().Compile(); err != nil || r.Filter().Interval() == 0 {
				t.Fatalf("accepted filter %+v: %v", r.Filter(), err)
			}
		}
		if p, ok := r.From().Position(); ok && p.Prepare > p.Commit {
			t.Fatalf("accepted position %v", p)
		}
	})
}

func FuzzDecodeAppendRequest(f *testing.F) {
	opts := mustMarshal(f, appendOptions("order-1", nil))
	for _, ev := range []*streams.AppendReq{
		proposed(structuredID(uuid.New()), jsonMeta("Placed"), []byte(`{"a":1}`)),
		proposed(&shared.UUID{Value: &shared.UUID_String_{String_: uuid.NewString()}}, map[string]string{"type": "B", "content-type": "application/octet-stream"}, []byte{1}),
		proposed(nil, jsonMeta("E"), nil),
		proposed(structuredID(uuid.New()), map[string]string{"type": "E"}, nil),
		appendOptions("x", nil),
	} {
		f.Add(opts, mustMarshal(f, ev))
	}
	f.Add(mustMarshal(f, appendOptions("order-1", func(o *streams.AppendReq_Options) {
		o.ExpectedStreamRevision = &streams.AppendReq_Options_Revision{Revision: 4}
	})), []byte{})
	f.Add(mustMarshal(f, appendOptions("order-1", func(o *streams.AppendReq_Options) { o.ExpectedStreamRevision = nil })), []byte{0x12, 0x00})
	f.Fuzz(func(t *testing.T, first, second []byte) {
		var o, e streams.AppendReq
		if proto.Unmarshal(first, &o) != nil || proto.Unmarshal(second, &e) != nil {
			return
		}
		if _, _, err := esdbserver.DecodeAppendOptions(&o); err != nil {
			checkInvalidArgument(t, err)
		}
		ev, err := esdbserver.DecodeProposed(&e)
		if err != nil {
			checkInvalidArgument(t, err)
			return
		}
		if ev.ContentType != eventstore.ContentTypeJSON && ev.ContentType != eventstore.ContentTypeBinary {
			t.Fatalf("content type %q", ev.ContentType)
		}
		if _, ok := e.GetProposedMessage().GetMetadata()["type"]; !ok {
			t.Fatal("accepted an event without a type")
		}
	})
}

func FuzzParseBasicAuth(f *testing.F) {
	for _, s := range []string{"Basic " + base64.StdEncoding.EncodeToString([]byte("admin:changeit")), "basic ", "Bearer x", "Basic ###", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		user, password, ok := esdbserver.ParseBasicAuth(header)
		if !ok {
			return
		}
		// What parses re-encodes to the same credentials.
		u2, p2, ok2 := esdbserver.ParseBasicAuth("Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password)))
		if !ok2 || u2 != user || p2 != password {
			t.Fatalf("%q: round trip %q %q %v", header, u2, p2, ok2)
		}
	})
}
