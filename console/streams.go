package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
)

// streamRow is one stream of a listing.
type streamRow struct {
	Name, Category string
	Created        time.Time
	Last           uint64 // last revision
	LastAt         time.Time
	Deleted        bool
}

// listing is a page of streams found by scanStarts.
type listing struct {
	Rows     []streamRow
	Next     string // the ?before= of the next page; "" at the end of $all
	Scanned  int
	Exhaust  bool // the scan limit ended the page early
	Category string
	All      bool // framework and metadata streams included
	Limit    int
}

// scanStarts reads $all backwards from before (exclusive; End when zero),
// keeping first events (revision 0) that keep accepts, until it has limit of
// them or has examined scanLimit events. It returns the streams, in
// newest-first order, and the position to continue from (zero at the end).
func (h *handler) scanStarts(ctx context.Context, filter *eventstore.Filter, before eventstore.Position, limit int, keep func(stream string) bool) (rows []streamRow, next eventstore.Position, scanned int, exhausted bool, err error) {
	from := eventstore.End
	if !before.IsZero() {
		from = eventstore.FromPosition(before)
	}
	for e, err := range h.store.ReadAll(ctx, eventstore.ReadAllOptions{Direction: eventstore.Backwards, From: from, Filter: filter}) {
		if err != nil {
			return nil, eventstore.Position{}, scanned, false, fmt.Errorf("console: list streams: %w", err)
		}
		scanned++
		if e.Revision == 0 && !eventstore.IsSystemStream(e.Stream) && keep(e.Stream) {
			rows = append(rows, streamRow{Name: e.Stream, Category: eventstore.Category(e.Stream), Created: e.Created})
			if len(rows) == limit {
				return rows, e.Position, scanned, false, nil
			}
		}
		if scanned >= h.opts.scanLimit {
			return rows, e.Position, scanned, true, nil
		}
	}
	return rows, eventstore.Position{}, scanned, false, nil
}

// categoryFilter keeps the streams of one category: the name itself or
// category + "-" + anything.
func categoryFilter(category string) *eventstore.Filter {
	return eventstore.StreamRegexFilter("^" + regexp.QuoteMeta(category) + "(-|$)")
}

// head fills in each row's last revision and time with one backwards read of
// one event per stream.
func (h *handler) head(ctx context.Context, rows []streamRow) error {
	for i := range rows {
		e, ok, err := h.last(ctx, rows[i].Name)
		switch {
		case errors.Is(err, eventstore.ErrStreamNotFound), errors.Is(err, eventstore.ErrStreamDeleted):
			rows[i].Deleted = true
		case err != nil:
			return err
		case ok:
			rows[i].Last, rows[i].LastAt = e.Revision, e.Created
		}
	}
	return nil
}

// last returns a stream's last event.
func (h *handler) last(ctx context.Context, stream string) (eventstore.RecordedEvent, bool, error) {
	for e, err := range h.store.ReadStream(ctx, stream, eventstore.ReadOptions{Direction: eventstore.Backwards, From: eventstore.End, MaxCount: 1}) {
		if err != nil {
			return e, false, fmt.Errorf("console: read %q: %w", stream, err)
		}
		return e, true, nil
	}
	return eventstore.RecordedEvent{}, false, nil
}

// positionParam reads ?before= or another position parameter written as
// Position.String ("C:12/P:12").
func positionParam(r *http.Request, name string) (eventstore.Position, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return eventstore.Position{}, nil
	}
	p, err := eventstore.ParsePosition(s)
	if err != nil || p.IsZero() {
		return p, errorf(http.StatusBadRequest, "%s %q: want a position such as C:12/P:12", name, s)
	}
	return p, nil
}

// listParams reads the paging parameters of a listing: ?limit= and
// ?before=.
func (h *handler) listParams(r *http.Request) (int, eventstore.Position, error) {
	limit, err := h.limit(r)
	if err != nil {
		return 0, eventstore.Position{}, err
	}
	before, err := positionParam(r, "before")
	return limit, before, err
}

