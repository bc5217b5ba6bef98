package aggregate_test

import (
	"errors"
	"testing"

	"github.com/chronicle-go/chronicle/aggregate"
	"github.com/chronicle-go/chronicle/eventstore"
)

func TestErrorMessages(t *testing.T) {
	conflict := &eventstore.WrongExpectedVersionError{Stream: "order-1", Expected: eventstore.Exact(1), Actual: eventstore.Exact(2)}
	tests := []struct {
		err  error
		is   error
		want string
	}{
		{&aggregate.NotFoundError{Stream: "order-1"}, aggregate.ErrNotFound, `aggregate: "order-1" not found`},
		{&aggregate.NotFoundError{Stream: "order-1", At: "revision 4"}, aggregate.ErrNotFound, `aggregate: "order-1" has no state at revision 4`},
		{&aggregate.AlreadyExistsError{Stream: "order-1", Revision: 3}, aggregate.ErrAlreadyExists, `aggregate: "order-1" already exists (revision 3)`},
		{&aggregate.ConflictError{Stream: "order-1", Attempts: 4, Err: conflict}, aggregate.ErrConflict,
			`aggregate: "order-1": gave up after 4 attempts: eventstore: stream "order-1": wrong expected version: expected 1, actual 2`},
		{&aggregate.EventError{Stream: "order-1", Index: 2, Event: Deposited{}, Err: errors.New("bad")}, aggregate.ErrInvalidEvent,
			`aggregate: "order-1": event 2 (aggregate_test.Deposited): bad`},
		{&aggregate.RejectedError{Stream: "order-1", Err: errInsufficient}, aggregate.ErrRejected, `aggregate: "order-1": rejected: insufficient funds`},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
		if !errors.Is(tt.err, tt.is) {
			t.Errorf("%T does not match %v", tt.err, tt.is)
		}
	}
}
