package aggregate

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/schema"
)

// MetadataCommand is the metadata key under which a command's name
// (WithCommandName) is written into every event it appends, as a JSON
// string.
const MetadataCommand = "command"

// A CommandOption configures one command: Create, Update or Execute.
type CommandOption func(*command) error

type command struct {
	name     string
	expected eventstore.ExpectedRevision
	expects  bool // expected was given
}

// WithExpectedRevision runs the command only if the aggregate is at the
// revision the caller read, for example from an HTTP If-Match header:
// Exact(n) for revision n, NoStream for "does not exist", StreamExists or
// Any. If the aggregate has moved on, the command fails at once with an
// *eventstore.WrongExpectedVersionError (errors.Is
// eventstore.ErrWrongExpectedVersion) and the decision does not run; a
// writer that wins the race between load and append gives the same error.
// The command is never retried: the caller decided on what it had read, so
// it must read again. Any expects nothing: the command runs as without the
// option, retried on conflict (so a handler can pass what an absent
// If-Match means).
func WithExpectedRevision(rev eventstore.ExpectedRevision) CommandOption {
	return func(c *command) error {
		c.expected, c.expects = rev, !rev.IsAny()
		return nil
	}
}

// WithCommandName names the command, for example "ShipOrder". The name is
// the chronicle.aggregate.command.name attribute of the command's span and
// metrics, and is written into the metadata of every event it appends under
// MetadataCommand. It must not be empty.
func WithCommandName(name string) CommandOption {
	return func(c *command) error {
		if name == "" {
			return fmt.Errorf("%w: WithCommandName(\"\")", ErrInvalidOption)
		}
		c.name = name
		return nil
	}
}

func buildCommand(opts []CommandOption) (command, error) {
	var c command
	for _, o := range opts {
		if o == nil {
			return c, fmt.Errorf("%w: nil CommandOption", ErrInvalidOption)
		}
		if err := o(&c); err != nil {
			return c, err
		}
	}
	return c, nil
}

// admits reports whether an aggregate loaded at l may run under the
// caller's expectation.
func (c command) admits(exists bool, actual eventstore.ExpectedRevision) bool {
	switch {
	case !c.expects || c.expected.IsAny():
		return true
	case c.expected.IsNoStream():
		return !exists
	case c.expected.IsStreamExists():
		return exists
	}
	return exists && actual == c.expected
}

// context adds the command's name to the metadata the registry writes.
func (c command) context(ctx context.Context) context.Context {
	if c.name == "" {
		return ctx
	}
	name, _ := json.Marshal(c.name) // a string always marshals
	return schema.WithExtraMetadata(ctx, MetadataCommand, name)
}
