package cluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"
)

// HeaderForwardedBy is set on a forwarded request to the id of the node
// that forwarded it. A node receiving a request with it must answer
// locally (or 404), never forward again: see [IsForwarded].
const HeaderForwardedBy = "X-Badbatch-Forwarded-By"

// IsForwarded reports whether another node already forwarded r.
func IsForwarded(r *http.Request) bool { return r.Header.Get(HeaderForwardedBy) != "" }

// Directory is what a [Forwarder] asks to find the nodes hosting a
// disruptor; [*Node] implements it. Its methods are called for every
// forwarded request, concurrently.
type Directory interface {
	// LocalID returns the local node's id.
	LocalID() string
	// Owners returns the members hosting the disruptor that may be routed
	// to (see [Member.Routable]); the local node, if among them, is marked
	// [Member.Local] and skipped by the Forwarder.
	Owners(disruptor string) []Member
	// Member returns the member with the id, if known.
	Member(id string) (Member, bool)
}

var _ Directory = (*Node)(nil)

// ForwardConfig configures a [Forwarder]. Start from
// [DefaultForwardConfig]. The field comments give the config keys used in
// validation errors.
type ForwardConfig struct {
	// DialTimeout (forward.dial_timeout_ms) bounds connecting to a peer,
	// TLS handshake included.
	DialTimeout time.Duration
	// ResponseHeaderTimeout (forward.response_header_timeout_ms) bounds
	// the wait for a peer's response headers after the request is sent.
	// The body is not bounded, so streams work.
	ResponseHeaderTimeout time.Duration
	// MaxAttempts (forward.max_attempts) is the most peers one request is
	// sent to: an idempotent request (GET, HEAD, OPTIONS, TRACE, PUT,
	// DELETE) that fails on one owner (transport error, 502, 503, 504) is
	// retried on the next, if the disruptor has another. Other methods
	// are sent once.
	MaxAttempts int
	// MaxRetryBody (forward.max_retry_body_bytes) is the largest request
	// body kept in memory so that an idempotent request can be sent again;
	// a request with a larger body is sent once.
	MaxRetryBody int64
	// BreakerFailures (forward.breaker_failures) consecutive failed
	// attempts on a peer open its circuit breaker: no request is sent to it
	// until BreakerOpenTimeout has passed.
	BreakerFailures uint32
	// BreakerOpenTimeout (forward.breaker_open_timeout_ms) is how long a
	// peer's breaker stays open before letting a trial request through
	// (half-open).
	BreakerOpenTimeout time.Duration
	// BreakerHalfOpenRequests (forward.breaker_half_open_requests) is how
	// many trial requests a half-open breaker lets through; when they all
	// succeed it closes.
	BreakerHalfOpenRequests uint32
	// TLSClientConfig is used for peers whose API scheme is https. Nil
	// means the system roots.
	TLSClientConfig *tls.Config
	// WrapTransport, when set, wraps the HTTP transport, e.g. with
	// OpenTelemetry's otelhttp.NewTransport so that each attempt is a client
	// span and carries its own traceparent. Without it the incoming W3C
	// trace headers (traceparent, tracestate, baggage) are passed on as
	// they are.
	WrapTransport func(http.RoundTripper) http.RoundTripper
	// ErrorHandler writes the response when forwarding fails; err is a
	// [*ForwardError]. Nil means a plain-text response with its Status.
	// The server sets it to write its JSON error body.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
}

// DefaultForwardConfig returns the defaults: 2 s to connect, 10 s for the
// response headers, 2 attempts, 1 MiB of body kept for retries, breakers
// that open after 5 consecutive failures for 10 s and try 1 request when
// half-open.
func DefaultForwardConfig() ForwardConfig {
	return ForwardConfig{
		DialTimeout:             2 * time.Second,
		ResponseHeaderTimeout:   10 * time.Second,
		MaxAttempts:             2,
		MaxRetryBody:            1 << 20,
		BreakerFailures:         5,
		BreakerOpenTimeout:      10 * time.Second,
		BreakerHalfOpenRequests: 1,
	}
}

