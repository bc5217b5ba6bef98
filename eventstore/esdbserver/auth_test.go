package esdbserver_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"net"
	"os"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/persistent"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/projections"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/chronicle-go/chronicle/eventstore/esdbserver"
	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/internal/testcert"
)

// tlsConn dials addr over TLS trusting certFile.
func tlsConn(t *testing.T, addr, certFile string) *grpc.ClientConn {
	t.Helper()
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(pem)
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func basic(ctx context.Context, user, password string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+password)))
}

// authCases calls methods of every kind: implemented (unary and
// streaming), implemented by the store's capability but unimplemented by
// the service (BatchAppend), of services the server does not host
// (Projections, Operations), and of an unknown service.
func authCases(cc *grpc.ClientConn) map[string]func(context.Context) error {
	return map[string]func(context.Context) error{
		"Streams.Tombstone (implemented, unary)": func(ctx context.Context) error {
			_, err := streams.NewStreamsClient(cc).Tombstone(ctx, &streams.TombstoneReq{Options: &streams.TombstoneReq_Options{
				StreamIdentifier:       &shared.StreamIdentifier{StreamName: []byte("auth-1")},
				ExpectedStreamRevision: &streams.TombstoneReq_Options_Any{Any: &shared.Empty{}},
			}})
			return err
		},
		"Streams.Read (implemented, streaming)": func(ctx context.Context) error {
			rc, err := streams.NewStreamsClient(cc).Read(ctx, &streams.ReadReq{})
			if err != nil {
				return err
			}
			_, err = rc.Recv()
			return err
		},
		"PersistentSubscriptions.List (implemented by the store's capability)": func(ctx context.Context) error {
			_, err := persistent.NewPersistentSubscriptionsClient(cc).List(ctx, &persistent.ListReq{})
			return err
		},
		"Streams.BatchAppend (unimplemented method)": func(ctx context.Context) error {
			bc, err := streams.NewStreamsClient(cc).BatchAppend(ctx)
			if err != nil {
				return err
			}
			_, err = bc.Recv()
			return err
		},
		"Projections.Create (service not hosted)": func(ctx context.Context) error {
			_, err := projections.NewProjectionsClient(cc).Create(ctx, &projections.CreateReq{})
			return err
		},
		"Operations.Shutdown (service not hosted)": func(ctx context.Context) error {
			return cc.Invoke(ctx, "/event_store.client.operations.Operations/Shutdown", &shared.Empty{}, &shared.Empty{})
		},
		"unknown service": func(ctx context.Context) error {
			return cc.Invoke(ctx, "/no.such.Service/Method", &shared.Empty{}, &shared.Empty{})
		},
		"Streams.NoSuchMethod (unknown method of a hosted service)": func(ctx context.Context) error {
			return cc.Invoke(ctx, "/event_store.client.streams.Streams/NoSuchMethod", &shared.Empty{}, &shared.Empty{})
		},
	}
}

// wantAfterAuth is what each call gets once authenticated.
var wantAfterAuth = map[string]codes.Code{
	"Streams.Tombstone (implemented, unary)":                               codes.OK,
	"Streams.Read (implemented, streaming)":                                codes.InvalidArgument,
	"PersistentSubscriptions.List (implemented by the store's capability)": codes.Unimplemented,
	"Streams.BatchAppend (unimplemented method)":                           codes.Unimplemented,
	"Projections.Create (service not hosted)":                              codes.Unimplemented,
	"Operations.Shutdown (service not hosted)":                             codes.Unimplemented,
	"unknown service": codes.Unimplemented,
	"Streams.NoSuchMethod (unknown method of a hosted service)": codes.Unimplemented,
}

