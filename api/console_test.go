package api

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/badbatch/badbatch/engine"
	"github.com/badbatch/badbatch/ui"
)

// openAPIPath is a mux pattern as docs/openapi.json spells its path: no
// {$}, and {file...} as {file}.
func openAPIPath(pattern string) string {
	p := strings.TrimSuffix(pattern, "{$}")
	return regexp.MustCompile(`\{([a-z_]+)\.\.\.\}`).ReplaceAllString(p, "{$1}")
}

// TestConsoleRoutes: / and /docs redirect to the console, whose files
// carry the console's CSP (and the other security headers); everything
// else keeps the API's strict default-src 'none', a missing console file
// included.
func TestConsoleRoutes(t *testing.T) {
	f := newAuthFixture(t)
	noFollow := &http.Client{Transport: f.client.Transport, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	get := func(path string) *http.Response {
		t.Helper()
		res, err := noFollow.Get(f.url + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	for path, want := range map[string]string{"/": "/ui/", "/docs": ui.DocsPath, "/ui": "/ui/"} {
		if res := get(path); res.StatusCode/100 != 3 || res.Header.Get("Location") != want {
			t.Errorf("GET %s: %d Location %q, want a redirect to %s", path, res.StatusCode, res.Header.Get("Location"), want)
		}
	}
	strict := "default-src 'none'; frame-ancestors 'none'"
	for path, csp := range map[string]string{
		"/ui/":                   ui.CSP,
		"/ui/index.html":         ui.CSP,
		"/ui/app.js":             ui.CSP,
		"/ui/api.html":           ui.CSP,
		"/ui/nope.js":            strict,
		"/api/v1/auth/whoami":    strict,
		"/api/v1/disruptors":     strict,
		"/api/v1/openapi.json":   strict,
		"/uix":                   strict,
		"/ui/../api/v1/version":  strict,
		"/ui/vendor/swagger-ui/": strict,
	} {
		res := get(path)
		h := res.Header
		if h.Get("Content-Security-Policy") != csp || h.Get("X-Frame-Options") != "DENY" ||
			h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("GET %s (%d): security headers %v", path, res.StatusCode, h)
		}
	}
	if res := get("/ui/nope.js"); res.StatusCode != 404 || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Errorf("a missing console file: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	// The console's files need no credentials, and ignore bad ones.
	for _, p := range f.principals {
		if status, _, _ := f.call(t, "GET", "/ui/app.js", "", p.header); status != 200 {
			t.Errorf("GET /ui/app.js as %s: %d", p.name, status)
		}
	}
	for _, m := range []string{"POST", "PUT", "DELETE"} {
		if status, hdr, _ := f.call(t, m, "/ui/app.js", "", nil); status != 405 || hdr.Get("Allow") == "" {
			t.Errorf("%s /ui/app.js: %d", m, status)
		}
	}
}

// TestWhoAmI: each caller learns its role, scope and permissions, exactly
// as the route table grants them; callers without valid credentials learn
// why.
func TestWhoAmI(t *testing.T) {
	f := newAuthFixture(t)
	all := []string{"public", "metrics", "view", "read", "publish", "operate", "admin"}
	want := map[string]WhoAmI{
		"admin":              {AuthEnabled: true, Authenticated: true, Principal: "admin-key", Role: "admin", Permissions: all},
		"operator":           {AuthEnabled: true, Authenticated: true, Principal: "operator-key", Role: "operator", Permissions: []string{"public", "metrics", "view", "operate"}},
		"publisher":          {AuthEnabled: true, Authenticated: true, Principal: "publisher-key", Role: "publisher", Disruptors: scopedPatterns, Permissions: []string{"public", "publish"}},
		"reader":             {AuthEnabled: true, Authenticated: true, Principal: "reader-key", Role: "reader", Disruptors: scopedPatterns, Permissions: []string{"public", "metrics", "view", "read"}},
		"no-credentials":     {AuthEnabled: true, Permissions: []string{"public"}, Reason: "no_credentials"},
		"wrong-key":          {AuthEnabled: true, Permissions: []string{"public"}, Reason: "unknown_key"},
		"expired-key":        {AuthEnabled: true, Permissions: []string{"public"}, Reason: "expired_key"},
		"malformed-scheme":   {AuthEnabled: true, Permissions: []string{"public"}, Reason: "malformed_credentials"},
		"malformed-empty":    {AuthEnabled: true, Permissions: []string{"public"}, Reason: "malformed_credentials"},
		"malformed-two-keys": {AuthEnabled: true, Permissions: []string{"public"}, Reason: "malformed_credentials"},
	}
	for _, p := range f.principals {
		r := f.do(t, request{method: "GET", path: "/api/v1/auth/whoami", header: p.header})
		if r.status != 200 {
			t.Fatalf("whoami as %s: %d %s", p.name, r.status, r.body)
		}
		var got WhoAmI
		decode(t, r.body, &got)
		if diff := cmp.Diff(want[p.name], got); diff != "" {
			t.Errorf("whoami as %s (-want +got):\n%s", p.name, diff)
		}
		// The permissions are those the route table's checks grant.
		for _, perm := range got.Permissions {
			for q := PermPublic; q <= PermAdmin; q++ {
				if q.String() == perm && q != PermPublic && q != PermMetrics && !Role(got.Role).Allows(q) {
					t.Errorf("%s: whoami says %s, which role %q lacks", p.name, perm, got.Role)
				}
			}
		}
	}
	// Authentication off: an anonymous admin. metrics_public: metrics for
	// everyone.
	off := newTestServer(t)
	var got WhoAmI
	decode(t, off.do(t, request{method: "GET", path: "/api/v1/auth/whoami"}).body, &got)
	if diff := cmp.Diff(WhoAmI{Authenticated: true, Principal: "anonymous", Role: "admin", Permissions: all}, got); diff != "" {
		t.Errorf("whoami with authentication off (-want +got):\n%s", diff)
	}
	pub := newAuthFixture(t, func(_ *engine.Config, a *Config) { a.MetricsPublic = true })
	got = WhoAmI{}
	decode(t, pub.do(t, request{method: "GET", path: "/api/v1/auth/whoami"}).body, &got)
	if diff := cmp.Diff([]string{"public", "metrics"}, got.Permissions); diff != "" {
		t.Errorf("anonymous permissions with metrics_public (-want +got):\n%s", diff)
	}
}

func decode(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
}
