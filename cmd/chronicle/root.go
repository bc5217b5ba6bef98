package main

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/chronicle-go/chronicle/eventstore"
	_ "github.com/chronicle-go/chronicle/eventstore/memory" // registers memory:
	_ "github.com/chronicle-go/chronicle/eventstore/sqlite" // registers sqlite://
)

// newRootCmd builds the command tree; a subcommand is one line in the
// AddCommand list.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "chronicle",
		Short:         "Work with Chronicle event stores",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// Subcommands read it with cmd.Flags().GetString("store").
	root.PersistentFlags().String("store", "",
		"store URL ("+strings.Join(eventstore.Drivers(), ", ")+"); empty: "+eventstore.DefaultURL+" (bench: a temporary SQLite file)")
	root.AddCommand(
		newBenchCmd(),
		newServeCmd(), newConsoleCmd(),
		newReadCmd(), newTailCmd(), newReplayCmd(), newExportCmd(), newImportCmd(), newValidateCmd(),
		newScavengeCmd(),
		newSagaCmd(),
		newProjectionCmd(),
		newPersistentCmd(),
	)
	markUsageErrors(root)
	return root
}
