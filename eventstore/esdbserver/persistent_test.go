package esdbserver_test

import (
	"context"
	"errors"

	"slices"
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/persistent"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/esdbserver"
	"github.com/chronicle-go/chronicle/eventstore/memory"
)

// plainStore is a store without optional capabilities.
type plainStore struct{ eventstore.Store }

func newPlainServer(t *testing.T) (*esdbserver.Server, eventstore.Store) {
	t.Helper()
	store := memory.New()
	t.Cleanup(func() { store.Close() })
	return startServer(t, plainStore{store}), store
}

func persistentClient(t *testing.T, srv *esdbserver.Server) persistent.PersistentSubscriptionsClient {
	t.Helper()
	return persistent.NewPersistentSubscriptionsClient(rawConn(t, srv))
}

func TestPersistentAdvertisedOnlyWhenTheStoreOffersIt(t *testing.T) {
	ctx := testContext(t)
	advertised := func(srv *esdbserver.Server) map[string][]string {
		out, err := serverfeatures.NewServerFeaturesClient(rawConn(t, srv)).GetSupportedMethods(ctx, empty())
		if err != nil {
			t.Fatal(err)
		}
		m := map[string][]string{}
		for _, sm := range out.Methods {
			if sm.ServiceName == "event_store.client.persistent_subscriptions.persistentsubscriptions" {
				m[sm.MethodName] = sm.Features
			}
		}
		return m
	}
	got := advertised(startServer(t, newFakePS(t)))
	for _, m := range []string{"create", "update", "delete", "read", "getinfo", "list", "replayparked", "restartsubsystem"} {
		if !slices.Contains(got[m], "all") || !slices.Contains(got[m], "stream") {
			t.Errorf("%s advertised with %v, want stream and all", m, got[m])
		}
	}
	plain, _ := newPlainServer(t)
	if got := advertised(plain); len(got) != 0 {
		t.Errorf("a store without persistent subscriptions advertises %v", got)
	}
	_, err := persistentClient(t, plain).List(ctx, &persistent.ListReq{Options: &persistent.ListReq_Options{
		ListOption: &persistent.ListReq_Options_ListAllSubscriptions{ListAllSubscriptions: empty()}}})
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("List on a store without persistent subscriptions: %v, want Unimplemented", err)
	}
}

// nextPersistent receives one event of a client's persistent subscription.
func nextPersistent(t *testing.T, sub *esdb.PersistentSubscription) *esdb.EventAppeared {
	t.Helper()
	ev := sub.Recv()
	if ev.SubscriptionDropped != nil {
		t.Fatalf("dropped: %v", ev.SubscriptionDropped.Error)
	}
	return ev.EventAppeared
}

