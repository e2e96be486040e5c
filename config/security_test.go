package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/badbatch/badbatch/api"
)

func TestSecurityInvalidNamesKeys(t *testing.T) {
	good := api.HashKey("a-good-key")
	tests := []struct {
		name string
		yaml string
		keys []string
	}{
		{"keys", fmt.Sprintf(`
security:
  api_keys:
    - {name: a, hash: %q, role: boss}
    - {name: a, hash: "sha256:abc", role: reader}
    - {name: "", hash: %q, role: publisher, disruptors: ["[bad"]}
    - {name: d, hash: %q, role: admin, disruptors: ["x"], expires_at: "tomorrow"}
`, good, api.HashKey("other"), api.HashKey("third")), []string{
			"security.api_keys[0].role", "security.api_keys[1].name", "security.api_keys[1].hash",
			"security.api_keys[1].disruptors", "security.api_keys[2].name", "security.api_keys[2].disruptors",
			"security.api_keys[3].disruptors", "security.api_keys[3].expires_at"}},
		{"unknown key in a key", fmt.Sprintf("security:\n  api_keys:\n    - {name: a, hash: %q, rol: admin}\n", good),
			[]string{"security.api_keys[0].rol"}},
		{"tls and certs", "security:\n  tls:\n    key_file: k.pem\n    client_cert_optional: true\n  client_certs:\n    - {common_name: '', role: reader}\n",
			[]string{"security.tls.cert_file", "security.tls.client_cert_optional", "security.client_certs",
				"security.client_certs[0].common_name", "security.client_certs[0].disruptors"}},
		{"limits and cors", "security:\n  rate_limit: 5\n  rate_burst: 0\n  max_streams_per_key: -1\n  cors:\n    allowed_origins: ['ftp://x', 'https://ok.example.com']\n    max_age: -1s\n",
			[]string{"security.rate_burst", "security.max_streams_per_key", "security.cors.allowed_origins[0]", "security.cors.max_age"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			var got []string
			for _, ke := range KeyErrors(err) {
				if !slices.Contains(got, ke.Key) {
					got = append(got, ke.Key)
				}
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tt.keys))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("keys (-want +got):\n%s\n%v", diff, err)
			}
			if strings.Contains(err.Error(), good) {
				t.Error("a hash is shown in an error")
			}
		})
	}
}

// TestSecurityApply: a valid section becomes the API's configuration.
func TestSecurityApply(t *testing.T) {
	hash := api.HashKey("k1")
	c, err := Parse(fmt.Appendf(nil, `
server:
  bind_addr: "0.0.0.0:8443"
security:
  tls: {cert_file: c.pem, key_file: k.pem, client_ca_file: ca.pem, client_cert_optional: true}
  api_keys:
    - {name: ci, hash: %q, role: publisher, disruptors: ["orders-*"], expires_at: "2030-01-02T03:04:05Z"}
  client_certs:
    - {common_name: "ops-*", role: operator}
  metrics_public: true
  rate_limit: 2.5
  rate_burst: 7
  max_streams_per_key: 3
  cors: {allowed_origins: ["https://dash.example.com"], max_age: 1m}
`, hash))
	if err != nil {
		t.Fatal(err)
	}
	got := api.DefaultConfig()
	if err := c.Security.Apply(&got); err != nil {
		t.Fatal(err)
	}
	want := api.DefaultConfig()
	want.TLS = api.TLSConfig{CertFile: "c.pem", KeyFile: "k.pem", ClientCAFile: "ca.pem", ClientCertOptional: true}
	want.Keys = []api.Key{{Name: "ci", Hash: hash, Expires: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
		Grant: api.Grant{Role: api.RolePublisher, Disruptors: []string{"orders-*"}}}}
	want.ClientCerts = []api.ClientCert{{CommonName: "ops-*", Grant: api.Grant{Role: api.RoleOperator}}}
	want.MetricsPublic, want.RateLimit, want.RateBurst, want.MaxStreamsPerKey = true, 2.5, 7, 3
	want.CORS = api.CORSConfig{AllowedOrigins: []string{"https://dash.example.com"}, MaxAge: time.Minute}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("api.Config (-want +got):\n%s", diff)
	}
	got.Addr = c.Server.BindAddr
	if err := got.Validate(); err != nil {
		t.Errorf("the applied configuration does not validate: %v", err)
	}
}

