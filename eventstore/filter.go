package eventstore

import (
	"regexp"
	"strings"
)

// FilterTarget says what a Filter looks at.
type FilterTarget uint8

const (
	// FilterStreamName matches on the event's stream name.
	FilterStreamName FilterTarget = iota
	// FilterEventType matches on the event's type.
	FilterEventType
)

// DefaultCheckpointInterval is the number of examined events between two
// checkpoints of a filtered $all subscription when Filter.CheckpointInterval
// is 0 (EventStoreDB's default window of 32).
const DefaultCheckpointInterval = 32

// A Filter selects events of $all by stream name or event type, with either
// prefixes (any of them) or a regular expression (an unanchored search, as
// in EventStoreDB), never both. Build one with the constructors.
type Filter struct {
	Target   FilterTarget
	Prefixes []string
	Regex    string
	// CheckpointInterval is how many events a subscription examines between
	// two checkpoints; 0 means DefaultCheckpointInterval.
	CheckpointInterval uint32
}

// StreamPrefixFilter keeps events whose stream name starts with any prefix.
func StreamPrefixFilter(prefixes ...string) *Filter {
	return &Filter{Target: FilterStreamName, Prefixes: prefixes}
}

// EventTypePrefixFilter keeps events whose type starts with any prefix.
func EventTypePrefixFilter(prefixes ...string) *Filter {
	return &Filter{Target: FilterEventType, Prefixes: prefixes}
}

// StreamRegexFilter keeps events whose stream name matches the expression.
func StreamRegexFilter(expr string) *Filter {
	return &Filter{Target: FilterStreamName, Regex: expr}
}

// EventTypeRegexFilter keeps events whose type matches the expression.
func EventTypeRegexFilter(expr string) *Filter {
	return &Filter{Target: FilterEventType, Regex: expr}
}

// ExcludeSystemEventsFilter keeps events whose type does not start with '$'
// (EventStoreDB's ExcludeSystemEventsFilter, the event-type regex ^[^\$]).
func ExcludeSystemEventsFilter() *Filter {
	return EventTypeRegexFilter(`^[^\$]`)
}

// Interval returns the effective checkpoint interval.
func (f *Filter) Interval() uint32 {
	if f == nil || f.CheckpointInterval == 0 {
		return DefaultCheckpointInterval
	}
	return f.CheckpointInterval
}

// A Matcher is a compiled Filter. A nil *Matcher matches everything.
type Matcher struct {
	target   FilterTarget
	prefixes []string
	re       *regexp.Regexp
}

// Compile checks f and returns its Matcher; a nil Filter compiles to a nil
// Matcher. Errors are *ArgumentError wrapping ErrInvalidFilter.
func (f *Filter) Compile() (*Matcher, error) {
	if f == nil {
		return nil, nil
	}
	bad := func(detail string) error { return NewArgumentError("filter", "", ErrInvalidFilter, detail) }
	if f.Target != FilterStreamName && f.Target != FilterEventType {
		return nil, bad("unknown target")
	}
	switch {
	case len(f.Prefixes) > 0 && f.Regex != "":
		return nil, bad("prefixes and a regular expression are mutually exclusive")
	case len(f.Prefixes) == 0 && f.Regex == "":
		return nil, bad("needs prefixes or a regular expression")
	}
	m := &Matcher{target: f.Target, prefixes: f.Prefixes}
	if f.Regex != "" {
		re, err := regexp.Compile(f.Regex)
		if err != nil {
			return nil, bad(err.Error())
		}
		m.re = re
	}
	return m, nil
}

// Match reports whether an event of the given stream and type passes.
func (m *Matcher) Match(stream, eventType string) bool {
	if m == nil {
		return true
	}
	s := stream
	if m.target == FilterEventType {
		s = eventType
	}
	if m.re != nil {
		return m.re.MatchString(s)
	}
	for _, p := range m.prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// MatchEvent reports whether e passes.
func (m *Matcher) MatchEvent(e *RecordedEvent) bool { return m.Match(e.Stream, e.Type) }
