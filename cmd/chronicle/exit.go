package main

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/spf13/cobra"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/saga"
)

// Exit statuses of the chronicle command.
const (
	exitOK = 0
	// exitFailure: the command ran and failed (a store error, invalid
	// events found by validate, an interrupted import, …).
	exitFailure = 1
	// exitUsage: the command line is wrong: an unknown command or flag,
	// missing or extra arguments, flags that do not go together.
	exitUsage = 2
	// exitNotFound: the stream (or the saga, the persistent subscription
	// group, or the input file) asked for does not exist.
	exitNotFound = 3
)

// A usageError is a wrong command line.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef returns a usageError.
func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// exitCode maps a command's error to the process's exit status.
func exitCode(err error) int {
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue), strings.HasPrefix(err.Error(), "unknown command "):
		return exitUsage
	case errors.Is(err, eventstore.ErrStreamNotFound), errors.Is(err, saga.ErrUnknownSaga), errors.Is(err, fs.ErrNotExist),
		errors.Is(err, eventstore.ErrPersistentSubscriptionNotFound):
		return exitNotFound
	}
	return exitFailure
}

// markUsageErrors makes cobra's own command-line errors (bad flags, wrong
// number of arguments) usageErrors, in cmd and every subcommand.
func markUsageErrors(cmd *cobra.Command) {
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	if args := cmd.Args; args != nil {
		cmd.Args = func(c *cobra.Command, a []string) error {
			if err := args(c, a); err != nil {
				return usageError{err}
			}
			return nil
		}
	}
	for _, sub := range cmd.Commands() {
		markUsageErrors(sub)
	}
}
