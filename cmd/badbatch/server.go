package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/badbatch/badbatch/api"
	"github.com/badbatch/badbatch/engine"
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
	o.cluster.add(f)
	return cmd
}

// newLogger builds the server's logger.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError{fmt.Errorf("--log-level %q: want debug, info, warn or error", level)}
	}
	opts := &slog.HandlerOptions{Level: l}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usageError{fmt.Errorf("--log-format %q: want text or json", format)}
}

// runServer runs the server until ctx ends, then shuts it down.
func runServer(ctx context.Context, o serverOptions, logOut io.Writer) error {
	cfg, err := loadServerConfig(o)
	if err != nil {
		return err
	}
	log, err := newLogger(logOut, cfg.Logging.Level, cfg.Logging.Format)
	if err != nil {
		return err
	}
	ecfg, err := engineConfig(cfg, log)
	if err != nil {
		return err
	}
	eng, err := engine.New(ecfg)
	if err != nil {
		return err
	}
	if err := createDeclared(eng, cfg, log); err != nil {
		closeEngine(eng)
		return err
	}
	o.bind, o.shutdownTimeout = cfg.Server.BindAddr, cfg.Server.ShutdownTimeout
	acfg, err := apiConfig(cfg)
	if err != nil {
		closeEngine(eng)
		return err
	}
	acfg.Logger = log
	acfg.Registry = prometheus.NewRegistry()
	shutdownTracing, err := setupTracing(ctx, &acfg)
	if err != nil {
		return err
	}
	defer shutdownTracing()
	ln, err := net.Listen("tcp", o.bind)
	if err != nil {
		_ = eng.Close(context.Background())
		return fmt.Errorf("listening on %s: %w", o.bind, err)
	}
	// The cluster node advertises the address bound, so it comes after
	// the listener and before the server, which serves its routes.
	member, err := joinCluster(ctx, cfg, &acfg, ln.Addr())
	if err != nil {
		ln.Close()
		_ = eng.Close(context.Background())
		return err
	}
	repl, err := startReplication(cfg, eng, member, &acfg)
	if err != nil {
		ln.Close()
		member.close()
		_ = eng.Close(context.Background())
		return err
	}
	srv, err := api.New(acfg, eng)
	if err != nil {
		ln.Close()
		repl.close()
		member.close()
		_ = eng.Close(context.Background())
		return usageError{err}
	}
	if o.onListen != nil {
		o.onListen(ln.Addr())
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		repl.close()
		member.close()
		_ = eng.Close(context.Background())
		return err
	case <-ctx.Done():
	}
	log.Info("signal received, shutting down", "timeout", o.shutdownTimeout)
	member.leave() // members see "left", and stop forwarding here
	defer member.close()
	repl.close() // hands the Raft leadership over first
	sctx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	if serr := <-served; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// setupTracing turns tracing on when the standard OTLP endpoint variables
// are set, and returns what flushes and stops it.
func setupTracing(ctx context.Context, cfg *api.Config) (func(), error) {
	if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return func() {}, nil
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp))
	cfg.TracerProvider = tp
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tp.Shutdown(sctx)
	}, nil
}
