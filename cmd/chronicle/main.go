// Command chronicle is Chronicle's command-line tool: it works against any
// store URL (memory:, sqlite://…, esdb://…).
//
//	chronicle read STREAM|'$all' [--backwards] [--count N] [filters] [--json]
//	chronicle tail [STREAM] [filters] [--from-start] [--json]
//	chronicle replay --to URL (STREAM | --all) [--from-position P] [--to-position P]
//	chronicle export (STREAM | --all) > events.jsonl
//	chronicle import [FILE] < events.jsonl
//	chronicle validate (STREAM | --all)
//	chronicle serve [--addr 127.0.0.1:2113] [--tls-cert F --tls-key F] [--user name:password]
//	chronicle bench [--json] [--quick]
//
// Every command takes --store URL; the empty URL is the embedded store in
// ./chronicle.db.
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
