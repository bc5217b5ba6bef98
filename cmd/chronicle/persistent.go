package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/chronicle-go/chronicle/eventstore"
)

// This file holds `chronicle persistent`: list, info, create, delete and
// replay-parked, on stores that implement eventstore.PersistentSubscriptions.

func newPersistentCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "persistent",
		Short: "Manage persistent subscription groups: list, info, create, delete, replay parked messages",
		Long: `persistent manages the persistent subscription groups of a store that offers
them (eventstore.PersistentSubscriptions: the embedded memory and SQLite
stores, an EventStoreDB or chronicle serve through esdb://): groups of
competing consumers with a server-side checkpoint, acks, retries and parked
messages. A group reads one stream (STREAM GROUP) or $all (--all GROUP).

A group's checkpoints and parked messages are events of the streams
$persistentsubscription-<stream>::<group>-checkpoint and -parked.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newPersistentListCmd(), newPersistentInfoCmd(), newPersistentCreateCmd(), newPersistentDeleteCmd(), newPersistentReplayCmd())
	return cmd
}

// groupArgs is the STREAM GROUP or --all GROUP of a group command.
type groupArgs struct {
	all bool
}

func (g *groupArgs) add(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&g.all, "all", false, "a group of $all (give only GROUP)")
}

// group resolves the arguments; a bad name is a usage error.
func (g *groupArgs) group(op string, args []string) (eventstore.PersistentGroup, error) {
	var pg eventstore.PersistentGroup
	switch {
	case g.all && len(args) == 1:
		pg = eventstore.PersistentGroupOf(eventstore.AllStream, args[0])
	case g.all:
		return pg, usagef("%s: with --all give only GROUP", op)
	case len(args) == 2:
		pg = eventstore.PersistentGroupOf(args[0], args[1])
	default:
		return pg, usagef("%s: give STREAM GROUP, or --all GROUP", op)
	}
	if err := pg.Validate(op); err != nil {
		return pg, usageError{err}
	}
	return pg, nil
}

// withPersistent opens --store, runs run with its persistent-subscription
// capability (an error if the store has none) and closes the store.
func withPersistent(cmd *cobra.Command, op string, run func(ps eventstore.PersistentSubscriptions) error) error {
	store, err := openStore(cmd, op)
	if err != nil {
		return err
	}
	defer store.Close()
	ps, ok := store.(eventstore.PersistentSubscriptions)
	if !ok {
		url, _ := cmd.Flags().GetString("store")
		return fmt.Errorf("%s: the store %q (%T) has no persistent subscriptions (it does not implement eventstore.PersistentSubscriptions)", op, orDefault(url), store)
	}
	return run(ps)
}

func orDefault(url string) string {
	if url == "" {
		return eventstore.DefaultURL
	}
	return url
}

func newPersistentListCmd() *cobra.Command {
	var (
		all    bool
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "list [STREAM]",
		Short: "List persistent subscription groups",
		Long: `list prints the groups of STREAM, of $all with --all, or of every stream: stream,
group, status, consumer strategy, connected consumers, messages in flight,
parked messages, the last checkpointed and the last read place. Listing the
groups of a stream that has none fails (exit status 3), as in EventStoreDB.
With --json it prints one JSON object per group and line.`,
		Example: `  chronicle persistent list
  chronicle persistent list order-42
  chronicle persistent list --all --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			op := "persistent list"
			stream := ""
			switch {
			case all && len(args) > 0:
				return usagef("%s: give a STREAM or --all, not both", op)
			case all:
				stream = eventstore.AllStream
			case len(args) == 1:
				stream = args[0]
				if err := eventstore.ValidateStreamName(op, stream, true); err != nil {
					return usageError{err}
				}
			}
			return withPersistent(cmd, op, func(ps eventstore.PersistentSubscriptions) error {
				infos, err := ps.ListPersistentSubscriptions(cmd.Context(), stream)
				if err != nil {
					return fmt.Errorf("%s: %w", op, err)
				}
				out := cmd.OutOrStdout()
				if asJSON {
					rows := make([]groupJSON, len(infos))
					for i := range infos {
						rows[i] = groupObject(&infos[i])
					}
					return jsonLines(out, rows)
				}
				if len(infos) == 0 {
					_, err := fmt.Fprintln(out, "no persistent subscription groups")
					return err
				}
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "STREAM\tGROUP\tSTATUS\tSTRATEGY\tCONSUMERS\tIN FLIGHT\tPARKED\tCHECKPOINT\tLAST READ")
				for _, in := range infos {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", in.Group.Stream, in.Group.Group, in.Status, in.Settings.ConsumerStrategy,
						len(in.Connections), in.InFlightMessages, in.ParkedMessageCount, in.LastCheckpointed, in.LastKnown)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "only the groups of $all")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per group and line")
	return cmd
}

