package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/badbatch/badbatch/internal/version"
	"github.com/badbatch/badbatch/wire"
)

// Encoding is the format of request and response bodies.
type Encoding uint8

// The encodings. Streams are always JSON (SSE or NDJSON).
const (
	EncodingJSON    Encoding = iota // application/json, the default
	EncodingMsgpack                 // application/msgpack
)

func (e Encoding) String() string {
	if e == EncodingMsgpack {
		return "msgpack"
	}
	return "json"
}

func (e Encoding) mediaType() string {
	if e == EncodingMsgpack {
		return "application/msgpack"
	}
	return "application/json"
}

// ParseEncoding maps "json" and "msgpack" (or "messagepack") to an
// Encoding.
func ParseEncoding(s string) (Encoding, error) {
	switch strings.ToLower(s) {
	case "json":
		return EncodingJSON, nil
	case "msgpack", "messagepack":
		return EncodingMsgpack, nil
	}
	return 0, fmt.Errorf("unknown encoding %q (want json or msgpack)", s)
}

// TLSConfig is how the client speaks HTTPS. Zero means the system's roots
// and no client certificate.
type TLSConfig struct {
	// CAFile is a PEM bundle of the CAs that sign the server's
	// certificate, used instead of the system's roots.
	CAFile string
	// CertFile and KeyFile are the PEM client certificate and key for
	// mutual TLS; give both or neither.
	CertFile, KeyFile string
	// InsecureSkipVerify accepts any server certificate. For tests only:
	// it lets anyone in the middle read and change the traffic.
	InsecureSkipVerify bool
	// ServerName overrides the name checked in the server's certificate.
	ServerName string
}

func (t TLSConfig) isZero() bool { return t == TLSConfig{} }

// Config is the client's configuration. Start from [DefaultConfig].
type Config struct {
	// Endpoint is the server's base URL, "http://127.0.0.1:8080" by
	// default. A URL without a scheme is taken as http://; a path prefix
	// (a server behind a proxy) is kept.
	Endpoint string
	// Timeout bounds each call, its retries included; zero means only the
	// context bounds it. For [Client.Tail] it bounds connecting (until the
	// response headers arrive), not the stream.
	Timeout time.Duration
	// HTTPClient sends the requests; nil means one of the client's own
	// (closed by [Client.Close]). When set, TLS must be zero: configure
	// its transport instead.
	HTTPClient *http.Client
	// APIKey, when set, is sent with every request as
	// "Authorization: Bearer <APIKey>". It is never logged or put in
	// errors.
	APIKey string
	// TLS configures HTTPS to the server.
	TLS TLSConfig
	// Encoding is the format of request and response bodies.
	Encoding Encoding
	// MaxRetries is how many times a call that is safe to repeat is
	// retried after a network error or a 429, 502, 503 or 504 answer.
	// Safe are GET, PUT and DELETE, and publishes with an idempotency key;
	// nothing else is ever retried. Zero means no retries.
	MaxRetries int
	// RetryWait is the wait before the first retry, doubled (with jitter)
	// for each next one up to RetryMaxWait. A server's Retry-After wins,
	// up to RetryMaxWait.
	RetryWait, RetryMaxWait time.Duration
	// UserAgent is sent with every request; empty means
	// "badbatch-client/<version>".
	UserAgent string
}

// DefaultEndpoint is where a server runs by default.
const DefaultEndpoint = "http://127.0.0.1:8080"

// DefaultConfig returns the defaults: the local server, JSON, a 30 s
// timeout and up to 3 retries starting at 100 ms.
func DefaultConfig() Config {
	return Config{
		Endpoint:     DefaultEndpoint,
		Timeout:      30 * time.Second,
		MaxRetries:   3,
		RetryWait:    100 * time.Millisecond,
		RetryMaxWait: 2 * time.Second,
	}
}

// Client is a typed client of the BadBatch REST API. Create it with [New];
// it is safe for concurrent use. Every call takes a context, and returns
// the server's errors as [*Error] (match codes with errors.Is and the
// [Code] sentinels).
type Client struct {
	cfg   Config
	base  *url.URL
	hc    *http.Client
	owned *http.Transport // the client's own transport, closed by Close
	ua    string
}

