package api

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
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
	"github.com/badbatch/badbatch/internal/errwalk"
	"github.com/badbatch/badbatch/internal/version"
)

// Config is the server's configuration. Start from [DefaultConfig].
type Config struct {
	// Addr is the address to listen on, host:port.
	Addr string
	// MaxBodyBytes bounds a publish body, after decompression; YAML
	// bodies get 1/64 of it (yaml.v3's node tree costs some 120 bytes per
	// byte), and the other bodies at most 1 MiB.
	MaxBodyBytes int64
	// MaxCompressionRatio bounds how much a gzip body may decompress:
	// to at most this many times the bytes read of it, plus a MiB; 0
	// means no bound but MaxBodyBytes.
	MaxCompressionRatio int64
	// MaxInflightBodyBytes is the server-wide memory budget of request
	// bodies in flight: their buffers and what decoding them costs (one
	// body at the limit may take up to 2.5 times MaxBodyBytes). A request
	// that finds it spent waits up to a second, then gets 503 OVERLOADED.
	// 0 means 4 times MaxBodyBytes; -1 means no budget.
	MaxInflightBodyBytes int64
	// MaxSpinningConsumers caps the consumers of busy_spin and yielding
	// disruptors, which burn a core each while idle; a create past it is
	// 409 SPIN_LIMIT_REACHED. 0 means GOMAXPROCS (the cores the process
	// may use).
	MaxSpinningConsumers int
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
	// ClusterNode, when set, makes the server a cluster member: it serves
	// /api/v1/cluster/*, /api/v1/health shows the cluster's health (and
	// readiness only this node's membership: ready.go), the disruptors it
	// hosts are advertised to the cluster, and a request
	// about a disruptor hosted on another node goes to that node through
	// ClusterForwarder. The caller starts the node, and leaves it after
	// Shutdown. Nil means standalone: the cluster routes answer 404
	// CLUSTER_DISABLED. docs/cluster.md shows the wiring.
	ClusterNode ClusterNode
	// ClusterForwarder goes with ClusterNode. Give its configuration
	// [ForwardErrorHandler], so that its errors have the API's envelope.
	ClusterForwarder ClusterForwarder
	// Replication, when set, serves the disruptors created with
	// "replication": "quorum" through the Raft group (api/replication.go);
	// *[replication.Node] implements it. Needs ClusterNode, to find the
	// leader's API address.
	Replication ReplicationNode

	// Security: docs/security.md describes the model.

	// TLS, when its CertFile is set, serves HTTPS (TLS 1.2 or later) and
	// optionally requires client certificates.
	TLS TLSConfig
	// Keys are the API keys clients present as "Authorization: Bearer
	// KEY" or "X-API-Key: KEY". Authentication is on when Keys or
	// ClientCerts has an entry; when it is off every client is an
	// anonymous admin, which [Config.Validate] allows only on a loopback
	// Addr unless Insecure is set.
	Keys []Key
	// ClientCerts map verified client certificates (TLS.ClientCAFile) to
	// grants by subject common name.
	ClientCerts []ClientCert
	// Insecure allows serving a non-loopback Addr with authentication
	// off. It is the --insecure flag of `badbatch server`.
	Insecure bool
	// MetricsPublic serves GET /metrics without credentials; otherwise
	// it needs the view permission (reader, operator, admin).
	MetricsPublic bool
	// RateLimit is the requests per second each client may make (a token
	// bucket per key, per certificate identity, or per remote address
	// without credentials); 0 means no limit. RateBurst is the bucket's
	// size. Over the limit a request is answered 429 RATE_LIMITED with
	// Retry-After.
	RateLimit float64
	RateBurst int
	// MaxStreamsPerKey bounds the live streams (tails) one client holds
	// open at once; 0 means no limit. Over it a stream is refused with 429
	// TOO_MANY_SUBSCRIBERS.
	MaxStreamsPerKey int
	// CORS answers browsers from other origins; off unless
	// CORS.AllowedOrigins has an entry.
	CORS CORSConfig
	// AuditLogger receives an "audit" line for every operator or admin
	// action and every denied request. Nil means Logger.
	AuditLogger *slog.Logger
}

