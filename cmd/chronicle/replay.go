package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/chronicle-go/chronicle/eventstore"
)

// newReplayCmd returns `chronicle replay`: copy a stream or a range of $all
// into another store.
func newReplayCmd() *cobra.Command {
	var (
		sel    selection
		to     string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "replay --to URL [STREAM | --all]",
		Short: "Copy a stream or a range of $all into another store",
		Long: `replay copies a stream, or a range of $all, from --store into the store at
--to, for example a production stream into a local embedded store to debug
it. Events keep their IDs, types, content types, data and metadata; each
stream is appended with the source's revisions as expected revisions, so
running the same replay again writes nothing new. Metadata streams
($$<stream>) are applied as stream metadata; other system streams and
tombstones are skipped. A progress bar goes to stderr when it is a terminal;
a summary goes to stdout (one JSON object with --json).`,
		Example: `  chronicle replay --store esdb://prod:2113 --to sqlite://debug.db order-42
  chronicle replay --store sqlite://prod.db --to sqlite://slice.db --all --from-position C:1000/P:1000 --to-position C:2000/P:2000`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := sel.prepare(cmd, args, ""); err != nil {
				return err
			}
			if to == "" {
				return usagef("replay: --to URL is required (the store to copy into)")
			}
			src, err := openStore(cmd, "replay")
			if err != nil {
				return err
			}
			defer src.Close()
			dst, err := eventstore.Open(cmd.Context(), to)
			if err != nil {
				return fmt.Errorf("replay: open --to store: %w", err)
			}
			defer dst.Close()
			c := newCopier(dst, sel.meter(cmd.Context(), src, cmd.ErrOrStderr(), "replay"))
			err = replay(cmd, &sel, src, c)
			c.summary(cmd.OutOrStdout(), asJSON, err)
			return err
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "URL of the store to copy into (required)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the summary as one JSON object")
	sel.addAllFlag(cmd)
	sel.addRangeFlags(cmd)
	sel.addFilterFlags(cmd)
	return cmd
}

func replay(cmd *cobra.Command, sel *selection, src eventstore.Store, c *copier) error {
	ctx := cmd.Context()
	for e, err := range sel.read(ctx, src) {
		if err != nil {
			return err
		}
		if err := c.add(ctx, e); err != nil {
			return fmt.Errorf("replay: %w", err)
		}
	}
	if err := c.flush(ctx); err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	return nil
}
