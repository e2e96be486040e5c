package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/badbatch/badbatch/engine"
)

// principal is one way of calling the API in the permission tests.
type principal struct {
	name   string
	role   Role // "" for the callers without valid credentials
	header map[string]string
}

// authFixture is a server with a key for every role, and the callers
// without valid credentials.
type authFixture struct {
	*testServer
	keys       map[Role]string // the keys themselves, to look for in logs
	principals []principal
	logs       *syncBuffer
}

// syncBuffer is a bytes.Buffer safe for the logger and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// scopedPatterns confine the publisher and reader keys: "acl" and the
// "acl-*" family, not "other".
var scopedPatterns = []string{"acl", "acl-*"}

func newAuthFixture(t *testing.T, opts ...serverOpt) *authFixture {
	t.Helper()
	f := &authFixture{keys: map[Role]string{}, logs: &syncBuffer{}}
	var keys []Key
	for _, role := range Roles {
		k := GenerateKey()
		f.keys[role] = k
		g := Grant{Role: role}
		if role.scoped() {
			g.Disruptors = scopedPatterns
		}
		keys = append(keys, Key{Name: string(role) + "-key", Hash: HashKey(k), Grant: g})
		f.principals = append(f.principals, principal{name: string(role), role: role,
			header: map[string]string{"Authorization": "Bearer " + k}})
	}
	expired := GenerateKey()
	f.keys["expired"] = expired
	keys = append(keys, Key{Name: "expired-key", Hash: HashKey(expired), Expires: time.Now().Add(-time.Minute),
		Grant: Grant{Role: RoleAdmin}})
	// The X-API-Key header works as well as Bearer.
	f.principals[1].header = map[string]string{"X-API-Key": f.keys[RoleOperator]}
	f.principals = append(f.principals,
		principal{name: "no-credentials"},
		principal{name: "wrong-key", header: map[string]string{"Authorization": "Bearer " + GenerateKey()}},
		principal{name: "expired-key", header: map[string]string{"Authorization": "Bearer " + expired}},
		principal{name: "malformed-scheme", header: map[string]string{"Authorization": "Basic " + f.keys[RoleAdmin]}},
		principal{name: "malformed-empty", header: map[string]string{"Authorization": "Bearer"}},
		principal{name: "malformed-two-keys", header: map[string]string{"Authorization": "Bearer " + f.keys[RoleAdmin], "X-API-Key": f.keys[RoleReader]}},
	)
	opts = append([]serverOpt{func(_ *engine.Config, a *Config) {
		a.Keys = keys
		a.Logger = slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}}, opts...)
	f.testServer = newTestServer(t, opts...)
	return f
}

// call makes one request and returns its status and body. A 200 stream
// is closed after its headers.
func (f *authFixture) call(t *testing.T, method, path, body string, header map[string]string) (int, http.Header, []byte) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, f.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := f.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	if strings.HasSuffix(path, "/stream") && res.StatusCode == http.StatusOK {
		return res.StatusCode, res.Header, nil
	}
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return res.StatusCode, res.Header, b
}

// routeCase is how to call one route so that it succeeds for a caller
// allowed to: a path and body made fresh for each call (n counts calls),
// after setup.
type routeCase struct {
	call func(ts *testServer, n int) (path, body string)
	// allowed is the status of an allowed call; 0 means any 2xx.
	allowed int
	// code is the error code of an allowed call that is not 2xx.
	code string
}

func mustCreate(t testing.TB, eng *engine.Engine, name string) {
	t.Helper()
	if _, err := eng.Create(engine.DisruptorConfig{Name: name}, true); err != nil {
		t.Fatal(err)
	}
}

func fixed(path, body string) func(*testServer, int) (string, string) {
	return func(*testServer, int) (string, string) { return path, body }
}

