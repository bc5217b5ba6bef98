// Command kurrentcheck drives a server with the newest official Go client,
// github.com/kurrent-io/KurrentDB-Client-Go, and reports what it saw. The
// esdbserver tests build and run it against a server on a loopback port: its
// generated protocol packages register the same proto names as those of
// EventStore-Client-Go v4, which esdbserver is built on, so both cannot be
// linked into one test binary.
//
//	kurrentcheck -conn 'esdb://127.0.0.1:2113?tls=false' [-persistent] [-fellbehind N]
//
// It prints one "ok <check>" line per check passed (and "info <text>" lines)
// and exits with status 1 and a "FAIL <check>: <reason>" line at the first
// failure. It must import nothing of Chronicle.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/kurrent-io/KurrentDB-Client-Go/kurrentdb"
)

func main() {
	conn := flag.String("conn", "", "connection string of the server")
	persistent := flag.Bool("persistent", false, "check persistent subscriptions too")
	fellBehind := flag.Int("fellbehind", 0, "append this many events to an unread $all subscription and require a fell-behind message (0: skip)")
	prefix := flag.String("prefix", "kc", "prefix of the streams and groups the checks use")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := &checker{ctx: ctx, prefix: *prefix}
	if err := c.run(*conn, *persistent, *fellBehind); err != nil {
		fmt.Printf("FAIL %s: %v\n", c.step, err)
		os.Exit(1)
	}
	fmt.Println("PASS")
}

type checker struct {
	ctx    context.Context
	prefix string
	client *kurrentdb.Client
	step   string
}

func (c *checker) ok(step string) { fmt.Println("ok", step) }

func (c *checker) run(conn string, persistent bool, fellBehind int) error {
	c.step = "connect"
	cfg, err := kurrentdb.ParseConnectionString(conn)
	if err != nil {
		return err
	}
	cfg.Logger = func(kurrentdb.LogLevel, string, ...any) {}
	if c.client, err = kurrentdb.NewClient(cfg); err != nil {
		return err
	}
	defer c.client.Close()
	stream := c.prefix + "-stream"
	c.step = "append"
	ids, err := c.appendEvents(stream, 3)
	if err != nil {
		return err
	}
	c.ok(c.step)
	if err := c.reads(stream, ids); err != nil {
		return err
	}
	if err := c.subscribeStream(stream, ids); err != nil {
		return err
	}
	if err := c.subscribeAll(ids); err != nil {
		return err
	}
	if fellBehind > 0 {
		if err := c.fellBehind(fellBehind); err != nil {
			return err
		}
	}
	if persistent {
		if err := c.persistentStream(); err != nil {
			return err
		}
		if err := c.persistentAll(); err != nil {
			return err
		}
	}
	return nil
}

func jsonEvent(typ string) kurrentdb.EventData {
	return kurrentdb.EventData{EventID: uuid.New(), EventType: typ, ContentType: kurrentdb.ContentTypeJson, Data: []byte(`{"n":1}`)}
}

// appendEvents appends n events one append at a time and returns their
// ids; failures are reported as failures of the current step.
func (c *checker) appendEvents(stream string, n int) ([]uuid.UUID, error) {
	var ids []uuid.UUID
	var last uint64
	for i := range n {
		e := jsonEvent(fmt.Sprintf("Type%d", i))
		res, err := c.client.AppendToStream(c.ctx, stream, kurrentdb.AppendToStreamOptions{}, e)
		if err != nil {
			return nil, err
		}
		if i > 0 && res.NextExpectedVersion != last+1 {
			return nil, fmt.Errorf("next expected version %d after %d", res.NextExpectedVersion, last)
		}
		last = res.NextExpectedVersion
		ids = append(ids, e.EventID)
	}
	return ids, nil
}

func drain(rs *kurrentdb.ReadStream) ([]*kurrentdb.ResolvedEvent, error) {
	defer rs.Close()
	var out []*kurrentdb.ResolvedEvent
	for {
		e, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, e)
	}
}

