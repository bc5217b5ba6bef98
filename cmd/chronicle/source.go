package main

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/chronicle-go/chronicle/eventstore"
)

// openStore opens the store named by --store.
func openStore(cmd *cobra.Command, op string) (eventstore.Store, error) {
	url, _ := cmd.Flags().GetString("store")
	s, err := eventstore.Open(cmd.Context(), url)
	if err != nil {
		return nil, fmt.Errorf("%s: open store: %w", op, err)
	}
	return s, nil
}

// selection is which events a command reads: one stream or $all, where to
// start and stop, and $all filters. Commands register the flags they offer
// and call prepare once the flags are parsed.
type selection struct {
	op     string // command name, for errors
	stream string // a stream name or eventstore.AllStream
	all    bool   // --all

	from          uint64 // --from, a stream revision
	fromPos       string // --from-position
	toPos         string // --to-position
	backwards     bool
	count         uint64
	streamPrefix  []string
	typePrefix    []string
	regex         string
	excludeSystem bool

	// Set by prepare.
	start    eventstore.From
	to       eventstore.Position
	hasTo    bool
	filter   *eventstore.Filter    // the one the store applies
	matchers []*eventstore.Matcher // every filter given, applied here too
	changed  func(string) bool
}

func (s *selection) addAllFlag(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&s.all, "all", false, "every stream: $all in position order")
}

func (s *selection) addFilterFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringSliceVar(&s.streamPrefix, "stream-prefix", nil, "$all: keep streams whose name starts with one of these prefixes")
	f.StringSliceVar(&s.typePrefix, "type-prefix", nil, "$all: keep event types starting with one of these prefixes")
	f.StringVar(&s.regex, "regex", "", "$all: keep streams whose name matches this regular expression")
	f.BoolVar(&s.excludeSystem, "exclude-system", false, "$all: drop system events (types starting with '$')")
}

func (s *selection) addRangeFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&s.fromPos, "from-position", "", "$all: start at this position (C:commit/P:prepare, inclusive)")
	cmd.Flags().StringVar(&s.toPos, "to-position", "", "$all: stop after this position (C:commit/P:prepare, inclusive)")
}

// prepare resolves the positional STREAM argument (or --all, or the
// fallback when neither is given; "" makes one of them required) and checks
// the flags against it.
func (s *selection) prepare(cmd *cobra.Command, args []string, fallback string) error {
	s.op = cmd.Name()
	s.changed = cmd.Flags().Changed
	bad := func(format string, a ...any) error { return usagef(s.op+": "+format, a...) }
	switch {
	case len(args) > 0 && s.all:
		return bad("give a STREAM or --all, not both")
	case len(args) > 0:
		s.stream = args[0]
	case s.all:
		s.stream = eventstore.AllStream
	case fallback != "":
		s.stream = fallback
	default:
		return bad("give a STREAM or --all")
	}
	if s.stream == "" {
		return bad("the stream name is empty")
	}
	if !s.isAll() {
		for _, name := range []string{"from-position", "to-position", "stream-prefix", "type-prefix", "regex", "exclude-system"} {
			if s.changed(name) {
				return bad("--%s applies to $all only, not to stream %q", name, s.stream)
			}
		}
		switch {
		case s.changed("from"):
			s.start = eventstore.FromRevision(s.from)
		case s.backwards:
			s.start = eventstore.End
		}
		return nil
	}
	if s.changed("from") {
		return bad("--from is a stream revision; for $all use --from-position")
	}
	switch {
	case s.fromPos != "":
		p, err := parsePosition(s.fromPos)
		if err != nil {
			return bad("--from-position: %w", err)
		}
		s.start = eventstore.FromPosition(p)
	case s.backwards:
		s.start = eventstore.End
	}
	if s.toPos != "" {
		p, err := parsePosition(s.toPos)
		if err != nil {
			return bad("--to-position: %w", err)
		}
		s.to, s.hasTo = p, true
	}
	return s.compileFilters()
}

