package api

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/badbatch/badbatch/engine"
	"github.com/badbatch/badbatch/internal/testpki"
)

// testPKI is a CA made for the test, with a server certificate for
// 127.0.0.1 and client certificates.
type testPKI struct {
	ca      *testpki.CA
	dir     string
	pool    *x509.CertPool
	caFile  string
	crtFile string // the server's
	keyFile string
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	ca := testpki.New(t, "badbatch test CA")
	server := ca.Server(t, "127.0.0.1")
	return &testPKI{ca: ca, dir: t.TempDir(), pool: ca.Pool, caFile: ca.File, crtFile: server.CertFile, keyFile: server.KeyFile}
}

// issue makes a certificate signed by the CA: a server's for an IP, or a
// client's with common name cn.
func (p *testPKI) issue(t *testing.T, cn string, server bool) tls.Certificate {
	t.Helper()
	if server {
		return p.ca.Server(t, cn).TLS
	}
	return p.ca.Client(t, cn).TLS
}

// client returns an HTTPS client that trusts the CA and presents certs.
func (p *testPKI) client(t *testing.T, certs ...tls.Certificate) *http.Client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool, Certificates: certs}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func tlsServer(t *testing.T, p *testPKI, opts ...serverOpt) *testServer {
	t.Helper()
	ts := newTestServer(t, append([]serverOpt{func(_ *engine.Config, a *Config) {
		a.TLS = TLSConfig{CertFile: p.crtFile, KeyFile: p.keyFile}
	}}, opts...)...)
	ts.url = strings.Replace(ts.url, "http://", "https://", 1)
	return ts
}

func httpsGet(t *testing.T, c *http.Client, url string, header map[string]string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	return res, err
}

// TestTLS: the server serves HTTPS with TLS 1.3 (and HSTS) to a client
// that trusts its CA, refuses TLS 1.1, and does not serve plain HTTP on
// its port.
func TestTLS(t *testing.T) {
	p := newTestPKI(t)
	ts := tlsServer(t, p)
	res, err := httpsGet(t, p.client(t), ts.url+"/api/v1/version", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || res.TLS == nil || res.TLS.Version != tls.VersionTLS13 || res.ProtoMajor != 2 ||
		res.Header.Get("Strict-Transport-Security") == "" {
		t.Errorf("HTTPS: %d, TLS %+v, %s, HSTS %q", res.StatusCode, res.TLS != nil, res.Proto, res.Header.Get("Strict-Transport-Security"))
	}
	// TLS 1.2 is accepted, 1.1 is not.
	for v, ok := range map[uint16]bool{tls.VersionTLS12: true, tls.VersionTLS11: false} {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool, MinVersion: tls.VersionTLS10, MaxVersion: v}}}
		_, err := httpsGet(t, c, ts.url+"/health", nil)
		if (err == nil) != ok {
			t.Errorf("TLS version %x: err %v", v, err)
		}
		c.CloseIdleConnections()
	}
	// Plain HTTP to the TLS port is not served.
	plainTr := &http.Transport{}
	defer plainTr.CloseIdleConnections()
	plain := &http.Client{Transport: plainTr, Timeout: 5 * time.Second}
	res, err = httpsGet(t, plain, strings.Replace(ts.url, "https://", "http://", 1)+"/api/v1/version", nil)
	if err == nil && (res.StatusCode != http.StatusBadRequest || res.Header.Get("X-Request-Id") != "") {
		t.Errorf("plain HTTP to the TLS port: %d %v", res.StatusCode, res.Header)
	}
	// A client that does not trust the CA fails.
	if _, err := httpsGet(t, &http.Client{Transport: &http.Transport{}}, ts.url+"/health", nil); err == nil {
		t.Error("a client without the CA connected")
	}
}