// New returns a client for cfg. Bad settings are [*ConfigError]s naming
// the field.
func New(cfg Config) (*Client, error) {
	if cfg.Endpoint == "" {
		cfg.Endpoint = DefaultEndpoint
	}
	base, err := parseEndpoint(cfg.Endpoint)
	if err != nil {
		return nil, &ConfigError{Field: "Endpoint", Err: err}
	}
	if cfg.Timeout < 0 {
		return nil, &ConfigError{Field: "Timeout", Err: errors.New("must not be negative")}
	}
	if cfg.Encoding > EncodingMsgpack {
		return nil, &ConfigError{Field: "Encoding", Err: fmt.Errorf("unknown encoding %d", cfg.Encoding)}
	}
	if cfg.RetryWait <= 0 {
		cfg.RetryWait = 100 * time.Millisecond
	}
	if cfg.RetryMaxWait < cfg.RetryWait {
		cfg.RetryMaxWait = max(cfg.RetryWait, 2*time.Second)
	}
	c := &Client{cfg: cfg, base: base, hc: cfg.HTTPClient, ua: cfg.UserAgent}
	if c.ua == "" {
		c.ua = "badbatch-client/" + version.Get().Version
	}
	if c.hc == nil {
		tc, err := cfg.TLS.build()
		if err != nil {
			return nil, err
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = tc
		tr.MaxIdleConnsPerHost = 64
		tr.ForceAttemptHTTP2 = true
		c.owned = tr
		c.hc = &http.Client{Transport: tr}
	} else if !cfg.TLS.isZero() {
		return nil, &ConfigError{Field: "TLS", Err: errors.New("set TLS on the HTTPClient's transport when giving an HTTPClient")}
	}
	return c, nil
}

// Close closes the idle connections of the client's own transport. The
// client stays usable.
func (c *Client) Close() error {
	if c.owned != nil {
		c.owned.CloseIdleConnections()
	}
	return nil
}

// Endpoint returns the server's base URL.
func (c *Client) Endpoint() string { return c.base.String() }

func parseEndpoint(s string) (*url.URL, error) {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a URL", s)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%q: the scheme must be http or https", s)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%q has no host", s)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("%q: want scheme://host:port[/path] only", s)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// build makes the tls.Config: TLS 1.2 at least.
func (t TLSConfig) build() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify, ServerName: t.ServerName} //nolint:gosec // asked for
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, &ConfigError{Field: "TLS.CAFile", Err: err}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, &ConfigError{Field: "TLS.CAFile", Err: fmt.Errorf("%s holds no PEM certificate", t.CAFile)}
		}
		tc.RootCAs = pool
	}
	switch {
	case t.CertFile != "" && t.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, &ConfigError{Field: "TLS.CertFile", Err: err}
		}
		tc.Certificates = []tls.Certificate{cert}
	case t.CertFile != "":
		return nil, &ConfigError{Field: "TLS.KeyFile", Err: errors.New("a client certificate needs its key")}
	case t.KeyFile != "":
		return nil, &ConfigError{Field: "TLS.CertFile", Err: errors.New("a client key needs its certificate")}
	}
	return tc, nil
}

// request is one API call.
type request struct {
	method string
	path   string // under the endpoint, escaped
	query  url.Values
	body   []byte // encoded in contentType
	ctype  string
	// idempotencyKey, when set, is sent as Idempotency-Key and makes a
	// POST safe to retry.
	idempotencyKey string
	accept         string // default: the client's encoding
	// raw keeps the response body undecoded: out must be *[]byte.
	raw bool
}

// url builds the request URL.
func (c *Client) url(path string, q url.Values) string {
	u := *c.base
	u.Path = c.base.Path + path
	u.RawPath = c.base.Path + path
	if len(q) > 0 {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// newHTTPRequest builds one attempt of r.
func (c *Client) newHTTPRequest(ctx context.Context, r *request) (*http.Request, error) {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, c.url(r.path, r.query), body)
	if err != nil {
		return nil, err
	}
	h := req.Header
	h.Set("User-Agent", c.ua)
	accept := r.accept
	if accept == "" {
		accept = c.cfg.Encoding.mediaType()
	}
	h.Set("Accept", accept)
	if r.body != nil {
		h.Set("Content-Type", r.ctype)
	}
	if r.idempotencyKey != "" {
		h.Set("Idempotency-Key", r.idempotencyKey)
	}
	if c.cfg.APIKey != "" {
		h.Set("Authorization", "Bearer "+c.cfg.APIKey)
	}
	return req, nil
}

// retryable reports whether r is safe to send again.
func (r *request) retryable() bool {
	switch r.method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions:
		return true
	}
	return r.idempotencyKey != ""
}

