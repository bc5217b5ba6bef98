package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/chronicle-go/chronicle/cmd/chronicle/internal/bench"
)

func newBenchCmd() *cobra.Command {
	var (
		asJSON, quick, force, throughServer bool
		pgURL                               string
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure a store: fsync, appends, reads, subscriptions, size",
		Long: `bench measures, in one run, the disk's fsync rate beside the store, durable
appends (1 writer, 32 writers, batches of 100), durable saga steps (three-step
sagas, 32 at once, beside the 32-writer append rate), reading a 100 000-event
stream and 1 000 000 events of $all (each beside the SQLite engine's own scan
of the same rows: read_stream_vs_raw, read_all_vs_raw; and the $all read's
heap allocations per event, read_all_allocs_per_event), loading one
10 000-event aggregate (five times) through aggregate.Repository with the
registry's decoding (aggregate_load_events_per_s, and
aggregate_load_vs_read_stream; beside encoding/json.Unmarshal of the same
events alone, aggregate_decode_events_per_s, the floor of such a load), the
catch-up of a projection over the same $all into an in-memory read model
(projection.Runner, in-memory checkpoints; and its ratio to the plain $all
read), and into SQL read models
with the checkpoint in the same transaction — projection/sqlite beside the
store, projection/postgres with --postgres URL — each with its ratio to plain
batched inserts of the same rows, the SQLite engine's own scan speed (SQLite
stores only), live-subscription latency and the bytes each event takes on
disk.

With --through-server it also serves the same store with the EventStoreDB
protocol server (esdbserver) on a loopback port of the same process and
measures through the official v4 client what it measured in process: the
appends (1 writer, 32 writers, batches of 100), the stream and $all reads
and the live-subscription latency (server_* keys, each with its
*_vs_inprocess ratio: the figure through the server divided by the one in
process; for latency, how many times longer). Reads and appends go through
eventstore/esdb, the Store over the client, as an application would; the
*_client_* reads use the client's own Recv loop, without that layer. To
show the limit the client itself sets, a trivial gRPC server that only
streams byte-for-byte copies of the server's own $all messages is read by
the same client (trivial_server_read_all_events_per_s), and
server_read_all_vs_trivial_server divides by it; likewise the appends are
repeated against a trivial server that receives them and answers success
without storing anything (trivial_server_append_*), and each
server_append_*_vs_trivial_server divides by the same append there.

Without --store it uses a new SQLite file in a temporary directory, removed
afterwards. With --store it refuses a store that already holds events unless
--force; it writes streams named bench-<run>-… (and the sagas'
chronicle-saga-bench_<run>-…) into the store and deletes them afterwards (a
soft delete: they read as not found; their space is reclaimed when the store
compacts or scavenges).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sizes := bench.Full
			if quick {
				sizes = bench.Quick
			}
			store, _ := cmd.Flags().GetString("store")
			res, err := bench.Run(cmd.Context(), bench.Options{URL: store, Sizes: sizes, Progress: cmd.ErrOrStderr(), Force: force, Postgres: pgURL,
				ThroughServer: throughServer})
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(res) // one object, one line
			}
			_, err = fmt.Fprint(cmd.OutOrStdout(), res.Table())
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object (one line) instead of a table")
	cmd.Flags().BoolVar(&force, "force", false, "with --store: write into a store that already holds events")
	cmd.Flags().BoolVar(&quick, "quick", false, "smaller sizes: ends within a minute on two cores")
	cmd.Flags().BoolVar(&throughServer, "through-server", false, "also measure reads, appends and subscriptions through the EventStoreDB protocol server (esdbserver on a loopback port, the official client)")
	cmd.Flags().StringVar(&pgURL, "postgres", "", "also measure projection/postgres in this PostgreSQL database (postgres://…; schemas of the run are dropped at the end)")
	return cmd
}
