package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readmeSection returns the README's section under the heading, up to the
// next one.
func readmeSection(t *testing.T, heading string) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("the README has no %q section", heading)
	}
	rest, _, _ = strings.Cut(rest, "\n## ")
	return rest
}

// sectionCommands returns the badbatch command lines of the section's sh
// blocks, comments cut off.
func sectionCommands(section string) []string {
	var cmds []string
	inBlock := false
	for _, line := range strings.Split(section, "\n") {
		switch {
		case strings.HasPrefix(line, "```"):
			inBlock = !inBlock
		case inBlock && strings.HasPrefix(line, "badbatch "):
			line, _, _ = strings.Cut(line, " # ")
			cmds = append(cmds, strings.TrimSpace(line))
		}
	}
	return cmds
}

// TestREADMECluster runs the README's three-node replicated cluster: its
// exact commands, in a scratch directory, with each loopback port the
// README names replaced by a free one (others run tests on this machine
// at the same time). The three servers form a Raft group; the create,
// the publish through a follower and the consistent replay succeed; then
// what the README says after it holds: with one node killed the two
// others stay ready and say the cluster is degraded, and with two killed
// a consistent read fails (no quorum) while a plain one is answered.
func TestREADMECluster(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process replication test: run without -short")
	}
	cmds := sectionCommands(readmeSection(t, "## A cluster"))
	if len(cmds) < 6 {
		t.Fatalf("the README's cluster section has %d commands: %q", len(cmds), cmds)
	}
	ports := map[string]string{}
	addr := regexp.MustCompile(`127\.0\.0\.1:\d+`)
	for i, c := range cmds {
		cmds[i] = addr.ReplaceAllStringFunc(c, func(a string) string {
			if ports[a] == "" {
				ports[a] = freePort(t)
			}
			return ports[a]
		})
	}
	dir := t.TempDir()
	env := append(baseEnv(), fmt.Sprintf("BADBATCH_CLUSTER_LABEL=badbatch-readme-test-%d", os.Getpid()))
	type node struct {
		id, api string
		cmd     *exec.Cmd
		logs    *syncBuffer
		done    chan error
	}
	var nodes []*node
	var rest [][]string
	for _, c := range cmds {
		words := shellWords(t, c)
		if words[len(words)-1] != "&" {
			rest = append(rest, words[1:])
			continue
		}
		words = words[1 : len(words)-1]
		n := &node{logs: &syncBuffer{}, done: make(chan error, 1)}
		for i, w := range words {
			switch {
			case w == "--node-id":
				n.id = words[i+1]
			case w == "--bind":
				n.api = words[i+1]
			case w == "--raft-data-dir" && filepath.IsAbs(words[i+1]):
				t.Fatalf("the README's data directory %s is absolute", words[i+1])
			}
		}
		n.cmd = exec.Command(badbatchBin, words...)
		n.cmd.Dir, n.cmd.Env = dir, env
		n.cmd.Stdout, n.cmd.Stderr = n.logs, n.logs
		if err := n.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { n.done <- n.cmd.Wait() }()
		t.Cleanup(func() {
			_ = n.cmd.Process.Kill()
			<-n.done
			if t.Failed() {
				t.Logf("%s's log:\n%s", n.id, n.logs)
			}
		})
		nodes = append(nodes, n)
	}
	if len(nodes) != 3 {
		t.Fatalf("the README starts %d servers, want 3", len(nodes))
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	status := func(url string) int {
		resp, err := hc.Get(url)
		if err != nil {
			return 0
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, n := range nodes {
		poll(t, 60*time.Second, n.id+" to serve", func() bool { return status("http://"+n.api+"/health") == http.StatusOK })
	}
	run := cliRun{env: []string{fmt.Sprintf("BADBATCH_CLUSTER_LABEL=badbatch-readme-test-%d", os.Getpid())}, dir: dir}
	for _, args := range rest {
		line := strings.Join(args, " ")
		switch {
		case args[0] == "cluster" && args[1] == "raft":
			// Typed by hand, this comes a few seconds after the servers:
			// wait for the group the comment describes.
			var r cliResult
			poll(t, 90*time.Second, "three voters and a leader", func() bool {
				r = run.run(t, args...)
				return r.code == 0 && strings.Count(r.stdout, " voter ") == 3 && strings.Contains(r.stdout, "leader n1 ")
			})
			t.Logf("badbatch %s:\n%s", line, r.stdout)
			continue
		}
		var r cliResult
		// The first change through a node may meet a leader it has not
		// heard of yet (NO_QUORUM, retried by the client): poll briefly.
		poll(t, 30*time.Second, "badbatch "+line, func() bool { r = run.run(t, args...); return r.code == 0 })
		t.Logf("badbatch %s:\n%s", line, r.stdout)
		switch {
		case args[0] == "event" && args[1] == "replay":
			rows := checkTable(t, r.stdout, "SEQUENCE", "PAYLOAD")
			if len(rows) != 1 || rows[0]["SEQUENCE"] != "0" || rows[0]["PAYLOAD"] != `{"amount":42}` {
				t.Errorf("%s: %v", line, rows)
			}
		case args[0] == "cluster" && args[1] == "members":
			if strings.Count(r.stdout, " alive ") != 3 {
				t.Errorf("%s:\n%s", line, r.stdout)
			}
		}
	}

	// Kill one node: the others stay ready and say the cluster is
	// degraded, and still take publishes.
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	if err := n3.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	proc := func(n *node) *serverProcess { return &serverProcess{id: n.id, api: n.api} }
	for _, n := range []*node{n1, n2} {
		poll(t, 90*time.Second, n.id+" to see "+n3.id+" dead", func() bool { return states(t, badbatchBin, proc(n))[n3.id] == "dead" })
		checkReadyWithDeadPeer(t, proc(n), n3.id)
	}
	if r := run.run(t, "event", "publish", "payments", `{"amount":43}`, "--endpoint", "http://"+n2.api); r.code != 0 {
		t.Errorf("publish with one node of three down: %v", r)
	}

	// Kill another: the last has no quorum. A consistent read says so; a
	// plain one answers from its copy.
	if err := n2.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var r cliResult
	poll(t, 60*time.Second, "a consistent read on n1 alone to fail", func() bool {
		r = run.run(t, "event", "replay", "payments", "--consistent", "--endpoint", "http://"+n1.api, "--timeout", "5s")
		return r.code == exitFailed
	})
	if !strings.Contains(r.stderr, "NO_QUORUM") && !strings.Contains(r.stderr, "NOT_LEADER") {
		t.Errorf("consistent read without a quorum: %v", r)
	}
	if r := run.run(t, "event", "replay", "payments", "--endpoint", "http://"+n1.api); r.code != 0 || !strings.Contains(r.stdout, `{"amount":43}`) {
		t.Errorf("plain read without a quorum: %v", r)
	}
}
