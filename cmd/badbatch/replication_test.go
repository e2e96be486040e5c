package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// freePort returns a loopback address with a port free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startReplicaProcess starts a clustered server with replication on.
func startReplicaProcess(t *testing.T, bin, id string, bootstrap bool, seeds ...string) *serverProcess {
	t.Helper()
	args := []string{"server", "--bind", "127.0.0.1:0", "--log-format", "json",
		"--cluster", "--cluster-bind", "127.0.0.1:0", "--node-id", id,
		"--replication", "--raft-bind", freePort(t), "--raft-data-dir", t.TempDir()}
	if bootstrap {
		args = append(args, "--raft-bootstrap")
	}
	for _, s := range seeds {
		args = append(args, "--seed", s)
	}
	p := &serverProcess{id: id, cmd: exec.Command(bin, args...), logs: &logLines{}, done: make(chan error, 1)}
	p.cmd.Env = clusterEnv()
	p.cmd.Stdout, p.cmd.Stderr = io.Discard, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s's log:\n%s", id, p.logs)
		}
	})
	poll(t, 30*time.Second, id+" to serve", func() bool {
		p.api, p.gossip = p.logs.find("serving", "addr"), p.logs.find("cluster: API advertised", "gossip_addr")
		return p.api != "" && p.gossip != ""
	})
	return p
}

// TestReplicationProcesses is the multi-process acceptance test of
// replication: three `badbatch server --cluster --replication` processes;
// a quorum disruptor created on the bootstrap node (the leader); four
// publishers sending batches with idempotency keys through every node
// (followers redirect to the leader with 307; failures are retried with
// the same key); the leader killed with SIGKILL mid-run. Afterwards every
// acknowledged event is on both survivors exactly once, at the same
// sequences.
//
// It saturates the machine for a few seconds, which makes the in-process
// Raft tests that run beside it under `go test ./...` see elections, so
// it does not run with -short: go test -race -run TestReplicationProcesses
// ./cmd/badbatch.
func TestReplicationProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process replication test: run without -short")
	}
	bin := badbatchBin
	n1 := startReplicaProcess(t, bin, "n1", true)
	n2 := startReplicaProcess(t, bin, "n2", false, n1.gossip)
	n3 := startReplicaProcess(t, bin, "n3", false, n1.gossip)
	poll(t, 60*time.Second, "n1 to add n2 and n3 as voters", func() bool {
		return strings.Count(n1.logs.String(), `"msg":"replication: adding a voter"`) >= 2
	})
	hc := &http.Client{Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	post := func(addr, path, key string, body any) (int, []byte, error) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", "http://"+addr+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, out, nil
	}
	if st, out, err := post(n2.api, "/api/v1/disruptors", "", map[string]any{
		"name": "orders", "replication": "quorum", "buffer_size": 1 << 16, "max_event_size": 1024}); err != nil || st != http.StatusCreated {
		t.Fatalf("create through n2 (redirected to the leader): %d %v %s", st, err, out)
	}

	const workers, batch = 4, 10
	nodes := []*serverProcess{n1, n2, n3}
	var (
		mu    sync.Mutex
		acked = map[string]bool{}
		stop  atomic.Bool
		wg    sync.WaitGroup
		fails atomic.Int64
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := w
			for i := 0; !stop.Load(); i++ {
				key := fmt.Sprintf("w%d-%d", w, i)
				events := make([]map[string]any, batch)
				for j := range events {
					events[j] = map[string]any{"payload": map[string]any{"id": fmt.Sprintf("%s-%d", key, j)}}
				}
				for !stop.Load() { // retry with the same key until acknowledged
					st, _, err := post(nodes[next%3].api, "/api/v1/disruptors/orders/events", key, map[string]any{"events": events})
					if err == nil && st == http.StatusOK {
						mu.Lock()
						for j := range events {
							acked[fmt.Sprintf("%s-%d", key, j)] = true
						}
						mu.Unlock()
						break
					}
					fails.Add(1)
					next++
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	poll(t, 30*time.Second, "some acknowledged events", func() bool { return count() >= 2000 })
	before := count()
	killed := time.Now()
	if err := n1.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	poll(t, 60*time.Second, "publishing to resume after the kill", func() bool { return count() >= before+2000 })
	t.Logf("publishing resumed %v after SIGKILL of the leader", time.Since(killed).Round(time.Millisecond))
	stop.Store(true)
	wg.Wait()
	total := count()
	t.Logf("acknowledged %d events (%d before the kill), %d failed attempts retried", total, before, fails.Load())

	read := func(p *serverProcess) []string {
		var ids []string
		from := int64(0)
		for {
			resp, err := hc.Get(fmt.Sprintf("http://%s/api/v1/disruptors/orders/events?from=%d&limit=1000", p.api, from))
			if err != nil {
				t.Fatal(err)
			}
			var page struct {
				Events []struct {
					Sequence int64 `json:"sequence"`
					Payload  struct {
						ID string `json:"id"`
					} `json:"payload"`
				} `json:"events"`
				NextSequence int64 `json:"next_sequence"`
			}
			err = json.NewDecoder(resp.Body).Decode(&page)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range page.Events {
				if e.Sequence != int64(len(ids)) {
					t.Fatalf("%s: sequence %d at position %d", p.id, e.Sequence, len(ids))
				}
				ids = append(ids, e.Payload.ID)
			}
			if len(page.Events) == 0 {
				return ids
			}
			from = page.NextSequence
		}
	}
	var got [][]string
	for _, p := range []*serverProcess{n2, n3} {
		var ids []string
		// Followers apply committed entries shortly after the leader.
		poll(t, 30*time.Second, p.id+" to hold every acknowledged event", func() bool {
			ids = read(p)
			return len(ids) >= total
		})
		seen := map[string]int{}
		for _, id := range ids {
			seen[id]++
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("%s: event %s present %d times", p.id, id, n)
			}
		}
		missing := 0
		for id := range acked {
			if seen[id] == 0 {
				missing++
			}
		}
		if missing > 0 {
			t.Errorf("%s: %d of %d acknowledged events missing", p.id, missing, total)
		}
		t.Logf("%s: %d events present, %d acknowledged, none missing or doubled", p.id, len(ids), total)
		got = append(got, ids)
	}
	if len(got) == 2 && strings.Join(got[0], ",") != strings.Join(got[1], ",") {
		poll(t, 10*time.Second, "n2 and n3 to converge", func() bool {
			return strings.Join(read(n2), ",") == strings.Join(read(n3), ",")
		})
	}
}
