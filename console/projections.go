package console

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/projection"
)

// WithTarget shows the projections a SQL target keeps (projection/sqlite,
// projection/postgres: any projection.StatusReporter), under name, with
// their versions, places and checkpoints.
func WithTarget(name string, target projection.StatusReporter) Option {
	return func(o *options) error {
		if name == "" || target == nil {
			return fmt.Errorf("%w: a target needs a name and a status reporter", ErrInvalidOption)
		}
		o.targets = append(o.targets, namedTarget{name, target})
		return nil
	}
}

var (
	checkpointPrefix = eventstore.FrameworkStream("checkpoint", "") + "-"
	parkedPrefix     = eventstore.FrameworkStream("parked", "") + "-"
)

// maxRecent bounds the streams recentStreams returns.
const maxRecent = 200

// recentStreams returns the distinct streams with the prefix, the most
// recently written first, reading $all backwards up to the scan limit.
// It reports whether a limit cut the list.
func (h *handler) recentStreams(ctx context.Context, prefix string, keep func(string) bool) ([]string, bool, error) {
	seen := map[string]bool{}
	var out []string
	n := 0
	for e, err := range h.store.ReadAll(ctx, eventstore.ReadAllOptions{Direction: eventstore.Backwards, From: eventstore.End, Filter: eventstore.StreamPrefixFilter(prefix)}) {
		if err != nil {
			return nil, false, fmt.Errorf("console: list %s streams: %w", prefix, err)
		}
		if !seen[e.Stream] && strings.HasPrefix(e.Stream, prefix) && keep(e.Stream) {
			seen[e.Stream] = true
			out = append(out, e.Stream)
			if len(out) == maxRecent {
				return out, true, nil
			}
		}
		if n++; n >= h.opts.scanLimit {
			return out, true, nil
		}
	}
	return out, false, nil
}

// checkpointRow is a checkpoint kept in the store (StreamCheckpoints).
type checkpointRow struct {
	Stream     string
	Projection string
	Version    int
	Partition  int
	Checkpoint projection.Checkpoint
	Updated    time.Time
	Lag        string
}

// headPosition is the position of the newest application event (framework
// streams left out, as `chronicle projection status` does): what a
// projection of application events has to reach.
func (h *handler) headPosition(ctx context.Context) (eventstore.Position, error) {
	for e, err := range h.store.ReadAll(ctx, eventstore.ReadAllOptions{Direction: eventstore.Backwards, From: eventstore.End, MaxCount: 1, Filter: eventstore.ExcludeFrameworkFilter()}) {
		if err != nil {
			return eventstore.Position{}, fmt.Errorf("console: head of $all: %w", err)
		}
		return e.Position, nil
	}
	return eventstore.Position{}, nil
}

// lag says how far a checkpoint is behind the head: positions for $all
// checkpoints (events, on the embedded stores), nothing for stream ones.
func lag(head eventstore.Position, c projection.Checkpoint) string {
	switch {
	case c.Kind == projection.AllCheckpoint && head.Commit > c.Position.Commit:
		return fmt.Sprint(head.Commit - c.Position.Commit)
	case c.Kind == projection.AllCheckpoint:
		return "0"
	case c.Kind == projection.NoCheckpoint:
		return fmt.Sprint(head.Commit)
	}
	return "—"
}

func (h *handler) checkpoints(ctx context.Context, head eventstore.Position, keep func(string) bool) ([]checkpointRow, bool, error) {
	streams, cut, err := h.recentStreams(ctx, checkpointPrefix, keep)
	if err != nil {
		return nil, false, err
	}
	rows := make([]checkpointRow, 0, len(streams))
	for _, s := range streams {
		e, ok, err := h.last(ctx, s)
		if err != nil || !ok {
			continue // deleted since, or truncated: nothing to show
		}
		row := checkpointRow{Stream: s, Updated: e.Created}
		var rec struct {
			Projection string `json:"projection"`
			Version    int    `json:"version"`
			Partition  int    `json:"partition"`
			Checkpoint string `json:"checkpoint"`
		}
		if e.Type != projection.CheckpointEventType || json.Unmarshal(e.Data, &rec) != nil {
			continue
		}
		c, err := projection.ParseCheckpoint(rec.Checkpoint)
		if err != nil {
			continue
		}
		row.Projection, row.Version, row.Partition, row.Checkpoint, row.Lag = rec.Projection, rec.Version, rec.Partition, c, lag(head, c)
		rows = append(rows, row)
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.Projection != b.Projection {
			return a.Projection < b.Projection
		}
		if a.Version != b.Version {
			return a.Version < b.Version
		}
		return a.Partition < b.Partition
	})
	return rows, cut, nil
}

