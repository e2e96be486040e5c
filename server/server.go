package server

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
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/badbatch/badbatch/api"
	"github.com/badbatch/badbatch/cluster"
	"github.com/badbatch/badbatch/config"
	"github.com/badbatch/badbatch/engine"
	"github.com/badbatch/badbatch/journal"
)

// ErrInvalidConfig is wrapped by the errors of [New] that are about the
// configuration (a value the parts refuse, a TLS file that does not load,
// a cluster left open off loopback) rather than about the machine (a port
// taken). The badbatch binary exits with its usage code for them.
var ErrInvalidConfig = errors.New("server: invalid configuration")

// invalidError marks err as being about the configuration, keeping its
// message.
type invalidError struct{ err error }

func (e invalidError) Error() string   { return e.err.Error() }
func (e invalidError) Unwrap() []error { return []error{ErrInvalidConfig, e.err} }

func invalid(err error) error {
	if err == nil || errors.Is(err, ErrInvalidConfig) {
		return err
	}
	return invalidError{err}
}

// Options are what the configuration file does not say: where logs,
// metrics and traces go, and what to listen on. The zero value is fine.
type Options struct {
	// Logger receives the server's and its parts' logs. Nil means a
	// logger made by [NewLogger] from cfg.Logging, writing to os.Stderr.
	Logger *slog.Logger
	// Registry gets every metric of the server and its parts and is what
	// GET /metrics serves. Nil means a new registry.
	Registry *prometheus.Registry
	// TracerProvider, when set, traces requests and forwards. Nil means
	// no tracing.
	TracerProvider trace.TracerProvider
	// Listener, when set, is served instead of a listener on
	// server.bind_addr; the Server closes it.
	Listener net.Listener
	// JournalFS is the file system of the journals under
	// server.data_dir; nil means the operating system's. Tests inject
	// faults (a full disk) through it.
	JournalFS journal.FS
}

// Server is a running BadBatch server: the engine, and when configured
// the cluster membership and replication, behind the REST API. Create it
// with [New]; stop it with [Server.Shutdown] or [Server.Close]. Its
// methods are safe for concurrent use.
type Server struct {
	cfg    config.Config
	log    *slog.Logger
	eng    *engine.Engine
	ln     net.Listener
	member *member     // nil when not clustered
	repl   *replicator // nil without replication
	api    *api.Server
	// journals is the data directory of the journaled disruptors; nil
	// without server.data_dir. It closes after the engine.
	journals *journals

	stopOnce sync.Once
	stopErr  error
}

// NewLogger returns the logger cfg describes (level debug, info, warn or
// error; format text or json), writing to w.
func NewLogger(w io.Writer, cfg config.Logging) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(cfg.Level)); err != nil {
		return nil, invalid(fmt.Errorf("logging.level %q: want debug, info, warn or error", cfg.Level))
	}
	opts := &slog.HandlerOptions{Level: l}
	switch strings.ToLower(cfg.Format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, invalid(fmt.Errorf("logging.format %q: want text or json", cfg.Format))
}

