package esdbserver_test

import (
	"strings"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chronicle-go/chronicle/eventstore"
)

// TestStreamNamesInTrailers: errors about a stream carry its name in the
// stream-name trailer, and gRPC allows only printable ASCII there. A name
// outside it (UTF-8 letters; control characters, which every store rejects
// on append) must still come back as the right error, never Internal.
func TestStreamNamesInTrailers(t *testing.T) {
	ctx := testContext(t)
	_, srv := newMemoryServer(t)
	c := newClient(t, srv.ConnectionString())
	for _, name := range []string{"café-1", "заказ-2", "%41-3"} {
		if _, err := c.AppendToStream(ctx, name, esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, jsonEvent("A", `{}`)); err != nil {
			t.Fatalf("append to %q: %v", name, err)
		}
		_, err := c.AppendToStream(ctx, name, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(7)}, jsonEvent("A", `{}`))
		if code := errorCode(err); code != esdb.ErrorCodeWrongExpectedVersion {
			t.Fatalf("wrong expected version on %q: %v (code %d)", name, err, code)
		}
		if _, err := c.TombstoneStream(ctx, name, esdb.TombstoneStreamOptions{ExpectedRevision: esdb.Any{}}); err != nil {
			t.Fatalf("tombstone %q: %v", name, err)
		}
		_, err = c.AppendToStream(ctx, name, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Any{}}, jsonEvent("A", `{}`))
		if code := errorCode(err); code != esdb.ErrorCodeStreamDeleted {
			t.Fatalf("append to tombstoned %q: %v (code %d), want stream deleted", name, err, code)
		}
	}
	_, err := c.AppendToStream(ctx, "nl\nname", esdb.AppendToStreamOptions{ExpectedRevision: esdb.Any{}}, jsonEvent("A", `{}`))
	if err == nil || !strings.Contains(err.Error(), "InvalidArgument") {
		t.Fatalf("append to a name with a newline: %v, want InvalidArgument", err)
	}

	// A store that reports such a name (one written before the rule, or a
	// remote store's) still gets its error through.
	store, raw := newFaultyServer(t)
	for _, name := range []string{"nl\nname", "cr\rname", "nul\x00name", "esc\x1bname", "del\x7fname"} {
		store.set(&eventstore.StreamDeletedError{Stream: name}, 0)
		_, err := raw.Delete(ctx, &streams.DeleteReq{Options: &streams.DeleteReq_Options{
			StreamIdentifier: streamID("x"), ExpectedStreamRevision: &streams.DeleteReq_Options_Any{Any: empty()}}})
		if status.Code(err) != codes.FailedPrecondition {
			t.Fatalf("stream %q deleted: %v, want FailedPrecondition", name, err)
		}
		store.set(&eventstore.WrongExpectedVersionError{Stream: name, Expected: eventstore.Exact(1), Actual: eventstore.Exact(2)}, 0)
		_, err = raw.Delete(ctx, &streams.DeleteReq{Options: &streams.DeleteReq_Options{
			StreamIdentifier: streamID("x"), ExpectedStreamRevision: &streams.DeleteReq_Options_Any{Any: empty()}}})
		if status.Code(err) != codes.FailedPrecondition {
			t.Fatalf("stream %q wrong expected version: %v, want FailedPrecondition", name, err)
		}
	}
}
