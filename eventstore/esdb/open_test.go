package esdb_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"

	"github.com/chronicle-go/chronicle/eventstore"
	cesdb "github.com/chronicle-go/chronicle/eventstore/esdb"
)

func TestParseConnectionStringRejects(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		conn, want string
	}{
		{"postgres://localhost:5432", "must start with esdb:// or esdb+discover://"},
		{"localhost:2113", "must start with esdb://"},
		{"esdb://localhost:2113?tsl=false", `unknown setting "tsl"`},
		{"esdb://localhost:2113?tls=false&TLS=true", "setting tls is given"},
		{"esdb://localhost:2113?tls=false&tls=true", "setting tls is given 2 times"},
		{"esdb://localhost:2113?tls=maybe", "tls"},
		{"esdb://localhost:2113?defaultDeadline=0", "defaultDeadline must be a positive integer"},
		{"esdb://localhost:2113?defaultDeadline=soon", "defaultDeadline must be a positive integer"},
		{"esdb://localhost:2113?maxDiscoverAttempts=0", "maxDiscoverAttempts must be a positive integer"},
		{"esdb://localhost:2113?gossipTimeout=-1", "gossipTimeout must be a positive integer"},
		{"esdb://localhost:2113?discoveryInterval=x", "discoveryInterval must be a positive integer"},
		{"esdb://localhost:2113?keepAliveInterval=-5", "keepAliveInterval"},
		{"esdb://localhost:2113?nodePreference=nearest", "NodePreference"},
		{"esdb://localhost:2113?tls=false&tlsCAFile=" + garbage, "tlsCAFile needs tls=true"},
		{"esdb://localhost:2113?tls=false&tlsVerifyCert=false", "tlsVerifyCert needs tls=true"},
		{"esdb://localhost:2113?tlsCAFile=" + filepath.Join(dir, "missing.pem"), "no such file"},
		{"esdb://localhost:2113?tlsCAFile=" + garbage, "failed to append certificate"},
		{"esdb://localhost:2113?userCertFile=" + garbage, "userCertFile and userKeyFile"},
		{"esdb://localhost:2113?userCertFile=" + garbage + "&userKeyFile=" + garbage, "user certificate"},
		{"esdb://localhost:2113?tls=%zz", "settings"},
		{"esdb://?tls=false", "host"},
		{"esdb://localhost:2113/db?tls=false", "unsupported URL path"},
		{"esdb://localhost:port?tls=false", "port"},
		{"esdb://:secret@localhost:2113?tls=false", "empty username"},
	} {
		_, err := cesdb.ParseConnectionString(c.conn)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "esdb: connection string ") {
			t.Errorf("ParseConnectionString(%q) = %v, want an error mentioning %q", c.conn, err, c.want)
		}
	}
}

func TestParseConnectionStringRedactsPassword(t *testing.T) {
	for _, conn := range []string{
		"esdb://admin:s3cret@localhost:port?tls=false",
		"esdb://admin:s3cret@a:1,b:2?tsl=false",
		"esdb+discover://admin:s3cret@cluster?defaultDeadline=0",
	} {
		_, err := cesdb.ParseConnectionString(conn)
		if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "admin:xxxxx@") {
			t.Errorf("ParseConnectionString(%q) = %v, want an error that hides the password", conn, err)
		}
	}
}

func TestParseConnectionString(t *testing.T) {
	cfg, err := cesdb.ParseConnectionString("esdb://admin:changeit@localhost:2113?TLS=false&keepAliveInterval=20000&defaultDeadline=5000&nodePreference=follower&maxDiscoverAttempts=3")
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.DisableTLS || cfg.KeepAliveInterval != 20*time.Second || *cfg.DefaultDeadline != 5*time.Second ||
		cfg.NodePreference != esdb.NodePreferenceFollower || cfg.MaxDiscoverAttempts != 3 || cfg.Username != "admin" || cfg.Address != "localhost:2113" {
		t.Fatalf("parsed %+v", cfg)
	}
	cfg, err = cesdb.ParseConnectionString("esdb://a:1111,b:2222?tls=false")
	if err != nil || len(cfg.GossipSeeds) != 2 {
		t.Fatalf("cluster string: %+v, %v", cfg, err)
	}
	cfg, err = cesdb.ParseConnectionString("esdb+discover://cluster.example.com:2113?tlsVerifyCert=false")
	if err != nil || !cfg.DnsDiscover || !cfg.SkipCertificateVerification {
		t.Fatalf("discover string: %+v, %v", cfg, err)
	}
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}