// Validate returns every problem with c at once, joined with
// [ErrInvalidConfig], or nil.
func (c ForwardConfig) Validate() error {
	var errs configErrors
	if c.DialTimeout <= 0 {
		errs.add("forward.dial_timeout_ms", c.DialTimeout.Milliseconds(), "must be positive")
	}
	if c.ResponseHeaderTimeout <= 0 {
		errs.add("forward.response_header_timeout_ms", c.ResponseHeaderTimeout.Milliseconds(), "must be positive")
	}
	if c.MaxAttempts < 1 {
		errs.add("forward.max_attempts", c.MaxAttempts, "must be at least 1")
	}
	if c.MaxRetryBody < 0 {
		errs.add("forward.max_retry_body_bytes", c.MaxRetryBody, "must not be negative")
	}
	if c.BreakerFailures < 1 {
		errs.add("forward.breaker_failures", c.BreakerFailures, "must be at least 1")
	}
	if c.BreakerOpenTimeout <= 0 {
		errs.add("forward.breaker_open_timeout_ms", c.BreakerOpenTimeout.Milliseconds(), "must be positive")
	}
	if c.BreakerHalfOpenRequests < 1 {
		errs.add("forward.breaker_half_open_requests", c.BreakerHalfOpenRequests, "must be at least 1")
	}
	return errs.err()
}

// ForwardError is what a [Forwarder] passes to the
// [ForwardConfig.ErrorHandler], and what [Forwarder.Target] returns. It
// wraps one of [ErrNoOwner], [ErrCircuitOpen], [ErrPeerUnavailable] or
// [ErrForwardLoop].
type ForwardError struct {
	Status    int    // the HTTP status to answer with
	Disruptor string // the disruptor asked for
	Peer      string // the last peer tried, if any
	Err       error  // a sentinel, possibly joined with the cause
}

func (e *ForwardError) Error() string {
	if e.Peer != "" {
		return fmt.Sprintf("cluster: forwarding %q to %s: %v", e.Disruptor, e.Peer, e.Err)
	}
	return fmt.Sprintf("cluster: forwarding %q: %v", e.Disruptor, e.Err)
}

func (e *ForwardError) Unwrap() error { return e.Err }

// Forwarder sends requests for a disruptor hosted on another node to that
// node, as a reverse proxy (the response streams back through this node,
// with the client's Authorization and trace headers passed on), or answers
// with a 307 redirect to it. Only routable owners are used (alive, ready;
// see [Member.Routable]). Each peer has a circuit breaker, so that a sick
// node fails fast instead of slowing every request that would go to it;
// idempotent requests that fail on one owner are retried on another.
//
// Create it with [NewForwarder]; it is safe for concurrent use. Call
// [Forwarder.Close] when done.
type Forwarder struct {
	dir       Directory
	cfg       ForwardConfig
	log       *slog.Logger
	reg       prometheus.Registerer
	metrics   *forwardMetrics
	transport *http.Transport
	base      http.RoundTripper
	proxy     *httputil.ReverseProxy
	rr        atomic.Uint64 // rotates among owners

	mu       sync.Mutex
	breakers map[string]*peerBreaker // by id and URL
}

type peerBreaker struct {
	id       string
	url      string
	cb       *gobreaker.TwoStepCircuitBreaker[struct{}]
	lastUsed atomic.Int64 // Unix nanoseconds
}

