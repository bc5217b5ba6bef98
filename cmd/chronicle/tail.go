package main

import (
	"context"
	"errors"

	"github.com/spf13/cobra"

	"github.com/chronicle-go/chronicle/eventstore"
)

// newTailCmd returns `chronicle tail`: a live subscription printed as events
// arrive, until SIGINT.
func newTailCmd() *cobra.Command {
	var (
		sel                          selection
		fromStart, asJSON, full, raw bool
		schemaStream                 string
	)
	cmd := &cobra.Command{
		Use:   "tail [STREAM]",
		Short: "Print a stream's or $all's events live, as they are appended",
		Long: `tail subscribes to a stream, or to $all when no STREAM is given (optionally
filtered), and prints events as they are appended, until Ctrl+C. It starts at
the end unless --from-start, or --from-position P ($all) / --from R (a stream)
to resume after the last event a previous tail printed (exclusive: P or R
itself is not printed again). It prints "caught up" once the events that
existed are printed (on stderr with --json, whose output holds only events).
Events are shown through the published schemas as read shows them, unless
--raw.`,
		Example: `  chronicle tail
  chronicle tail --type-prefix Order --json
  chronicle tail order-42 --from-start
  chronicle tail --from-position C:1200/P:1200 --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := sel.prepare(cmd, args, eventstore.AllStream); err != nil {
				return err
			}
			if fromStart && (sel.changed("from-position") || sel.changed("from")) {
				return usagef("tail: give --from-start or a position to resume from, not both")
			}
			store, err := openStore(cmd, "tail")
			if err != nil {
				return err
			}
			defer store.Close()
			p := newPrinter(cmd.OutOrStdout(), asJSON, full, sel.isAll())
			if !raw {
				p.schemas, p.schemaStream = loadSchemas(cmd.Context(), store, schemaStream, cmd.ErrOrStderr()), schemaStream
			}
			return tail(cmd.Context(), cmd, &sel, store, p, fromStart)
		},
	}
	cmd.Flags().BoolVar(&fromStart, "from-start", false, "print the existing events first")
	cmd.Flags().StringVar(&sel.fromPos, "from-position", "", "$all: resume after this position (C:commit/P:prepare, exclusive)")
	cmd.Flags().Uint64Var(&sel.from, "from", 0, "stream: resume after this revision (exclusive)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON Lines instead of a table")
	cmd.Flags().BoolVar(&full, "full", false, "print data in full in the table")
	addSchemaFlags(cmd, &raw, &schemaStream)
	sel.addFilterFlags(cmd)
	return cmd
}

func tail(ctx context.Context, cmd *cobra.Command, sel *selection, store eventstore.Store, p *printer, fromStart bool) error {
	caughtUp := false
	for m, err := range sel.subscribe(ctx, store, fromStart) {
		if err != nil {
			p.flush()
			if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
				return nil // Ctrl+C
			}
			return err
		}
		switch m.Kind {
		case eventstore.MessageEvent:
			err = p.event(&m.Event)
		case eventstore.MessageCaughtUp:
			if !caughtUp {
				caughtUp = true
				err = p.note(cmd.ErrOrStderr(), "caught up")
			}
		}
		if err == nil {
			err = p.flush()
		}
		if err != nil {
			return err
		}
	}
	return p.flush()
}
