package esdb

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chronicle-go/chronicle/eventstore"
)

// failure says how an error from the client is handled.
type failure uint8

const (
	// failFinal: report the error.
	failFinal failure = iota
	// failTransport: the server could not be reached or the connection
	// broke; the store waits for it to come back (see gate) and retries what
	// is safe to retry.
	failTransport
	// failTransient: the server answered but asked to try again (not
	// leader, timeout); safe operations are retried.
	failTransient
)

// codesOf returns the client's error code and the gRPC status code behind
// err. Errors the client maps carry both; subscription drops carry only the
// gRPC status.
func codesOf(err error) (esdb.ErrorCode, codes.Code) {
	ec := esdb.ErrorCodeUnknown
	var e *esdb.Error
	if errors.As(err, &e) {
		ec = e.Code()
	}
	gc := codes.Unknown
	if st, ok := status.FromError(err); ok {
		gc = st.Code()
	}
	return ec, gc
}

// classify says whether err is worth a retry, and why.
func classify(err error) failure {
	ec, gc := codesOf(err)
	switch ec {
	case esdb.ErrorUnavailable, esdb.ErrorCodeConnectionClosed:
		return failTransport
	case esdb.ErrorCodeNotLeader, esdb.ErrorAborted, esdb.ErrorCodeDeadlineExceeded:
		return failTransient
	case esdb.ErrorCodeUnknown:
		switch gc {
		case codes.Unavailable, codes.Canceled:
			return failTransport
		case codes.Aborted, codes.DeadlineExceeded:
			return failTransient
		}
	}
	return failFinal
}

// deadlineReached reports whether ctx has a deadline that has passed or
// will within a millisecond: a DeadlineExceeded of the call is then the
// caller's deadline, not the server's.
func deadlineReached(ctx context.Context) bool {
	d, ok := ctx.Deadline()
	return ok && time.Until(d) < time.Millisecond
}

// opError reports a failure that none of the contract's typed errors
// describes.
func opError(op, stream string, sentinel, cause error) error {
	if sentinel == nil {
		return fmt.Errorf("esdb: %s %q: %w", op, stream, cause)
	}
	return fmt.Errorf("esdb: %s %q: %w: %w", op, stream, sentinel, cause)
}

// mapError turns an error of the client into the contract's errors. ctx is
// the operation's context: when it is done, its error (or ErrClosed, when
// the store closed) is what the caller gets. expected is the expected
// revision of a write, for wrong-expected-version errors.
func mapError(ctx context.Context, op, stream string, expected eventstore.ExpectedRevision, err error) error {
	ec, gc := codesOf(err)
	if (ec == esdb.ErrorCodeDeadlineExceeded || gc == codes.DeadlineExceeded) && deadlineReached(ctx) {
		// gRPC's timer for the call's deadline may fire a moment before
		// the context's own: the caller's deadline passed all the same.
		<-ctx.Done()
	}
	if ctx.Err() != nil {
		if errors.Is(context.Cause(ctx), eventstore.ErrClosed) {
			return fmt.Errorf("esdb: %s %q: %w", op, stream, eventstore.ErrClosed)
		}
		return fmt.Errorf("esdb: %s %q: %w", op, stream, ctx.Err())
	}
	switch ec {
	case esdb.ErrorCodeWrongExpectedVersion:
		return &eventstore.WrongExpectedVersionError{Stream: stream, Expected: expected, Actual: parseActual(err.Error(), "but got '", "'")}
	case esdb.ErrorCodeStreamDeleted:
		return &eventstore.StreamDeletedError{Stream: deletedStream(err, stream)}
	case esdb.ErrorCodeResourceNotFound:
		if op == opRead || op == opGetMetadata {
			return &eventstore.StreamNotFoundError{Stream: stream}
		}
	case esdb.ErrorCodeAccessDenied, esdb.ErrorCodeUnauthenticated:
		return opError(op, stream, eventstore.ErrAccessDenied, err)
	case esdb.ErrorCodeNotLeader:
		return opError(op, stream, eventstore.ErrNotLeader, err)
	case esdb.ErrorUnavailable, esdb.ErrorCodeConnectionClosed, esdb.ErrorAborted, esdb.ErrorCodeDeadlineExceeded:
		return opError(op, stream, eventstore.ErrUnavailable, err)
	case esdb.ErrorCodeUnsupportedFeature:
		return opError(op, stream, errors.ErrUnsupported, err)
	}
	switch gc {
	case codes.Unavailable, codes.Canceled, codes.Aborted, codes.DeadlineExceeded:
		return opError(op, stream, eventstore.ErrUnavailable, err)
	case codes.PermissionDenied, codes.Unauthenticated:
		return opError(op, stream, eventstore.ErrAccessDenied, err)
	case codes.InvalidArgument:
		st, _ := status.FromError(err)
		return eventstore.NewArgumentError(op, stream, errors.New("rejected by the server: "+st.Message()), "")
	case codes.FailedPrecondition:
		// The only failed preconditions EventStoreDB reports on these calls:
		// a tombstoned stream (subscriptions see the raw status, without the
		// trailers the client reads) and a wrong expected version on delete
		// and tombstone.
		if op == opSubscribe {
			return &eventstore.StreamDeletedError{Stream: stream}
		}
		if op == opDelete || op == opTombstone {
			st, _ := status.FromError(err)
			return &eventstore.WrongExpectedVersionError{Stream: stream, Expected: expected, Actual: parseActual(st.Message(), "Actual version: ", "")}
		}
	case codes.NotFound:
		if op == opRead || op == opGetMetadata {
			return &eventstore.StreamNotFoundError{Stream: stream}
		}
	}
	return opError(op, stream, nil, err)
}

// Operation names, as they appear in errors.
const (
	opAppend      = "append"
	opSetMetadata = "set metadata"
	opGetMetadata = "get metadata"
	opRead        = "read"
	opSubscribe   = "subscribe"
	opDelete      = "delete"
	opTombstone   = "tombstone"
)

// unknownRevision marks a wrong-expected-version error whose actual revision
// the server did not report; the caller then asks the server.
var unknownRevision = eventstore.Any

// parseActual reads the actual revision of a wrong-expected-version error
// from its message: the text after prefix, up to end (or to the first space
// or punctuation when end is empty). It is "no_stream" (or EventStoreDB's
// -1) for NoStream, else a revision. It returns unknownRevision when the
// message does not say.
func parseActual(msg, prefix, end string) eventstore.ExpectedRevision {
	i := strings.LastIndex(msg, prefix)
	if i < 0 {
		return unknownRevision
	}
	s := msg[i+len(prefix):]
	if end != "" {
		s, _, _ = strings.Cut(s, end)
	} else if j := strings.IndexFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == ')' || r == ';' }); j >= 0 {
		s = s[:j]
	}
	s = strings.TrimSuffix(s, ".")
	if s == "no_stream" {
		return eventstore.NoStream
	}
	// The client formats revisions as signed integers (int(uint64)).
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n == -1 {
			return eventstore.NoStream
		}
		return eventstore.Exact(uint64(n))
	}
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		return eventstore.Exact(n)
	}
	return unknownRevision
}

// deletedStream returns the stream a stream-deleted error of the client
// names ("stream 'x' is deleted"), or fallback.
func deletedStream(err error, fallback string) string {
	const prefix, suffix = "stream '", "' is deleted"
	msg := err.Error()
	i := strings.Index(msg, prefix)
	j := strings.LastIndex(msg, suffix)
	if i < 0 || j < i+len(prefix) {
		return fallback
	}
	return msg[i+len(prefix) : j]
}
