package eventstore

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// A Driver opens Stores for one URL scheme. Backends register theirs with
// Register in an init function, as database/sql drivers do.
type Driver interface {
	// Open opens the store a URL names; url is the whole string given to
	// Open, scheme included.
	Open(ctx context.Context, url string) (Store, error)
}

// DriverFunc adapts a function to the Driver interface.
type DriverFunc func(ctx context.Context, url string) (Store, error)

// Open calls f.
func (f DriverFunc) Open(ctx context.Context, url string) (Store, error) { return f(ctx, url) }

// DefaultURL is the store Open uses for an empty URL: the embedded store in
// ./chronicle.db.
const DefaultURL = "sqlite://chronicle.db"

var (
	driversMu sync.RWMutex
	drivers   = map[string]Driver{}
)

// Register makes a driver available under a URL scheme ("memory", "sqlite",
// "esdb"). It panics if d is nil or the scheme is taken.
func Register(scheme string, d Driver) {
	driversMu.Lock()
	defer driversMu.Unlock()
	if d == nil {
		panic("eventstore: Register driver is nil")
	}
	if _, dup := drivers[scheme]; dup {
		panic("eventstore: Register called twice for scheme " + scheme)
	}
	drivers[scheme] = d
}

// Drivers returns the registered schemes, sorted.
func Drivers() []string {
	driversMu.RLock()
	defer driversMu.RUnlock()
	out := make([]string, 0, len(drivers))
	for s := range drivers {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Open opens a store by URL: "memory:", "sqlite:///var/lib/app/events.db",
// "sqlite://events.db" (relative), "esdb://localhost:2113?tls=false", … The
// empty URL means DefaultURL. The backend's package must be imported (often
// blank: import _ "github.com/chronicle-go/chronicle/eventstore/sqlite").
func Open(ctx context.Context, url string) (Store, error) {
	if url == "" {
		url = DefaultURL
	}
	scheme, _, ok := strings.Cut(url, ":")
	if !ok || scheme == "" {
		return nil, fmt.Errorf("%w: %q has no scheme (want e.g. memory:, sqlite://file.db, esdb://host:2113)", ErrUnknownDriver, url)
	}
	driversMu.RLock()
	d, ok := drivers[strings.ToLower(scheme)]
	driversMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %q (registered: %s; forgotten import of the backend package?)", ErrUnknownDriver, scheme, strings.Join(Drivers(), ", "))
	}
	return d.Open(ctx, url)
}