func (c *checker) reads(stream string, ids []uuid.UUID) error {
	c.step = "read stream"
	rs, err := c.client.ReadStream(c.ctx, stream, kurrentdb.ReadStreamOptions{}, 100)
	if err != nil {
		return err
	}
	events, err := drain(rs)
	if err != nil {
		return err
	}
	if len(events) != len(ids) {
		return fmt.Errorf("%d events, want %d", len(events), len(ids))
	}
	for i, e := range events {
		if e.Event.EventID != ids[i] || e.Event.EventNumber != uint64(i) || e.Event.EventType != fmt.Sprintf("Type%d", i) {
			return fmt.Errorf("event %d is %s #%d %s", i, e.Event.EventID, e.Event.EventNumber, e.Event.EventType)
		}
	}
	c.ok(c.step)

	c.step = "read $all backwards"
	rs, err = c.client.ReadAll(c.ctx, kurrentdb.ReadAllOptions{Direction: kurrentdb.Backwards, From: kurrentdb.End{}}, uint64(len(ids)))
	if err != nil {
		return err
	}
	if events, err = drain(rs); err != nil {
		return err
	}
	if len(events) != len(ids) || events[0].Event.EventID != ids[len(ids)-1] {
		return fmt.Errorf("%d events, the first %v; want %d ending with %s", len(events), events, len(ids), ids[len(ids)-1])
	}
	c.ok(c.step)

	c.step = "read missing stream"
	rs, err = c.client.ReadStream(c.ctx, c.prefix+"-missing", kurrentdb.ReadStreamOptions{}, 1)
	if err == nil {
		_, err = drain(rs)
	}
	var kerr *kurrentdb.Error
	if !errors.As(err, &kerr) || kerr.Code() != kurrentdb.ErrorCodeResourceNotFound {
		return fmt.Errorf("got %v, want resource not found", err)
	}
	c.ok(c.step)
	return nil
}

// caughtUp receives from sub until CaughtUp, counting events; it fails on
// a CaughtUp without the newer fields (the client then reports a nil
// CaughtUp, indistinguishable from no message).
func (c *checker) caughtUp(sub *kurrentdb.Subscription, want int) (*kurrentdb.CaughtUp, []*kurrentdb.ResolvedEvent, error) {
	var events []*kurrentdb.ResolvedEvent
	for {
		ev := sub.Recv()
		switch {
		case ev.SubscriptionDropped != nil:
			return nil, events, fmt.Errorf("dropped: %v", ev.SubscriptionDropped.Error)
		case ev.EventAppeared != nil:
			events = append(events, ev.EventAppeared)
		case ev.CaughtUp != nil:
			if len(events) < want {
				return nil, events, fmt.Errorf("caught up after %d events, want %d", len(events), want)
			}
			return ev.CaughtUp, events, nil
		case ev.CheckPointReached != nil, ev.FellBehind != nil:
		default:
			return nil, events, errors.New("a message the client did not recognize (a CaughtUp without timestamp?)")
		}
	}
}

func recent(t time.Time) error {
	if d := time.Since(t); d < -time.Minute || d > time.Minute {
		return fmt.Errorf("timestamp %v is %v away from now", t, d)
	}
	return nil
}

