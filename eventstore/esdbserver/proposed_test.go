package esdbserver_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/esdbserver"
)

// The proposed events of an append are decoded by hand (proposed.go).
// These tests hold the decoder to what the server did before, for any bytes
// a client may send as a message: gRPC unmarshalled them into
// streams.AppendReq (failing with Internal) and decodeProposed converted
// the struct. The server now receives them as the unknown fields of an
// emptypb.Empty, so the input the decoder sees is what that unmarshalling
// keeps; where it fails, gRPC answers Internal before the server sees the
// message, and the old unmarshalling must fail too.

// checkProposed compares the hand decoder with the old path on one message
// and reports whether the hand decoder took it without falling back.
func checkProposed(t *testing.T, r *esdbserver.ProposedReader, raw []byte) (plain bool) {
	t.Helper()
	var req streams.AppendReq
	reqErr := proto.Unmarshal(raw, &req)
	var empty emptypb.Empty
	if err := proto.Unmarshal(raw, &empty); err != nil {
		if reqErr == nil {
			t.Fatalf("%x: an empty message refuses what AppendReq takes: %v", raw, err)
		}
		return false
	}
	// What the server decodes: raw's fields as proto keeps them (it
	// rewrites non-minimal tags minimally).
	got := empty.ProtoReflect().GetUnknown()

	var (
		want    eventstore.EventData
		wantErr error
	)
	if reqErr != nil {
		wantErr = status.Errorf(codes.Internal, "grpc: failed to unmarshal the received message: %v", reqErr)
	} else {
		want, wantErr = esdbserver.DecodeProposed(&req)
	}
	ev, err := r.Decode(got)
	switch {
	case (err != nil) != (wantErr != nil):
		t.Fatalf("%x: hand decoder error %v, want %v", raw, err, wantErr)
	case err != nil:
		if err.Error() != wantErr.Error() || status.Code(err) != status.Code(wantErr) {
			t.Fatalf("%x: hand decoder error %v, want %v", raw, err, wantErr)
		}
		if d := cmp.Diff(esdbserver.Trailers(wantErr), esdbserver.Trailers(err)); d != "" {
			t.Fatalf("%x: trailers differ (-want +got):\n%s", raw, d)
		}
	default:
		if d := cmp.Diff(want, ev); d != "" {
			t.Fatalf("%x: event differs (-want +got):\n%s", raw, d)
		}
	}
	_, plain = r.DecodePlain(got)
	if plain && err != nil {
		t.Fatalf("%x: the plain decoder took a message the old path refuses: %v", raw, wantErr)
	}
	return plain
}

// wire builds raw protocol bytes field by field.
type wire []byte

func (w wire) bytes(num protowire.Number, v []byte) wire {
	return protowire.AppendBytes(protowire.AppendTag(w, num, protowire.BytesType), v)
}

func (w wire) varint(num protowire.Number, v uint64) wire {
	return protowire.AppendVarint(protowire.AppendTag(w, num, protowire.VarintType), v)
}

func (w wire) fixed32(num protowire.Number, v uint32) wire {
	return protowire.AppendFixed32(protowire.AppendTag(w, num, protowire.Fixed32Type), v)
}

func entry(key, value string) wire { return wire(nil).bytes(1, []byte(key)).bytes(2, []byte(value)) }

// structuredWire is a ProposedMessage's id field holding id structured.
func structuredWire(id uuid.UUID) wire {
	s := wire(nil).varint(1, uint64(structuredID(id).GetStructured().GetMostSignificantBits())).
		varint(2, uint64(structuredID(id).GetStructured().GetLeastSignificantBits()))
	return wire(nil).bytes(1, wire(nil).bytes(1, s))
}

// appendReqWire wraps a ProposedMessage's fields in an AppendReq.
func appendReqWire(pm wire) []byte { return wire(nil).bytes(2, pm) }

