package esdbserver_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/gossip"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/esdbserver"
	"github.com/chronicle-go/chronicle/eventstore/memory"
)

// serveInBackground runs Serve and returns a channel with its result.
func serveInBackground(ctx context.Context, srv *esdbserver.Server) <-chan error {
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	return done
}

func TestShutdownEndsSubscriptionsWithUnavailable(t *testing.T) {
	ctx := testContext(t)
	store := memory.New()
	defer store.Close()
	srv := listeningServer(t, store)
	addr := srv.Addr()
	served := serveInBackground(context.Background(), srv)
	c := newClient(t, srv.ConnectionString())
	seed(t, store, "live-1", "E", 2)

	subStream, err := c.SubscribeToStream(ctx, "live-1", esdb.SubscribeToStreamOptions{From: esdb.Start{}})
	if err != nil {
		t.Fatal(err)
	}
	defer subStream.Close()
	subAll, err := c.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: esdb.Start{}, Filter: esdb.ExcludeSystemEventsFilter()})
	if err != nil {
		t.Fatal(err)
	}
	defer subAll.Close()
	expectSequence(t, subStream, "event live-1@0", "event live-1@1", "caught-up")
	expectSequence(t, subAll, "event live-1@0", "event live-1@1", "checkpoint", "caught-up")

	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve after Shutdown = %v, want nil", err)
	}
	for _, sub := range []*esdb.Subscription{subStream, subAll} {
		k, ev := recvKind(t, sub)
		if k != "dropped: Unavailable" || !strings.Contains(ev.SubscriptionDropped.Error.Error(), "shutting down") {
			t.Fatalf("subscription after shutdown: %s %v", k, ev.SubscriptionDropped)
		}
	}

	// Lifecycle calls after the shutdown.
	if err := srv.Shutdown(ctx); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	if err := srv.Serve(ctx); !errors.Is(err, esdbserver.ErrServerClosed) {
		t.Errorf("Serve after Shutdown: %v", err)
	}
	if err := srv.Listen(); !errors.Is(err, esdbserver.ErrServerClosed) {
		t.Errorf("Listen after Shutdown: %v", err)
	}

	// A new server on the same address: the same client reconnects and
	// resubscribes after the last event it saw, with no gap.
	srv2 := listeningServer(t, store, esdbserver.WithAddress(addr))
	served2 := serveInBackground(context.Background(), srv2)
	defer func() {
		if err := srv2.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		<-served2
	}()
	seed(t, store, "live-1", "E", 1)
	var sub *esdb.Subscription
	for deadline := time.Now().Add(10 * time.Second); ; {
		// The first call after Unavailable may still fail while the client
		// rediscovers; a resubscribing client retries.
		sub, err = c.SubscribeToStream(ctx, "live-1", esdb.SubscribeToStreamOptions{From: esdb.Revision(1)})
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("resubscribe: %v", err)
	}
	defer sub.Close()
	expectSequence(t, sub, "event live-1@2", "caught-up")
}

func TestShutdownCutsOffCallsWhenContextEnds(t *testing.T) {
	store := memory.New()
	defer store.Close()
	srv := listeningServer(t, store)
	served := serveInBackground(context.Background(), srv)
	raw := rawStreams(t, srv)
	ctx := testContext(t)
	// An append that never half-closes keeps a graceful stop waiting.
	call, err := raw.Append(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := call.Send(appendOptions("stuck-1", nil)); err != nil {
		t.Fatal(err)
	}
	assertServing(ctx, t, raw) // the append has reached the server
	expired, cancel := context.WithCancel(ctx)
	cancel()
	if err := srv.Shutdown(expired); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown with an expired context = %v", err)
	}
	if _, err := call.CloseAndRecv(); status.Code(err) != codes.Unavailable && status.Code(err) != codes.Canceled {
		t.Fatalf("cut-off append ended with %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve = %v", err)
	}
}