// DefaultConfig returns the embedded defaults: 127.0.0.1:8080 over plain
// HTTP without authentication (loopback only), 16 MiB bodies that
// decompress at most 100 times, 64 MiB of bodies in flight, replay pages
// of 100 (up to 10000) events, 32 streams per client, no rate limit.
func DefaultConfig() Config {
	return Config{
		Addr:                "127.0.0.1:8080",
		MaxBodyBytes:        16 << 20,
		MaxCompressionRatio: 100,
		ReplayDefaultLimit:  100,
		ReplayMaxLimit:      10_000,
		ListDefaultLimit:    100,
		ListMaxLimit:        1000,
		ReadHeaderTimeout:   10 * time.Second,
		ReadTimeout:         time.Minute,
		WriteTimeout:        time.Minute,
		IdleTimeout:         2 * time.Minute,
		StreamHeartbeat:     15 * time.Second,
		StreamWriteTimeout:  10 * time.Second,
		StreamBatch:         256,
		GzipMinBytes:        1024,
		RateBurst:           50,
		MaxStreamsPerKey:    32,
	}
}

// ConfigError is one invalid setting of a [Config]. Field is spelled as in
// the configuration file, relative to its section: "addr", "tls.cert_file",
// "keys[2].role".
type ConfigError struct {
	Field  string
	Value  any
	Reason string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("api: invalid %s %v: %s", e.Field, e.Value, e.Reason)
}

// ConfigErrors unwraps the [*ConfigError]s of an error from
// [Config.Validate] or [New].
func ConfigErrors(err error) []*ConfigError { return errwalk.All[*ConfigError](err) }

// inflightBudget is MaxInflightBodyBytes with its default applied: the
// bytes of the in-flight body budget, 0 for none.
func (c Config) inflightBudget() int64 {
	switch c.MaxInflightBodyBytes {
	case 0:
		return 4 * c.MaxBodyBytes
	case -1:
		return 0
	}
	return c.MaxInflightBodyBytes
}

// authOn reports whether the configuration authenticates clients.
func (c Config) authOn() bool { return len(c.Keys) > 0 || len(c.ClientCerts) > 0 }

// Validate returns every problem with c at once, as [*ConfigError]s, or
// nil. It reads no files: [New] loads the TLS files.
func (c Config) Validate() error {
	var errs []error
	bad := func(field string, v any, reason string) {
		errs = append(errs, &ConfigError{Field: field, Value: v, Reason: reason})
	}
	if c.Addr == "" {
		bad("addr", c.Addr, "must be host:port")
	} else if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		bad("addr", c.Addr, "must be host:port")
	} else if !c.authOn() && !c.Insecure && !isLoopback(c.Addr) {
		bad("addr", c.Addr, "is not a loopback address and authentication is off: configure API keys or client certificates, or set insecure (--insecure) to serve everyone as admin")
	}
	if c.MaxBodyBytes <= 0 {
		bad("max_body_bytes", c.MaxBodyBytes, "must be positive")
	}
	if c.MaxSpinningConsumers < 0 {
		bad("max_spinning_consumers", c.MaxSpinningConsumers, "must not be negative (0 for the cores)")
	}
	if c.MaxCompressionRatio < 0 {
		bad("max_compression_ratio", c.MaxCompressionRatio, "must not be negative (0 for no bound)")
	}
	if c.MaxInflightBodyBytes < -1 || c.MaxInflightBodyBytes > 0 && c.MaxInflightBodyBytes < 3*c.MaxBodyBytes {
		bad("max_inflight_body_bytes", c.MaxInflightBodyBytes, "must be at least 3 times max_body_bytes (0: 4 times it, -1: no budget)")
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
	c.TLS.validate(bad)
	c.validateAuth(bad)
	if c.RateLimit < 0 || math.IsNaN(c.RateLimit) || math.IsInf(c.RateLimit, 0) {
		bad("rate_limit", c.RateLimit, "must be a number of requests per second, 0 for no limit")
	}
	if c.RateLimit > 0 && c.RateBurst < 1 {
		bad("rate_burst", c.RateBurst, "must be at least 1 when rate_limit is set")
	}
	if c.MaxStreamsPerKey < 0 {
		bad("max_streams_per_key", c.MaxStreamsPerKey, "must not be negative (0 for no limit)")
	}
	c.CORS.validate(bad)
	if (c.ClusterNode == nil) != (c.ClusterForwarder == nil) {
		bad("cluster", c.ClusterNode != nil, "ClusterNode and ClusterForwarder go together")
	}
	return errors.Join(errs...)
}