// TestAuthenticationBeforeDispatch: with users configured, a call without
// valid credentials is Unauthenticated whatever its method, also one the
// server does not implement; with them, it gets its method's answer.
func TestAuthenticationBeforeDispatch(t *testing.T) {
	ctx := testContext(t)
	certFile, keyFile := testcert.Write(t, t.TempDir())
	// A memory store without persistent subscriptions: their service is not
	// hosted, so List is Unimplemented once authenticated.
	store := memory.New()
	defer store.Close()
	srv := startServer(t, plainStore{store}, esdbserver.WithTLS(certFile, keyFile), esdbserver.WithUsers(map[string]string{"admin": "changeit"}))
	cc := tlsConn(t, srv.Addr(), certFile)
	for name, do := range authCases(cc) {
		for cred, cctx := range map[string]context.Context{
			"anonymous":      ctx,
			"wrong password": basic(ctx, "admin", "nope"),
			"unknown user":   basic(ctx, "mallory", "changeit"),
		} {
			if err := do(cctx); status.Code(err) != codes.Unauthenticated {
				t.Errorf("%s, %s: %v, want Unauthenticated", name, cred, err)
			}
		}
		if err := do(basic(ctx, "admin", "changeit")); status.Code(err) != wantAfterAuth[name] {
			t.Errorf("%s, authenticated: %v, want %v", name, err, wantAfterAuth[name])
		}
	}
}

// rawCodec sends and receives bytes as they are, for requests no generated
// type can encode.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*v.(*[]byte) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// TestAuthenticationBeforeDecoding: a unary request that does not decode
// (a string that is not UTF-8) is Unauthenticated without credentials, and
// only then a decoding error.
func TestAuthenticationBeforeDecoding(t *testing.T) {
	ctx := testContext(t)
	certFile, keyFile := testcert.Write(t, t.TempDir())
	_, srv := newMemoryServer(t, esdbserver.WithTLS(certFile, keyFile), esdbserver.WithUsers(map[string]string{"admin": "changeit"}))
	cc := tlsConn(t, srv.Addr(), certFile)
	// GetInfoReq{options(1): {group_name(3): "\xff\xfe"}}
	inner := protowire.AppendBytes(protowire.AppendTag(nil, 3, protowire.BytesType), []byte{0xff, 0xfe})
	req := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), inner)
	var resp []byte
	call := func(ctx context.Context) error {
		return cc.Invoke(ctx, persistent.PersistentSubscriptions_GetInfo_FullMethodName, &req, &resp, grpc.ForceCodec(rawCodec{}))
	}
	if err := call(ctx); status.Code(err) != codes.Unauthenticated {
		t.Errorf("anonymous: %v, want Unauthenticated", err)
	}
	if err := call(basic(ctx, "admin", "changeit")); status.Code(err) == codes.Unauthenticated || status.Code(err) == codes.OK {
		t.Errorf("authenticated: %v, want a decoding error", err)
	}
}

// TestAuthenticationWithRegister: services mounted on another gRPC server
// check credentials in their handlers, whatever that server's options.
func TestAuthenticationWithRegister(t *testing.T) {
	ctx := testContext(t)
	certFile, keyFile := testcert.Write(t, t.TempDir())
	store := memory.New()
	defer store.Close()
	srv, err := esdbserver.New(store, esdbserver.WithTLS(certFile, keyFile), esdbserver.WithUsers(map[string]string{"admin": "changeit"}))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}})))
	srv.Register(g)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(lis)
	defer g.Stop()
	cc := tlsConn(t, lis.Addr().String(), certFile)
	cases := authCases(cc)
	for _, name := range []string{"Streams.Tombstone (implemented, unary)", "Streams.Read (implemented, streaming)", "Streams.BatchAppend (unimplemented method)"} {
		if err := cases[name](ctx); status.Code(err) != codes.Unauthenticated {
			t.Errorf("%s, anonymous: %v, want Unauthenticated", name, err)
		}
		if err := cases[name](basic(ctx, "admin", "changeit")); status.Code(err) != wantAfterAuth[name] {
			t.Errorf("%s, authenticated: %v, want %v", name, err, wantAfterAuth[name])
		}
	}
}
