package esdbserver

import (
	"math"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/persistent"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"

	"github.com/chronicle-go/chronicle/eventstore"
)

// This file turns PersistentSubscriptions requests into eventstore values.

// ticksPerMillisecond: the *_ticks settings count .NET ticks of 100 ns.
const ticksPerMillisecond = int64(time.Millisecond / 100)

// settingsMessage is what CreateReq.Settings and UpdateReq.Settings share.
type settingsMessage interface {
	GetResolveLinks() bool
	GetExtraStatistics() bool
	GetMaxRetryCount() int32
	GetMinCheckpointCount() int32
	GetMaxCheckpointCount() int32
	GetMaxSubscriberCount() int32
	GetLiveBufferSize() int32
	GetReadBatchSize() int32
	GetHistoryBufferSize() int32
	GetMessageTimeoutTicks() int64
	GetMessageTimeoutMs() int32
	GetCheckpointAfterTicks() int64
	GetCheckpointAfterMs() int32
}

// decodeSettings maps the settings fields as the real server does: a
// timeout in ticks is converted to whole milliseconds, an unset one is 0.
// The consumer strategy is the string field when set (Create only), else
// the name of the deprecated enum; a name that is no strategy fails the
// settings' validation.
func decodeSettings(m settingsMessage, strategy string) eventstore.PersistentSettings {
	return eventstore.PersistentSettings{
		ResolveLinks:       m.GetResolveLinks(),
		ExtraStatistics:    m.GetExtraStatistics(),
		MessageTimeout:     millisOrTicks(m.GetMessageTimeoutMs(), m.GetMessageTimeoutTicks()),
		MaxRetryCount:      int(m.GetMaxRetryCount()),
		LiveBufferSize:     int(m.GetLiveBufferSize()),
		ReadBatchSize:      int(m.GetReadBatchSize()),
		HistoryBufferSize:  int(m.GetHistoryBufferSize()),
		CheckpointAfter:    millisOrTicks(m.GetCheckpointAfterMs(), m.GetCheckpointAfterTicks()),
		MinCheckpointCount: int(m.GetMinCheckpointCount()),
		MaxCheckpointCount: int(m.GetMaxCheckpointCount()),
		MaxSubscriberCount: int(m.GetMaxSubscriberCount()),
		ConsumerStrategy:   eventstore.ConsumerStrategy(strategy),
	}
}

func millisOrTicks(ms int32, ticks int64) time.Duration {
	if ticks != 0 {
		ms64 := ticks / ticksPerMillisecond
		if ms64 > math.MaxInt32 || ms64 < math.MinInt32 {
			ms64 = max(min(ms64, math.MaxInt32), math.MinInt32)
		}
		return time.Duration(ms64) * time.Millisecond
	}
	return time.Duration(ms) * time.Millisecond
}

// decodeCreate decodes a Create request.
func decodeCreate(req *persistent.CreateReq) (eventstore.PersistentGroup, eventstore.PersistentSettings, error) {
	o := req.GetOptions()
	if o == nil || o.GetSettings() == nil {
		return eventstore.PersistentGroup{}, eventstore.PersistentSettings{}, invalidArgument("create request without options or settings")
	}
	st := o.GetSettings()
	strategy := st.GetConsumerStrategy()
	if strategy == "" {
		strategy = st.GetNamedConsumerStrategy().String()
	}
	settings := decodeSettings(st, strategy)
	g := eventstore.PersistentGroup{Group: o.GetGroupName()}
	switch x := o.GetStreamOption().(type) {
	case *persistent.CreateReq_Options_Stream:
		name, err := decodeStreamName(x.Stream.GetStreamIdentifier())
		if err != nil {
			return g, settings, err
		}
		g.Stream = name
		switch r := x.Stream.GetRevisionOption().(type) {
		case *persistent.CreateReq_StreamOptions_Start:
			settings.From = eventstore.Start
		case *persistent.CreateReq_StreamOptions_End:
			settings.From = eventstore.End
		case *persistent.CreateReq_StreamOptions_Revision:
			settings.From = eventstore.FromRevision(r.Revision)
		default:
			return g, settings, invalidArgument("create request for a stream without a start (revision, start or end)")
		}
	case *persistent.CreateReq_Options_All:
		g.Stream = eventstore.AllStream
		switch p := x.All.GetAllOption().(type) {
		case *persistent.CreateReq_AllOptions_Start:
			settings.From = eventstore.Start
		case *persistent.CreateReq_AllOptions_End:
			settings.From = eventstore.End
		case *persistent.CreateReq_AllOptions_Position:
			settings.From = fromPosition(p.Position)
		default:
			return g, settings, invalidArgument("create request for $all without a start (position, start or end)")
		}
		if f := x.All.GetFilter(); f != nil {
			filter, err := decodePersistentFilter(f)
			if err != nil {
				return g, settings, err
			}
			settings.Filter = filter
		}
	default:
		var err error
		if g.Stream, settings.From, err = legacyTarget(o.GetStreamIdentifier(), st.GetRevision()); err != nil {
			return g, settings, err
		}
	}
	return g, settings, nil
}