func TestOpenUnreachable(t *testing.T) {
	_, err := cesdb.Open(testContext(t), "esdb://user:pw@"+freeAddr(t)+"?tls=false&maxDiscoverAttempts=2&discoveryInterval=1")
	if !errors.Is(err, eventstore.ErrUnavailable) || !strings.HasPrefix(err.Error(), "esdb: open esdb://user:xxxxx@") {
		t.Fatalf("Open of a port nobody listens on: %v, want ErrUnavailable", err)
	}
	ctx, cancel := context.WithCancel(testContext(t))
	cancel()
	if _, err := cesdb.Open(ctx, "esdb://"+freeAddr(t)+"?tls=false"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Open with a cancelled context: %v, want context.Canceled", err)
	}
	if _, err := cesdb.Open(testContext(t), "esdb://localhost?tsl=false"); err == nil {
		t.Fatal("Open accepted a misspelled setting")
	}
	if _, err := cesdb.Open(testContext(t), "esdb://localhost", cesdb.WithRetries(-1)); err == nil {
		t.Fatal("Open accepted a negative retry count")
	}
}

func TestOptionsValidated(t *testing.T) {
	client := newClient(t, "esdb://"+freeAddr(t)+"?tls=false")
	for name, opt := range map[string]cesdb.Option{
		"WithRetries(-1)":           cesdb.WithRetries(-1),
		"WithBackoff(0, 1s)":        cesdb.WithBackoff(0, time.Second),
		"WithBackoff(2s, 1s)":       cesdb.WithBackoff(2*time.Second, time.Second),
		"WithReconnectTimeout(0)":   cesdb.WithReconnectTimeout(0),
		"WithReconnectTimeout(-1s)": cesdb.WithReconnectTimeout(-time.Second),
	} {
		if _, err := cesdb.New(client, opt); err == nil || !strings.HasPrefix(err.Error(), "esdb: ") {
			t.Errorf("New with %s: %v, want an error", name, err)
		}
	}
	if _, err := cesdb.New(nil); err == nil {
		t.Error("New(nil) succeeded")
	}
	s, err := cesdb.New(client, nil, cesdb.WithRetries(0), cesdb.WithBackoff(time.Millisecond, time.Second), cesdb.WithReconnectTimeout(time.Second), cesdb.WithLogger(nil))
	if err != nil || s.Client() != client {
		t.Fatalf("New with valid options: %v", err)
	}
	s.Close()
}