// validateAuth checks the keys and certificate mappings.
func (c Config) validateAuth(bad func(field string, v any, reason string)) {
	grant := func(field string, g Grant) {
		switch {
		case !g.Role.valid():
			bad(field+".role", g.Role, "must be admin, operator, publisher or reader")
		case g.Role.scoped() && len(g.Disruptors) == 0:
			bad(field+".disruptors", g.Disruptors, `a publisher or reader must list the disruptors it may use (glob patterns; "*" for all)`)
		case !g.Role.scoped() && len(g.Disruptors) > 0:
			bad(field+".disruptors", g.Disruptors, "only publishers and readers are confined to disruptors")
		}
		if p, ok := invalidPattern(g.Disruptors); ok {
			bad(field+".disruptors", p, "is not a glob pattern")
		}
	}
	names, hashes := map[string]bool{}, map[[32]byte]bool{}
	for i, k := range c.Keys {
		field := fmt.Sprintf("keys[%d]", i)
		switch {
		case k.Name == "":
			bad(field+".name", k.Name, "is required: it names the key in logs")
		case names[k.Name]:
			bad(field+".name", k.Name, "is used twice")
		}
		names[k.Name] = true
		if h, ok := parseHash(k.Hash); !ok {
			bad(field+".hash", "<redacted>", `must be "sha256:" and 64 hex digits, as badbatch config hash-key prints`)
		} else if hashes[h] {
			bad(field+".hash", "<redacted>", "is the hash of another key")
		} else {
			hashes[h] = true
		}
		grant(field, k.Grant)
	}
	for i, cc := range c.ClientCerts {
		field := fmt.Sprintf("client_certs[%d]", i)
		if cc.CommonName == "" {
			bad(field+".common_name", cc.CommonName, "is required")
		} else if _, err := path.Match(cc.CommonName, ""); err != nil {
			bad(field+".common_name", cc.CommonName, "is not a glob pattern")
		}
		grant(field, cc.Grant)
	}
	if len(c.ClientCerts) > 0 && c.TLS.ClientCAFile == "" {
		bad("client_certs", len(c.ClientCerts), "need tls.client_ca_file (mutual TLS)")
	}
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
	cluster   *clusterHook    // nil: standalone
	repl      ReplicationNode // nil: no replication
	readWait  time.Duration   // maxReadWait

	budget *budget // request bodies in flight; nil: none
	// spinMu is held from the check of the spinning-consumer cap to the
	// end of the create it admits (spin.go).
	spinMu sync.Mutex

	// Security; all read-only after New but the counters inside.
	auth    *authenticator
	limits  *limiters // nil: no rate limit
	streamq *streamQuota
	tls     *tls.Config // nil: plain HTTP
	cors    *corsPolicy // nil: CORS off
	audit   *slog.Logger

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
		cfg:      cfg,
		eng:      eng,
		log:      cfg.Logger,
		reg:      cfg.Registry,
		mux:      http.NewServeMux(),
		started:  time.Now(),
		version:  cfg.Version,
		cluster:  newClusterHook(cfg),
		repl:     cfg.Replication,
		readWait: maxReadWait,
		closing:  make(chan struct{}),
		budget:   newBudget(cfg.inflightBudget()),
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
	if err := s.setupSecurity(cfg); err != nil {
		return nil, err
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
	if err := checkPermissions(s.routes); err != nil {
		return nil, err
	}
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
		TLSConfig:         s.tls,
	}
	s.advertise()
	return s, nil
}

