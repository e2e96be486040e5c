package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/badbatch/badbatch/engine"
	"github.com/badbatch/badbatch/internal/version"
)

// Config is the server's configuration. Start from [DefaultConfig].
type Config struct {
	// Addr is the address to listen on, host:port.
	Addr string
	// MaxBodyBytes bounds a request body, after decompression.
	MaxBodyBytes int64
	// ReplayDefaultLimit and ReplayMaxLimit are the default and largest
	// limit= of a replay.
	ReplayDefaultLimit, ReplayMaxLimit int
	// ListDefaultLimit and ListMaxLimit are the default and largest
	// limit= of the disruptor list.
	ListDefaultLimit, ListMaxLimit int
	// ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout are
	// http.Server's. Streams lift the write timeout for themselves and
	// use StreamWriteTimeout per write instead.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// StreamHeartbeat is how often an idle stream sends a keep-alive.
	StreamHeartbeat time.Duration
	// StreamWriteTimeout is how long one write to a stream may take: a
	// client that reads slower than that is disconnected.
	StreamWriteTimeout time.Duration
	// StreamBatch is how many events a stream takes from the ring per
	// write.
	StreamBatch int
	// GzipMinBytes is the smallest response compressed for clients that
	// accept gzip; streams are always compressed for them.
	GzipMinBytes int
	// Logger receives one line per request and the server's events. Nil
	// means slog.Default().
	Logger *slog.Logger
	// Registry is where the server's, the engine's and the Go runtime's
	// metrics are registered and what GET /metrics serves. Nil means a new
	// private registry.
	Registry *prometheus.Registry
	// TracerProvider, when set, gives a span per request (otelhttp) and
	// per publish, and takes W3C trace context from clients. Nil means no
	// tracing at all, at no cost.
	TracerProvider trace.TracerProvider
	// Version is what GET /api/v1/version reports; zero means
	// version.Get().
	Version version.Info
}

// DefaultConfig returns the embedded defaults: 127.0.0.1:8080, 16 MiB
// bodies, replay pages of 100 (up to 10000) events.
func DefaultConfig() Config {
	return Config{
		Addr:               "127.0.0.1:8080",
		MaxBodyBytes:       16 << 20,
		ReplayDefaultLimit: 100,
		ReplayMaxLimit:     10_000,
		ListDefaultLimit:   100,
		ListMaxLimit:       1000,
		ReadHeaderTimeout:  10 * time.Second,
		ReadTimeout:        time.Minute,
		WriteTimeout:       time.Minute,
		IdleTimeout:        2 * time.Minute,
		StreamHeartbeat:    15 * time.Second,
		StreamWriteTimeout: 10 * time.Second,
		StreamBatch:        256,
		GzipMinBytes:       1024,
	}
}

// Validate returns every problem with c at once, or nil.
func (c Config) Validate() error {
	var errs []error
	bad := func(field string, v any, reason string) {
		errs = append(errs, fmt.Errorf("api: invalid %s %v: %s", field, v, reason))
	}
	if c.Addr == "" {
		bad("addr", c.Addr, "must be host:port")
	} else if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		bad("addr", c.Addr, "must be host:port")
	}
	if c.MaxBodyBytes <= 0 {
		bad("max_body_bytes", c.MaxBodyBytes, "must be positive")
	}
	if c.ReplayDefaultLimit <= 0 || c.ReplayMaxLimit < c.ReplayDefaultLimit {
		bad("replay limits", [2]int{c.ReplayDefaultLimit, c.ReplayMaxLimit}, "need 0 < default <= max")
	}
	if c.ListDefaultLimit <= 0 || c.ListMaxLimit < c.ListDefaultLimit {
		bad("list limits", [2]int{c.ListDefaultLimit, c.ListMaxLimit}, "need 0 < default <= max")
	}
	for name, d := range map[string]time.Duration{"read_header_timeout": c.ReadHeaderTimeout,
		"stream_heartbeat": c.StreamHeartbeat, "stream_write_timeout": c.StreamWriteTimeout} {
		if d <= 0 {
			bad(name, d, "must be positive")
		}
	}
	if c.StreamBatch <= 0 {
		bad("stream_batch", c.StreamBatch, "must be positive")
	}
	return errors.Join(errs...)
}

