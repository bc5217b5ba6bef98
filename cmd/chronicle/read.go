package main

import (
	"github.com/spf13/cobra"

	"github.com/chronicle-go/chronicle/schema"
)

// newReadCmd returns `chronicle read`: a stream or $all, as a table or JSON
// Lines.
func newReadCmd() *cobra.Command {
	var (
		sel               selection
		asJSON, full, raw bool
		schemaStream      string
	)
	cmd := &cobra.Command{
		Use:   "read STREAM",
		Short: "Read a stream or $all",
		Long: `read prints the events of a stream, or of $all (every stream in position
order), as a table: revision, position, created, type and data (cut short
unless --full). With --json it prints JSON Lines, one object per event with
every field: data as JSON when the content type is JSON, base64 otherwise.

A stream read starts at --from (a revision, inclusive); a $all read at
--from-position and may be filtered.

Events are shown through the schemas published in the store (see
schema.Registry.Publish; --schema-stream): the table shows each JSON event's
type with its schema version and flags an event its schema rejects, and JSON
Lines gain "schemaVersion", "schema" (valid, invalid or unknown) and
"violations". Old versions are not upcast: upcasters are code, and only
schemas are published. --raw shows events exactly as stored.`,
		Example: `  chronicle read order-42
  chronicle read order-42 --backwards --count 5
  chronicle read '$all' --stream-prefix order- --exclude-system --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := sel.prepare(cmd, args, ""); err != nil {
				return err
			}
			if raw {
				schemaStream = ""
			}
			return printEvents(cmd, &sel, newPrinter(cmd.OutOrStdout(), asJSON, full, sel.isAll()), "", schemaStream)
		},
	}
	cmd.Flags().Uint64Var(&sel.from, "from", 0, "stream: start at this revision (inclusive)")
	cmd.Flags().BoolVar(&sel.backwards, "backwards", false, "read from the end towards the start")
	cmd.Flags().Uint64Var(&sel.count, "count", 0, "print at most this many events (0: all)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON Lines instead of a table")
	cmd.Flags().BoolVar(&full, "full", false, "print data in full in the table")
	addSchemaFlags(cmd, &raw, &schemaStream)
	sel.addRangeFlags(cmd)
	sel.addFilterFlags(cmd)
	return cmd
}

// addSchemaFlags adds --raw and --schema-stream.
func addSchemaFlags(cmd *cobra.Command, raw *bool, schemaStream *string) {
	cmd.Flags().BoolVar(raw, "raw", false, "show events as stored, without the published schemas")
	cmd.Flags().StringVar(schemaStream, "schema-stream", schema.DefaultSchemaStream, "the stream the schemas are published to")
}

// printEvents opens the store and prints the selected events, with a
// progress bar labelled progress on a terminal's stderr (none when
// progress is ""), through the schemas published to schemaStream (none
// when it is "").
func printEvents(cmd *cobra.Command, sel *selection, p *printer, progress, schemaStream string) error {
	store, err := openStore(cmd, sel.op)
	if err != nil {
		return err
	}
	defer store.Close()
	if schemaStream != "" {
		p.schemas, p.schemaStream = loadSchemas(cmd.Context(), store, schemaStream, cmd.ErrOrStderr()), schemaStream
	}
	m := &meter{}
	if progress != "" {
		m = sel.meter(cmd.Context(), store, cmd.ErrOrStderr(), progress)
	}
	defer m.done()
	for e, err := range sel.read(cmd.Context(), store) {
		if err != nil {
			p.flush()
			return err
		}
		if err := p.event(&e); err != nil {
			return err
		}
		m.event(&e)
	}
	return p.flush()
}
