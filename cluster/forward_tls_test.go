package cluster

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestForwardKeepsCredentialsOffPlainHTTP: a request that came over TLS
// with credentials (Authorization or X-API-Key) is never sent to an owner
// that serves plain HTTP: it fails with ErrInsecurePeer (502) and the
// owner sees nothing; an HTTPS owner gets it, credentials included; a
// request without credentials, or one that came in clear text, may go to
// the plain-HTTP owner.
func TestForwardKeepsCredentialsOffPlainHTTP(t *testing.T) {
	plain := newPeer(t, "plain")
	secure := &peer{id: "secure"}
	secure.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secure.hits.Add(1)
		_ = json.NewEncoder(w).Encode(echo{Node: "secure", Authorization: r.Header.Get("Authorization")})
	}))
	defer secure.srv.Close()
	su, _ := url.Parse(secure.srv.URL)
	secureMember := Member{ID: "secure", State: StateAlive, Meta: Meta{APIAddr: su.Host, APIScheme: "https", State: NodeReady, Disruptors: []string{"s"}}}

	dir := &fakeDirectory{local: "a", members: []Member{plain.member("p"), secureMember}}
	cfg := DefaultForwardConfig()
	cfg.TLSClientConfig = &tls.Config{RootCAs: secure.srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	var failed error
	cfg.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		failed = err
		http.Error(w, err.Error(), err.(*ForwardError).Status)
	}
	f, err := NewForwarder(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.Forward(w, r, strings.Split(strings.TrimPrefix(r.URL.Path, "/d/"), "/")[0])
	})
	overTLS := httptest.NewTLSServer(handler)
	defer overTLS.Close()
	inClear := httptest.NewServer(handler)
	defer inClear.Close()

	send := func(base, path string, h map[string]string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		c := overTLS.Client()
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for _, h := range []map[string]string{{"Authorization": "Bearer secret"}, {"X-API-Key": "secret"}} {
		failed = nil
		if st := send(overTLS.URL, "/d/p/x", h); st != http.StatusBadGateway || !errors.Is(failed, ErrInsecurePeer) {
			t.Errorf("TLS client with %v to a plain-HTTP owner: %d %v, want 502 ErrInsecurePeer", h, st, failed)
		}
	}
	if n := plain.hits.Load(); n != 0 {
		t.Fatalf("the plain-HTTP owner received %d requests carrying a TLS client's credentials", n)
	}
	if st := send(overTLS.URL, "/d/s/x", map[string]string{"Authorization": "Bearer secret"}); st != 200 || secure.hits.Load() != 1 {
		t.Errorf("TLS client to an HTTPS owner: %d, %d hits", st, secure.hits.Load())
	}
	if st := send(overTLS.URL, "/d/p/x", nil); st != 200 || plain.hits.Load() != 1 {
		t.Errorf("TLS client without credentials to a plain-HTTP owner: %d, %d hits", st, plain.hits.Load())
	}
	if st := send(inClear.URL, "/d/p/x", map[string]string{"Authorization": "Bearer secret"}); st != 200 || plain.hits.Load() != 2 {
		t.Errorf("clear-text client to a plain-HTTP owner: %d, %d hits", st, plain.hits.Load())
	}
}
