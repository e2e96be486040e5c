package testpki

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
)

func TestChainsVerify(t *testing.T) {
	ca := New(t, "test CA")
	for _, c := range []struct {
		name  string
		cert  Cert
		usage x509.ExtKeyUsage
		host  string
	}{
		{"server", ca.Server(t, "127.0.0.1"), x509.ExtKeyUsageServerAuth, "127.0.0.1"},
		{"server by name", ca.Server(t, "localhost"), x509.ExtKeyUsageServerAuth, "localhost"},
		{"client", ca.Client(t, "reader"), x509.ExtKeyUsageClientAuth, ""},
		{"peer as server", ca.Peer(t, "n1", "127.0.0.1"), x509.ExtKeyUsageServerAuth, "127.0.0.1"},
		{"peer as client", ca.Peer(t, "n1", "127.0.0.1"), x509.ExtKeyUsageClientAuth, ""},
	} {
		leaf, err := x509.ParseCertificate(c.cert.TLS.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		opts := x509.VerifyOptions{Roots: ca.Pool, DNSName: c.host, KeyUsages: []x509.ExtKeyUsage{c.usage}}
		if _, err := leaf.Verify(opts); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if _, err := tls.LoadX509KeyPair(c.cert.CertFile, c.cert.KeyFile); err != nil {
			t.Errorf("%s: files: %v", c.name, err)
		}
	}
	other := New(t, "other CA").Server(t, "127.0.0.1")
	leaf, _ := x509.ParseCertificate(other.TLS.Certificate[0])
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool}); err == nil {
		t.Error("a certificate from another CA verified")
	}
}
