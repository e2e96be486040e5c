package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// The acceptance tests run the real badbatch binary, built once here,
// against real servers (badbatch server processes) on loopback ports the
// system picks.

// badbatchBin is the binary TestMain built.
var badbatchBin string

// configHome is the $XDG_CONFIG_HOME of every run of the binary: empty,
// so that no user's client contexts take part; a test of contexts gives
// its own.
var configHome string

// dataRoot holds a data directory per process started with baseEnv
// (BADBATCH_SERVER_DATA_DIR), so that no server writes ./data into the
// package directory and no two share one; dataDirs numbers them.
var (
	dataRoot string
	dataDirs atomic.Int64
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	flag.Parse()
	dir, err := os.MkdirTemp("", "badbatch-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	badbatchBin = filepath.Join(dir, "badbatch")
	configHome = filepath.Join(dir, "config")
	dataRoot = filepath.Join(dir, "data")
	if err := os.Mkdir(configHome, 0o700); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := buildBinary(badbatchBin); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	stopShared()
	if _, err := os.Stat("data"); err == nil {
		fmt.Fprintln(os.Stderr, "a test left a data directory in the package directory")
		code = 1
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			return 1
		}
	}
	return code
}

// buildBinary builds badbatch to out, with -race when the tests are (the
// race-built packages are then in the build cache already).
func buildBinary(out string) error {
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	args := []string{"build", "-o", out}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" && s.Value == "true" {
				args = append(args, "-race")
			}
		}
	}
	start := time.Now()
	if b, err := exec.Command(gobin, append(args, ".")...).CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, b)
	}
	if testing.Verbose() {
		fmt.Printf("built badbatch (%s) in %v\n", strings.Join(args[3:], " "), time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// baseEnv is the environment without BADBATCH_* variables, with an empty
// configuration directory (configHome), and with the race detector's
// one-second sleep at exit turned off (the binary is race-built when the
// tests are).
func baseEnv() []string {
	gorace := "atexit_sleep_ms=0"
	env := []string{"XDG_CONFIG_HOME=" + configHome,
		"BADBATCH_SERVER_DATA_DIR=" + filepath.Join(dataRoot, strconv.FormatInt(dataDirs.Add(1), 10))}
	for _, kv := range os.Environ() {
		switch {
		case strings.HasPrefix(kv, "BADBATCH_"), strings.HasPrefix(kv, "XDG_CONFIG_HOME="):
		case strings.HasPrefix(kv, "GORACE="):
			gorace = strings.TrimPrefix(kv, "GORACE=") + " " + gorace
		default:
			env = append(env, kv)
		}
	}
	return append(env, "GORACE="+gorace)
}

// cliResult is what one run of the binary did.
type cliResult struct {
	stdout, stderr string
	code           int
}

func (r cliResult) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// cliRun runs badbatch with args, env added to the base environment,
// and stdin.
type cliRun struct {
	env   []string
	stdin string
	dir   string
}

func (o cliRun) run(t testing.TB, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, badbatchBin, args...)
	cmd.Env = append(baseEnv(), o.env...)
	cmd.Stdin = strings.NewReader(o.stdin)
	cmd.Dir = o.dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := cliResult{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("badbatch %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// bb runs badbatch against the shared server and fails the test unless
// it exits 0.
func bb(t testing.TB, args ...string) string {
	t.Helper()
	r := cliRun{env: []string{envEndpoint + "=" + sharedServer(t).url}}.run(t, args...)
	if r.code != 0 {
		t.Fatalf("badbatch %s: %v", strings.Join(args, " "), r)
	}
	return r.stdout
}

// bbJSON runs badbatch -o json against the shared server and decodes its
// output into v.
func bbJSON(t testing.TB, v any, args ...string) {
	t.Helper()
	out := bb(t, append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("badbatch %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// createDisruptor creates a disruptor on the shared server for the
// test, deleted at its end (so that the tests can run again, -count=N,
// against the same server).
func createDisruptor(t testing.TB, name string, args ...string) string {
	t.Helper()
	out := bb(t, append([]string{"disruptor", "create", name}, args...)...)
	t.Cleanup(func() {
		cliRun{env: []string{envEndpoint + "=" + sharedServer(t).url}}.run(t, "disruptor", "delete", "--force", name)
	})
	return out
}

// shared is the shared server, started by the first test that needs it.
var shared struct {
	once sync.Once
	srv  *cliServer
	err  error
}

// sharedConfig is the shared server's configuration file: it declares a
// disruptor.
const sharedConfig = `
server:
  shutdown_timeout: 10s
disruptor:
  disruptors:
    - name: declared
      buffer_size: 128
      producer_type: multi
      wait_strategy: yielding
`

func sharedServer(t testing.TB) *cliServer {
	t.Helper()
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "badbatch-shared-")
		if err != nil {
			shared.err = err
			return
		}
		file := filepath.Join(dir, "shared.yaml")
		if shared.err = os.WriteFile(file, []byte(sharedConfig), 0o600); shared.err != nil {
			return
		}
		shared.srv, shared.err = startCLIServer(nil, "--config", file, "--bind", "127.0.0.1:0", "--log-format", "json")
	})
	if shared.err != nil {
		t.Fatalf("shared server: %v", shared.err)
	}
	return shared.srv
}

func stopShared() {
	if shared.srv != nil {
		if err := shared.srv.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "shared server:", err)
		}
	}
}

// cliServer is a `badbatch server` process.
type cliServer struct {
	cmd  *exec.Cmd
	url  string
	logs *syncBuffer
	done chan error
}

// syncBuffer is a bytes.Buffer safe for a writer and readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// logValue returns attr of the first JSON log line with message msg.
func (b *syncBuffer) logValue(msg, attr string) string {
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) == nil && line["msg"] == msg {
			if v, ok := line[attr].(string); ok {
				return v
			}
		}
	}
	return ""
}

// startCLIServer starts `badbatch server args...` (with JSON logs, so
// that the address it serves can be read) and waits until it serves.
func startCLIServer(env []string, args ...string) (*cliServer, error) {
	s := &cliServer{cmd: exec.Command(badbatchBin, append([]string{"server"}, args...)...), logs: &syncBuffer{}, done: make(chan error, 1)}
	s.cmd.Env = append(baseEnv(), env...)
	s.cmd.Stdout, s.cmd.Stderr = io.Discard, s.logs
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { s.done <- s.cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if addr := s.logs.logValue("serving", "addr"); addr != "" {
			s.url = "http://" + addr
			return s, nil
		}
		select {
		case err := <-s.done:
			return nil, fmt.Errorf("the server exited: %v\n%s", err, s.logs)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = s.cmd.Process.Kill()
			<-s.done
			return nil, fmt.Errorf("the server did not serve in time:\n%s", s.logs)
		}
	}
}

// stop sends SIGTERM and waits for a graceful exit. Calls after the
// first return its result.
func (s *cliServer) stop() error {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		s.done <- err
		if err != nil {
			return fmt.Errorf("%v\n%s", err, s.logs)
		}
		return nil
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		s.done <- <-s.done
		return errors.New("the server did not stop on SIGTERM")
	}
}

// startTestServer starts a server for one test, stopped at its end.
func startTestServer(t *testing.T, env []string, args ...string) *cliServer {
	t.Helper()
	s, err := startCLIServer(env, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// writeFile writes a file in the test's temporary directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