// legacyTarget decodes the stream and start of a request in the form of
// servers before 21: the deprecated stream_identifier, and the start in
// settings.revision (2^64-1: the end).
func legacyTarget(id *shared.StreamIdentifier, rev uint64) (string, eventstore.From, error) {
	name, err := decodeStreamName(id)
	switch {
	case err != nil:
		return "", eventstore.Start, err
	case rev == 0:
		return name, eventstore.Start, nil
	case rev == math.MaxUint64:
		return name, eventstore.End, nil
	}
	return name, eventstore.FromRevision(rev), nil
}

// fromPosition is the start of a $all group at a request's position.
func fromPosition(p interface {
	GetCommitPosition() uint64
	GetPreparePosition() uint64
}) eventstore.From {
	return eventstore.FromPosition(eventstore.Position{Commit: p.GetCommitPosition(), Prepare: p.GetPreparePosition()})
}

// decodePersistentFilter decodes the filter of a $all group. Its window
// and checkpoint multiplier do not apply to persistent subscriptions.
func decodePersistentFilter(fo *persistent.CreateReq_AllOptions_FilterOptions) (*eventstore.Filter, error) {
	var (
		f    eventstore.Filter
		expr *persistent.CreateReq_AllOptions_FilterOptions_Expression
	)
	switch x := fo.GetFilter().(type) {
	case *persistent.CreateReq_AllOptions_FilterOptions_StreamIdentifier:
		f.Target, expr = eventstore.FilterStreamName, x.StreamIdentifier
	case *persistent.CreateReq_AllOptions_FilterOptions_EventType:
		f.Target, expr = eventstore.FilterEventType, x.EventType
	default:
		return nil, invalidArgument("filter on neither stream_identifier nor event_type")
	}
	f.Prefixes, f.Regex = expr.GetPrefix(), expr.GetRegex()
	return &f, nil
}

// decodeUpdate decodes an Update request. It carries no filter: a $all
// group keeps the one it has (see persistentService.Update).
func decodeUpdate(req *persistent.UpdateReq) (eventstore.PersistentGroup, eventstore.PersistentSettings, error) {
	o := req.GetOptions()
	if o == nil || o.GetSettings() == nil {
		return eventstore.PersistentGroup{}, eventstore.PersistentSettings{}, invalidArgument("update request without options or settings")
	}
	settings := decodeSettings(o.GetSettings(), o.GetSettings().GetNamedConsumerStrategy().String())
	g := eventstore.PersistentGroup{Group: o.GetGroupName()}
	switch x := o.GetStreamOption().(type) {
	case *persistent.UpdateReq_Options_Stream:
		name, err := decodeStreamName(x.Stream.GetStreamIdentifier())
		if err != nil {
			return g, settings, err
		}
		g.Stream = name
		switch r := x.Stream.GetRevisionOption().(type) {
		case *persistent.UpdateReq_StreamOptions_Start:
			settings.From = eventstore.Start
		case *persistent.UpdateReq_StreamOptions_End:
			settings.From = eventstore.End
		case *persistent.UpdateReq_StreamOptions_Revision:
			settings.From = eventstore.FromRevision(r.Revision)
		default:
			return g, settings, invalidArgument("update request for a stream without a start (revision, start or end)")
		}
	case *persistent.UpdateReq_Options_All:
		g.Stream = eventstore.AllStream
		switch p := x.All.GetAllOption().(type) {
		case *persistent.UpdateReq_AllOptions_Start:
			settings.From = eventstore.Start
		case *persistent.UpdateReq_AllOptions_End:
			settings.From = eventstore.End
		case *persistent.UpdateReq_AllOptions_Position:
			settings.From = fromPosition(p.Position)
		default:
			return g, settings, invalidArgument("update request for $all without a start (position, start or end)")
		}
	default:
		var err error
		if g.Stream, settings.From, err = legacyTarget(o.GetStreamIdentifier(), o.GetSettings().GetRevision()); err != nil {
			return g, settings, err
		}
	}
	return g, settings, nil
}

// streamOrAll is the stream_identifier | all oneof of Delete, GetInfo,
// ReplayParked and Read options, unwrapped by the caller.
func groupOf(id *shared.StreamIdentifier, all *shared.Empty, group string) (eventstore.PersistentGroup, error) {
	if all != nil {
		return eventstore.PersistentGroup{Stream: eventstore.AllStream, Group: group}, nil
	}
	name, err := decodeStreamName(id)
	if err != nil {
		return eventstore.PersistentGroup{}, invalidArgument("request names neither a stream nor $all")
	}
	return eventstore.PersistentGroup{Stream: name, Group: group}, nil
}
