package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// startServer runs the server command's body on a free loopback port.
func startServer(t *testing.T) (addr string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	listening := make(chan net.Addr, 1)
	done := make(chan error, 1)
	var logs bytes.Buffer
	o := serverOptions{bind: "127.0.0.1:0", logLevel: "warn", logFormat: "json", shutdownTimeout: 10 * time.Second,
		dataDir: t.TempDir(), onListen: func(a net.Addr) { listening <- a }}
	go func() { done <- runServer(ctx, o, &logs) }()
	select {
	case a := <-listening:
		addr = a.String()
	case err := <-done:
		cancel()
		t.Fatalf("server did not start: %v", err)
	}
	return addr, func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(15 * time.Second):
			return errors.New("server did not stop")
		}
	}
}

// TestServerCommand starts the server on the embedded defaults, checks it
// serves, and stops it as a signal would.
func TestServerCommand(t *testing.T) {
	addr, stop := startServer(t)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	res, err := c.Get("http://" + addr + "/health/ready")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("ready: %d", res.StatusCode)
	}
	// A stream open at shutdown gets its final message.
	res, err = c.Post("http://"+addr+"/api/v1/disruptors", "application/json", strings.NewReader(`{"name":"s"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	res, err = c.Get("http://" + addr + "/api/v1/disruptors/s/events/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	body, _ := io.ReadAll(res.Body)
	if !strings.Contains(string(body), "event: end") || !strings.Contains(string(body), `"reason":"shutdown"`) {
		t.Errorf("stream at shutdown: %q", body)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if _, err := c.Get("http://" + addr + "/health"); err == nil {
		t.Fatal("still serving after shutdown")
	}
}

// TestREADME checks the README's first commands and runs its curl session
// against a real server.
func TestREADME(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var cmds, curls []string
	inBlock := false
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "```"):
			inBlock = !inBlock
		case inBlock && strings.HasPrefix(line, "go "):
			cmd, _, _ := strings.Cut(line, "#")
			cmds = append(cmds, strings.TrimSpace(cmd))
		case inBlock && strings.HasPrefix(line, "curl "):
			curls = append(curls, line)
		}
	}
	if len(cmds) < 2 || cmds[0] != "go run ./cmd/badbatch server" || cmds[1] != "go test -race -short ./..." {
		t.Fatalf("the README's first commands are %q", cmds)
	}
	if len(curls) != 3 {
		t.Fatalf("want a three-line curl session, got %q", curls)
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("no curl")
	}
	addr, stop := startServer(t)
	defer func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	}()
	var out [3]map[string]any
	for i, line := range curls {
		line = strings.ReplaceAll(line, "localhost:8080", addr)
		b, err := exec.Command("sh", "-c", line).Output()
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if err := json.Unmarshal(b, &out[i]); err != nil {
			t.Fatalf("%s: %q: %v", line, b, err)
		}
	}
	if out[0]["name"] != "orders" || out[0]["state"] != "running" {
		t.Errorf("create: %v", out[0])
	}
	if out[1]["first_sequence"] != 0.0 {
		t.Errorf("publish: %v", out[1])
	}
	evs, _ := out[2]["events"].([]any)
	if len(evs) != 1 || evs[0].(map[string]any)["payload"].(map[string]any)["item"] != "book" {
		t.Errorf("replay: %v", out[2])
	}
}

func TestServerFlags(t *testing.T) {
	cases := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"server", "--log-level", "loud"}, 2, "--log-level"},
		{[]string{"server", "--log-format", "xml"}, 2, "--log-format"},
		{[]string{"server", "--nope"}, 2, "unknown flag"},
		{[]string{"server", "extra"}, 2, "unknown command"},
		{[]string{"server", "--bind", "256.0.0.1:99999"}, 2, "--bind"},
		{[]string{"server", "--bind", "256.0.0.1:80", "--data-dir", t.TempDir()}, 1, "listening"},
	}
	for _, c := range cases {
		cmd := newRootCommand()
		cmd.SetArgs(c.args)
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		err := cmd.ExecuteContext(context.Background())
		if err == nil || exitCode(err) != c.code || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%v: %v (exit %d)", c.args, err, exitCode(err))
		}
	}
}
