package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/chronicle-go/chronicle/eventstore/sqlite"
	"github.com/chronicle-go/chronicle/saga"
)

// newSagaCmd returns `chronicle saga`: list, show, retry and skip-step.
func newSagaCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "saga",
		Short: "List and inspect sagas; retry or skip the failed compensation of one that needs attention",
		Long: `saga works on the workflows of the saga package, whose state is the fold of
their own streams (chronicle-saga-<workflow>-<id>). list and show only read.
retry and skip-step record a request (a SagaRetryRequested or SagaStepSkipped
event, appended at the saga's revision) for a saga that needs attention; the
CLI has no step code, so a running engine of the workflow (saga.Engine.Run)
carries the request out on its next pass.`,
		// Runnable, so that an unknown subcommand is a usage error rather
		// than help.
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newSagaListCmd(), newSagaShowCmd(), newSagaRetryCmd(), newSagaSkipCmd())
	return cmd
}

// sagaStatuses are the values of saga list --state.
var sagaStatuses = []saga.Status{saga.NeedsAttention, saga.Running, saga.Compensating, saga.Completed, saga.Compensated}

func newSagaListCmd() *cobra.Command {
	var (
		state, workflow string
		asJSON          bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List sagas, with their status and the step they are at",
		Long: `list prints every saga in the store, in the order they were started: workflow,
ID, status, the step it is at, when it last moved and its error. --state and
--workflow keep some. With --json it prints one JSON object per saga and line,
with the state of every step.`,
		Example: `  chronicle saga list --state needs-attention
  chronicle saga list --workflow fulfilment --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if state != "" && !slices.Contains(sagaStatuses, saga.Status(state)) {
				return usagef("saga list: --state %q: want one of %s", state, joinStatuses())
			}
			store, err := openReading(cmd, "saga list")
			if err != nil {
				return err
			}
			defer store.Close()
			out := cmd.OutOrStdout()
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			n := 0
			for st, err := range saga.List(cmd.Context(), store, workflow) {
				if err != nil {
					return fmt.Errorf("saga list: %w", err)
				}
				if state != "" && st.Status != saga.Status(state) {
					continue
				}
				if asJSON {
					if err := writeJSONLine(out, sagaObject(&st, nil)); err != nil {
						return err
					}
					continue
				}
				if n == 0 {
					fmt.Fprintln(tw, "WORKFLOW\tID\tSTATUS\tSTEP\tUPDATED\tERROR")
				}
				n++
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", st.Name, st.ID, st.Status, orDash(currentStep(&st)), stamp(st.Updated), oneLine(st.Error))
			}
			if n == 0 && !asJSON {
				_, err := fmt.Fprintln(out, "no sagas")
				return err
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&state, "state", "", "keep sagas in this status: "+joinStatuses())
	cmd.Flags().StringVar(&workflow, "workflow", "", "keep sagas of this workflow")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per saga and line")
	return cmd
}

func newSagaShowCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show WORKFLOW ID",
		Short: "Show a saga's state and the timeline of its steps and compensations",
		Long: `show prints the state of one saga (status, error, each step with its attempts)
and its timeline: every event of its stream, with the step, the attempt and
the error. With --json it prints one JSON object: the state and "timeline".`,
		Example: `  chronicle saga show fulfilment order-42
  chronicle saga show fulfilment order-42 --json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			op := "saga show"
			store, err := openReading(cmd, op)
			if err != nil {
				return err
			}
			defer store.Close()
			stream := saga.StreamOf(args[0], args[1])
			st, err := saga.Read(cmd.Context(), store, stream)
			if err == nil && (st.Name != args[0] || st.ID != args[1]) {
				// "a-b c" names the stream of saga "a" "b-c": workflow names
				// have no '-'.
				err = fmt.Errorf("%w: %s", saga.ErrUnknownSaga, stream)
			}
			if err != nil {
				return fmt.Errorf("%s %s %s: %w", op, args[0], args[1], err)
			}
			timeline, err := saga.History(cmd.Context(), store, stream)
			if err != nil {
				return fmt.Errorf("%s %s %s: %w", op, args[0], args[1], err)
			}
			if asJSON {
				return writeJSONLine(cmd.OutOrStdout(), sagaObject(st, timeline))
			}
			return printSaga(cmd.OutOrStdout(), st, timeline)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

func newSagaRetryCmd() *cobra.Command {
	return newSagaRequestCmd("retry WORKFLOW ID",
		"Ask for the failed compensation of a saga that needs attention to be tried again",
		`retry appends a SagaRetryRequested event to a saga that needs attention, at the
revision it read (a saga in any other status, or one that moved meanwhile, is
refused and nothing is written). A running engine of the workflow
(saga.Engine.Run) then tries the failed compensation again and compensates
the steps before it.`,
		`  chronicle saga retry fulfilment order-42`)
}

func newSagaSkipCmd() *cobra.Command {
	return newSagaRequestCmd("skip-step WORKFLOW ID STEP",
		"Count the failed compensation of a step as done by hand",
		`skip-step appends a SagaStepSkipped event to a saga that needs attention: the
failed compensation of STEP counts as done (by hand, outside Chronicle). It
is refused, and nothing is written, for a saga in another status, a step
whose compensation did not fail, or a saga that moved meanwhile. A running
engine of the workflow (saga.Engine.Run) then compensates the steps before
it.`,
		`  chronicle saga skip-step fulfilment order-42 charge`)
}

// newSagaRequestCmd returns retry or skip-step: use's arguments after the
// name are WORKFLOW ID [STEP].
func newSagaRequestCmd(use, short, long, example string) *cobra.Command {
	var asJSON bool
	name := strings.Fields(use)[0]
	cmd := &cobra.Command{
		Use:     use,
		Short:   short,
		Long:    long + "\nWith --json it prints the saga's state after the request as one JSON object.",
		Example: example,
		Args:    cobra.ExactArgs(len(strings.Fields(use)) - 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return sagaRequest(cmd, "saga "+name, args, asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the saga's state after the request as one JSON object")
	return cmd
}

// sagaRequest records a retry (args WORKFLOW ID) or a skip (WORKFLOW ID
// STEP) and says what happens next.
func sagaRequest(cmd *cobra.Command, op string, args []string, asJSON bool) error {
	store, err := openStore(cmd, op)
	if errors.Is(err, sqlite.ErrLocked) {
		return fmt.Errorf("%w\nThe embedded store is open for writing by another process, the running service: "+
			"the request has to go through it. Call Engine.Retry or Engine.SkipStep in the service, or serve its store "+
			"(chronicle serve, eventstore/esdbserver) and point --store at that esdb:// address", err)
	}
	if err != nil {
		return err
	}
	defer store.Close()
	workflow, id := args[0], args[1]
	var st saga.State
	what := "a retry of the failed compensation"
	if len(args) == 3 {
		what = fmt.Sprintf("a skip of the failed compensation of step %s", args[2])
		st, err = saga.RequestSkip(cmd.Context(), store, workflow, id, args[2])
	} else {
		st, err = saga.RequestRetry(cmd.Context(), store, workflow, id)
	}
	if err != nil {
		return fmt.Errorf("%s %s %s: %w", op, workflow, id, err)
	}
	out := cmd.OutOrStdout()
	if asJSON {
		return writeJSONLine(out, sagaObject(&st, nil))
	}
	_, err = fmt.Fprintf(out, `requested %s of saga %s %s
(revision %d of %s).
A running engine of %s (saga.Engine.Run) carries it out on its next pass.
Check the outcome with:
  chronicle saga show %s %s
`, what, workflow, id, st.Revision, saga.StreamOf(workflow, id), workflow, workflow, id)
	return err
}

// sagaJSON is the --json form of a saga: a line of list, the output of show
// (with its timeline), retry and skip-step.
type sagaJSON struct {
	Workflow string         `json:"workflow"`
	ID       string         `json:"id"`
	Stream   string         `json:"stream"`
	Status   saga.Status    `json:"status"`
	Step     string         `json:"step,omitempty"` // the step it is at
	Error    string         `json:"error,omitempty"`
	Revision uint64         `json:"revision"`
	Started  time.Time      `json:"started"`
	Updated  time.Time      `json:"updated"`
	Steps    []stepJSON     `json:"steps"`
	Timeline []timelineJSON `json:"timeline,omitempty"`
}

type stepJSON struct {
	Name                 string          `json:"name"`
	Status               saga.StepStatus `json:"status"`
	Attempts             int             `json:"attempts"`
	CompensationAttempts int             `json:"compensationAttempts"`
	LastError            string          `json:"lastError,omitempty"`
	Owner                string          `json:"owner,omitempty"`
	LeaseUntil           *time.Time      `json:"leaseUntil,omitempty"`
}

type timelineJSON struct {
	Revision uint64    `json:"revision"`
	Time     time.Time `json:"time"`
	Type     string    `json:"type"`
	Step     string    `json:"step,omitempty"`
	Attempt  int       `json:"attempt,omitempty"`
	Error    string    `json:"error,omitempty"`
}

func sagaObject(st *saga.State, timeline []saga.Timeline) sagaJSON {
	j := sagaJSON{Workflow: st.Name, ID: st.ID, Stream: saga.StreamOf(st.Name, st.ID), Status: st.Status, Step: currentStep(st),
		Error: st.Error, Revision: st.Revision, Started: st.Started.UTC(), Updated: st.Updated.UTC(), Steps: []stepJSON{}}
	for _, s := range st.Steps {
		sj := stepJSON{Name: s.Name, Status: s.Status, Attempts: s.Attempts, CompensationAttempts: s.CompensationAttempts,
			LastError: s.LastError, Owner: s.Owner}
		if !s.LeaseUntil.IsZero() {
			t := s.LeaseUntil.UTC()
			sj.LeaseUntil = &t
		}
		j.Steps = append(j.Steps, sj)
	}
	for _, t := range timeline {
		j.Timeline = append(j.Timeline, timelineJSON{Revision: t.Revision, Time: t.Time.UTC(), Type: t.Type, Step: t.Step, Attempt: t.Attempt, Error: t.Error})
	}
	return j
}

func writeJSONLine(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v) // one line: no indent
}

// currentStep is the step a saga is at: the one running forwards, being
// compensated, or whose compensation failed; "" once it has ended.
func currentStep(st *saga.State) string {
	switch st.Status {
	case saga.Running:
		for _, s := range st.Steps {
			if s.Status != saga.StepSucceeded {
				return s.Name
			}
		}
	case saga.Compensating, saga.NeedsAttention:
		for i := len(st.Steps) - 1; i >= 0; i-- {
			switch st.Steps[i].Status {
			case saga.StepSucceeded, saga.StepCompensating, saga.StepCompensationFailed:
				return st.Steps[i].Name
			}
		}
	}
	return ""
}

// printSaga prints show's human form: the state, the steps and the
// timeline, and for a saga that needs attention the commands that unblock it.
func printSaga(w io.Writer, st *saga.State, timeline []saga.Timeline) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "saga\t%s %s\n", st.Name, st.ID)
	fmt.Fprintf(tw, "stream\t%s\n", saga.StreamOf(st.Name, st.ID))
	fmt.Fprintf(tw, "status\t%s\n", st.Status)
	if st.Error != "" {
		fmt.Fprintf(tw, "error\t%s\n", oneLine(st.Error))
	}
	fmt.Fprintf(tw, "started\t%s\n", stamp(st.Started))
	fmt.Fprintf(tw, "updated\t%s (revision %d)\n", stamp(st.Updated), st.Revision)
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "STEP\tSTATUS\tATTEMPTS\tCOMPENSATION ATTEMPTS\tLAST ERROR")
	for _, s := range st.Steps {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", s.Name, s.Status, s.Attempts, s.CompensationAttempts, oneLine(s.LastError))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REV\tTIME\tEVENT\tSTEP\tATTEMPT\tERROR")
	for _, t := range timeline {
		attempt := "-"
		if t.Attempt > 0 {
			attempt = fmt.Sprint(t.Attempt)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", t.Revision, stamp(t.Time), t.Type, orDash(t.Step), attempt, oneLine(t.Error))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if st.Status != saga.NeedsAttention {
		return nil
	}
	fmt.Fprintf(w, "\nThe saga needs attention. With the cause fixed, run a retry of the failed compensation:\n  chronicle saga retry %s %s\n", st.Name, st.ID)
	for _, s := range st.Steps {
		if s.Status == saga.StepCompensationFailed {
			fmt.Fprintf(w, "or, with it undone by hand, count it as done:\n  chronicle saga skip-step %s %s %s\n", st.Name, st.ID, s.Name)
		}
	}
	_, err := fmt.Fprintf(w, "A running engine of %s (saga.Engine.Run) carries the request out.\n", st.Name)
	return err
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine keeps a table row on one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func joinStatuses() string {
	names := make([]string, len(sagaStatuses))
	for i, s := range sagaStatuses {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}