func (h *handler) streams(r *http.Request) (view, error) {
	limit, before, err := h.listParams(r)
	if err != nil {
		return view{}, err
	}
	q := r.URL.Query()
	l := listing{Category: q.Get("category"), All: q.Get("framework") == "1", Limit: limit}
	filter, keep := h.streamFilter(l.Category, l.All)
	rows, next, scanned, exhausted, err := h.scanStarts(r.Context(), filter, before, limit, keep)
	if err != nil {
		return view{}, err
	}
	if err := h.head(r.Context(), rows); err != nil {
		return view{}, err
	}
	l.Rows, l.Scanned, l.Exhaust = rows, scanned, exhausted
	if !next.IsZero() {
		v := url.Values{"before": {next.String()}, "limit": {strconv.Itoa(limit)}}
		if l.Category != "" {
			v.Set("category", l.Category)
		}
		if l.All {
			v.Set("framework", "1")
		}
		l.Next = "streams?" + v.Encode()
	}
	title := "Streams"
	if l.Category != "" {
		title = "Category " + l.Category
	}
	return view{name: "streams", title: title, data: l}, nil
}

// streamFilter returns the store-side filter and the check a listing
// applies: one category, or every application stream (and, with all, the
// framework's too).
func (h *handler) streamFilter(category string, all bool) (*eventstore.Filter, func(string) bool) {
	switch {
	case category != "":
		return categoryFilter(category), func(s string) bool { return eventstore.Category(s) == category }
	case all:
		return nil, func(string) bool { return true }
	default:
		return eventstore.ExcludeFrameworkFilter(), func(s string) bool { return !eventstore.IsFrameworkStream(s) }
	}
}

type categoryRow struct {
	Name    string
	Streams int
}

// maxCategories bounds the categories one request tallies.
const maxCategories = 1000

func (h *handler) categories(r *http.Request) (view, error) {
	all := r.URL.Query().Get("framework") == "1"
	filter, keep := h.streamFilter("", all)
	counts := map[string]int{}
	scanned, streams, exhausted := 0, 0, false
	for e, err := range h.store.ReadAll(r.Context(), eventstore.ReadAllOptions{Direction: eventstore.Backwards, From: eventstore.End, Filter: filter}) {
		if err != nil {
			return view{}, fmt.Errorf("console: categories: %w", err)
		}
		scanned++
		if e.Revision == 0 && !eventstore.IsSystemStream(e.Stream) && keep(e.Stream) {
			c := eventstore.Category(e.Stream)
			if _, ok := counts[c]; ok || len(counts) < maxCategories {
				counts[c]++
			}
			streams++
		}
		if scanned >= h.opts.scanLimit {
			exhausted = true
			break
		}
	}
	rows := make([]categoryRow, 0, len(counts))
	for c, n := range counts {
		rows = append(rows, categoryRow{c, n})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	return view{name: "categories", title: "Categories", data: struct {
		Rows      []categoryRow
		Streams   int
		Scanned   int
		Exhausted bool
		All       bool
	}{rows, streams, scanned, exhausted, all}}, nil
}

func (h *handler) overview(r *http.Request) (view, error) {
	var head eventstore.RecordedEvent
	var has bool
	for e, err := range h.store.ReadAll(r.Context(), eventstore.ReadAllOptions{Direction: eventstore.Backwards, From: eventstore.End, MaxCount: 1}) {
		if err != nil {
			return view{}, fmt.Errorf("console: head of $all: %w", err)
		}
		head, has = e, true
	}
	travel := make([]string, 0, len(h.opts.travel))
	for c := range h.opts.travel {
		travel = append(travel, c)
	}
	sort.Strings(travel)
	return view{name: "overview", title: "Overview", data: struct {
		Head    eventstore.RecordedEvent
		HasHead bool
		Travel  []string
		Targets int
	}{head, has, travel, len(h.opts.targets)}}, nil
}