// proposedSamples are messages the official clients send, and variations
// of them that the hand decoder must take.
func proposedSamples(t testing.TB) [][]byte {
	id := uuid.MustParse("f0e1d2c3-b4a5-9687-7869-5a4b3c2d1e0f")
	msg := func(pm *streams.AppendReq_ProposedMessage) []byte {
		return mustMarshal(t, &streams.AppendReq{Content: &streams.AppendReq_ProposedMessage_{ProposedMessage: pm}})
	}
	data := []byte(`{"orderId":"order-42"}`)
	samples := [][]byte{
		msg(&streams.AppendReq_ProposedMessage{Id: structuredID(id), Metadata: jsonMeta("OrderPlaced"), Data: data, CustomMetadata: []byte(`{"$correlationId":"c"}`)}),
		msg(&streams.AppendReq_ProposedMessage{Id: structuredID(id), Metadata: map[string]string{"type": "B", "content-type": "application/octet-stream"}, Data: []byte{0, 1, 2}}),
		msg(&streams.AppendReq_ProposedMessage{Id: structuredID(uuid.Nil), Metadata: jsonMeta("E")}),
		msg(&streams.AppendReq_ProposedMessage{Id: &shared.UUID{Value: &shared.UUID_String_{String_: id.String()}}, Metadata: jsonMeta("E"), Data: data}),
		msg(&streams.AppendReq_ProposedMessage{Id: &shared.UUID{Value: &shared.UUID_String_{String_: "{" + id.String() + "}"}}, Metadata: jsonMeta("E")}),
		msg(&streams.AppendReq_ProposedMessage{Id: &shared.UUID{Value: &shared.UUID_String_{String_: strings.ReplaceAll(id.String(), "-", "")}}, Metadata: jsonMeta("E")}),
		msg(&streams.AppendReq_ProposedMessage{Id: structuredID(id), Metadata: map[string]string{"type": "E", "content-type": "text/plain", "extra": "x"}, Data: []byte("text")}),
		msg(&streams.AppendReq_ProposedMessage{Id: structuredID(id), Metadata: map[string]string{"type": "ünï", "content-type": "application/json"}, Data: []byte("{}")}),
		msg(&streams.AppendReq_ProposedMessage{Id: structuredID(id), Metadata: jsonMeta("$metadata"), Data: []byte(`{"$maxCount":3}`)}),
		// Hand-built: fields out of order, a structured id without one half,
		// an empty structured id, a later entry replacing an earlier one.
		appendReqWire(wire(nil).bytes(4, data).bytes(2, entry("content-type", "application/json")).bytes(2, entry("type", "E")).
			bytes(1, wire(nil).bytes(1, wire(nil).varint(2, 7)))),
		appendReqWire(wire(nil).bytes(1, wire(nil).bytes(1, nil)).bytes(2, entry("type", "E")).bytes(2, entry("content-type", "x"))),
		appendReqWire(structuredWire(id).bytes(2, entry("type", "A")).bytes(2, entry("content-type", "x")).bytes(2, entry("type", "B"))),
		appendReqWire(structuredWire(id).bytes(2, entry("type", "E")).bytes(2, entry("content-type", "application/json")).bytes(3, nil).bytes(4, nil)),
	}
	return samples
}

