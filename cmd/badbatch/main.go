// Command badbatch runs the BadBatch server and drives it: one binary for
// the server, disruptors and their events, monitoring, configuration and
// load generation.
//
//	badbatch server [--config FILE] [--bind 127.0.0.1:8080]
//	badbatch disruptor create orders
//	badbatch event publish orders '{"id":1}'
//	badbatch event tail orders
//	badbatch bench --embedded
//
// Run "badbatch help" for every command. Exit codes: 0 success, 1 the
// server answered an error or could not be reached, 2 a bad flag, argument
// or configuration.
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
	root, g := newRoot()
	err := root.ExecuteContext(ctx)
	stop()
	if err != nil {
		for _, line := range errorLines(err, g.resolvedEndpoint) {
			fmt.Fprintln(os.Stderr, "badbatch:", line)
		}
		os.Exit(exitCode(err))
	}
}