// retryAnswer reports whether an error answer may succeed on a retry:
// what the code table says of its code, or, for an answer that is not the
// API's envelope (a proxy's), whether its status is 429, 502, 503 or 504.
func retryAnswer(e *Error) bool {
	if e.Code != "" {
		return wire.Retryable(e.Code)
	}
	switch e.Status {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// do sends r, retrying it when that is safe, and decodes a 2xx response
// body into out (when out is not nil). It returns the final response's
// header.
func (c *Client) do(ctx context.Context, r *request, out any) (http.Header, error) {
	if c.cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.Timeout)
		defer cancel()
	}
	for attempt := 0; ; attempt++ {
		res, err := c.send(ctx, r)
		retry := r.retryable() && attempt < c.cfg.MaxRetries
		if err != nil {
			if !retry || ctx.Err() != nil {
				return nil, err
			}
			if werr := c.wait(ctx, attempt, 0); werr != nil {
				return nil, err
			}
			continue
		}
		if res.StatusCode >= 200 && res.StatusCode < 300 {
			err := decodeResponse(res, r, out)
			res.Body.Close()
			if err != nil {
				return nil, fmt.Errorf("client: %s %s: %w", r.method, r.path, err)
			}
			return res.Header, nil
		}
		apiErr := readError(res)
		res.Body.Close()
		if !retry || !retryAnswer(apiErr) {
			return nil, apiErr
		}
		if werr := c.wait(ctx, attempt, apiErr.RetryAfter); werr != nil {
			return nil, apiErr
		}
	}
}

// send makes one attempt.
func (c *Client) send(ctx context.Context, r *request) (*http.Response, error) {
	req, err := c.newHTTPRequest(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("client: %s %s: %w", r.method, r.path, ctx.Err())
		}
		return nil, fmt.Errorf("client: %s %s: %w", r.method, r.path, unwrapURLError(err))
	}
	return res, nil
}

// unwrapURLError drops *url.Error's repetition of the method and URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// wait sleeps before retry number attempt+1: the server's Retry-After
// when given, else exponential backoff with jitter; both capped.
func (c *Client) wait(ctx context.Context, attempt int, retryAfter time.Duration) error {
	d := retryAfter
	if d <= 0 {
		d = c.cfg.RetryWait << min(attempt, 16)
		d = d/2 + rand.N(d/2+1)
	}
	d = min(d, c.cfg.RetryMaxWait)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 1 << 20

// readError turns a non-2xx response into an *Error.
func readError(res *http.Response) *Error {
	e := &Error{Status: res.StatusCode, RequestID: res.Header.Get("X-Request-Id")}
	if ra := res.Header.Get("Retry-After"); ra != "" {
		if s, err := strconv.Atoi(ra); err == nil && s >= 0 {
			e.RetryAfter = time.Duration(s) * time.Second
		} else if t, err := http.ParseTime(ra); err == nil {
			e.RetryAfter = max(time.Until(t), 0)
		}
	}
	b, _ := io.ReadAll(io.LimitReader(res.Body, maxErrorBody))
	var env struct {
		Error *struct {
			Code    string         `json:"code"`
			Message string         `json:"message"`
			Details map[string]any `json:"details"`
		} `json:"error"`
	}
	if err := unmarshal(mediaType(res), b, &env); err == nil && env.Error != nil && env.Error.Code != "" {
		e.Code, e.Message, e.Details = env.Error.Code, env.Error.Message, env.Error.Details
		return e
	}
	msg := strings.TrimSpace(string(b))
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	if msg == "" {
		msg = "no error body"
	}
	e.Message = msg
	return e
}

func mediaType(res *http.Response) string {
	mt, _, err := mime.ParseMediaType(res.Header.Get("Content-Type"))
	if err != nil {
		return ""
	}
	return mt
}

// decodeResponse decodes a successful response into out.
func decodeResponse(res *http.Response, r *request, out any) error {
	if out == nil || res.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
		return nil
	}
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return fmt.Errorf("reading the response: %w", err)
	}
	if r.raw {
		*out.(*[]byte) = b
		return nil
	}
	return unmarshal(mediaType(res), b, out)
}