// newClient returns an official client for a connection string.
func newClient(t *testing.T, conn string) *esdb.Client {
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

func TestRegisteredForOpen(t *testing.T) {
	drivers := eventstore.Drivers()
	if !slices.Contains(drivers, "esdb") || !slices.Contains(drivers, "esdb+discover") {
		t.Fatalf("registered drivers %v lack esdb and esdb+discover", drivers)
	}
	srv := newMemoryServer(t)
	ctx := testContext(t)
	for _, conn := range []string{srv.connString(), strings.Replace(srv.connString(), "esdb://", "esdb+discover://", 1)} {
		s, err := eventstore.Open(ctx, conn)
		if err != nil {
			t.Fatalf("eventstore.Open(%q): %v", conn, err)
		}
		if _, err := s.Append(ctx, "order-1", eventstore.Any, newEvent("Placed")); err != nil {
			t.Fatalf("Append through %q: %v", conn, err)
		}
		s.Close()
	}
}

func TestNewKeepsTheClient(t *testing.T) {
	srv := newMemoryServer(t)
	client := newClient(t, srv.connString())
	s, err := cesdb.New(client)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	if _, err := s.Append(ctx, "order-1", eventstore.NoStream, newEvent("Placed")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := s.Append(ctx, "order-1", eventstore.Any, newEvent("Placed")); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("Append after Close: %v, want ErrClosed", err)
	}
	if _, err := client.AppendToStream(ctx, "order-1", esdb.AppendToStreamOptions{}, esdb.EventData{EventType: "Placed", ContentType: esdb.ContentTypeJson, Data: []byte(`{}`)}); err != nil {
		t.Fatalf("the client given to New was closed with the Store: %v", err)
	}
}

func TestNewWithDeadClient(t *testing.T) {
	// A client given to New gives up for good when discovery fails; the
	// store then says so instead of retrying forever.
	srv := newMemoryServer(t)
	client := newClient(t, srv.connString()+"&maxDiscoverAttempts=1&discoveryInterval=1")
	s, err := cesdb.New(client, cesdb.WithBackoff(time.Millisecond, 5*time.Millisecond), cesdb.WithReconnectTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := testContext(t)
	if _, err := s.Append(ctx, "order-1", eventstore.NoStream, newEvent("Placed")); err != nil {
		t.Fatal(err)
	}
	srv.stop()
	deadline := time.Now().Add(testTimeout)
	for {
		_, err := s.Append(ctx, "order-1", eventstore.Exact(0), newEvent("Placed"))
		if !errors.Is(err, eventstore.ErrUnavailable) {
			t.Fatalf("Append with the server gone: %v, want ErrUnavailable", err)
		}
		if strings.Contains(err.Error(), "closed itself") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store never reported the dead client; last error: %v", err)
		}
	}
}

func TestClosedStore(t *testing.T) {
	s := open(t, newMemoryServer(t).connString())
	ctx := testContext(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	checks := map[string]error{}
	_, checks["Append"] = s.Append(ctx, "order-1", eventstore.Any, newEvent("A"))
	_, checks["Delete"] = s.Delete(ctx, "order-1", eventstore.Any)
	_, checks["GetStreamMetadata"] = s.GetStreamMetadata(ctx, "order-1")
	_, checks["ReadStream"] = collect(t, s.ReadStream(ctx, "order-1", eventstore.ReadOptions{}))
	_, checks["ReadAll"] = collect(t, s.ReadAll(ctx, eventstore.ReadAllOptions{}))
	_, checks["SubscribeToAll"] = collect(t, s.SubscribeToAll(ctx, eventstore.SubscribeAllOptions{}))
	for op, err := range checks {
		if !errors.Is(err, eventstore.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", op, err)
		}
	}
}

func TestCloseEndsSubscriptions(t *testing.T) {
	s := open(t, newMemoryServer(t).connString())
	ctx := testContext(t)
	done := make(chan error, 1)
	live := make(chan struct{})
	go func() {
		for m, err := range s.SubscribeToStream(ctx, "order-1", eventstore.SubscribeOptions{}) {
			if err != nil {
				done <- err
				return
			}
			if m.Kind == eventstore.MessageCaughtUp {
				close(live)
			}
		}
		done <- nil
	}()
	<-live
	s.Close()
	if err := <-done; !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("subscription ended with %v, want ErrClosed", err)
	}
}

func TestBadInputNeverSent(t *testing.T) {
	f := &fake{
		onAppend: func(int, *streams.AppendReq_Options, int) (*streams.AppendResp, error) {
			t.Error("a bad append reached the server")
			return appended(0, 1), nil
		},
		onRead: func(int, *streams.ReadReq, streams.Streams_ReadServer) error {
			t.Error("a bad read reached the server")
			return nil
		},
	}
	s := startFake(t, f)
	ctx := testContext(t)
	dup := newEvent("A")
	appends := map[string]func() error{
		"EmptyStream":  func() error { _, err := s.Append(ctx, "", eventstore.Any, newEvent("A")); return err },
		"SystemStream": func() error { _, err := s.Append(ctx, "$users", eventstore.Any, newEvent("A")); return err },
		"EmptyType":    func() error { _, err := s.Append(ctx, "order-1", eventstore.Any, eventstore.EventData{}); return err },
		"BadJSON": func() error {
			_, err := s.Append(ctx, "order-1", eventstore.Any, eventstore.EventData{Type: "A", Data: []byte("{")})
			return err
		},
		"BadContentType": func() error {
			_, err := s.Append(ctx, "order-1", eventstore.Any, eventstore.EventData{Type: "A", ContentType: "text/plain"})
			return err
		},
		"DuplicateIDs": func() error { _, err := s.Append(ctx, "order-1", eventstore.Any, dup, dup); return err },
		"TooLarge": func() error {
			_, err := s.Append(ctx, "order-1", eventstore.Any, eventstore.EventData{Type: "A", ContentType: eventstore.ContentTypeBinary, Data: make([]byte, eventstore.MaxEventSize)})
			return err
		},
		"MetadataOfMetadata": func() error {
			_, err := s.SetStreamMetadata(ctx, "$$order-1", eventstore.Any, eventstore.StreamMetadata{})
			return err
		},
		"DeleteSystem":    func() error { _, err := s.Delete(ctx, "$users", eventstore.Any); return err },
		"TombstoneEmpty":  func() error { _, err := s.Tombstone(ctx, "", eventstore.Any); return err },
		"MetadataEmpty":   func() error { _, err := s.GetStreamMetadata(ctx, ""); return err },
		"ReadAllAsStream": func() error { _, err := collect(t, s.ReadStream(ctx, "$all", eventstore.ReadOptions{})); return err },
		"ReadFromPosition": func() error {
			_, err := collect(t, s.ReadStream(ctx, "order-1", eventstore.ReadOptions{From: eventstore.FromPosition(eventstore.Position{Commit: 1})}))
			return err
		},
		"ReadAllFromRevision": func() error {
			_, err := collect(t, s.ReadAll(ctx, eventstore.ReadAllOptions{From: eventstore.FromRevision(1)}))
			return err
		},
		"BadFilter": func() error {
			_, err := collect(t, s.ReadAll(ctx, eventstore.ReadAllOptions{Filter: eventstore.StreamRegexFilter("(")}))
			return err
		},
		"SubscribeBadFilter": func() error {
			_, err := collect(t, s.SubscribeToAll(ctx, eventstore.SubscribeAllOptions{Filter: &eventstore.Filter{}}))
			return err
		},
		"SubscribeAllAsStream": func() error {
			_, err := collect(t, s.SubscribeToStream(ctx, "$all", eventstore.SubscribeOptions{}))
			return err
		},
	}
	for name, fn := range appends {
		var arg *eventstore.ArgumentError
		if err := fn(); !errors.As(err, &arg) || !errors.Is(err, eventstore.ErrInvalidArgument) {
			t.Errorf("%s: %v, want an *eventstore.ArgumentError", name, err)
		}
	}
	if n := len(f.appendCalls()) + len(f.readCalls()); n != 0 {
		t.Fatalf("%d bad requests reached the server", n)
	}
}

func TestClusterSeeds(t *testing.T) {
	// Gossip seeds, one of them dead: the client asks the live one which
	// node leads (itself) and connects there.
	srv := newMemoryServer(t)
	addr := strings.TrimPrefix(strings.Split(srv.connString(), "?")[0], "esdb://")
	s := open(t, "esdb://"+freeAddr(t)+","+addr+"?tls=false&nodePreference=leader&discoveryInterval=10")
	if _, err := s.Append(testContext(t), "order-1", eventstore.NoStream, newEvent("Placed")); err != nil {
		t.Fatalf("Append through gossip seeds: %v", err)
	}
}

func TestDefaultDeadline(t *testing.T) {
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	f := &fake{onAppend: func(int, *streams.AppendReq_Options, int) (*streams.AppendResp, error) {
		<-hang
		return nil, nil
	}}
	startFake(t, f) // sets f.addr
	s := open(t, "esdb://"+f.addr+"?tls=false&defaultDeadline=30", cesdb.WithRetries(1))
	_, err := s.Append(testContext(t), "order-1", eventstore.Exact(3), newEvent("A"))
	if !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("Append past the connection's default deadline: %v, want ErrUnavailable", err)
	}
	if n := len(f.appendCalls()); n != 2 {
		t.Fatalf("%d calls, want 2 (one retry of an Exact append)", n)
	}
}
