// Command chronicle is Chronicle's command-line tool: it works against any
// store URL (memory:, sqlite://…, esdb://…).
//
//	chronicle bench [--store URL] [--json] [--quick]
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "chronicle:", err)
		os.Exit(1)
	}
}
