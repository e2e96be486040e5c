package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/badbatch/badbatch/api"
	"github.com/badbatch/badbatch/internal/testpki"
)

// tlsAuthServer starts a server that takes only HTTPS with a client
// certificate of ca and an admin API key.
func tlsAuthServer(t *testing.T, ca *testpki.CA, key string) (endpoint string) {
	t.Helper()
	server := ca.Server(t, "127.0.0.1")
	file := writeFile(t, "mtls.yaml", fmt.Sprintf(`security:
  tls:
    cert_file: %q
    key_file: %q
    client_ca_file: %q
  api_keys:
    - name: admin
      hash: %q
      role: admin
`, server.CertFile, server.KeyFile, ca.File, api.HashKey(key)))
	srv := startTestServer(t, nil, "--config", file, "--bind", "127.0.0.1:0", "--log-format", "json")
	return "https://" + strings.TrimPrefix(srv.url, "http://")
}

// TestContexts: client profiles are added, listed, shown, picked and
// removed; they carry the endpoint, the API key (from a file, standard
// input or a variable) and the TLS files to a server that needs all of
// them; the file is the owner's only (0600); no command prints a key; an
// endpoint from elsewhere puts the current context aside, and conflicts
// with a context named explicitly.
func TestContexts(t *testing.T) {
	const key = "context-test-admin-key"
	ca := testpki.New(t, "badbatch contexts CA")
	cl := ca.Client(t, "cli")
	endpoint := tlsAuthServer(t, ca, key)
	home := t.TempDir()
	work := t.TempDir()
	keyFile := filepath.Join(work, "prod.key")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := cliRun{env: []string{"XDG_CONFIG_HOME=" + home}, dir: work}
	must := func(r cliResult, what string) cliResult {
		t.Helper()
		if r.code != 0 {
			t.Fatalf("%s: %v", what, r)
		}
		if strings.Contains(r.stdout+r.stderr, key) {
			t.Errorf("%s printed the key: %v", what, r)
		}
		return r
	}

	// Relative paths are stored absolute; the key file is read at use.
	if err := os.WriteFile(filepath.Join(work, "ca.pem"), mustRead(t, ca.File), 0o600); err != nil {
		t.Fatal(err)
	}
	r := must(run.run(t, "context", "add", "prod", "--endpoint", endpoint, "--ca-cert", "ca.pem",
		"--client-cert", cl.CertFile, "--client-key", cl.KeyFile, "--api-key-file", "prod.key", "--use"), "context add prod")
	path := filepath.Join(home, "badbatch", "contexts.yaml")
	if !strings.Contains(r.stdout, "context prod added to "+path+"; it is the current context") {
		t.Errorf("context add: %q", r.stdout)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: %v, mode %v, want %v", p, err, st.Mode().Perm(), want)
		}
	}
	stored := string(mustRead(t, path))
	if strings.Contains(stored, key) || !strings.Contains(stored, filepath.Join(work, "ca.pem")) || !strings.Contains(stored, keyFile) {
		t.Errorf("the contexts file:\n%s", stored)
	}
	must(run.run(t, "disruptor", "create", "ctx-prod"), "create through the current context")

	// The key from standard input is stored (the file is 0600); from a
	// variable it is read at each use.
	must(cliRun{env: run.env, stdin: key + "\n"}.run(t, "context", "add", "piped", "--endpoint", endpoint, "--ca-cert", ca.File,
		"--client-cert", cl.CertFile, "--client-key", cl.KeyFile, "--api-key-file", "-"), "context add piped")
	if !strings.Contains(string(mustRead(t, path)), key) {
		t.Error("the key read from standard input is not stored")
	}
	must(run.run(t, "context", "add", "byenv", "--endpoint", endpoint, "--ca-cert", ca.File,
		"--client-cert", cl.CertFile, "--client-key", cl.KeyFile, "--api-key-env", "CTX_TEST_KEY"), "context add byenv")
	for _, format := range []string{"table", "wide", "json", "yaml"} {
		r := must(run.run(t, "context", "list", "-o", format), "context list -o "+format)
		if format == "table" {
			rows := checkTable(t, r.stdout, "CURRENT", "NAME", "ENDPOINT", "API KEY")
			if len(rows) != 3 || rows[0]["NAME"] != "byenv" || rows[0]["API KEY"] != "$CTX_TEST_KEY" ||
				rows[1]["NAME"] != "piped" || rows[1]["API KEY"] != "stored" || rows[2]["CURRENT"] != "*" || rows[2]["NAME"] != "prod" {
				t.Errorf("context list:\n%s", r.stdout)
			}
		}
		must(run.run(t, "context", "show", "piped", "-o", format), "context show -o "+format)
	}
	if kv := checkDetail(t, must(run.run(t, "context", "show"), "context show").stdout); kv["NAME"] != "prod" ||
		kv["API KEY"] != "file "+keyFile || kv["CA CERT"] != filepath.Join(work, "ca.pem") {
		t.Errorf("context show: %v", kv)
	}
	must(run.run(t, "--context", "piped", "disruptor", "show", "ctx-prod"), "--context piped")
	must(cliRun{env: append(run.env, envContext+"=byenv", "CTX_TEST_KEY="+key)}.run(t, "disruptor", "show", "ctx-prod"), "$BADBATCH_CONTEXT=byenv")
	// (No key: the client certificate alone has no role there.)
	if r := (cliRun{env: append(run.env, envContext+"=byenv")}).run(t, "disruptor", "show", "ctx-prod"); r.code != exitFailed || !strings.Contains(r.stderr, "cert:cli has no role") {
		t.Errorf("byenv without its variable: %v", r)
	}
	// Flags and variables override a context's settings.
	if r := run.run(t, "--api-key", "wrong", "disruptor", "show", "ctx-prod"); r.code != exitFailed || !strings.Contains(r.stderr, "UNAUTHORIZED") {
		t.Errorf("--api-key over the context's: %v", r)
	}

	// Another endpoint puts the current context aside: its key is not
	// sent there (a plain server that would take it answers 401), and an
	// explicit context with another endpoint is an error.
	plainFile := writeFile(t, "plain.yaml", fmt.Sprintf("security:\n  api_keys:\n    - name: admin\n      hash: %q\n      role: admin\n", api.HashKey(key)))
	plain := startTestServer(t, nil, "--config", plainFile, "--bind", "127.0.0.1:0", "--log-format", "json")
	if r := (cliRun{env: append(run.env, envEndpoint+"="+plain.url)}).run(t, "disruptor", "list"); r.code != exitFailed || !strings.Contains(r.stderr, "UNAUTHORIZED") {
		t.Errorf("$BADBATCH_ENDPOINT beside the current context: %v (the context's key must not go there)", r)
	}
	for _, tc := range []struct {
		env  []string
		args []string
		msg  string
	}{
		{nil, []string{"--context", "prod", "--endpoint", plain.url, "disruptor", "list"}, "--endpoint and context prod: give one or the other"},
		{[]string{envContext + "=prod", envEndpoint + "=" + plain.url}, []string{"disruptor", "list"}, "$BADBATCH_ENDPOINT and context prod"},
		{nil, []string{"--context", "nope", "disruptor", "list"}, `--context "nope": no such context`},
		{[]string{envContext + "=nope"}, []string{"disruptor", "list"}, `$BADBATCH_CONTEXT "nope": no such context`},
		{nil, []string{"context", "add", "prod", "--endpoint", endpoint}, `context "prod" exists: give --overwrite`},
		{nil, []string{"context", "add", "k", "--endpoint", endpoint, "--api-key", key}, "--api-key: a context does not take a key on the command line"},
		{nil, []string{"context", "add", "k"}, "context add needs --endpoint URL"},
		{nil, []string{"context", "add", "bad name", "--endpoint", endpoint}, `context name "bad name"`},
		{nil, []string{"context", "add", "k", "--endpoint", "ftp://x"}, "--endpoint: "},
		{nil, []string{"context", "add", "k", "--endpoint", endpoint, "--ca-cert", "missing.pem"}, "--ca-cert: stat "},
		{nil, []string{"context", "add", "k", "--endpoint", endpoint, "--api-key-file", "-"}, "standard input held no key"},
		{nil, []string{"context", "use", "nope"}, `context "nope": no such context`},
		{[]string{envInsecure + "=maybe"}, []string{"disruptor", "list"}, `$BADBATCH_INSECURE_SKIP_VERIFY "maybe": want true or false`},
	} {
		r := cliRun{env: append(run.env, tc.env...), dir: work}.run(t, tc.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.msg) || strings.Contains(r.stderr, key) {
			t.Errorf("%v %v: want exit 2 with %q, got %v", tc.env, tc.args, tc.msg, r)
		}
	}

	// A stored key in a file others may read gets a warning.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := must(run.run(t, "context", "list"), "list with 0644"); !strings.Contains(r.stderr, "others may read it (mode 0644): chmod 600 "+path) {
		t.Errorf("no warning about a readable key: %v", r)
	}
	must(run.run(t, "context", "add", "prod", "--endpoint", endpoint, "--overwrite", "--ca-cert", ca.File,
		"--client-cert", cl.CertFile, "--client-key", cl.KeyFile, "--api-key-file", keyFile), "context add --overwrite")
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("rewritten with mode %v", st.Mode().Perm())
	}
	if kv := checkDetail(t, must(run.run(t, "context", "show"), "show after overwrite").stdout); kv["NAME"] != "prod" || kv["CA CERT"] != ca.File {
		t.Errorf("overwritten context: %v", kv)
	}

	// Removal, and no current context.
	must(run.run(t, "context", "remove", "piped"), "context remove")
	if strings.Contains(string(mustRead(t, path)), key) {
		t.Error("the removed context's key is still stored")
	}
	must(run.run(t, "context", "use", "--none"), "context use --none")
	if r := run.run(t, "context", "show"); r.code != exitUsage || !strings.Contains(r.stderr, "no context is in use") {
		t.Errorf("show with no current context: %v", r)
	}
	must(cliRun{env: append(run.env, envEndpoint+"="+plain.url, envAPIKey+"="+key)}.run(t, "disruptor", "list"), "no current context")
	if out := must(run.run(t, "__complete", "--context", ""), "completing --context").stdout; !strings.HasPrefix(out, "byenv\nprod\n") {
		t.Errorf("completing --context: %q", out)
	}
}