type parkedRow struct {
	Projection string
	Count      int
}

type targetView struct {
	Name     string
	Statuses []projection.TargetStatus
	Error    string
	Head     eventstore.Position
}

func (h *handler) projections(r *http.Request) (view, error) {
	ctx := r.Context()
	head, err := h.headPosition(ctx)
	if err != nil {
		return view{}, err
	}
	all := func(string) bool { return true }
	cps, cut, err := h.checkpoints(ctx, head, all)
	if err != nil {
		return view{}, err
	}
	parkedStreams, parkedCut, err := h.recentStreams(ctx, parkedPrefix, all)
	if err != nil {
		return view{}, err
	}
	var parked []parkedRow
	for _, s := range parkedStreams {
		name := strings.TrimPrefix(s, parkedPrefix)
		list, err := projection.ListParked(ctx, h.store, name)
		if err != nil {
			return view{}, fmt.Errorf("console: parked events of %q: %w", name, err)
		}
		parked = append(parked, parkedRow{name, len(list)})
	}
	sort.Slice(parked, func(i, j int) bool { return parked[i].Projection < parked[j].Projection })
	targets := make([]targetView, len(h.opts.targets))
	for i, t := range h.opts.targets {
		targets[i] = targetView{Name: t.name, Head: head}
		sts, err := t.target.Statuses(ctx)
		if err != nil {
			targets[i].Error = err.Error()
			continue
		}
		targets[i].Statuses = sts
	}
	return view{name: "projections", title: "Projections", data: struct {
		Head        eventstore.Position
		Checkpoints []checkpointRow
		Parked      []parkedRow
		Targets     []targetView
		Cut         bool
	}{head, cps, parked, targets, cut || parkedCut}}, nil
}

func (h *handler) projection(r *http.Request) (view, error) {
	ctx := r.Context()
	name := r.URL.Query().Get("name")
	if !validProjection(name) {
		return view{}, errorf(http.StatusBadRequest, "projection %q: a projection name is letters, digits, '_' and '.'", name)
	}
	head, err := h.headPosition(ctx)
	if err != nil {
		return view{}, err
	}
	mine := func(s string) bool {
		rest := strings.TrimPrefix(s, checkpointPrefix)
		return rest == name || strings.HasPrefix(rest, name+"-")
	}
	cps, _, err := h.checkpoints(ctx, head, mine)
	if err != nil {
		return view{}, err
	}
	parked, err := projection.ListParked(ctx, h.store, name)
	if err != nil && !isNotFound(err) {
		return view{}, fmt.Errorf("console: parked events of %q: %w", name, err)
	}
	if len(cps) == 0 && len(parked) == 0 {
		return view{}, errorf(http.StatusNotFound, "no checkpoints or parked events of projection %q in the store", name)
	}
	shownParked := parked
	if len(shownParked) > MaxPageSize {
		shownParked = shownParked[:MaxPageSize]
	}
	return view{name: "projection", title: "Projection " + name, data: struct {
		Name        string
		Head        eventstore.Position
		Checkpoints []checkpointRow
		Parked      []projection.ParkedEvent
		ParkedCount int
		Actions     bool
		Requested   bool
		Token       string
	}{name, head, cps, shownParked, len(parked), h.opts.actions, r.URL.Query().Get("requested") == "1", h.token("/actions/replay-parked")}}, nil
}

// validProjection reports whether name is a projection name (as
// projection.New requires): a letter, then letters, digits, '_' and '.'.
func validProjection(name string) bool {
	for i, c := range name {
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (i == 0 || !(c >= '0' && c <= '9' || c == '_' || c == '.')) {
			return false
		}
	}
	return name != ""
}

// replayParked asks the projection's runners to replay its parked events.
func (h *handler) replayParked(r *http.Request) (string, error) {
	name := r.PostForm.Get("projection")
	if !validProjection(name) {
		return "", errorf(http.StatusBadRequest, "projection %q: a projection name is letters, digits, '_' and '.'", name)
	}
	if err := projection.RequestReplay(r.Context(), h.store, name); err != nil {
		return "", fmt.Errorf("console: replay parked events of %q: %w", name, err)
	}
	h.opts.logger.LogAttrs(r.Context(), slog.LevelInfo, "console: replay of parked events requested", slog.String("projection", name))
	return "../projection?name=" + queryEscape(name) + "&requested=1", nil
}
