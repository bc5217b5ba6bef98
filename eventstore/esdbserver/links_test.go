package esdbserver_test

import (
	"fmt"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/chronicle-go/chronicle/eventstore/esdbserver"
	"github.com/chronicle-go/chronicle/internal/testcert"
)

// TestCategoryStreamsThroughServer reads and subscribes to $ce- and $et-
// streams with the official client, links resolved and not.
func TestCategoryStreamsThroughServer(t *testing.T) {
	ctx := testContext(t)
	store, srv := newMemoryServer(t)
	c := newClient(t, srv.ConnectionString())
	seed(t, store, "order-1", "Placed", 2)
	seed(t, store, "order-2", "Placed", 1)

	rs, err := c.ReadStream(ctx, "$ce-order", esdb.ReadStreamOptions{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAllEvents(t, rs)
	if err != nil || len(got) != 3 {
		t.Fatalf("read $ce-order: %d events, %v", len(got), err)
	}
	for i, want := range []string{"0@order-1", "1@order-1", "0@order-2"} {
		e := got[i].Event
		if got[i].Link != nil || e.StreamID != "$ce-order" || e.EventNumber != uint64(i) || e.EventType != "$>" || string(e.Data) != want {
			t.Fatalf("link %d = %s@%d %s %q, want $ce-order@%d $> %q", i, e.StreamID, e.EventNumber, e.EventType, e.Data, i, want)
		}
	}

	rs, err = c.ReadStream(ctx, "$et-Placed", esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}, ResolveLinkTos: true}, 2)
	if err != nil {
		t.Fatal(err)
	}
	got, err = readAllEvents(t, rs)
	if err != nil || len(got) != 2 {
		t.Fatalf("read $et-Placed backwards, resolved: %d events, %v", len(got), err)
	}
	for i, want := range []struct {
		stream string
		rev    uint64
	}{{"order-2", 0}, {"order-1", 1}} {
		r := got[i]
		if r.Event == nil || r.Link == nil || r.Event.StreamID != want.stream || r.Event.EventNumber != want.rev ||
			r.Link.StreamID != "$et-Placed" || r.Link.EventNumber != uint64(2-i) || r.OriginalEvent() != r.Link {
			t.Fatalf("resolved link %d = %+v", i, r)
		}
	}

	// A subscription catches up, then receives live links, resolved.
	sub, err := c.SubscribeToStream(ctx, "$ce-order", esdb.SubscribeToStreamOptions{From: esdb.StreamRevision{Value: 1}, ResolveLinkTos: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	next := func() *esdb.ResolvedEvent {
		t.Helper()
		for {
			ev := sub.Recv()
			switch {
			case ev.SubscriptionDropped != nil:
				t.Fatalf("subscription dropped: %v", ev.SubscriptionDropped.Error)
			case ev.EventAppeared != nil:
				return ev.EventAppeared
			}
		}
	}
	if r := next(); r.Event == nil || r.Event.StreamID != "order-2" || r.Link.EventNumber != 2 {
		t.Fatalf("catch-up = %+v", r)
	}
	seed(t, store, "order-3", "Shipped", 1)
	if r := next(); r.Event == nil || r.Event.StreamID != "order-3" || r.Event.EventType != "Shipped" || r.Link.EventNumber != 3 {
		t.Fatalf("live = %+v", r)
	}

	// Appends to link streams are refused.
	if _, err := c.AppendToStream(ctx, "$ce-order", esdb.AppendToStreamOptions{}, jsonEvent("E", "{}")); err == nil {
		t.Fatal("append to $ce-order succeeded")
	}
}

// TestUsersStream reads $users of a server with users with the official
// client: one $User event per user, the login name as data, as an
// EventStoreDB node has (the client's test suite probes it).
func TestUsersStream(t *testing.T) {
	ctx := testContext(t)
	certFile, keyFile := testcert.Write(t, t.TempDir())
	_, srv := newMemoryServer(t, esdbserver.WithTLS(certFile, keyFile),
		esdbserver.WithUsers(map[string]string{"ops": "changeit", "admin": "changeit", "zed": "x"}))
	c := newClient(t, withCredentials(srv.ConnectionString(), "admin", "changeit"))
	read := func(opts esdb.ReadStreamOptions, count uint64) string {
		t.Helper()
		rs, err := c.ReadStream(ctx, "$users", opts, count)
		if err != nil {
			t.Fatal(err)
		}
		got, err := readAllEvents(t, rs)
		if err != nil {
			t.Fatalf("read $users %+v: %v", opts, err)
		}
		s := ""
		for _, r := range got {
			e := r.Event
			if e.EventType != "$User" || e.ContentType != "application/octet-stream" || e.StreamID != "$users" || e.CreatedDate.IsZero() {
				t.Fatalf("$users event %+v", e)
			}
			s += fmt.Sprintf("%d:%s ", e.EventNumber, e.Data)
		}
		return s
	}
	for _, c := range []struct {
		opts  esdb.ReadStreamOptions
		count uint64
		want  string
	}{
		{esdb.ReadStreamOptions{}, 10, "0:admin 1:ops 2:zed "},
		{esdb.ReadStreamOptions{}, 1, "0:admin "},
		{esdb.ReadStreamOptions{From: esdb.StreamRevision{Value: 1}}, 10, "1:ops 2:zed "},
		{esdb.ReadStreamOptions{From: esdb.StreamRevision{Value: 5}}, 10, ""},
		{esdb.ReadStreamOptions{From: esdb.End{}}, 10, ""},
		{esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 2, "2:zed 1:ops "},
		{esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.StreamRevision{Value: 7}}, 10, "2:zed 1:ops 0:admin "},
		{esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.Start{}}, 10, "0:admin "},
	} {
		if got := read(c.opts, c.count); got != c.want {
			t.Errorf("read $users %+v, %d: %q, want %q", c.opts, c.count, got, c.want)
		}
	}
	// IDs are stable.
	first := func() string {
		rs, err := c.ReadStream(ctx, "$users", esdb.ReadStreamOptions{}, 1)
		if err != nil {
			t.Fatal(err)
		}
		got, err := readAllEvents(t, rs)
		if err != nil || len(got) != 1 {
			t.Fatal(err)
		}
		return got[0].Event.EventID.String()
	}
	if a, b := first(), first(); a != b {
		t.Fatalf("$users event IDs change: %s, %s", a, b)
	}

	// Without users, $users is the store's (empty) stream.
	_, plain := newMemoryServer(t)
	rs, err := newClient(t, plain.ConnectionString()).ReadStream(ctx, "$users", esdb.ReadStreamOptions{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readAllEvents(t, rs); errorCode(err) != esdb.ErrorCodeResourceNotFound {
		t.Fatalf("read $users without users: %v, want not found", err)
	}
}