func (c *checker) subscribeStream(stream string, ids []uuid.UUID) error {
	c.step = "subscribe to stream: caught up with timestamp and revision"
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	sub, err := c.client.SubscribeToStream(ctx, stream, kurrentdb.SubscribeToStreamOptions{From: kurrentdb.Start{}})
	if err != nil {
		return err
	}
	defer sub.Close()
	cu, _, err := c.caughtUp(sub, len(ids))
	if err != nil {
		return err
	}
	if err := recent(cu.Date); err != nil {
		return err
	}
	if cu.StreamRevision == nil || *cu.StreamRevision != uint64(len(ids)-1) || cu.Position != nil {
		return fmt.Errorf("caught up at revision %v, position %v; want revision %d and no position", cu.StreamRevision, cu.Position, len(ids)-1)
	}
	c.ok(c.step)

	c.step = "subscribe to stream: live event"
	more, err := c.appendEvents(stream, 1)
	if err != nil {
		return err
	}
	for {
		ev := sub.Recv()
		if ev.SubscriptionDropped != nil {
			return ev.SubscriptionDropped.Error
		}
		if ev.EventAppeared != nil {
			if ev.EventAppeared.Event.EventID != more[0] {
				return fmt.Errorf("live event %s, want %s", ev.EventAppeared.Event.EventID, more[0])
			}
			break
		}
	}
	c.ok(c.step)

	c.step = "subscribe to missing stream: caught up without revision"
	sub2, err := c.client.SubscribeToStream(ctx, c.prefix+"-nothing", kurrentdb.SubscribeToStreamOptions{From: kurrentdb.Start{}})
	if err != nil {
		return err
	}
	defer sub2.Close()
	if cu, _, err = c.caughtUp(sub2, 0); err != nil {
		return err
	}
	if cu.StreamRevision != nil || cu.Position != nil {
		return fmt.Errorf("caught up at revision %v, position %v; want neither", cu.StreamRevision, cu.Position)
	}
	c.ok(c.step)
	return nil
}

func (c *checker) subscribeAll(ids []uuid.UUID) error {
	c.step = "subscribe to $all: caught up with timestamp and position"
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	sub, err := c.client.SubscribeToAll(ctx, kurrentdb.SubscribeToAllOptions{From: kurrentdb.Start{}})
	if err != nil {
		return err
	}
	defer sub.Close()
	cu, events, err := c.caughtUp(sub, len(ids))
	if err != nil {
		return err
	}
	if err := recent(cu.Date); err != nil {
		return err
	}
	last := events[len(events)-1].OriginalEvent().Position
	if cu.Position == nil || cu.StreamRevision != nil || cu.Position.Commit < last.Commit {
		return fmt.Errorf("caught up at position %v, revision %v; want a position at or after %v", cu.Position, cu.StreamRevision, last)
	}
	c.ok(c.step)

	c.step = "subscribe to filtered $all: caught up"
	sub2, err := c.client.SubscribeToAll(ctx, kurrentdb.SubscribeToAllOptions{From: kurrentdb.Start{},
		Filter: &kurrentdb.SubscriptionFilter{Type: kurrentdb.StreamFilterType, Prefixes: []string{c.prefix + "-stream"}}})
	if err != nil {
		return err
	}
	defer sub2.Close()
	if cu, events, err = c.caughtUp(sub2, len(ids)); err != nil {
		return err
	}
	for _, e := range events {
		if !strings.HasPrefix(e.Event.StreamID, c.prefix+"-stream") {
			return fmt.Errorf("event of stream %s through the filter", e.Event.StreamID)
		}
	}
	if cu.Position == nil {
		return errors.New("caught up without position")
	}
	c.ok(c.step)
	return nil
}

// fellBehind subscribes to $all from the end, stops reading while n events
// are appended, then reads: the server must have fallen behind and caught
// up again.
func (c *checker) fellBehind(n int) error {
	c.step = "subscribe to $all: fell behind"
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	sub, err := c.client.SubscribeToAll(ctx, kurrentdb.SubscribeToAllOptions{From: kurrentdb.End{}})
	if err != nil {
		return err
	}
	defer sub.Close()
	if _, _, err := c.caughtUp(sub, 0); err != nil {
		return err
	}
	if _, err := c.appendEvents(c.prefix+"-flood", n); err != nil {
		return err
	}
	var fell *kurrentdb.FellBehind
	events := 0
	for {
		ev := sub.Recv()
		switch {
		case ev.SubscriptionDropped != nil:
			return ev.SubscriptionDropped.Error
		case ev.EventAppeared != nil:
			events++
		case ev.FellBehind != nil:
			fell = ev.FellBehind
		case ev.CaughtUp != nil:
			if fell == nil {
				return errors.New("caught up again without falling behind")
			}
		}
		if events == n {
			break
		}
	}
	if fell == nil {
		fmt.Printf("info no fell-behind message after %d unread events\n", n)
		return errors.New("no fell-behind message")
	}
	if err := recent(fell.Date); err != nil {
		return err
	}
	if fell.Position == nil {
		return errors.New("fell behind without position")
	}
	c.ok(c.step)
	return nil
}