func newPersistentInfoCmd() *cobra.Command {
	var (
		ga     groupArgs
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "info STREAM GROUP | --all GROUP",
		Short: "Show a persistent subscription group: settings, status, consumers, counters",
		Long: `info prints one group: its settings, status, checkpointed and last read
places, counters (total items, rate, in flight, outstanding, buffers, parked
messages) and each connected consumer. A group that does not exist fails with
exit status 3. With --json it prints one JSON object.`,
		Example: `  chronicle persistent info order-42 billing
  chronicle persistent info --all audit --json`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			op := "persistent info"
			pg, err := ga.group(op, args)
			if err != nil {
				return err
			}
			return withPersistent(cmd, op, func(ps eventstore.PersistentSubscriptions) error {
				info, err := ps.GetPersistentSubscriptionInfo(cmd.Context(), pg)
				if err != nil {
					return fmt.Errorf("%s %s: %w", op, pg, err)
				}
				if asJSON {
					return writeJSONLine(cmd.OutOrStdout(), groupObject(&info))
				}
				return printGroup(cmd.OutOrStdout(), &info)
			})
		},
	}
	ga.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

// settingsFlags are create's flags for a group's settings; their defaults
// are eventstore.DefaultPersistentSettings'.
type settingsFlags struct {
	from               string
	sel                selection // --stream-prefix, --type-prefix, --regex, --exclude-system
	resolveLinks       bool
	extraStatistics    bool
	messageTimeout     time.Duration
	maxRetries         int
	liveBufferSize     int
	readBatchSize      int
	historyBufferSize  int
	checkpointAfter    time.Duration
	minCheckpointCount int
	maxCheckpointCount int
	maxSubscribers     int
	strategy           string
}

func (s *settingsFlags) add(cmd *cobra.Command) {
	d := eventstore.DefaultPersistentSettings()
	f := cmd.Flags()
	f.StringVar(&s.from, "from", "start", "where the group starts, inclusive: start, end, a stream revision, or for $all a position (C:<commit>/P:<prepare>)")
	s.sel.addFilterFlags(cmd)
	f.BoolVar(&s.resolveLinks, "resolve-links", false, "deliver the events link events point to")
	f.BoolVar(&s.extraStatistics, "extra-statistics", false, "keep latency statistics")
	f.DurationVar(&s.messageTimeout, "message-timeout", d.MessageTimeout, "how long a delivered event may stay unacknowledged before it is retried (0: never)")
	f.IntVar(&s.maxRetries, "max-retries", d.MaxRetryCount, "retries of an event before it is parked")
	f.IntVar(&s.liveBufferSize, "live-buffer-size", d.LiveBufferSize, "live events held")
	f.IntVar(&s.readBatchSize, "read-batch-size", d.ReadBatchSize, "events read from storage at once")
	f.IntVar(&s.historyBufferSize, "history-buffer-size", d.HistoryBufferSize, "events held while catching up")
	f.DurationVar(&s.checkpointAfter, "checkpoint-after", d.CheckpointAfter, "how long acknowledged events wait before a checkpoint")
	f.IntVar(&s.minCheckpointCount, "min-checkpoint-count", d.MinCheckpointCount, "acknowledged events before a checkpoint, at least")
	f.IntVar(&s.maxCheckpointCount, "max-checkpoint-count", d.MaxCheckpointCount, "acknowledged events that force a checkpoint")
	f.IntVar(&s.maxSubscribers, "max-subscribers", d.MaxSubscriberCount, "connected consumers at most (0: no limit)")
	f.StringVar(&s.strategy, "strategy", string(d.ConsumerStrategy), "consumer strategy: "+strings.Join(strategies(), ", "))
}

func strategies() []string {
	return []string{string(eventstore.RoundRobin), string(eventstore.DispatchToSingle), string(eventstore.Pinned), string(eventstore.PinnedByCorrelation)}
}

