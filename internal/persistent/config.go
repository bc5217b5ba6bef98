package persistent

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
)

// The group definitions are kept as events of ConfigStream: every create,
// update or delete appends one ConfigEventType event holding the whole set
// of groups (as EventStoreDB's $PersistentConfig1 does), and the stream's
// $maxCount of 1 lets the store forget the older ones. A reopened store
// reads the last event and knows its groups.
const (
	ConfigStream    = "$persistentSubscriptionConfig"
	ConfigEventType = "$PersistentConfig"
	// CheckpointEventType is the type of the events of a group's
	// checkpoint stream, as in EventStoreDB: the data is the revision (a
	// JSON number) of a stream group or the position ("C:x/P:y", a JSON
	// string) of a $all group, up to which every event was acknowledged,
	// skipped or parked.
	CheckpointEventType = "$SubscriptionCheckpoint"
)

// config is the data of a ConfigEventType event.
type config struct {
	Version int           `json:"version"`
	Groups  []groupConfig `json:"groups"`
}

// groupConfig is one group's definition.
type groupConfig struct {
	Stream   string       `json:"stream"`
	Group    string       `json:"group"`
	Settings settingsJSON `json:"settings"`
	// Start is where the group starts (inclusive) when it has no
	// checkpoint: Settings.From, except that End is resolved to the end of
	// the stream or of $all when the group was created.
	Start fromJSON `json:"start"`
}

type fromJSON struct {
	Kind     string `json:"kind"` // start, end, revision, position
	Revision uint64 `json:"revision,omitempty"`
	Commit   uint64 `json:"commit,omitempty"`
	Prepare  uint64 `json:"prepare,omitempty"`
}

func encodeFrom(f eventstore.From) fromJSON {
	if rev, ok := f.Revision(); ok {
		return fromJSON{Kind: "revision", Revision: rev}
	}
	if pos, ok := f.Position(); ok {
		return fromJSON{Kind: "position", Commit: pos.Commit, Prepare: pos.Prepare}
	}
	if f.IsEnd() {
		return fromJSON{Kind: "end"}
	}
	return fromJSON{Kind: "start"}
}

func (f fromJSON) decode() (eventstore.From, error) {
	switch f.Kind {
	case "start":
		return eventstore.Start, nil
	case "end":
		return eventstore.End, nil
	case "revision":
		return eventstore.FromRevision(f.Revision), nil
	case "position":
		return eventstore.FromPosition(eventstore.Position{Commit: f.Commit, Prepare: f.Prepare}), nil
	}
	return eventstore.Start, fmt.Errorf("start point kind %q", f.Kind)
}

type filterJSON struct {
	Target             uint8    `json:"target"`
	Prefixes           []string `json:"prefixes,omitempty"`
	Regex              string   `json:"regex,omitempty"`
	CheckpointInterval uint32   `json:"checkpointInterval,omitempty"`
}

// settingsJSON is PersistentSettings with durations in milliseconds, as
// EventStoreDB's API has them.
type settingsJSON struct {
	From               fromJSON    `json:"from"`
	Filter             *filterJSON `json:"filter,omitempty"`
	ResolveLinks       bool        `json:"resolveLinks"`
	ExtraStatistics    bool        `json:"extraStatistics"`
	MessageTimeoutMs   int64       `json:"messageTimeoutMs"`
	MaxRetryCount      int         `json:"maxRetryCount"`
	LiveBufferSize     int         `json:"liveBufferSize"`
	ReadBatchSize      int         `json:"readBatchSize"`
	HistoryBufferSize  int         `json:"historyBufferSize"`
	CheckpointAfterMs  int64       `json:"checkpointAfterMs"`
	MinCheckpointCount int         `json:"minCheckpointCount"`
	MaxCheckpointCount int         `json:"maxCheckpointCount"`
	MaxSubscriberCount int         `json:"maxSubscriberCount"`
	ConsumerStrategy   string      `json:"consumerStrategy"`
}