func TestServeLifecycle(t *testing.T) {
	store := memory.New()
	defer store.Close()
	srv, err := esdbserver.New(store, esdbserver.WithAddress("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	if srv.Addr() != "" || srv.ConnectionString() != "" {
		t.Fatalf("address before Listen: %q %q", srv.Addr(), srv.ConnectionString())
	}
	if err := srv.Serve(context.Background()); !errors.Is(err, esdbserver.ErrNotListening) {
		t.Fatalf("Serve before Listen = %v", err)
	}

	// ListenAndServe until its context ends: a graceful shutdown, then nil.
	ctx, cancel := context.WithCancel(testContext(t))
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe(ctx) }()
	deadline := time.Now().Add(testTimeout)
	for srv.Addr() == "" && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // polling for the listener, not waiting on work
	}
	if err := srv.Listen(); err != nil {
		t.Fatalf("second Listen: %v", err)
	}
	c := newClient(t, srv.ConnectionString())
	if _, err := c.AppendToStream(ctx, "lc-1", esdb.AppendToStreamOptions{}, jsonEvent("E", "{}")); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(ctx); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("second Serve = %v", err)
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("ListenAndServe = %v", err)
	}

	// Listening on a taken address fails.
	other, err := esdbserver.New(store, esdbserver.WithAddress(srv.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	taken, _ := esdbserver.New(store, esdbserver.WithAddress(lis.Addr().String()))
	if err := taken.ListenAndServe(context.Background()); err == nil || !strings.HasPrefix(err.Error(), "esdbserver: listen") {
		t.Fatalf("listen on a taken port = %v", err)
	}
	// Shutdown of a server that listened but never served closes the listener.
	if err := other.Listen(); err != nil {
		t.Fatal(err)
	}
	if err := other.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if l, err := net.Listen("tcp", other.Addr()); err != nil {
		t.Fatalf("address still taken after Shutdown: %v", err)
	} else {
		l.Close()
	}
}

func TestServerFeatures(t *testing.T) {
	ctx := testContext(t)
	_, srv := newMemoryServer(t)
	cc := rawConn(t, srv)
	got, err := serverfeatures.NewServerFeaturesClient(cc).GetSupportedMethods(ctx, empty())
	if err != nil {
		t.Fatal(err)
	}
	if got.EventStoreServerVersion != "24.10.0" {
		t.Errorf("version %q", got.EventStoreServerVersion)
	}
	var methods []string
	for _, m := range got.Methods {
		methods = append(methods, m.ServiceName+"/"+m.MethodName+fmt.Sprint(m.Features))
	}
	want := []string{
		"event_store.client.streams.streams/read[position events]",
		"event_store.client.streams.streams/append[]",
		"event_store.client.streams.streams/delete[]",
		"event_store.client.streams.streams/tombstone[]",
		"event_store.client.server_features.serverfeatures/getsupportedmethods[]",
		"event_store.client.gossip.gossip/read[]",
	}
	// The memory store offers persistent subscriptions.
	for _, m := range []string{"create", "update", "delete", "read", "getinfo", "replayparked", "list", "restartsubsystem"} {
		want = append(want, "event_store.client.persistent_subscriptions.persistentsubscriptions/"+m+"[stream all]")
	}
	if strings.Join(methods, "\n") != strings.Join(want, "\n") {
		t.Errorf("methods:\n%s\nwant:\n%s", strings.Join(methods, "\n"), strings.Join(want, "\n"))
	}

	// What is not implemented answers Unimplemented.
	batch, err := rawStreams(t, srv).BatchAppend(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := batch.Recv(); status.Code(err) != codes.Unimplemented {
		t.Errorf("BatchAppend = %v", err)
	}

	// The official client sees no persistent-subscription support on a
	// store without them.
	plain, _ := newPlainServer(t)
	c := newClient(t, plain.ConnectionString())
	_, err = c.ListAllPersistentSubscriptions(ctx, esdb.ListPersistentSubscriptionsOptions{})
	if err == nil {
		t.Error("ListAllPersistentSubscriptions succeeded")
	}
}

func TestGossipAndDiscovery(t *testing.T) {
	ctx := testContext(t)
	store, srv := newMemoryServer(t)
	seed(t, store, "g-1", "E", 1)
	info, err := gossip.NewGossipClient(rawConn(t, srv)).Read(ctx, empty())
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(srv.Addr())
	if len(info.Members) != 1 || !info.Members[0].IsAlive || info.Members[0].State != gossip.MemberInfo_Leader ||
		info.Members[0].HttpEndPoint.Address != host || fmt.Sprint(info.Members[0].HttpEndPoint.Port) != port ||
		info.Members[0].InstanceId.GetStructured() == nil || info.Members[0].TimeStamp <= 0 {
		t.Fatalf("gossip = %v", info)
	}
	// esdb+discover:// and multi-host connection strings go through gossip.
	for _, conn := range []string{
		"esdb+discover://" + srv.Addr() + "?tls=false",
		"esdb://" + srv.Addr() + "," + srv.Addr() + "?tls=false",
	} {
		c := newClient(t, conn)
		rs, err := c.ReadStream(ctx, "g-1", esdb.ReadStreamOptions{}, 1)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := readAllEvents(t, rs); err != nil || len(got) != 1 {
			t.Fatalf("%s: read = %d, %v", conn, len(got), err)
		}
	}
}

// mountedServer registers a Server's services on a gRPC server of the test's
// own, serving lis until the test ends.
func mountedServer(t *testing.T, store eventstore.Store, lis net.Listener) *esdbserver.Server {
	t.Helper()
	srv, err := esdbserver.New(store)
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(srv.ServerOptions()...)
	srv.Register(g)
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	return srv
}

// TestRegisterOnOwnServer mounts the services on a caller's gRPC server
// listening on every interface: gossip then reports the address the client
// reached, and Shutdown still ends subscriptions.
func TestRegisterOnOwnServer(t *testing.T) {
	ctx := testContext(t)
	store := memory.New()
	defer store.Close()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := mountedServer(t, store, lis)
	seed(t, store, "own-1", "E", 1)

	c := newClient(t, "esdb+discover://"+lis.Addr().String()+"?tls=false")
	sub, err := c.SubscribeToStream(ctx, "own-1", esdb.SubscribeToStreamOptions{From: esdb.Start{}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	expectSequence(t, sub, "event own-1@0", "caught-up")
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	expectSequence(t, sub, "dropped: Unavailable")
}

func TestListenOnEveryInterface(t *testing.T) {
	ctx := testContext(t)
	store := memory.New()
	defer store.Close()
	srv := startServer(t, store, esdbserver.WithAddress("0.0.0.0:0"))
	conn := srv.ConnectionString()
	if !strings.HasPrefix(conn, "esdb://localhost:") || !strings.HasSuffix(conn, "?tls=false") {
		t.Fatalf("connection string %q", conn)
	}
	_, port, _ := net.SplitHostPort(srv.Addr())
	cc, err := grpc.NewClient("127.0.0.1:"+port, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	info, err := gossip.NewGossipClient(cc).Read(ctx, empty())
	if err != nil {
		t.Fatal(err)
	}
	if ep := info.Members[0].HttpEndPoint; ep.Address != "127.0.0.1" || fmt.Sprint(ep.Port) != port {
		t.Fatalf("gossip endpoint %v, want the address the client reached", ep)
	}
}

// TestReadsOnAClosedStore: a closed store is Unavailable, so clients retry
// elsewhere.
func TestReadsOnAClosedStore(t *testing.T) {
	ctx := testContext(t)
	store, srv := newMemoryServer(t)
	c := newClient(t, srv.ConnectionString())
	seed(t, store, "closed-1", "E", 1)
	sub, err := c.SubscribeToStream(ctx, "closed-1", esdb.SubscribeToStreamOptions{From: esdb.Start{}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	expectSequence(t, sub, "event closed-1@0", "caught-up")
	store.Close()
	expectSequence(t, sub, "dropped: Unavailable")
	if _, err := c.AppendToStream(ctx, "closed-1", esdb.AppendToStreamOptions{}, jsonEvent("E", "{}")); errorCode(err) != esdb.ErrorUnavailable {
		t.Fatalf("append to a closed store: %v", err)
	}
}

// TestGossipWithoutAnAddress: on a transport without host:port addresses
// (a Unix socket), gossip cannot describe the node and says so.
func TestGossipWithoutAnAddress(t *testing.T) {
	ctx := testContext(t)
	store := memory.New()
	defer store.Close()
	sock := filepath.Join(t.TempDir(), "esdb.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Skipf("no unix sockets: %v", err)
	}
	mountedServer(t, store, lis)
	cc, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	if _, err := gossip.NewGossipClient(cc).Read(ctx, empty()); status.Code(err) != codes.Unavailable {
		t.Fatalf("gossip over a unix socket = %v, want Unavailable", err)
	}
	// The other services work there.
	if _, err := serverfeatures.NewServerFeaturesClient(cc).GetSupportedMethods(ctx, empty()); err != nil {
		t.Fatal(err)
	}
}
