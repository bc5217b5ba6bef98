package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/schema"
)

// newValidateCmd returns `chronicle validate`: events checked against the
// schemas published in the store.
func newValidateCmd() *cobra.Command {
	var (
		sel          selection
		schemaStream string
	)
	cmd := &cobra.Command{
		Use:   "validate [STREAM | --all]",
		Short: "Validate events against the schemas published in the store",
		Long: `validate loads the JSON Schemas published in the store's schema stream (see
schema.Registry.Publish) and checks every event of a stream, or of $all,
against the schema of its type and version (the schemaVersion in its
metadata; 1 when absent). It reports each invalid event with its
violations, and each event whose type or version has no published schema.
System events, the schema stream and non-JSON events are not checked. It
exits with status 1 when an event is invalid.`,
		Example: `  chronicle validate order-42
  chronicle validate --all --stream-prefix order-`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := sel.prepare(cmd, args, ""); err != nil {
				return err
			}
			store, err := openStore(cmd, "validate")
			if err != nil {
				return err
			}
			defer store.Close()
			reg, err := schema.NewRegistry(schema.WithSchemaStream(schemaStream))
			if err != nil {
				return fmt.Errorf("validate: %w", err)
			}
			if err := reg.Load(cmd.Context(), store); err != nil {
				return fmt.Errorf("validate: load schemas: %w", err)
			}
			out := bufio.NewWriter(cmd.OutOrStdout())
			defer out.Flush()
			return validate(cmd, &sel, store, reg, schemaStream, out)
		},
	}
	cmd.Flags().StringVar(&schemaStream, "schema-stream", schema.DefaultSchemaStream, "the stream the schemas are published to")
	sel.addAllFlag(cmd)
	sel.addRangeFlags(cmd)
	sel.addFilterFlags(cmd)
	return cmd
}

// validation counts what validate found.
type validation struct {
	checked, invalid, unknown, unchecked int
}

func validate(cmd *cobra.Command, sel *selection, store eventstore.Store, reg *schema.Registry, schemaStream string, out io.Writer) error {
	var v validation
	for e, err := range sel.read(cmd.Context(), store) {
		if err != nil {
			return err
		}
		if eventstore.IsSystemStream(e.Stream) || eventstore.IsSystemStream(e.Type) || e.Stream == schemaStream {
			continue
		}
		if !e.IsJSON() && e.ContentType != "" {
			v.unchecked++
			continue
		}
		v.checked++
		v.check(out, reg, &e)
	}
	fmt.Fprintf(out, "%d events checked: %d valid, %d invalid, %d of unknown type or version; %d not JSON, not checked\n",
		v.checked, v.checked-v.invalid-v.unknown, v.invalid, v.unknown, v.unchecked)
	if v.invalid > 0 {
		return fmt.Errorf("validate: %d of %d events are invalid", v.invalid, v.checked)
	}
	return nil
}

// check validates one event and reports a problem on out.
func (v *validation) check(out io.Writer, reg *schema.Registry, e *eventstore.RecordedEvent) {
	var md schema.Metadata
	err := md.UnmarshalJSON(e.Metadata)
	version := max(md.SchemaVersion, 1)
	if err == nil {
		err = reg.Validate(e.Type, version, e.Data)
	}
	if err == nil {
		return
	}
	fmt.Fprintf(out, "%s@%d %s v%d (id %s, position %s): ", e.Stream, e.Revision, e.Type, version, e.ID, e.Position)
	var ve *schema.ValidationError
	switch {
	case errors.As(err, &ve):
		v.invalid++
		fmt.Fprintln(out, "invalid")
		for _, viol := range ve.Violations {
			fmt.Fprintf(out, "    %s\n", viol)
		}
	case errors.Is(err, schema.ErrUnknownType), errors.Is(err, schema.ErrUnknownVersion):
		v.unknown++
		fmt.Fprintln(out, "no schema:", err)
	default: // malformed data or metadata
		v.invalid++
		fmt.Fprintln(out, "invalid:", err)
	}
}
