// Command badbatch runs the BadBatch server: named LMAX disruptors served
// over a REST API.
//
//	badbatch server [--bind 127.0.0.1:8080] [--log-level info] [--log-format text]
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
	defer stop()
	if err := newRootCommand().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "badbatch:", err)
		os.Exit(exitCode(err))
	}
}
