// Command chronicle is Chronicle's command-line tool: it works against any
// store URL (memory:, sqlite://…, esdb://…).
//
//	chronicle read STREAM|'$all' [--backwards] [--count N] [filters] [--raw] [--json]
//	chronicle tail [STREAM] [filters] [--from-start | --from-position P | --from R] [--raw] [--json]
//	chronicle replay --to URL (STREAM | --all) [--from-position P] [--to-position P] [--json]
//	chronicle export (STREAM | --all) > events.jsonl
//	chronicle import [FILE] < events.jsonl [--json]
//	chronicle validate (STREAM | --all) [--json]
//	chronicle saga list [--state STATUS] [--workflow NAME] [--json]
//	chronicle saga show WORKFLOW ID [--json]
//	chronicle saga retry WORKFLOW ID [--json]
//	chronicle saga skip-step WORKFLOW ID STEP [--json]
//	chronicle projection status [NAME] [--sqlite DIR] [--postgres URL] [--json]
//	chronicle projection parked NAME [--json]
//	chronicle projection replay-parked NAME [--json]
//	chronicle console [--addr 127.0.0.1:8088] [--actions] [--sqlite DIR] [--postgres URL] [--json]
//	chronicle serve [--addr 127.0.0.1:2113] [--tls-cert F --tls-key F] [--user name:password] [--json]
//	chronicle bench [--json] [--quick] [--force]
//
// Every command takes --store URL; the empty URL is the embedded store in
// ./chronicle.db. Every command takes --json: machine output on stdout, one
// JSON object per line. Exit status: 0 success, 1 failure, 2 usage error,
// 3 not found.
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
		if exitCode(err) == exitUsage {
			fmt.Fprintln(os.Stderr, "Run 'chronicle --help' or 'chronicle COMMAND --help' for usage.")
		}
	}
	os.Exit(exitCode(err))
}
