package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/chronicle-go/chronicle/eventstore"
)

// newScavengeCmd returns `chronicle scavenge`: the store removes from its
// files the events its reads no longer show.
func newScavengeCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "scavenge",
		Short: "Remove deleted, truncated and expired events from the store's files",
		Long: `scavenge removes from the store's storage the events its reads no longer
show: those of deleted and tombstoned streams (tombstones stay), those
before a stream's $tb, beyond its $maxCount or older than its $maxAge, and
old metadata events. Surviving events keep their revisions and positions.
For a GDPR erasure, delete (or tombstone) the stream, then scavenge: the
SQLite store overwrites the removed events' bytes and truncates its log.

The SQLite store scavenges in short transactions; a service that has the
file open should call Store.Scavenge itself (this command needs the
writer lock). EventStoreDB scavenges on the server: use its own tools.`,
		Example: `  chronicle scavenge --store sqlite:///var/lib/app/events.db`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			store, err := openStore(cmd, "scavenge")
			if err != nil {
				return err
			}
			defer store.Close()
			res, err := eventstore.Scavenge(cmd.Context(), store)
			if err != nil {
				return fmt.Errorf("scavenge: %w", err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(out).Encode(map[string]int64{
					"events_removed": res.EventsRemoved, "bytes_before": res.BytesBefore,
					"bytes_after": res.BytesAfter, "free_bytes": res.FreeBytes,
				})
			}
			_, err = fmt.Fprintf(out, "events removed  %d\nbytes before    %d\nbytes after     %d\nfree for reuse  %d\n",
				res.EventsRemoved, res.BytesBefore, res.BytesAfter, res.FreeBytes)
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}
