package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/badbatch/badbatch/client"
)

// tailProcess is a running `badbatch event tail`.
type tailProcess struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan error
}

func startTail(t *testing.T, env []string, args ...string) *tailProcess {
	t.Helper()
	p := &tailProcess{cmd: exec.Command(badbatchBin, append([]string{"event", "tail"}, args...)...),
		stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd.Env = append(baseEnv(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		p.done <- nil
	})
	return p
}

// exit waits for the tail to end and returns its exit code.
func (p *tailProcess) exit(t *testing.T) int {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(60 * time.Second):
		t.Fatalf("the tail did not end\nstdout:\n%s\nstderr:\n%s", p.stdout, p.stderr)
	}
	return -1
}

// events decodes the NDJSON the tail printed.
func (p *tailProcess) events(t *testing.T) []client.Event {
	t.Helper()
	var evs []client.Event
	for _, line := range strings.Split(strings.TrimSpace(p.stdout.String()), "\n") {
		if line == "" {
			continue
		}
		var ev client.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("tail line %q: %v", line, err)
		}
		evs = append(evs, ev)
	}
	return evs
}

// waitEvents waits until the tail printed n events.
func (p *tailProcess) waitEvents(t *testing.T, n int) []client.Event {
	t.Helper()
	poll(t, 60*time.Second, fmt.Sprintf("the tail to print %d events", n), func() bool {
		return strings.Count(p.stdout.String(), "\n") >= n
	})
	return p.events(t)
}

// TestTailReconnect: a tail of a replicated disruptor follows it across
// a restart of its server (the Raft log keeps the events): it says it
// reconnects, and resumes after the last event it printed, so that every
// event shows once, in order; it exits 0 when the disruptor stops.
func TestTailReconnect(t *testing.T) {
	args := []string{"--bind", freePort(t), "--log-format", "json", "--cluster", "--cluster-bind", freePort(t), "--node-id", "solo",
		"--replication", "--raft-bind", freePort(t), "--raft-data-dir", t.TempDir(), "--raft-bootstrap"}
	env := []string{fmt.Sprintf("BADBATCH_CLUSTER_LABEL=badbatch-tail-test-%d", os.Getpid())}
	srv := startTestServer(t, env, args...)
	run := cliRun{env: []string{envEndpoint + "=" + srv.url}}
	ok := func(what string, a ...string) {
		t.Helper()
		var r cliResult
		// Right after a start the node may not lead yet: poll.
		poll(t, 60*time.Second, what, func() bool { r = run.run(t, a...); return r.code == 0 })
	}
	ok("create a replicated disruptor", "disruptor", "create", "tail-rep", "--replication", "quorum")
	ok("publish three", "event", "batch", "tail-rep", `[{"n":0},{"n":1},{"n":2}]`)
	tail := startTail(t, run.env, "tail-rep", "--from", "0", "-o", "json")
	tail.waitEvents(t, 3)

	if err := srv.stop(); err != nil {
		t.Fatalf("stopping the server: %v", err)
	}
	poll(t, 30*time.Second, "the tail to say it reconnects", func() bool {
		return strings.Contains(tail.stderr.String(), "reconnecting to resume at sequence 3")
	})
	srv = startTestServer(t, env, args...)
	ok("publish two after the restart", "event", "batch", "tail-rep", `[{"n":3},{"n":4}]`)
	evs := tail.waitEvents(t, 5)
	for i, ev := range evs {
		if ev.Sequence != int64(i) || compactJSON(ev.Payload) != fmt.Sprintf(`{"n":%d}`, i) {
			t.Errorf("event %d: %d %s", i, ev.Sequence, ev.Payload)
		}
	}
	if len(evs) != 5 || !strings.Contains(tail.stderr.String(), "reconnected to "+srv.url+"; resuming at sequence 3") ||
		strings.Contains(tail.stderr.String(), "created anew") {
		t.Errorf("%d events; stderr:\n%s", len(evs), tail.stderr)
	}
	ok("stop the disruptor", "disruptor", "stop", "tail-rep")
	if code := tail.exit(t); code != 0 || !strings.Contains(tail.stderr.String(), "the stream ended: disruptor tail-rep was stopped (last sequence 4)") {
		t.Errorf("tail after the stop: exit %d\n%s", code, tail.stderr)
	}
}

// TestTailEnds: how a tail ends. A server that keeps no disruptors comes
// back without the disruptor: the tail waits for it, and follows the new
// one from its start with a warning. --no-reconnect ends with exit 1 at a
// shutdown; a deleted disruptor ends the tail with exit 1; the table has
// a header (unless --no-headers) and aligned columns.
func TestTailEnds(t *testing.T) {
	bind := freePort(t)
	srv := startTestServer(t, nil, "--bind", bind, "--log-format", "json")
	run := cliRun{env: []string{envEndpoint + "=" + srv.url}}
	ok := func(a ...string) {
		t.Helper()
		if r := run.run(t, a...); r.code != 0 {
			t.Fatalf("%v: %v", a, r)
		}
	}
	ok("disruptor", "create", "ends")
	ok("event", "publish", "ends", `"old"`)
	follow := startTail(t, run.env, "ends", "--from", "0", "-o", "json")
	once := startTail(t, run.env, "ends", "--from", "0", "--no-reconnect")
	follow.waitEvents(t, 1)
	poll(t, 30*time.Second, "the table's first row", func() bool { return strings.Count(once.stdout.String(), "\n") >= 2 })

	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	if code := once.exit(t); code != exitFailed ||
		once.stderr.String() != "badbatch: the server is shutting down; not reconnecting (--no-reconnect)\n" {
		t.Errorf("--no-reconnect at a shutdown: exit %d\n%s", code, once.stderr)
	}
	rows := checkTable(t, once.stdout.String(), "SEQUENCE", "TIME", "METADATA", "PAYLOAD")
	if len(rows) != 1 || rows[0]["PAYLOAD"] != `"old"` || rows[0]["METADATA"] != "-" {
		t.Errorf("the tail's table: %v\n%s", rows, once.stdout)
	}

	startTestServer(t, nil, "--bind", bind, "--log-format", "json")
	poll(t, 30*time.Second, "the tail to wait for the disruptor", func() bool {
		return strings.Contains(follow.stderr.String(), "disruptor ends is not on the server now; waiting for it")
	})
	ok("disruptor", "create", "ends")
	ok("event", "publish", "ends", `"new"`)
	evs := follow.waitEvents(t, 2)
	if len(evs) != 2 || evs[1].Sequence != 0 || compactJSON(evs[1].Payload) != `"new"` ||
		!strings.Contains(follow.stderr.String(), "warning: disruptor ends was created anew at ") {
		t.Errorf("after the restart: %v\n%s", evs, follow.stderr)
	}

	// Deleted under the tail: exit 1. Without headers: rows only.
	bare := startTail(t, run.env, "ends", "--from", "0", "--no-headers")
	poll(t, 30*time.Second, "the bare tail's row", func() bool { return strings.Count(bare.stdout.String(), "\n") >= 1 })
	ok("disruptor", "delete", "ends")
	for _, p := range []*tailProcess{follow, bare} {
		if code := p.exit(t); code != exitFailed || !strings.Contains(p.stderr.String(), "badbatch: the stream ended: disruptor ends was deleted (last sequence 0)") {
			t.Errorf("tail of a deleted disruptor: exit %d\n%s", code, p.stderr)
		}
	}
	if out := bare.stdout.String(); strings.Count(out, "\n") != 1 || strings.Contains(out, "SEQUENCE") || !strings.HasPrefix(out, "0 ") {
		t.Errorf("tail --no-headers: %q", out)
	}
}
