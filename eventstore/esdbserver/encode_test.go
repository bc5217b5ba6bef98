package esdbserver_test

import (
	"bytes"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/esdbserver"
)

// The event messages of reads and subscriptions are encoded by hand. These
// tests hold the hand encoder to proto's own encoding of the generated
// structs (esdbserver.ReadEvent, what the server sent before): the same
// bytes as deterministic marshalling, the same message after decoding, and
// the same failure where proto refuses to marshal.

// checkEncoding compares the two encodings of one event message.
func checkEncoding(t *testing.T, original, target *eventstore.RecordedEvent, isLink, uuidString bool) {
	t.Helper()
	ref := esdbserver.ReadEvent(original, target, isLink, uuidString)
	want, wantErr := proto.MarshalOptions{Deterministic: true}.Marshal(ref)
	msg := esdbserver.EncodeEvent(original, target, isLink, uuidString)
	// What gRPC's proto codec does with the message: Size, then Marshal.
	size := proto.Size(msg)
	got, gotErr := proto.Marshal(msg)
	if (gotErr != nil) != (wantErr != nil) {
		t.Fatalf("hand encoding error %v, proto error %v", gotErr, wantErr)
	}
	if wantErr != nil {
		return
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("hand encoding differs from proto's:\n got %x\nwant %x", got, want)
	}
	if size != len(want) {
		t.Fatalf("proto.Size of the hand-encoded message = %d, want %d", size, len(want))
	}
	var decoded streams.ReadResp
	if err := proto.Unmarshal(got, &decoded); err != nil {
		t.Fatalf("decode the hand encoding: %v", err)
	}
	if !proto.Equal(ref, &decoded) {
		t.Fatalf("decoded hand encoding differs (-proto +hand):\n%s", cmp.Diff(ref, &decoded, protocmp.Transform()))
	}
}

func sampleEvent() eventstore.RecordedEvent {
	return eventstore.RecordedEvent{
		ID: uuid.MustParse("f0e1d2c3-b4a5-9687-7869-5a4b3c2d1e0f"), Type: "OrderPlaced", ContentType: eventstore.ContentTypeJSON,
		Data: []byte(`{"orderId":"order-42"}`), Metadata: []byte(`{"$correlationId":"c"}`),
		Stream: "order-42", Revision: 7, Position: eventstore.Position{Commit: 1234, Prepare: 1234},
		Created: time.Date(2026, 12, 3, 12, 0, 0, 123456789, time.UTC),
	}
}

func TestEncodeEventMatchesProto(t *testing.T) {
	link := sampleEvent()
	link.Type, link.ContentType, link.Data, link.Metadata = "$>", eventstore.ContentTypeBinary, []byte("7@order-42"), nil
	link.Stream, link.Revision, link.Position = "$ce-order", 0, eventstore.Position{Commit: 99999999999, Prepare: 1}
	edits := map[string]func(e *eventstore.RecordedEvent){
		"sample":   func(*eventstore.RecordedEvent) {},
		"zero":     func(e *eventstore.RecordedEvent) { *e = eventstore.RecordedEvent{} },
		"binary":   func(e *eventstore.RecordedEvent) { e.ContentType = eventstore.ContentTypeBinary },
		"no data":  func(e *eventstore.RecordedEvent) { e.Data, e.Metadata = nil, []byte{} },
		"nil uuid": func(e *eventstore.RecordedEvent) { e.ID = uuid.Nil },
		"max uuid": func(e *eventstore.RecordedEvent) { e.ID = uuid.Max },
		"max numbers": func(e *eventstore.RecordedEvent) {
			e.Revision, e.Position = math.MaxUint64, eventstore.Position{Commit: math.MaxUint64, Prepare: math.MaxUint64}
		},
		"empty type":  func(e *eventstore.RecordedEvent) { e.Type = "" },
		"unicode":     func(e *eventstore.RecordedEvent) { e.Type, e.Stream = "Bestellung·aufgegeben ✓", "länge-€" },
		"bad utf8":    func(e *eventstore.RecordedEvent) { e.Type = "bad\xff" },
		"bad stream":  func(e *eventstore.RecordedEvent) { e.Stream = "bad\xff" },
		"before 1970": func(e *eventstore.RecordedEvent) { e.Created = time.Date(1601, 1, 1, 0, 0, 0, 1, time.UTC) },
		"zero time":   func(e *eventstore.RecordedEvent) { e.Created = time.Time{} },
		"large data":  func(e *eventstore.RecordedEvent) { e.Data = bytes.Repeat([]byte("x"), 70_000) },
		"long stream": func(e *eventstore.RecordedEvent) { e.Stream = string(bytes.Repeat([]byte("s"), 300)) },
	}
	for name, edit := range edits {
		for _, uuidString := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/uuidString=%v", name, uuidString), func(t *testing.T) {
				e := sampleEvent()
				edit(&e)
				checkEncoding(t, &e, nil, false, uuidString)
				l := link
				checkEncoding(t, &l, &e, true, uuidString)
				checkEncoding(t, &l, nil, true, uuidString)
				edit(&l)
				checkEncoding(t, &l, &e, true, uuidString)
			})
		}
	}
}