func errCode(err error) kurrentdb.ErrorCode {
	var kerr *kurrentdb.Error
	if errors.As(err, &kerr) {
		return kerr.Code()
	}
	return -1
}

// nextEvent receives one persistent event.
func nextEvent(sub *kurrentdb.PersistentSubscription) (*kurrentdb.EventAppeared, error) {
	for {
		ev := sub.Recv()
		if ev.SubscriptionDropped != nil {
			return nil, ev.SubscriptionDropped.Error
		}
		if ev.EventAppeared != nil {
			return ev.EventAppeared, nil
		}
	}
}

func (c *checker) persistentStream() error {
	stream, group := c.prefix+"-ps", "workers"
	c.step = "persistent: create"
	settings := kurrentdb.SubscriptionSettingsDefault()
	settings.MessageTimeout = 60_000
	if err := c.client.CreatePersistentSubscription(c.ctx, stream, group, kurrentdb.PersistentStreamSubscriptionOptions{Settings: &settings, StartFrom: kurrentdb.Start{}}); err != nil {
		return err
	}
	c.ok(c.step)
	c.step = "persistent: create again"
	err := c.client.CreatePersistentSubscription(c.ctx, stream, group, kurrentdb.PersistentStreamSubscriptionOptions{Settings: &settings})
	if errCode(err) != kurrentdb.ErrorCodeResourceAlreadyExists {
		return fmt.Errorf("got %v, want resource already exists", err)
	}
	c.ok(c.step)
	ids, err := c.appendEvents(stream, 3)
	if err != nil {
		return err
	}

	c.step = "persistent: subscribe, ack, nack retry"
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	sub, err := c.client.SubscribeToPersistentSubscription(ctx, stream, group, kurrentdb.SubscribeToPersistentSubscriptionOptions{BufferSize: 10})
	if err != nil {
		return err
	}
	defer sub.Close()
	var got []*kurrentdb.EventAppeared
	for range ids {
		ev, err := nextEvent(sub)
		if err != nil {
			return err
		}
		if ev.RetryCount != 0 {
			return fmt.Errorf("first delivery with retry count %d", ev.RetryCount)
		}
		got = append(got, ev)
	}
	for i, ev := range got {
		if ev.Event.OriginalEvent().EventID != ids[i] {
			return fmt.Errorf("delivery %d is %s, want %s", i, ev.Event.OriginalEvent().EventID, ids[i])
		}
	}
	if err := sub.Ack(got[0].Event, got[1].Event); err != nil {
		return err
	}
	if err := sub.Nack("try again", kurrentdb.NackActionRetry, got[2].Event); err != nil {
		return err
	}
	again, err := nextEvent(sub)
	if err != nil {
		return err
	}
	if again.Event.OriginalEvent().EventID != ids[2] || again.RetryCount != 1 {
		return fmt.Errorf("redelivery of %s with retry count %d, want %s with 1", again.Event.OriginalEvent().EventID, again.RetryCount, ids[2])
	}
	if err := sub.Ack(again.Event); err != nil {
		return err
	}
	c.ok(c.step)

	c.step = "persistent: info"
	info, err := c.client.GetPersistentSubscriptionInfo(c.ctx, stream, group, kurrentdb.GetPersistentSubscriptionOptions{})
	if err != nil {
		return err
	}
	if info.EventSource != stream || info.GroupName != group || info.Settings == nil || info.Settings.MessageTimeout != 60_000 || len(info.Connections) != 1 {
		return fmt.Errorf("info %+v (settings %+v)", info, info.Settings)
	}
	c.ok(c.step)

	c.step = "persistent: list"
	list, err := c.client.ListPersistentSubscriptionsForStream(c.ctx, stream, kurrentdb.ListPersistentSubscriptionsOptions{})
	if err != nil {
		return err
	}
	if len(list) != 1 || list[0].GroupName != group {
		return fmt.Errorf("listed %+v", list)
	}
	all, err := c.client.ListAllPersistentSubscriptions(c.ctx, kurrentdb.ListPersistentSubscriptionsOptions{})
	if err != nil {
		return err
	}
	if len(all) == 0 {
		return errors.New("list of all groups is empty")
	}
	if _, err := c.client.ListPersistentSubscriptionsForStream(c.ctx, c.prefix+"-none", kurrentdb.ListPersistentSubscriptionsOptions{}); errCode(err) != kurrentdb.ErrorCodeResourceNotFound {
		return fmt.Errorf("list of a stream without groups: %v, want resource not found", err)
	}
	c.ok(c.step)

	c.step = "persistent: replay parked, restart"
	if err := c.client.ReplayParkedMessages(c.ctx, stream, group, kurrentdb.ReplayParkedMessagesOptions{}); err != nil {
		return err
	}
	sub.Close()
	if err := c.client.RestartPersistentSubscriptionSubsystem(c.ctx, kurrentdb.RestartPersistentSubscriptionSubsystemOptions{}); err != nil {
		return err
	}
	c.ok(c.step)

	c.step = "persistent: delete"
	if err := c.client.DeletePersistentSubscription(c.ctx, stream, group, kurrentdb.DeletePersistentSubscriptionOptions{}); err != nil {
		return err
	}
	if _, err := c.client.GetPersistentSubscriptionInfo(c.ctx, stream, group, kurrentdb.GetPersistentSubscriptionOptions{}); errCode(err) != kurrentdb.ErrorCodeResourceNotFound {
		return fmt.Errorf("info after delete: %v, want resource not found", err)
	}
	if _, err := c.client.SubscribeToPersistentSubscription(c.ctx, stream, group, kurrentdb.SubscribeToPersistentSubscriptionOptions{}); errCode(err) != kurrentdb.ErrorCodeResourceNotFound {
		return fmt.Errorf("subscribe after delete: %v, want resource not found", err)
	}
	c.ok(c.step)
	return nil
}

