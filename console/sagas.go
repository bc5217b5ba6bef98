package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/chronicle-go/chronicle/aggregate"
	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/saga"
)

// sagaPrefix starts the stream of every saga (saga.StreamOf).
var sagaPrefix = eventstore.FrameworkStream("saga", "") + "-"

// sagaStatuses are the statuses the sagas page filters by.
var sagaStatuses = []saga.Status{saga.NeedsAttention, saga.Running, saga.Compensating, saga.Completed, saga.Compensated}

type sagaRow struct {
	Stream string
	State  *saga.State
}

func (h *handler) sagas(r *http.Request) (view, error) {
	limit, before, err := h.listParams(r)
	if err != nil {
		return view{}, err
	}
	status := saga.Status(r.URL.Query().Get("status"))
	if status != "" && !knownStatus(status) {
		return view{}, errorf(http.StatusBadRequest, "status %q: want one of %v", status, sagaStatuses)
	}
	// Sagas are listed newest first by their first event; with a status,
	// each one found is read and kept if it has it. The scan limit bounds
	// both.
	var rows []sagaRow
	var next eventstore.Position
	scanned, exhausted := 0, false
	filter := eventstore.StreamPrefixFilter(sagaPrefix)
	cursor := before
	for len(rows) < limit && !exhausted {
		found, nxt, n, ex, err := h.scanStarts(r.Context(), filter, cursor, limit-len(rows), func(string) bool { return true })
		if err != nil {
			return view{}, err
		}
		scanned, exhausted = scanned+n, ex
		for _, f := range found {
			st, err := saga.Read(r.Context(), h.store, f.Name)
			if err != nil {
				return view{}, fmt.Errorf("console: saga %q: %w", f.Name, err)
			}
			if status == "" || st.Status == status {
				rows = append(rows, sagaRow{Stream: f.Name, State: st})
			}
		}
		next, cursor = nxt, nxt
		if nxt.IsZero() || status == "" {
			break
		}
		if scanned >= h.opts.scanLimit {
			exhausted = true
		}
	}
	more := ""
	if !next.IsZero() {
		v := url.Values{"before": {next.String()}, "limit": {strconv.Itoa(limit)}}
		if status != "" {
			v.Set("status", string(status))
		}
		more = "sagas?" + v.Encode()
	}
	return view{name: "sagas", title: "Sagas", data: struct {
		Rows      []sagaRow
		Status    saga.Status
		Statuses  []saga.Status
		Next      string
		Exhausted bool
	}{rows, status, sagaStatuses, more, exhausted}}, nil
}

func knownStatus(s saga.Status) bool {
	for _, k := range sagaStatuses {
		if k == s {
			return true
		}
	}
	return false
}

func (h *handler) saga(r *http.Request) (view, error) {
	stream := r.URL.Query().Get("stream")
	if !strings.HasPrefix(stream, sagaPrefix) || len(stream) == len(sagaPrefix) {
		return view{}, errorf(http.StatusBadRequest, "stream %q is not a saga stream (%s<workflow>-<id>)", stream, sagaPrefix)
	}
	st, err := saga.Read(r.Context(), h.store, stream)
	if err != nil {
		if isNotFound(err) {
			return view{}, errorf(http.StatusNotFound, "no saga %q", stream)
		}
		return view{}, fmt.Errorf("console: saga %q: %w", stream, err)
	}
	timeline, err := saga.History(r.Context(), h.store, stream)
	if err != nil {
		return view{}, fmt.Errorf("console: saga %q: %w", stream, err)
	}
	return view{name: "saga", title: "Saga " + st.Name + " " + st.ID, data: struct {
		Stream    string
		State     *saga.State
		Input     string
		Timeline  []saga.Timeline
		Actions   bool
		Requested string
		Retry     string // form tokens
		Skip      string
	}{stream, st, pretty(st.Input), timeline, h.opts.actions, r.URL.Query().Get("requested"),
		h.token("/actions/saga-retry"), h.token("/actions/saga-skip")}}, nil
}

// sagaRetry records a retry of the failed compensation of a saga that needs
// attention (saga.RequestRetry); an engine of the workflow carries it out.
func (h *handler) sagaRetry(r *http.Request) (string, error) {
	workflow, id := r.PostForm.Get("workflow"), r.PostForm.Get("id")
	_, err := saga.RequestRetry(r.Context(), h.store, workflow, id)
	return sagaRequested(workflow, id, "retry", err)
}

// sagaSkip records that the failed compensation of a step was done by hand
// (saga.RequestSkip).
func (h *handler) sagaSkip(r *http.Request) (string, error) {
	workflow, id := r.PostForm.Get("workflow"), r.PostForm.Get("id")
	_, err := saga.RequestSkip(r.Context(), h.store, workflow, id, r.PostForm.Get("step"))
	return sagaRequested(workflow, id, "skip", err)
}

func sagaRequested(workflow, id, what string, err error) (string, error) {
	switch {
	case errors.Is(err, saga.ErrUnknownSaga):
		return "", errorf(http.StatusNotFound, "%v", err)
	case errors.Is(err, saga.ErrNotNeedsAttention), errors.Is(err, eventstore.ErrWrongExpectedVersion):
		return "", errorf(http.StatusConflict, "%v", err)
	case err != nil:
		return "", fmt.Errorf("console: %s saga %s %s: %w", what, workflow, id, err)
	}
	return "../saga?" + url.Values{"stream": {saga.StreamOf(workflow, id)}, "requested": {what}}.Encode(), nil
}

// isNotFound reports a missing stream, saga or aggregate.
func isNotFound(err error) bool {
	return errors.Is(err, eventstore.ErrStreamNotFound) || errors.Is(err, saga.ErrUnknownSaga) || errors.Is(err, aggregate.ErrNotFound)
}

func queryEscape(s string) string { return url.QueryEscape(s) }
