package eventstore_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chronicle-go/chronicle/eventstore"
)

func TestPersistentGroupNames(t *testing.T) {
	g := eventstore.PersistentGroupOf("order-1", "billing")
	if g.IsAll() || g.ID() != "order-1::billing" || g.String() != g.ID() {
		t.Fatalf("group %#v: IsAll %v, ID %q", g, g.IsAll(), g.ID())
	}
	if got := g.CheckpointStream(); got != "$persistentsubscription-order-1::billing-checkpoint" {
		t.Errorf("checkpoint stream %q", got)
	}
	if got := g.ParkedStream(); got != "$persistentsubscription-order-1::billing-parked" {
		t.Errorf("parked stream %q", got)
	}
	all := eventstore.PersistentGroupOf(eventstore.AllStream, "audit")
	if !all.IsAll() || all.ParkedStream() != "$persistentsubscription-$all::audit-parked" {
		t.Errorf("$all group %#v: IsAll %v, parked %q", all, all.IsAll(), all.ParkedStream())
	}
}

func TestPersistentGroupValidate(t *testing.T) {
	for _, c := range []struct {
		g    eventstore.PersistentGroup
		want error // nil: valid
	}{
		{eventstore.PersistentGroupOf("order-1", "billing"), nil},
		{eventstore.PersistentGroupOf(eventstore.AllStream, "audit"), nil},
		{eventstore.PersistentGroupOf("$ce-order", "g/with/slashes"), nil}, // system streams may have groups
		{eventstore.PersistentGroupOf("order-1", ""), eventstore.ErrEmptyGroupName},
		{eventstore.PersistentGroupOf("order-1", "bad\x00name"), eventstore.ErrInvalidGroupName},
		{eventstore.PersistentGroupOf("order-1", "\xff"), eventstore.ErrInvalidGroupName},
		{eventstore.PersistentGroupOf("", "billing"), eventstore.ErrEmptyStreamName},
		{eventstore.PersistentGroupOf("bad\nstream", "billing"), eventstore.ErrInvalidStreamName},
	} {
		err := c.g.Validate("create")
		switch {
		case c.want == nil && err != nil:
			t.Errorf("%v: %v, want valid", c.g, err)
		case c.want != nil && (!errors.Is(err, c.want) || !errors.Is(err, eventstore.ErrInvalidArgument)):
			t.Errorf("%v: %v, want %v (an invalid argument)", c.g, err, c.want)
		}
	}
}

func TestDefaultPersistentSettings(t *testing.T) {
	s := eventstore.DefaultPersistentSettings()
	if !s.From.IsStart() || s.MessageTimeout != 30*time.Second || s.MaxRetryCount != 10 ||
		s.LiveBufferSize != 500 || s.ReadBatchSize != 20 || s.HistoryBufferSize != 500 ||
		s.CheckpointAfter != 2*time.Second || s.MinCheckpointCount != 10 || s.MaxCheckpointCount != 1000 ||
		s.MaxSubscriberCount != 0 || s.ConsumerStrategy != eventstore.RoundRobin {
		t.Fatalf("defaults are not EventStoreDB's clients': %+v", s)
	}
	for _, g := range []eventstore.PersistentGroup{{Stream: "order-1", Group: "g"}, {Stream: eventstore.AllStream, Group: "g"}} {
		if err := s.Validate(g); err != nil {
			t.Errorf("defaults for %v: %v", g, err)
		}
	}
}