func (c *checker) persistentAll() error {
	group := c.prefix + "-all-workers"
	c.step = "persistent $all: create, info, delete"
	err := c.client.CreatePersistentSubscriptionToAll(c.ctx, group, kurrentdb.PersistentAllSubscriptionOptions{StartFrom: kurrentdb.Start{},
		Filter: &kurrentdb.SubscriptionFilter{Type: kurrentdb.StreamFilterType, Prefixes: []string{c.prefix + "-stream"}}})
	if err != nil {
		return err
	}
	info, err := c.client.GetPersistentSubscriptionInfoToAll(c.ctx, group, kurrentdb.GetPersistentSubscriptionOptions{})
	if err != nil {
		return err
	}
	if info.EventSource != "$all" || info.GroupName != group {
		return fmt.Errorf("info %+v", info)
	}
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	sub, err := c.client.SubscribeToPersistentSubscriptionToAll(ctx, group, kurrentdb.SubscribeToPersistentSubscriptionOptions{})
	if err != nil {
		return err
	}
	ev, err := nextEvent(sub)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(ev.Event.OriginalEvent().StreamID, c.prefix+"-stream") {
		return fmt.Errorf("event of %s through the filter", ev.Event.OriginalEvent().StreamID)
	}
	if err := sub.Ack(ev.Event); err != nil {
		return err
	}
	sub.Close()
	if err := c.client.DeletePersistentSubscriptionToAll(c.ctx, group, kurrentdb.DeletePersistentSubscriptionOptions{}); err != nil {
		return err
	}
	c.ok(c.step)
	return nil
}