// TestTLSFromEnv: every TLS flag has its variable.
func TestTLSFromEnv(t *testing.T) {
	const key = "env-test-admin-key"
	ca := testpki.New(t, "badbatch env CA")
	cl := ca.Client(t, "cli")
	endpoint := tlsAuthServer(t, ca, key)
	env := []string{envEndpoint + "=" + endpoint, envAPIKey + "=" + key, envCACert + "=" + ca.File,
		envClientCert + "=" + cl.CertFile, envClientKey + "=" + cl.KeyFile}
	if r := (cliRun{env: env}).run(t, "disruptor", "list"); r.code != 0 || r.stderr != "" {
		t.Fatalf("TLS from the environment: %v", r)
	}
	// Without the client certificate the server refuses the handshake.
	if r := (cliRun{env: env[:3]}).run(t, "disruptor", "list"); r.code != exitFailed {
		t.Errorf("without $BADBATCH_CLIENT_CERT: %v", r)
	}
	// Without the CA, $BADBATCH_INSECURE_SKIP_VERIFY=true connects, with
	// a warning naming the variable.
	insecure := append([]string{envInsecure + "=true"}, env[0], env[1], env[3], env[4])
	if r := (cliRun{env: insecure}).run(t, "disruptor", "list"); r.code != 0 ||
		!strings.Contains(r.stderr, "warning: $BADBATCH_INSECURE_SKIP_VERIFY: the server's certificate is not checked") {
		t.Errorf("$BADBATCH_INSECURE_SKIP_VERIFY=true: %v", r)
	}
	for _, tc := range []struct{ env, msg string }{
		{envCACert + "=/nonexistent/ca.pem", "$BADBATCH_CA_CERT: stat /nonexistent/ca.pem"},
		{envClientKey + "=", "--client-cert and --client-key go together"},
	} {
		r := cliRun{env: append(append([]string{}, env...), tc.env)}.run(t, "disruptor", "list")
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.msg) {
			t.Errorf("%s: want exit 2 with %q, got %v", tc.env, tc.msg, r)
		}
	}
	// A flag beats its variable.
	if r := (cliRun{env: append(append([]string{}, env...), envCACert+"=/nonexistent/ca.pem")}).run(t, "disruptor", "list", "--ca-cert", ca.File); r.code != 0 {
		t.Errorf("--ca-cert over $BADBATCH_CA_CERT: %v", r)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
