package esdb

import (
	"context"
	"errors"
	"fmt"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/backend"
)

// Append implements eventstore.Store. The events are validated and given
// IDs (backend.PrepareAppend) before anything is sent.
//
// After a transient error (server unreachable, not leader, timeout) the
// append is retried only when repeating it cannot write the events twice:
//
//   - with NoStream or Exact(n): the server compares the IDs with the events
//     at the revisions the append expects, so a repeat of an append that
//     went through succeeds without writing (the one odd case: a NoStream
//     append that undeleted a soft-deleted stream reports
//     ErrWrongExpectedVersion when repeated);
//   - with any expected revision, when the client's typed error says it
//     failed before sending anything (it had no connection). The decision
//     never reads an error's message.
//
// An Any or StreamExists append that failed after it was sent is not
// retried: the server deduplicates those only through a bounded in-memory
// cache of recent IDs, which a restart or a leader change (the usual causes
// of the failure) empties. The error then matches eventstore.ErrUnavailable
// and the append may or may not have been written; appending the same
// events again (same IDs) is deduplicated on a best-effort basis.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	evs, err := backend.PrepareAppend(stream, events)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	return s.append(ctx, opAppend, stream, expected, evs)
}

// SetStreamMetadata implements eventstore.Store: it appends the metadata
// as a $metadata event to $$<stream>, as Append would (same retries).
func (s *Store) SetStreamMetadata(ctx context.Context, stream string, expected eventstore.ExpectedRevision, meta eventstore.StreamMetadata) (eventstore.AppendResult, error) {
	ev, err := backend.PrepareMetadata(stream, meta)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	return s.append(ctx, opSetMetadata, eventstore.MetadataStreamName(stream), expected, []eventstore.EventData{ev})
}

func (s *Store) append(ctx context.Context, op, stream string, expected eventstore.ExpectedRevision, evs []eventstore.EventData) (eventstore.AppendResult, error) {
	if err := backend.ValidateExpected(op, stream, expected); err != nil {
		return eventstore.AppendResult{}, err
	}
	data := toEventData(evs)
	retry := notSent
	if _, exact := expected.Revision(); exact || expected.IsNoStream() {
		retry = always
	}
	c := call{op: op, stream: stream, expected: expected, retry: retry}
	var wr *esdb.WriteResult
	err := s.run(ctx, c, func(ctx context.Context) error {
		var err error
		wr, err = s.client.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: toExpected(expected)}, data...)
		return err
	})
	if err != nil {
		return eventstore.AppendResult{}, s.withActual(ctx, c, err)
	}
	if len(evs) > 0 {
		return eventstore.AppendResult{
			Next:     eventstore.Exact(wr.NextExpectedVersion),
			Position: eventstore.Position{Commit: wr.CommitPosition, Prepare: wr.PreparePosition},
		}, nil
	}
	// An empty append only checked the expected revision. The v4 client
	// reports "no stream" as revision 0 or 1, so those two are asked again.
	if wr.NextExpectedVersion > 1 {
		return eventstore.AppendResult{Next: eventstore.Exact(wr.NextExpectedVersion)}, nil
	}
	next, err := s.actual(ctx, c)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	return eventstore.AppendResult{Next: next}, nil
}

// notSent reports whether err shows that the client failed before sending
// the request, which makes any operation safe to repeat. Only the client's
// typed error says so (ErrorCodeConnectionClosed: it had no connection to
// send on); its other failures, whatever their message, may have reached
// the server.
func notSent(err error) bool {
	ec, _ := codesOf(err)
	return ec == esdb.ErrorCodeConnectionClosed
}

// actual returns the actual revision of c.stream (NoStream or Exact(last),
// soft-deleted streams included) by asking the server to check an empty
// append that expects revision 0.
func (s *Store) actual(ctx context.Context, c call) (eventstore.ExpectedRevision, error) {
	probe := call{op: c.op, stream: c.stream, expected: eventstore.Exact(0), retry: always}
	err := s.run(ctx, probe, func(ctx context.Context) error {
		_, err := s.client.AppendToStream(ctx, c.stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.StreamRevision{Value: 0}})
		return err
	})
	var wrong *eventstore.WrongExpectedVersionError
	switch {
	case err == nil:
		return eventstore.Exact(0), nil
	case errors.As(err, &wrong) && wrong.Actual != unknownRevision:
		return wrong.Actual, nil
	}
	return eventstore.ExpectedRevision{}, err
}

// withActual completes a wrong-expected-version error whose message did not
// report the actual revision (EventStoreDB's delete and tombstone errors
// carry it only in trailers the client hides) by asking the server.
func (s *Store) withActual(ctx context.Context, c call, err error) error {
	var wrong *eventstore.WrongExpectedVersionError
	if !errors.As(err, &wrong) || wrong.Actual != unknownRevision {
		return err
	}
	actual, aerr := s.actual(ctx, c)
	if aerr != nil {
		return fmt.Errorf("esdb: %s %q: %w: expected %v, actual revision unknown (%v)", c.op, c.stream, eventstore.ErrWrongExpectedVersion, c.expected, aerr)
	}
	wrong.Actual = actual
	return wrong
}

// Delete implements eventstore.Store. It is retried after transient errors
// unless it expects StreamExists: repeating a soft delete that went through
// deletes again, harmlessly, whereas a repeated StreamExists delete would
// report ErrStreamDeleted.
func (s *Store) Delete(ctx context.Context, stream string, expected eventstore.ExpectedRevision) (eventstore.DeleteResult, error) {
	retry := always
	if expected.IsStreamExists() {
		retry = notSent
	}
	return s.remove(ctx, call{op: opDelete, stream: stream, expected: expected, retry: retry}, func(ctx context.Context) (*esdb.DeleteResult, error) {
		return s.client.DeleteStream(ctx, stream, esdb.DeleteStreamOptions{ExpectedRevision: toExpected(expected)})
	})
}

// Tombstone implements eventstore.Store. It is retried only when the client
// failed before sending it: a repeat of a tombstone that went through would
// report ErrStreamDeleted.
func (s *Store) Tombstone(ctx context.Context, stream string, expected eventstore.ExpectedRevision) (eventstore.DeleteResult, error) {
	return s.remove(ctx, call{op: opTombstone, stream: stream, expected: expected, retry: notSent}, func(ctx context.Context) (*esdb.DeleteResult, error) {
		return s.client.TombstoneStream(ctx, stream, esdb.TombstoneStreamOptions{ExpectedRevision: toExpected(expected)})
	})
}

func (s *Store) remove(ctx context.Context, c call, fn func(context.Context) (*esdb.DeleteResult, error)) (eventstore.DeleteResult, error) {
	if err := eventstore.ValidateStreamName(c.op, c.stream, false); err != nil {
		return eventstore.DeleteResult{}, err
	}
	if err := backend.ValidateExpected(c.op, c.stream, c.expected); err != nil {
		return eventstore.DeleteResult{}, err
	}
	var res *esdb.DeleteResult
	err := s.run(ctx, c, func(ctx context.Context) error {
		var err error
		res, err = fn(ctx)
		return err
	})
	if err != nil {
		return eventstore.DeleteResult{}, s.withActual(ctx, c, err)
	}
	return eventstore.DeleteResult{Position: fromPosition(res.Position)}, nil
}
