package esdbserver_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/chronicle-go/chronicle/eventstore"
)

func TestAppendThenRead(t *testing.T) {
	ctx := testContext(t)
	store, srv := newMemoryServer(t)
	c := newClient(t, srv.ConnectionString())

	before := time.Now()
	e1, e2 := jsonEvent("Added", `{"n":1}`), esdb.EventData{EventID: uuid.New(), EventType: "Blob", ContentType: esdb.ContentTypeBinary, Data: []byte{0, 1, 2}, Metadata: []byte(`{"$correlationId":"c"}`)}
	res, err := c.AppendToStream(ctx, "order-1", esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, e1, e2)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	if res.NextExpectedVersion != 1 || res.CommitPosition == 0 || res.PreparePosition != res.CommitPosition {
		t.Fatalf("append result = %+v, want revision 1 and a position", res)
	}

	rs, err := c.ReadStream(ctx, "order-1", esdb.ReadStreamOptions{From: esdb.Start{}}, 10)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAllEvents(t, rs)
	if err != nil || len(got) != 2 {
		t.Fatalf("read = %d events, %v; want 2", len(got), err)
	}
	for i, want := range []esdb.EventData{e1, e2} {
		e := got[i].Event
		if e.EventID != want.EventID || e.EventType != want.EventType || string(e.Data) != string(want.Data) ||
			string(e.UserMetadata) != string(want.Metadata) || e.EventNumber != uint64(i) || e.StreamID != "order-1" {
			t.Errorf("event %d = %+v, want %+v", i, e, want)
		}
		if got[i].Link != nil || got[i].Commit == nil || *got[i].Commit != e.Position.Commit {
			t.Errorf("event %d: link %v commit %v", i, got[i].Link, got[i].Commit)
		}
		if e.CreatedDate.Before(before.Add(-time.Second)) || e.CreatedDate.After(time.Now().Add(time.Second)) {
			t.Errorf("event %d created %v, want about now", i, e.CreatedDate)
		}
	}
	if got[0].Event.ContentType != "application/json" || got[1].Event.ContentType != "application/octet-stream" {
		t.Errorf("content types %q, %q", got[0].Event.ContentType, got[1].Event.ContentType)
	}
	if got[1].Event.Position.Commit != res.CommitPosition {
		t.Errorf("last position %v, append said %d", got[1].Event.Position, res.CommitPosition)
	}

	// The store holds exactly what the client sent.
	var stored []eventstore.RecordedEvent
	for e, err := range store.ReadStream(ctx, "order-1", eventstore.ReadOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, e)
	}
	if len(stored) != 2 || stored[0].ID != e1.EventID || stored[1].ContentType != eventstore.ContentTypeBinary {
		t.Fatalf("stored %+v", stored)
	}
	if ticks := got[0].Event.CreatedDate.UnixNano() / 100; ticks != stored[0].Created.UnixNano()/100 {
		t.Errorf("created ticks %d, stored %d", ticks, stored[0].Created.UnixNano()/100)
	}
}

func TestAppendExpectedRevisions(t *testing.T) {
	ctx := testContext(t)
	_, srv := newMemoryServer(t)
	c := newClient(t, srv.ConnectionString())
	app := func(stream string, exp esdb.ExpectedRevision, evs ...esdb.EventData) (*esdb.WriteResult, error) {
		return c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: exp}, evs...)
	}
	if _, err := app("s-1", esdb.StreamExists{}, jsonEvent("E", "{}")); errorCode(err) != esdb.ErrorCodeWrongExpectedVersion ||
		!strings.Contains(err.Error(), "expecting 'stream_exists' but got 'no_stream'") {
		t.Fatalf("stream_exists on a new stream: %v", err)
	}
	if _, err := app("s-1", esdb.StreamRevision{Value: 3}, jsonEvent("E", "{}")); !strings.Contains(err.Error(), "expecting '3' but got 'no_stream'") {
		t.Fatalf("revision on a new stream: %v", err)
	}
	if _, err := app("s-1", esdb.Any{}, jsonEvent("E", "{}"), jsonEvent("E", "{}")); err != nil {
		t.Fatal(err)
	}
	if _, err := app("s-1", esdb.NoStream{}, jsonEvent("E", "{}")); !strings.Contains(err.Error(), "expecting 'no_stream' but got '1'") {
		t.Fatalf("no_stream on an existing stream: %v", err)
	}
	if _, err := app("s-1", esdb.StreamRevision{Value: 0}, jsonEvent("E", "{}")); !strings.Contains(err.Error(), "expecting '0' but got '1'") {
		t.Fatalf("stale revision: %v", err)
	}
	if _, err := app("s-1", esdb.Any{}, jsonEvent("E", "{}")); err != nil {
		t.Fatal(err)
	}
	res, err := app("s-1", esdb.StreamRevision{Value: 2}, jsonEvent("E", "{}"))
	if err != nil || res.NextExpectedVersion != 3 {
		t.Fatalf("exact revision: %+v, %v", res, err)
	}

	// Idempotency: the same ids at the same place succeed without writing.
	ev := jsonEvent("Once", "{}")
	first, err := app("s-2", esdb.NoStream{}, ev)
	if err != nil {
		t.Fatal(err)
	}
	again, err := app("s-2", esdb.NoStream{}, ev)
	if err != nil || again.CommitPosition != first.CommitPosition || again.NextExpectedVersion != 0 {
		t.Fatalf("idempotent re-append = %+v, %v; want %+v", again, err, first)
	}

	// An empty append only checks the expected revision.
	if _, err := app("s-3", esdb.NoStream{}); err != nil {
		t.Fatalf("empty append on a new stream: %v", err)
	}
	if _, err := app("s-1", esdb.StreamRevision{Value: 3}); err != nil {
		t.Fatalf("empty append with the right revision: %v", err)
	}
	if _, err := app("s-1", esdb.StreamRevision{Value: 1}); errorCode(err) != esdb.ErrorCodeWrongExpectedVersion {
		t.Fatalf("empty append with a stale revision: %v", err)
	}
}

