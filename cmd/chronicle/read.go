package main

import (
	"github.com/spf13/cobra"
)

// newReadCmd returns `chronicle read`: a stream or $all, as a table or JSON
// Lines.
func newReadCmd() *cobra.Command {
	var (
		sel          selection
		asJSON, full bool
	)
	cmd := &cobra.Command{
		Use:   "read STREAM",
		Short: "Read a stream or $all",
		Long: `read prints the events of a stream, or of $all (every stream in position
order), as a table: revision, position, created, type and data (cut short
unless --full). With --json it prints JSON Lines, one object per event with
every field: data as JSON when the content type is JSON, base64 otherwise.

A stream read starts at --from (a revision, inclusive); a $all read at
--from-position and may be filtered.`,
		Example: `  chronicle read order-42
  chronicle read order-42 --backwards --count 5
  chronicle read '$all' --stream-prefix order- --exclude-system --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := sel.prepare(cmd, args, ""); err != nil {
				return err
			}
			return printEvents(cmd, &sel, newPrinter(cmd.OutOrStdout(), asJSON, full, sel.isAll()))
		},
	}
	cmd.Flags().Uint64Var(&sel.from, "from", 0, "stream: start at this revision (inclusive)")
	cmd.Flags().BoolVar(&sel.backwards, "backwards", false, "read from the end towards the start")
	cmd.Flags().Uint64Var(&sel.count, "count", 0, "print at most this many events (0: all)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON Lines instead of a table")
	cmd.Flags().BoolVar(&full, "full", false, "print data in full in the table")
	sel.addRangeFlags(cmd)
	sel.addFilterFlags(cmd)
	return cmd
}

// printEvents opens the store and prints the selected events.
func printEvents(cmd *cobra.Command, sel *selection, p *printer) error {
	store, err := openStore(cmd, sel.op)
	if err != nil {
		return err
	}
	defer store.Close()
	for e, err := range sel.read(cmd.Context(), store) {
		if err != nil {
			p.flush()
			return err
		}
		if err := p.event(&e); err != nil {
			return err
		}
	}
	return p.flush()
}