// TestPersistentOfficialClient runs the v4 client's persistent API through
// the server.
func TestPersistentOfficialClient(t *testing.T) {
	ctx := testContext(t)
	ps := newFakePS(t)
	srv := startServer(t, ps)
	c := newClient(t, srv.ConnectionString())

	settings := esdb.SubscriptionSettingsDefault()
	settings.MaxSubscriberCount = 1
	if err := c.CreatePersistentSubscription(ctx, "orders", "g1", esdb.PersistentStreamSubscriptionOptions{Settings: &settings, StartFrom: esdb.Start{}}); err != nil {
		t.Fatal(err)
	}
	if err := c.CreatePersistentSubscription(ctx, "orders", "g1", esdb.PersistentStreamSubscriptionOptions{}); errorCode(err) != esdb.ErrorCodeResourceAlreadyExists {
		t.Fatalf("create twice: %v", err)
	}
	if _, err := c.SubscribeToPersistentSubscription(ctx, "orders", "nope", esdb.SubscribeToPersistentSubscriptionOptions{}); errorCode(err) != esdb.ErrorCodeResourceNotFound {
		t.Fatalf("subscribe to a missing group: %v", err)
	}
	var ids []uuid.UUID
	for range 3 {
		e := jsonEvent("OrderPlaced", `{}`)
		ids = append(ids, e.EventID)
		if _, err := c.AppendToStream(ctx, "orders", esdb.AppendToStreamOptions{}, e); err != nil {
			t.Fatal(err)
		}
	}
	sub, err := c.SubscribeToPersistentSubscription(ctx, "orders", "g1", esdb.SubscribeToPersistentSubscriptionOptions{BufferSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	// The group allows one consumer.
	if _, err := c.SubscribeToPersistentSubscription(ctx, "orders", "g1", esdb.SubscribeToPersistentSubscriptionOptions{}); err == nil || !strings.Contains(err.Error(), "Maximum subscriptions reached") {
		t.Errorf("second consumer: %v, want maximum subscribers reached", err)
	}
	var got []*esdb.EventAppeared
	for range ids {
		got = append(got, nextPersistent(t, sub))
	}
	for i, ev := range got {
		if ev.Event.OriginalEvent().EventID != ids[i] || ev.RetryCount != 0 || ev.Event.OriginalEvent().EventNumber != uint64(i) {
			t.Fatalf("delivery %d: %s #%d retry %d", i, ev.Event.OriginalEvent().EventID, ev.Event.OriginalEvent().EventNumber, ev.RetryCount)
		}
	}
	if err := sub.Ack(got[0].Event); err != nil {
		t.Fatal(err)
	}
	if err := sub.Nack("again", esdb.NackActionRetry, got[1].Event); err != nil {
		t.Fatal(err)
	}
	if ev := nextPersistent(t, sub); ev.Event.OriginalEvent().EventID != ids[1] || ev.RetryCount != 1 {
		t.Fatalf("retried %s with retry count %d", ev.Event.OriginalEvent().EventID, ev.RetryCount)
	}
	if err := sub.Nack("park it", esdb.NackActionPark, got[1].Event, got[2].Event); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		info, err := c.GetPersistentSubscriptionInfo(ctx, "orders", "g1", esdb.GetPersistentSubscriptionOptions{})
		return err == nil && info.Stats.ParkedMessagesCount == 2
	})
	info, err := c.GetPersistentSubscriptionInfo(ctx, "orders", "g1", esdb.GetPersistentSubscriptionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if info.EventSource != "orders" || info.GroupName != "g1" || info.Status != "Live" || len(info.Connections) != 1 ||
		info.Settings.MaxSubscriberCount != 1 || info.Settings.ConsumerStrategyName != esdb.ConsumerStrategyRoundRobin ||
		info.Settings.MessageTimeout != 30_000 || info.Settings.CheckpointAfter != 2_000 || info.Settings.HistoryBufferSize != 500 ||
		info.Stats.LastKnownEventRevision == nil || info.Stats.LastCheckpointedEventRevision != nil {
		t.Errorf("info %+v settings %+v stats %+v", info, info.Settings, info.Stats)
	}
	if _, ok := info.Settings.StartFrom.(esdb.Start); !ok {
		t.Errorf("start from %#v, want Start", info.Settings.StartFrom)
	}
	if err := c.ReplayParkedMessages(ctx, "orders", "g1", esdb.ReplayParkedMessagesOptions{StopAt: 1}); err != nil {
		t.Fatal(err)
	}
	if ev := nextPersistent(t, sub); ev.Event.OriginalEvent().EventID != ids[1] {
		t.Fatalf("replayed %s, want %s", ev.Event.OriginalEvent().EventID, ids[1])
	}

	// $all groups, with a filter.
	if err := c.CreatePersistentSubscriptionToAll(ctx, "all-1", esdb.PersistentAllSubscriptionOptions{StartFrom: esdb.Position{Commit: 7, Prepare: 7},
		Filter: &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Regex: "^Order"}}); err != nil {
		t.Fatal(err)
	}
	allInfo, err := c.GetPersistentSubscriptionInfoToAll(ctx, "all-1", esdb.GetPersistentSubscriptionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := allInfo.Settings.StartFrom.(*esdb.Position); !ok || p.Commit != 7 || allInfo.EventSource != "$all" || allInfo.Stats.LastKnownPosition == nil {
		t.Errorf("$all info %+v settings %+v stats %+v", allInfo, allInfo.Settings, allInfo.Stats)
	}
	if f := ps.settingsOf("$all::all-1").Filter; f == nil || f.Target != eventstore.FilterEventType || f.Regex != "^Order" {
		t.Errorf("$all group's filter %+v", f)
	}
	up := esdb.SubscriptionSettingsDefault()
	up.ConsumerStrategyName = esdb.ConsumerStrategyPinned
	if err := c.UpdatePersistentSubscriptionToAll(ctx, "all-1", esdb.PersistentAllSubscriptionOptions{Settings: &up, StartFrom: esdb.Start{}}); err != nil {
		t.Fatal(err)
	}
	if g := ps.settingsOf("$all::all-1"); g.Filter == nil || g.ConsumerStrategy != eventstore.Pinned {
		t.Errorf("after update: %+v", g)
	}
	for stream, want := range map[string][]string{"": {"$all::all-1", "orders::g1"}, "$all": {"$all::all-1"}, "orders": {"orders::g1"}} {
		var list []esdb.PersistentSubscriptionInfo
		switch stream {
		case "":
			list, err = c.ListAllPersistentSubscriptions(ctx, esdb.ListPersistentSubscriptionsOptions{})
		case "$all":
			list, err = c.ListPersistentSubscriptionsToAll(ctx, esdb.ListPersistentSubscriptionsOptions{})
		default:
			list, err = c.ListPersistentSubscriptionsForStream(ctx, stream, esdb.ListPersistentSubscriptionsOptions{})
		}
		var names []string
		for _, i := range list {
			names = append(names, i.EventSource+"::"+i.GroupName)
		}
		if err != nil || !slices.Equal(names, want) {
			t.Errorf("list %q: %v, %v; want %v", stream, names, err, want)
		}
	}
	if _, err := c.ListPersistentSubscriptionsForStream(ctx, "nothing", esdb.ListPersistentSubscriptionsOptions{}); errorCode(err) != esdb.ErrorCodeResourceNotFound {
		t.Errorf("list for a stream without groups: %v", err)
	}

	// Update drops the consumer with the raw Cancelled status.
	if err := c.UpdatePersistentSubscription(ctx, "orders", "g1", esdb.PersistentStreamSubscriptionOptions{Settings: &settings, StartFrom: esdb.StreamRevision{Value: 1}}); err != nil {
		t.Fatal(err)
	}
	if ev := sub.Recv(); ev.SubscriptionDropped == nil || status.Code(ev.SubscriptionDropped.Error) != codes.Canceled {
		t.Errorf("after update: %+v", ev)
	}
	if err := c.RestartPersistentSubscriptionSubsystem(ctx, esdb.RestartPersistentSubscriptionSubsystemOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.DeletePersistentSubscription(ctx, "orders", "g1", esdb.DeletePersistentSubscriptionOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.DeletePersistentSubscriptionToAll(ctx, "all-1", esdb.DeletePersistentSubscriptionOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.DeletePersistentSubscription(ctx, "orders", "g1", esdb.DeletePersistentSubscriptionOptions{}); errorCode(err) != esdb.ErrorCodeResourceNotFound {
		t.Errorf("delete twice: %v", err)
	}
	if _, err := c.GetPersistentSubscriptionInfo(ctx, "orders", "g1", esdb.GetPersistentSubscriptionOptions{}); errorCode(err) != esdb.ErrorCodeResourceNotFound {
		t.Errorf("info of a deleted group: %v", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// trailerCall runs a unary call and returns its status code and trailers.
func trailerCall(call func(opts ...grpc.CallOption) error) (codes.Code, metadata.MD) {
	var md metadata.MD
	err := call(grpc.Trailer(&md))
	return status.Code(err), md
}

func wantTrailers(t *testing.T, what string, md metadata.MD, kv ...string) {
	t.Helper()
	for i := 0; i < len(kv); i += 2 {
		if got := md.Get(kv[i]); len(got) != 1 || got[0] != kv[i+1] {
			t.Errorf("%s: trailer %s = %q, want %q (all: %v)", what, kv[i], got, kv[i+1], md)
		}
	}
}

func psStreamOpts(stream string) *persistent.CreateReq_Options_Stream {
	return &persistent.CreateReq_Options_Stream{Stream: &persistent.CreateReq_StreamOptions{
		StreamIdentifier: streamID(stream), RevisionOption: &persistent.CreateReq_StreamOptions_Start{Start: empty()}}}
}

func defaultCreateSettings() *persistent.CreateReq_Settings {
	return &persistent.CreateReq_Settings{MaxRetryCount: 10, MinCheckpointCount: 10, MaxCheckpointCount: 1000, LiveBufferSize: 500,
		ReadBatchSize: 20, HistoryBufferSize: 500, NamedConsumerStrategy: persistent.CreateReq_RoundRobin,
		MessageTimeout:  &persistent.CreateReq_Settings_MessageTimeoutMs{MessageTimeoutMs: 30000},
		CheckpointAfter: &persistent.CreateReq_Settings_CheckpointAfterMs{CheckpointAfterMs: 2000}}
}

func getInfo(ctx context.Context, t *testing.T, pc persistent.PersistentSubscriptionsClient, stream, group string) *persistent.SubscriptionInfo {
	t.Helper()
	o := &persistent.GetInfoReq_Options{GroupName: group, StreamOption: &persistent.GetInfoReq_Options_StreamIdentifier{StreamIdentifier: streamID(stream)}}
	if stream == "$all" {
		o.StreamOption = &persistent.GetInfoReq_Options_All{All: empty()}
	}
	resp, err := pc.GetInfo(ctx, &persistent.GetInfoReq{Options: o})
	if err != nil {
		t.Fatalf("GetInfo %s::%s: %v", stream, group, err)
	}
	return resp.SubscriptionInfo
}

// TestPersistentStatusesAndSettings checks statuses, trailers and the
// mapping of settings with the raw protocol.
func TestPersistentStatusesAndSettings(t *testing.T) {
	ctx := testContext(t)
	ps := newFakePS(t)
	srv := startServer(t, ps)
	pc := persistentClient(t, srv)
	create := func(o *persistent.CreateReq_Options) (codes.Code, metadata.MD) {
		return trailerCall(func(opts ...grpc.CallOption) error {
			_, err := pc.Create(ctx, &persistent.CreateReq{Options: o}, opts...)
			return err
		})
	}
	if code, md := create(&persistent.CreateReq_Options{GroupName: "g", StreamOption: psStreamOpts("s-1"), Settings: defaultCreateSettings()}); code != codes.OK {
		t.Fatalf("create: %v %v", code, md)
	}
	code, md := create(&persistent.CreateReq_Options{GroupName: "g", StreamOption: psStreamOpts("s-1"), Settings: defaultCreateSettings()})
	if code != codes.AlreadyExists {
		t.Errorf("create twice: %v", code)
	}
	wantTrailers(t, "create twice", md, "exception", "persistent-subscription-exists", "stream-name", "s-1", "group-name", "g")

	// Invalid settings: Internal with the reason, as the real server.
	bad := defaultCreateSettings()
	bad.MinCheckpointCount = 2000
	code, md = create(&persistent.CreateReq_Options{GroupName: "bad", StreamOption: psStreamOpts("s-1"), Settings: bad})
	if code != codes.Internal || !strings.Contains(strings.Join(md.Get("reason"), ""), "min_checkpoint_count") {
		t.Errorf("min > max checkpoint count: %v %v", code, md)
	}
	wantTrailers(t, "invalid settings", md, "exception", "persistent-subscription-failed", "stream-name", "s-1", "group-name", "bad")
	bad = defaultCreateSettings()
	bad.NamedConsumerStrategy = 7
	if code, _ := create(&persistent.CreateReq_Options{GroupName: "bad", StreamOption: psStreamOpts("s-1"), Settings: bad}); code != codes.Internal {
		t.Errorf("unknown strategy enum: %v", code)
	}
	if code, _ := create(&persistent.CreateReq_Options{GroupName: "", StreamOption: psStreamOpts("s-1"), Settings: defaultCreateSettings()}); code != codes.InvalidArgument {
		t.Errorf("empty group name: %v", code)
	}
	for name, o := range map[string]*persistent.CreateReq_Options{
		"no options":         nil,
		"no settings":        {GroupName: "x", StreamOption: psStreamOpts("s-1")},
		"no start":           {GroupName: "x", Settings: defaultCreateSettings(), StreamOption: &persistent.CreateReq_Options_Stream{Stream: &persistent.CreateReq_StreamOptions{StreamIdentifier: streamID("s")}}},
		"no stream":          {GroupName: "x", Settings: defaultCreateSettings()},
		"no stream id":       {GroupName: "x", Settings: defaultCreateSettings(), StreamOption: &persistent.CreateReq_Options_Stream{Stream: &persistent.CreateReq_StreamOptions{}}},
		"$all without start": {GroupName: "x", Settings: defaultCreateSettings(), StreamOption: &persistent.CreateReq_Options_All{All: &persistent.CreateReq_AllOptions{}}},
		"$all bad filter": {GroupName: "x", Settings: defaultCreateSettings(), StreamOption: &persistent.CreateReq_Options_All{All: &persistent.CreateReq_AllOptions{
			AllOption: &persistent.CreateReq_AllOptions_Start{Start: empty()}, FilterOption: &persistent.CreateReq_AllOptions_Filter{Filter: &persistent.CreateReq_AllOptions_FilterOptions{}}}}},
	} {
		if code, _ := create(o); code != codes.InvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", name, code)
		}
	}

	// The string strategy wins over the enum; ticks are converted; the
	// deprecated stream field with settings.revision 2^64-1 starts at the end.
	st := defaultCreateSettings()
	st.ConsumerStrategy = "PinnedByCorrelation"
	st.MessageTimeout = &persistent.CreateReq_Settings_MessageTimeoutTicks{MessageTimeoutTicks: 5 * 10_000_000}
	st.CheckpointAfter = &persistent.CreateReq_Settings_CheckpointAfterTicks{CheckpointAfterTicks: 3 * 10_000_000}
	st.Revision = ^uint64(0)
	if code, md := create(&persistent.CreateReq_Options{GroupName: "old", StreamIdentifier: streamID("s-2"), Settings: st}); code != codes.OK {
		t.Fatalf("old-style create: %v %v", code, md)
	}
	info := getInfo(ctx, t, pc, "s-2", "old")
	if info.NamedConsumerStrategy != "PinnedByCorrelation" || info.MessageTimeoutMilliseconds != 5000 || info.CheckPointAfterMilliseconds != 3000 || info.StartFrom != "-1" {
		t.Errorf("old-style group: %+v", info)
	}
	st.Revision = 5
	if code, _ := create(&persistent.CreateReq_Options{GroupName: "rev", StreamIdentifier: streamID("s-2"), Settings: st}); code != codes.OK {
		t.Fatal(code)
	}
	if info := getInfo(ctx, t, pc, "s-2", "rev"); info.StartFrom != "5" || info.LastCheckpointedEventPosition != "" {
		t.Errorf("start from revision 5: %q, checkpoint %q", info.StartFrom, info.LastCheckpointedEventPosition)
	}
	for from, want := range map[string]string{"start": "C:0/P:0", "end": "C:-1/P:-1", "pos": "C:12/P:11"} {
		all := &persistent.CreateReq_AllOptions{FilterOption: &persistent.CreateReq_AllOptions_NoFilter{NoFilter: empty()}}
		switch from {
		case "start":
			all.AllOption = &persistent.CreateReq_AllOptions_Start{Start: empty()}
		case "end":
			all.AllOption = &persistent.CreateReq_AllOptions_End{End: empty()}
		default:
			all.AllOption = &persistent.CreateReq_AllOptions_Position{Position: &persistent.CreateReq_Position{CommitPosition: 12, PreparePosition: 11}}
		}
		if code, md := create(&persistent.CreateReq_Options{GroupName: from, StreamOption: &persistent.CreateReq_Options_All{All: all}, Settings: defaultCreateSettings()}); code != codes.OK {
			t.Fatalf("create $all from %s: %v %v", from, code, md)
		}
		if info := getInfo(ctx, t, pc, "$all", from); info.StartFrom != want || info.LastKnownEventPosition != "C:7/P:7" {
			t.Errorf("$all from %s: start %q last known %q, want %q", from, info.StartFrom, info.LastKnownEventPosition, want)
		}
	}
	for name, f := range map[string]*persistent.CreateReq_AllOptions_FilterOptions{
		"stream prefix": {Filter: &persistent.CreateReq_AllOptions_FilterOptions_StreamIdentifier{StreamIdentifier: &persistent.CreateReq_AllOptions_FilterOptions_Expression{Prefix: []string{"s-"}}}},
		"type regex":    {Filter: &persistent.CreateReq_AllOptions_FilterOptions_EventType{EventType: &persistent.CreateReq_AllOptions_FilterOptions_Expression{Regex: "^A"}}},
	} {
		all := &persistent.CreateReq_AllOptions{AllOption: &persistent.CreateReq_AllOptions_Start{Start: empty()}, FilterOption: &persistent.CreateReq_AllOptions_Filter{Filter: f}}
		if code, md := create(&persistent.CreateReq_Options{GroupName: name, StreamOption: &persistent.CreateReq_Options_All{All: all}, Settings: defaultCreateSettings()}); code != codes.OK {
			t.Errorf("filter %s: %v %v", name, code, md)
		}
	}

	// Update.
	update := func(o *persistent.UpdateReq_Options) (codes.Code, metadata.MD) {
		return trailerCall(func(opts ...grpc.CallOption) error {
			_, err := pc.Update(ctx, &persistent.UpdateReq{Options: o}, opts...)
			return err
		})
	}
	ust := &persistent.UpdateReq_Settings{MaxRetryCount: 3, MinCheckpointCount: 1, MaxCheckpointCount: 5, LiveBufferSize: 50, ReadBatchSize: 5, HistoryBufferSize: 50,
		NamedConsumerStrategy: persistent.UpdateReq_DispatchToSingle, MessageTimeout: &persistent.UpdateReq_Settings_MessageTimeoutTicks{MessageTimeoutTicks: 10_000}}
	for name, o := range map[string]*persistent.UpdateReq_Options{
		"stream revision": {GroupName: "g", Settings: ust, StreamOption: &persistent.UpdateReq_Options_Stream{Stream: &persistent.UpdateReq_StreamOptions{StreamIdentifier: streamID("s-1"), RevisionOption: &persistent.UpdateReq_StreamOptions_Revision{Revision: 4}}}},
		"stream start":    {GroupName: "g", Settings: ust, StreamOption: &persistent.UpdateReq_Options_Stream{Stream: &persistent.UpdateReq_StreamOptions{StreamIdentifier: streamID("s-1"), RevisionOption: &persistent.UpdateReq_StreamOptions_Start{Start: empty()}}}},
		"stream end":      {GroupName: "g", Settings: ust, StreamOption: &persistent.UpdateReq_Options_Stream{Stream: &persistent.UpdateReq_StreamOptions{StreamIdentifier: streamID("s-1"), RevisionOption: &persistent.UpdateReq_StreamOptions_End{End: empty()}}}},
		"deprecated":      {GroupName: "old", Settings: ust, StreamIdentifier: streamID("s-2")},
		"all position":    {GroupName: "start", Settings: ust, StreamOption: &persistent.UpdateReq_Options_All{All: &persistent.UpdateReq_AllOptions{AllOption: &persistent.UpdateReq_AllOptions_Position{Position: &persistent.UpdateReq_Position{CommitPosition: 3, PreparePosition: 3}}}}},
		"all start":       {GroupName: "start", Settings: ust, StreamOption: &persistent.UpdateReq_Options_All{All: &persistent.UpdateReq_AllOptions{AllOption: &persistent.UpdateReq_AllOptions_Start{Start: empty()}}}},
		"all end":         {GroupName: "type regex", Settings: ust, StreamOption: &persistent.UpdateReq_Options_All{All: &persistent.UpdateReq_AllOptions{AllOption: &persistent.UpdateReq_AllOptions_End{End: empty()}}}},
	} {
		if code, md := update(o); code != codes.OK {
			t.Errorf("update %s: %v %v", name, code, md)
		}
	}
	if g := ps.settingsOf("$all::type regex"); g.Filter == nil || g.Filter.Regex != "^A" || g.ConsumerStrategy != eventstore.DispatchToSingle || g.MessageTimeout != time.Millisecond {
		t.Errorf("updated $all group: %+v", g)
	}
	code, md = update(&persistent.UpdateReq_Options{GroupName: "none", Settings: ust, StreamIdentifier: streamID("s-1")})
	if code != codes.NotFound {
		t.Errorf("update of a missing group: %v", code)
	}
	wantTrailers(t, "update of a missing group", md, "exception", "persistent-subscription-does-not-exist", "stream-name", "s-1", "group-name", "none")
	if code, _ := update(&persistent.UpdateReq_Options{GroupName: "none", Settings: ust, StreamOption: &persistent.UpdateReq_Options_All{All: &persistent.UpdateReq_AllOptions{AllOption: &persistent.UpdateReq_AllOptions_Start{Start: empty()}}}}); code != codes.NotFound {
		t.Errorf("update of a missing $all group: %v", code)
	}
	for name, o := range map[string]*persistent.UpdateReq_Options{
		"no options":         nil,
		"no start":           {GroupName: "g", Settings: ust, StreamOption: &persistent.UpdateReq_Options_Stream{Stream: &persistent.UpdateReq_StreamOptions{StreamIdentifier: streamID("s-1")}}},
		"no stream id":       {GroupName: "g", Settings: ust, StreamOption: &persistent.UpdateReq_Options_Stream{Stream: &persistent.UpdateReq_StreamOptions{}}},
		"no stream":          {GroupName: "g", Settings: ust},
		"$all without start": {GroupName: "g", Settings: ust, StreamOption: &persistent.UpdateReq_Options_All{All: &persistent.UpdateReq_AllOptions{}}},
	} {
		if code, _ := update(o); code != codes.InvalidArgument {
			t.Errorf("update %s: %v, want InvalidArgument", name, code)
		}
	}

	// Delete, GetInfo, ReplayParked and List of missing groups and bad requests.
	code, md = trailerCall(func(opts ...grpc.CallOption) error {
		_, err := pc.Delete(ctx, &persistent.DeleteReq{Options: &persistent.DeleteReq_Options{GroupName: "none", StreamOption: &persistent.DeleteReq_Options_All{All: empty()}}}, opts...)
		return err
	})
	if code != codes.NotFound {
		t.Errorf("delete of a missing group: %v", code)
	}
	wantTrailers(t, "delete of a missing group", md, "exception", "persistent-subscription-does-not-exist", "stream-name", "$all", "group-name", "none")
	if _, err := pc.Delete(ctx, &persistent.DeleteReq{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("delete without options: %v", err)
	}
	if _, err := pc.GetInfo(ctx, &persistent.GetInfoReq{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("get info without options: %v", err)
	}
	if _, err := pc.GetInfo(ctx, &persistent.GetInfoReq{Options: &persistent.GetInfoReq_Options{GroupName: "none", StreamOption: &persistent.GetInfoReq_Options_All{All: empty()}}}); status.Code(err) != codes.NotFound {
		t.Errorf("get info of a missing group: %v", err)
	}
	replay := func(o *persistent.ReplayParkedReq_Options) codes.Code {
		_, err := pc.ReplayParked(ctx, &persistent.ReplayParkedReq{Options: o})
		return status.Code(err)
	}
	if c := replay(nil); c != codes.InvalidArgument {
		t.Errorf("replay without options: %v", c)
	}
	if c := replay(&persistent.ReplayParkedReq_Options{GroupName: "g", StreamOption: &persistent.ReplayParkedReq_Options_StreamIdentifier{StreamIdentifier: streamID("s-1")},
		StopAtOption: &persistent.ReplayParkedReq_Options_StopAt{StopAt: -1}}); c != codes.InvalidArgument {
		t.Errorf("replay with a negative stop_at: %v", c)
	}
	if c := replay(&persistent.ReplayParkedReq_Options{GroupName: "none", StreamOption: &persistent.ReplayParkedReq_Options_All{All: empty()},
		StopAtOption: &persistent.ReplayParkedReq_Options_NoLimit{NoLimit: empty()}}); c != codes.NotFound {
		t.Errorf("replay of a missing group: %v", c)
	}
	if _, err := pc.List(ctx, &persistent.ListReq{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("list without options: %v", err)
	}
	if _, err := pc.List(ctx, &persistent.ListReq{Options: &persistent.ListReq_Options{ListOption: &persistent.ListReq_Options_ListForStream{ListForStream: &persistent.ListReq_StreamOption{}}}}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("list for neither stream nor $all: %v", err)
	}
	code, md = trailerCall(func(opts ...grpc.CallOption) error {
		_, err := pc.List(ctx, &persistent.ListReq{Options: &persistent.ListReq_Options{ListOption: &persistent.ListReq_Options_ListForStream{ListForStream: &persistent.ListReq_StreamOption{
			StreamOption: &persistent.ListReq_StreamOption_Stream{Stream: streamID("nothing")}}}}}, opts...)
		return err
	})
	if code != codes.NotFound {
		t.Errorf("list for a stream without groups: %v", code)
	}
	wantTrailers(t, "list for a stream without groups", md, "exception", "persistent-subscription-does-not-exist", "stream-name", "nothing")

	// Store failures.
	for err, want := range map[error]codes.Code{errors.New("disk on fire"): codes.Internal, eventstore.ErrUnavailable: codes.Unavailable, eventstore.ErrAccessDenied: codes.PermissionDenied} {
		ps.setFail(err)
		if _, err := pc.RestartSubsystem(ctx, empty()); status.Code(err) != want {
			t.Errorf("restart with %v: %v, want %v", err, status.Code(err), want)
		}
		if _, err := pc.List(ctx, &persistent.ListReq{Options: &persistent.ListReq_Options{ListOption: &persistent.ListReq_Options_ListAllSubscriptions{ListAllSubscriptions: empty()}}}); status.Code(err) != want {
			t.Errorf("list with %v: %v, want %v", err, status.Code(err), want)
		}
	}
	ps.setFail(nil)
}

// readCall opens a raw persistent Read call and sends its options.
func readCall(ctx context.Context, t *testing.T, pc persistent.PersistentSubscriptionsClient, o *persistent.ReadReq_Options) persistent.PersistentSubscriptions_ReadClient {
	t.Helper()
	rc, err := pc.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if o != nil {
		if err := rc.Send(&persistent.ReadReq{Content: &persistent.ReadReq_Options_{Options: o}}); err != nil {
			t.Fatal(err)
		}
	}
	return rc
}

func readOptions(stream, group string, stringIDs bool) *persistent.ReadReq_Options {
	o := &persistent.ReadReq_Options{GroupName: group, BufferSize: 10, StreamOption: &persistent.ReadReq_Options_StreamIdentifier{StreamIdentifier: streamID(stream)},
		UuidOption: &persistent.ReadReq_Options_UUIDOption{Content: &persistent.ReadReq_Options_UUIDOption_Structured{Structured: empty()}}}
	if stream == "$all" {
		o.StreamOption = &persistent.ReadReq_Options_All{All: empty()}
	}
	if stringIDs {
		o.UuidOption.Content = &persistent.ReadReq_Options_UUIDOption_String_{String_: empty()}
	}
	return o
}

func ackIDs(ids ...uuid.UUID) []*shared.UUID {
	var out []*shared.UUID
	for _, id := range ids {
		out = append(out, &shared.UUID{Value: &shared.UUID_String_{String_: id.String()}})
	}
	return out
}

// TestPersistentRead checks the Read call with the raw protocol: the
// confirmation, events with retry counts and resolved links, acks of
// unknown ids, drops, bad requests and shutdown.
func TestPersistentRead(t *testing.T) {
	ctx := testContext(t)
	ps := newFakePS(t)
	srv := startServer(t, ps)
	pc := persistentClient(t, srv)
	target, err := ps.Append(ctx, "target-1", eventstore.Any, eventstore.EventData{ID: uuid.New(), Type: "T", ContentType: eventstore.ContentTypeJSON, Data: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	_ = target
	first := uuid.New()
	if _, err := ps.Append(ctx, "p-1", eventstore.Any, eventstore.EventData{ID: first, Type: "A", ContentType: eventstore.ContentTypeJSON, Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	settings := eventstore.DefaultPersistentSettings()
	settings.ResolveLinks = true
	if err := ps.CreatePersistentSubscription(ctx, eventstore.PersistentGroupOf("p-1", "g"), settings); err != nil {
		t.Fatal(err)
	}

	// Missing group: NotFound with trailers before any message.
	rc := readCall(ctx, t, pc, readOptions("p-1", "none", false))
	if _, err := rc.Recv(); status.Code(err) != codes.NotFound {
		t.Errorf("read of a missing group: %v", err)
	} else {
		wantTrailers(t, "read of a missing group", rc.Trailer(), "exception", "persistent-subscription-does-not-exist", "group-name", "none")
	}
	// Bad first requests.
	for name, req := range map[string]*persistent.ReadReq{
		"ack first":       {Content: &persistent.ReadReq_Ack_{Ack: &persistent.ReadReq_Ack{}}},
		"no stream":       {Content: &persistent.ReadReq_Options_{Options: &persistent.ReadReq_Options{GroupName: "g"}}},
		"negative buffer": {Content: &persistent.ReadReq_Options_{Options: &persistent.ReadReq_Options{GroupName: "g", BufferSize: -1, StreamOption: &persistent.ReadReq_Options_All{All: empty()}}}},
	} {
		rc := readCall(ctx, t, pc, nil)
		if err := rc.Send(req); err != nil {
			t.Fatal(err)
		}
		if _, err := rc.Recv(); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
	rc = readCall(ctx, t, pc, nil)
	rc.CloseSend()
	if _, err := rc.Recv(); status.Code(err) != codes.InvalidArgument {
		t.Errorf("read without any request: %v", err)
	}

	rctx, cancel := context.WithCancel(ctx)
	rc = readCall(metadata.AppendToOutgoingContext(rctx, "connection-name", "worker-7"), t, pc, readOptions("p-1", "g", true))
	resp, err := rc.Recv()
	if err != nil || resp.GetSubscriptionConfirmation().GetSubscriptionId() != "p-1::g" {
		t.Fatalf("confirmation: %v, %v", resp, err)
	}
	resp, err = rc.Recv()
	if err != nil {
		t.Fatal(err)
	}
	ev := resp.GetEvent()
	if ev.GetEvent().GetId().GetString_() != first.String() || ev.GetRetryCount() != 0 || ev.GetLink() != nil || ev.GetCommitPosition() == 0 {
		t.Fatalf("first event: %v", ev)
	}
	if info := getInfo(ctx, t, pc, "p-1", "g"); len(info.Connections) != 1 || info.Connections[0].ConnectionName != "worker-7" || info.Connections[0].InFlightMessages != 1 {
		t.Errorf("connections %v", info.Connections)
	}
	// A link: the event is the target, the link comes with it, both at the
	// link's position.
	link := uuid.New()
	lres, err := ps.Append(ctx, "p-1", eventstore.Any, eventstore.EventData{ID: link, Type: eventstore.LinkEventType, ContentType: eventstore.ContentTypeBinary, Data: []byte("0@target-1")})
	if err != nil {
		t.Fatal(err)
	}
	resp, err = rc.Recv()
	if err != nil {
		t.Fatal(err)
	}
	ev = resp.GetEvent()
	if ev.GetLink().GetId().GetString_() != link.String() || string(ev.GetEvent().GetStreamIdentifier().GetStreamName()) != "target-1" ||
		ev.GetEvent().GetCommitPosition() != lres.Position.Commit || ev.GetLink().GetCommitPosition() != lres.Position.Commit || ev.GetCommitPosition() != lres.Position.Commit {
		t.Errorf("resolved link: %v (link at %v)", ev, lres.Position)
	}
	// Acks: an unknown id in a batch does not stop the known ones.
	if err := rc.Send(&persistent.ReadReq{Content: &persistent.ReadReq_Ack_{Ack: &persistent.ReadReq_Ack{Ids: ackIDs(uuid.New(), first)}}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return getInfo(ctx, t, pc, "p-1", "g").Connections[0].InFlightMessages == 1 })
	// Nack retry of the link: redelivered with retry count 1.
	if err := rc.Send(&persistent.ReadReq{Content: &persistent.ReadReq_Nack_{Nack: &persistent.ReadReq_Nack{Ids: ackIDs(link), Action: persistent.ReadReq_Nack_Retry}}}); err != nil {
		t.Fatal(err)
	}
	if resp, err = rc.Recv(); err != nil || resp.GetEvent().GetRetryCount() != 1 || resp.GetEvent().GetLink().GetId().GetString_() != link.String() {
		t.Fatalf("retried: %v, %v", resp, err)
	}
	// A nack with an unknown action ends the call with InvalidArgument.
	if err := rc.Send(&persistent.ReadReq{Content: &persistent.ReadReq_Nack_{Nack: &persistent.ReadReq_Nack{Ids: ackIDs(link), Action: 9}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Recv(); status.Code(err) != codes.InvalidArgument {
		t.Errorf("unknown nack action: %v", err)
	}
	cancel()

	// Bad ids, and options twice, end the call.
	for name, req := range map[string]*persistent.ReadReq{
		"bad ack id":    {Content: &persistent.ReadReq_Ack_{Ack: &persistent.ReadReq_Ack{Ids: []*shared.UUID{{Value: &shared.UUID_String_{String_: "nope"}}}}}},
		"bad nack id":   {Content: &persistent.ReadReq_Nack_{Nack: &persistent.ReadReq_Nack{Ids: []*shared.UUID{{Value: &shared.UUID_String_{String_: "nope"}}}}}},
		"options twice": {Content: &persistent.ReadReq_Options_{Options: readOptions("p-1", "g", false)}},
	} {
		rc := readCall(ctx, t, pc, readOptions("p-1", "g", false))
		if _, err := rc.Recv(); err != nil {
			t.Fatal(err)
		}
		if err := rc.Send(req); err != nil {
			t.Fatal(err)
		}
		for {
			if _, err = rc.Recv(); err != nil {
				break
			}
		}
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}

	// Nack stop: the call ends as dropped.
	if _, err := ps.Append(ctx, "p-1", eventstore.Any, eventstore.EventData{ID: uuid.New(), Type: "A", ContentType: eventstore.ContentTypeJSON, Data: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	rc = readCall(ctx, t, pc, readOptions("p-1", "g", false))
	if _, err := rc.Recv(); err != nil {
		t.Fatal(err)
	}
	resp, err = rc.Recv()
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetEvent().GetEvent().GetId()
	if err := rc.Send(&persistent.ReadReq{Content: &persistent.ReadReq_Nack_{Nack: &persistent.ReadReq_Nack{Ids: []*shared.UUID{id}, Action: persistent.ReadReq_Nack_Stop}}}); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err = rc.Recv(); err != nil {
			break
		}
	}
	if status.Code(err) != codes.Canceled {
		t.Errorf("after nack stop: %v", err)
	}
	wantTrailers(t, "after nack stop", rc.Trailer(), "exception", "persistent-subscription-dropped", "stream-name", "p-1", "group-name", "g")

	// Delete drops a connected consumer; so does the shutdown, with Unavailable.
	rc = readCall(ctx, t, pc, readOptions("p-1", "g", false))
	if _, err := rc.Recv(); err != nil {
		t.Fatal(err)
	}
	if err := ps.DeletePersistentSubscription(ctx, eventstore.PersistentGroupOf("p-1", "g")); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err = rc.Recv(); err != nil {
			break
		}
	}
	if status.Code(err) != codes.Canceled {
		t.Errorf("after delete: %v", err)
	}
	if err := ps.CreatePersistentSubscription(ctx, eventstore.PersistentGroupOf("$all", "g"), eventstore.DefaultPersistentSettings()); err != nil {
		t.Fatal(err)
	}
	rc = readCall(ctx, t, pc, readOptions("$all", "g", false))
	if _, err := rc.Recv(); err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err = rc.Recv(); err != nil {
			break
		}
	}
	if status.Code(err) != codes.Unavailable {
		t.Errorf("after shutdown: %v", err)
	}

}
