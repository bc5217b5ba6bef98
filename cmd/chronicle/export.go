package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// newExportCmd returns `chronicle export`: a stream or $all as JSON Lines.
func newExportCmd() *cobra.Command {
	var sel selection
	cmd := &cobra.Command{
		Use:   "export [STREAM | --all]",
		Short: "Write a stream or $all as JSON Lines",
		Long: `export writes the events of a stream, or of $all, to standard output as JSON
Lines, the format of read --json; import reads it back. Exporting $all
includes the metadata streams, which import applies.`,
		Example: `  chronicle export order-42 > order-42.jsonl
  chronicle export --all --store sqlite://prod.db > all.jsonl`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := sel.prepare(cmd, args, ""); err != nil {
				return err
			}
			return printEvents(cmd, &sel, newPrinter(cmd.OutOrStdout(), true, true, true))
		},
	}
	sel.addAllFlag(cmd)
	sel.addRangeFlags(cmd)
	sel.addFilterFlags(cmd)
	return cmd
}

// newImportCmd returns `chronicle import`: JSON Lines into a store.
func newImportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import [FILE]",
		Short: "Append events from JSON Lines (the format of export)",
		Long: `import reads JSON Lines as export writes them, from FILE or standard input,
and appends the events to their streams keeping their IDs, types, content
types, data and metadata. Appends expect the exported revisions, so importing
the same file again writes nothing. Events of metadata streams ($$<stream>)
set the stream's metadata; other system streams are skipped.

import stops at the first bad line; the lines before it may have been
written, and importing again after fixing the file is safe.`,
		Example: `  chronicle import --store sqlite://debug.db < order-42.jsonl`,
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in := cmd.InOrStdin()
			if len(args) == 1 && args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return fmt.Errorf("import: %w", err)
				}
				defer f.Close()
				in = f
			}
			store, err := openStore(cmd, "import")
			if err != nil {
				return err
			}
			defer store.Close()
			c := newCopier(store, cmd.ErrOrStderr(), "import")
			err = importLines(cmd, in, c)
			if err == nil {
				err = c.flush(cmd.Context())
			}
			c.summary(cmd.OutOrStdout())
			if err != nil {
				return fmt.Errorf("import: %w", err)
			}
			return nil
		},
	}
	return cmd
}

func importLines(cmd *cobra.Command, in io.Reader, c *copier) error {
	r := bufio.NewReaderSize(in, 64<<10)
	for line := 1; ; line++ {
		if err := cmd.Context().Err(); err != nil {
			return err
		}
		b, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) && len(b) == 0 {
			return nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		e, perr := parseJSONLine(b)
		if perr != nil {
			return fmt.Errorf("line %d: %w", line, perr)
		}
		if err := c.add(cmd.Context(), e); err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
	}
}