// TestSecurityInsecureBind: a public bind address without authentication
// is a valid file, but the server's configuration refuses it unless
// security.insecure is set.
func TestSecurityInsecureBind(t *testing.T) {
	for _, insecure := range []bool{false, true} {
		c, err := Parse(fmt.Appendf(nil, "server:\n  bind_addr: 0.0.0.0:8080\nsecurity:\n  insecure: %v\n", insecure))
		if err != nil {
			t.Fatal(err)
		}
		a := api.DefaultConfig()
		a.Addr = c.Server.BindAddr
		if err := c.Security.Apply(&a); err != nil {
			t.Fatal(err)
		}
		err = a.Validate()
		if insecure != (err == nil) {
			t.Errorf("insecure=%v: Validate() = %v", insecure, err)
		}
	}
}

func TestSecurityFromEnv(t *testing.T) {
	hash := api.HashKey("from-env")
	env := []string{
		`BADBATCH_SECURITY_API_KEYS=[{"name":"env","hash":"` + hash + `","role":"reader","disruptors":["*"]}]`,
		"BADBATCH_SECURITY_RATE_LIMIT=10",
		"BADBATCH_SECURITY_TLS_CERT_FILE=c.pem",
		"BADBATCH_SECURITY_TLS_KEY_FILE=k.pem",
		"BADBATCH_SECURITY_CORS_ALLOWED_ORIGINS=https://a.example.com,https://b.example.com",
	}
	c, err := Load(Source{Env: env})
	if err != nil {
		t.Fatal(err)
	}
	s := c.Security
	if len(s.APIKeys) != 1 || s.APIKeys[0].Name != "env" || s.APIKeys[0].Hash != hash || s.APIKeys[0].Role != "reader" ||
		s.RateLimit != 10 || s.TLS.CertFile != "c.pem" || len(s.CORS.AllowedOrigins) != 2 {
		t.Errorf("security from the environment: %+v", s)
	}
	if !slices.Contains(EnvNames(), "BADBATCH_SECURITY_API_KEYS") || slices.Contains(EnvNames(), "BADBATCH_DISRUPTOR_DISRUPTORS") {
		t.Errorf("EnvNames: %v", EnvNames())
	}
	if _, err := Load(Source{Env: []string{"BADBATCH_SECURITY_API_KEYS=[{name: x, role: [}"}}); err == nil {
		t.Error("a malformed BADBATCH_SECURITY_API_KEYS loaded")
	}
}

// TestRedactedHidesKeys: the configuration holds no key, only hashes, and
// Redacted (what `config show` prints) drops the hashes too.
func TestRedactedHidesKeys(t *testing.T) {
	const key = "bb_super-secret-key-material"
	hash := api.HashKey(key)
	c, err := Parse(fmt.Appendf(nil, "security:\n  api_keys:\n    - {name: ci, hash: %q, role: admin}\n", hash))
	if err != nil {
		t.Fatal(err)
	}
	r := c.Redacted()
	out, err := yaml.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	shown := string(out) + fmt.Sprintf("%+v %#v", r, r)
	hexPart := strings.TrimPrefix(hash, "sha256:")
	if strings.Contains(shown, key) || strings.Contains(shown, hexPart) {
		t.Errorf("Redacted shows a key or its hash:\n%s", shown)
	}
	if !strings.Contains(shown, "ci") {
		t.Errorf("Redacted lost the key's name:\n%s", out)
	}
	if c.Security.APIKeys[0].Hash != hash {
		t.Error("Redacted changed its receiver")
	}
}
