package main

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
)

func TestPersistentCreateListInfoDelete(t *testing.T) {
	url, store := newStore(t, "s")
	appendEvents(t, store, "order-1", event("OrderPlaced", `{}`), event("OrderShipped", `{}`))
	out := mustRun(t, "", "--store", url, "persistent", "create", "order-1", "billing", "--strategy", "DispatchToSingle", "--max-retries", "3",
		"--message-timeout", "5s", "--from", "1")
	if !strings.Contains(out, "created group billing of order-1 from revision 1 (DispatchToSingle)") {
		t.Errorf("create printed %q", out)
	}
	out = mustRun(t, "", "--store", url, "persistent", "create", "--all", "audit", "--stream-prefix", "order-", "--from", "end", "--json")
	got := parseLines(t, out)
	if len(got) != 1 || got[0]["stream"] != "$all" || got[0]["group"] != "audit" {
		t.Fatalf("create --json = %v", got)
	}
	settings := got[0]["settings"].(map[string]any)
	if settings["from"] != "end" || settings["filter"].(map[string]any)["prefixes"].([]any)[0] != "order-" || settings["consumerStrategy"] != "RoundRobin" {
		t.Errorf("settings %v", settings)
	}

	out = mustRun(t, "", "--store", url, "persistent", "list")
	for _, want := range []string{"STREAM", "order-1", "billing", "DispatchToSingle", "$all", "audit"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	if rows := parseLines(t, mustRun(t, "", "--store", url, "persistent", "list", "--all", "--json")); len(rows) != 1 || rows[0]["group"] != "audit" {
		t.Errorf("list --all --json = %v", rows)
	}
	if rows := parseLines(t, mustRun(t, "", "--store", url, "persistent", "list", "order-1", "--json")); len(rows) != 1 || rows[0]["group"] != "billing" {
		t.Errorf("list order-1 --json = %v", rows)
	}

	// A consumer shows in info.
	g := eventstore.PersistentGroupOf("order-1", "billing")
	sub, err := store.SubscribePersistent(context.Background(), g, eventstore.PersistentSubscribeOptions{Name: "worker-1"})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ev, err := sub.Recv(context.Background())
	if err != nil || ev.Event.Revision != 1 {
		t.Fatalf("Recv = %+v, %v; want revision 1 (--from 1)", ev, err)
	}
	out = mustRun(t, "", "--store", url, "persistent", "info", "order-1", "billing")
	for _, want := range []string{"group", "billing", "DispatchToSingle", "max retries", "3", "message timeout", "5s", "worker-1"} {
		if !strings.Contains(out, want) {
			t.Errorf("info lacks %q:\n%s", want, out)
		}
	}
	info := parseLines(t, mustRun(t, "", "--store", url, "persistent", "info", "order-1", "billing", "--json"))
	if len(info) != 1 || len(info[0]["connections"].([]any)) != 1 || info[0]["settings"].(map[string]any)["messageTimeoutMs"] != 5000.0 {
		t.Errorf("info --json = %v", info)
	}

	// Park it, then replay it.
	if err := sub.Nack(eventstore.NackPark, "test", ev.ID()); err != nil {
		t.Fatal(err)
	}
	waitParked(t, store, g, 1)
	out = mustRun(t, "", "--store", url, "persistent", "replay-parked", "order-1", "billing")
	if !strings.Contains(out, "replaying 1 parked message(s) of group billing of order-1") {
		t.Errorf("replay-parked printed %q", out)
	}
	again, err := sub.Recv(context.Background())
	// Replayed through its parked link: the event, with the link to ack by.
	if err != nil || again.Event.ID != ev.Event.ID || again.Event.Link == nil {
		t.Fatalf("after replay Recv = %+v, %v; want the parked event again", again, err)
	}

	out = mustRun(t, "", "--store", url, "persistent", "delete", "order-1", "billing")
	if !strings.Contains(out, "deleted group billing of order-1") {
		t.Errorf("delete printed %q", out)
	}
	if _, err := sub.Recv(context.Background()); !errors.Is(err, eventstore.ErrPersistentSubscriptionDropped) {
		t.Errorf("consumer after delete: %v", err)
	}
	mustRun(t, "", "--store", url, "persistent", "delete", "--all", "audit")
	if out := mustRun(t, "", "--store", url, "persistent", "list"); !strings.Contains(out, "no persistent subscription groups") {
		t.Errorf("list after deletes: %q", out)
	}
}

func waitParked(t *testing.T, ps eventstore.PersistentSubscriptions, g eventstore.PersistentGroup, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := ps.GetPersistentSubscriptionInfo(context.Background(), g)
		if err == nil && info.ParkedMessageCount == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("parked: %+v, %v; want %d", info, err, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestPersistentBadInput(t *testing.T) {
	url, store := newStore(t, "s")
	mustRun(t, "", "--store", url, "persistent", "create", "s-1", "g")
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"persistent", "create", "s-1"}, exitUsage, "give STREAM GROUP, or --all GROUP"},
		{[]string{"persistent", "create", "--all", "s-1", "g"}, exitUsage, "with --all give only GROUP"},
		{[]string{"persistent", "create", "s-1", ""}, exitUsage, "group name is empty"},
		{[]string{"persistent", "create", "s-1", "g2", "--strategy", "Random"}, exitUsage, "consumer_strategy"},
		{[]string{"persistent", "create", "s-1", "g2", "--message-timeout", "-1s"}, exitUsage, "message_timeout"},
		{[]string{"persistent", "create", "s-1", "g2", "--min-checkpoint-count", "20", "--max-checkpoint-count", "10"}, exitUsage, "min_checkpoint_count"},
		{[]string{"persistent", "create", "s-1", "g2", "--live-buffer-size", "0"}, exitUsage, "live_buffer_size"},
		{[]string{"persistent", "create", "s-1", "g2", "--max-retries", "-1"}, exitUsage, "max_retry_count"},
		{[]string{"persistent", "create", "s-1", "g2", "--max-subscribers", "-1"}, exitUsage, "max_subscriber_count"},
		{[]string{"persistent", "create", "s-1", "g2", "--stream-prefix", "x"}, exitUsage, "filters apply to a group of $all"},
		{[]string{"persistent", "create", "--all", "g2", "--stream-prefix", "x", "--type-prefix", "y"}, exitUsage, "a group takes one filter"},
		{[]string{"persistent", "create", "--all", "g2", "--regex", "("}, exitUsage, "regex"},
		{[]string{"persistent", "create", "s-1", "g2", "--from", "C:1/P:1"}, exitUsage, "want start, end or a stream revision"},
		{[]string{"persistent", "create", "--all", "g2", "--from", "yesterday"}, exitUsage, "is not a position"},
		{[]string{"persistent", "create", "s-1", "g2", "--message-timeout", "soon"}, exitUsage, "invalid argument"},
		{[]string{"persistent", "create", "s-1", "g"}, exitFailure, "already exists"},
		{[]string{"persistent", "info", "s-1", "nope"}, exitNotFound, "not found"},
		{[]string{"persistent", "delete", "--all", "nope"}, exitNotFound, "not found"},
		{[]string{"persistent", "replay-parked", "s-1", "nope"}, exitNotFound, "not found"},
		{[]string{"persistent", "replay-parked", "s-1", "g", "--stop-at", "-1"}, exitUsage, "--stop-at -1 is negative"},
		{[]string{"persistent", "list", "other"}, exitNotFound, "not found"},
		{[]string{"persistent", "list", "--all", "s-1"}, exitUsage, "not both"},
		{[]string{"persistent", "list", "bad\x01"}, exitUsage, ""},
		{[]string{"persistent", "list", "a", "b"}, exitUsage, "accepts at most 1 arg"},
		{[]string{"persistent", "nope"}, exitUsage, ""},
	}
	for _, c := range cases {
		_, _, err := run(t, "", append([]string{"--store", url}, c.args...)...)
		if code := exitCode(err); code != c.code || err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("chronicle %s: exit %d, %v; want exit %d and %q", strings.Join(c.args, " "), code, err, c.code, c.want)
		}
	}
	infos, err := store.ListPersistentSubscriptions(context.Background(), "")
	if err != nil || len(infos) != 1 {
		t.Errorf("groups after bad input: %d, %v; want only the first", len(infos), err)
	}
}

func TestPersistentStoreWithoutTheCapability(t *testing.T) {
	// A store type that lacks it: the memory store behind a plain
	// eventstore.Store.
	_, s := newStore(t, "plain")
	eventstore.Register("plaintest", eventstore.DriverFunc(func(context.Context, string) (eventstore.Store, error) {
		return struct{ eventstore.Store }{unclosable{s}}, nil
	}))
	_, _, err := run(t, "", "--store", "plaintest:x", "persistent", "list")
	if err == nil || !strings.Contains(err.Error(), "has no persistent subscriptions") || exitCode(err) != exitFailure {
		t.Errorf("list on a store without the capability: %v (exit %d)", err, exitCode(err))
	}
}

func TestPersistentOnSQLite(t *testing.T) {
	url := "sqlite://" + filepath.Join(t.TempDir(), "s.db")
	mustRun(t, "", "--store", url, "persistent", "create", "--all", "audit", "--type-prefix", "Order")
	// The group survives the process (its definition is an event).
	out := mustRun(t, "", "--store", url, "persistent", "info", "--all", "audit")
	if !strings.Contains(out, "eventType Order (prefixes)") {
		t.Errorf("info:\n%s", out)
	}
}