func TestPersistentSettingsValidate(t *testing.T) {
	stream := eventstore.PersistentGroupOf("order-1", "g")
	all := eventstore.PersistentGroupOf(eventstore.AllStream, "g")
	change := func(f func(*eventstore.PersistentSettings)) eventstore.PersistentSettings {
		s := eventstore.DefaultPersistentSettings()
		f(&s)
		return s
	}
	valid := []struct {
		g eventstore.PersistentGroup
		s eventstore.PersistentSettings
	}{
		{stream, change(func(s *eventstore.PersistentSettings) { s.From = eventstore.FromRevision(7) })},
		{stream, change(func(s *eventstore.PersistentSettings) { s.From = eventstore.End })},
		{all, change(func(s *eventstore.PersistentSettings) {
			s.From = eventstore.FromPosition(eventstore.Position{Commit: 3, Prepare: 3})
		})},
		{all, change(func(s *eventstore.PersistentSettings) { s.Filter = eventstore.StreamPrefixFilter("order-") })},
		{stream, change(func(s *eventstore.PersistentSettings) { s.MessageTimeout, s.CheckpointAfter = 0, 0 })},
		{stream, change(func(s *eventstore.PersistentSettings) { s.MinCheckpointCount, s.MaxCheckpointCount = 5, 5 })},
		{stream, change(func(s *eventstore.PersistentSettings) { s.ConsumerStrategy = eventstore.DispatchToSingle })},
		{stream, change(func(s *eventstore.PersistentSettings) { s.ConsumerStrategy = eventstore.Pinned })},
		{stream, change(func(s *eventstore.PersistentSettings) { s.ConsumerStrategy = eventstore.PinnedByCorrelation })},
	}
	for i, c := range valid {
		if err := c.s.Validate(c.g); err != nil {
			t.Errorf("valid case %d: %v", i, err)
		}
	}
	invalid := []struct {
		g     eventstore.PersistentGroup
		field string
		s     eventstore.PersistentSettings
	}{
		{stream, "from", change(func(s *eventstore.PersistentSettings) {
			s.From = eventstore.FromPosition(eventstore.Position{Commit: 1, Prepare: 1})
		})},
		{all, "from", change(func(s *eventstore.PersistentSettings) { s.From = eventstore.FromRevision(1) })},
		{stream, "filter", change(func(s *eventstore.PersistentSettings) { s.Filter = eventstore.StreamPrefixFilter("o") })},
		{all, "filter", change(func(s *eventstore.PersistentSettings) { s.Filter = eventstore.StreamRegexFilter("(") })},
		{stream, "message_timeout", change(func(s *eventstore.PersistentSettings) { s.MessageTimeout = -time.Second })},
		{stream, "checkpoint_after", change(func(s *eventstore.PersistentSettings) { s.CheckpointAfter = -time.Second })},
		{stream, "max_retry_count", change(func(s *eventstore.PersistentSettings) { s.MaxRetryCount = -1 })},
		{stream, "live_buffer_size", change(func(s *eventstore.PersistentSettings) { s.LiveBufferSize = 0 })},
		{stream, "read_batch_size", change(func(s *eventstore.PersistentSettings) { s.ReadBatchSize = 0 })},
		{stream, "history_buffer_size", change(func(s *eventstore.PersistentSettings) { s.HistoryBufferSize = 0 })},
		{stream, "min_checkpoint_count", change(func(s *eventstore.PersistentSettings) { s.MinCheckpointCount = -1 })},
		{stream, "max_checkpoint_count", change(func(s *eventstore.PersistentSettings) { s.MaxCheckpointCount = 0 })},
		{stream, "min_checkpoint_count", change(func(s *eventstore.PersistentSettings) { s.MinCheckpointCount = 11; s.MaxCheckpointCount = 10 })},
		{stream, "max_subscriber_count", change(func(s *eventstore.PersistentSettings) { s.MaxSubscriberCount = -1 })},
		{stream, "consumer_strategy", change(func(s *eventstore.PersistentSettings) { s.ConsumerStrategy = "Random" })},
		{stream, "live_buffer_size", eventstore.PersistentSettings{ConsumerStrategy: eventstore.RoundRobin, MaxCheckpointCount: 1}},
	}
	for _, c := range invalid {
		err := c.s.Validate(c.g)
		if !errors.Is(err, eventstore.ErrInvalidArgument) {
			t.Errorf("%s: %v, want an invalid argument", c.field, err)
			continue
		}
		if !(c.field == "filter" && c.g.IsAll()) { // a bad regex is the filter's own error
			if !errors.Is(err, eventstore.ErrInvalidPersistentSettings) || !strings.Contains(err.Error(), c.field) {
				t.Errorf("%s: %v, want ErrInvalidPersistentSettings naming the field", c.field, err)
			}
		}
	}
}

func TestNackActionString(t *testing.T) {
	for a, want := range map[eventstore.NackAction]string{
		eventstore.NackUnknown: "unknown", eventstore.NackPark: "park", eventstore.NackRetry: "retry",
		eventstore.NackSkip: "skip", eventstore.NackStop: "stop", eventstore.NackAction(99): "unknown",
	} {
		if got := a.String(); got != want {
			t.Errorf("%d: %q, want %q", a, got, want)
		}
	}
}

func TestPersistentEventID(t *testing.T) {
	target := eventstore.RecordedEvent{ID: uuid.New(), Type: "OrderPlaced", Stream: "order-1"}
	if ev := (eventstore.PersistentEvent{Event: target}); ev.ID() != target.ID {
		t.Errorf("an event reached directly is acked by its own ID")
	}
	link := eventstore.RecordedEvent{ID: uuid.New(), Type: eventstore.LinkEventType, Stream: "$ce-order", Data: eventstore.LinkData("order-1", 0)}
	resolved := target
	resolved.Link = &link
	ev := eventstore.PersistentEvent{Event: resolved, RetryCount: 2}
	if ev.ID() != link.ID || resolved.Original() != &link || !link.IsLink() || target.IsLink() {
		t.Errorf("a resolved event is acked by its link's ID: ID %v, link %v", ev.ID(), link.ID)
	}
}

