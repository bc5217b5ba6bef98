package esdbserver_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/gossip"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/chronicle-go/chronicle/eventstore/esdbserver"
	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/internal/testcert"
)

// withCredentials puts user:password@ into a connection string.
func withCredentials(conn, user, password string) string {
	return strings.Replace(conn, "esdb://", "esdb://"+url.UserPassword(user, password).String()+"@", 1)
}

func TestTLSAndAuthentication(t *testing.T) {
	ctx := testContext(t)
	certFile, keyFile := testcert.Write(t, t.TempDir())
	_, srv := newMemoryServer(t, esdbserver.WithTLS(certFile, keyFile),
		esdbserver.WithUsers(map[string]string{"admin": "changeit"}),
		esdbserver.WithUsers(map[string]string{"ops": "p@ss:word"}))
	conn := srv.ConnectionString()
	if !strings.Contains(conn, "tls=true") || !strings.Contains(conn, "tlsCAFile=") {
		t.Fatalf("connection string %q lacks the TLS settings", conn)
	}

	for user, password := range map[string]string{"admin": "changeit", "ops": "p@ss:word"} {
		c := newClient(t, withCredentials(conn, user, password))
		if _, err := c.AppendToStream(ctx, "tls-1", esdb.AppendToStreamOptions{}, jsonEvent("E", "{}")); err != nil {
			t.Fatalf("append as %s: %v", user, err)
		}
		rs, err := c.ReadStream(ctx, "tls-1", esdb.ReadStreamOptions{}, 10)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := readAllEvents(t, rs); err != nil {
			t.Fatalf("read as %s: %v", user, err)
		}
		// Per-call credentials override the connection's.
		_, err = c.AppendToStream(ctx, "tls-1", esdb.AppendToStreamOptions{Authenticated: &esdb.Credentials{Login: user, Password: "wrong"}}, jsonEvent("E", "{}"))
		if errorCode(err) != esdb.ErrorCodeUnauthenticated {
			t.Fatalf("append with a wrong per-call password: %v", err)
		}
	}

	// Wrong password, unknown user, no credentials: Unauthenticated, but
	// discovery (ServerFeatures) works without credentials.
	for name, c := range map[string]*esdb.Client{
		"wrong password": newClient(t, withCredentials(conn, "admin", "nope")),
		"unknown user":   newClient(t, withCredentials(conn, "mallory", "changeit")),
		"anonymous":      newClient(t, conn),
	} {
		if _, err := c.AppendToStream(ctx, "tls-1", esdb.AppendToStreamOptions{}, jsonEvent("E", "{}")); errorCode(err) != esdb.ErrorCodeUnauthenticated {
			t.Errorf("%s: append = %v, want unauthenticated", name, err)
		}
		if _, err := c.DeleteStream(ctx, "tls-1", esdb.DeleteStreamOptions{}); errorCode(err) != esdb.ErrorCodeUnauthenticated {
			t.Errorf("%s: delete = %v, want unauthenticated", name, err)
		}
		if _, err := c.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{}); errorCode(err) != esdb.ErrorCodeUnauthenticated {
			t.Errorf("%s: subscribe = %v, want unauthenticated", name, err)
		}
	}

	// Raw calls: malformed headers; Gossip and ServerFeatures need none.
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(certFile)
	pool.AppendCertsFromPEM(pem)
	cc, err := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool})))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	raw := streams.NewStreamsClient(cc)
	for _, header := range []string{"Bearer x", "Basic !!!", "Basic " + base64.StdEncoding.EncodeToString([]byte("no-colon")), "Bas"} {
		mctx := metadata.AppendToOutgoingContext(ctx, "authorization", header)
		if _, err := raw.Tombstone(mctx, &streams.TombstoneReq{}); status.Code(err) != codes.Unauthenticated {
			t.Errorf("header %q: %v", header, err)
		}
	}
	mctx := metadata.AppendToOutgoingContext(ctx, "authorization", "basic "+base64.StdEncoding.EncodeToString([]byte("admin:changeit")))
	if _, err := raw.Tombstone(mctx, &streams.TombstoneReq{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("lower-case basic scheme: %v, want to pass authentication", err)
	}
	if _, err := serverfeatures.NewServerFeaturesClient(cc).GetSupportedMethods(ctx, empty()); err != nil {
		t.Errorf("features without credentials: %v", err)
	}
	if _, err := gossip.NewGossipClient(cc).Read(ctx, empty()); err != nil {
		t.Errorf("gossip without credentials: %v", err)
	}

	// A plaintext client cannot talk to a TLS server.
	plain := newClient(t, strings.Replace(conn, "tls=true", "tls=false&maxDiscoverAttempts=1", 1))
	if _, err := plain.AppendToStream(ctx, "tls-1", esdb.AppendToStreamOptions{}, jsonEvent("E", "{}")); err == nil {
		t.Error("plaintext client succeeded against TLS")
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := testcert.Write(t, dir)
	store := memory.New()
	defer store.Close()
	tests := []struct {
		name string
		opts []esdbserver.Option
		want string
	}{
		{"bad address", []esdbserver.Option{esdbserver.WithAddress("no-port")}, "address"},
		{"TLS without key", []esdbserver.Option{esdbserver.WithTLS(certFile, "")}, "certificate and a key"},
		{"missing certificate", []esdbserver.Option{esdbserver.WithTLS(filepath.Join(dir, "none.pem"), keyFile)}, "load TLS certificate"},
		{"key that does not match", []esdbserver.Option{esdbserver.WithTLS(certFile, certFile)}, "load TLS certificate"},
		{"users without TLS", []esdbserver.Option{esdbserver.WithUsers(map[string]string{"a": "b"})}, "needs WithTLS"},
		{"no users", []esdbserver.Option{esdbserver.WithUsers(nil)}, "at least one user"},
		{"empty user name", []esdbserver.Option{esdbserver.WithUsers(map[string]string{"": "b"})}, "user name"},
		{"colon in user name", []esdbserver.Option{esdbserver.WithUsers(map[string]string{"a:b": "c"})}, "user name"},
		{"zero append size", []esdbserver.Option{esdbserver.WithMaxAppendSize(0)}, "positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := esdbserver.New(store, tt.opts...)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "esdbserver: ") {
				t.Fatalf("New = %v, %v; want an error containing %q", srv, err, tt.want)
			}
		})
	}
	if _, err := esdbserver.New(nil); err == nil {
		t.Error("New(nil) succeeded")
	}
}
