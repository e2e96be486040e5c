package main

import (
	"io"
	"os/exec"
	"syscall"
	"testing"
)

// startProcess starts the badbatch binary bin with args and env as the
// process id, collecting its log lines (stderr), and kills it when the
// test ends (printing its log if the test failed). It does not wait for
// the process to serve.
func startProcess(t *testing.T, bin, id string, env []string, args ...string) *serverProcess {
	t.Helper()
	return startCommand(t, id, env, exec.Command(bin, args...))
}

// startCommand is startProcess for a command made by the caller (one
// that runs the binary in a network namespace, say).
func startCommand(t *testing.T, id string, env []string, cmd *exec.Cmd) *serverProcess {
	t.Helper()
	p := &serverProcess{id: id, cmd: cmd, logs: &logLines{}, done: make(chan error, 1)}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = io.Discard, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("%s's log:\n%s", id, p.logs)
		}
	})
	return p
}

// startLogged starts a badbatch server process (the binary under test)
// with env and args, without waiting for it.
func startLogged(t *testing.T, id string, env []string, args ...string) *serverProcess {
	t.Helper()
	return startProcess(t, badbatchBin, id, env, args...)
}

// kill sends SIGKILL (to a paused process too) and waits for the process
// to end; later calls do nothing.
func (p *serverProcess) kill() {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGCONT)
		_ = p.cmd.Process.Kill()
		p.exit = <-p.done
	})
}

// signal sends sig to the process.
func (p *serverProcess) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v to %s: %v", sig, p.id, err)
	}
}
