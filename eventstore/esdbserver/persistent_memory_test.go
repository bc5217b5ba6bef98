package esdbserver_test

import (
	"strings"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/persistent"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// TestPersistentStatusesOverMemory checks the statuses and trailers of
// the memory store's persistent-subscription errors with the raw v4
// protocol: what the real server sends for each.
func TestPersistentStatusesOverMemory(t *testing.T) {
	ctx := testContext(t)
	_, srv := newMemoryServer(t)
	pc := persistentClient(t, srv)
	create := func(group string, st *persistent.CreateReq_Settings) (codes.Code, metadata.MD) {
		return trailerCall(func(opts ...grpc.CallOption) error {
			_, err := pc.Create(ctx, &persistent.CreateReq{Options: &persistent.CreateReq_Options{GroupName: group, StreamOption: psStreamOpts("m-1"), Settings: st}}, opts...)
			return err
		})
	}
	one := defaultCreateSettings()
	one.MaxSubscriberCount = 1
	if code, md := create("g", one); code != codes.OK {
		t.Fatalf("create: %v %v", code, md)
	}
	code, md := create("g", one)
	if code != codes.AlreadyExists {
		t.Errorf("create twice: %v", code)
	}
	wantTrailers(t, "create twice", md, "exception", "persistent-subscription-exists", "stream-name", "m-1", "group-name", "g")
	for name, mutate := range map[string]func(*persistent.CreateReq_Settings){
		"checkpoint min > max": func(s *persistent.CreateReq_Settings) { s.MinCheckpointCount = 5000 },
		"live buffer size 0":   func(s *persistent.CreateReq_Settings) { s.LiveBufferSize = 0 },
		"negative timeout": func(s *persistent.CreateReq_Settings) {
			s.MessageTimeout = &persistent.CreateReq_Settings_MessageTimeoutMs{MessageTimeoutMs: -1}
		},
		"negative max retries":    func(s *persistent.CreateReq_Settings) { s.MaxRetryCount = -1 },
		"unknown strategy":        func(s *persistent.CreateReq_Settings) { s.ConsumerStrategy = "Random" },
		"negative subscriber max": func(s *persistent.CreateReq_Settings) { s.MaxSubscriberCount = -1 },
	} {
		st := defaultCreateSettings()
		mutate(st)
		code, md := create("bad", st)
		if code != codes.Internal || len(md.Get("reason")) != 1 {
			t.Errorf("%s: %v %v, want Internal with a reason", name, code, md)
			continue
		}
		wantTrailers(t, name, md, "exception", "persistent-subscription-failed", "stream-name", "m-1", "group-name", "bad")
	}
	if _, err := pc.GetInfo(ctx, &persistent.GetInfoReq{Options: &persistent.GetInfoReq_Options{GroupName: "bad",
		StreamOption: &persistent.GetInfoReq_Options_StreamIdentifier{StreamIdentifier: streamID("m-1")}}}); err == nil {
		t.Error("a group with invalid settings was created")
	}

	first := readCall(ctx, t, pc, readOptions("m-1", "g", false))
	if _, err := first.Recv(); err != nil {
		t.Fatal(err)
	}
	second := readCall(ctx, t, pc, readOptions("m-1", "g", false))
	_, err := second.Recv()
	if c := status.Code(err); c != codes.FailedPrecondition {
		t.Errorf("second consumer of a group for one: %v", err)
	}
	wantTrailers(t, "maximum subscribers", second.Trailer(), "exception", "maximum-subscribers-reached", "stream-name", "m-1", "group-name", "g")
	if !strings.Contains(err.Error(), "Maximum subscriptions reached") {
		t.Errorf("message %q", err)
	}
	missing := readCall(ctx, t, pc, readOptions("m-1", "none", false))
	if _, err := missing.Recv(); status.Code(err) != codes.NotFound {
		t.Errorf("missing group: %v", err)
	}
	wantTrailers(t, "missing group", missing.Trailer(), "exception", "persistent-subscription-does-not-exist", "stream-name", "m-1", "group-name", "none")
}
