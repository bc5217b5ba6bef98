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
		sel                     selection
		fromStart, asJSON, full bool
	)
	cmd := &cobra.Command{
		Use:   "tail [STREAM]",
		Short: "Print a stream's or $all's events live, as they are appended",
		Long: `tail subscribes to a stream, or to $all when no STREAM is given (optionally
filtered), and prints events as they are appended, until Ctrl+C. It starts at
the end unless --from-start; it prints "caught up" once the events that
existed are printed (on stderr with --json, whose output holds only events).`,
		Example: `  chronicle tail
  chronicle tail --type-prefix Order --json
  chronicle tail order-42 --from-start`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := sel.prepare(cmd, args, eventstore.AllStream); err != nil {
				return err
			}
			store, err := openStore(cmd, "tail")
			if err != nil {
				return err
			}
			defer store.Close()
			p := newPrinter(cmd.OutOrStdout(), asJSON, full, sel.isAll())
			return tail(cmd.Context(), cmd, &sel, store, p, fromStart)
		},
	}
	cmd.Flags().BoolVar(&fromStart, "from-start", false, "print the existing events first")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON Lines instead of a table")
	cmd.Flags().BoolVar(&full, "full", false, "print data in full in the table")
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