// NewForwarder returns a Forwarder that finds owners in dir. It registers
// its metrics when [WithRegisterer] is given; [WithLogger] sets its logger.
func NewForwarder(dir Directory, cfg ForwardConfig, opts ...Option) (*Forwarder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	f := &Forwarder{dir: dir, cfg: cfg, log: o.logger, reg: o.reg, breakers: make(map[string]*peerBreaker)}
	if f.log == nil {
		f.log = discardLogger
	}
	f.transport = &http.Transport{
		// Peers are reached directly, never through an environment proxy.
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       cfg.TLSClientConfig,
		TLSHandshakeTimeout:   cfg.DialTimeout,
		ResponseHeaderTimeout: cfg.ResponseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
	}
	f.base = f.transport
	if cfg.WrapTransport != nil {
		f.base = cfg.WrapTransport(f.transport)
	}
	f.proxy = &httputil.ReverseProxy{
		Rewrite:      f.rewrite,
		Transport:    retryTransport{f},
		ErrorHandler: f.proxyError,
		ErrorLog:     log.New(slogWriter{f.log}, "cluster: forward: ", 0),
	}
	if f.reg != nil {
		f.metrics = newForwardMetrics(f)
		for i, c := range f.metrics.collectors() {
			if err := f.reg.Register(c); err != nil {
				for _, done := range f.metrics.collectors()[:i] {
					f.reg.Unregister(done)
				}
				return nil, fmt.Errorf("cluster: registering metrics: %w", err)
			}
		}
	}
	return f, nil
}

// Close closes idle connections to peers and unregisters the metrics.
func (f *Forwarder) Close() {
	f.transport.CloseIdleConnections()
	if f.metrics != nil {
		for _, c := range f.metrics.collectors() {
			f.reg.Unregister(c)
		}
	}
}

// target is one owner to try.
type target struct {
	id  string
	url *url.URL // scheme://host:port
	pb  *peerBreaker
}

// plan is a forwarded request's owners and retry rules, carried in its
// context from Forward to the transport.
type plan struct {
	disruptor string
	targets   []target
	retry     bool   // idempotent, and the body (if any) is kept
	body      []byte // the kept body; nil when there is none
	hasBody   bool
	peer      string // the last peer tried, set by the transport
	// private: the request came over TLS with credentials, which must
	// not be sent to a plain-HTTP owner.
	private bool
}

type planKey struct{}

// candidates returns the routable remote owners of the disruptor, rotated
// for load balancing, with the ones whose breaker is open last.
func (f *Forwarder) candidates(disruptor string) []target {
	var out []target
	for _, m := range f.dir.Owners(disruptor) {
		if m.Local || !m.Routable() {
			continue
		}
		out = append(out, f.target(m))
	}
	if len(out) > 1 {
		k := int(f.rr.Add(1) % uint64(len(out)))
		out = append(out[k:], out[:k]...)
		slices.SortStableFunc(out, func(a, b target) int {
			return int(a.pb.cb.State()) - int(b.pb.cb.State()) // closed, half-open, open
		})
	}
	return out
}

// target returns the member as a target, with its breaker.
func (f *Forwarder) target(m Member) target {
	scheme := m.APIScheme
	if scheme == "" {
		scheme = "http"
	}
	u := &url.URL{Scheme: scheme, Host: m.APIAddr}
	return target{id: m.ID, url: u, pb: f.breaker(m.ID, u.String())}
}

// breaker returns the circuit breaker of a peer, creating it.
func (f *Forwarder) breaker(id, u string) *peerBreaker {
	key := id + " " + u
	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	pb, ok := f.breakers[key]
	if !ok {
		if len(f.breakers) >= 256 { // forget peers unused for ten minutes
			for k, old := range f.breakers {
				if now.Sub(time.Unix(0, old.lastUsed.Load())) > 10*time.Minute {
					delete(f.breakers, k)
				}
			}
		}
		failures := f.cfg.BreakerFailures
		pb = &peerBreaker{id: id, url: u, cb: gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
			Name:        key,
			MaxRequests: f.cfg.BreakerHalfOpenRequests,
			Timeout:     f.cfg.BreakerOpenTimeout,
			ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
			IsExcluded:  func(err error) bool { return errors.Is(err, context.Canceled) },
			OnStateChange: func(_ string, from, to gobreaker.State) {
				f.log.Info("cluster: peer circuit breaker", slog.String("peer", id), slog.String("url", u),
					slog.String("from", from.String()), slog.String("to", to.String()))
			},
		})}
		f.breakers[key] = pb
	}
	pb.lastUsed.Store(now.UnixNano())
	return pb
}