// routeCases has a case for every route: TestPermissions fails for a
// route without one. Every call is about disruptor "acl" (which the
// publisher and reader keys may use) or a fresh "acl-N".
func routeCases(t *testing.T) map[string]routeCase {
	return map[string]routeCase{
		"GET /health":              {call: fixed("/health", "")},
		"GET /health/ready":        {call: fixed("/health/ready", "")},
		"GET /metrics":             {call: fixed("/metrics", "")},
		"GET /api/v1/health":       {call: fixed("/api/v1/health", "")},
		"GET /api/v1/version":      {call: fixed("/api/v1/version", "")},
		"GET /api/v1/openapi.json": {call: fixed("/api/v1/openapi.json", "")},
		"GET /api/v1/auth/whoami":  {call: fixed("/api/v1/auth/whoami", "")},
		// The console (the test client follows the redirects).
		"GET /{$}":                              {call: fixed("/", "")},
		"GET /docs":                             {call: fixed("/docs", "")},
		"GET /ui/{file...}":                     {call: fixed("/ui/app.js", "")},
		"GET /api/v1/metrics":                   {call: fixed("/api/v1/metrics", "")},
		"GET /api/v1/disruptors":                {call: fixed("/api/v1/disruptors", "")},
		"GET /api/v1/disruptors/{name}":         {call: fixed("/api/v1/disruptors/acl", "")},
		"GET /api/v1/disruptors/{name}/state":   {call: fixed("/api/v1/disruptors/acl/state", "")},
		"GET /api/v1/disruptors/{name}/metrics": {call: fixed("/api/v1/disruptors/acl/metrics", "")},
		"PUT /api/v1/disruptors/{name}/state":   {call: fixed("/api/v1/disruptors/acl/state", `{"state":"running"}`)},
		"POST /api/v1/disruptors/{name}/events": {call: fixed("/api/v1/disruptors/acl/events", `{"payload":1}`)},
		// the test engine has no journal: allowed callers get NOT_JOURNALED
		"POST /api/v1/disruptors/{name}/purge":        {call: fixed("/api/v1/disruptors/acl/purge", `{"before":0}`), allowed: 409, code: "NOT_JOURNALED"},
		"GET /api/v1/disruptors/{name}/events":        {call: fixed("/api/v1/disruptors/acl/events?from=0", "")},
		"GET /api/v1/disruptors/{name}/events/{seq}":  {call: fixed("/api/v1/disruptors/acl/events/0", "")},
		"GET /api/v1/disruptors/{name}/events/stream": {call: fixed("/api/v1/disruptors/acl/events/stream", "")},
		"POST /api/v1/events":                         {call: fixed("/api/v1/events", `{"batches":[{"disruptor":"acl","events":[{"payload":2}]}]}`)},
		"POST /api/v1/disruptors": {call: func(_ *testServer, n int) (string, string) {
			return "/api/v1/disruptors", fmt.Sprintf(`{"name":"acl-new-%d"}`, n)
		}},
		"DELETE /api/v1/disruptors/{name}": {call: func(ts *testServer, n int) (string, string) {
			name := fmt.Sprintf("acl-del-%d", n)
			mustCreate(t, ts.eng, name)
			return "/api/v1/disruptors/" + name, ""
		}},
		// The cluster routes of a standalone server: allowed callers
		// get CLUSTER_DISABLED.
		"GET /api/v1/cluster/members": {call: fixed("/api/v1/cluster/members", ""), allowed: 404, code: "CLUSTER_DISABLED"},
		"GET /api/v1/cluster/health":  {call: fixed("/api/v1/cluster/health", ""), allowed: 404, code: "CLUSTER_DISABLED"},
		"GET /api/v1/cluster/raft":    {call: fixed("/api/v1/cluster/raft", ""), allowed: 404, code: "CLUSTER_DISABLED"},
		"POST /api/v1/cluster/join":   {call: fixed("/api/v1/cluster/join", `{"addrs":["127.0.0.1:1"]}`), allowed: 404, code: "CLUSTER_DISABLED"},
		"POST /api/v1/cluster/leave":  {call: fixed("/api/v1/cluster/leave", `{}`), allowed: 404, code: "CLUSTER_DISABLED"},
	}
}

