package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/schema"
)

// maxShown bounds the bytes of data or metadata a page shows of one event.
const maxShown = 64 << 10

// Schema states of an event, as the page shows them.
const (
	schemaValid     = "valid"
	schemaInvalid   = "invalid"
	schemaUnknown   = "no schema"
	schemaMalformed = "malformed"
)

// eventView is one event as a page shows it.
type eventView struct {
	eventstore.RecordedEvent
	Version  int    // the schema version the data was written with
	Schema   string // schemaValid, …
	Problem  string // why it is invalid or could not be decoded
	Decoded  string // the data as the service's registry decodes it (current version), indented
	DecodedV int
	Data     string // the raw data, indented when JSON
	Meta     string // the raw metadata, indented when JSON
	Binary   bool
	Cut      bool // data or metadata was cut at maxShown
}

// renderEvent turns a recorded event into what a page shows: its data validated
// against the published schema of its version, decoded through the
// service's registry when it has the Go type, and raw.
func (h *handler) renderEvent(ctx context.Context, e eventstore.RecordedEvent) eventView {
	v := eventView{RecordedEvent: e, Version: 1}
	var md schema.Metadata
	if len(e.Metadata) > 0 {
		if err := json.Unmarshal(e.Metadata, &md); err == nil && md.SchemaVersion > 0 {
			v.Version = md.SchemaVersion
		}
	}
	v.Meta, _ = shown(e.Metadata, true)
	v.Binary = !e.IsJSON()
	var cut bool
	v.Data, cut = shown(e.Data, !v.Binary)
	v.Cut = cut || len(e.Metadata) > maxShown
	if v.Binary {
		v.Schema = schemaUnknown
		return v
	}
	reg, err := h.published.registry(ctx)
	if err != nil {
		v.Schema, v.Problem = schemaUnknown, "published schemas could not be loaded: "+err.Error()
	} else {
		err = reg.Validate(e.Type, v.Version, e.Data)
		if err != nil && h.opts.registry != nil && (errors.Is(err, schema.ErrUnknownType) || errors.Is(err, schema.ErrUnknownVersion)) {
			err = h.opts.registry.Validate(e.Type, v.Version, e.Data) // registered but not published yet
		}
		switch {
		case err == nil:
			v.Schema = schemaValid
		case errors.Is(err, schema.ErrValidation):
			v.Schema, v.Problem = schemaInvalid, err.Error()
		case errors.Is(err, schema.ErrMalformed):
			v.Schema, v.Problem = schemaMalformed, err.Error()
		default:
			v.Schema = schemaUnknown
		}
	}
	if h.opts.registry != nil {
		if _, ok := h.opts.registry.Current(e.Type); ok {
			dec, err := h.opts.registry.Decode(e)
			if err != nil {
				if v.Problem == "" {
					v.Problem = "decode: " + err.Error()
				}
			} else {
				var b bytes.Buffer
				enc := json.NewEncoder(&b)
				enc.SetEscapeHTML(false) // html/template escapes; \u003c would only confuse readers
				enc.SetIndent("", "  ")
				if enc.Encode(dec.Data) == nil {
					v.Decoded, v.DecodedV = strings.TrimSuffix(b.String(), "\n"), dec.Version
				}
			}
		}
	}
	return v
}

// shown returns b as a page shows it: indented when it is JSON, as text when
// it is UTF-8, else as hex; cut at maxShown.
func shown(b []byte, isJSON bool) (string, bool) {
	cut := len(b) > maxShown
	if isJSON && !cut && len(b) > 0 {
		var buf bytes.Buffer
		if json.Indent(&buf, b, "", "  ") == nil {
			return buf.String(), false
		}
	}
	if cut {
		b = b[:maxShown]
	}
	if utf8.Valid(b) {
		return string(b), cut
	}
	return fmt.Sprintf("% x", b), cut
}

// eventsPage is one page of a stream's events.
type eventsPage struct {
	Stream   string
	Category string
	Events   []eventView
	From     uint64
	Limit    int
	Newer    string // link to the next events; "" when this page reaches the end
	Older    string
	Travel   bool // a time travel hook covers the stream's category
	Backward bool
}

func (h *handler) stream(r *http.Request) (view, error) {
	name := r.URL.Query().Get("name")
	if name == "" {
		return view{}, errorf(http.StatusBadRequest, "give a stream: ?name=")
	}
	if err := eventstore.ValidateStreamName("read", name, true); err != nil {
		return view{}, errorf(http.StatusBadRequest, "%v", err)
	}
	if name == eventstore.AllStream {
		return view{}, errorf(http.StatusBadRequest, "$all is not a stream: follow it live, or list its streams")
	}
	limit, err := h.limit(r)
	if err != nil {
		return view{}, err
	}
	from, hasFrom, err := uintParam(r, "from")
	if err != nil {
		return view{}, err
	}
	p := eventsPage{Stream: name, Category: eventstore.Category(name), Limit: limit, From: from}
	_, p.Travel = h.opts.travel[p.Category]
	opts := eventstore.ReadOptions{From: eventstore.FromRevision(from), MaxCount: uint64(limit) + 1}
	if !hasFrom { // the newest page first, as a log viewer does
		opts = eventstore.ReadOptions{Direction: eventstore.Backwards, From: eventstore.End, MaxCount: uint64(limit)}
		p.Backward = true
	}
	for e, err := range h.store.ReadStream(r.Context(), name, opts) {
		if err != nil {
			return view{}, err
		}
		p.Events = append(p.Events, h.renderEvent(r.Context(), e))
	}
	if p.Backward { // show them in stream order
		for i, j := 0, len(p.Events)-1; i < j; i, j = i+1, j-1 {
			p.Events[i], p.Events[j] = p.Events[j], p.Events[i]
		}
	} else if len(p.Events) > limit {
		p.Events = p.Events[:limit]
		p.Newer = streamLink(name, p.Events[limit-1].Revision+1, limit)
	}
	if len(p.Events) > 0 && p.Events[0].Revision > 0 {
		first := p.Events[0].Revision
		p.Older = streamLink(name, first-min(first, uint64(limit)), limit)
	}
	if len(p.Events) == 0 && hasFrom {
		return view{}, errorf(http.StatusNotFound, "stream %q has no events from revision %d", name, from)
	}
	return view{name: "stream", title: name, data: p}, nil
}

func streamLink(stream string, from uint64, limit int) string {
	return "stream?" + url.Values{"name": {stream}, "from": {strconv.FormatUint(from, 10)}, "limit": {strconv.Itoa(limit)}}.Encode()
}

// since formats how long ago t was, for tables.
func since(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := time.Since(t).Round(time.Second)
	if d < 0 {
		d = 0
	}
	return d.String() + " ago"
}