// PeerStatus is the forwarding view of one peer: its API reachability as
// the circuit breaker sees it.
type PeerStatus struct {
	ID                  string `json:"id"`
	URL                 string `json:"url"`
	Circuit             string `json:"circuit"` // closed, half-open or open
	ConsecutiveFailures uint32 `json:"consecutive_failures"`
	Requests            uint32 `json:"requests"` // in the breaker's current window
}

// Peers returns the peers requests were forwarded to, sorted by id.
func (f *Forwarder) Peers() []PeerStatus {
	f.mu.Lock()
	pbs := make([]*peerBreaker, 0, len(f.breakers))
	for _, pb := range f.breakers {
		pbs = append(pbs, pb)
	}
	f.mu.Unlock()
	out := make([]PeerStatus, 0, len(pbs))
	for _, pb := range pbs {
		c := pb.cb.Counts()
		out = append(out, PeerStatus{ID: pb.id, URL: pb.url, Circuit: pb.cb.State().String(),
			ConsecutiveFailures: c.ConsecutiveFailures, Requests: c.Requests})
	}
	slices.SortFunc(out, func(a, b PeerStatus) int {
		if c := strings.Compare(a.ID, b.ID); c != 0 {
			return c
		}
		return strings.Compare(a.URL, b.URL)
	})
	return out
}

// idempotent reports whether a request may be sent twice (RFC 9110,
// section 9.2.2).
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// Forward sends r to a node hosting the disruptor and copies its response
// to w. It answers through the [ForwardConfig.ErrorHandler] when r was
// already forwarded (508), no other routable node hosts the disruptor
// (404), every owner's breaker is open (503), or the owners failed (502,
// 504 for a timeout). A 502, 503 or 504 response of the last owner tried
// is passed on as it is.
//
// The server calls it for a disruptor it does not host, unless
// [IsForwarded](r).
func (f *Forwarder) Forward(w http.ResponseWriter, r *http.Request, disruptor string) {
	if IsForwarded(r) {
		f.fail(w, r, &ForwardError{Status: http.StatusLoopDetected, Disruptor: disruptor, Err: ErrForwardLoop})
		return
	}
	f.forward(w, r, disruptor, f.candidates(disruptor))
}

// ForwardTo sends r, a request about the disruptor, to the member with
// the given id rather than to any node hosting the disruptor, and copies
// its response to w: a server uses it to send a change to the one node
// that may make it, such as a Raft leader. It fails as [Forwarder.Forward]
// does, with [ErrNoOwner] (404) when that member is unknown, local, or not
// routable; the request is never retried on another node.
func (f *Forwarder) ForwardTo(w http.ResponseWriter, r *http.Request, disruptor, id string) {
	if IsForwarded(r) {
		f.fail(w, r, &ForwardError{Status: http.StatusLoopDetected, Disruptor: disruptor, Err: ErrForwardLoop})
		return
	}
	var targets []target
	if m, ok := f.dir.Member(id); ok && !m.Local && m.Routable() {
		targets = []target{f.target(m)}
	}
	f.forward(w, r, disruptor, targets)
}

// forward sends r to the targets, in turn when it may be retried.
func (f *Forwarder) forward(w http.ResponseWriter, r *http.Request, disruptor string, targets []target) {
	if len(targets) == 0 {
		f.fail(w, r, &ForwardError{Status: http.StatusNotFound, Disruptor: disruptor, Err: ErrNoOwner})
		return
	}
	p := &plan{disruptor: disruptor, targets: targets,
		retry:   idempotent(r.Method) && len(targets) > 1 && f.cfg.MaxAttempts > 1 && r.Header.Get("Upgrade") == "",
		private: r.TLS != nil && hasCredentials(r.Header)}
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		p.hasBody = true
		if p.retry {
			if r.ContentLength > f.cfg.MaxRetryBody {
				p.retry = false
			} else {
				buf, err := io.ReadAll(io.LimitReader(r.Body, f.cfg.MaxRetryBody+1))
				if err != nil {
					f.fail(w, r, &ForwardError{Status: http.StatusBadRequest, Disruptor: disruptor,
						Err: fmt.Errorf("%w: reading the request body: %w", ErrPeerUnavailable, err)})
					return
				}
				if int64(len(buf)) > f.cfg.MaxRetryBody { // longer than announced: send it once
					p.retry = false
					r.Body = struct {
						io.Reader
						io.Closer
					}{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
				} else {
					p.body = buf
					r.Body = io.NopCloser(bytes.NewReader(buf))
				}
			}
		}
	}
	f.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), planKey{}, p)))
}