// Server serves an engine over HTTP. Create it with [New]; it is safe for
// concurrent use.
type Server struct {
	cfg     Config
	eng     *engine.Engine
	log     *slog.Logger
	reg     *prometheus.Registry
	mux     *http.ServeMux
	handler http.Handler
	routes  []route
	// unmatched answers requests no route takes.
	unmatched http.Handler
	tracer    trace.Tracer // nil: tracing off
	started   time.Time
	version   version.Info

	srv     *http.Server
	closing chan struct{} // closed when Shutdown starts: streams end
	closed  atomic.Bool
	once    sync.Once

	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	errors   *prometheus.CounterVec
	streams  prometheus.Gauge
}

// New returns a server for eng with cfg. It registers the engine's
// collector, the Go runtime and process collectors and its own HTTP
// metrics with cfg.Registry, so do not register the engine elsewhere.
func New(cfg Config, eng *engine.Engine) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if eng == nil {
		return nil, errors.New("api: nil engine")
	}
	s := &Server{
		cfg:     cfg,
		eng:     eng,
		log:     cfg.Logger,
		reg:     cfg.Registry,
		mux:     http.NewServeMux(),
		started: time.Now(),
		version: cfg.Version,
		closing: make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
	}
	if s.version == (version.Info{}) {
		s.version = version.Get()
	}
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "badbatch_http_requests_total", Help: "HTTP requests by route, method and status.",
	}, []string{"route", "method", "status"})
	s.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "badbatch_http_request_duration_seconds", Help: "HTTP request latency by route.",
		Buckets: prometheus.ExponentialBucketsRange(50e-6, 30, 16),
	}, []string{"route"})
	s.errors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "badbatch_api_errors_total", Help: "Error responses by error code.",
	}, []string{"code"})
	s.streams = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "badbatch_http_streams", Help: "Open live streams (SSE and NDJSON).",
	})
	for _, c := range []prometheus.Collector{
		eng.Collector(), s.requests, s.duration, s.errors, s.streams,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := s.reg.Register(c); err != nil {
			return nil, fmt.Errorf("api: registering metrics: %w", err)
		}
	}
	var wrap func(h http.Handler, name string) http.Handler
	if tp := cfg.TracerProvider; tp != nil {
		s.tracer = tp.Tracer("github.com/badbatch/badbatch/api")
		opts := []otelhttp.Option{
			otelhttp.WithTracerProvider(tp),
			otelhttp.WithPropagators(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})),
		}
		wrap = func(h http.Handler, name string) http.Handler { return otelhttp.NewHandler(h, name, opts...) }
	}
	s.routes = s.routeTable()
	for _, rt := range s.routes {
		var h http.Handler = s.endpoint(rt)
		if wrap != nil {
			h = wrap(h, rt.method+" "+rt.pattern)
		}
		s.mux.Handle(rt.method+" "+rt.pattern, h)
	}
	s.unmatched = http.HandlerFunc(s.noRoute)
	if wrap != nil {
		s.unmatched = wrap(s.unmatched, "unmatched")
	}
	var h http.Handler = http.HandlerFunc(s.dispatch)
	s.handler = s.observe(h)
	s.srv = &http.Server{
		Addr:              cfg.Addr,
		Handler:           s.handler,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// Handler is the server's whole HTTP handler, for tests and embedding.
func (s *Server) Handler() http.Handler { return s.handler }

// Registry is the registry GET /metrics serves.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Serve accepts connections on ln until Shutdown. It returns
// http.ErrServerClosed after a Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.log.Info("serving", "addr", ln.Addr().String())
	return s.srv.Serve(ln)
}

// ListenAndServe listens on Config.Addr and serves.
func (s *Server) ListenAndServe() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return err
	}
	return s.Serve(ln)
}

// Shutdown stops the server gracefully: readiness fails at once, live
// streams send their final message and end, no new connections are
// accepted, requests in flight finish (bounded by ctx), and then the
// engine closes, draining every disruptor. It may be called once; later
// calls return nil.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	s.once.Do(func() {
		s.closed.Store(true)
		close(s.closing)
		s.log.Info("shutting down")
		herr := s.srv.Shutdown(ctx)
		if herr != nil {
			_ = s.srv.Close()
		}
		eerr := s.eng.Close(ctx)
		err = errors.Join(herr, eerr)
		s.log.Info("shut down", "err", err)
	})
	return err
}