func (s *selection) compileFilters() error {
	var filters []*eventstore.Filter
	if len(s.streamPrefix) > 0 {
		filters = append(filters, eventstore.StreamPrefixFilter(s.streamPrefix...))
	}
	if len(s.typePrefix) > 0 {
		filters = append(filters, eventstore.EventTypePrefixFilter(s.typePrefix...))
	}
	if s.regex != "" {
		filters = append(filters, eventstore.StreamRegexFilter(s.regex))
	}
	if s.excludeSystem {
		filters = append(filters, eventstore.ExcludeSystemEventsFilter())
	}
	for _, f := range filters {
		m, err := f.Compile()
		if err != nil {
			return fmt.Errorf("%s: %w", s.op, err)
		}
		s.matchers = append(s.matchers, m)
	}
	if len(filters) > 0 {
		s.filter = filters[0] // the store applies one; the others apply here
	}
	return nil
}

func (s *selection) isAll() bool { return s.stream == eventstore.AllStream }

// keep reports whether e passes every filter.
func (s *selection) keep(e *eventstore.RecordedEvent) bool {
	for _, m := range s.matchers {
		if !m.MatchEvent(e) {
			return false
		}
	}
	return true
}

// past reports whether e lies beyond --to-position.
func (s *selection) past(e *eventstore.RecordedEvent) bool {
	if !s.hasTo {
		return false
	}
	if s.backwards {
		return e.Position.Compare(s.to) < 0
	}
	return e.Position.Compare(s.to) > 0
}

// read streams the selected events from st; errors name the command and the
// stream.
func (s *selection) read(ctx context.Context, st eventstore.Store) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		dir := eventstore.Forwards
		if s.backwards {
			dir = eventstore.Backwards
		}
		var events iter.Seq2[eventstore.RecordedEvent, error]
		if s.isAll() {
			events = st.ReadAll(ctx, eventstore.ReadAllOptions{Direction: dir, From: s.start, Filter: s.filter})
		} else {
			events = st.ReadStream(ctx, s.stream, eventstore.ReadOptions{Direction: dir, From: s.start})
		}
		var n uint64
		for e, err := range events {
			if err != nil {
				yield(e, s.wrap(err))
				return
			}
			if s.past(&e) {
				return
			}
			if !s.keep(&e) {
				continue
			}
			if !yield(e, nil) {
				return
			}
			if n++; s.count > 0 && n >= s.count {
				return
			}
		}
	}
}

// subscribe is read for live events: a subscription from the start
// (fromStart), after --from-position or --from (exclusive), or from the
// end; events filtered as read filters them.
func (s *selection) subscribe(ctx context.Context, st eventstore.Store, fromStart bool) iter.Seq2[eventstore.Message, error] {
	return func(yield func(eventstore.Message, error) bool) {
		from := eventstore.End
		switch {
		case fromStart:
			from = eventstore.Start
		case s.changed("from-position"), s.changed("from"):
			from = s.start
		}
		var msgs iter.Seq2[eventstore.Message, error]
		if s.isAll() {
			msgs = st.SubscribeToAll(ctx, eventstore.SubscribeAllOptions{From: from, Filter: s.filter})
		} else {
			msgs = st.SubscribeToStream(ctx, s.stream, eventstore.SubscribeOptions{From: from})
		}
		for m, err := range msgs {
			if err != nil {
				yield(m, s.wrap(err))
				return
			}
			if m.Kind == eventstore.MessageEvent && !s.keep(&m.Event) {
				continue
			}
			if !yield(m, nil) {
				return
			}
		}
	}
}

func (s *selection) wrap(err error) error {
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		return fmt.Errorf("%s: %w", s.op, err)
	}
	return fmt.Errorf("%s %q: %w", s.op, s.stream, err)
}

// parsePosition parses a position as Position.String writes it,
// "C:12/P:12", or a single number n meaning C:n/P:n.
func parsePosition(s string) (eventstore.Position, error) {
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		return eventstore.Position{Commit: n, Prepare: n}, nil
	}
	if p, err := eventstore.ParsePosition(s); err == nil {
		return p, nil
	}
	return eventstore.Position{}, fmt.Errorf("%q is not a position (want C:<commit>/P:<prepare> or a number)", s)
}
