// Package clustertest is the shared harness of the cluster, replication,
// server and command tests: waiting for a condition with a deadline
// (never sleeping as synchronisation), free loopback ports picked at run
// time, and the tests' logger. The loopback presets of the parts
// themselves are [cluster.LoopbackConfig] and
// [replication.LoopbackConfig].
//
// Deadlines are generous on purpose: the tests share a small machine with
// others, and a deadline only bounds how long a broken test takes to
// fail, never how long a passing one takes.
package clustertest

import (
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"
)

// Poll is how often [WaitFor] and [Never] look at their condition.
const Poll = 10 * time.Millisecond

// WaitFor polls cond until it holds, failing the test (t.Fatalf) after
// timeout with what it was waiting for.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Eventually(timeout, cond) {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}

// Eventually polls cond until it holds or timeout passes, and reports
// whether it held.
func Eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(Poll)
	}
	return true
}

// Never polls cond for the whole window, failing the test with what if it
// ever holds.
func Never(t testing.TB, window time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(window)
	for time.Now().Before(deadline) {
		if cond() {
			t.Fatalf("%s", what)
		}
		time.Sleep(Poll)
	}
}

// FreeAddr returns a loopback TCP address ("127.0.0.1:port") whose port
// was free a moment ago, for a process that must be told its port before
// it starts. Prefer binding ":0" and asking the listener where it can.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Logger returns the tests' logger: to stderr when BADBATCH_TEST_LOG is
// set (to "debug" for everything), else discarding. It never logs through
// t, since background goroutines may log briefly after a test ends.
func Logger() *slog.Logger {
	v := os.Getenv("BADBATCH_TEST_LOG")
	if v == "" {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	level := slog.LevelInfo
	if v == "debug" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}
