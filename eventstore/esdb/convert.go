package esdb

import (
	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/chronicle-go/chronicle/eventstore"
)

// toExpected converts an expected revision to the client's.
func toExpected(e eventstore.ExpectedRevision) esdb.ExpectedRevision {
	switch {
	case e.IsNoStream():
		return esdb.NoStream{}
	case e.IsStreamExists():
		return esdb.StreamExists{}
	}
	if rev, ok := e.Revision(); ok {
		return esdb.StreamRevision{Value: rev}
	}
	return esdb.Any{}
}

// toEventData converts prepared events (IDs and content types set).
func toEventData(evs []eventstore.EventData) []esdb.EventData {
	out := make([]esdb.EventData, len(evs))
	for i, e := range evs {
		ct := esdb.ContentTypeBinary
		if e.ContentType == eventstore.ContentTypeJSON {
			ct = esdb.ContentTypeJson
		}
		out[i] = esdb.EventData{EventID: e.ID, EventType: e.Type, ContentType: ct, Data: e.Data, Metadata: e.Metadata}
	}
	return out
}

// fromRecorded converts an event the client read. EventStoreDB keeps only
// an is-JSON flag, so the content type is one of the contract's two.
func fromRecorded(r *esdb.RecordedEvent) eventstore.RecordedEvent {
	ct := eventstore.ContentTypeBinary
	if r.ContentType == eventstore.ContentTypeJSON {
		ct = eventstore.ContentTypeJSON
	}
	return eventstore.RecordedEvent{
		ID:          r.EventID,
		Type:        r.EventType,
		ContentType: ct,
		Data:        nilIfEmpty(r.Data),
		Metadata:    nilIfEmpty(r.UserMetadata),
		Stream:      r.StreamID,
		Revision:    r.EventNumber,
		Position:    fromPosition(r.Position),
		Created:     r.CreatedDate.UTC(),
	}
}

// fromResolved converts what a read or subscription delivered: with
// ResolveLinks, a resolved link is the event with the link in its Link
// field; a link whose target is gone is the link itself.
func fromResolved(ev *esdb.ResolvedEvent) eventstore.RecordedEvent {
	switch {
	case ev.Link == nil:
		return fromRecorded(ev.Event)
	case ev.Event == nil:
		return fromRecorded(ev.Link)
	}
	e, l := fromRecorded(ev.Event), fromRecorded(ev.Link)
	e.Link = &l
	return e
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func fromPosition(p esdb.Position) eventstore.Position {
	return eventstore.Position{Commit: p.Commit, Prepare: p.Prepare}
}

func toPosition(p eventstore.Position) esdb.Position {
	return esdb.Position{Commit: p.Commit, Prepare: p.Prepare}
}

// toFilter converts a compiled-checked filter. The server checkpoints every
// window × multiplier examined events, so the window is the interval.
func toFilter(f *eventstore.Filter) (*esdb.SubscriptionFilter, int) {
	t := esdb.StreamFilterType
	if f.Target == eventstore.FilterEventType {
		t = esdb.EventFilterType
	}
	return &esdb.SubscriptionFilter{Type: t, Prefixes: f.Prefixes, Regex: f.Regex}, int(f.Interval())
}
