package storetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
)

// setMetadata sets a stream's metadata and fails the test on error.
func (e *env) setMetadata(stream string, expected eventstore.ExpectedRevision, meta eventstore.StreamMetadata) eventstore.AppendResult {
	e.t.Helper()
	r, err := e.s.SetStreamMetadata(e.ctx, stream, expected, meta)
	if err != nil {
		e.t.Fatalf("SetStreamMetadata(%q, %v): %v", stream, expected, err)
	}
	return r
}

// wantMetadata fails unless GetStreamMetadata returns want at revision rev.
// Raw JSON values (ACL, custom keys) compare by meaning, not bytes.
func (e *env) wantMetadata(stream string, rev eventstore.ExpectedRevision, want eventstore.StreamMetadata) {
	e.t.Helper()
	got, err := e.s.GetStreamMetadata(e.ctx, stream)
	if err != nil {
		e.t.Fatalf("GetStreamMetadata(%q): %v", stream, err)
	}
	if got.Revision != rev {
		e.t.Fatalf("GetStreamMetadata(%q): revision %v, want %v", stream, got.Revision, rev)
	}
	if d := metadataDiff(got.Metadata, want); d != "" {
		e.t.Fatalf("GetStreamMetadata(%q): %s", stream, d)
	}
}

// metadataDiff describes how got differs from want ("" when it does not).
func metadataDiff(got, want eventstore.StreamMetadata) string {
	switch {
	case got.MaxAge != want.MaxAge:
		return fmt.Sprintf("MaxAge %v, want %v", got.MaxAge, want.MaxAge)
	case got.MaxCount != want.MaxCount:
		return fmt.Sprintf("MaxCount %d, want %d", got.MaxCount, want.MaxCount)
	case got.TruncateBefore != want.TruncateBefore:
		return fmt.Sprintf("TruncateBefore %d, want %d", got.TruncateBefore, want.TruncateBefore)
	case got.CacheControl != want.CacheControl:
		return fmt.Sprintf("CacheControl %v, want %v", got.CacheControl, want.CacheControl)
	case !sameJSON(got.ACL, want.ACL):
		return fmt.Sprintf("ACL %s, want %s", got.ACL, want.ACL)
	case len(got.Custom) != len(want.Custom):
		return fmt.Sprintf("custom keys %s, want %s", customKeys(got), customKeys(want))
	}
	for k, w := range want.Custom {
		if g, ok := got.Custom[k]; !ok || !sameJSON(g, w) {
			return fmt.Sprintf("custom key %q = %s, want %s", k, g, w)
		}
	}
	return ""
}

func customKeys(m eventstore.StreamMetadata) string {
	b, _ := json.Marshal(m.Custom)
	return string(b)
}

