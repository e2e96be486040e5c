package api

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// admit authenticates the request, applies the client's rate limit and
// checks rt's permission, in that order; on refusal it answers (401, 429
// or 403) and returns false. It sets c.id.
func (c *call) admit(rt route) bool {
	s := c.s
	perm := rt.perm
	if perm == PermMetrics && s.cfg.MetricsPublic {
		perm = PermPublic
	}
	id, failure := s.auth.authenticate(c.r)
	if perm == PermPublic && failure != failNone {
		id, failure = nil, failNone // public: bad credentials are ignored
	}
	c.id = id
	switch {
	case rt.probe:
		// Health probes draw on no bucket.
	case id == nil || failure != failNone:
		// Requests without valid credentials, guesses included, draw on
		// their address's bucket.
		if !c.limit("addr:" + remoteHost(c.r)) {
			return false
		}
	default:
		if !c.limit(id.bucket) {
			return false
		}
	}
	if perm == PermPublic {
		return true
	}
	if failure != failNone {
		c.unauthorized(failure)
		return false
	}
	if !id.role.Allows(perm) {
		msg := fmt.Sprintf("role %s may not call %s %s (it needs the %s permission)", id.role, rt.method, rt.pattern, perm)
		if id.role == "" {
			msg = fmt.Sprintf("%s has no role (no client_certs entry matches)", id.name)
		}
		c.deny(newError(CodeForbidden, msg, map[string]any{"role": string(id.role), "permission": perm.String()}), "forbidden_role")
		return false
	}
	if strings.Contains(rt.pattern, "{name}") && !c.permits(c.r.PathValue("name")) {
		return false
	}
	if rw := findResponseWriter(c.w); rw != nil {
		rw.principal, rw.role = id.name, id.role
		rw.audit = perm >= PermOperate ||
			(s.auth.on && (id.role == RoleAdmin || id.role == RoleOperator) && !safeMethod(c.r.Method))
	}
	return true
}

// permits checks that the client may use disruptor name, answering 403
// when not.
func (c *call) permits(name string) bool {
	if c.id != nil && c.id.permits(name) {
		return true
	}
	who := "anonymous"
	if c.id != nil {
		who = c.id.name
	}
	c.deny(newError(CodeForbidden, fmt.Sprintf("%s may not use disruptor %q", who, name),
		map[string]any{"disruptor": name}), "forbidden_disruptor")
	return false
}

// visible reports whether the client may see disruptor name in lists,
// system metrics and health: anonymous callers of public routes see none.
func (c *call) visible(name string) bool {
	return c.id != nil && c.id.role.Allows(PermView) && c.id.permits(name)
}

