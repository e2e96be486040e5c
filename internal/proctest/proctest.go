// Package proctest builds the badbatch binary and runs it as a server
// process on loopback, for the tests that need the real thing: the web
// console's browser test (ui), the dashboard's metrics check (deploy) and
// the journal's crash test (cmd/badbatch, which kills it with SIGKILL and
// starts it again on the same data directory). Every port is picked at
// run time.
package proctest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/badbatch/badbatch/internal/clustertest"
)

// Build builds cmd/badbatch into a temporary directory of t and returns
// its path; with -race when the tests are (the race-built packages are
// then in the build cache already).
func Build(t testing.TB) string {
	t.Helper()
	race := false
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			race = race || s.Key == "-race" && s.Value == "true"
		}
	}
	return build(t, race)
}

// BuildPlain builds cmd/badbatch without the race detector, whatever the
// tests are built with, for tests that measure the process itself (its
// memory: the race detector's shadow memory adds several times the heap).
func BuildPlain(t testing.TB) string {
	t.Helper()
	return build(t, false)
}

func build(t testing.TB, race bool) string {
	t.Helper()
	root := ModuleRoot(t)
	out := filepath.Join(t.TempDir(), "badbatch")
	args := []string{"build", "-o", out}
	if race {
		args = append(args, "-race")
	}
	cmd := exec.Command(goBin(), append(args, "./cmd/badbatch")...)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

func goBin() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(os.Getenv("GOROOT"), "bin", "go")
}

// ModuleRoot is the directory of the project's go.mod.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	b, err := exec.Command(goBin(), "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	mod := strings.TrimSpace(string(b))
	if mod == "" || mod == os.DevNull {
		t.Fatal("not in a module")
	}
	return filepath.Dir(mod)
}

// Key is an API key the server is started with.
type Key struct {
	Name, Key, Role string
	// Disruptors are a publisher's or reader's glob patterns.
	Disruptors []string
}

// Options are how to start a server.
type Options struct {
	// Keys turn authentication on.
	Keys []Key
	// Replication starts a one-node cluster that bootstraps its own Raft
	// group (gossip and Raft on loopback ports picked now), so that quorum
	// disruptors and the cluster and Raft routes work.
	Replication bool
	// Args are more arguments of `badbatch server`.
	Args []string
	// DataDir is the server's --data-dir (its journals); empty means a
	// new temporary directory. A test that restarts a server on the same
	// data (a crash test) gives the same DataDir to each Start.
	DataDir string
}

// Server is a running badbatch server process.
type Server struct {
	// URL is http://127.0.0.1:PORT.
	URL  string
	cmd  *exec.Cmd
	logs *lines
	done chan error
}

// Start starts `badbatch server` with opts in a temporary directory of t
// (its working directory, so that relative data paths of the defaults
// land there), waits until it serves (and, with Replication, until its
// Raft group has a leader), and stops it when the test ends.
func Start(t testing.TB, bin string, opts Options) *Server {
	t.Helper()
	dir := t.TempDir()
	dataDir := opts.DataDir
	if dataDir == "" {
		dataDir = filepath.Join(dir, "data")
	}
	args := []string{"server", "--bind", "127.0.0.1:0", "--log-format", "json", "--data-dir", dataDir}
	if len(opts.Keys) > 0 {
		cfg := filepath.Join(dir, "badbatch.yaml")
		if err := os.WriteFile(cfg, keysConfig(opts.Keys), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", cfg)
	}
	if opts.Replication {
		args = append(args, "--cluster", "--cluster-bind", "127.0.0.1:0", "--node-id", "n1",
			"--replication", "--raft-bootstrap", "--raft-bind", FreeAddr(t), "--raft-data-dir", filepath.Join(dir, "raft"))
	}
	args = append(args, opts.Args...)
	s := &Server{cmd: exec.Command(bin, args...), logs: &lines{}, done: make(chan error, 1)}
	s.cmd.Env, s.cmd.Dir = env(), dir
	s.cmd.Stdout, s.cmd.Stderr = io.Discard, s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(15 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		if t.Failed() {
			t.Logf("server log:\n%s", s.logs.excerpt(50, 200))
		}
	})
	s.waitFor(t, 60*time.Second, "the server to serve", func() bool {
		if addr := s.logs.value("serving", "addr"); addr != "" {
			s.URL = "http://" + addr
			return true
		}
		return false
	})
	if opts.Replication {
		admin := ""
		for _, k := range opts.Keys {
			if k.Role == "admin" {
				admin = k.Key
			}
		}
		s.waitFor(t, 60*time.Second, "a Raft leader", func() bool {
			var st struct {
				State string `json:"state"`
			}
			return s.Do(admin, "GET", "/api/v1/cluster/raft", nil, &st) == http.StatusOK && st.State == "leader"
		})
	}
	return s
}