// New builds and starts the server cfg describes, up to but not including
// serving the API: the engine with the declared disruptors, the listener,
// the cluster node (which joins its seeds) and the replication node. ctx
// bounds the start only. Errors about the configuration wrap
// [ErrInvalidConfig]; on error everything started is stopped again.
func New(ctx context.Context, cfg config.Config, opts Options) (_ *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, invalid(err)
	}
	log := opts.Logger
	if log == nil {
		if log, err = NewLogger(os.Stderr, cfg.Logging); err != nil {
			return nil, err
		}
	}
	if err := checkClusterSecurity(cfg, log); err != nil {
		return nil, err
	}
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()

	ecfg, err := cfg.EngineConfig()
	if err != nil {
		return nil, invalid(err)
	}
	ecfg.Logger = log
	acfg, err := apiConfig(cfg)
	if err != nil {
		return nil, err
	}
	acfg.Logger = log
	acfg.Registry = opts.Registry
	if acfg.Registry == nil {
		acfg.Registry = prometheus.NewRegistry()
	}
	js, err := openJournals(cfg, opts.JournalFS, log)
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() { js.close(log) })
	if js != nil {
		ecfg.Journal = js.dir
		for _, c := range js.collectors() {
			if err := acfg.Registry.Register(c); err != nil {
				return nil, fmt.Errorf("registering the journal metrics: %w", err)
			}
		}
	}
	eng, err := engine.New(ecfg)
	if err != nil {
		return nil, invalid(err)
	}
	undo = append(undo, func() { closeEngine(eng, log) })
	if err := js.recoverAll(eng, cfg, log); err != nil {
		return nil, err
	}
	if err := createDeclared(eng, cfg, js, log); err != nil {
		return nil, err
	}
	acfg.TracerProvider = opts.TracerProvider

	ln := opts.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Server.BindAddr); err != nil {
			return nil, fmt.Errorf("listening on %s: %w", cfg.Server.BindAddr, err)
		}
	}
	undo = append(undo, func() { _ = ln.Close() })
	// The cluster node advertises the address bound, so it comes after
	// the listener and before the API server, which serves its routes.
	m, err := joinCluster(ctx, cfg, &acfg, ln.Addr())
	if err != nil {
		return nil, err
	}
	undo = append(undo, m.close)
	repl, err := startReplication(cfg, eng, m, &acfg)
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() { _ = repl.close(false) })
	if m != nil {
		acfg.ClusterNode = apiMember{Node: m.node, m: m, repl: repl}
	}
	srv, err := api.New(acfg, eng)
	if err != nil {
		return nil, invalid(err)
	}
	return &Server{cfg: cfg, log: log, eng: eng, ln: ln, member: m, repl: repl, api: srv, journals: js}, nil
}

// Addr returns the address the API listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Engine returns the server's engine. Changes of replicated disruptors
// must go through the API (or [Server.Replication]), never straight to
// the engine.
func (s *Server) Engine() *engine.Engine { return s.eng }

// API returns the REST API server.
func (s *Server) API() *api.Server { return s.api }

// Serve serves the API until [Server.Shutdown] or [Server.Close]; it then
// returns http.ErrServerClosed. Other errors (the listener failed, or is
// off loopback with authentication off: [api.ErrInsecure]) are returned
// at once; the caller then closes the server.
func (s *Server) Serve() error { return s.api.Serve(s.ln) }

// Run serves until ctx ends, then shuts down gracefully within
// server.shutdown_timeout. It returns the errors of serving and of the
// shutdown, joined; nil after a clean stop.
func (s *Server) Run(ctx context.Context) error {
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	select {
	case err := <-served:
		return errors.Join(err, s.Close())
	case <-ctx.Done():
	}
	s.log.Info("stop requested, shutting down", "timeout", s.cfg.Server.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.Server.ShutdownTimeout)
	defer cancel()
	err := s.Shutdown(sctx)
	if serr := <-served; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// Shutdown stops the server gracefully: a Raft leader hands its
// leadership over, the node leaves the gossip cluster (members see it
// "left" and stop forwarding to it, and the new Raft leader drops it from
// the voters), the replication node stops, then the API drains (live
// streams end, requests in flight finish, bounded by ctx) and the engine
// closes, draining every disruptor. It returns every error met, joined,
// except a leave that timed out (logged: members then learn it from the
// failure detector); later calls return the same.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() {
		var errs []error
		if s.member != nil {
			_ = leaveCluster(s.member, s.repl, cluster.DefaultLeaveTimeout)
		}
		errs = append(errs, s.repl.close(false))
		errs = append(errs, s.api.Shutdown(ctx))
		s.member.close()
		closeEngine(s.eng, s.log) // closed by the API's shutdown already, but for a Serve that never ran
		s.journals.close(s.log)
		s.stopErr = errors.Join(errs...)
	})
	return s.stopErr
}

// Close stops the server at once, without leaving the cluster (members
// detect it as failed) or handing the Raft leadership over; connections
// are closed and the engine stops. It returns the errors met, joined.
func (s *Server) Close() error {
	s.stopOnce.Do(func() {
		var errs []error
		errs = append(errs, s.repl.close(false))
		s.member.close()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := s.api.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, err)
		}
		closeEngine(s.eng, s.log)
		s.journals.close(s.log)
		s.stopErr = errors.Join(errs...)
	})
	return s.stopErr
}

// closeEngine closes an engine the server will not serve.
func closeEngine(eng *engine.Engine, log *slog.Logger) {
	if err := eng.Close(context.Background()); err != nil && !errors.Is(err, engine.ErrClosed) {
		log.Warn("closing the engine", "err", err)
	}
}
