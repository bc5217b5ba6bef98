package esdbserver

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
)

// authenticate checks the call's HTTP basic credentials when users are
// configured (WithUsers): missing, malformed or wrong credentials are
// Unauthenticated, as EventStoreDB's authentication layer answers before the
// call reaches a service. It is called by the handlers themselves rather than
// by an interceptor so that it also applies when the services are mounted on
// another *grpc.Server (Register).
func (s *Server) authenticate(ctx context.Context) error {
	if len(s.opts.users) == 0 {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	values := md.Get("authorization")
	if len(values) == 0 {
		return newError(codes.Unauthenticated, "esdbserver: authentication required").st.Err()
	}
	user, password, ok := parseBasicAuth(values[0])
	if !ok {
		return newError(codes.Unauthenticated, "esdbserver: the authorization header is not HTTP basic credentials").st.Err()
	}
	want, known := s.opts.users[user]
	match := subtle.ConstantTimeCompare([]byte(password), []byte(want)) == 1
	if !known || !match {
		return newError(codes.Unauthenticated, "esdbserver: bad user name or password").st.Err()
	}
	return nil
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
