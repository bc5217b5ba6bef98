package backend_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/backend"
)

func TestPrepareAppend(t *testing.T) {
	id := uuid.New()
	big := make([]byte, eventstore.MaxEventSize-2) // +2×len("T") = the limit exactly
	cases := []struct {
		name   string
		stream string
		evs    []eventstore.EventData
		cause  error
		index  int
	}{
		{"empty stream", "", []eventstore.EventData{{Type: "T"}}, eventstore.ErrEmptyStreamName, -1},
		{"reserved stream", "$x", []eventstore.EventData{{Type: "T"}}, eventstore.ErrReservedStreamName, -1},
		{"long stream", strings.Repeat("x", eventstore.MaxStreamNameLength+1), []eventstore.EventData{{Type: "T"}}, eventstore.ErrStreamNameTooLong, -1},
		{"bad utf8 stream", "a\xffb", []eventstore.EventData{{Type: "T"}}, eventstore.ErrInvalidStreamName, -1},
		{"empty type", "s", []eventstore.EventData{{Type: "T"}, {}}, eventstore.ErrEmptyEventType, 1},
		{"bad utf8 type", "s", []eventstore.EventData{{Type: "\xff"}}, eventstore.ErrInvalidEventTypeUTF, 0},
		{"content type", "s", []eventstore.EventData{{Type: "T", ContentType: "text/plain"}}, eventstore.ErrInvalidContentType, 0},
		{"invalid json", "s", []eventstore.EventData{{Type: "T", Data: []byte("{")}}, eventstore.ErrInvalidJSON, 0},
		{"duplicate ids", "s", []eventstore.EventData{{ID: id, Type: "T"}, {Type: "T"}, {ID: id, Type: "T"}}, eventstore.ErrDuplicateEventID, 2},
		{"too large", "s", []eventstore.EventData{{Type: "T", ContentType: eventstore.ContentTypeBinary, Data: append(big, 0)}}, eventstore.ErrEventTooLarge, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := backend.PrepareAppend(c.stream, c.evs)
			var ae *eventstore.ArgumentError
			if !errors.Is(err, eventstore.ErrInvalidArgument) || !errors.Is(err, c.cause) || !errors.As(err, &ae) {
				t.Fatalf("err = %v, want %v", err, c.cause)
			}
			if ae.Event != c.index || ae.Op != "append" || !strings.HasPrefix(err.Error(), "eventstore: append") {
				t.Fatalf("error %q has event %d", err, ae.Event)
			}
		})
	}
	t.Run("ok", func(t *testing.T) {
		in := []eventstore.EventData{{Type: "A"}, {ID: id, Type: "B", ContentType: eventstore.ContentTypeBinary, Data: []byte{0xff}}, {Type: "C", ContentType: eventstore.ContentTypeBinary, Data: big}}
		out, err := backend.PrepareAppend("s", in)
		if err != nil {
			t.Fatal(err)
		}
		if out[0].ID == uuid.Nil || out[0].ContentType != eventstore.ContentTypeJSON || out[1].ID != id || in[0].ID != uuid.Nil {
			t.Fatalf("prepared %+v from %+v", out[:2], in[:2])
		}
		if out, err := backend.PrepareAppend("s", nil); err != nil || out != nil {
			t.Fatal("empty append")
		}
	})
}

func TestValidateReadsAndSubscriptions(t *testing.T) {
	bad := []error{
		backend.ValidateRead("", eventstore.ReadOptions{}),
		backend.ValidateRead("$all", eventstore.ReadOptions{}),
		backend.ValidateRead("s", eventstore.ReadOptions{Direction: 7}),
		backend.ValidateRead("s", eventstore.ReadOptions{From: eventstore.FromPosition(eventstore.Position{})}),
		backend.ValidateSubscribe("", eventstore.SubscribeOptions{}),
		backend.ValidateSubscribe("$all", eventstore.SubscribeOptions{}),
		backend.ValidateSubscribe("s", eventstore.SubscribeOptions{From: eventstore.FromPosition(eventstore.Position{})}),
	}
	_, err := backend.ValidateReadAll(eventstore.ReadAllOptions{Direction: 9})
	bad = append(bad, err)
	_, err = backend.ValidateReadAll(eventstore.ReadAllOptions{From: eventstore.FromRevision(1)})
	bad = append(bad, err)
	_, err = backend.ValidateSubscribeAll(eventstore.SubscribeAllOptions{From: eventstore.FromRevision(1)})
	bad = append(bad, err)
	_, err = backend.ValidateSubscribeAll(eventstore.SubscribeAllOptions{Filter: &eventstore.Filter{}})
	bad = append(bad, err)
	for i, err := range bad {
		if !errors.Is(err, eventstore.ErrInvalidArgument) {
			t.Errorf("case %d: %v", i, err)
		}
	}
	if err := backend.ValidateRead("$$s", eventstore.ReadOptions{From: eventstore.FromRevision(1)}); err != nil {
		t.Error(err)
	}
	if m, err := backend.ValidateSubscribeAll(eventstore.SubscribeAllOptions{}); m != nil || err != nil {
		t.Error("no filter")
	}
}

func TestPrepareMetadata(t *testing.T) {
	ev, err := backend.PrepareMetadata("s", eventstore.StreamMetadata{MaxCount: 2})
	if err != nil || ev.Type != eventstore.MetadataEventType || string(ev.Data) != `{"$maxCount":2}` {
		t.Fatalf("%v %+v", err, ev)
	}
	for _, s := range []string{"", "$$s"} {
		if _, err := backend.PrepareMetadata(s, eventstore.StreamMetadata{}); !errors.Is(err, eventstore.ErrInvalidArgument) {
			t.Errorf("%q: %v", s, err)
		}
	}
	if _, err := backend.PrepareMetadata("s", eventstore.StreamMetadata{ACL: json.RawMessage("{")}); !errors.Is(err, eventstore.ErrInvalidMetadata) {
		t.Errorf("bad ACL: %v", err)
	}
}
