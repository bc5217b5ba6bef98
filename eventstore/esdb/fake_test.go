package esdb_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	cesdb "github.com/chronicle-go/chronicle/eventstore/esdb"
)

// fake is a programmable Streams service, for what esdbserver never does:
// the real server's error formats, not-leader redirects, failures and
// dropped subscriptions at chosen moments. Handlers get the 0-based number
// of the call of their kind; the store's reachability probes (reads of
// $chronicle-ping) are answered "not found" and not counted.
type fake struct {
	streams.UnimplementedStreamsServer
	addr string

	onRead      func(n int, req *streams.ReadReq, srv streams.Streams_ReadServer) error
	onAppend    func(n int, opts *streams.AppendReq_Options, events int) (*streams.AppendResp, error)
	onDelete    func(n int, req *streams.DeleteReq) (*streams.DeleteResp, error)
	onTombstone func(n int, req *streams.TombstoneReq) (*streams.TombstoneResp, error)

	mu      sync.Mutex
	reads   []*streams.ReadReq
	appends []*streams.AppendReq_Options
	deletes int
}

// fakeError is a status with trailers (key, value pairs).
type fakeError struct {
	code     codes.Code
	msg      string
	trailers []string
}

func (e *fakeError) Error() string { return e.msg }

func failWith(code codes.Code, msg string, trailers ...string) error {
	return &fakeError{code: code, msg: msg, trailers: trailers}
}

// status sets e's trailers through set and returns the status error.
func statusOf(err error, set func(metadata.MD)) error {
	var e *fakeError
	if errors.As(err, &e) {
		if len(e.trailers) > 0 {
			set(metadata.Pairs(e.trailers...))
		}
		return status.Error(e.code, e.msg)
	}
	return err
}

// startFake serves f on a loopback port until the test ends and returns a
// Store connected to it.
func startFake(t *testing.T, f *fake, opts ...cesdb.Option) *cesdb.Store {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = lis.Addr().String()
	srv := grpc.NewServer(grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Second, PermitWithoutStream: true}))
	streams.RegisterStreamsServer(srv, f)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return open(t, "esdb://"+f.addr+"?tls=false", append([]cesdb.Option{cesdb.WithBackoff(time.Millisecond, 10*time.Millisecond)}, opts...)...)
}

func (f *fake) Read(req *streams.ReadReq, srv streams.Streams_ReadServer) error {
	if s := req.GetOptions().GetStream(); s != nil && string(s.GetStreamIdentifier().GetStreamName()) == "$chronicle-ping" {
		return srv.Send(&streams.ReadResp{Content: &streams.ReadResp_StreamNotFound_{StreamNotFound: &streams.ReadResp_StreamNotFound{StreamIdentifier: s.GetStreamIdentifier()}}})
	}
	f.mu.Lock()
	n := len(f.reads)
	f.reads = append(f.reads, req)
	f.mu.Unlock()
	if f.onRead == nil {
		return status.Error(codes.Unimplemented, "no reads")
	}
	return statusOf(f.onRead(n, req, srv), srv.SetTrailer)
}

func (f *fake) Append(srv streams.Streams_AppendServer) error {
	req, err := srv.Recv()
	if err != nil {
		return err
	}
	events := 0
	for {
		if _, err := srv.Recv(); err != nil {
			break
		}
		events++
	}
	f.mu.Lock()
	n := len(f.appends)
	f.appends = append(f.appends, req.GetOptions())
	f.mu.Unlock()
	resp, err := f.onAppend(n, req.GetOptions(), events)
	if err != nil {
		return statusOf(err, srv.SetTrailer)
	}
	return srv.SendAndClose(resp)
}

func (f *fake) Delete(ctx context.Context, req *streams.DeleteReq) (*streams.DeleteResp, error) {
	f.mu.Lock()
	n := f.deletes
	f.deletes++
	f.mu.Unlock()
	resp, err := f.onDelete(n, req)
	return resp, statusOf(err, func(md metadata.MD) { grpc.SetTrailer(ctx, md) })
}

func (f *fake) Tombstone(ctx context.Context, req *streams.TombstoneReq) (*streams.TombstoneResp, error) {
	f.mu.Lock()
	n := f.deletes
	f.deletes++
	f.mu.Unlock()
	resp, err := f.onTombstone(n, req)
	return resp, statusOf(err, func(md metadata.MD) { grpc.SetTrailer(ctx, md) })
}

