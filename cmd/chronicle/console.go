package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/chronicle-go/chronicle/console"
	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/sqlite"
)

// defaultConsoleAddr is where `chronicle console` listens: loopback only.
const defaultConsoleAddr = "127.0.0.1:8088"

// newConsoleCmd returns `chronicle console`: the web console over a store,
// until SIGINT or SIGTERM.
func newConsoleCmd() *cobra.Command {
	var (
		addr    string
		actions bool
		asJSON  bool
		sql     sqlFlags
	)
	cmd := &cobra.Command{
		Use:   "console",
		Short: "Browse a store in a web console: streams, events, live events, sagas, projections, breakers",
		Long: `Serve the web console over the store given by --store (default: the embedded
store) on --addr (default ` + defaultConsoleAddr + `, loopback only). Open the URL it
prints in a browser. It serves until SIGINT or SIGTERM.

The console renders events through the schemas published to the store
(chronicle-schemas) and shows whether each one is valid; time travel needs the
service's Go types, so it is available when a service mounts the console
itself (package console, WithAggregate). --sqlite DIR and --postgres URL add
the projections those SQL targets keep.

It is read-only unless --actions is given: then it can replay a projection's
parked events and retry or skip the failed compensation of a saga, each by
recording a request that the service's runners and engines carry out. An
embedded store a service has open for writing is opened read-only (without
--actions); to act on it, go through the service, or serve its store
(chronicle serve) and point --store at that.

The console has no login: keep it on loopback, or put it behind an
authenticating proxy.

With --json, stdout gets one JSON object when serving starts
({"event":"serving","store":…,"url":…,"actions":…}) and one when it stops.`,
		Example: `  chronicle console
  chronicle console --store sqlite:///var/lib/app/events.db --sqlite /var/lib/app/projections
  chronicle console --store esdb://localhost:2113?tls=false --addr 127.0.0.1:9000 --actions`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runConsole(cmd, addr, actions, asJSON, &sql)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", defaultConsoleAddr, "address to listen on (host:port)")
	cmd.Flags().BoolVar(&actions, "actions", false, "enable actions: replay parked events, retry or skip saga compensations")
	cmd.Flags().BoolVar(&asJSON, "json", false, "JSON on stdout (start and stop)")
	sql.add(cmd)
	return cmd
}

func runConsole(cmd *cobra.Command, addr string, actions, asJSON bool, sql *sqlFlags) error {
	const op = "console"
	ctx := cmd.Context()
	var (
		store eventstore.Store
		err   error
	)
	if actions {
		store, err = openStore(cmd, op)
		if errors.Is(err, sqlite.ErrLocked) {
			return fmt.Errorf("%w\nThe embedded store is open for writing by another process: without --actions the console opens it read-only; "+
				"for actions, serve its store (chronicle serve) and point --store at that esdb:// address", err)
		}
	} else {
		store, err = openReading(cmd, op)
	}
	if err != nil {
		return err
	}
	defer store.Close()
	sources, closeTargets, err := sql.open(cmd, op)
	defer closeTargets()
	if err != nil {
		return err
	}
	opts := []console.Option{console.WithLogger(slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil)))}
	if actions {
		opts = append(opts, console.WithActions())
	}
	for _, src := range sources {
		if t, ok := src.(targetSource); ok {
			opts = append(opts, console.WithTarget(t.name, t.t))
		}
	}
	h, err := console.New(store, opts...)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()

	storeURL, _ := cmd.Flags().GetString("store")
	if storeURL == "" {
		storeURL = eventstore.DefaultURL
	}
	link := "http://" + ln.Addr().String() + "/"
	out := cmd.OutOrStdout()
	if asJSON {
		if err := writeJSONLine(out, map[string]any{"event": "serving", "store": storeURL, "url": link, "actions": actions}); err != nil {
			return err
		}
	} else {
		mode := "read-only"
		if actions {
			mode = "actions enabled"
		}
		fmt.Fprintf(out, "Console for %s (%s) on %s\nPress Ctrl+C to stop.\n", storeURL, mode, link)
	}
	select {
	case err := <-done:
		return fmt.Errorf("%s: %w", op, err)
	case <-ctx.Done():
	}
	// Live pages hold connections open: give requests a moment, then close.
	shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		_ = srv.Close()
	}
	if asJSON {
		return writeJSONLine(out, map[string]string{"event": "stopped"})
	}
	fmt.Fprintln(out, "Stopped.")
	return nil
}
