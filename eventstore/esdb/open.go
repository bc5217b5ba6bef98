package esdb

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"google.golang.org/grpc/codes"

	"github.com/chronicle-go/chronicle/eventstore"
)

func init() {
	d := eventstore.DriverFunc(func(ctx context.Context, url string) (eventstore.Store, error) {
		return Open(ctx, url)
	})
	eventstore.Register("esdb", d)
	eventstore.Register("esdb+discover", d)
}

// settings are the connection-string settings the v4 client understands,
// by lower-case name, with their documented spelling.
var settings = map[string]string{
	"tls":                 "tls",
	"tlsverifycert":       "tlsVerifyCert",
	"tlscafile":           "tlsCAFile",
	"usercertfile":        "userCertFile",
	"userkeyfile":         "userKeyFile",
	"nodepreference":      "nodePreference",
	"maxdiscoverattempts": "maxDiscoverAttempts",
	"discoveryinterval":   "discoveryInterval",
	"gossiptimeout":       "gossipTimeout",
	"keepaliveinterval":   "keepAliveInterval",
	"keepalivetimeout":    "keepAliveTimeout",
	"defaultdeadline":     "defaultDeadline",
}

// tlsOnly are the settings that mean nothing without TLS.
var tlsOnly = []string{"tlsverifycert", "tlscafile", "usercertfile", "userkeyfile"}

// Open connects to EventStoreDB or KurrentDB with a connection string,
// "esdb://[user:password@]host[:port][,host2[:port]…][?settings]" or
// "esdb+discover://…" (DNS/gossip discovery), and checks that the server
// answers (bounded by ctx and the discovery settings).
//
// Settings (names are case-insensitive): tls (default true), tlsVerifyCert,
// tlsCAFile, userCertFile + userKeyFile (X.509 user certificate),
// nodePreference (leader, follower, random, readOnlyReplica),
// maxDiscoverAttempts, discoveryInterval (ms), gossipTimeout (s),
// keepAliveInterval and keepAliveTimeout (ms, -1 disables), defaultDeadline
// (ms, for non-streaming calls). Open rejects what the client would
// silently ignore or misread: unknown or repeated settings, non-positive
// numbers, TLS settings with tls=false, unreadable certificate files. Errors
// never show the password.
//
// Unlike a Store from New, the Store keeps reconnecting whenever the server
// becomes unreachable; see Store for what is retried.
func Open(ctx context.Context, connString string, opts ...Option) (*Store, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	cfg, err := ParseConnectionString(connString)
	if err != nil {
		return nil, err
	}
	cfg.Logger = clientLogger(o.logger)
	if cfg.Username != "" && cfg.DisableTLS {
		o.logger.LogAttrs(ctx, slog.LevelWarn, "esdb: credentials in the connection string are not sent with tls=false",
			slog.String("connection", redact(connString)))
	}
	if err := checkServer(ctx, cfg); err != nil {
		return nil, fmt.Errorf("esdb: open %s: %w", redact(connString), describe(err))
	}
	// The long-lived client never gives up discovering (the v4 client
	// otherwise closes itself for good, and strands callers waiting for it);
	// the store's own probes, bounded by the string's settings, tell when an
	// unreachable server is back.
	main := *cfg
	main.MaxDiscoverAttempts = math.MaxInt32
	client, err := esdb.NewClient(&main)
	if err != nil {
		return nil, fmt.Errorf("esdb: open %s: %w", redact(connString), err)
	}
	probe := *cfg
	probe.MaxDiscoverAttempts = 1 // the store probes again, with backoff
	return newStore(client, true, &probe, o), nil
}

// ParseConnectionString parses and validates an EventStoreDB connection
// string as Open does, without connecting.
func ParseConnectionString(connString string) (*esdb.Configuration, error) {
	bad := func(format string, args ...any) error {
		msg := fmt.Sprintf(format, args...)
		if pw := password(connString); pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx") // the client quotes the string
		}
		return fmt.Errorf("esdb: connection string %s: %s", redact(connString), msg)
	}
	scheme, _, ok := strings.Cut(connString, "://")
	if !ok || (!strings.EqualFold(scheme, "esdb") && !strings.EqualFold(scheme, "esdb+discover")) {
		return nil, bad("must start with esdb:// or esdb+discover://")
	}
	_, query, _ := strings.Cut(connString, "?")
	values, err := url.ParseQuery(query)
	if err != nil {
		return nil, bad("settings: %v", err)
	}
	given := make(map[string]string, len(values)) // lower-case name → value
	for key, vs := range values {
		k := strings.ToLower(key)
		if _, ok := settings[k]; !ok {
			return nil, bad("unknown setting %q (known: %s)", key, knownSettings())
		}
		if _, dup := given[k]; dup || len(vs) > 1 {
			return nil, bad("setting %s is given %d times", settings[k], len(vs)+len(given[k]))
		}
		given[k] = vs[0]
		switch k {
		case "maxdiscoverattempts", "discoveryinterval", "gossiptimeout", "defaultdeadline":
			if n, err := strconv.Atoi(vs[0]); err != nil || n <= 0 {
				return nil, bad("%s must be a positive integer, got %q", settings[k], vs[0])
			}
		}
	}
	if v, ok := given["tls"]; ok && strings.EqualFold(v, "false") {
		for _, k := range tlsOnly {
			if _, ok := given[k]; ok {
				return nil, bad("%s needs tls=true", settings[k])
			}
		}
	}
	cfg, err := esdb.ParseConnectionString(connString)
	if err != nil {
		return nil, bad("%v", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, bad("%v", err)
	}
	if cfg.UserCertFile != "" {
		if _, err := tls.LoadX509KeyPair(cfg.UserCertFile, cfg.UserKeyFile); err != nil {
			return nil, bad("user certificate: %v", err)
		}
	}
	return cfg, nil
}