// setupSecurity builds the authenticator, limiters, TLS and CORS from
// cfg.
func (s *Server) setupSecurity(cfg Config) error {
	s.auth = &authenticator{on: cfg.authOn(), certs: cfg.ClientCerts, now: time.Now}
	for _, k := range cfg.Keys {
		h, _ := parseHash(k.Hash) // validated
		s.auth.keys = append(s.auth.keys, keyEntry{hash: h, name: k.Name, expires: k.Expires, grant: k.Grant})
	}
	s.limits = newLimiters(cfg.RateLimit, cfg.RateBurst)
	s.streamq = &streamQuota{max: cfg.MaxStreamsPerKey, n: map[string]int{}}
	s.cors = newCORSPolicy(cfg.CORS)
	s.audit = cfg.AuditLogger
	if s.audit == nil {
		s.audit = s.log
	}
	if cfg.TLS.enabled() {
		t, err := cfg.TLS.load()
		if err != nil {
			return err
		}
		s.tls = t
	}
	switch {
	case !s.auth.on && !isLoopback(cfg.Addr):
		s.log.Warn("authentication is off on a non-loopback address (insecure): every client is an admin", "addr", cfg.Addr)
	case !s.auth.on:
		s.log.Info("authentication is off: every local client is an admin", "addr", cfg.Addr)
	case s.tls == nil && !isLoopback(cfg.Addr):
		s.log.Warn("API keys travel in clear text: serve TLS (security.tls) or put a TLS proxy in front", "addr", cfg.Addr)
	}
	return nil
}

// Handler is the server's whole HTTP handler, for tests and embedding.
func (s *Server) Handler() http.Handler { return s.handler }

// Registry is the registry GET /metrics serves.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// ErrInsecure is returned by [Server.Serve] for a listener that is not on
// loopback when authentication is off and [Config.Insecure] is not set.
var ErrInsecure = errors.New("api: refusing to serve a non-loopback address without authentication (set Insecure to allow it)")

