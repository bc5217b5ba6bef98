package console

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/resilience"
)

var breakerPrefix = resilience.BreakerStream("") + "-"

// breakerStates names the state each breaker event type leads to.
var breakerStates = map[string]string{
	resilience.EventBreakerOpened:       "open",
	resilience.EventBreakerHalfOpened:   "half-open",
	resilience.EventBreakerClosed:       "closed",
	resilience.EventBreakerForcedOpen:   "forced open",
	resilience.EventBreakerForcedClosed: "forced closed",
	resilience.EventBreakerDisabled:     "disabled",
}

// transition is one breaker event as the pages show it.
type transition struct {
	Revision uint64
	State    string
	Event    resilience.BreakerEvent
	Recorded time.Time
	Problem  string
}

func toTransition(e eventstore.RecordedEvent) transition {
	t := transition{Revision: e.Revision, State: breakerStates[e.Type], Recorded: e.Created}
	if t.State == "" {
		t.State, t.Problem = "?", "unknown breaker event type "+e.Type
	}
	if err := json.Unmarshal(e.Data, &t.Event); err != nil && t.Problem == "" {
		t.Problem = "malformed: " + err.Error()
	}
	return t
}

type breakerRow struct {
	Name string
	transition
}

func (h *handler) breakers(r *http.Request) (view, error) {
	streams, cut, err := h.recentStreams(r.Context(), breakerPrefix, func(string) bool { return true })
	if err != nil {
		return view{}, err
	}
	rows := make([]breakerRow, 0, len(streams))
	for _, s := range streams {
		e, ok, err := h.last(r.Context(), s)
		if err != nil || !ok {
			continue
		}
		rows = append(rows, breakerRow{Name: strings.TrimPrefix(s, breakerPrefix), transition: toTransition(e)})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	return view{name: "breakers", title: "Circuit breakers", data: struct {
		Rows []breakerRow
		Cut  bool
	}{rows, cut}}, nil
}

func (h *handler) breaker(r *http.Request) (view, error) {
	name := r.URL.Query().Get("name")
	if name == "" {
		return view{}, errorf(http.StatusBadRequest, "give a breaker: ?name=")
	}
	limit, err := h.limit(r)
	if err != nil {
		return view{}, err
	}
	stream := resilience.BreakerStream(name)
	// The newest transitions first: a breaker's recent history is what
	// one looks for.
	var rows []transition
	for e, err := range h.store.ReadStream(r.Context(), stream, eventstore.ReadOptions{Direction: eventstore.Backwards, From: eventstore.End, MaxCount: uint64(limit)}) {
		if err != nil {
			return view{}, err
		}
		rows = append(rows, toTransition(e))
	}
	return view{name: "breaker", title: "Breaker " + name, data: struct {
		Name   string
		Stream string
		Rows   []transition
		Limit  int
	}{name, stream, rows, limit}}, nil
}
