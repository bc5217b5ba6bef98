package esdbserver_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/esdbserver"
	"github.com/chronicle-go/chronicle/eventstore/memory"
)

// testTimeout bounds every test's context; nothing here should come close.
const testTimeout = 30 * time.Second

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// listeningServer returns a server for store listening on a free loopback
// port (unless opts say otherwise), not serving yet.
func listeningServer(t testing.TB, store eventstore.Store, opts ...esdbserver.Option) *esdbserver.Server {
	t.Helper()
	srv, err := esdbserver.New(store, append([]esdbserver.Option{esdbserver.WithAddress("127.0.0.1:0")}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	return srv
}

// startServer serves store on a free loopback port until the test ends.
func startServer(t testing.TB, store eventstore.Store, opts ...esdbserver.Option) *esdbserver.Server {
	t.Helper()
	srv := listeningServer(t, store, opts...)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		// ErrServerClosed: the test ended before Serve started.
		if err := <-served; err != nil && !errors.Is(err, esdbserver.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv
}

// newMemoryServer serves a fresh memory store and returns it with the server.
func newMemoryServer(t *testing.T, opts ...esdbserver.Option) (*memory.Store, *esdbserver.Server) {
	t.Helper()
	store := memory.New()
	t.Cleanup(func() { store.Close() })
	return store, startServer(t, store, opts...)
}

// newClient returns an official client for a connection string.
func newClient(t testing.TB, conn string) *esdb.Client {
	t.Helper()
	cfg, err := esdb.ParseConnectionString(conn)
	if err != nil {
		t.Fatalf("ParseConnectionString(%q): %v", conn, err)
	}
	cfg.Logger = esdb.NoopLogging()
	c, err := esdb.NewClient(cfg)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// rawClient returns the generated Streams client on a plaintext connection,
// for requests the official client never sends.
func rawConn(t *testing.T, srv *esdbserver.Server) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func rawStreams(t *testing.T, srv *esdbserver.Server) streams.StreamsClient {
	t.Helper()
	return streams.NewStreamsClient(rawConn(t, srv))
}

func jsonEvent(typ, data string) esdb.EventData {
	return esdb.EventData{EventID: uuid.New(), EventType: typ, ContentType: esdb.ContentTypeJson, Data: []byte(data)}
}

// readAllEvents drains a client read.
func readAllEvents(t *testing.T, rs *esdb.ReadStream) ([]*esdb.ResolvedEvent, error) {
	t.Helper()
	defer rs.Close()
	var out []*esdb.ResolvedEvent
	for {
		e, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, e)
	}
}

func errorCode(err error) esdb.ErrorCode {
	var e *esdb.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return -1
}

// streamID builds a StreamIdentifier.
func streamID(name string) *shared.StreamIdentifier {
	return &shared.StreamIdentifier{StreamName: []byte(name)}
}

func empty() *shared.Empty { return &shared.Empty{} }