// Serve accepts connections on ln until Shutdown, over TLS when
// [Config.TLS] is set. It returns http.ErrServerClosed after a Shutdown,
// and [ErrInsecure] at once when ln is not on loopback, authentication is
// off and Insecure is not set.
func (s *Server) Serve(ln net.Listener) error {
	if !s.auth.on && !s.cfg.Insecure && !isLoopback(ln.Addr().String()) {
		_ = ln.Close()
		return ErrInsecure
	}
	s.log.Info("serving", "addr", ln.Addr().String(), "tls", s.tls != nil, "auth", s.auth.on)
	if s.tls != nil {
		return s.srv.ServeTLS(ln, "", "")
	}
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
// routes, of their permissions and query parameters, and of what the
// OpenAPI and security document tests check.
type route struct {
	// perm is what a client needs to call the route. Routes whose
	// pattern has {name} are also held to a publisher's or reader's
	// disruptor patterns. It must be set: New refuses a route without.
	perm    Permission
	method  string
	pattern string
	// negotiate picks the response format from Accept before the
	// handler runs (so a 406 comes before any side effect).
	negotiate bool
	handle    func(*call)
	// query lists the query parameters the route takes; a request with
	// any other, or with one of them twice, is refused with 400
	// INVALID_PARAMETER before anything else happens.
	query []string
	// probe marks the health probes, which draw on no rate-limit bucket,
	// so that a client hammering the API with bad keys cannot make a
	// load balancer or the kubelet think the server is down.
	probe bool
	// read marks a read of one disruptor that may be asked to be fresh:
	// it takes consistent= and min_index= (readParams) besides query, and
	// the endpoint, not the handler, honours them for a replicated
	// disruptor (forwarding a consistent read to the leader, waiting, and
	// stamping X-Raft-Applied-Index), so that no read can forget to.
	read bool
}

// call is one request on its way through a handler.
type call struct {
	s   *Server
	w   http.ResponseWriter
	r   *http.Request
	out format // the response format
	// id is who sent the request: set by admission, nil for anonymous
	// callers of public routes.
	id *identity
	// buf is the request body read (readBody), and reserved its share of
	// the in-flight budget, both given back when the handler returns.
	buf      []byte
	reserved int64
}

// Routes lists the method and pattern of every route, as registered.
func (s *Server) Routes() [][2]string {
	out := make([][2]string, len(s.routes))
	for i, rt := range s.routes {
		out[i] = [2]string{rt.method, rt.pattern}
	}
	return out
}

// routeTable is every route. The first column is the permission the
// route requires (docs/security.md has the table by role); a new route
// must declare one.
func (s *Server) routeTable() []route {
	return []route{
		{perm: PermPublic, method: "GET", pattern: "/health", negotiate: true, handle: (*call).health, probe: true},
		{perm: PermPublic, method: "GET", pattern: "/health/ready", negotiate: true, handle: (*call).ready, probe: true},
		{perm: PermMetrics, method: "GET", pattern: "/metrics", handle: s.promHandler()},
		{perm: PermPublic, method: "GET", pattern: "/api/v1/health", negotiate: true, handle: (*call).healthDetail},
		{perm: PermPublic, method: "GET", pattern: "/api/v1/version", negotiate: true, handle: (*call).versionInfo},
		{perm: PermPublic, method: "GET", pattern: "/api/v1/openapi.json", negotiate: true, handle: (*call).openAPI},
		{perm: PermPublic, method: "GET", pattern: "/api/v1/auth/whoami", negotiate: true, handle: (*call).whoami},
		{perm: PermView, method: "GET", pattern: "/api/v1/metrics", negotiate: true, handle: (*call).systemMetrics},
		{perm: PermView, method: "GET", pattern: "/api/v1/disruptors", negotiate: true, handle: (*call).listDisruptors, query: []string{"limit", "state", "name", "after"}},
		{perm: PermOperate, method: "POST", pattern: "/api/v1/disruptors", negotiate: true, handle: (*call).createDisruptor},
		{perm: PermView, method: "GET", pattern: "/api/v1/disruptors/{name}", negotiate: true, handle: (*call).getDisruptor, read: true},
		{perm: PermOperate, method: "DELETE", pattern: "/api/v1/disruptors/{name}", negotiate: true, handle: (*call).deleteDisruptor},
		{perm: PermView, method: "GET", pattern: "/api/v1/disruptors/{name}/state", negotiate: true, handle: (*call).getState, read: true},
		{perm: PermOperate, method: "PUT", pattern: "/api/v1/disruptors/{name}/state", negotiate: true, handle: (*call).putState},
		{perm: PermOperate, method: "POST", pattern: "/api/v1/disruptors/{name}/purge", negotiate: true, handle: (*call).purge},
		{perm: PermView, method: "GET", pattern: "/api/v1/disruptors/{name}/metrics", negotiate: true, handle: (*call).disruptorMetrics},
		{perm: PermPublish, method: "POST", pattern: "/api/v1/disruptors/{name}/events", negotiate: true, handle: (*call).publish},
		{perm: PermRead, method: "GET", pattern: "/api/v1/disruptors/{name}/events", negotiate: true, handle: (*call).replay, query: []string{"from", "limit"}, read: true},
		{perm: PermRead, method: "GET", pattern: "/api/v1/disruptors/{name}/events/stream", handle: (*call).stream, query: []string{"from", "format", "on_lag"}, read: true},
		{perm: PermRead, method: "GET", pattern: "/api/v1/disruptors/{name}/events/{seq}", negotiate: true, handle: (*call).getEvent, read: true},
		// Each batch's disruptor is checked by the handler.
		{perm: PermPublish, method: "POST", pattern: "/api/v1/events", negotiate: true, handle: (*call).publishMulti},
		{perm: PermView, method: "GET", pattern: "/api/v1/cluster/members", negotiate: true, handle: (*call).clusterMembers},
		{perm: PermView, method: "GET", pattern: "/api/v1/cluster/health", negotiate: true, handle: (*call).clusterHealth},
		{perm: PermView, method: "GET", pattern: "/api/v1/cluster/raft", negotiate: true, handle: (*call).clusterRaft},
		{perm: PermAdmin, method: "POST", pattern: "/api/v1/cluster/join", negotiate: true, handle: (*call).clusterJoin},
		{perm: PermAdmin, method: "POST", pattern: "/api/v1/cluster/leave", negotiate: true, handle: (*call).clusterLeave},
		// The web console (console.go): public files; its API calls carry
		// the user's key.
		{perm: PermPublic, method: "GET", pattern: "/{$}", handle: (*call).toConsole},
		{perm: PermPublic, method: "GET", pattern: "/docs", handle: (*call).toDocs},
		{perm: PermPublic, method: "GET", pattern: "/ui/{file...}", handle: (*call).console},
	}
}

// checkPermissions fails when a route declares no permission.
func checkPermissions(routes []route) error {
	var errs []error
	for _, rt := range routes {
		if rt.perm == permUnset || rt.perm > PermAdmin {
			errs = append(errs, fmt.Errorf("api: route %s %s declares no permission", rt.method, rt.pattern))
		}
	}
	return errors.Join(errs...)
}

func (s *Server) promHandler() func(*call) {
	h := promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{DisableCompression: true, ErrorHandling: promhttp.ContinueOnError})
	return func(c *call) { h.ServeHTTP(c.w, c.r) }
}

