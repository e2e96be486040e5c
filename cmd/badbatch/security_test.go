package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/badbatch/badbatch/api"
	"github.com/badbatch/badbatch/internal/testpki"
)

func TestConfigHashKey(t *testing.T) {
	r := cliRun{stdin: "s3cret\n"}.run(t, "config", "hash-key")
	if r.code != 0 || strings.TrimSpace(r.stdout) != api.HashKey("s3cret") {
		t.Fatalf("hash-key of s3cret: %v, want %s", r, api.HashKey("s3cret"))
	}
	if r := (cliRun{}).run(t, "config", "hash-key"); r.code != 2 || !strings.Contains(r.stderr, "no key") {
		t.Errorf("hash-key with no input: %v, want exit 2 naming the missing key", r)
	}
	r = cliRun{}.run(t, "config", "hash-key", "--generate")
	var key, hash string
	for _, line := range strings.Split(r.stdout, "\n") {
		if v, ok := strings.CutPrefix(line, "key:"); ok {
			key = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "hash:"); ok {
			hash = strings.TrimSpace(v)
		}
	}
	if r.code != 0 || key == "" || hash != api.HashKey(key) {
		t.Errorf("hash-key --generate: %v", r)
	}
}

// TestCLIWithAuth: a server with API keys answers the CLI only with a
// key, and a reader's key cannot create.
func TestCLIWithAuth(t *testing.T) {
	const adminKey, readerKey = "admin-key-for-tests", "reader-key-for-tests"
	file := writeFile(t, "auth.yaml", fmt.Sprintf(`security:
  api_keys:
    - name: admin
      hash: %q
      role: admin
    - name: reader
      hash: %q
      role: reader
      disruptors: ["*"]
`, api.HashKey(adminKey), api.HashKey(readerKey)))
	srv := startTestServer(t, nil, "--config", file, "--bind", "127.0.0.1:0", "--log-format", "json")
	env := []string{envEndpoint + "=" + srv.url}

	r := cliRun{env: env}.run(t, "disruptor", "list")
	if r.code != 1 || !strings.Contains(r.stderr, "UNAUTHORIZED") {
		t.Errorf("list without a key: %v, want exit 1 with UNAUTHORIZED", r)
	}
	if r := (cliRun{env: env}).run(t, "--api-key", adminKey, "disruptor", "create", "secured"); r.code != 0 {
		t.Fatalf("create as admin: %v", r)
	}
	r = cliRun{env: append(env, "BADBATCH_API_KEY="+readerKey)}.run(t, "disruptor", "create", "other")
	if r.code != 1 || !strings.Contains(r.stderr, "FORBIDDEN") {
		t.Errorf("create as reader: %v, want exit 1 with FORBIDDEN", r)
	}
	if r := (cliRun{env: append(env, "BADBATCH_API_KEY="+readerKey)}).run(t, "disruptor", "show", "secured"); r.code != 0 {
		t.Errorf("show as reader: %v", r)
	}
	if strings.Contains(srv.logs.String(), adminKey) || strings.Contains(srv.logs.String(), readerKey) {
		t.Error("an API key appears in the server's log")
	}
	for _, format := range []string{"table", "json", "yaml"} {
		r := cliRun{}.run(t, "--config", file, "config", "show", "-o", format)
		if r.code != 0 {
			t.Fatalf("config show: %v", r)
		}
		for _, secret := range []string{adminKey, readerKey, api.HashKey(adminKey), api.HashKey(readerKey)} {
			if strings.Contains(r.stdout, secret) || strings.Contains(r.stderr, secret) {
				t.Errorf("config show -o %s prints a key or its hash", format)
			}
		}
	}
}

// TestServerRefusesOpenPublicBind: without keys, a non-loopback bind
// needs --insecure, and the error says so.
func TestServerRefusesOpenPublicBind(t *testing.T) {
	r := cliRun{}.run(t, "server", "--bind", "0.0.0.0:0")
	if r.code == 0 || !strings.Contains(r.stderr, "--insecure") {
		t.Fatalf("public bind without auth: %v, want a refusal naming --insecure", r)
	}
}

// TestCLIOverTLS: the server serves HTTPS with a certificate from a CA
// made here; the CLI trusts it with --ca-cert, and fails without it.
func TestCLIOverTLS(t *testing.T) {
	ca := testpki.New(t, "badbatch test CA")
	caFile, server := ca.File, ca.Server(t, "127.0.0.1")
	file := writeFile(t, "tls.yaml", fmt.Sprintf("security:\n  tls:\n    cert_file: %q\n    key_file: %q\n", server.CertFile, server.KeyFile))
	srv := startTestServer(t, nil, "--config", file, "--bind", "127.0.0.1:0", "--log-format", "json")
	endpoint := "https://" + strings.TrimPrefix(srv.url, "http://")

	if r := (cliRun{}).run(t, "--endpoint", endpoint, "--ca-cert", caFile, "disruptor", "list"); r.code != 0 {
		t.Fatalf("list over TLS with the CA: %v", r)
	}
	if r := (cliRun{}).run(t, "--endpoint", endpoint, "disruptor", "list"); r.code == 0 {
		t.Errorf("list over TLS without the CA succeeded: %v", r)
	}
	if r := (cliRun{}).run(t, "--endpoint", srv.url, "--ca-cert", caFile, "disruptor", "list"); r.code == 0 {
		t.Errorf("plain HTTP to the TLS port succeeded: %v", r)
	}
}