func (f *fake) readCalls() []*streams.ReadReq {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*streams.ReadReq(nil), f.reads...)
}

func (f *fake) appendCalls() []*streams.AppendReq_Options {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*streams.AppendReq_Options(nil), f.appends...)
}

// fakeID is the ID of the fake events at a position.
func fakeID(pos uint64) uuid.UUID {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte(strconv.FormatUint(pos, 10)))
}

// event is a ReadResp carrying the event stream@rev at position pos.
func event(stream string, rev, pos uint64) *streams.ReadResp {
	most, least := esdb.UUIDAsInt64(fakeID(pos))
	return &streams.ReadResp{Content: &streams.ReadResp_Event{Event: &streams.ReadResp_ReadEvent{
		Event: &streams.ReadResp_ReadEvent_RecordedEvent{
			Id:               &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{MostSignificantBits: most, LeastSignificantBits: least}}},
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(stream)},
			StreamRevision:   rev,
			CommitPosition:   pos,
			PreparePosition:  pos,
			Metadata:         map[string]string{"type": "Fake", "content-type": "application/json", "created": "17000000000000000"},
			Data:             []byte(fmt.Sprintf(`{"pos":%d}`, pos)),
		},
		Position: &streams.ReadResp_ReadEvent_CommitPosition{CommitPosition: pos},
	}}}
}

func confirmation() *streams.ReadResp {
	return &streams.ReadResp{Content: &streams.ReadResp_Confirmation{Confirmation: &streams.ReadResp_SubscriptionConfirmation{SubscriptionId: "fake"}}}
}

func caughtUp() *streams.ReadResp {
	return &streams.ReadResp{Content: &streams.ReadResp_CaughtUp_{CaughtUp: &streams.ReadResp_CaughtUp{}}}
}

func fellBehind() *streams.ReadResp {
	return &streams.ReadResp{Content: &streams.ReadResp_FellBehind_{FellBehind: &streams.ReadResp_FellBehind{}}}
}

func checkpoint(pos uint64) *streams.ReadResp {
	return &streams.ReadResp{Content: &streams.ReadResp_Checkpoint_{Checkpoint: &streams.ReadResp_Checkpoint{CommitPosition: pos, PreparePosition: pos}}}
}

// send sends msgs in order.
func send(srv streams.Streams_ReadServer, msgs ...*streams.ReadResp) error {
	for _, m := range msgs {
		if err := srv.Send(m); err != nil {
			return err
		}
	}
	return nil
}

// appended is a successful AppendResp: last revision and position.
func appended(rev, pos uint64) *streams.AppendResp {
	return &streams.AppendResp{Result: &streams.AppendResp_Success_{Success: &streams.AppendResp_Success{
		CurrentRevisionOption: &streams.AppendResp_Success_CurrentRevision{CurrentRevision: rev},
		PositionOption:        &streams.AppendResp_Success_Position{Position: &streams.AppendResp_Position{CommitPosition: pos, PreparePosition: pos}},
	}}}
}

// checked is the AppendResp of an empty append: current revision (nil:
// no stream), no position.
func checked(rev *uint64) *streams.AppendResp {
	s := &streams.AppendResp_Success{PositionOption: &streams.AppendResp_Success_NoPosition{NoPosition: &shared.Empty{}}}
	if rev == nil {
		s.CurrentRevisionOption = &streams.AppendResp_Success_NoStream{NoStream: &shared.Empty{}}
	} else {
		s.CurrentRevisionOption = &streams.AppendResp_Success_CurrentRevision{CurrentRevision: *rev}
	}
	return &streams.AppendResp{Result: &streams.AppendResp_Success_{Success: s}}
}

// wrongVersion is the in-band AppendResp of a wrong expected version
// (current nil: no stream).
func wrongVersion(current *uint64) *streams.AppendResp {
	w := &streams.AppendResp_WrongExpectedVersion{ExpectedRevisionOption: &streams.AppendResp_WrongExpectedVersion_ExpectedAny{ExpectedAny: &shared.Empty{}}}
	if current == nil {
		w.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &shared.Empty{}}
	} else {
		w.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: *current}
	}
	return &streams.AppendResp{Result: &streams.AppendResp_WrongExpectedVersion_{WrongExpectedVersion: w}}
}

func ptr[T any](v T) *T { return &v }
