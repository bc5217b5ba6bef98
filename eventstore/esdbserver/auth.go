package esdbserver

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/gossip"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Authentication happens before a call is dispatched, as in EventStoreDB,
// whose authentication layer answers before any service: a call with
// missing or wrong credentials is Unauthenticated whatever its method —
// also one the server does not implement, which would otherwise be
// Unimplemented. On the server's own *grpc.Server the stream interceptor
// of ServerOptions does it for streaming calls and for the unknown-service
// handler (every unregistered method), and the unary handlers themselves
// (authRegistrar) for unary calls, since gRPC decodes a unary request
// before its interceptor runs; the unary interceptor covers what else is
// registered. Services mounted on another server by Register check
// credentials in all their handlers, since that server's interceptors are
// not ours.

// anonymousMethods need no credentials: clients call them while they
// discover the server.
var anonymousMethods = map[string]bool{
	serverfeatures.ServerFeatures_GetSupportedMethods_FullMethodName: true,
	gossip.Gossip_Read_FullMethodName:                                true,
}

// authorize authenticates a call to method (a full gRPC method name).
func (s *Server) authorize(ctx context.Context, method string) error {
	if anonymousMethods[method] {
		return nil
	}
	return s.authenticate(ctx)
}

// authenticate checks the call's HTTP basic credentials when users are
// configured (WithUsers): missing, malformed or wrong credentials are
// Unauthenticated.
func (s *Server) authenticate(ctx context.Context) error {
	if len(s.opts.users) == 0 {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	values := md.Get("authorization")
	if len(values) == 0 {
		return status.Error(codes.Unauthenticated, "esdbserver: authentication required")
	}
	user, password, ok := parseBasicAuth(values[0])
	if !ok {
		return status.Error(codes.Unauthenticated, "esdbserver: the authorization header is not HTTP basic credentials")
	}
	want, known := s.opts.users[user]
	match := subtle.ConstantTimeCompare([]byte(password), []byte(want)) == 1
	if !known || !match {
		return status.Error(codes.Unauthenticated, "esdbserver: bad user name or password")
	}
	return nil
}

// authenticatedKey marks the context of a unary call that authRegistrar's
// handler authenticated already, before it decoded the request.
type authenticatedKey struct{}

// authUnary is the unary interceptor of ServerOptions. gRPC decodes a unary
// request before it calls the interceptor, so the server's own services
// authenticate in their handlers first (authRegistrar), and the interceptor
// passes the calls they marked.
func (s *Server) authUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if ctx.Value(authenticatedKey{}) == nil {
		if err := s.authorize(ctx, info.FullMethod); err != nil {
			return nil, err
		}
	}
	return handler(ctx, req)
}

// authStream is the stream interceptor of ServerOptions; it also runs
// before the unknown-service handler.
func (s *Server) authStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := s.authorize(ss.Context(), info.FullMethod); err != nil {
		if info.IsClientStream && !info.IsServerStream {
			drainRefused(ss) // an append; bidi calls may wait for an answer first
		}
		return err
	}
	return handler(srv, ss)
}

// refusedDrainBytes bounds what the server reads of a refused
// client-streaming call.
const refusedDrainBytes = 1 << 20

// drainRefused reads and discards what is left of a refused
// client-streaming call (an append), up to refusedDrainBytes: clients send
// every message before they read the answer, and the Go client reports a
// call that ended while it was still sending as a bare EOF instead of the
// status.
func drainRefused(ss grpc.ServerStream) {
	for budget := refusedDrainBytes; budget >= 0; {
		var msg emptypb.Empty
		if ss.RecvMsg(&msg) != nil {
			return
		}
		budget -= proto.Size(&msg)
	}
}

// unknownService answers calls to services and methods the server does not
// host, once authStream has let them through.
func unknownService(_ any, ss grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(ss)
	return status.Errorf(codes.Unimplemented, "esdbserver: method %s is not implemented", method)
}

// authRegistrar registers services with handlers that authenticate before
// they decode the request or run: unary handlers always, streaming ones
// when streams is set (on the server's own *grpc.Server the stream
// interceptor does it).
type authRegistrar struct {
	srv     *Server
	r       grpc.ServiceRegistrar
	streams bool
}

func (a authRegistrar) RegisterService(desc *grpc.ServiceDesc, impl any) {
	d := *desc
	d.Methods = make([]grpc.MethodDesc, len(desc.Methods))
	for i, m := range desc.Methods {
		method, handler := "/"+desc.ServiceName+"/"+m.MethodName, m.Handler
		m.Handler = func(srv any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
			if err := a.srv.authorize(ctx, method); err != nil {
				return nil, err
			}
			return handler(srv, context.WithValue(ctx, authenticatedKey{}, true), dec, icpt)
		}
		d.Methods[i] = m
	}
	d.Streams = make([]grpc.StreamDesc, len(desc.Streams))
	for i, sd := range desc.Streams {
		if !a.streams {
			d.Streams[i] = sd
			continue
		}
		method, handler, drain := "/"+desc.ServiceName+"/"+sd.StreamName, sd.Handler, sd.ClientStreams && !sd.ServerStreams
		sd.Handler = func(srv any, ss grpc.ServerStream) error {
			if err := a.srv.authorize(ss.Context(), method); err != nil {
				if drain {
					drainRefused(ss)
				}
				return err
			}
			return handler(srv, ss)
		}
		d.Streams[i] = sd
	}
	a.r.RegisterService(&d, impl)
}

// parseBasicAuth parses "Basic base64(user:password)".
func parseBasicAuth(header string) (user, password string, ok bool) {
	const prefix = "basic "
	if len(header) < len(prefix) || !strings.EqualFold(header[:len(prefix)], prefix) {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(header[len(prefix):]))
	if err != nil {
		return "", "", false
	}
	return strings.Cut(string(raw), ":")
}