// settings builds and validates the settings for pg; every error is a
// usage error (exit status 2): nothing is written.
func (s *settingsFlags) settings(cmd *cobra.Command, op string, pg eventstore.PersistentGroup) (eventstore.PersistentSettings, error) {
	set := eventstore.PersistentSettings{
		ResolveLinks: s.resolveLinks, ExtraStatistics: s.extraStatistics,
		MessageTimeout: s.messageTimeout, MaxRetryCount: s.maxRetries,
		LiveBufferSize: s.liveBufferSize, ReadBatchSize: s.readBatchSize, HistoryBufferSize: s.historyBufferSize,
		CheckpointAfter: s.checkpointAfter, MinCheckpointCount: s.minCheckpointCount, MaxCheckpointCount: s.maxCheckpointCount,
		MaxSubscriberCount: s.maxSubscribers, ConsumerStrategy: eventstore.ConsumerStrategy(s.strategy),
	}
	switch from := strings.ToLower(s.from); {
	case from == "start":
		set.From = eventstore.Start
	case from == "end":
		set.From = eventstore.End
	case pg.IsAll():
		p, err := parsePosition(s.from)
		if err != nil {
			return set, usagef("%s: --from: %v", op, err)
		}
		set.From = eventstore.FromPosition(p)
	default:
		rev, err := strconv.ParseUint(s.from, 10, 64)
		if err != nil {
			return set, usagef("%s: --from %q: want start, end or a stream revision", op, s.from)
		}
		set.From = eventstore.FromRevision(rev)
	}
	s.sel.op = op
	if err := s.sel.compileFilters(); err != nil {
		return set, usageError{err}
	}
	switch {
	case len(s.sel.matchers) > 1:
		return set, usagef("%s: a group takes one filter; give one of --stream-prefix, --type-prefix, --regex, --exclude-system", op)
	case s.sel.filter != nil && !pg.IsAll():
		return set, usagef("%s: filters apply to a group of $all (--all), not to stream %q", op, pg.Stream)
	}
	set.Filter = s.sel.filter
	if err := set.Validate(pg); err != nil {
		return set, usagef("%s: %w", op, err)
	}
	return set, nil
}

func newPersistentCreateCmd() *cobra.Command {
	var (
		ga     groupArgs
		sf     settingsFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "create STREAM GROUP | --all GROUP",
		Short: "Create a persistent subscription group",
		Long: `create creates a group of STREAM (which need not exist yet) or of $all, with
EventStoreDB's default settings unless flags say otherwise. A group of $all
takes one filter. Settings out of range are refused (exit status 2) and
nothing is written; a group that exists is an error. With --json it prints
the group's info as one JSON object.`,
		Example: `  chronicle persistent create order-42 billing --strategy DispatchToSingle
  chronicle persistent create --all audit --from end --stream-prefix order- --max-retries 3 --message-timeout 10s`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			op := "persistent create"
			pg, err := ga.group(op, args)
			if err != nil {
				return err
			}
			set, err := sf.settings(cmd, op, pg)
			if err != nil {
				return err
			}
			return withPersistent(cmd, op, func(ps eventstore.PersistentSubscriptions) error {
				if err := ps.CreatePersistentSubscription(cmd.Context(), pg, set); err != nil {
					return fmt.Errorf("%s %s: %w", op, pg, err)
				}
				if asJSON {
					info, err := ps.GetPersistentSubscriptionInfo(cmd.Context(), pg)
					if err != nil {
						return fmt.Errorf("%s %s: %w", op, pg, err)
					}
					return writeJSONLine(cmd.OutOrStdout(), groupObject(&info))
				}
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "created group %s of %s from %s (%s)\n", pg.Group, pg.Stream, set.From, set.ConsumerStrategy)
				return err
			})
		},
	}
	ga.add(cmd)
	sf.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the group's info as one JSON object")
	return cmd
}

func newPersistentDeleteCmd() *cobra.Command {
	var ga groupArgs
	cmd := &cobra.Command{
		Use:   "delete STREAM GROUP | --all GROUP",
		Short: "Delete a persistent subscription group",
		Long: `delete deletes a group, its checkpoint and its parked messages' stream;
connected consumers are dropped. A group that does not exist fails with exit
status 3.`,
		Example: `  chronicle persistent delete order-42 billing
  chronicle persistent delete --all audit`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			op := "persistent delete"
			pg, err := ga.group(op, args)
			if err != nil {
				return err
			}
			return withPersistent(cmd, op, func(ps eventstore.PersistentSubscriptions) error {
				if err := ps.DeletePersistentSubscription(cmd.Context(), pg); err != nil {
					return fmt.Errorf("%s %s: %w", op, pg, err)
				}
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "deleted group %s of %s\n", pg.Group, pg.Stream)
				return err
			})
		},
	}
	ga.add(cmd)
	return cmd
}

