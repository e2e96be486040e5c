package client

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/badbatch/badbatch/api"
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
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "badbatch test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) ([]byte, []byte) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, _ := x509.MarshalECPrivateKey(key)
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	}
	p := &pki{caFile: filepath.Join(dir, "ca.pem"), certFile: filepath.Join(dir, "client.pem"), keyFile: filepath.Join(dir, "client-key.pem")}
	write := func(name string, b []byte) {
		if err := os.WriteFile(name, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(p.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	cc, ck := issue(2, "operator", x509.ExtKeyUsageClientAuth, nil)
	write(p.certFile, cc)
	write(p.keyFile, ck)
	sc, sk := issue(3, "127.0.0.1", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	if p.server, err = tls.X509KeyPair(sc, sk); err != nil {
		t.Fatal(err)
	}
	p.pool = x509.NewCertPool()
	p.pool.AddCert(ca)
	return p
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
