package esdbserver

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strings"
)

// DefaultAddress is where a Server listens unless WithAddress says
// otherwise: loopback only, on EventStoreDB's port.
const DefaultAddress = "127.0.0.1:2113"

// DefaultMaxAppendSize is the default bound on the total size of one append
// (the sum of its events' sizes, see backend.EventSize): 256 MiB, the
// limit of current KurrentDB releases.
const DefaultMaxAppendSize = 256 << 20

// DefaultMaxBytesInFlight is the default bound on the bytes of appends the
// server holds at once, across all calls (see WithMaxBytesInFlight).
const DefaultMaxBytesInFlight = 256 << 20

// An Option configures a Server. Options are validated by New.
type Option func(*options) error

type options struct {
	addr          string
	certFile      string
	keyFile       string
	users         map[string]string
	logger        *slog.Logger
	maxAppendSize int
	maxInFlight   int // 0: max(DefaultMaxBytesInFlight, maxAppendSize)
}

// WithAddress sets the TCP address to listen on, "host:port" (default
// DefaultAddress). Port 0 picks a free port; Addr reports it. Bind to a
// non-loopback host only together with WithTLS and WithUsers.
func WithAddress(addr string) Option {
	return func(o *options) error {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("esdbserver: address %q: %w", addr, err)
		}
		o.addr = addr
		return nil
	}
}

// WithTLS serves over TLS with the PEM certificate and key in these files.
// Without it the server speaks plaintext HTTP/2 (clients connect with
// tls=false), as EventStoreDB's insecure mode does.
func WithTLS(certFile, keyFile string) Option {
	return func(o *options) error {
		if certFile == "" || keyFile == "" {
			return fmt.Errorf("esdbserver: TLS needs both a certificate and a key file")
		}
		o.certFile, o.keyFile = certFile, keyFile
		return nil
	}
}

// WithUsers enables HTTP basic authentication with these users (name →
// password), as EventStoreDB's secure mode does: every call except
// ServerFeatures and Gossip must carry valid credentials, otherwise it fails
// with Unauthenticated. Clients send credentials only over TLS, so WithUsers
// requires WithTLS. Calling it again adds users.
func WithUsers(users map[string]string) Option {
	return func(o *options) error {
		if len(users) == 0 {
			return fmt.Errorf("esdbserver: WithUsers needs at least one user")
		}
		if o.users == nil {
			o.users = make(map[string]string, len(users))
		}
		for name, password := range users {
			if name == "" || strings.Contains(name, ":") {
				return fmt.Errorf("esdbserver: user name %q must be non-empty and contain no ':'", name)
			}
			o.users[name] = password
		}
		return nil
	}
}

// WithLogger makes the server log lifecycle events and failed calls to l
// (nil, the default, discards logs).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		o.logger = l
		return nil
	}
}

// WithMaxAppendSize bounds the total size of one append (default
// DefaultMaxAppendSize); larger appends fail with InvalidArgument and the
// trailers "exception: maximum-append-size-exceeded" and
// "maximum-append-size". One event is always bounded by
// eventstore.MaxEventSize.
func WithMaxAppendSize(n int) Option {
	return func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("esdbserver: maximum append size must be positive, got %d", n)
		}
		o.maxAppendSize = n
		return nil
	}
}

// WithMaxBytesInFlight bounds the bytes of proposed events (counted as
// backend.EventSize) that the server holds at once across all appends
// (default DefaultMaxBytesInFlight, or the maximum append size if that is
// larger), so that concurrent large appends cannot exhaust its memory. An
// append whose first event finds the budget spent waits for it; one that
// holds part of the budget and needs more than is left fails with
// ResourceExhausted at once (waiting while holding could deadlock two
// appends), and the client may retry it. n must be at least the maximum
// append size.
func WithMaxBytesInFlight(n int) Option {
	return func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("esdbserver: maximum bytes in flight must be positive, got %d", n)
		}
		o.maxInFlight = n
		return nil
	}
}

// loadTLS loads the certificate pair named by WithTLS, if any.
func (o *options) loadTLS() (*tls.Config, error) {
	if o.certFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(o.certFile, o.keyFile)
	if err != nil {
		return nil, fmt.Errorf("esdbserver: load TLS certificate: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}
