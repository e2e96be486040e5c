package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/badbatch/badbatch/api"
)

// Security is the security section: TLS, API keys and client
// certificates with their roles, rate limits and CORS. docs/security.md
// explains the model; [Security.Apply] puts the section into an
// [api.Config], whose Validate holds the rules, reported here under the
// section's keys.
type Security struct {
	// Insecure allows serving a non-loopback server.bind_addr with
	// authentication off (no api_keys, no client_certs): every client is
	// then an admin. `badbatch server --insecure` sets it.
	Insecure bool `koanf:"insecure"`
	// TLS serves HTTPS, and with client_ca_file mutual TLS.
	TLS TLS `koanf:"tls"`
	// APIKeys are the keys clients present, held as hashes only.
	APIKeys []APIKey `koanf:"api_keys"`
	// ClientCerts map client certificate subjects to roles (mutual TLS).
	ClientCerts []ClientCert `koanf:"client_certs"`
	// MetricsPublic serves GET /metrics without credentials.
	MetricsPublic bool `koanf:"metrics_public"`
	// RateLimit is requests per second per client (key, certificate or
	// address), 0 for none; RateBurst the bucket size.
	RateLimit float64 `koanf:"rate_limit"`
	RateBurst int     `koanf:"rate_burst"`
	// MaxStreamsPerKey bounds one client's open live streams; 0 for none.
	MaxStreamsPerKey int `koanf:"max_streams_per_key"`
	// CORS lets browsers on other origins call the API; off by default.
	CORS CORS `koanf:"cors"`
}

// TLS is security.tls.
type TLS struct {
	CertFile           string `koanf:"cert_file"`
	KeyFile            string `koanf:"key_file"`
	ClientCAFile       string `koanf:"client_ca_file"`
	ClientCertOptional bool   `koanf:"client_cert_optional"`
}

// APIKey is one entry of security.api_keys.
type APIKey struct {
	// Name identifies the key in logs and audit lines.
	Name string `koanf:"name"`
	// Hash is what `badbatch config hash-key` prints ([api.HashKey]):
	// "sha256:" and 64 hex digits. Never the key itself.
	Hash string `koanf:"hash"`
	// Role is admin, operator, publisher or reader.
	Role string `koanf:"role"`
	// Disruptors are the glob patterns a publisher or reader may use.
	Disruptors []string `koanf:"disruptors"`
	// ExpiresAt, RFC 3339, is when the key stops working; empty for
	// never.
	ExpiresAt string `koanf:"expires_at"`
}

// ClientCert is one entry of security.client_certs.
type ClientCert struct {
	// CommonName is a glob pattern matched against the verified client
	// certificate's subject CN; the first entry that matches decides.
	CommonName string   `koanf:"common_name"`
	Role       string   `koanf:"role"`
	Disruptors []string `koanf:"disruptors"`
}

// CORS is security.cors.
type CORS struct {
	AllowedOrigins []string      `koanf:"allowed_origins"`
	MaxAge         time.Duration `koanf:"max_age"`
}

// DefaultSecurity is the built-in section: plain HTTP, no authentication
// (so only a loopback bind_addr is allowed), no rate limit, 32 streams per
// client, CORS off.
func DefaultSecurity() Security {
	d := api.DefaultConfig()
	return Security{
		RateLimit:        d.RateLimit,
		RateBurst:        d.RateBurst,
		MaxStreamsPerKey: d.MaxStreamsPerKey,
		CORS:             CORS{MaxAge: 10 * time.Minute},
	}
}

// Apply sets dst's security fields (TLS, Keys, ClientCerts, Insecure,
// MetricsPublic, RateLimit, RateBurst, MaxStreamsPerKey, CORS) from the
// section. It fails only on an expires_at that is not RFC 3339, which
// [Config.Validate] reports first.
func (s Security) Apply(dst *api.Config) error {
	dst.TLS = api.TLSConfig{
		CertFile:           s.TLS.CertFile,
		KeyFile:            s.TLS.KeyFile,
		ClientCAFile:       s.TLS.ClientCAFile,
		ClientCertOptional: s.TLS.ClientCertOptional,
	}
	var errs keyErrors
	dst.Keys = make([]api.Key, 0, len(s.APIKeys))
	for i, k := range s.APIKeys {
		key := api.Key{Name: k.Name, Hash: k.Hash, Grant: api.Grant{Role: api.Role(k.Role), Disruptors: k.Disruptors}}
		if k.ExpiresAt != "" {
			t, err := time.Parse(time.RFC3339, k.ExpiresAt)
			if err != nil {
				errs.add(fmt.Sprintf("security.api_keys[%d].expires_at", i), k.ExpiresAt, "must be an RFC 3339 time, like 2027-01-31T00:00:00Z")
			}
			key.Expires = t
		}
		dst.Keys = append(dst.Keys, key)
	}
	dst.ClientCerts = make([]api.ClientCert, 0, len(s.ClientCerts))
	for _, c := range s.ClientCerts {
		dst.ClientCerts = append(dst.ClientCerts, api.ClientCert{CommonName: c.CommonName,
			Grant: api.Grant{Role: api.Role(c.Role), Disruptors: c.Disruptors}})
	}
	dst.Insecure = s.Insecure
	dst.MetricsPublic = s.MetricsPublic
	dst.RateLimit = s.RateLimit
	dst.RateBurst = s.RateBurst
	dst.MaxStreamsPerKey = s.MaxStreamsPerKey
	dst.CORS = api.CORSConfig{AllowedOrigins: s.CORS.AllowedOrigins, MaxAge: s.CORS.MaxAge}
	return errs.err()
}

// validate checks the section against the server's bind address, by the
// API's own rules, naming the keys of the file.
func (s Security) validate(errs *keyErrors, bindAddr string) {
	cfg := api.DefaultConfig()
	cfg.Addr = bindAddr
	if err := s.Apply(&cfg); err != nil {
		for _, ke := range KeyErrors(err) {
			*errs = append(*errs, ke)
		}
	}
	for _, ce := range api.ConfigErrors(cfg.Validate()) {
		key, ok := securityKey(ce)
		if !ok {
			continue
		}
		errs.add(key, ce.Value, "%s", ce.Reason)
	}
}

// securityKey names the file's key for an api.ConfigError about the
// section; ok is false for the errors other sections report.
func securityKey(ce *api.ConfigError) (string, bool) {
	f := ce.Field
	switch {
	case f == "addr":
		// server.bind_addr's own check. A non-loopback address without
		// authentication is a valid file: the server refuses to start
		// on it without security.insecure (--insecure).
		return "", false
	case strings.HasPrefix(f, "keys"):
		return "security.api_keys" + strings.TrimPrefix(f, "keys"), true
	case strings.HasPrefix(f, "tls."), strings.HasPrefix(f, "client_certs"), strings.HasPrefix(f, "cors."),
		f == "rate_limit", f == "rate_burst", f == "max_streams_per_key":
		return "security." + f, true
	}
	return "", false
}

// redacted replaces the key hashes: a hash of a weak key can be guessed
// offline, so `config show` does not print them.
func (s Security) redacted() Security {
	if len(s.APIKeys) > 0 {
		keys := make([]APIKey, len(s.APIKeys))
		copy(keys, s.APIKeys)
		for i := range keys {
			if keys[i].Hash != "" {
				keys[i].Hash = redacted
			}
		}
		s.APIKeys = keys
	}
	return s
}