// TestMutualTLS: with a client CA, a client without a certificate is
// refused at the handshake; a certificate's common name maps to its role;
// an unmapped certificate gets 403, a key still wins over the
// certificate.
func TestMutualTLS(t *testing.T) {
	p := newTestPKI(t)
	key := GenerateKey()
	ts := tlsServer(t, p, func(_ *engine.Config, a *Config) {
		a.TLS.ClientCAFile = p.caFile
		a.ClientCerts = []ClientCert{
			{CommonName: "ops-*", Grant: Grant{Role: RoleOperator}},
			{CommonName: "dashboard", Grant: Grant{Role: RoleReader, Disruptors: []string{"acl"}}},
		}
		a.Keys = []Key{{Name: "pub", Hash: HashKey(key), Grant: Grant{Role: RolePublisher, Disruptors: []string{"*"}}}}
	})
	ops := p.issue(t, "ops-eu-1", false)
	dash := p.issue(t, "dashboard", false)
	stranger := p.issue(t, "stranger", false)

	if _, err := httpsGet(t, p.client(t), ts.url+"/health", nil); err == nil {
		t.Error("a client without a certificate was served")
	}
	// A certificate from another CA is refused too.
	other := newTestPKI(t)
	alien := other.issue(t, "ops-1", false)
	if _, err := httpsGet(t, p.client(t, alien), ts.url+"/health", nil); err == nil {
		t.Error("a certificate of another CA was accepted")
	}
	opsC, dashC, strangerC := p.client(t, ops), p.client(t, dash), p.client(t, stranger)
	req, _ := http.NewRequest("POST", ts.url+"/api/v1/disruptors", strings.NewReader(`{"name":"acl"}`))
	res, err := opsC.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 201 {
		t.Fatalf("operator certificate creates: %d", res.StatusCode)
	}
	for _, tt := range []struct {
		c      *http.Client
		path   string
		header map[string]string
		want   int
	}{
		{opsC, "/api/v1/disruptors/acl", nil, 200},
		{opsC, "/api/v1/disruptors/acl/events", nil, 403}, // operators do not read events
		{dashC, "/api/v1/disruptors/acl/events", nil, 200},
		{strangerC, "/api/v1/disruptors/acl", nil, 403},
		{strangerC, "/api/v1/version", nil, 200},
		{dashC, "/api/v1/disruptors/acl", map[string]string{"Authorization": "Bearer " + key}, 403}, // the key wins: a publisher
		{dashC, "/api/v1/disruptors/acl", map[string]string{"Authorization": "Bearer wrong"}, 401},
	} {
		res, err := httpsGet(t, tt.c, ts.url+tt.path, tt.header)
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != tt.want {
			t.Errorf("GET %s %v: %d, want %d", tt.path, tt.header, res.StatusCode, tt.want)
		}
	}
}

// TestMutualTLSOptional: with client_cert_optional, clients without a
// certificate authenticate with a key.
func TestMutualTLSOptional(t *testing.T) {
	p := newTestPKI(t)
	key := GenerateKey()
	ts := tlsServer(t, p, func(_ *engine.Config, a *Config) {
		a.TLS.ClientCAFile, a.TLS.ClientCertOptional = p.caFile, true
		a.Keys = []Key{{Name: "op", Hash: HashKey(key), Grant: Grant{Role: RoleOperator}}}
		a.ClientCerts = []ClientCert{{CommonName: "*", Grant: Grant{Role: RoleAdmin}}}
	})
	c := p.client(t)
	for h, want := range map[string]int{"": 401, key: 200} {
		hdr := map[string]string{}
		if h != "" {
			hdr["X-API-Key"] = h
		}
		res, err := httpsGet(t, c, ts.url+"/api/v1/disruptors", hdr)
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != want {
			t.Errorf("key %v: %d, want %d", h != "", res.StatusCode, want)
		}
	}
}

// TestTLSConfigErrors: unreadable files fail New.
func TestTLSConfigErrors(t *testing.T) {
	p := newTestPKI(t)
	for name, tc := range map[string]TLSConfig{
		"missing cert":  {CertFile: filepath.Join(p.dir, "none.crt"), KeyFile: p.keyFile},
		"key mismatch":  {CertFile: p.caFile, KeyFile: p.keyFile},
		"bad client CA": {CertFile: p.crtFile, KeyFile: p.keyFile, ClientCAFile: p.keyFile},
	} {
		eng, err := engine.New(engine.DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		cfg := DefaultConfig()
		cfg.Logger, cfg.TLS = discardLogger(), tc
		if _, err := New(cfg, eng); err == nil || !strings.Contains(err.Error(), "tls") {
			t.Errorf("%s: New = %v", name, err)
		}
		_ = eng.Close(t.Context())
	}
}