func knownSettings() string {
	names := make([]string, 0, len(settings))
	for _, n := range settings {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// userinfo splits a connection string around its user:password part.
func userinfo(connString string) (prefix, user, password, rest string, ok bool) {
	scheme, after, found := strings.Cut(connString, "://")
	if !found {
		return "", "", "", "", false
	}
	end := strings.IndexAny(after, "/?")
	if end < 0 {
		end = len(after)
	}
	at := strings.LastIndex(after[:end], "@")
	if at < 0 {
		return "", "", "", "", false
	}
	user, password, found = strings.Cut(after[:at], ":")
	return scheme + "://", user, password, after[at:], found
}

// password returns the password of a connection string ("" if none).
func password(connString string) string {
	_, _, pw, _, _ := userinfo(connString)
	return pw
}

// redact hides the password of a connection string.
func redact(connString string) string {
	prefix, user, _, rest, ok := userinfo(connString)
	if !ok {
		return connString
	}
	return prefix + user + ":xxxxx" + rest
}

// clientLogger routes the client's log lines to l at debug level: the
// client logs ordinary outcomes (a stream not found, say) as errors.
func clientLogger(l *slog.Logger) esdb.LoggingFunc {
	return func(level esdb.LogLevel, format string, args ...any) {
		ctx := context.Background()
		if !l.Enabled(ctx, slog.LevelDebug) {
			return
		}
		l.LogAttrs(ctx, slog.LevelDebug, "esdb client",
			slog.String("client_level", level), slog.String("message", fmt.Sprintf(format, args...)))
	}
}

// pingStream is the stream the store reads to see whether the server
// answers; it need not exist.
const pingStream = "$chronicle-ping"

// ping reads one event with c to see whether the server answers. Any answer
// counts except failed authentication, which it returns like a transport
// error.
func ping(ctx context.Context, c *esdb.Client) error {
	rs, err := c.ReadStream(ctx, pingStream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if err == nil {
		defer rs.Close()
		_, err = rs.Recv()
	}
	if err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	if ec, gc := codesOf(err); ec == esdb.ErrorCodeUnauthenticated || gc == codes.Unauthenticated || classify(err) == failTransport {
		return err
	}
	return nil
}

// checkServer connects a new client with cfg, discovers a node and pings
// it. The client closes afterwards, so that its giving up (after
// maxDiscoverAttempts) harms nobody.
func checkServer(ctx context.Context, cfg *esdb.Configuration) error {
	done := make(chan error, 1)
	go func() {
		c, err := esdb.NewClient(cfg)
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		if _, err := c.GetServerVersion(); err != nil {
			done <- err
			return
		}
		done <- ping(ctx, c)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errClientDead: a client given to New closed itself.
var errClientDead = errors.New("the EventStoreDB client closed itself after failing to discover a node (see maxDiscoverAttempts); create a new client and Store")

// probeServer checks whether an unreachable server is back: with a
// short-lived client first when the store has a configuration for one (so
// that the store's client never runs a discovery that cannot succeed yet),
// then with the store's client, whose first read may fail on a connection it
// has not replaced yet.
func (s *Store) probeServer(ctx context.Context) error {
	if s.probe != nil {
		if err := checkServer(ctx, s.probe); err != nil && classify(err) == failTransport {
			return err
		}
	}
	var err error
	for range 2 {
		if err = ping(ctx, s.client); err == nil || classify(err) != failTransport {
			return nil
		}
		if ec, _ := codesOf(err); ec == esdb.ErrorCodeConnectionClosed && !s.own {
			return fmt.Errorf("%w: %w", errClientDead, err)
		}
	}
	return err
}

// describe adds the contract's sentinel to an error of checkServer.
func describe(err error) error {
	switch ec, gc := codesOf(err); {
	case ec == esdb.ErrorCodeUnauthenticated || gc == codes.Unauthenticated:
		return fmt.Errorf("%w: authentication failed: %w", eventstore.ErrAccessDenied, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	return fmt.Errorf("%w: %w", eventstore.ErrUnavailable, err)
}