// TestPermissions calls every route as every role and as callers without
// valid credentials (none, a wrong key, an expired key, malformed
// headers), and checks 2xx, 401 or 403 exactly as the permission table of
// docs/security.md says. A route without a permission, a row in that
// table, or a case here fails.
func TestPermissions(t *testing.T) {
	table := docPermissions(t)
	f := newAuthFixture(t)
	mustCreate(t, f.eng, "acl")
	if _, err := f.eng.Publish(context.Background(), "acl", &engine.Batch{Events: []engine.Event{{Payload: []byte("0")}}}); err != nil {
		t.Fatal(err)
	}
	if err := checkPermissions(f.srv.routes); err != nil {
		t.Fatal(err)
	}
	cases := routeCases(t)
	n := 0
	for _, rt := range f.srv.routes {
		key := rt.method + " " + rt.pattern
		rc, ok := cases[key]
		if !ok {
			t.Errorf("no case for route %s: add one to routeCases", key)
			continue
		}
		delete(cases, key)
		allowed, ok := table[key]
		if !ok {
			t.Errorf("route %s is not in the permission table of docs/security.md", key)
			continue
		}
		t.Run(strings.ReplaceAll(key, "/", "_"), func(t *testing.T) {
			for _, p := range f.principals {
				n++
				path, body := rc.call(f.testServer, n)
				status, hdr, b := f.call(t, rt.method, path, body, p.header)
				want := "403"
				switch {
				case allowed[p.role]:
					want = "allowed"
				case p.role == "":
					want = "401"
				}
				got := fmt.Sprint(status)
				if want == "allowed" {
					ok := status/100 == 2
					if rc.allowed != 0 {
						ok = status == rc.allowed && strings.Contains(string(b), `"`+rc.code+`"`)
					}
					if ok {
						got = "allowed"
					}
				}
				if got != want {
					t.Errorf("%s as %s (%s needs %s): %d %s, want %s", key, p.name, path, rt.perm, status, b, want)
				}
				if status == 401 && hdr.Get("WWW-Authenticate") == "" {
					t.Errorf("%s as %s: 401 without WWW-Authenticate", key, p.name)
				}
				if (status == 401 || status == 403) && !strings.Contains(string(b), map[int]string{401: CodeUnauthorized, 403: CodeForbidden}[status]) {
					t.Errorf("%s as %s: %d body %s", key, p.name, status, b)
				}
			}
		})
	}
	for key := range cases {
		t.Errorf("case for %s, which is not a route", key)
	}
	// No key appears in the logs; the names do, in audit lines.
	logs := f.logs.String()
	for role, k := range f.keys {
		if strings.Contains(logs, k) {
			t.Errorf("the %s key appears in the logs", role)
		}
	}
	for _, want := range []string{`"msg":"audit"`, `"principal":"operator-key"`, `"reason":"no_credentials"`,
		`"reason":"unknown_key"`, `"reason":"expired_key"`, `"reason":"malformed_credentials"`, `"reason":"forbidden_role"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("no %s in the logs", want)
		}
	}
}

// auditLines returns the decoded audit lines of a JSON log.
func auditLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == "audit" {
			out = append(out, m)
		}
	}
	return out
}

// TestDisruptorScopes: publishers and readers reach only the disruptors
// their patterns match, in routes, in a multi-publish (all or nothing) and
// in lists; anonymous health shows no disruptor.
func TestDisruptorScopes(t *testing.T) {
	f := newAuthFixture(t)
	for _, name := range []string{"acl", "acl-1", "other"} {
		mustCreate(t, f.eng, name)
	}
	pub := map[string]string{"Authorization": "Bearer " + f.keys[RolePublisher]}
	rdr := map[string]string{"Authorization": "Bearer " + f.keys[RoleReader]}
	adm := map[string]string{"Authorization": "Bearer " + f.keys[RoleAdmin]}
	check := func(method, path, body string, h map[string]string, want int) []byte {
		t.Helper()
		status, _, b := f.call(t, method, path, body, h)
		if status != want {
			t.Errorf("%s %s: %d %s, want %d", method, path, status, b, want)
		}
		return b
	}
	check("POST", "/api/v1/disruptors/acl-1/events", `{"payload":1}`, pub, 200)
	check("POST", "/api/v1/disruptors/other/events", `{"payload":1}`, pub, 403)
	check("GET", "/api/v1/disruptors/other/events", "", rdr, 403)
	check("GET", "/api/v1/disruptors/other/events/stream", "", rdr, 403)
	check("GET", "/api/v1/disruptors/other", "", rdr, 403)
	check("GET", "/api/v1/disruptors/acl-1/events?from=0", "", rdr, 200)
	check("POST", "/api/v1/events", `{"batches":[{"disruptor":"acl","events":[{"payload":1}]},{"disruptor":"other","events":[{"payload":1}]}]}`, pub, 403)
	if info, _ := f.eng.Info("acl"); info.Published != 0 {
		t.Errorf("a refused multi-publish published to acl: %+v", info)
	}
	check("POST", "/api/v1/events", `{"batches":[{"disruptor":"acl","events":[{"payload":1}]},{"disruptor":"other","events":[{"payload":1}]}]}`, adm, 200)

	var list DisruptorList
	_ = json.Unmarshal(check("GET", "/api/v1/disruptors", "", rdr, 200), &list)
	var names []string
	for _, d := range list.Disruptors {
		names = append(names, d.Name)
	}
	if strings.Join(names, ",") != "acl,acl-1" {
		t.Errorf("the reader lists %v", names)
	}
	var sm SystemMetrics
	_ = json.Unmarshal(check("GET", "/api/v1/metrics", "", rdr, 200), &sm)
	if len(sm.Disruptors) != 2 {
		t.Errorf("the reader sees metrics of %d disruptors", len(sm.Disruptors))
	}
	var h Health
	_ = json.Unmarshal(check("GET", "/api/v1/health", "", nil, 200), &h)
	if len(h.Disruptors) != 0 || h.Status == "" {
		t.Errorf("anonymous health: %+v", h)
	}
	_ = json.Unmarshal(check("GET", "/api/v1/health", "", adm, 200), &h)
	if len(h.Disruptors) != 3 {
		t.Errorf("admin health shows %d disruptors", len(h.Disruptors))
	}
	// The refusals and the admin's publish are audited.
	var denied, allowed int
	for _, a := range auditLines(t, f.logs.String()) {
		switch {
		case a["outcome"] == "denied" && a["reason"] == "forbidden_disruptor":
			denied++
		case a["outcome"] == "allowed" && a["principal"] == "admin-key":
			allowed++
		}
	}
	if denied != 5 || allowed != 1 {
		t.Errorf("audit: %d forbidden_disruptor denials (want 5), %d admin actions (want 1)", denied, allowed)
	}
}

// TestMetricsPublic: /metrics needs the view permission unless
// MetricsPublic.
func TestMetricsPublic(t *testing.T) {
	for _, public := range []bool{false, true} {
		f := newAuthFixture(t, func(_ *engine.Config, a *Config) { a.MetricsPublic = public })
		status, _, _ := f.call(t, "GET", "/metrics", "", nil)
		if want := map[bool]int{false: 401, true: 200}[public]; status != want {
			t.Errorf("MetricsPublic=%v: anonymous /metrics %d, want %d", public, status, want)
		}
		status, _, _ = f.call(t, "GET", "/metrics", "", map[string]string{"X-API-Key": f.keys[RolePublisher]})
		if want := map[bool]int{false: 403, true: 200}[public]; status != want {
			t.Errorf("MetricsPublic=%v: publisher /metrics %d, want %d", public, status, want)
		}
	}
}

func TestCheckPermissions(t *testing.T) {
	routes := []route{{perm: PermPublic, method: "GET", pattern: "/a", negotiate: true}, {method: "GET", pattern: "/forgot"}}
	if err := checkPermissions(routes); err == nil || !strings.Contains(err.Error(), "GET /forgot declares no permission") {
		t.Errorf("checkPermissions = %v", err)
	}
}

// TestAuthOffOnlyOnLoopback: without keys or certificates the server
// serves loopback only, unless Insecure.
func TestAuthOffOnlyOnLoopback(t *testing.T) {
	for _, tt := range []struct {
		addr     string
		keys     bool
		insecure bool
		ok       bool
	}{
		{"127.0.0.1:8080", false, false, true},
		{"localhost:8080", false, false, true},
		{"[::1]:8080", false, false, true},
		{"0.0.0.0:8080", false, false, false},
		{":8080", false, false, false},
		{"10.1.2.3:8080", false, false, false},
		{"example.com:8080", false, false, false},
		{"0.0.0.0:8080", false, true, true},
		{"0.0.0.0:8080", true, false, true},
	} {
		c := DefaultConfig()
		c.Addr, c.Insecure = tt.addr, tt.insecure
		if tt.keys {
			c.Keys = []Key{{Name: "k", Hash: HashKey("k"), Grant: Grant{Role: RoleAdmin}}}
		}
		err := c.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("%+v: Validate() = %v", tt, err)
		}
		if err != nil && (len(ConfigErrors(err)) != 1 || ConfigErrors(err)[0].Field != "addr") {
			t.Errorf("%+v: errors %v, want one about addr", tt, err)
		}
	}
}

// TestServeRefusesPublicListener: Serve checks the listener itself, not
// only Config.Addr.
func TestServeRefusesPublicListener(t *testing.T) {
	eng, err := engine.New(engine.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Logger = discardLogger()
	srv, err := New(cfg, eng)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Shutdown(context.Background()) }()
	ln := fakeListener{addr: "0.0.0.0:8080"}
	if err := srv.Serve(ln); err != ErrInsecure {
		t.Errorf("Serve on %s = %v, want ErrInsecure", ln.addr, err)
	}
}

// fakeListener is a listener on an address it does not hold.
type fakeListener struct{ addr string }

func (l fakeListener) Accept() (net.Conn, error) { return nil, errors.New("fake") }
func (l fakeListener) Close() error              { return nil }
func (l fakeListener) Addr() net.Addr {
	a, _ := net.ResolveTCPAddr("tcp", l.addr)
	return a
}

func TestConfigValidateAuth(t *testing.T) {
	c := DefaultConfig()
	c.Keys = []Key{
		{Name: "a", Hash: "sha256:zz", Grant: Grant{Role: "root"}},
		{Name: "a", Hash: HashKey("x"), Grant: Grant{Role: RoleReader}},
		{Name: "c", Hash: HashKey("x"), Grant: Grant{Role: RoleOperator, Disruptors: []string{"x"}}},
		{Name: "d", Hash: HashKey("y"), Grant: Grant{Role: RolePublisher, Disruptors: []string{"[a-"}}},
	}
	c.ClientCerts = []ClientCert{{CommonName: "x", Grant: Grant{Role: RoleAdmin}}}
	c.TLS = TLSConfig{KeyFile: "k.pem", ClientCertOptional: true}
	c.RateLimit, c.RateBurst = 1, 0
	c.CORS.AllowedOrigins = []string{"https://ok.example.com", "example.com"}
	var got []string
	for _, ce := range ConfigErrors(c.Validate()) {
		got = append(got, ce.Field)
	}
	want := []string{"tls.cert_file", "tls.client_cert_optional", "keys[0].hash", "keys[0].role", "keys[1].name",
		"keys[1].disruptors", "keys[2].hash", "keys[2].disruptors", "keys[3].disruptors", "client_certs",
		"rate_burst", "cors.allowed_origins[1]"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("fields\n got %v\nwant %v", got, want)
	}
}

func TestHashKey(t *testing.T) {
	// echo -n test | sha256sum
	if h := HashKey("test"); h != "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" {
		t.Errorf("HashKey = %s", h)
	}
	a, b := GenerateKey(), GenerateKey()
	if a == b || len(a) != 46 || !strings.HasPrefix(a, "bb_") {
		t.Errorf("GenerateKey: %q %q", a, b)
	}
}

// TestSecurityHeadersAndCORS: every response carries the security
// headers; CORS is off by default and answers allowed origins only.
func TestSecurityHeadersAndCORS(t *testing.T) {
	ts := newTestServer(t)
	for _, path := range []string{"/api/v1/version", "/nope", "/api/v1/disruptors/missing"} {
		r := ts.do(t, request{method: "GET", path: path, header: map[string]string{"Origin": "https://evil.example.com"}})
		for h, v := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
			"Referrer-Policy": "no-referrer", "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'"} {
			if got := r.header.Get(h); got != v {
				t.Errorf("%s: %s = %q, want %q", path, h, got, v)
			}
		}
		if r.header.Get("Access-Control-Allow-Origin") != "" || r.header.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: CORS or HSTS headers on a plain server without CORS: %v", path, r.header)
		}
	}
	ts = newTestServer(t, func(_ *engine.Config, a *Config) {
		a.CORS.AllowedOrigins = []string{"https://dash.example.com"}
	})
	pre := func(origin string) *response {
		return ts.do(t, request{method: "OPTIONS", path: "/api/v1/disruptors", header: map[string]string{
			"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}})
	}
	r := pre("https://dash.example.com")
	if r.status != 204 || r.header.Get("Access-Control-Allow-Origin") != "https://dash.example.com" ||
		!strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "Authorization") ||
		r.header.Get("Access-Control-Max-Age") != "600" {
		t.Errorf("preflight from an allowed origin: %d %v", r.status, r.header)
	}
	if r := pre("https://evil.example.com"); r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from another origin: %v", r.header)
	}
	r = ts.do(t, request{method: "GET", path: "/api/v1/version", header: map[string]string{"Origin": "https://dash.example.com"}})
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "https://dash.example.com" ||
		!strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "Retry-After") {
		t.Errorf("CORS GET: %d %v", r.status, r.header)
	}
}

// FuzzPresentedKey: any header values read without a panic, and a key is
// only ever a well-formed token that the client sent.
func FuzzPresentedKey(f *testing.F) {
	f.Add("Bearer bb_abc", "")
	f.Add("", "bb_abc")
	f.Add("Bearer a", "a")
	f.Add("Bearer a", "b")
	f.Add("bearer   x", "")
	f.Add("Basic dXNlcjpwYXNz", "")
	f.Add("Bearer", "")
	f.Add("Bearer a b", "\x00")
	f.Fuzz(func(t *testing.T, auth, xkey string) {
		h := http.Header{}
		if auth != "" {
			h.Set("Authorization", auth)
		}
		if xkey != "" {
			h.Set("X-API-Key", xkey)
		}
		key, ok := presentedKey(h)
		if !ok || key == "" {
			return
		}
		if !validToken(key) || (key != xkey && !strings.HasSuffix(auth, key)) {
			t.Fatalf("presentedKey(%q, %q) = %q", auth, xkey, key)
		}
	})
}
