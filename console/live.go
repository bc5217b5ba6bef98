package console

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
)

// liveKeepAlive is how often an idle live stream sends a comment, so
// proxies keep the connection open.
const liveKeepAlive = 15 * time.Second

// liveTarget reads ?stream= for the live pages: a stream name, or $all when
// empty.
func liveTarget(r *http.Request) (string, error) {
	stream := r.URL.Query().Get("stream")
	if stream == "" || stream == eventstore.AllStream {
		return eventstore.AllStream, nil
	}
	if err := eventstore.ValidateStreamName("subscribe", stream, true); err != nil {
		return "", errorf(http.StatusBadRequest, "%v", err)
	}
	return stream, nil
}

func (h *handler) live(r *http.Request) (view, error) {
	stream, err := liveTarget(r)
	if err != nil {
		return view{}, err
	}
	framework := r.URL.Query().Get("framework") == "1"
	source := "live/events?" + url.Values{"stream": {stream}}.Encode()
	if framework {
		source += "&framework=1"
	}
	return view{name: "live", title: "Live: " + stream, data: struct {
		Stream    string
		All       bool
		Framework bool
		Source    string
	}{stream, stream == eventstore.AllStream, framework, source}}, nil
}

// liveEvent is what the live page receives for each event: JSON in an SSE
// "message" event, inserted into the page as text.
type liveEvent struct {
	Stream   string `json:"stream"`
	Revision uint64 `json:"revision"`
	Position string `json:"position"`
	Type     string `json:"type"`
	Created  string `json:"created"`
	Schema   string `json:"schema"`
	Data     string `json:"data"`
	Link     string `json:"link"`
}

// liveEvents streams server-sent events: every event appended to the stream
// (or to $all) from now on, until the client goes away. The subscription
// falls back to reading when the client is slow, so memory stays bounded.
func (h *handler) liveEvents(w http.ResponseWriter, r *http.Request) {
	stream, err := liveTarget(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": live\n\n")
	if err := rc.Flush(); err != nil {
		return
	}
	// The subscription runs in a goroutine that hands messages over; every
	// way out of the loop below cancels it and waits for it to end.
	ctx, cancel := context.WithCancel(r.Context())
	var msgs iter.Seq2[eventstore.Message, error]
	if stream == eventstore.AllStream {
		// Framework streams (checkpoints, sagas, breakers) are left out
		// unless asked for: checkpoints alone would fill the page.
		var filter *eventstore.Filter
		if r.URL.Query().Get("framework") != "1" {
			filter = eventstore.ExcludeFrameworkFilter()
		}
		msgs = h.store.SubscribeToAll(ctx, eventstore.SubscribeAllOptions{From: eventstore.End, Filter: filter})
	} else {
		msgs = h.store.SubscribeToStream(ctx, stream, eventstore.SubscribeOptions{From: eventstore.End})
	}
	type item struct {
		m   eventstore.Message
		err error
	}
	items := make(chan item)
	go func() {
		defer close(items)
		for m, err := range msgs {
			select {
			case items <- item{m, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() {
		cancel()
		for range items {
		}
	}()
	tick := time.NewTicker(liveKeepAlive)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case it, ok := <-items:
			if !ok {
				return
			}
			if it.err != nil {
				b, _ := json.Marshal(it.err.Error())
				writeSSE(w, "problem", string(b))
				_ = rc.Flush()
				return
			}
			switch it.m.Kind {
			case eventstore.MessageCaughtUp:
				writeSSE(w, "caughtup", "")
			case eventstore.MessageEvent:
				e := it.m.Event
				v := h.renderEvent(ctx, e)
				data := v.Data
				if v.Decoded != "" {
					data = v.Decoded
				}
				b, _ := json.Marshal(liveEvent{
					Stream: e.Stream, Revision: e.Revision, Position: e.Position.String(), Type: e.Type,
					Created: e.Created.Format(time.RFC3339Nano), Schema: v.Schema, Data: data,
					Link: streamLink(e.Stream, e.Revision, 1),
				})
				writeSSE(w, "", string(b))
			default:
				continue
			}
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// writeSSE writes one server-sent event; data is one line (JSON has no raw
// newlines).
func writeSSE(w http.ResponseWriter, event, data string) {
	if event != "" {
		fmt.Fprintf(w, "event: %s\n", event)
	}
	fmt.Fprintf(w, "data: %s\n\n", data)
}
