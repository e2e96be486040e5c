package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	"github.com/badbatch/badbatch/api"
	"github.com/badbatch/badbatch/internal/testpki"
)

// pki is a test CA with a server certificate for 127.0.0.1 and a client
// certificate, written as PEM files.
type pki struct {
	caFile, certFile, keyFile string // the client's
	server                    tls.Certificate
	pool                      *x509.CertPool
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	ca := testpki.New(t, "badbatch test CA")
	client := ca.Client(t, "operator")
	return &pki{caFile: ca.File, certFile: client.CertFile, keyFile: client.KeyFile,
		server: ca.Server(t, "127.0.0.1").TLS, pool: ca.Pool}
}

func TestTLS(t *testing.T) {
	p := newPKI(t)
	mtls := startServer(t, serverOptions{tls: &tls.Config{
		Certificates: []tls.Certificate{p.server}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.pool, MinVersion: tls.VersionTLS12,
	}})
	plain := startServer(t, serverOptions{tls: &tls.Config{Certificates: []tls.Certificate{p.server}, MinVersion: tls.VersionTLS12}})
	ctx := ctxT(t)
	for _, tc := range []struct {
		name string
		s    *server
		tls  TLSConfig
		fail string // a part of the error, "" for success
	}{
		{"mutual TLS", mtls, TLSConfig{CAFile: p.caFile, CertFile: p.certFile, KeyFile: p.keyFile}, ""},
		{"no client certificate", mtls, TLSConfig{CAFile: p.caFile}, "certificate"},
		{"server CA", plain, TLSConfig{CAFile: p.caFile}, ""},
		{"unknown CA", plain, TLSConfig{}, "x509"},
		{"insecure skip verify", plain, TLSConfig{InsecureSkipVerify: true}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, tc.s, func(cfg *Config) { cfg.TLS = tc.tls; cfg.MaxRetries = 0 })
			_, err := c.CreateDisruptor(ctx, api.CreateRequest{Name: strings.ReplaceAll(tc.name, " ", "-")})
			if tc.fail == "" && err != nil {
				t.Fatal(err)
			}
			if tc.fail != "" && (err == nil || !strings.Contains(err.Error(), tc.fail)) {
				t.Fatalf("got %v, want an error about %s", err, tc.fail)
			}
		})
	}
	t.Run("bad PEM", func(t *testing.T) {
		_, err := New(Config{TLS: TLSConfig{CAFile: p.keyFile}})
		var ce *ConfigError
		if !strings.Contains(err.Error(), "no PEM certificate") || !errors.As(err, &ce) || ce.Field != "TLS.CAFile" {
			t.Errorf("%v", err)
		}
		_, err = New(Config{TLS: TLSConfig{CertFile: p.caFile, KeyFile: p.caFile}})
		if !errors.As(err, &ce) || ce.Field != "TLS.CertFile" {
			t.Errorf("%v", err)
		}
	})
}
