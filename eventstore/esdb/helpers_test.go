package esdb_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/esdb"
	"github.com/chronicle-go/chronicle/eventstore/esdbserver"
	"github.com/chronicle-go/chronicle/eventstore/memory"
)

// testTimeout bounds every test's context; nothing here comes close.
const testTimeout = time.Minute

func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// testLogger logs to stderr when ESDB_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("ESDB_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// server is an esdbserver on a loopback port that a test can stop and start
// again on the same port.
type server struct {
	t      testing.TB
	store  eventstore.Store
	opts   []esdbserver.Option
	srv    *esdbserver.Server
	served chan error
	addr   string
}

// startServer serves store on a free loopback port until the test ends.
func startServer(t testing.TB, store eventstore.Store, opts ...esdbserver.Option) *server {
	t.Helper()
	s := &server{t: t, store: store, opts: opts, addr: "127.0.0.1:0"}
	s.start()
	t.Cleanup(s.stop)
	return s
}

// start serves on s.addr (the port of the previous start, after the first).
func (s *server) start() {
	s.t.Helper()
	srv, err := esdbserver.New(s.store, append([]esdbserver.Option{esdbserver.WithAddress(s.addr)}, s.opts...)...)
	if err != nil {
		s.t.Fatalf("esdbserver.New: %v", err)
	}
	deadline := time.Now().Add(testTimeout)
	for {
		err := srv.Listen()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("Listen %s: %v", s.addr, err)
		}
		time.Sleep(10 * time.Millisecond) // the port of a stopped server may linger briefly
	}
	s.srv, s.addr = srv, srv.Addr()
	s.served = make(chan error, 1)
	go func() { s.served <- srv.Serve(context.Background()) }()
}

// stop shuts the server down (idempotent until the next start).
func (s *server) stop() {
	if s.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.t.Errorf("Shutdown: %v", err)
	}
	if err := <-s.served; err != nil {
		s.t.Errorf("Serve: %v", err)
	}
	s.srv = nil
}

func (s *server) connString() string { return s.srv.ConnectionString() }

// newMemoryServer serves a fresh memory store.
func newMemoryServer(t testing.TB, opts ...esdbserver.Option) *server {
	t.Helper()
	mem := memory.New()
	t.Cleanup(func() { mem.Close() })
	return startServer(t, mem, opts...)
}

// open opens a Store on a connection string, closed when the test ends.
func open(t testing.TB, conn string, opts ...esdb.Option) *esdb.Store {
	t.Helper()
	s, err := esdb.Open(testContext(t), conn, append([]esdb.Option{esdb.WithLogger(testLogger())}, opts...)...)
	if err != nil {
		t.Fatalf("Open(%q): %v", conn, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openErr is Open with the test's logger, for Opens that should fail.
func openErr(t testing.TB, conn string, opts ...esdb.Option) (*esdb.Store, error) {
	t.Helper()
	return esdb.Open(testContext(t), conn, append([]esdb.Option{esdb.WithLogger(testLogger())}, opts...)...)
}