// rewrite points the outgoing request at the first owner and marks it.
func (f *Forwarder) rewrite(pr *httputil.ProxyRequest) {
	p, _ := pr.In.Context().Value(planKey{}).(*plan)
	pr.SetURL(p.targets[0].url)
	pr.SetXForwarded()
	pr.Out.Header.Set(HeaderForwardedBy, f.dir.LocalID())
}

// hasCredentials reports whether h carries a client's credentials.
func hasCredentials(h http.Header) bool {
	return h.Get("Authorization") != "" || h.Get("X-API-Key") != ""
}

// errPeerFailed marks an attempt the breaker counts as failed.
var errPeerFailed = errors.New("peer failed")

// peerFailure reports whether a status means the peer itself is in
// trouble, rather than answering about the request.
func peerFailure(status int) bool {
	return status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout
}

// retryTransport sends a forwarded request to its owners in turn, through
// their breakers.
type retryTransport struct{ f *Forwarder }

func (rt retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	f := rt.f
	p, _ := req.Context().Value(planKey{}).(*plan)
	if p == nil {
		return f.base.RoundTrip(req)
	}
	attempts := 0
	var lastErr error
	for i, t := range p.targets {
		if attempts >= f.cfg.MaxAttempts || (attempts > 0 && !p.retry) {
			break
		}
		if p.private && t.url.Scheme != "https" {
			f.log.Warn("cluster: not forwarding a TLS client's credentials to a plain-HTTP member", slog.String("peer", t.id), slog.String("url", t.url.String()))
			f.countAttempt("insecure")
			if lastErr == nil || errors.Is(lastErr, ErrCircuitOpen) {
				lastErr = ErrInsecurePeer
			}
			continue
		}
		done, err := t.pb.cb.Allow()
		if err != nil {
			f.countAttempt("rejected")
			if lastErr == nil {
				lastErr = ErrCircuitOpen
			}
			continue
		}
		attempts++
		p.peer = t.id
		out := req.Clone(req.Context())
		out.URL.Scheme, out.URL.Host, out.Host = t.url.Scheme, t.url.Host, ""
		if attempts > 1 && p.hasBody {
			out.Body = io.NopCloser(bytes.NewReader(p.body))
			out.ContentLength = int64(len(p.body))
		}
		resp, err := f.base.RoundTrip(out)
		if err != nil && req.Context().Err() != nil { // the client went away
			done(context.Canceled)
			return nil, err
		}
		if err == nil && !peerFailure(resp.StatusCode) {
			done(nil)
			f.countAttempt("ok")
			if attempts > 1 {
				f.countRequest("retried_ok")
			} else {
				f.countRequest("ok")
			}
			return resp, nil
		}
		done(errPeerFailed)
		f.countAttempt("failed")
		more := p.retry && attempts < f.cfg.MaxAttempts && i+1 < len(p.targets)
		if err != nil {
			f.log.Debug("cluster: forward attempt failed", slog.String("peer", t.id), slog.Any("error", err), slog.Bool("retrying", more))
			lastErr = err
		} else {
			f.log.Debug("cluster: forward attempt failed", slog.String("peer", t.id), slog.Int("status", resp.StatusCode), slog.Bool("retrying", more))
			if !more {
				f.countRequest("peer_error")
				return resp, nil // the peer's own answer
			}
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			lastErr = fmt.Errorf("%s answered %s", t.id, resp.Status)
		}
		if !more {
			break
		}
	}
	if attempts == 0 {
		if errors.Is(lastErr, ErrInsecurePeer) {
			return nil, ErrInsecurePeer
		}
		return nil, ErrCircuitOpen
	}
	return nil, lastErr
}

