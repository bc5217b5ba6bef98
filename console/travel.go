package console

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"strings"
	"time"

	"github.com/chronicle-go/chronicle/aggregate"
	"github.com/chronicle-go/chronicle/eventstore"
)

// A Step is one event of an aggregate's history and the aggregate's state
// right after it, as JSON.
type Step struct {
	Revision uint64
	Type     string
	At       time.Time
	State    json.RawMessage
}

// A ReplayFunc replays the aggregate kept in stream from its first event,
// yielding the state after each event, as aggregate.Repository.Replay does.
// It stops when the loop breaks; a failure yields one error.
type ReplayFunc func(ctx context.Context, stream string) iter.Seq2[Step, error]

// WithTimeTravel shows the state of the aggregates of category after each
// of their events, computed by replay. Use WithAggregate for an
// aggregate.Repository.
func WithTimeTravel(category string, replay ReplayFunc) Option {
	return func(o *options) error {
		if category == "" || replay == nil {
			return fmt.Errorf("%w: time travel needs a category and a replay function", ErrInvalidOption)
		}
		if _, dup := o.travel[category]; dup {
			return fmt.Errorf("%w: time travel for category %q given twice", ErrInvalidOption, category)
		}
		o.travel[category] = replay
		return nil
	}
}

// WithAggregate is WithTimeTravel for the category of repo's aggregate type:
// the console replays its streams with repo.Replay and shows each state as
// the JSON encoding of S.
func WithAggregate[S any](repo *aggregate.Repository[S]) Option {
	if repo == nil {
		return func(*options) error { return fmt.Errorf("%w: nil repository", ErrInvalidOption) }
	}
	category := repo.Type().Category
	return WithTimeTravel(category, func(ctx context.Context, stream string) iter.Seq2[Step, error] {
		return func(yield func(Step, error) bool) {
			id := strings.TrimPrefix(stream, category+"-")
			for s, err := range repo.Replay(ctx, id) {
				if err != nil {
					yield(Step{}, err)
					return
				}
				state, err := json.Marshal(s.State)
				if err != nil {
					yield(Step{}, fmt.Errorf("console: encode the state of %q: %w", stream, err))
					return
				}
				if !yield(Step{Revision: s.Event.Record.Revision, Type: s.Event.Type, At: s.At(), State: state}, nil) {
					return
				}
			}
		}
	})
}

// travelPage is a page of an aggregate's history.
type travelPage struct {
	Stream string
	Steps  []travelStep
	From   uint64
	Limit  int
	Newer  string
	Older  string
}

type travelStep struct {
	Step
	Pretty string
}

func (h *handler) aggregate(r *http.Request) (view, error) {
	stream := r.URL.Query().Get("stream")
	if stream == "" {
		return view{}, errorf(http.StatusBadRequest, "give a stream: ?stream=")
	}
	category := eventstore.Category(stream)
	replay, ok := h.opts.travel[category]
	if !ok {
		return view{}, errorf(http.StatusNotFound, "no time travel for category %q: the service registers it with console.WithAggregate", category)
	}
	limit, err := h.limit(r)
	if err != nil {
		return view{}, err
	}
	from, _, err := uintParam(r, "from")
	if err != nil {
		return view{}, err
	}
	p := travelPage{Stream: stream, From: from, Limit: limit}
	for s, err := range replay(r.Context(), stream) {
		if err != nil {
			if isNotFound(err) {
				return view{}, errorf(http.StatusNotFound, "%v", err)
			}
			return view{}, fmt.Errorf("console: replay %q: %w", stream, err)
		}
		if s.Revision < from {
			continue
		}
		if len(p.Steps) == limit {
			p.Newer = travelLink(stream, s.Revision, limit)
			break
		}
		p.Steps = append(p.Steps, travelStep{Step: s, Pretty: pretty(s.State)})
	}
	if from > 0 {
		p.Older = travelLink(stream, from-min(from, uint64(limit)), limit)
	}
	return view{name: "aggregate", title: "Aggregate " + stream, data: p}, nil
}

func travelLink(stream string, from uint64, limit int) string {
	return fmt.Sprintf("aggregate?stream=%s&from=%d&limit=%d", queryEscape(stream), from, limit)
}

func pretty(b []byte) string {
	s, _ := shown(b, true)
	return s
}