// sameJSON reports whether two JSON documents mean the same (both empty
// counts as the same).
func sameJSON(a, b json.RawMessage) bool {
	if len(bytes.TrimSpace(a)) == 0 || len(bytes.TrimSpace(b)) == 0 {
		return len(bytes.TrimSpace(a)) == len(bytes.TrimSpace(b))
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(x, y)
}

// testMetadata checks stream metadata: storage as events of $$<stream>, and
// $maxCount, $tb and $maxAge as reads apply them.
func (s *suite) testMetadata(t *testing.T) {
	s.run(t, "Absent", func(e *env) {
		e.wantMetadata("order-1", eventstore.NoStream, eventstore.StreamMetadata{})
		e.seed("order-1", 2)
		e.wantMetadata("order-1", eventstore.NoStream, eventstore.StreamMetadata{})
	})
	s.run(t, "RoundTrip", func(e *env) {
		e.seed("order-1", 1)
		meta := eventstore.StreamMetadata{
			MaxAge:         time.Hour,
			MaxCount:       5,
			TruncateBefore: 0,
			CacheControl:   time.Minute,
			ACL:            json.RawMessage(`{"$r":"$all","$w":["ops","admin"],"$mr":"$admins"}`),
			Custom: map[string]json.RawMessage{
				"owner":  json.RawMessage(`"ops"`),
				"limits": json.RawMessage(`{"a":[1,2,{"b":null}],"c":1.5}`),
				"flag":   json.RawMessage(`false`),
			},
		}
		mark := e.head()
		r := e.setMetadata("order-1", eventstore.NoStream, meta)
		if r.Next != eventstore.Exact(0) || r.Position.IsZero() || r.Position.Compare(mark) <= 0 {
			e.t.Fatalf("SetStreamMetadata returned %+v, want Next 0 and a position after %v", r, mark)
		}
		e.wantMetadata("order-1", eventstore.Exact(0), meta)

		meta2 := eventstore.StreamMetadata{TruncateBefore: 1, Custom: map[string]json.RawMessage{"owner": json.RawMessage(`"dev"`)}}
		if r := e.setMetadata("order-1", eventstore.Exact(0), meta2); r.Next != eventstore.Exact(1) {
			e.t.Fatalf("second SetStreamMetadata: Next = %v, want 1", r.Next)
		}
		e.wantMetadata("order-1", eventstore.Exact(1), meta2) // replaced, not merged
		// Setting metadata does not create the stream.
		e.setMetadata("invoice-1", eventstore.Any, meta2)
		e.wantNotFound("invoice-1")
	})
	s.run(t, "ExpectedRevision", func(e *env) {
		const stream = "order-1"
		mstream := eventstore.MetadataStreamName(stream)
		_, err := e.s.SetStreamMetadata(e.ctx, stream, eventstore.StreamExists, eventstore.StreamMetadata{MaxCount: 1})
		wantWrongVersion(e.t, "SetStreamMetadata(StreamExists) with no metadata", err, mstream, eventstore.StreamExists, eventstore.NoStream)
		_, err = e.s.SetStreamMetadata(e.ctx, stream, eventstore.Exact(0), eventstore.StreamMetadata{MaxCount: 1})
		wantWrongVersion(e.t, "SetStreamMetadata(Exact(0)) with no metadata", err, mstream, eventstore.Exact(0), eventstore.NoStream)
		e.setMetadata(stream, eventstore.NoStream, eventstore.StreamMetadata{MaxCount: 1})
		e.setMetadata(stream, eventstore.StreamExists, eventstore.StreamMetadata{MaxCount: 2})
		mark := e.head()
		for _, exp := range []eventstore.ExpectedRevision{eventstore.NoStream, eventstore.Exact(0), eventstore.Exact(2)} {
			_, err := e.s.SetStreamMetadata(e.ctx, stream, exp, eventstore.StreamMetadata{MaxCount: 9})
			wantWrongVersion(e.t, fmt.Sprintf("SetStreamMetadata(%v)", exp), err, mstream, exp, eventstore.Exact(1))
		}
		e.wantNothingAfter("failed SetStreamMetadata calls", mark)
		e.wantMetadata(stream, eventstore.Exact(1), eventstore.StreamMetadata{MaxCount: 2})
		// The metadata stream's revision is independent of the stream's.
		e.seed(stream, 5)
		e.setMetadata(stream, eventstore.Exact(1), eventstore.StreamMetadata{MaxCount: 3})
	})
	s.run(t, "MetadataStreamReads", func(e *env) {
		// $$<stream> reads as if $maxCount were 1: only its latest event,
		// with its real revision.
		const stream = "order-1"
		mstream := eventstore.MetadataStreamName(stream)
		e.seed(stream, 1)
		for i := range 3 {
			e.setMetadata(stream, eventstore.Any, eventstore.StreamMetadata{MaxCount: uint64(i + 1)})
		}
		for _, opts := range []eventstore.ReadOptions{
			{},
			{From: eventstore.FromRevision(0)},
			{Direction: eventstore.Backwards, From: eventstore.End},
			{Direction: eventstore.Backwards, From: eventstore.FromRevision(2)},
			{MaxCount: 5},
		} {
			got := e.mustRead(mstream, opts)
			if len(got) != 1 || got[0].Stream != mstream || got[0].Revision != 2 || got[0].Type != eventstore.MetadataEventType {
				e.t.Fatalf("ReadStream(%q, %+v) returned %s, want only its latest event, revision 2", mstream, opts, revisions(got))
			}
			var meta eventstore.StreamMetadata
			if err := json.Unmarshal(got[0].Data, &meta); err != nil || meta.MaxCount != 3 {
				e.t.Fatalf("latest metadata event holds %s (%v), want $maxCount 3", got[0].Data, err)
			}
		}
		if got := e.mustRead(mstream, eventstore.ReadOptions{Direction: eventstore.Backwards, From: eventstore.FromRevision(1)}); len(got) > 0 {
			e.t.Fatalf("ReadStream(%q) backwards from revision 1 returned %s, want nothing (only revision 2 is visible)", mstream, revisions(got))
		}
	})

	// Stream reads of 10 events under metadata.
	type readCase struct {
		opts  eventstore.ReadOptions
		first uint64
		n     int
	}
	honoured := func(name string, meta eventstore.StreamMetadata, cases []readCase) {
		s.run(t, name, func(e *env) {
			evs := e.seed("order-1", 10)
			e.setMetadata("order-1", eventstore.Any, meta)
			for _, c := range cases {
				got := e.mustRead("order-1", c.opts)
				back := c.opts.Direction == eventstore.Backwards
				var want []eventstore.EventData
				switch {
				case c.n == 0:
				case back:
					want = reversed(evs[c.first+1-uint64(c.n) : c.first+1])
				default:
					want = evs[c.first : c.first+uint64(c.n)]
				}
				wantStream(e.t, fmt.Sprintf("ReadStream(%+v)", c.opts), got, "order-1", c.first, back, want)
			}
			// $all ignores stream metadata.
			if got := e.readAllAfter(eventstore.Position{}, eventstore.StreamRegexFilter(`^order-1$`)); len(got) != 10 {
				e.t.Fatalf("$all holds %d of the stream's 10 events, want all", len(got))
			}
			// Appends after the metadata are judged by it too.
			more := newEvents(2, "More")
			e.append("order-1", eventstore.Exact(9), more...)
			if got := e.mustRead("order-1", eventstore.ReadOptions{Direction: eventstore.Backwards, From: eventstore.End, MaxCount: 1}); len(got) != 1 || got[0].ID != more[1].ID {
				e.t.Fatalf("the newest event is not visible after appending: %s", revisions(got))
			}
		})
	}
	back := eventstore.Backwards
	honoured("MaxCount", eventstore.StreamMetadata{MaxCount: 3}, []readCase{
		{eventstore.ReadOptions{}, 7, 3},
		{eventstore.ReadOptions{From: eventstore.FromRevision(2)}, 7, 3},
		{eventstore.ReadOptions{From: eventstore.FromRevision(8)}, 8, 2},
		{eventstore.ReadOptions{MaxCount: 2}, 7, 2},
		{eventstore.ReadOptions{Direction: back, From: eventstore.End}, 9, 3},
		{eventstore.ReadOptions{Direction: back, From: eventstore.FromRevision(8)}, 8, 2},
		{eventstore.ReadOptions{Direction: back, From: eventstore.FromRevision(5)}, 0, 0},
	})
	honoured("TruncateBefore", eventstore.StreamMetadata{TruncateBefore: 4}, []readCase{
		{eventstore.ReadOptions{}, 4, 6},
		{eventstore.ReadOptions{From: eventstore.FromRevision(1), MaxCount: 2}, 4, 2},
		{eventstore.ReadOptions{Direction: back, From: eventstore.End}, 9, 6},
		{eventstore.ReadOptions{Direction: back, From: eventstore.FromRevision(3)}, 0, 0},
	})
	honoured("MaxCountAndTruncateBefore", eventstore.StreamMetadata{MaxCount: 5, TruncateBefore: 7}, []readCase{
		{eventstore.ReadOptions{}, 7, 3},
		{eventstore.ReadOptions{Direction: back, From: eventstore.End}, 9, 3},
	})
	honoured("TruncateBeforePastTheEnd", eventstore.StreamMetadata{TruncateBefore: 10}, []readCase{
		// Nothing visible, but the stream exists: no ErrStreamNotFound.
		{eventstore.ReadOptions{}, 0, 0},
		{eventstore.ReadOptions{Direction: back, From: eventstore.End}, 0, 0},
	})
	s.run(t, "MaxAge", s.maxAge)
}

// maxAge checks $maxAge on reads and stream subscriptions: an event older
// than it is invisible, but the stream still exists.
func (s *suite) maxAge(e *env) {
	const stream = "order-1"
	old := newEvent("Old")
	before := time.Now() // the event is created after this
	e.append(stream, eventstore.NoStream, old)
	e.setMetadata(stream, eventstore.NoStream, eventstore.StreamMetadata{MaxAge: time.Second})
	if got := e.mustRead(stream, eventstore.ReadOptions{}); len(got) == 0 && time.Since(before) < time.Second {
		e.t.Fatalf("an event younger than $maxAge is not visible")
	}
	// Wait until the event is older than $maxAge.
	e.poll("an event older than $maxAge (1s) is invisible", time.Second+e.f.timeout()/4, func() bool {
		evs, err := e.read(stream, eventstore.ReadOptions{})
		if err != nil {
			e.t.Fatalf("ReadStream of a stream whose events expired: %v, want no events and no error", err)
		}
		return len(evs) == 0
	})
	if time.Since(before) < time.Second {
		e.t.Fatalf("the event became invisible %v after it was written, before $maxAge (1s)", time.Since(before))
	}
	if got, err := e.read(stream, eventstore.ReadOptions{Direction: eventstore.Backwards, From: eventstore.End}); err != nil || len(got) > 0 {
		e.t.Fatalf("backwards ReadStream of an expired stream: %s, %v; want nothing and no error", revisions(got), err)
	}
	// A subscription skips the expired event and delivers new ones.
	sub := e.subscribeStream(stream, eventstore.SubscribeOptions{})
	if got := sub.caughtUp(); len(got) > 0 {
		e.t.Fatalf("subscription caught up with %s, want no expired event", revisions(got))
	}
	fresh := newEvent("Fresh")
	e.append(stream, eventstore.Exact(0), fresh)
	if ev := sub.event(); ev.ID != fresh.ID || ev.Revision != 1 {
		e.t.Fatalf("subscription delivered %s@%d, want the new event at revision 1", ev.Stream, ev.Revision)
	}
	wantStream(e.t, "ReadStream", e.mustRead(stream, eventstore.ReadOptions{}), stream, 1, false, []eventstore.EventData{fresh})
	// $all keeps the expired event.
	if got := e.readAllAfter(eventstore.Position{}, eventstore.StreamRegexFilter(`^order-1$`)); len(got) != 2 || got[0].ID != old.ID {
		e.t.Fatalf("$all holds %s for the stream, want both events", revisions(got))
	}
}
