package esdb

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/chronicle-go/chronicle/eventstore"
)

// TestCloseClosesStuckClient: an operation stuck inside the client (as in
// node discovery, which does not watch contexts) no longer keeps Close from
// closing the client: Close waits WithCloseTimeout, then closes it, and the
// stuck call's panic on the closed client is absorbed.
func TestCloseClosesStuckClient(t *testing.T) {
	cfg, err := esdb.ParseConnectionString("esdb://127.0.0.1:1?tls=false&maxDiscoverAttempts=1")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = esdb.NoopLogging()
	client, err := esdb.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	o, err := newOptions([]Option{WithCloseTimeout(50 * time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	s := newStore(client, true, nil, o)

	release := make(chan struct{})
	result := make(chan error, 1)
	go func() {
		_, err := detach(s, context.Background(), func() (int, error) {
			<-release // stuck until after Close
			panic("send on closed channel")
		})
		result <- err
	}()
	for { // wait for the stuck call to be in flight
		s.mu.Lock()
		n := s.active
		s.mu.Unlock()
		if n > 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Close returned after %v", time.Since(start))
	// The client is closed: it refuses calls at once, with its typed error.
	_, err = client.AppendToStream(context.Background(), "x", esdb.AppendToStreamOptions{})
	var e *esdb.Error
	if !errors.As(err, &e) || e.Code() != esdb.ErrorCodeConnectionClosed {
		t.Fatalf("append on the client after Close: %v, want ErrorCodeConnectionClosed", err)
	}
	close(release)
	if err := <-result; !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("the stuck call ended with %v, want ErrClosed", err)
	}
	if _, err := newOptions([]Option{WithCloseTimeout(0)}); err == nil {
		t.Fatal("WithCloseTimeout(0) accepted")
	}
}
