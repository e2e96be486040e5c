package api

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// TLSConfig turns on HTTPS, and optionally mutual TLS. The zero value is
// plain HTTP.
type TLSConfig struct {
	// CertFile and KeyFile are the server's PEM certificate (chain) and
	// private key. Both or neither.
	CertFile, KeyFile string
	// ClientCAFile, when set, is a PEM bundle of the CAs that sign client
	// certificates: mutual TLS. Verified certificates are mapped to roles
	// by [Config.ClientCerts].
	ClientCAFile string
	// ClientCertOptional lets clients without a certificate connect (and
	// authenticate with a key); by default, with ClientCAFile, a client
	// must present a certificate the CAs signed.
	ClientCertOptional bool
}

// enabled reports whether the server serves HTTPS.
func (t TLSConfig) enabled() bool { return t.CertFile != "" }

func (t TLSConfig) validate(bad func(field string, v any, reason string)) {
	if (t.CertFile == "") != (t.KeyFile == "") {
		bad("tls.cert_file", t.CertFile, "tls.cert_file and tls.key_file go together")
	}
	if t.ClientCAFile != "" && t.CertFile == "" {
		bad("tls.client_ca_file", t.ClientCAFile, "mutual TLS needs tls.cert_file and tls.key_file")
	}
	if t.ClientCertOptional && t.ClientCAFile == "" {
		bad("tls.client_cert_optional", t.ClientCertOptional, "needs tls.client_ca_file")
	}
}

// tls12Suites are the TLS 1.2 cipher suites served: forward secret AEADs
// only. TLS 1.3 suites are not configurable and all good.
var tls12Suites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// load reads the files and returns the server's tls.Config: TLS 1.2 at
// least, 1.3 preferred (Go negotiates the highest both sides speak).
func (t TLSConfig) load() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("api: tls: loading the certificate: %w", err)
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: tls12Suites,
		Certificates: []tls.Certificate{cert},
	}
	if t.ClientCAFile != "" {
		pem, err := os.ReadFile(t.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("api: tls: client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("api: tls: client CA: no PEM certificate in " + t.ClientCAFile)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		if t.ClientCertOptional {
			cfg.ClientAuth = tls.VerifyClientCertIfGiven
		}
	}
	return cfg, nil
}