func TestAppendToDeletedStreams(t *testing.T) {
	ctx := testContext(t)
	_, srv := newMemoryServer(t)
	c := newClient(t, srv.ConnectionString())
	for _, s := range []string{"soft-1", "hard-1"} {
		if _, err := c.AppendToStream(ctx, s, esdb.AppendToStreamOptions{}, jsonEvent("E", "{}")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.DeleteStream(ctx, "soft-1", esdb.DeleteStreamOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.TombstoneStream(ctx, "hard-1", esdb.TombstoneStreamOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := c.AppendToStream(ctx, "soft-1", esdb.AppendToStreamOptions{ExpectedRevision: esdb.StreamExists{}}, jsonEvent("E", "{}"))
	if errorCode(err) != esdb.ErrorCodeStreamDeleted || !strings.Contains(err.Error(), "stream 'soft-1' is deleted") {
		t.Fatalf("stream_exists on a soft-deleted stream: %v", err)
	}
	_, err = c.AppendToStream(ctx, "hard-1", esdb.AppendToStreamOptions{}, jsonEvent("E", "{}"))
	if errorCode(err) != esdb.ErrorCodeStreamDeleted || !strings.Contains(err.Error(), "stream 'hard-1' is deleted") {
		t.Fatalf("append to a tombstoned stream: %v", err)
	}
	// A soft-deleted stream comes back and continues its revisions.
	res, err := c.AppendToStream(ctx, "soft-1", esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, jsonEvent("E", "{}"))
	if err != nil || res.NextExpectedVersion != 1 {
		t.Fatalf("undelete: %+v, %v", res, err)
	}
	rs, err := c.ReadStream(ctx, "soft-1", esdb.ReadStreamOptions{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAllEvents(t, rs)
	if err != nil || len(got) != 1 || got[0].Event.EventNumber != 1 {
		t.Fatalf("read after undelete: %v, %v", got, err)
	}
}

func TestStreamMetadata(t *testing.T) {
	ctx := testContext(t)
	store, srv := newMemoryServer(t)
	c := newClient(t, srv.ConnectionString())

	if _, err := c.GetStreamMetadata(ctx, "meta-1", esdb.ReadStreamOptions{}); errorCode(err) != esdb.ErrorCodeResourceNotFound {
		t.Fatalf("metadata of a stream without any: %v", err)
	}
	var meta esdb.StreamMetadata
	meta.SetMaxCount(2)
	meta.AddCustomProperty("owner", "team-a")
	res, err := c.SetStreamMetadata(ctx, "meta-1", esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, meta)
	if err != nil || res.NextExpectedVersion != 0 {
		t.Fatalf("SetStreamMetadata: %+v, %v", res, err)
	}
	got, err := c.GetStreamMetadata(ctx, "meta-1", esdb.ReadStreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if mc := got.MaxCount(); mc == nil || *mc != 2 || got.CustomProperty("owner") != "team-a" {
		t.Fatalf("GetStreamMetadata = %+v", got)
	}
	sm, err := store.GetStreamMetadata(ctx, "meta-1")
	if err != nil || sm.Metadata.MaxCount != 2 {
		t.Fatalf("store metadata = %+v, %v", sm, err)
	}
	// The expected revision applies to the metadata stream.
	if _, err := c.SetStreamMetadata(ctx, "meta-1", esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, meta); errorCode(err) != esdb.ErrorCodeWrongExpectedVersion {
		t.Fatalf("stale metadata revision: %v", err)
	}
	// $maxCount is honoured by reads through the server.
	for range 3 {
		if _, err := c.AppendToStream(ctx, "meta-1", esdb.AppendToStreamOptions{}, jsonEvent("E", "{}")); err != nil {
			t.Fatal(err)
		}
	}
	rs, err := c.ReadStream(ctx, "meta-1", esdb.ReadStreamOptions{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	events, err := readAllEvents(t, rs)
	if err != nil || len(events) != 2 || events[0].Event.EventNumber != 1 {
		t.Fatalf("read with $maxCount 2: %d events, %v", len(events), err)
	}
}

func TestAppendContextCancelled(t *testing.T) {
	_, srv := newMemoryServer(t)
	c := newClient(t, srv.ConnectionString())
	ctx, cancel := context.WithCancel(testContext(t))
	// Discover first, so that the cancelled call reaches the server.
	if _, err := c.AppendToStream(ctx, "c-1", esdb.AppendToStreamOptions{}, jsonEvent("E", "{}")); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := c.AppendToStream(ctx, "c-1", esdb.AppendToStreamOptions{}, jsonEvent("E", "{}")); err == nil {
		t.Fatal("append with a cancelled context succeeded")
	}
}
