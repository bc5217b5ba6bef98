package backend_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/backend"
	"github.com/chronicle-go/chronicle/eventstore/memory"
)

func TestLinkStreams(t *testing.T) {
	for _, c := range []struct {
		stream, typ string
		want        []string
	}{
		{"order-1", "Placed", []string{"$et-Placed", "$ce-order"}},
		{"order-1-a", "Placed", []string{"$et-Placed", "$ce-order"}},
		{"order", "Placed", []string{"$et-Placed"}},
		{"-order", "Placed", []string{"$et-Placed"}},
		{"order-1", "$metadata", nil},
		{"$$order-1", "$metadata", nil},
		{"$ce-order", "Placed", nil},
	} {
		got := backend.LinkStreams(nil, c.stream, c.typ)
		if !slices.Equal(got, c.want) {
			t.Errorf("LinkStreams(%q, %q) = %q, want %q", c.stream, c.typ, got, c.want)
		}
		for _, name := range got {
			if !backend.IsLinkStream(name) {
				t.Errorf("IsLinkStream(%q) is false", name)
			}
		}
	}
	for _, name := range []string{"order-1", "$$ce-order", "$users", "ce-order"} {
		if backend.IsLinkStream(name) {
			t.Errorf("IsLinkStream(%q) is true", name)
		}
	}
}

func TestLink(t *testing.T) {
	pos := eventstore.Position{Commit: 9, Prepare: 9}
	created := time.Unix(100, 0).UTC()
	l := backend.Link("$ce-order", 3, "order-1", 7, pos, created)
	if !l.IsLink() || l.Stream != "$ce-order" || l.Revision != 3 || string(l.Data) != "7@order-1" || l.Position != pos ||
		!l.Created.Equal(created) || l.ContentType != eventstore.ContentTypeBinary || l.Link != nil {
		t.Fatalf("Link = %+v", l)
	}
	if backend.LinkID("$ce-order", 3) != l.ID {
		t.Fatal("LinkID differs from the link's ID")
	}
	ids := map[any]bool{}
	for _, k := range []struct {
		s string
		r uint64
	}{{"$ce-order", 3}, {"$ce-order", 4}, {"$ce-orde", 3}, {"$et-order", 3}, {"$ce-order3", 0}} {
		ids[backend.LinkID(k.s, k.r)] = true
	}
	if len(ids) != 5 {
		t.Fatal("LinkID repeats IDs")
	}
}

func TestResolve(t *testing.T) {
	ctx := context.Background()
	s := memory.New()
	defer s.Close()
	add := func(stream string, evs ...eventstore.EventData) {
		t.Helper()
		if _, err := s.Append(ctx, stream, eventstore.Any, evs...); err != nil {
			t.Fatal(err)
		}
	}
	add("target-1", eventstore.EventData{Type: "A"}, eventstore.EventData{Type: "B"})
	add("gone-1", eventstore.EventData{Type: "A"})
	if _, err := s.Tombstone(ctx, "gone-1", eventstore.Any); err != nil {
		t.Fatal(err)
	}
	link := func(data string) eventstore.EventData {
		return eventstore.EventData{Type: eventstore.LinkEventType, ContentType: eventstore.ContentTypeBinary, Data: []byte(data)}
	}
	add("links-1", link("1@target-1"), link("2@target-1"), link("0@gone-1"), link("0@nowhere"), link("garbage"),
		link("0@$all"), link("0@bad\x01name"), eventstore.EventData{Type: "NotALink"})
	var got []string
	for e, err := range backend.ResolveAll(ctx, s, true, s.ReadStream(ctx, "links-1", eventstore.ReadOptions{})) {
		if err != nil {
			t.Fatal(err)
		}
		via := "-"
		if e.Link != nil {
			via = e.Link.Stream
		}
		got = append(got, e.Stream+"/"+e.Type+"/"+via)
	}
	want := []string{"target-1/B/links-1", "links-1/$>/-", "links-1/$>/-", "links-1/$>/-", "links-1/$>/-", "links-1/$>/-", "links-1/$>/-", "links-1/NotALink/-"}
	if !slices.Equal(got, want) {
		t.Fatalf("resolved %q, want %q", got, want)
	}

	// Without resolution the sequence is the same one.
	n := 0
	for range backend.ResolveAll(ctx, s, false, s.ReadStream(ctx, "links-1", eventstore.ReadOptions{})) {
		n++
	}
	if n != 8 {
		t.Fatalf("unresolved: %d events", n)
	}
	// A consumer that stops early stops the read.
	for range backend.ResolveAll(ctx, s, true, s.ReadStream(ctx, "links-1", eventstore.ReadOptions{})) {
		break
	}
	// A failing target read fails the resolution.
	var first eventstore.RecordedEvent
	for e := range s.ReadStream(ctx, "links-1", eventstore.ReadOptions{MaxCount: 1}) {
		first = e
	}
	s.Close()
	if _, err := backend.Resolve(ctx, s, first); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("Resolve on a closed store: %v, want ErrClosed", err)
	}
}