// route is one entry of the route table: the single source of the mux's
// routes and of what the OpenAPI test checks.
type route struct {
	method  string
	pattern string
	// negotiate picks the response format from Accept before the
	// handler runs (so a 406 comes before any side effect).
	negotiate bool
	handle    func(*call)
}

// call is one request on its way through a handler.
type call struct {
	s   *Server
	w   http.ResponseWriter
	r   *http.Request
	out format // the response format
}

// Routes lists the method and pattern of every route, as registered.
func (s *Server) Routes() [][2]string {
	out := make([][2]string, len(s.routes))
	for i, rt := range s.routes {
		out[i] = [2]string{rt.method, rt.pattern}
	}
	return out
}

func (s *Server) routeTable() []route {
	return []route{
		{"GET", "/health", true, (*call).health},
		{"GET", "/health/ready", true, (*call).ready},
		{"GET", "/metrics", false, s.promHandler()},
		{"GET", "/api/v1/health", true, (*call).healthDetail},
		{"GET", "/api/v1/version", true, (*call).versionInfo},
		{"GET", "/api/v1/openapi.json", true, (*call).openAPI},
		{"GET", "/api/v1/metrics", true, (*call).systemMetrics},
		{"GET", "/api/v1/disruptors", true, (*call).listDisruptors},
		{"POST", "/api/v1/disruptors", true, (*call).createDisruptor},
		{"GET", "/api/v1/disruptors/{name}", true, (*call).getDisruptor},
		{"DELETE", "/api/v1/disruptors/{name}", true, (*call).deleteDisruptor},
		{"GET", "/api/v1/disruptors/{name}/state", true, (*call).getState},
		{"PUT", "/api/v1/disruptors/{name}/state", true, (*call).putState},
		{"GET", "/api/v1/disruptors/{name}/metrics", true, (*call).disruptorMetrics},
		{"POST", "/api/v1/disruptors/{name}/events", true, (*call).publish},
		{"GET", "/api/v1/disruptors/{name}/events", true, (*call).replay},
		{"GET", "/api/v1/disruptors/{name}/events/stream", false, (*call).stream},
		{"GET", "/api/v1/disruptors/{name}/events/{seq}", true, (*call).getEvent},
		{"POST", "/api/v1/events", true, (*call).publishMulti},
	}
}

func (s *Server) promHandler() func(*call) {
	h := promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{DisableCompression: true, ErrorHandling: promhttp.ContinueOnError})
	return func(c *call) { h.ServeHTTP(c.w, c.r) }
}

// endpoint adapts a route to an http.Handler.
func (s *Server) endpoint(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &call{s: s, w: w, r: r}
		if rt.negotiate {
			f, ok := negotiate(r.Header.Get("Accept"))
			if !ok {
				c.fail(newError(CodeNotAcceptable, "none of the media types in Accept is served",
					map[string]any{"supported": []string{"application/json", "application/yaml", "application/msgpack"}}))
				return
			}
			c.out = f
		}
		rt.handle(c)
	})
}

// dispatch routes a request, answering unknown paths and methods with the
// error envelope rather than the mux's plain text.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); pattern == "" {
		s.unmatched.ServeHTTP(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// noRoute answers a request that matches no route: 405 when the path has
// routes for other methods, 404 otherwise.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
	h, _ := s.mux.Handler(r)
	rec := &headerRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	c := &call{s: s, w: w, r: r}
	if f, ok := negotiate(r.Header.Get("Accept")); ok {
		c.out = f
	}
	switch rec.status {
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", rec.header.Get("Allow"))
		c.fail(newError(CodeMethodNotAllowed, fmt.Sprintf("%s is not allowed on %s", r.Method, r.URL.Path),
			map[string]any{"allow": strings.Split(rec.header.Get("Allow"), ", ")}))
	case http.StatusMovedPermanently, http.StatusPermanentRedirect, http.StatusTemporaryRedirect, http.StatusFound:
		h.ServeHTTP(w, r)
	default:
		c.fail(errorf(CodeNotFound, "no route for %s %s", r.Method, r.URL.Path))
	}
}

// headerRecorder captures what the mux's own 404 and 405 handlers write.
type headerRecorder struct {
	header http.Header
	status int
}

func (h *headerRecorder) Header() http.Header { return h.header }
func (h *headerRecorder) Write(p []byte) (int, error) {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	return len(p), nil
}
func (h *headerRecorder) WriteHeader(code int) {
	if h.status == 0 {
		h.status = code
	}
}
