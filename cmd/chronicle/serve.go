package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/esdbserver"
)

// newServeCmd returns `chronicle serve`: the EventStoreDB gRPC protocol over
// any store, until SIGINT or SIGTERM.
func newServeCmd() *cobra.Command {
	var (
		addr              string
		certFile, keyFile string
		users             []string
		asJSON            bool
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve a store over the EventStoreDB gRPC protocol",
		Long: `Serve the store given by --store (default: the embedded store) over the
EventStoreDB/KurrentDB gRPC protocol, so that any EventStoreDB client (Go,
.NET, Node.js, Java, ...) or Chronicle's esdb:// backend can use it. It prints
the connection string to use and serves until SIGINT or SIGTERM, then shuts
down gracefully: live subscriptions end with Unavailable and clients resume
when a server is back.

It listens on 127.0.0.1 unless --addr says otherwise. --tls-cert and --tls-key
serve TLS; --user name:password (repeatable) requires credentials on every
call, as EventStoreDB's secure mode does (it needs TLS).

With --json, stdout gets one JSON object when serving starts
({"event":"serving","store":…,"address":…,"connectionString":…}) and one when
it stops ({"event":"stopped"}), and the server's log on stderr is JSON.`,
		Example: `  chronicle serve
  chronicle serve --store memory: --addr 127.0.0.1:2113
  chronicle serve --store sqlite:///var/lib/app/events.db --tls-cert node.crt --tls-key node.key --user admin:changeit`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// main cancels the context on SIGINT and SIGTERM.
			storeURL, _ := cmd.Flags().GetString("store")
			return runServe(cmd.Context(), cmd, storeURL, addr, certFile, keyFile, users, asJSON)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", esdbserver.DefaultAddress, "address to listen on (host:port)")
	cmd.Flags().StringVar(&certFile, "tls-cert", "", "PEM certificate file: serve TLS")
	cmd.Flags().StringVar(&keyFile, "tls-key", "", "PEM private key file of --tls-cert")
	cmd.Flags().StringArrayVar(&users, "user", nil, "name:password of a user allowed to connect (repeatable; needs TLS)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "JSON on stdout (start and stop) and a JSON log on stderr")
	return cmd
}

func runServe(ctx context.Context, cmd *cobra.Command, storeURL, addr, certFile, keyFile string, userFlags []string, asJSON bool) error {
	var logs slog.Handler = slog.NewTextHandler(cmd.ErrOrStderr(), nil)
	if asJSON {
		logs = slog.NewJSONHandler(cmd.ErrOrStderr(), nil)
	}
	opts := []esdbserver.Option{
		esdbserver.WithAddress(addr),
		esdbserver.WithLogger(slog.New(logs)),
	}
	if certFile != "" || keyFile != "" {
		opts = append(opts, esdbserver.WithTLS(certFile, keyFile))
	}
	var names []string
	if len(userFlags) > 0 {
		users := make(map[string]string, len(userFlags))
		for _, u := range userFlags {
			name, password, ok := strings.Cut(u, ":")
			if !ok || name == "" {
				return usagef("serve: --user %q: want name:password", u)
			}
			users[name] = password
			names = append(names, name)
		}
		opts = append(opts, esdbserver.WithUsers(users))
	}

	store, err := eventstore.Open(ctx, storeURL)
	if err != nil {
		return fmt.Errorf("serve: open store: %w", err)
	}
	defer store.Close()
	srv, err := esdbserver.New(store, opts...)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if err := srv.Listen(); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	conn := srv.ConnectionString()
	if len(names) > 0 {
		slices.Sort(names)
		conn = strings.Replace(conn, "esdb://", "esdb://"+names[0]+":<password>@", 1)
	}
	if storeURL == "" {
		storeURL = eventstore.DefaultURL
	}
	out := cmd.OutOrStdout()
	enc := json.NewEncoder(out)
	if asJSON {
		_ = enc.Encode(map[string]string{"event": "serving", "store": storeURL, "address": srv.Addr(), "connectionString": conn})
	} else {
		fmt.Fprintf(out, "Serving %s over the EventStoreDB protocol on %s\n", storeURL, srv.Addr())
		fmt.Fprintf(out, "Connection string: %s\n", conn)
		fmt.Fprintln(out, "Press Ctrl+C to stop.")
	}
	if err := srv.Serve(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("serve: %w", err)
	}
	if asJSON {
		return enc.Encode(map[string]string{"event": "stopped"})
	}
	fmt.Fprintln(out, "Stopped.")
	return nil
}
