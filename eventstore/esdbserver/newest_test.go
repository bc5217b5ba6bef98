package esdbserver_test

import (
	"context"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// newerFields decodes the fields the newer protocol adds to CaughtUp and
// FellBehind from a message's unknown fields (the KurrentDB client reads
// them; see internal/kurrentcheck for that client itself).
type newerFields struct {
	seconds, nanos  int64
	revision        *uint64
	commit, prepare uint64
	hasPosition     bool
}

func decodeNewer(t *testing.T, m proto.Message) newerFields {
	t.Helper()
	var f newerFields
	b := m.ProtoReflect().GetUnknown()
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatalf("bad tag in %x", b)
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			b = b[n:]
			for len(v) > 0 {
				num, _, n := protowire.ConsumeTag(v)
				x, m := protowire.ConsumeVarint(v[n:])
				v = v[n+m:]
				if num == 1 {
					f.seconds = int64(x)
				} else {
					f.nanos = int64(x)
				}
			}
		case num == 2 && typ == protowire.VarintType:
			x, n := protowire.ConsumeVarint(b)
			b = b[n:]
			f.revision = &x
		case num == 3 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			b = b[n:]
			f.hasPosition = true
			for len(v) > 0 {
				num, _, n := protowire.ConsumeTag(v)
				x, m := protowire.ConsumeVarint(v[n:])
				v = v[n+m:]
				if num == 1 {
					f.commit = x
				} else {
					f.prepare = x
				}
			}
		default:
			t.Fatalf("unexpected field %d of type %d", num, typ)
		}
	}
	if d := time.Since(time.Unix(f.seconds, f.nanos)); d < -time.Minute || d > time.Minute {
		t.Errorf("timestamp %d.%09d is %v from now", f.seconds, f.nanos, d)
	}
	return f
}

// firstCaughtUp subscribes with req and returns its first caught_up.
func firstCaughtUp(ctx context.Context, t *testing.T, raw streams.StreamsClient, req *streams.ReadReq) *streams.ReadResp_CaughtUp {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rc, err := raw.Read(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	for {
		resp, err := rc.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if cu := resp.GetCaughtUp(); cu != nil {
			return cu
		}
	}
}

func TestCaughtUpCarriesTheNewerFields(t *testing.T) {
	ctx := testContext(t)
	_, srv := newMemoryServer(t)
	raw := rawStreams(t, srv)

	// An empty store: neither revision nor position.
	if f := decodeNewer(t, firstCaughtUp(ctx, t, raw, readReq(subscriptionOpt()))); f.revision != nil || f.hasPosition {
		t.Errorf("empty $all: %+v", f)
	}
	c := newClient(t, srv.ConnectionString())
	for range 3 {
		if _, err := c.AppendToStream(ctx, "new-1", esdb.AppendToStreamOptions{}, jsonEvent("E", "{}")); err != nil {
			t.Fatal(err)
		}
	}
	fromEnd := func(o *streams.ReadReq_Options) {
		o.StreamOption = &streams.ReadReq_Options_Stream{Stream: &streams.ReadReq_Options_StreamOptions{
			StreamIdentifier: streamID("new-1"), RevisionOption: &streams.ReadReq_Options_StreamOptions_End{End: empty()}}}
	}
	fromRevision := func(o *streams.ReadReq_Options) {
		o.StreamOption = &streams.ReadReq_Options_Stream{Stream: &streams.ReadReq_Options_StreamOptions{
			StreamIdentifier: streamID("new-1"), RevisionOption: &streams.ReadReq_Options_StreamOptions_Revision{Revision: 1}}}
	}
	allFromEnd := func(o *streams.ReadReq_Options) {
		o.StreamOption = &streams.ReadReq_Options_All{All: &streams.ReadReq_Options_AllOptions{AllOption: &streams.ReadReq_Options_AllOptions_End{End: empty()}}}
	}
	for name, tc := range map[string]struct {
		opts     []readOpt
		revision int64 // -1: none
		position bool
	}{
		"stream from start":    {[]readOpt{streamOpts("new-1"), subscriptionOpt()}, 2, false},
		"stream from end":      {[]readOpt{fromEnd, subscriptionOpt()}, 2, false},
		"stream from revision": {[]readOpt{fromRevision, subscriptionOpt()}, 2, false},
		"missing stream":       {[]readOpt{streamOpts("none"), subscriptionOpt()}, -1, false},
		"$all from start":      {[]readOpt{subscriptionOpt()}, -1, true},
		"$all from end":        {[]readOpt{allFromEnd, subscriptionOpt()}, -1, true},
	} {
		f := decodeNewer(t, firstCaughtUp(ctx, t, raw, readReq(tc.opts...)))
		switch {
		case tc.revision < 0 && f.revision != nil, tc.revision >= 0 && (f.revision == nil || *f.revision != uint64(tc.revision)):
			t.Errorf("%s: revision %v, want %d", name, f.revision, tc.revision)
		case f.hasPosition != tc.position, tc.position && f.commit == 0:
			t.Errorf("%s: position %v (%d/%d), want %v", name, f.hasPosition, f.commit, f.prepare, tc.position)
		}
	}
}