// refusedSamples are messages the old path refuses or decodes oddly: the
// hand decoder must give the same answer (by falling back).
func refusedSamples(t testing.TB) [][]byte {
	id := uuid.New()
	meta := wire(nil).bytes(2, entry("type", "E")).bytes(2, entry("content-type", "application/json"))
	pm := append(structuredWire(id), meta...)
	return [][]byte{
		nil,
		mustMarshal(t, appendOptions("order-1", nil)),
		mustMarshal(t, proposed(nil, jsonMeta("E"), nil)),
		mustMarshal(t, proposed(structuredID(id), map[string]string{"type": "E"}, nil)),
		mustMarshal(t, proposed(structuredID(id), jsonMeta(""), nil)),
		mustMarshal(t, proposed(&shared.UUID{Value: &shared.UUID_String_{String_: "not-a-uuid"}}, jsonMeta("E"), nil)),
		mustMarshal(t, proposed(&shared.UUID{}, jsonMeta("E"), nil)),
		appendReqWire(nil),
		// Invalid UTF-8 in a metadata key, a value, a string id.
		appendReqWire(append(structuredWire(id).bytes(2, entry("type\xff", "E")), meta...)),
		appendReqWire(structuredWire(id).bytes(2, entry("type", "E\xff")).bytes(2, entry("content-type", "x"))),
		appendReqWire(append(wire(nil).bytes(1, wire(nil).bytes(2, []byte(id.String()[:35]+"\xff"))), meta...)),
		// Repeated fields: the proposed message, its id, data, an entry's key.
		append(appendReqWire(pm), appendReqWire(wire(nil).bytes(4, []byte("x")))...),
		appendReqWire(append(pm, structuredWire(uuid.New())...)),
		appendReqWire(wire(pm).bytes(4, []byte("a")).bytes(4, []byte("b"))),
		appendReqWire(wire(pm).bytes(3, []byte("a")).bytes(3, nil)),
		appendReqWire(append(structuredWire(id).bytes(2, wire(nil).bytes(1, []byte("type")).bytes(1, []byte("x")).bytes(2, []byte("E"))), meta[len(entry("type", "E"))+2:]...)),
		appendReqWire(append(wire(nil).bytes(1, wire(nil).bytes(1, wire(nil).varint(1, 1).varint(1, 2))), meta...)),
		appendReqWire(append(wire(nil).bytes(1, wire(nil).bytes(1, nil).bytes(2, []byte(id.String()))), meta...)),
		// Both a proposed message and options (the last one wins).
		append(appendReqWire(pm), mustMarshal(t, appendOptions("x", nil))...),
		append(mustMarshal(t, appendOptions("x", nil)), appendReqWire(pm)...),
		// Unknown fields at each level.
		append(appendReqWire(pm), wire(nil).varint(9, 1)...),
		appendReqWire(wire(pm).varint(9, 1)),
		appendReqWire(wire(pm).bytes(9, []byte("x"))),
		appendReqWire(append(wire(nil).bytes(1, wire(structuredWire(id)[2:]).fixed32(5, 1)), meta...)),
		appendReqWire(append(structuredWire(id).bytes(2, wire(entry("type", "E")).varint(3, 1)), meta[len(entry("type", "E"))+2:]...)),
		// Wrong wire types for known fields.
		wire(nil).varint(2, 1),
		appendReqWire(wire(pm).varint(4, 1)),
		appendReqWire(append(wire(nil).varint(1, 1), meta...)),
		appendReqWire(append(wire(nil).bytes(1, wire(nil).bytes(1, wire(nil).fixed32(1, 1))), meta...)),
		appendReqWire(append(wire(nil).bytes(1, wire(nil).bytes(1, wire(nil).bytes(1, []byte("x")))), meta...)),
		appendReqWire(append(structuredWire(id).bytes(2, wire(nil).varint(1, 1)), meta...)),
		// Malformed varints: an overlong one, a truncated one, a length past the end.
		appendReqWire(append(wire(nil).bytes(1, wire(nil).bytes(1, append(protowire.AppendTag(nil, 1, protowire.VarintType),
			0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f))), meta...)),
		appendReqWire(append(wire(nil).bytes(1, wire(nil).bytes(1, append(protowire.AppendTag(nil, 1, protowire.VarintType), 0x80))), meta...)),
		appendReqWire(append(wire(nil).bytes(1, []byte{0x0a, 0x20, 0x08}), meta...)),
		{0x12, 0x80},
		{0x12, 0x05, 0x0a},
		// Non-minimal varints (proto takes them) and a field number 0.
		appendReqWire(append(wire(nil).bytes(1, wire(nil).bytes(1, append(protowire.AppendTag(nil, 1, protowire.VarintType), 0x81, 0x80, 0x80, 0x00))), meta...)),
		append([]byte{0x92, 0x80, 0x00}, protowire.AppendVarint(nil, uint64(len(pm)))...),
		appendReqWire(append(wire(pm), 0x02, 0x00)),
	}
}

