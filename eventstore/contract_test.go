package eventstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
)

func TestExpectedRevisionAndFrom(t *testing.T) {
	for _, c := range []struct {
		e    eventstore.ExpectedRevision
		want string
	}{{eventstore.Any, "any"}, {eventstore.ExpectedRevision{}, "any"}, {eventstore.NoStream, "no_stream"}, {eventstore.StreamExists, "stream_exists"}, {eventstore.Exact(7), "7"}} {
		if got := c.e.String(); got != c.want {
			t.Errorf("%v.String() = %q, want %q", c.e, got, c.want)
		}
	}
	if !eventstore.Any.IsAny() || !eventstore.NoStream.IsNoStream() || !eventstore.StreamExists.IsStreamExists() {
		t.Error("kind predicates")
	}
	if r, ok := eventstore.Exact(3).Revision(); !ok || r != 3 {
		t.Error("Exact.Revision")
	}
	if _, ok := eventstore.Any.Revision(); ok {
		t.Error("Any has no revision")
	}
	p := eventstore.Position{Commit: 5, Prepare: 4}
	for _, c := range []struct {
		f    eventstore.From
		want string
	}{{eventstore.Start, "start"}, {eventstore.End, "end"}, {eventstore.FromRevision(9), "revision 9"}, {eventstore.FromPosition(p), "position C:5/P:4"}} {
		if got := c.f.String(); got != c.want {
			t.Errorf("From.String() = %q, want %q", got, c.want)
		}
	}
	if !eventstore.Start.IsStart() || !eventstore.End.IsEnd() {
		t.Error("From predicates")
	}
	if got, ok := eventstore.FromPosition(p).Position(); !ok || got != p {
		t.Error("FromPosition")
	}
	if eventstore.Forwards.String() != "forwards" || eventstore.Backwards.String() != "backwards" {
		t.Error("Direction.String")
	}
}

func TestPosition(t *testing.T) {
	a, b := eventstore.Position{Commit: 1, Prepare: 1}, eventstore.Position{Commit: 1, Prepare: 2}
	c := eventstore.Position{Commit: 2}
	if a.Compare(b) != -1 || b.Compare(a) != 1 || a.Compare(a) != 0 || c.Compare(b) != 1 || b.Compare(c) != -1 {
		t.Error("Compare")
	}
	if !(eventstore.Position{}).IsZero() || a.IsZero() {
		t.Error("IsZero")
	}
}

func TestStreamNames(t *testing.T) {
	if eventstore.Category("order-1-2") != "order" || eventstore.Category("plain") != "plain" {
		t.Error("Category")
	}
	if of, ok := eventstore.IsMetadataStream("$$order-1"); !ok || of != "order-1" {
		t.Error("IsMetadataStream")
	}
	if _, ok := eventstore.IsMetadataStream("$x"); ok {
		t.Error("$x is not a metadata stream")
	}
	if !eventstore.IsSystemStream("$all") || eventstore.IsSystemStream("all") || eventstore.IsSystemStream("") {
		t.Error("IsSystemStream")
	}
	r := eventstore.RecordedEvent{ContentType: eventstore.ContentTypeJSON}
	if !r.IsJSON() {
		t.Error("IsJSON")
	}
}

func TestFilters(t *testing.T) {
	cases := []struct {
		f            *eventstore.Filter
		stream, typ  string
		match, other bool // match (stream,typ); other = ("x-1","$y")
	}{
		{eventstore.StreamPrefixFilter("order-", "cart-"), "cart-1", "A", true, false},
		{eventstore.EventTypePrefixFilter("Order"), "x", "OrderPlaced", true, false},
		{eventstore.StreamRegexFilter(`^acc.*-\d+$`), "account-12", "A", true, false},
		{eventstore.EventTypeRegexFilter(`Placed`), "x", "OrderPlaced", true, false},
		{eventstore.ExcludeSystemEventsFilter(), "x", "Placed", true, false},
	}
	for i, c := range cases {
		m, err := c.f.Compile()
		if err != nil {
			t.Fatal(err)
		}
		if m.Match(c.stream, c.typ) != c.match || m.MatchEvent(&eventstore.RecordedEvent{Stream: "x-1", Type: "$y"}) != c.other {
			t.Errorf("case %d", i)
		}
	}
	var nilMatcher *eventstore.Matcher
	if !nilMatcher.Match("a", "b") {
		t.Error("nil matcher matches everything")
	}
	if (*eventstore.Filter)(nil).Interval() != eventstore.DefaultCheckpointInterval || (&eventstore.Filter{CheckpointInterval: 5}).Interval() != 5 {
		t.Error("Interval")
	}
	for _, f := range []*eventstore.Filter{
		{Prefixes: []string{"a"}, Regex: "b"},
		{},
		{Regex: "("},
		{Target: 9, Regex: "a"},
	} {
		if _, err := f.Compile(); !errors.Is(err, eventstore.ErrInvalidFilter) {
			t.Errorf("%+v: %v", f, err)
		}
	}
}

