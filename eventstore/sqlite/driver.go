package sqlite

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
)

func init() {
	eventstore.Register("sqlite", eventstore.DriverFunc(func(ctx context.Context, u string) (eventstore.Store, error) {
		path, opts, err := ParseURL(u)
		if err != nil {
			return nil, err
		}
		return Open(ctx, path, opts...)
	}))
}

// ParseURL splits a store URL into a file path and options:
//
//	sqlite:///var/lib/app/events.db    absolute path
//	sqlite://events.db                 relative to the working directory
//	sqlite:events.db                   the same
//
// Query parameters: readonly=true (or mode=ro) for ReadOnly, readers=N for
// WithReaders, checkpoint_pages=N, recent_ids=N, cached_heads=N,
// poll=<duration>, system_streams=true|false for WithSystemStreams.
func ParseURL(raw string) (path string, opts []Option, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", nil, fmt.Errorf("sqlite: parse URL: %w", err)
	}
	if !strings.EqualFold(u.Scheme, "sqlite") {
		return "", nil, fmt.Errorf("sqlite: URL %q: scheme is not sqlite", raw)
	}
	switch {
	case u.Opaque != "":
		path = u.Opaque
	default:
		path = u.Host + u.Path
	}
	if path == "" {
		return "", nil, fmt.Errorf("sqlite: URL %q names no file", raw)
	}
	for key, vals := range u.Query() {
		v := vals[len(vals)-1]
		bad := func(err error) error { return fmt.Errorf("sqlite: URL %q: %s=%q: %w", raw, key, v, err) }
		switch key {
		case "readonly":
			ro, err := strconv.ParseBool(v)
			if err != nil {
				return "", nil, bad(err)
			}
			if ro {
				opts = append(opts, ReadOnly())
			}
		case "mode":
			switch v {
			case "ro":
				opts = append(opts, ReadOnly())
			case "rw", "rwc":
			default:
				return "", nil, bad(fmt.Errorf("want ro, rw or rwc"))
			}
		case "readers", "checkpoint_pages", "recent_ids", "cached_heads":
			n, err := strconv.Atoi(v)
			if err != nil {
				return "", nil, bad(err)
			}
			opts = append(opts, map[string]func(int) Option{
				"readers": WithReaders, "checkpoint_pages": WithCheckpointPages, "recent_ids": WithRecentIDs,
				"cached_heads": WithCachedHeads,
			}[key](n))
		case "system_streams":
			on, err := strconv.ParseBool(v)
			if err != nil {
				return "", nil, bad(err)
			}
			opts = append(opts, WithSystemStreams(on))
		case "poll":
			d, err := time.ParseDuration(v)
			if err != nil {
				return "", nil, bad(err)
			}
			opts = append(opts, WithPollInterval(d))
		default:
			return "", nil, bad(fmt.Errorf("unknown parameter"))
		}
	}
	return path, opts, nil
}