func (f *Forwarder) countAttempt(result string) {
	if f.metrics != nil {
		f.metrics.attempts.WithLabelValues(result).Inc()
	}
}

func (f *Forwarder) countRequest(result string) {
	if f.metrics != nil {
		f.metrics.requests.WithLabelValues(result).Inc()
	}
}

// proxyError turns the transport's failure into a [*ForwardError].
func (f *Forwarder) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	p, _ := r.Context().Value(planKey{}).(*plan)
	fe := &ForwardError{Status: http.StatusBadGateway, Err: fmt.Errorf("%w: %w", ErrPeerUnavailable, err)}
	if p != nil {
		fe.Disruptor, fe.Peer = p.disruptor, p.peer
	}
	var ne net.Error
	switch {
	case r.Context().Err() != nil:
		// The client is gone; nobody reads the answer.
		f.countRequest("canceled")
		return
	case errors.Is(err, ErrCircuitOpen):
		fe.Status, fe.Err = http.StatusServiceUnavailable, ErrCircuitOpen
	case errors.Is(err, ErrInsecurePeer):
		fe.Err = ErrInsecurePeer
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		fe.Status = http.StatusGatewayTimeout
	}
	f.fail(w, r, fe)
}

// fail counts the failure and writes it through the error handler.
func (f *Forwarder) fail(w http.ResponseWriter, r *http.Request, fe *ForwardError) {
	switch {
	case errors.Is(fe.Err, ErrForwardLoop):
		f.countRequest("loop")
	case errors.Is(fe.Err, ErrNoOwner):
		f.countRequest("no_owner")
	case errors.Is(fe.Err, ErrCircuitOpen):
		f.countRequest("circuit_open")
	case errors.Is(fe.Err, ErrInsecurePeer):
		f.countRequest("insecure_peer")
	default:
		f.countRequest("unavailable")
	}
	if f.cfg.ErrorHandler != nil {
		f.cfg.ErrorHandler(w, r, fe)
		return
	}
	http.Error(w, fe.Error(), fe.Status)
}

// Target returns the URL of a node hosting the disruptor for the request:
// the first owner, in rotation, whose breaker is not open, with r's path
// and query. It fails with a [*ForwardError] wrapping [ErrNoOwner] or
// [ErrCircuitOpen]. Use it to answer 307 yourself, or call
// [Forwarder.Redirect].
func (f *Forwarder) Target(r *http.Request, disruptor string) (*url.URL, error) {
	targets := f.candidates(disruptor)
	if len(targets) == 0 {
		return nil, &ForwardError{Status: http.StatusNotFound, Disruptor: disruptor, Err: ErrNoOwner}
	}
	for _, t := range targets {
		if t.pb.cb.State() != gobreaker.StateOpen {
			u := *t.url
			u.Path, u.RawPath, u.RawQuery = r.URL.Path, r.URL.RawPath, r.URL.RawQuery
			return &u, nil
		}
	}
	return nil, &ForwardError{Status: http.StatusServiceUnavailable, Disruptor: disruptor, Peer: targets[0].id, Err: ErrCircuitOpen}
}

// Redirect answers 307 Temporary Redirect to [Forwarder.Target], which
// keeps the method and body. Clients drop the Authorization header when
// they follow a redirect to another host, so they must send it again;
// forwarding ([Forwarder.Forward]) does not have that problem.
func (f *Forwarder) Redirect(w http.ResponseWriter, r *http.Request, disruptor string) {
	u, err := f.Target(r, disruptor)
	if err != nil {
		var fe *ForwardError
		errors.As(err, &fe)
		f.fail(w, r, fe)
		return
	}
	f.countRequest("redirected")
	http.Redirect(w, r, u.String(), http.StatusTemporaryRedirect)
}
