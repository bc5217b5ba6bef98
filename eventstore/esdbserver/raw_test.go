package esdbserver_test

import (
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
)

// Builders of raw protocol requests, for the requests the official client
// never sends. readReq starts from what the client sends for ReadAll.

type readOpt func(*streams.ReadReq_Options)

func readReq(opts ...readOpt) *streams.ReadReq {
	o := &streams.ReadReq_Options{
		StreamOption: &streams.ReadReq_Options_All{All: &streams.ReadReq_Options_AllOptions{
			AllOption: &streams.ReadReq_Options_AllOptions_Start{Start: empty()},
		}},
		CountOption:  &streams.ReadReq_Options_Count{Count: 100},
		FilterOption: &streams.ReadReq_Options_NoFilter{NoFilter: empty()},
		UuidOption:   &streams.ReadReq_Options_UUIDOption{Content: &streams.ReadReq_Options_UUIDOption_Structured{Structured: empty()}},
	}
	for _, f := range opts {
		f(o)
	}
	return &streams.ReadReq{Options: o}
}

func streamOpts(name string) readOpt {
	return streamBytes([]byte(name))
}

func streamBytes(name []byte) readOpt {
	return func(o *streams.ReadReq_Options) {
		o.StreamOption = &streams.ReadReq_Options_Stream{Stream: &streams.ReadReq_Options_StreamOptions{
			StreamIdentifier: &shared.StreamIdentifier{StreamName: name},
			RevisionOption:   &streams.ReadReq_Options_StreamOptions_Start{Start: empty()},
		}}
	}
}

func countOpt(n uint64) readOpt {
	return func(o *streams.ReadReq_Options) { o.CountOption = &streams.ReadReq_Options_Count{Count: n} }
}

func subscriptionOpt() readOpt {
	return func(o *streams.ReadReq_Options) {
		o.CountOption = &streams.ReadReq_Options_Subscription{Subscription: &streams.ReadReq_Options_SubscriptionOptions{}}
	}
}

func withStringUUID() readOpt {
	return func(o *streams.ReadReq_Options) {
		o.UuidOption = &streams.ReadReq_Options_UUIDOption{Content: &streams.ReadReq_Options_UUIDOption_String_{String_: empty()}}
	}
}

func backwards() readOpt {
	return func(o *streams.ReadReq_Options) { o.ReadDirection = streams.ReadReq_Options_Backwards }
}

func withFilter(f *streams.ReadReq_Options_FilterOptions) readOpt {
	return func(o *streams.ReadReq_Options) { o.FilterOption = &streams.ReadReq_Options_Filter{Filter: f} }
}

// streamPrefixFilter is a stream-name prefix filter with window max.
func streamPrefixFilter(window, multiplier uint32, prefixes ...string) *streams.ReadReq_Options_FilterOptions {
	return &streams.ReadReq_Options_FilterOptions{
		Filter: &streams.ReadReq_Options_FilterOptions_StreamIdentifier{StreamIdentifier: &streams.ReadReq_Options_FilterOptions_Expression{Prefix: prefixes}},
		Window: &streams.ReadReq_Options_FilterOptions_Max{Max: window}, CheckpointIntervalMultiplier: multiplier,
	}
}

func appendOptions(stream string, expected func(*streams.AppendReq_Options)) *streams.AppendReq {
	o := &streams.AppendReq_Options{StreamIdentifier: streamID(stream)}
	if expected != nil {
		expected(o)
	} else {
		o.ExpectedStreamRevision = &streams.AppendReq_Options_Any{Any: empty()}
	}
	return &streams.AppendReq{Content: &streams.AppendReq_Options_{Options: o}}
}

func structuredID(id uuid.UUID) *shared.UUID {
	var most, least int64
	for i := range 8 {
		most = most<<8 | int64(id[i])
		least = least<<8 | int64(id[8+i])
	}
	return &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{MostSignificantBits: most, LeastSignificantBits: least}}}
}

func proposed(id *shared.UUID, metadata map[string]string, data []byte) *streams.AppendReq {
	return &streams.AppendReq{Content: &streams.AppendReq_ProposedMessage_{ProposedMessage: &streams.AppendReq_ProposedMessage{
		Id: id, Metadata: metadata, Data: data,
	}}}
}

func jsonMeta(typ string) map[string]string {
	return map[string]string{"type": typ, "content-type": "application/json"}
}