// bucket is the rate limit and stream quota the request draws on.
func (c *call) bucket() string {
	if c.id != nil {
		return c.id.bucket
	}
	return "addr:" + remoteHost(c.r)
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// limit takes a token from bucket, or answers 429 RATE_LIMITED with
// Retry-After and returns false.
func (c *call) limit(bucket string) bool {
	d := c.s.limits.wait(bucket, time.Now())
	if d == 0 {
		return true
	}
	ra := retryAfterSeconds(d)
	c.w.Header().Set("Retry-After", ra)
	n, _ := strconv.Atoi(ra)
	c.deny(newError(CodeRateLimited, fmt.Sprintf("over the rate limit of %g requests per second; retry in %s s", c.s.cfg.RateLimit, ra),
		map[string]any{"retry_after_seconds": n, "limit_per_second": c.s.cfg.RateLimit, "burst": c.s.cfg.RateBurst}), "rate_limited")
	return false
}

// unauthorized answers 401 with a WWW-Authenticate challenge. The
// message never repeats what the client sent.
func (c *call) unauthorized(f authFailure) {
	var msg, challenge string
	switch f {
	case failMalformed:
		msg = "malformed credentials: send one key as Authorization: Bearer <key> or X-API-Key: <key>"
		challenge = `Bearer realm="badbatch", error="invalid_request"`
	case failUnknown:
		msg = "the API key is not valid"
		challenge = `Bearer realm="badbatch", error="invalid_token"`
	case failExpired:
		msg = "the API key has expired"
		challenge = `Bearer realm="badbatch", error="invalid_token", error_description="expired"`
	default:
		msg = "authentication required: send Authorization: Bearer <key>, X-API-Key: <key>, or a client certificate"
		challenge = `Bearer realm="badbatch"`
	}
	c.w.Header().Set("WWW-Authenticate", challenge)
	c.deny(newError(CodeUnauthorized, msg, map[string]any{"reason": string(f)}), string(f))
}

// deny answers a refusal and marks the request for the audit log.
func (c *call) deny(e *Error, reason string) {
	if rw := findResponseWriter(c.w); rw != nil {
		rw.audit, rw.denied = true, reason
		if c.id != nil {
			rw.principal, rw.role = c.id.name, c.id.role
		}
	}
	c.fail(e)
}

// findResponseWriter finds observe's responseWriter under w's wrappers.
func findResponseWriter(w http.ResponseWriter) *responseWriter {
	for w != nil {
		if rw, ok := w.(*responseWriter); ok {
			return rw
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return nil
		}
		w = u.Unwrap()
	}
	return nil
}

// logAudit writes the audit line of a request observe marked. It names
// the key, never the key itself.
func (s *Server) logAudit(r *http.Request, rw *responseWriter, rid, route string, status int) {
	outcome := "allowed"
	if rw.denied != "" || status >= 400 {
		outcome = "denied"
		if rw.denied == "" {
			outcome = "failed"
		}
	}
	principal := rw.principal
	if principal == "" {
		principal = "anonymous"
	}
	attrs := []slog.Attr{
		slog.String("request_id", rid),
		slog.String("principal", principal),
		slog.String("role", string(rw.role)),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.String("route", route),
		slog.Int("status", status),
		slog.String("outcome", outcome),
		slog.String("remote", r.RemoteAddr),
	}
	if rw.denied != "" {
		attrs = append(attrs, slog.String("reason", rw.denied))
	}
	if name := r.PathValue("name"); name != "" {
		attrs = append(attrs, slog.String("disruptor", name))
	}
	level := slog.LevelInfo
	if outcome == "denied" {
		level = slog.LevelWarn
	}
	s.audit.LogAttrs(r.Context(), level, "audit", attrs...)
}

// ---- response headers ----

// Security headers every response carries. The slices are shared and
// never appended to (len == cap), so assigning them costs nothing.
var (
	hdrNosniff = []string{"nosniff"}
	hdrDeny    = []string{"DENY"}
	hdrCSP     = []string{"default-src 'none'; frame-ancestors 'none'"}
	hdrNoRef   = []string{"no-referrer"}
	hdrHSTS    = []string{"max-age=63072000"}
)

// securityHeaders sets the headers that keep browsers from sniffing,
// framing or leaking responses, and HSTS over TLS.
func securityHeaders(h http.Header, overTLS bool) {
	h["X-Content-Type-Options"] = hdrNosniff
	h["X-Frame-Options"] = hdrDeny
	h["Content-Security-Policy"] = hdrCSP
	h["Referrer-Policy"] = hdrNoRef
	if overTLS {
		h["Strict-Transport-Security"] = hdrHSTS
	}
}

// CORSConfig lets browsers on other origins call the API. The zero value
// is off: no CORS headers, and browsers keep other origins out.
type CORSConfig struct {
	// AllowedOrigins are the origins allowed, as scheme://host[:port]
	// ("https://dash.example.com"); "*" allows any origin.
	AllowedOrigins []string
	// MaxAge is how long a browser may cache a preflight answer; 0 means
	// 10 minutes.
	MaxAge time.Duration
}

func (c CORSConfig) validate(bad func(field string, v any, reason string)) {
	for i, o := range c.AllowedOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			bad(fmt.Sprintf("cors.allowed_origins[%d]", i), o, `must be "*" or scheme://host[:port]`)
		}
	}
	if c.MaxAge < 0 {
		bad("cors.max_age", c.MaxAge, "must not be negative")
	}
}

// corsPolicy answers CORS requests; nil is off.
type corsPolicy struct {
	any     bool
	origins map[string]bool
	maxAge  []string
}

func newCORSPolicy(c CORSConfig) *corsPolicy {
	if len(c.AllowedOrigins) == 0 {
		return nil
	}
	p := &corsPolicy{origins: map[string]bool{}}
	for _, o := range c.AllowedOrigins {
		if o == "*" {
			p.any = true
		}
		p.origins[strings.TrimSuffix(o, "/")] = true
	}
	age := c.MaxAge
	if age == 0 {
		age = 10 * time.Minute
	}
	p.maxAge = []string{strconv.Itoa(int(age / time.Second))}
	return p
}

var (
	corsMethods = []string{"GET, HEAD, POST, PUT, DELETE"}
	corsHeaders = []string{"Authorization, X-API-Key, Content-Type, Content-Encoding, Accept, Idempotency-Key, X-Request-Id, Last-Event-ID, traceparent, tracestate"}
	corsExpose  = []string{"X-Request-Id, Retry-After, Location, Idempotent-Replayed, WWW-Authenticate"}
)

// apply sets the CORS headers of a response to r, and reports whether r
// is a preflight request, which it has answered.
func (p *corsPolicy) apply(w http.ResponseWriter, r *http.Request) (preflight bool) {
	origin := r.Header.Get("Origin")
	if p == nil || origin == "" {
		return false
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	allowed := p.any || p.origins[origin]
	if allowed {
		if p.any {
			h.Set("Access-Control-Allow-Origin", "*")
		} else {
			h.Set("Access-Control-Allow-Origin", origin)
		}
		h["Access-Control-Expose-Headers"] = corsExpose
	}
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		return false
	}
	if allowed {
		h["Access-Control-Allow-Methods"] = corsMethods
		h["Access-Control-Allow-Headers"] = corsHeaders
		h["Access-Control-Max-Age"] = p.maxAge
	}
	w.WriteHeader(http.StatusNoContent)
	return true
}
