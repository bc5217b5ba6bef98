package feed_test

import (
	"context"
	"iter"
	"slices"
	"testing"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/backend"
	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/internal/feed"
)

// TestLiveLinksResolved subscribes to $all and to a stream of link events
// written by the application (type "$>"), with ResolveLinks: live links are
// resolved by reading their targets, filters look at the link, and a link
// whose target is gone is delivered as itself.
func TestLiveLinksResolved(t *testing.T) {
	s := memory.New()
	defer s.Close()
	ctx := context.Background()
	appendN(t, s, "target-1", 2)
	link := func(data string) eventstore.EventData {
		return eventstore.EventData{Type: eventstore.LinkEventType, ContentType: eventstore.ContentTypeBinary, Data: []byte(data)}
	}
	// The filter keeps link events only: it must look at the link, not at
	// the event it resolves to.
	filter := eventstore.EventTypePrefixFilter(eventstore.LinkEventType)
	subs := []func(ctx context.Context) iter.Seq2[eventstore.Message, error]{
		func(ctx context.Context) iter.Seq2[eventstore.Message, error] {
			return s.SubscribeToAll(ctx, eventstore.SubscribeAllOptions{From: eventstore.End, Filter: filter, ResolveLinks: true})
		},
		func(ctx context.Context) iter.Seq2[eventstore.Message, error] {
			return s.SubscribeToStream(ctx, "links-1", eventstore.SubscribeOptions{ResolveLinks: true})
		},
	}
	var nexts []func() (eventstore.Message, error)
	for _, subscribe := range subs {
		next, stop := pull(t, subscribe)
		t.Cleanup(stop)
		for {
			m, err := next()
			if err != nil {
				t.Fatal(err)
			}
			if m.Kind == eventstore.MessageCaughtUp {
				break
			}
		}
		nexts = append(nexts, next)
	}
	if _, err := s.Append(ctx, "links-1", eventstore.Any, link("1@target-1"), link("5@target-1")); err != nil {
		t.Fatal(err)
	}
	for i, next := range nexts {
		var got []string
		for len(got) < 2 {
			m, err := next()
			if err != nil {
				t.Fatalf("subscription %d: %v", i, err)
			}
			if m.Kind != eventstore.MessageEvent {
				continue
			}
			e := m.Event
			via := "-"
			if e.Link != nil {
				via = e.Link.Stream
			}
			got = append(got, e.Stream+"/"+e.Type+"/"+via)
		}
		want := []string{"target-1/E/links-1", "links-1/$>/-"}
		if !slices.Equal(got, want) {
			t.Errorf("subscription %d: live %v, want %v", i, got, want)
		}
	}
}

func TestHubLinkStreams(t *testing.T) {
	h := feed.NewHub()
	defer h.Close()
	h.PublishStreams(nil) // nothing to send
	if h.Listening("$ce-order") {
		t.Fatal("a new hub has listeners")
	}
	if got := h.Listened(backend.IsLinkStream); len(got) != 0 {
		t.Fatalf("Listened on a new hub = %v", got)
	}
}