func encodeSettings(s eventstore.PersistentSettings) settingsJSON {
	out := settingsJSON{
		From:               encodeFrom(s.From),
		ResolveLinks:       s.ResolveLinks,
		ExtraStatistics:    s.ExtraStatistics,
		MessageTimeoutMs:   s.MessageTimeout.Milliseconds(),
		MaxRetryCount:      s.MaxRetryCount,
		LiveBufferSize:     s.LiveBufferSize,
		ReadBatchSize:      s.ReadBatchSize,
		HistoryBufferSize:  s.HistoryBufferSize,
		CheckpointAfterMs:  s.CheckpointAfter.Milliseconds(),
		MinCheckpointCount: s.MinCheckpointCount,
		MaxCheckpointCount: s.MaxCheckpointCount,
		MaxSubscriberCount: s.MaxSubscriberCount,
		ConsumerStrategy:   string(s.ConsumerStrategy),
	}
	if f := s.Filter; f != nil {
		out.Filter = &filterJSON{Target: uint8(f.Target), Prefixes: f.Prefixes, Regex: f.Regex, CheckpointInterval: f.CheckpointInterval}
	}
	return out
}

func (s settingsJSON) decode() (eventstore.PersistentSettings, error) {
	from, err := s.From.decode()
	out := eventstore.PersistentSettings{
		From:               from,
		ResolveLinks:       s.ResolveLinks,
		ExtraStatistics:    s.ExtraStatistics,
		MessageTimeout:     time.Duration(s.MessageTimeoutMs) * time.Millisecond,
		MaxRetryCount:      s.MaxRetryCount,
		LiveBufferSize:     s.LiveBufferSize,
		ReadBatchSize:      s.ReadBatchSize,
		HistoryBufferSize:  s.HistoryBufferSize,
		CheckpointAfter:    time.Duration(s.CheckpointAfterMs) * time.Millisecond,
		MinCheckpointCount: s.MinCheckpointCount,
		MaxCheckpointCount: s.MaxCheckpointCount,
		MaxSubscriberCount: s.MaxSubscriberCount,
		ConsumerStrategy:   eventstore.ConsumerStrategy(s.ConsumerStrategy),
	}
	if f := s.Filter; f != nil {
		out.Filter = &eventstore.Filter{Target: eventstore.FilterTarget(f.Target), Prefixes: f.Prefixes, Regex: f.Regex, CheckpointInterval: f.CheckpointInterval}
	}
	return out, err
}

// decodeConfig parses a ConfigEventType event's data into group
// definitions, checking each.
func decodeConfig(data []byte) (map[eventstore.PersistentGroup]*definition, error) {
	var c config
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("persistent: %s: %w", ConfigStream, err)
	}
	out := make(map[eventstore.PersistentGroup]*definition, len(c.Groups))
	for _, gc := range c.Groups {
		id := eventstore.PersistentGroupOf(gc.Stream, gc.Group)
		settings, err := gc.Settings.decode()
		if err == nil {
			err = id.Validate("load persistent subscription")
		}
		if err == nil {
			err = settings.Validate(id)
		}
		start, serr := gc.Start.decode()
		if err == nil {
			err = serr
		}
		if err != nil {
			return nil, fmt.Errorf("persistent: %s: group %s: %w", ConfigStream, id, err)
		}
		out[id] = &definition{id: id, settings: settings, start: start}
	}
	return out, nil
}

// encodeConfig returns the data of a ConfigEventType event for defs.
func encodeConfig(defs map[eventstore.PersistentGroup]*definition) []byte {
	c := config{Version: 1, Groups: make([]groupConfig, 0, len(defs))}
	for _, d := range sortedDefinitions(defs) {
		c.Groups = append(c.Groups, groupConfig{Stream: d.id.Stream, Group: d.id.Group, Settings: encodeSettings(d.settings), Start: encodeFrom(d.start)})
	}
	data, _ := json.Marshal(c) // only strings, numbers and bools
	return data
}

// place is where a group is in its source: a revision of its stream, or a
// position of $all.
type place struct {
	rev uint64
	pos eventstore.Position
}

// encodeCheckpoint returns the data of a CheckpointEventType event.
func encodeCheckpoint(all bool, p place) []byte {
	if all {
		return []byte(strconv.Quote(p.pos.String()))
	}
	return strconv.AppendUint(nil, p.rev, 10)
}

// decodeCheckpoint parses a CheckpointEventType event's data.
func decodeCheckpoint(all bool, data []byte) (place, error) {
	if !all {
		var rev uint64
		if err := json.Unmarshal(data, &rev); err != nil {
			return place{}, fmt.Errorf("persistent: checkpoint %q: %w", data, err)
		}
		return place{rev: rev}, nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return place{}, fmt.Errorf("persistent: checkpoint %q: %w", data, err)
	}
	pos, err := eventstore.ParsePosition(s)
	if err != nil {
		return place{}, fmt.Errorf("persistent: checkpoint: %w", err)
	}
	return place{pos: pos}, nil
}
