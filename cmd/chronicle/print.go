package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/schema"
)

// This file holds the formatting shared by read, tail, export, import and
// replay: the human table and the JSON Lines format.

// jsonEvent is one line of the JSON Lines format of read --json, tail --json,
// export and import. Data is JSON when the content type is JSON, a base64
// string otherwise; metadata is JSON when it is JSON. Bytes that do not fit
// that rule (JSON-typed data that is not JSON, metadata that is not JSON) go
// base64 in DataBase64 or MetadataBase64 instead.
type jsonEvent struct {
	Stream         string          `json:"stream"`
	Revision       uint64          `json:"revision"`
	Position       string          `json:"position,omitempty"`
	ID             string          `json:"id"`
	Type           string          `json:"type"`
	ContentType    string          `json:"contentType"`
	Created        string          `json:"created,omitempty"`
	Data           json.RawMessage `json:"data,omitempty"`
	DataBase64     []byte          `json:"dataBase64,omitempty"`
	Metadata       json.RawMessage `json:"metadata,omitempty"`
	MetadataBase64 []byte          `json:"metadataBase64,omitempty"`
	// What read and tail add from the published schemas (not written by
	// export; ignored by import).
	SchemaVersion int             `json:"schemaVersion,omitempty"`
	Schema        string          `json:"schema,omitempty"`
	Violations    json.RawMessage `json:"violations,omitempty"`
	SchemaError   string          `json:"schemaError,omitempty"`
}

// appendJSONLine appends e as one JSON object and a newline. JSON data and
// metadata are copied byte for byte when they fit on one line (and
// compacted otherwise), so an export/import round trip keeps them intact.
func appendJSONLine(b []byte, e *eventstore.RecordedEvent) []byte {
	b = append(b, `{"stream":`...)
	b = appendJSONString(b, e.Stream)
	b = append(b, `,"revision":`...)
	b = strconv.AppendUint(b, e.Revision, 10)
	b = append(b, `,"position":"`...)
	b = append(b, e.Position.String()...)
	b = append(b, `","id":"`...)
	b = append(b, e.ID.String()...)
	b = append(b, `","type":`...)
	b = appendJSONString(b, e.Type)
	b = append(b, `,"contentType":`...)
	b = appendJSONString(b, contentType(e.ContentType))
	b = append(b, `,"created":"`...)
	b = e.Created.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if len(e.Data) > 0 {
		if e.IsJSON() || e.ContentType == "" {
			b = appendRawOrBase64(b, "data", e.Data)
		} else {
			b = append(b, `,"data":"`...)
			b = base64.StdEncoding.AppendEncode(b, e.Data)
			b = append(b, '"')
		}
	}
	if len(e.Metadata) > 0 {
		b = appendRawOrBase64(b, "metadata", e.Metadata)
	}
	return append(b, "}\n"...)
}

// appendRawOrBase64 appends ,"key":<raw JSON> when raw is JSON, else
// ,"keyBase64":"<base64>".
func appendRawOrBase64(b []byte, key string, raw []byte) []byte {
	if !json.Valid(raw) {
		b = append(b, `,"`+key+`Base64":"`...)
		b = base64.StdEncoding.AppendEncode(b, raw)
		return append(b, '"')
	}
	b = append(b, `,"`+key+`":`...)
	if bytes.ContainsAny(raw, "\r\n") {
		var c bytes.Buffer
		_ = json.Compact(&c, raw) // raw is valid JSON
		return append(b, c.Bytes()...)
	}
	return append(b, bytes.TrimSpace(raw)...)
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}

func contentType(ct string) string {
	if ct == "" {
		return eventstore.ContentTypeJSON
	}
	return ct
}

// parseJSONLine decodes one line of the JSON Lines format into the parts of
// an event that import writes: stream, revision, ID, type, content type,
// data and metadata. Position and created are ignored: the target store
// assigns its own.
func parseJSONLine(line []byte) (eventstore.RecordedEvent, error) {
	var j jsonEvent
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return eventstore.RecordedEvent{}, err
	}
	e := eventstore.RecordedEvent{Stream: j.Stream, Revision: j.Revision, Type: j.Type, ContentType: contentType(j.ContentType)}
	switch {
	case j.Stream == "":
		return e, errors.New(`"stream" is missing`)
	case j.Type == "":
		return e, errors.New(`"type" is missing`)
	}
	id, err := uuid.Parse(j.ID)
	if err != nil {
		return e, fmt.Errorf(`"id": %v`, err)
	}
	e.ID = id
	switch {
	case j.DataBase64 != nil:
		e.Data = j.DataBase64
	case e.ContentType == eventstore.ContentTypeJSON || len(j.Data) == 0:
		e.Data = j.Data
	default:
		if err := json.Unmarshal(j.Data, &e.Data); err != nil {
			return e, fmt.Errorf(`"data" of content type %s must be a base64 string: %v`, e.ContentType, err)
		}
	}
	e.Metadata = j.Metadata
	if j.MetadataBase64 != nil {
		e.Metadata = j.MetadataBase64
	}
	return e, nil
}

