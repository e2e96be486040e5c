package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/badbatch/badbatch/server"
)

// serverOptions are the server command's settings. The flags that set
// configuration keys override the --config file and the environment when
// given (non-zero); see loadServerConfig.
type serverOptions struct {
	configFile string
	// env is the environment as KEY=value; nil means os.Environ().
	env       []string
	bind      string
	logLevel  string
	logFormat string
	// shutdownTimeout bounds the graceful shutdown.
	shutdownTimeout time.Duration
	// insecure allows a non-loopback bind without authentication.
	insecure bool
	// dataDir is server.data_dir; journalRepair server.journal_repair.
	dataDir       string
	journalRepair []string
	// cluster are the cluster flags; clusterKeys the configuration keys
	// of those given.
	cluster     clusterFlags
	clusterKeys map[string]any
	// onListen, when set, is told the address served (tests bind :0).
	onListen func(net.Addr)
}

func newServerCommand() *cobra.Command {
	o := serverOptions{}
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the BadBatch server",
		Long: `Run the BadBatch REST API server, hosting named disruptors.

Its settings are the built-in defaults, then the --config file (YAML or
JSON; "badbatch config example" prints one), then BADBATCH_* environment
variables (server.bind_addr is BADBATCH_SERVER_BIND_ADDR), then the flags
below; "badbatch config show" prints the result. The disruptors the file
declares (disruptor.disruptors) are created and started at once.

Disruptors are journaled by default (disruptor.default_durability): every
publish is written to the disruptor's journal under --data-dir (./data)
before it is answered, and at start the server brings back every
journaled disruptor with its state, events, numbering and idempotency
keys. A second server on the same --data-dir is refused.

It listens on --bind (127.0.0.1:8080) and stops gracefully on SIGINT or
SIGTERM: live streams end, requests in flight finish, every disruptor
drains. Tracing is exported over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT
(or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set, and off otherwise.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if err := cobra.NoArgs(cmd, args); err != nil {
				return usageError{err}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.clusterKeys = o.cluster.values(cmd.Flags())
			o.configFile, _ = cmd.Flags().GetString("config")
			return runServer(cmd.Context(), o, cmd.ErrOrStderr())
		},
	}
	// Each flag sets a configuration key when given (`config show` has
	// the same flags).
	f := cmd.Flags()
	f.StringVar(&o.bind, "bind", "", "address to listen on, host:port (server.bind_addr; default 127.0.0.1:8080)")
	f.StringVar(&o.logLevel, "log-level", "", "log level: debug, info, warn or error (logging.level; default info)")
	f.StringVar(&o.logFormat, "log-format", "", "log format: text or json (logging.format; default text)")
	f.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 0, "how long a graceful shutdown may take (server.shutdown_timeout; default 30s)")
	f.BoolVar(&o.insecure, "insecure", false, "serve a non-loopback --bind without authentication (security.insecure); anyone who can reach it can do anything")
	f.StringVar(&o.dataDir, "data-dir", "", "directory of the journals of journaled disruptors, locked against a second server (server.data_dir; default ./data)")
	f.StringArrayVar(&o.journalRepair, "journal-repair", nil, "open this disruptor's journal with repair: cut it at a corrupt record, dropping that record and all after it; copy its directory first (server.journal_repair; repeatable)")
	o.cluster.add(f)
	logFlagValues(cmd)
	return cmd
}

// runServer runs the server until ctx ends, then shuts it down: the
// server package does the work, this maps its errors onto exit codes.
func runServer(ctx context.Context, o serverOptions, logOut io.Writer) error {
	cfg, err := loadServerConfig(o)
	if err != nil {
		return err
	}
	log, err := server.NewLogger(logOut, cfg.Logging)
	if err != nil {
		return usageError{err}
	}
	tp, shutdownTracing, err := setupTracing(ctx)
	if err != nil {
		return err
	}
	defer shutdownTracing()
	opts := server.Options{Logger: log}
	if tp != nil {
		opts.TracerProvider = tp
	}
	srv, err := server.New(ctx, cfg, opts)
	if err != nil {
		if errors.Is(err, server.ErrInvalidConfig) {
			return usageError{err}
		}
		return err
	}
	if o.onListen != nil {
		o.onListen(srv.Addr())
	}
	return srv.Run(ctx)
}

// setupTracing turns tracing on when the standard OTLP endpoint variables
// are set, and returns the tracer provider (nil when off) and what
// flushes and stops it.
func setupTracing(ctx context.Context) (*sdktrace.TracerProvider, func(), error) {
	if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return nil, func() {}, nil
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("tracing: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp))
	return tp, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tp.Shutdown(sctx)
	}, nil
}