func TestStreamMetadataJSON(t *testing.T) {
	in := eventstore.StreamMetadata{
		MaxAge: 90 * time.Second, MaxCount: 10, TruncateBefore: 3, CacheControl: time.Minute,
		ACL:    json.RawMessage(`{"$r":"$all"}`),
		Custom: map[string]json.RawMessage{"owner": json.RawMessage(`"team-a"`)},
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"$acl":{"$r":"$all"},"$cacheControl":60,"$maxAge":90,"$maxCount":10,"$tb":3,"owner":"team-a"}`
	if string(b) != want {
		t.Fatalf("got %s", b)
	}
	var out eventstore.StreamMetadata
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.MaxAge != in.MaxAge || out.MaxCount != 10 || out.TruncateBefore != 3 || out.CacheControl != time.Minute || string(out.ACL) != string(in.ACL) || string(out.Custom["owner"]) != `"team-a"` {
		t.Fatalf("round trip: %+v", out)
	}
	if b, _ := json.Marshal(eventstore.StreamMetadata{}); string(b) != "{}" {
		t.Fatalf("empty: %s", b)
	}
	if err := out.UnmarshalJSON(nil); err != nil || out.MaxCount != 0 {
		t.Fatal("empty document")
	}
	if err := json.Unmarshal([]byte(`{"$tb":9223372036854775807,"$maxCount":1e2}`), &out); err != nil || !out.IsDeleted() || out.MaxCount != 100 {
		t.Fatalf("%v %+v", err, out)
	}
	for _, bad := range []string{`[1]`, `{"$maxAge":"x"}`, `{"$maxCount":-1}`, `{"$tb":1.5}`, `{"$maxAge":99999999999999999}`, `{"$cacheControl":-2}`} {
		if err := json.Unmarshal([]byte(bad), &out); !errors.Is(err, eventstore.ErrInvalidMetadata) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

func TestStreamMetadataVisibility(t *testing.T) {
	now := time.Now()
	m := eventstore.StreamMetadata{MaxCount: 3, TruncateBefore: 2}
	if got := m.FirstVisible(9); got != 7 {
		t.Errorf("FirstVisible = %d", got)
	}
	if got := m.FirstVisible(2); got != 2 {
		t.Errorf("FirstVisible = %d", got)
	}
	m = eventstore.StreamMetadata{MaxAge: time.Minute}
	if !m.Visible(0, 0, now.Add(-time.Second), now) || m.Visible(0, 0, now.Add(-2*time.Minute), now) {
		t.Error("MaxAge")
	}
	if (&eventstore.StreamMetadata{TruncateBefore: 5}).Visible(4, 9, now, now) {
		t.Error("$tb")
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		err  error
		is   error
		text string
	}{
		{&eventstore.WrongExpectedVersionError{Stream: "s", Expected: eventstore.NoStream, Actual: eventstore.Exact(1)}, eventstore.ErrWrongExpectedVersion, `eventstore: stream "s": wrong expected version: expected no_stream, actual 1`},
		{&eventstore.StreamDeletedError{Stream: "s"}, eventstore.ErrStreamDeleted, `eventstore: stream "s" is deleted`},
		{&eventstore.StreamNotFoundError{Stream: "s"}, eventstore.ErrStreamNotFound, `eventstore: stream "s" not found`},
		{eventstore.NewArgumentError("read", "", eventstore.ErrInvalidFilter, "x"), eventstore.ErrInvalidArgument, `eventstore: read: filter is not valid (x)`},
	}
	for _, c := range cases {
		if !errors.Is(c.err, c.is) || c.err.Error() != c.text {
			t.Errorf("%q", c.err)
		}
	}
}

var registerTestDriver sync.Once

func TestRegistry(t *testing.T) {
	ctx := context.Background()
	registerTestDriver.Do(func() { // drivers are global: once per test binary (-count)
		eventstore.Register("test-reg", eventstore.DriverFunc(func(_ context.Context, url string) (eventstore.Store, error) {
			return nil, errors.New("opened " + url)
		}))
	})
	if _, err := eventstore.Open(ctx, "TEST-REG://x"); err == nil || err.Error() != "opened TEST-REG://x" {
		t.Fatalf("Open: %v", err)
	}
	found := false
	for _, d := range eventstore.Drivers() {
		found = found || d == "test-reg"
	}
	if !found {
		t.Error("Drivers")
	}
	for _, url := range []string{"nope://x", "no-scheme", ":x"} {
		if _, err := eventstore.Open(ctx, url); !errors.Is(err, eventstore.ErrUnknownDriver) {
			t.Errorf("%q: %v", url, err)
		}
	}
	mustPanic := func(name string, f func()) {
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", name)
			}
		}()
		f()
	}
	mustPanic("nil", func() { eventstore.Register("x-nil", nil) })
	mustPanic("dup", func() { eventstore.Register("test-reg", eventstore.DriverFunc(nil)) })
}

func TestMessageKindString(t *testing.T) {
	for k, want := range map[eventstore.MessageKind]string{
		eventstore.MessageEvent: "event", eventstore.MessageCaughtUp: "caught-up", eventstore.MessageCheckpoint: "checkpoint",
		eventstore.MessageFellBehind: "fell-behind", 0: "unknown",
	} {
		if k.String() != want {
			t.Errorf("%d: %q", k, k.String())
		}
	}
}
