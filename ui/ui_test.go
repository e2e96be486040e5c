package ui

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, name string, header map[string]string) (*httptest.ResponseRecorder, bool) {
	t.Helper()
	r := httptest.NewRequest("GET", "/ui/"+name, nil)
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	return w, Serve(w, r, name)
}

func TestServe(t *testing.T) {
	for name, ct := range map[string]string{
		"":                                       "text/html; charset=utf-8",
		"index.html":                             "text/html; charset=utf-8",
		"api.html":                               "text/html; charset=utf-8",
		"app.js":                                 "text/javascript; charset=utf-8",
		"views/list.js":                          "text/javascript; charset=utf-8",
		"style.css":                              "text/css; charset=utf-8",
		"favicon.svg":                            "image/svg+xml",
		"vendor/swagger-ui/swagger-ui-bundle.js": "text/javascript; charset=utf-8",
		"vendor/swagger-ui/LICENSE":              "text/plain; charset=utf-8",
	} {
		w, ok := get(t, name, nil)
		if !ok || w.Code != 200 || w.Header().Get("Content-Type") != ct || w.Body.Len() == 0 {
			t.Errorf("%q: ok %v, %d %q, %d bytes", name, ok, w.Code, w.Header().Get("Content-Type"), w.Body.Len())
		}
		if w.Header().Get("Content-Security-Policy") != CSP || w.Header().Get("Cache-Control") != "no-cache" {
			t.Errorf("%q: headers %v", name, w.Header())
		}
		// Revalidation: the same ETag gets 304 and no body.
		etag := w.Header().Get("ETag")
		w, _ = get(t, name, map[string]string{"If-None-Match": `"other", ` + etag})
		if w.Code != http.StatusNotModified || w.Body.Len() != 0 {
			t.Errorf("%q with If-None-Match %s: %d, %d bytes", name, etag, w.Code, w.Body.Len())
		}
	}
	for _, name := range []string{"nope.js", "vendor/", "vendor", "../ui.go", "static/app.js", "views"} {
		if w, ok := get(t, name, nil); ok || w.Body.Len() != 0 || len(w.Header()) != 0 {
			t.Errorf("%q: served (%v, %d)", name, ok, w.Code)
		}
	}
}

// TestCSP: the console's policy keeps everything on its own origin, and
// allows nothing inline and no eval.
func TestCSP(t *testing.T) {
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'",
		"frame-ancestors 'none'", "base-uri 'none'", "object-src 'none'"} {
		if !strings.Contains(CSP, want) {
			t.Errorf("CSP lacks %s: %s", want, CSP)
		}
	}
	for _, bad := range []string{"unsafe", "*", "http:", "https:", "blob:"} {
		if strings.Contains(CSP, bad) {
			t.Errorf("CSP has %s: %s", bad, CSP)
		}
	}
}

// TestNoInlineCode: the console's own files have no inline script or
// style, no event-handler attributes, and build no markup from strings
// (innerHTML, document.write, eval), so its CSP holds and nothing the
// server returns can become markup.
func TestNoInlineCode(t *testing.T) {
	inlineScript := regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`)
	handlerAttr := regexp.MustCompile(`\son[a-z]+\s*=`)
	for _, name := range Files() {
		if strings.HasPrefix(name, "vendor/") {
			continue
		}
		b := string(files[name].body)
		switch path.Ext(name) {
		case ".html":
			for _, script := range regexp.MustCompile(`<script[^>]*>`).FindAllString(b, -1) {
				if !strings.Contains(script, " src=") {
					t.Errorf("%s: inline script %s", name, script)
				}
			}
			if inlineScript.MatchString(b) || strings.Contains(b, "<style") || strings.Contains(b, " style=") || handlerAttr.MatchString(b) {
				t.Errorf("%s has inline script, style or an event-handler attribute", name)
			}
		case ".js":
			for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "setAttribute(\"style\"", "setTimeout(\"", "setInterval(\""} {
				if strings.Contains(b, bad) {
					t.Errorf("%s uses %s", name, bad)
				}
			}
		}
	}
}

// TestVendoredSwaggerUI: the vendored Swagger UI is the version
// package.json pins, with its licence and notices (npm run build).
func TestVendoredSwaggerUI(t *testing.T) {
	var pkg struct {
		DevDependencies map[string]string `json:"devDependencies"`
	}
	b, err := os.ReadFile("package.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		t.Fatal(err)
	}
	want := "swagger-ui-dist " + pkg.DevDependencies["swagger-ui-dist"] + "\n"
	if got := string(files["vendor/swagger-ui/VERSION"].body); got != want {
		t.Errorf("vendored %q, package.json pins %q: run npm ci && npm run build in ui/", got, want)
	}
	for _, f := range []string{"LICENSE", "NOTICE", "swagger-ui-bundle.js.LICENSE.txt", "swagger-ui.css", "swagger-ui-bundle.js"} {
		if files["vendor/swagger-ui/"+f] == nil {
			t.Errorf("vendor/swagger-ui/%s is not embedded", f)
		}
	}
	if !strings.Contains(string(files["vendor/swagger-ui/LICENSE"].body), "Apache License") {
		t.Error("vendor/swagger-ui/LICENSE is not the Apache licence")
	}
	if strings.Contains(string(files["vendor/swagger-ui/swagger-ui-bundle.js"].body), "sourceMappingURL") {
		t.Error("the bundle still points at a source map that is not vendored")
	}
}