// A printer writes events to a command's output, as a table or as JSON
// Lines. Call flush when done (tail flushes after every message).
type printer struct {
	// schemas, when set, are the published schemas events are checked
	// against (read and tail without --raw); schemaStream is their stream.
	schemas      *schema.Registry
	schemaStream string

	w      *bufio.Writer
	json   bool // JSON Lines instead of a table
	full   bool // do not truncate data in the table
	stream bool // the table has a stream column (events of several streams)
	buf    []byte
	header bool
}

func newPrinter(w io.Writer, asJSON, full, stream bool) *printer {
	return &printer{w: bufio.NewWriter(w), json: asJSON, full: full, stream: stream}
}

// dataWidth is how many characters of data the table shows without --full.
const dataWidth = 60

// verdict returns what the published schemas say of e, or nil when there
// are none, e is not JSON, or it is a system or framework event.
func (p *printer) verdict(e *eventstore.RecordedEvent) *verdict {
	if p.schemas == nil || !(e.IsJSON() || e.ContentType == "") ||
		eventstore.IsSystemStream(e.Stream) || eventstore.IsSystemStream(e.Type) || frameworkStream(e.Stream, p.schemaStream) {
		return nil
	}
	v := judge(p.schemas, e)
	return &v
}

func (p *printer) event(e *eventstore.RecordedEvent) error {
	p.buf = p.buf[:0]
	v := p.verdict(e)
	if p.json {
		p.buf = appendJSONLine(p.buf, e)
		if v != nil {
			p.buf = appendVerdict(p.buf[:len(p.buf)-2], v) // before "}\n"
		}
		_, err := p.w.Write(p.buf)
		return err
	}
	if !p.header {
		p.header = true
		if p.stream {
			fmt.Fprintf(p.w, "%-24s ", "STREAM")
		}
		fmt.Fprintf(p.w, "%-8s %-20s %-24s %-24s %s\n", "REVISION", "POSITION", "CREATED", "TYPE", "DATA")
	}
	if p.stream {
		fmt.Fprintf(p.w, "%-24s ", e.Stream)
	}
	typ, note := e.Type, ""
	if v != nil && v.status != "unknown" {
		typ += " v" + strconv.Itoa(v.version)
	}
	if v != nil && v.status == "invalid" {
		note = "  ✗ invalid"
		if len(v.violations) > 0 {
			note += ": " + v.violations[0].String()
			if n := len(v.violations) - 1; n > 0 {
				note += fmt.Sprintf(" (+%d more)", n)
			}
		} else if v.err != nil {
			note += ": " + v.err.Error()
		}
	}
	_, err := fmt.Fprintf(p.w, "%-8d %-20s %-24s %-24s %s%s\n", e.Revision, e.Position,
		e.Created.UTC().Format("2006-01-02T15:04:05.000Z"), typ, p.data(e), note)
	return err
}

// appendVerdict appends the schema fields of the JSON Lines format and
// closes the object.
func appendVerdict(b []byte, v *verdict) []byte {
	b = append(b, `,"schemaVersion":`...)
	b = strconv.AppendInt(b, int64(v.version), 10)
	b = append(b, `,"schema":`...)
	b = appendJSONString(b, v.status)
	if len(v.violations) > 0 {
		viols, _ := json.Marshal(v.jsonViolations()) // plain strings always marshal
		b = append(b, `,"violations":`...)
		b = append(b, viols...)
	}
	if v.err != nil {
		b = append(b, `,"schemaError":`...)
		b = appendJSONString(b, v.err.Error())
	}
	return append(b, "}\n"...)
}

// data renders an event's data for the table: compact JSON, or base64 for
// other content, cut to dataWidth characters unless full.
func (p *printer) data(e *eventstore.RecordedEvent) string {
	var s string
	var c bytes.Buffer
	switch {
	case len(e.Data) == 0:
		return ""
	case (e.IsJSON() || e.ContentType == "") && json.Compact(&c, e.Data) == nil:
		s = c.String()
	default:
		s = "base64:" + base64.StdEncoding.EncodeToString(e.Data)
	}
	if p.full || utf8.RuneCountInString(s) <= dataWidth {
		return s
	}
	r := []rune(s)
	return string(r[:dataWidth-1]) + "…"
}

// note writes a line that is not an event ("caught up"): to the table, or to
// errOut when the output is JSON Lines, which holds only events.
func (p *printer) note(errOut io.Writer, msg string) error {
	if p.json {
		_, err := fmt.Fprintln(errOut, msg)
		return err
	}
	_, err := fmt.Fprintf(p.w, "-- %s --\n", msg)
	return err
}

func (p *printer) flush() error { return p.w.Flush() }