// TestEventWriterReuse encodes events of different sizes with one writer,
// as a read does: each message must be right when it is marshalled.
func TestEventWriterReuse(t *testing.T) {
	var w esdbserver.EventWriter
	for i, size := range []int{1000, 0, 5, 70000, 300 << 10, 3} {
		e := sampleEvent()
		e.Data, e.Revision = bytes.Repeat([]byte{'a' + byte(i)}, size), uint64(i)
		got, err := proto.Marshal(w.Event(&e, nil, false, i%2 == 1))
		if err != nil {
			t.Fatal(err)
		}
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(esdbserver.ReadEvent(&e, nil, false, i%2 == 1))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("event %d: reused writer's encoding differs from proto's", i)
		}
	}
}

// FuzzEncodeEvent compares the two encodings over arbitrary events, links
// and UUID forms.
func FuzzEncodeEvent(f *testing.F) {
	e := sampleEvent()
	f.Add(e.ID[:], e.Type, true, e.Stream, e.Revision, e.Position.Commit, e.Position.Prepare, e.Created.UnixNano(), e.Data, e.Metadata,
		"$>", "3@x", "$ce-x", uint64(9), uint64(77), uint8(0))
	f.Add([]byte{}, "", false, "", uint64(0), uint64(0), uint64(0), int64(0), []byte(nil), []byte{},
		"", "", "", uint64(0), uint64(0), uint8(7))
	f.Add(bytes.Repeat([]byte{0xff}, 16), "t\xff", true, "s\xfe", uint64(math.MaxUint64), uint64(math.MaxUint64), uint64(1), int64(math.MinInt64), []byte{0}, []byte{1},
		"l\xff", "\x00", "", uint64(math.MaxUint64), uint64(1<<63), uint8(3))
	f.Fuzz(func(t *testing.T, id []byte, typ string, isJSON bool, stream string, rev, commit, prepare uint64, created int64, data, meta []byte,
		linkType, linkData, linkStream string, linkRev, linkCommit uint64, mode uint8) {
		ev := eventstore.RecordedEvent{Type: typ, Stream: stream, Revision: rev, Data: data, Metadata: meta,
			Position: eventstore.Position{Commit: commit, Prepare: prepare}, Created: time.Unix(0, created).UTC()}
		copy(ev.ID[:], id)
		if isJSON {
			ev.ContentType = eventstore.ContentTypeJSON
		}
		isLink, hasTarget, uuidString := mode&1 != 0, mode&2 != 0, mode&4 != 0
		if !isLink {
			checkEncoding(t, &ev, nil, false, uuidString)
			return
		}
		link := eventstore.RecordedEvent{Type: linkType, Stream: linkStream, Revision: linkRev, Data: []byte(linkData),
			Position: eventstore.Position{Commit: linkCommit, Prepare: linkCommit ^ prepare}, Created: time.Unix(created/3, 0).UTC()}
		for i := range link.ID {
			link.ID[i] = ev.ID[15-i] ^ mode
		}
		var target *eventstore.RecordedEvent
		if hasTarget {
			target = &ev
		}
		checkEncoding(t, &link, target, true, uuidString)
	})
}
