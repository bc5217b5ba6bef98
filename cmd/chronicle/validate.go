package main

import (
	"bufio"
	"context"
	"encoding/json"
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
		asJSON       bool
		includeFrame bool
	)
	cmd := &cobra.Command{
		Use:   "validate [STREAM | --all]",
		Short: "Validate events against the schemas published in the store",
		Long: `validate loads the JSON Schemas published in the store's schema stream (see
schema.Registry.Publish) and checks every event of a stream, or of $all,
against the schema of its type and version (the schemaVersion in its
metadata; 1 when absent). It reports each invalid event with its
violations, and each event whose type or version has no published schema.
System events, non-JSON events and Chronicle's own streams (the "chronicle"
category: schemas, snapshots, breakers, checkpoints, parked events, sagas)
are not checked unless --include-framework is given. It exits with status 1 when an event
is invalid. With --json it prints one JSON object per problem event
({"kind":"event",…}) and a last one with the counts ({"kind":"summary",…}).
A progress bar goes to stderr when it is a terminal.`,
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
			v := validation{json: asJSON, schemaStream: schemaStream, includeFramework: includeFrame}
			return v.run(cmd, &sel, store, reg, out)
		},
	}
	cmd.Flags().StringVar(&schemaStream, "schema-stream", schema.DefaultSchemaStream, "the stream the schemas are published to")
	cmd.Flags().BoolVar(&includeFrame, "include-framework", false, "also check Chronicle's own streams (category \"chronicle\")")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON Lines: one object per problem event, then a summary")
	sel.addAllFlag(cmd)
	sel.addRangeFlags(cmd)
	sel.addFilterFlags(cmd)
	return cmd
}

// validation counts what validate found.
type validation struct {
	json             bool
	schemaStream     string
	includeFramework bool

	checked, invalid, unknown, unchecked, framework int
}

// frameworkStream reports whether stream is one of Chronicle's own: the
// schema stream, snapshots, breaker state. Their events are not domain
// events.
func frameworkStream(stream, schemaStream string) bool {
	return stream == schemaStream || eventstore.IsFrameworkStream(stream)
}

// loadSchemas returns a registry of the schemas published to stream in st,
// or nil when none are (or their stream cannot be read: then it warns on
// errOut and events are shown as stored).
func loadSchemas(ctx context.Context, st eventstore.Store, stream string, errOut io.Writer) *schema.Registry {
	reg, err := schema.NewRegistry(schema.WithSchemaStream(stream))
	if err == nil {
		err = reg.Load(ctx, st)
	}
	if err != nil {
		fmt.Fprintf(errOut, "chronicle: published schemas not used: %v\n", err)
		return nil
	}
	if len(reg.Schemas()) == 0 {
		return nil
	}
	return reg
}

func (v *validation) run(cmd *cobra.Command, sel *selection, store eventstore.Store, reg *schema.Registry, out io.Writer) error {
	m := sel.meter(cmd.Context(), store, cmd.ErrOrStderr(), "validate")
	for e, err := range sel.read(cmd.Context(), store) {
		if err != nil {
			m.done()
			return err
		}
		m.event(&e)
		switch {
		case eventstore.IsSystemStream(e.Stream) || eventstore.IsSystemStream(e.Type):
			continue
		case e.Stream == v.schemaStream || (!v.includeFramework && frameworkStream(e.Stream, v.schemaStream)):
			v.framework++
			continue
		case !e.IsJSON() && e.ContentType != "":
			v.unchecked++
			continue
		}
		v.checked++
		v.check(out, reg, &e)
	}
	m.done()
	if v.json {
		_ = json.NewEncoder(out).Encode(map[string]any{
			"kind": "summary", "checked": v.checked, "valid": v.checked - v.invalid - v.unknown, "invalid": v.invalid,
			"unknown": v.unknown, "notJSON": v.unchecked, "framework": v.framework,
		})
	} else {
		fmt.Fprintf(out, "%d events checked: %d valid, %d invalid, %d of unknown type or version; %d not JSON and %d of the framework's streams, not checked\n",
			v.checked, v.checked-v.invalid-v.unknown, v.invalid, v.unknown, v.unchecked, v.framework)
	}
	if v.invalid > 0 {
		return fmt.Errorf("validate: %d of %d events are invalid", v.invalid, v.checked)
	}
	return nil
}

// problem is one line of validate --json.
type problem struct {
	Kind       string      `json:"kind"` // "event"
	Stream     string      `json:"stream"`
	Revision   uint64      `json:"revision"`
	ID         string      `json:"id"`
	Position   string      `json:"position"`
	Type       string      `json:"type"`
	Version    int         `json:"version"`
	Status     string      `json:"status"` // "invalid" or "unknown"
	Violations []violation `json:"violations,omitempty"`
	Error      string      `json:"error,omitempty"`
}

type violation struct {
	Pointer string `json:"pointer"`
	Keyword string `json:"keyword"`
	Message string `json:"message"`
}

// verdict is what the published schemas say of one event.
type verdict struct {
	version    int    // the event's schema version (1 without one)
	status     string // "valid", "invalid" or "unknown" (no schema)
	violations []schema.Violation
	err        error // why it is invalid or unknown, when not violations
}

// judge validates e against the schema of its type and version in reg.
func judge(reg *schema.Registry, e *eventstore.RecordedEvent) verdict {
	var md schema.Metadata
	err := md.UnmarshalJSON(e.Metadata)
	v := verdict{version: max(md.SchemaVersion, 1), status: "valid"}
	if err == nil {
		err = reg.Validate(e.Type, v.version, e.Data)
	}
	var ve *schema.ValidationError
	switch {
	case err == nil:
	case errors.As(err, &ve):
		v.status, v.violations = "invalid", ve.Violations
	case errors.Is(err, schema.ErrUnknownType), errors.Is(err, schema.ErrUnknownVersion):
		v.status, v.err = "unknown", err
	default: // malformed data or metadata
		v.status, v.err = "invalid", err
	}
	return v
}

func (v verdict) jsonViolations() []violation {
	var out []violation
	for _, viol := range v.violations {
		out = append(out, violation{viol.Pointer, viol.Keyword, viol.Message})
	}
	return out
}

// check validates one event and reports a problem on out.
func (v *validation) check(out io.Writer, reg *schema.Registry, e *eventstore.RecordedEvent) {
	j := judge(reg, e)
	switch j.status {
	case "valid":
		return
	case "unknown":
		v.unknown++
	default:
		v.invalid++
	}
	if v.json {
		p := problem{Kind: "event", Stream: e.Stream, Revision: e.Revision, ID: e.ID.String(), Position: e.Position.String(),
			Type: e.Type, Version: j.version, Status: j.status, Violations: j.jsonViolations()}
		if j.err != nil {
			p.Error = j.err.Error()
		}
		_ = json.NewEncoder(out).Encode(p)
		return
	}
	fmt.Fprintf(out, "%s@%d %s v%d (id %s, position %s): ", e.Stream, e.Revision, e.Type, j.version, e.ID, e.Position)
	switch {
	case j.violations != nil:
		fmt.Fprintln(out, "invalid")
		for _, viol := range j.violations {
			fmt.Fprintf(out, "    %s\n", viol)
		}
	case j.status == "unknown":
		fmt.Fprintln(out, "no schema:", j.err)
	default:
		fmt.Fprintln(out, "invalid:", j.err)
	}
}