func TestLinks(t *testing.T) {
	if got := string(eventstore.LinkData("order-1", 42)); got != "42@order-1" {
		t.Errorf("LinkData: %q", got)
	}
	if eventstore.CategoryStream("order") != "$ce-order" || eventstore.EventTypeStream("OrderPlaced") != "$et-OrderPlaced" {
		t.Errorf("system stream names: %q %q", eventstore.CategoryStream("order"), eventstore.EventTypeStream("OrderPlaced"))
	}
	for _, c := range []struct {
		data   string
		stream string
		rev    uint64
		ok     bool
	}{
		{"0@order-1", "order-1", 0, true},
		{"42@a@b", "a@b", 42, true}, // the stream is everything after the first '@'
		{fmt.Sprintf("%d@s", eventstore.MaxRevision), "s", eventstore.MaxRevision, true},
		{fmt.Sprintf("%d@s", uint64(eventstore.MaxRevision)+1), "", 0, false},
		{"@order-1", "", 0, false},
		{"1@", "", 0, false},
		{"x@order-1", "", 0, false},
		{"-1@order-1", "", 0, false},
		{"order-1", "", 0, false},
		{"", "", 0, false},
	} {
		stream, rev, ok := eventstore.ParseLink([]byte(c.data))
		if stream != c.stream || rev != c.rev || ok != c.ok {
			t.Errorf("ParseLink(%q) = %q, %d, %v; want %q, %d, %v", c.data, stream, rev, ok, c.stream, c.rev, c.ok)
		}
	}
	for _, c := range []struct {
		stream string
		want   bool
	}{{"order-1", true}, {"order-", true}, {"order", false}, {"-1", false}, {"$ce-order", false}, {"", false}} {
		if got := eventstore.HasCategory(c.stream); got != c.want {
			t.Errorf("HasCategory(%q) = %v", c.stream, got)
		}
	}
	for _, c := range []struct {
		stream, typ string
		want        bool
	}{{"order-1", "OrderPlaced", true}, {"order", "OrderPlaced", true}, {"order-1", "$>", false},
		{"$$order-1", "$metadata", false}, {"$users", "User", false}, {"order-1", "", false}} {
		if got := eventstore.IsLinked(c.stream, c.typ); got != c.want {
			t.Errorf("IsLinked(%q, %q) = %v", c.stream, c.typ, got)
		}
	}
}

func FuzzParseLink(f *testing.F) {
	for _, s := range []string{"0@a", "12@order-1", "@", "1@", "x@y", "18446744073709551615@s"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		stream, rev, ok := eventstore.ParseLink(data)
		if !ok {
			return
		}
		if stream == "" || rev > eventstore.MaxRevision {
			t.Fatalf("ParseLink(%q) accepted %q, %d", data, stream, rev)
		}
		// What LinkData writes, ParseLink reads back; a parsed link is
		// written the same way unless its number had leading zeros or a '+'.
		s2, r2, ok2 := eventstore.ParseLink(eventstore.LinkData(stream, rev))
		if !ok2 || s2 != stream || r2 != rev {
			t.Fatalf("round trip of %q, %d: %q, %d, %v", stream, rev, s2, r2, ok2)
		}
	})
}

func ExamplePersistentSettings_Validate() {
	settings := eventstore.DefaultPersistentSettings()
	settings.MinCheckpointCount = 2000 // above MaxCheckpointCount
	err := settings.Validate(eventstore.PersistentGroupOf("order-1", "billing"))
	fmt.Println(errors.Is(err, eventstore.ErrInvalidArgument))
	fmt.Println(err)
	// Output:
	// true
	// eventstore: persistent subscription settings "order-1": persistent subscription settings are not valid (min_checkpoint_count: 2000 is above max_checkpoint_count 1000)
}

func ExampleParseLink() {
	stream, rev, ok := eventstore.ParseLink(eventstore.LinkData("order-1", 3))
	fmt.Println(stream, rev, ok)
	// Output: order-1 3 true
}

func TestParsePosition(t *testing.T) {
	p, err := eventstore.ParsePosition("C:12/P:11")
	if err != nil || p != (eventstore.Position{Commit: 12, Prepare: 11}) {
		t.Fatalf("ParsePosition: %v, %v", p, err)
	}
	for _, bad := range []string{"", "C:1", "C:x/P:1", "12", "P:1/C:1", "C:1/P:", "C:-1/P:1", "C:1/P:18446744073709551616"} {
		if _, err := eventstore.ParsePosition(bad); err == nil {
			t.Fatalf("ParsePosition(%q) succeeded", bad)
		}
	}
}

// FuzzParsePosition: what ParsePosition accepts, String writes back the
// same way unless the numbers had leading zeros or a '+'; whatever String
// writes, ParsePosition reads.
func FuzzParsePosition(f *testing.F) {
	f.Add("C:12/P:11", uint64(3), uint64(4))
	f.Add("C:0/P:0", uint64(0), uint64(1<<63))
	f.Fuzz(func(t *testing.T, s string, c, p uint64) {
		want := eventstore.Position{Commit: c, Prepare: p}
		if got, err := eventstore.ParsePosition(want.String()); err != nil || got != want {
			t.Fatalf("round trip of %v: %v, %v", want, got, err)
		}
		pos, err := eventstore.ParsePosition(s)
		if err != nil {
			return
		}
		if again, err := eventstore.ParsePosition(pos.String()); err != nil || again != pos {
			t.Fatalf("%q read as %v, which reads back as %v, %v", s, pos, again, err)
		}
	})
}