// endpoint adapts a route to an http.Handler.
func (s *Server) endpoint(rt route) http.Handler {
	remote := s.cluster != nil && forwardable(rt.pattern)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &call{s: s, w: w, r: r}
		f, acceptable := negotiate(r.Header.Get("Accept"))
		if rt.negotiate && acceptable {
			c.out = f // also for a 401, 403 or 429
		}
		if !c.admit(rt) || !c.checkQuery(rt) {
			return
		}
		var fence readFence
		if rt.read {
			var ok bool
			if fence, ok = c.parseFence(); !ok {
				return
			}
		}
		if remote && (s.toLeader(w, r, fence.consistent) || s.forward(w, r)) {
			return
		}
		if rt.negotiate {
			if !acceptable {
				c.fail(newError(CodeNotAcceptable, "none of the media types in Accept is served",
					map[string]any{"supported": []string{"application/json", "application/yaml", "application/msgpack"}}))
				return
			}
		}
		defer c.releaseBody()
		name := r.PathValue("name")
		if (rt.read && !c.waitIndex(fence)) || !c.known(name) || (rt.read && !c.fence(name, fence)) {
			return
		}
		rt.handle(c)
	})
}

// params is every query parameter the route takes: its own, and a read's.
func (rt route) params() []string {
	out := append([]string{}, rt.query...)
	if rt.read {
		out = append(out, readParams...)
	}
	return out
}

// checkQuery refuses, with 400 INVALID_PARAMETER naming it, a query
// parameter the route does not declare or one given more than once, and a
// query string that does not parse: a misspelt parameter (?fromm=0) must
// not silently mean its default.
func (c *call) checkQuery(rt route) bool {
	if c.r.URL.RawQuery == "" {
		return true
	}
	q, err := url.ParseQuery(c.r.URL.RawQuery)
	if err != nil {
		c.fail(newError(CodeInvalidParameter, "the query string does not parse: "+err.Error(), map[string]any{"parameter": ""}))
		return false
	}
	allowed := rt.params()
	for _, name := range slices.Sorted(maps.Keys(q)) {
		switch {
		case !slices.Contains(allowed, name):
			c.fail(newError(CodeInvalidParameter, fmt.Sprintf("%s %s takes no query parameter %q", rt.method, rt.pattern, name),
				map[string]any{"parameter": name, "allowed": allowed}))
			return false
		case len(q[name]) > 1:
			c.fail(newError(CodeInvalidParameter, fmt.Sprintf("query parameter %q is given %d times", name, len(q[name])),
				map[string]any{"parameter": name}))
			return false
		}
	}
	return true
}

// dispatch routes a request, answering unknown paths and methods with the
// error envelope rather than the mux's plain text.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); pattern == "" || cleanPath(r.URL.Path) != r.URL.Path {
		s.unmatched.ServeHTTP(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// noRoute answers a request that matches no route: 405 when the path has
// routes for other methods, 404 otherwise.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
	c := &call{s: s, w: w, r: r}
	if f, ok := negotiate(r.Header.Get("Accept")); ok {
		c.out = f
	}
	if clean := cleanPath(r.URL.Path); clean != r.URL.Path {
		// The mux would redirect to the clean path; following such a
		// redirect could re-send a body to another resource than the
		// one named, so the path is refused instead.
		c.fail(newError(CodeNotFound, fmt.Sprintf("no route for %s %s: the path is not in canonical form", r.Method, r.URL.Path),
			map[string]any{"clean_path": clean}))
		return
	}
	h, _ := s.mux.Handler(r)
	rec := &headerRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	switch rec.status {
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", rec.header.Get("Allow"))
		c.fail(newError(CodeMethodNotAllowed, fmt.Sprintf("%s is not allowed on %s", r.Method, r.URL.Path),
			map[string]any{"allow": strings.Split(rec.header.Get("Allow"), ", ")}))
	default:
		c.fail(errorf(CodeNotFound, "no route for %s %s", r.Method, r.URL.Path))
	}
}

// cleanPath is p without empty, "." and ".." elements, as the mux would
// redirect to.
func cleanPath(p string) string {
	c := path.Clean("/" + p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
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