func TestProposedDecoderTakesClientMessages(t *testing.T) {
	var r esdbserver.ProposedReader
	for i, raw := range proposedSamples(t) {
		if !checkProposed(t, &r, raw) {
			t.Errorf("sample %d (%x) fell back to proto", i, raw)
		}
	}
	// Events of every shape the v4 client builds, from random values.
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range 500 {
		meta := map[string]string{"type": fmt.Sprintf("T%d", rnd.IntN(5)), "content-type": []string{"application/json", "application/octet-stream"}[rnd.IntN(2)]}
		pm := &streams.AppendReq_ProposedMessage{Id: structuredID(uuid.New()), Metadata: meta}
		if rnd.IntN(2) == 0 {
			pm.Id = &shared.UUID{Value: &shared.UUID_String_{String_: uuid.NewString()}}
		}
		if n := rnd.IntN(300); n > 0 {
			pm.Data = make([]byte, n)
			for j := range pm.Data {
				pm.Data[j] = byte(rnd.IntN(256))
			}
		}
		if rnd.IntN(2) == 0 {
			pm.CustomMetadata = []byte(fmt.Sprintf(`{"n":%d}`, i))
		}
		raw := mustMarshal(t, &streams.AppendReq{Content: &streams.AppendReq_ProposedMessage_{ProposedMessage: pm}})
		if !checkProposed(t, &r, raw) {
			t.Fatalf("client message %x fell back to proto", raw)
		}
	}
}

func TestProposedDecoderRefusesAsProto(t *testing.T) {
	var r esdbserver.ProposedReader
	for _, raw := range refusedSamples(t) {
		checkProposed(t, &r, raw)
	}
}

// TestProposedDecoderMutations runs every truncation and single-byte change
// of the samples through both paths.
func TestProposedDecoderMutations(t *testing.T) {
	var r esdbserver.ProposedReader
	for _, raw := range append(proposedSamples(t), refusedSamples(t)...) {
		for i := range len(raw) {
			checkProposed(t, &r, raw[:i])
			for _, b := range []byte{0x00, 0x01, 0x02, 0x07, 0x08, 0x0a, 0x12, 0x1a, 0x22, 0x7f, 0x80, 0xff, raw[i] ^ 0x01, raw[i] + 1, raw[i] - 1} {
				m := append([]byte(nil), raw...)
				m[i] = b
				checkProposed(t, &r, m)
			}
		}
	}
}

// TestProposedDecoderDataIsItsOwn: an event's data and metadata share the
// message's buffer but cannot overwrite each other.
func TestProposedDecoderDataIsItsOwn(t *testing.T) {
	var r esdbserver.ProposedReader
	raw := proposedSamples(t)[0]
	ev, err := r.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	before := string(ev.Metadata)
	ev.Data = append(ev.Data, "overwrite"...)
	if string(ev.Metadata) != before {
		t.Fatalf("appending to the data changed the metadata: %q", ev.Metadata)
	}
}

func FuzzRecvProposed(f *testing.F) {
	for _, raw := range append(proposedSamples(f), refusedSamples(f)...) {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var r esdbserver.ProposedReader
		checkProposed(t, &r, raw)
		// The same reader again: its remembered type must not leak.
		checkProposed(t, &r, proposedSamples(t)[1])
		checkProposed(t, &r, raw)
	})
}

// TestAppendUndecodableEvent: an event message that does not unmarshal
// fails the append with Internal, as gRPC answered it before, and writes
// nothing.
func TestAppendUndecodableEvent(t *testing.T) {
	ctx := testContext(t)
	store, srv := newMemoryServer(t)
	raw := rawStreams(t, srv)
	bad := &streams.AppendReq{}
	id := uuid.New()
	bad.ProtoReflect().SetUnknown(appendReqWire(structuredWire(id).bytes(2, entry("type", "E\xff")).bytes(2, entry("content-type", "x"))))
	ok := proposed(structuredID(uuid.New()), jsonMeta("E"), []byte("{}"))
	_, st, _ := appendRaw(ctx, t, raw, appendOptions("undecodable-1", nil), ok, bad, ok)
	if st.Code() != codes.Internal || !strings.Contains(st.Message(), "failed to unmarshal the received message") {
		t.Fatalf("append = %v, want Internal (failed to unmarshal)", st)
	}
	assertServing(ctx, t, raw)
	for _, err := range store.ReadStream(ctx, "undecodable-1", eventstore.ReadOptions{}) {
		if !errors.Is(err, eventstore.ErrStreamNotFound) {
			t.Fatalf("read after the refused append: %v", err)
		}
		break
	}
}
