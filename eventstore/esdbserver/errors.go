package esdbserver

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/chronicle-go/chronicle/eventstore"
)

// Trailer keys the real server sends with errors (lower-case, as gRPC sends
// them). Clients read "exception" to tell errors apart.
const (
	trailerException        = "exception"
	trailerStreamName       = "stream-name"
	trailerExpectedVersion  = "expected-version"
	trailerActualVersion    = "actual-version"
	trailerMaxAppendSize    = "maximum-append-size"
	trailerMaxEventSize     = "maximum-append-event-size"
	trailerEventID          = "event-id"
	trailerProposedSize     = "proposed-append-event-size"
	trailerRequiredMetadata = "required-metadata-properties"
)

// Values of the "exception" trailer.
const (
	exceptionStreamDeleted   = "stream-deleted"
	exceptionWrongVersion    = "wrong-expected-version"
	exceptionAccessDenied    = "access-denied"
	exceptionMaxAppendSize   = "maximum-append-size-exceeded"
	exceptionMaxEventSize    = "maximum-append-event-size-exceeded"
	exceptionMissingMetadata = "missing-required-metadata-property"
)

// System metadata keys of events on the wire.
const (
	metadataKeyType            = "type"
	metadataKeyContentType     = "content-type"
	metadataKeyCreated         = "created"
	requiredMetadataProperties = metadataKeyType + "," + metadataKeyContentType
)

// EventStoreDB's signed "versions" for the expected-revision conditions.
const (
	expectedVersionNoStream     = -1
	expectedVersionAny          = -2
	expectedVersionStreamExists = -4
)

const (
	errShuttingDownMessage      = "esdbserver: server is shutting down"
	errUnavailableMessagePrefix = "esdbserver: store unavailable: "
)

// errShuttingDown is the cause with which Shutdown cancels subscriptions.
var errShuttingDown = errors.New(errShuttingDownMessage)

// rpcError is a gRPC status with the trailers that go with it. Handlers
// return it through fail, which sets the trailers on the call.
type rpcError struct {
	st       *status.Status
	trailers metadata.MD
}

func (e *rpcError) Error() string { return e.st.Err().Error() }

// GRPCStatus makes the error a gRPC status error (without its trailers).
func (e *rpcError) GRPCStatus() *status.Status { return e.st }

// newError returns an error with a gRPC status code and optional trailers,
// given as key, value pairs.
func newError(code codes.Code, msg string, kv ...string) *rpcError {
	e := &rpcError{st: status.New(code, msg)}
	if len(kv) > 0 {
		e.trailers = metadata.Pairs(kv...)
	}
	return e
}

func invalidArgument(format string, args ...any) *rpcError {
	return newError(codes.InvalidArgument, "esdbserver: "+fmt.Sprintf(format, args...))
}

// trailerSetter is what both unary and streaming calls can do.
type trailerSetter func(metadata.MD)

// fail sets err's trailers on the call (when it has any) and returns the
// error to hand back to gRPC.
func fail(set trailerSetter, err error) error {
	var re *rpcError
	if errors.As(err, &re) {
		if re.trailers != nil {
			set(re.trailers)
		}
		return re.st.Err()
	}
	return err
}

// streamDeleted is the error of any operation on a tombstoned stream; the Go
// client panics unless stream-name comes with the exception.
func streamDeleted(stream string) *rpcError {
	return newError(codes.FailedPrecondition, fmt.Sprintf("Event stream '%s' is deleted.", stream),
		trailerException, exceptionStreamDeleted, trailerStreamName, trailerValue(stream))
}

// trailerValue makes s safe for a gRPC trailer, which carries printable
// ASCII only: other bytes (UTF-8 letters, and control characters, which
// stores reject in new stream names but may still report) are
// percent-encoded, as is '%' then.
func trailerValue(s string) string {
	if !strings.ContainsFunc(s, notPrintable) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '%' {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func notPrintable(r rune) bool { return r < 0x20 || r > 0x7e }

// mapError turns a store error into the status and trailers EventStoreDB
// answers with (esdb-protocol §3.4). stream names the stream of the request;
// it is used when the error does not name one.
func mapError(stream string, err error) *rpcError {
	var (
		re      *rpcError
		deleted *eventstore.StreamDeletedError
		wrong   *eventstore.WrongExpectedVersionError
		arg     *eventstore.ArgumentError
	)
	switch {
	case errors.As(err, &re):
		return re
	case errors.As(err, &deleted):
		if deleted.Stream != "" {
			stream = deleted.Stream
		}
		return streamDeleted(stream)
	case errors.Is(err, eventstore.ErrStreamDeleted):
		return streamDeleted(stream)
	case errors.As(err, &wrong):
		if wrong.Stream != "" {
			stream = wrong.Stream
		}
		return newError(codes.FailedPrecondition,
			fmt.Sprintf("Append failed due to WrongExpectedVersion. Stream: %s, Expected version: %v, Actual version: %v", stream, wrong.Expected, wrong.Actual),
			trailerException, exceptionWrongVersion,
			trailerStreamName, trailerValue(stream),
			trailerExpectedVersion, signedVersion(wrong.Expected),
			trailerActualVersion, signedVersion(wrong.Actual))
	case errors.As(err, &arg) && errors.Is(err, eventstore.ErrEventTooLarge):
		return newError(codes.InvalidArgument, err.Error(),
			trailerException, exceptionMaxEventSize,
			trailerMaxEventSize, strconv.Itoa(eventstore.MaxEventSize))
	case errors.Is(err, eventstore.ErrInvalidArgument):
		return newError(codes.InvalidArgument, err.Error())
	case errors.Is(err, eventstore.ErrAccessDenied):
		return newError(codes.PermissionDenied, "Access denied.", trailerException, exceptionAccessDenied)
	case errors.Is(err, eventstore.ErrClosed), errors.Is(err, eventstore.ErrUnavailable), errors.Is(err, eventstore.ErrNotLeader):
		return newError(codes.Unavailable, errUnavailableMessagePrefix+err.Error())
	case errors.Is(err, eventstore.ErrStreamNotFound):
		return newError(codes.NotFound, err.Error())
	case errors.Is(err, context.Canceled):
		return newError(codes.Canceled, "esdbserver: call cancelled")
	case errors.Is(err, context.DeadlineExceeded):
		return newError(codes.DeadlineExceeded, "esdbserver: deadline exceeded")
	}
	if st, ok := status.FromError(err); ok {
		return &rpcError{st: st}
	}
	return newError(codes.Internal, "esdbserver: "+err.Error())
}

// signedVersion formats an expected or actual revision as EventStoreDB's
// signed "version" numbers do: -1 no stream, -2 any, -4 stream exists.
func signedVersion(e eventstore.ExpectedRevision) string {
	switch {
	case e.IsNoStream():
		return strconv.Itoa(expectedVersionNoStream)
	case e.IsAny():
		return strconv.Itoa(expectedVersionAny)
	case e.IsStreamExists():
		return strconv.Itoa(expectedVersionStreamExists)
	}
	rev, _ := e.Revision()
	return strconv.FormatUint(rev, 10)
}
