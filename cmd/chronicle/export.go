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
	var (
		sel    selection
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "export [STREAM | --all]",
		Short: "Write a stream or $all as JSON Lines",
		Long: `export writes the events of a stream, or of $all, to standard output as JSON
Lines, the format of read --json; import reads it back. Exporting $all
includes the metadata streams, which import applies. Its output is always
JSON Lines (--json is accepted for uniformity). A progress bar goes to stderr
when it is a terminal.`,
		Example: `  chronicle export order-42 > order-42.jsonl
  chronicle export --all --store sqlite://prod.db > all.jsonl`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := sel.prepare(cmd, args, ""); err != nil {
				return err
			}
			_ = asJSON // the output is JSON Lines either way
			return printEvents(cmd, &sel, newPrinter(cmd.OutOrStdout(), true, true, true), "export", "")
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "accepted for uniformity: export always writes JSON Lines")
	sel.addAllFlag(cmd)
	sel.addRangeFlags(cmd)
	sel.addFilterFlags(cmd)
	return cmd
}

// newImportCmd returns `chronicle import`: JSON Lines into a store.
func newImportCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "import [FILE]",
		Short: "Append events from JSON Lines (the format of export)",
		Long: `import reads JSON Lines as export writes them, from FILE or standard input,
and appends the events to their streams keeping their IDs, types, content
types, data and metadata. Appends expect the exported revisions, so importing
the same file again writes nothing. Events of metadata streams ($$<stream>)
set the stream's metadata; other system streams are skipped.

import stops at the first bad line; the lines before it may have been
written, and importing again after fixing the file is safe. A progress bar
(bytes read) goes to stderr when it is a terminal; a summary to stdout (one
JSON object with --json).`,
		Example: `  chronicle import --store sqlite://debug.db < order-42.jsonl`,
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in := cmd.InOrStdin()
			size := int64(-1)
			if len(args) == 1 && args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return fmt.Errorf("import: %w", err)
				}
				defer f.Close()
				if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
					size = fi.Size()
				}
				in = f
			}
			store, err := openStore(cmd, "import")
			if err != nil {
				return err
			}
			defer store.Close()
			m := newMeter(cmd.ErrOrStderr(), "import", size, true)
			c := newCopier(store, &meter{}) // the meter counts bytes read
			err = importLines(cmd, io.TeeReader(in, m), c)
			if err == nil {
				err = c.flush(cmd.Context())
			}
			m.done()
			c.summary(cmd.OutOrStdout(), asJSON, err)
			if err != nil {
				return fmt.Errorf("import: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the summary as one JSON object")
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
