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

// serverOptions are the server command's settings. The configuration work
// (files, environment) will fill the same engine and API configs.
type serverOptions struct {
	bind      string
	logLevel  string
	logFormat string
	// shutdownTimeout bounds the graceful shutdown.
	shutdownTimeout time.Duration
	// onListen, when set, is told the address served (tests bind :0).
	onListen func(net.Addr)
}

func newServerCommand() *cobra.Command {
	o := serverOptions{shutdownTimeout: 30 * time.Second}
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the BadBatch server on the embedded defaults",
		Long: `Run the BadBatch REST API server, hosting named disruptors.

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
			return runServer(cmd.Context(), o, cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.bind, "bind", api.DefaultConfig().Addr, "address to listen on (host:port)")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	f.DurationVar(&o.shutdownTimeout, "shutdown-timeout", o.shutdownTimeout, "how long a graceful shutdown may take")
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
	log, err := newLogger(logOut, o.logLevel, o.logFormat)
	if err != nil {
		return err
	}
	ecfg := engine.DefaultConfig()
	ecfg.Logger = log
	eng, err := engine.New(ecfg)
	if err != nil {
		return err
	}
	acfg := api.DefaultConfig()
	acfg.Addr = o.bind
	acfg.Logger = log
	acfg.Registry = prometheus.NewRegistry()
	shutdownTracing, err := setupTracing(ctx, &acfg)
	if err != nil {
		return err
	}
	defer shutdownTracing()
	srv, err := api.New(acfg, eng)
	if err != nil {
		return usageError{err}
	}
	ln, err := net.Listen("tcp", o.bind)
	if err != nil {
		_ = eng.Close(context.Background())
		return fmt.Errorf("listening on %s: %w", o.bind, err)
	}
	if o.onListen != nil {
		o.onListen(ln.Addr())
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		_ = eng.Close(context.Background())
		return err
	case <-ctx.Done():
	}
	log.Info("signal received, shutting down", "timeout", o.shutdownTimeout)
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