func newPersistentReplayCmd() *cobra.Command {
	var (
		ga     groupArgs
		stopAt int64
	)
	cmd := &cobra.Command{
		Use:   "replay-parked STREAM GROUP | --all GROUP",
		Short: "Deliver a group's parked messages again",
		Long: `replay-parked asks the group to deliver its parked messages again, the oldest
first, to its connected consumers (--stop-at N: at most N of them). A
message that fails again is parked again. A group that does not exist fails
with exit status 3.`,
		Example: `  chronicle persistent replay-parked order-42 billing
  chronicle persistent replay-parked --all audit --stop-at 100`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			op := "persistent replay-parked"
			pg, err := ga.group(op, args)
			if err != nil {
				return err
			}
			if stopAt < 0 {
				return usagef("%s: --stop-at %d is negative", op, stopAt)
			}
			return withPersistent(cmd, op, func(ps eventstore.PersistentSubscriptions) error {
				info, err := ps.GetPersistentSubscriptionInfo(cmd.Context(), pg)
				if err != nil {
					return fmt.Errorf("%s %s: %w", op, pg, err)
				}
				if err := ps.ReplayParkedMessages(cmd.Context(), pg, uint64(stopAt)); err != nil {
					return fmt.Errorf("%s %s: %w", op, pg, err)
				}
				n := info.ParkedMessageCount
				if stopAt > 0 {
					n = min(n, stopAt)
				}
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "replaying %d parked message(s) of group %s of %s\n", n, pg.Group, pg.Stream)
				return err
			})
		},
	}
	ga.add(cmd)
	cmd.Flags().Int64Var(&stopAt, "stop-at", 0, "replay at most this many parked messages (0: all)")
	return cmd
}

// groupJSON is the --json form of a group's info.
type groupJSON struct {
	Stream              string           `json:"stream"`
	Group               string           `json:"group"`
	Status              string           `json:"status"`
	Settings            settingsJSON     `json:"settings"`
	Connections         []connectionJSON `json:"connections"`
	LastCheckpointed    string           `json:"lastCheckpointed"`
	LastKnown           string           `json:"lastKnown"`
	TotalItems          int64            `json:"totalItems"`
	AveragePerSecond    float64          `json:"averagePerSecond"`
	InFlightMessages    int              `json:"inFlightMessages"`
	OutstandingMessages int              `json:"outstandingMessages"`
	ReadBufferCount     int              `json:"readBufferCount"`
	LiveBufferCount     int              `json:"liveBufferCount"`
	RetryBufferCount    int              `json:"retryBufferCount"`
	ParkedMessageCount  int64            `json:"parkedMessageCount"`
}

type settingsJSON struct {
	From               string  `json:"from"`
	Filter             *filter `json:"filter,omitempty"`
	ResolveLinks       bool    `json:"resolveLinks"`
	ExtraStatistics    bool    `json:"extraStatistics"`
	MessageTimeoutMs   int64   `json:"messageTimeoutMs"`
	MaxRetryCount      int     `json:"maxRetryCount"`
	LiveBufferSize     int     `json:"liveBufferSize"`
	ReadBatchSize      int     `json:"readBatchSize"`
	HistoryBufferSize  int     `json:"historyBufferSize"`
	CheckpointAfterMs  int64   `json:"checkpointAfterMs"`
	MinCheckpointCount int     `json:"minCheckpointCount"`
	MaxCheckpointCount int     `json:"maxCheckpointCount"`
	MaxSubscriberCount int     `json:"maxSubscriberCount"`
	ConsumerStrategy   string  `json:"consumerStrategy"`
}

type filter struct {
	Target   string   `json:"target"`
	Prefixes []string `json:"prefixes,omitempty"`
	Regex    string   `json:"regex,omitempty"`
}

type connectionJSON struct {
	Name             string `json:"name"`
	From             string `json:"from"`
	TotalItems       int64  `json:"totalItems"`
	AvailableSlots   int    `json:"availableSlots"`
	InFlightMessages int    `json:"inFlightMessages"`
}