// Kill kills the server with SIGKILL, as kill -9 does (no shutdown:
// what the process had not written is lost, what it wrote is in the page
// cache), and waits for it to end. A crash test starts another server on
// the same data directory (Options.Args) afterwards.
func (s *Server) Kill() {
	_ = s.cmd.Process.Kill()
	err := <-s.done
	s.done <- err // for the test's cleanup
}

// HasServerFlag reports whether `badbatch server` of bin takes the flag
// --name, for tests that pass a flag of a newer build when it has it.
func HasServerFlag(t testing.TB, bin, name string) bool {
	t.Helper()
	b, err := exec.Command(bin, "server", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("%s server --help: %v\n%s", bin, err, b)
	}
	return strings.Contains(string(b), "--"+name+" ")
}

// Pid is the server process's id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Logs is what the server has logged so far.
func (s *Server) Logs() string { return s.logs.String() }

func (s *Server) waitFor(t testing.TB, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		select {
		case err := <-s.done:
			t.Fatalf("the server exited (%v) while waiting for %s; log:\n%s", err, what, s.logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s after %v; log:\n%s", what, d, s.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Do makes one JSON request with key (none when empty), decodes a JSON
// answer into out when it is not nil, and returns the status (0 when the
// request failed).
func (s *Server) Do(key, method, path string, body, out any) int {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.URL+path, rd)
	if err != nil {
		return 0
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			if sp, ok := out.(*string); ok {
				*sp = string(b)
			}
		}
	}
	return res.StatusCode
}

// MustDo is Do, failing the test unless the status is want.
func (s *Server) MustDo(t testing.TB, key, method, path string, body, out any, want int) {
	t.Helper()
	if got := s.Do(key, method, path, body, out); got != want {
		t.Fatalf("%s %s: status %d, want %d", method, path, got, want)
	}
}

// Text GETs path with key and returns the body.
func (s *Server) Text(t testing.TB, key, path string) string {
	t.Helper()
	req, err := http.NewRequest("GET", s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v %s", path, res.StatusCode, err, b)
	}
	return string(b)
}

// FreeAddr returns a loopback address whose port was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return clustertest.FreeAddr(t)
}

// keysConfig is a configuration file with the API keys.
func keysConfig(keys []Key) []byte {
	var b strings.Builder
	b.WriteString("security:\n  api_keys:\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "    - name: %q\n      hash: %q\n      role: %q\n", k.Name, hash(k.Key), k.Role)
		if len(k.Disruptors) > 0 {
			q := make([]string, len(k.Disruptors))
			for i, d := range k.Disruptors {
				q[i] = fmt.Sprintf("%q", d)
			}
			fmt.Fprintf(&b, "      disruptors: [%s]\n", strings.Join(q, ", "))
		}
	}
	return []byte(b.String())
}

// env is the environment without BADBATCH_* variables, and with the race
// detector's sleep at exit off.
func env() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "BADBATCH_") || strings.HasPrefix(kv, "GORACE=") || strings.HasPrefix(kv, "OTEL_") {
			continue
		}
		out = append(out, kv)
	}
	return append(out, "GORACE=atexit_sleep_ms=0 halt_on_error=1")
}

// lines collects a process's JSON log lines.
type lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// excerpt is the log, or, when it has more than head+tail lines (a
// server under load logs every request), its first head and last tail
// lines.
func (l *lines) excerpt(head, tail int) string {
	all := strings.SplitAfter(l.String(), "\n")
	if len(all) <= head+tail {
		return strings.Join(all, "")
	}
	return strings.Join(all[:head], "") + fmt.Sprintf("[... %d lines ...]\n", len(all)-head-tail) + strings.Join(all[len(all)-tail:], "")
}

// value is field of the first line whose msg is msg.
func (l *lines) value(msg, field string) string {
	sc := bufio.NewScanner(strings.NewReader(l.String()))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil || m["msg"] != msg {
			continue
		}
		if v, ok := m[field].(string); ok {
			return v
		}
	}
	return ""
}

// hash is the form of key security.api_keys[].hash holds.
func hash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:])
}