func groupObject(in *eventstore.PersistentSubscriptionInfo) groupJSON {
	s := &in.Settings
	j := groupJSON{
		Stream: in.Group.Stream, Group: in.Group.Group, Status: in.Status,
		Settings: settingsJSON{
			From: s.From.String(), ResolveLinks: s.ResolveLinks, ExtraStatistics: s.ExtraStatistics,
			MessageTimeoutMs: s.MessageTimeout.Milliseconds(), MaxRetryCount: s.MaxRetryCount,
			LiveBufferSize: s.LiveBufferSize, ReadBatchSize: s.ReadBatchSize, HistoryBufferSize: s.HistoryBufferSize,
			CheckpointAfterMs: s.CheckpointAfter.Milliseconds(), MinCheckpointCount: s.MinCheckpointCount, MaxCheckpointCount: s.MaxCheckpointCount,
			MaxSubscriberCount: s.MaxSubscriberCount, ConsumerStrategy: string(s.ConsumerStrategy),
		},
		Connections:      []connectionJSON{},
		LastCheckpointed: in.LastCheckpointed.String(), LastKnown: in.LastKnown.String(),
		TotalItems: in.TotalItems, AveragePerSecond: in.AveragePerSecond,
		InFlightMessages: in.InFlightMessages, OutstandingMessages: in.OutstandingMessages,
		ReadBufferCount: in.ReadBufferCount, LiveBufferCount: in.LiveBufferCount, RetryBufferCount: in.RetryBufferCount,
		ParkedMessageCount: in.ParkedMessageCount,
	}
	if f := s.Filter; f != nil {
		j.Settings.Filter = &filter{Target: filterTarget(f), Prefixes: f.Prefixes, Regex: f.Regex}
	}
	for _, c := range in.Connections {
		j.Connections = append(j.Connections, connectionJSON(c))
	}
	return j
}

func filterTarget(f *eventstore.Filter) string {
	if f.Target == eventstore.FilterEventType {
		return "eventType"
	}
	return "streamName"
}

// printGroup prints info's human form.
func printGroup(w io.Writer, in *eventstore.PersistentSubscriptionInfo) error {
	s := &in.Settings
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "group\t%s\n", in.Group.Group)
	fmt.Fprintf(tw, "stream\t%s\n", in.Group.Stream)
	fmt.Fprintf(tw, "status\t%s\n", in.Status)
	fmt.Fprintf(tw, "from\t%s\n", s.From)
	if f := s.Filter; f != nil {
		what := strings.Join(f.Prefixes, ", ") + " (prefixes)"
		if f.Regex != "" {
			what = f.Regex + " (regex)"
		}
		fmt.Fprintf(tw, "filter\t%s %s\n", filterTarget(f), what)
	}
	fmt.Fprintf(tw, "strategy\t%s\n", s.ConsumerStrategy)
	fmt.Fprintf(tw, "message timeout\t%v\n", s.MessageTimeout)
	fmt.Fprintf(tw, "max retries\t%d\n", s.MaxRetryCount)
	fmt.Fprintf(tw, "buffers\tlive %d, read batch %d, history %d\n", s.LiveBufferSize, s.ReadBatchSize, s.HistoryBufferSize)
	fmt.Fprintf(tw, "checkpoint\tafter %v, %d to %d events\n", s.CheckpointAfter, s.MinCheckpointCount, s.MaxCheckpointCount)
	maxSubs := "no limit"
	if s.MaxSubscriberCount > 0 {
		maxSubs = strconv.Itoa(s.MaxSubscriberCount)
	}
	fmt.Fprintf(tw, "max subscribers\t%s\n", maxSubs)
	fmt.Fprintf(tw, "resolve links\t%v\n", s.ResolveLinks)
	fmt.Fprintf(tw, "last checkpointed\t%s\n", in.LastCheckpointed)
	fmt.Fprintf(tw, "last read\t%s\n", in.LastKnown)
	fmt.Fprintf(tw, "total items\t%d (%.1f/s)\n", in.TotalItems, in.AveragePerSecond)
	fmt.Fprintf(tw, "in flight\t%d (outstanding %d)\n", in.InFlightMessages, in.OutstandingMessages)
	fmt.Fprintf(tw, "buffered\tread %d, live %d, retry %d\n", in.ReadBufferCount, in.LiveBufferCount, in.RetryBufferCount)
	fmt.Fprintf(tw, "parked\t%d\n", in.ParkedMessageCount)
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(in.Connections) == 0 {
		_, err := fmt.Fprintln(w, "\nno consumers connected")
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CONSUMER\tFROM\tTOTAL ITEMS\tAVAILABLE SLOTS\tIN FLIGHT")
	for _, c := range in.Connections {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\n", orDash(c.Name), orDash(c.From), c.TotalItems, c.AvailableSlots, c.InFlightMessages)
	}
	return tw.Flush()
}
