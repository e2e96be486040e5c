package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/badbatch/badbatch/internal/clustertest"
	"github.com/badbatch/badbatch/internal/testpki"
)

// freePort returns a loopback address with a port free a moment ago.
func freePort(t *testing.T) string { return clustertest.FreeAddr(t) }

// startReplicaProcess starts a clustered server with replication on.
func startReplicaProcess(t *testing.T, bin, id string, bootstrap bool, seeds ...string) *serverProcess {
	t.Helper()
	return startReplicaWith(t, bin, id, bootstrap, nil, seeds...)
}

// startReplicaWith starts a clustered server with replication on and the
// extra arguments, which override the others.
func startReplicaWith(t *testing.T, bin, id string, bootstrap bool, extra []string, seeds ...string) *serverProcess {
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
	args = append(args, extra...)
	p := startProcess(t, bin, id, clusterEnv(), args...)
	poll(t, 30*time.Second, id+" to serve", func() bool {
		p.api, p.gossip = p.logs.find("serving", "addr"), p.logs.find("cluster: API advertised", "gossip_addr")
		return p.api != "" && p.gossip != ""
	})
	return p
}

// TestReplicationTLSProcesses: three servers whose Raft traffic is mutual
// TLS from cluster.replication.tls (one cluster CA, a certificate per
// node) form a group and replicate; a fourth node with a certificate of
// another CA joins the gossip cluster, but the Raft group never gets a log
// entry to it.
func TestReplicationTLSProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process replication test: run without -short")
	}
	ca, rogueCA := testpki.New(t, "cluster CA"), testpki.New(t, "another CA")
	config := func(ca *testpki.CA, id string) []string {
		c := ca.Peer(t, id, "127.0.0.1")
		f := filepath.Join(t.TempDir(), id+".yaml")
		y := fmt.Sprintf("cluster:\n  replication:\n    tls:\n      ca_file: %q\n      cert_file: %q\n      key_file: %q\n", ca.File, c.CertFile, c.KeyFile)
		if err := os.WriteFile(f, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		return []string{"--config", f}
	}
	n1 := startReplicaWith(t, badbatchBin, "n1", true, config(ca, "n1"))
	n2 := startReplicaWith(t, badbatchBin, "n2", false, config(ca, "n2"), n1.gossip)
	n3 := startReplicaWith(t, badbatchBin, "n3", false, config(ca, "n3"), n1.gossip)
	if !strings.Contains(n1.logs.String(), `"tls":true`) {
		t.Fatalf("n1 does not run Raft over TLS:\n%s", n1.logs.find("replication: started", "tls"))
	}
	poll(t, 60*time.Second, "n2 and n3 to become voters over TLS", func() bool {
		return strings.Count(n1.logs.String(), `"change":"promote"`) >= 2
	})
	r := cliRun{env: []string{envEndpoint + "=http://" + n2.api}}.run(t, "disruptor", "create", "q", "--replication", "quorum", "--size", "256")
	if r.code != 0 {
		t.Fatalf("create q through n2: %v", r)
	}
	r = cliRun{env: []string{envEndpoint + "=http://" + n3.api}}.run(t, "bench", "--disruptor", "q", "--events", "200", "--batch-size", "20", "--idempotent", "-o", "json")
	if r.code != 0 {
		t.Fatalf("bench through n3: %v", r)
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	latest := func(p *serverProcess) int64 {
		resp, err := hc.Get("http://" + p.api + "/api/v1/disruptors/q")
		if err != nil {
			return -2
		}
		defer resp.Body.Close()
		var info struct {
			Latest int64 `json:"latest_sequence"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&info) != nil {
			return -2
		}
		return info.Latest
	}
	for _, p := range []*serverProcess{n1, n2, n3} {
		poll(t, 30*time.Second, p.id+" to hold the 200 events", func() bool { return latest(p) == 199 })
	}

	rogue := startReplicaWith(t, badbatchBin, "n4", false, config(rogueCA, "n4"), n1.gossip)
	poll(t, 30*time.Second, "the leader to try n4", func() bool {
		return strings.Contains(n1.logs.String(), `"change":"add_nonvoter","node_id":"n4"`)
	})
	time.Sleep(3 * time.Second) // heartbeats and appends to n4, all refused
	if st, err := getRaft(rogue); err != nil || st.LastIndex != 0 {
		t.Errorf("n4, of another CA, got Raft log entries: last index %d (%v)", st.LastIndex, err)
	}
	if strings.Contains(n1.logs.String(), `"change":"promote","node_id":"n4"`) {
		t.Error("n4 was promoted")
	}
}

// TestReplicationDeclared: a config file declares a quorum disruptor and
// the Raft timings. The leader creates the disruptor once, replicated
// (its info says so), next to a declared local one; the timings reach the
// replication node; after a restart from the same data directory the
// disruptor is back from the Raft log, with its events, and is not
// created again.
func TestReplicationDeclared(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "badbatch.yaml")
	if err := os.WriteFile(cfgFile, []byte(`server:
  cluster_mode: true
cluster:
  replication:
    heartbeat_timeout: 300ms
    election_timeout: 300ms
    leader_lease_timeout: 150ms
    max_batch_delay: 1ms
disruptor:
  disruptors:
    - name: q
      buffer_size: 256
      replication: quorum
    - name: l
      buffer_size: 128
`), 0o600); err != nil {
		t.Fatal(err)
	}
	raftAddr, data := freePort(t), filepath.Join(dir, "raft")
	extra := []string{"--config", cfgFile, "--raft-bind", raftAddr, "--raft-data-dir", data}
	hc := &http.Client{Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	type info struct {
		Replication string `json:"replication"`
		BufferSize  int    `json:"buffer_size"`
		Latest      int64  `json:"latest_sequence"`
	}
	get := func(p *serverProcess, name string) (info, int) {
		var i info
		resp, err := hc.Get("http://" + p.api + "/api/v1/disruptors/" + name)
		if err != nil {
			return i, 0
		}
		defer resp.Body.Close()
		_ = json.NewDecoder(resp.Body).Decode(&i)
		return i, resp.StatusCode
	}

	n1 := startReplicaWith(t, badbatchBin, "n1", true, extra)
	if !strings.Contains(n1.logs.String(), `"heartbeat_timeout":"300ms","election_timeout":"300ms","max_batch_delay":"1ms"`) {
		t.Errorf("the timings did not reach the replication node:\n%s", n1.logs.find("replication: started", "heartbeat_timeout"))
	}
	var q info
	poll(t, 30*time.Second, "the leader to create q", func() bool {
		var st int
		q, st = get(n1, "q")
		return st == http.StatusOK
	})
	if q.Replication != "quorum" || q.BufferSize != 256 {
		t.Errorf("q: %+v", q)
	}
	if l, st := get(n1, "l"); st != http.StatusOK || l.Replication != "none" || l.BufferSize != 128 {
		t.Errorf("l: %d %+v", st, l)
	}
	resp, err := hc.Post("http://"+n1.api+"/api/v1/disruptors/q/events", "application/json", strings.NewReader(`{"payload":{"n":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("publish to q: %s", resp.Status)
	}
	if err := n1.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	n1.done <- <-n1.done // wait for the exit, and leave it for the cleanup
	if n := strings.Count(n1.logs.String(), "created declared quorum disruptor"); n != 1 {
		t.Errorf("first run: q created %d times", n)
	}

	n1b := startReplicaWith(t, badbatchBin, "n1", false, extra)
	poll(t, 30*time.Second, "q to be back with its event", func() bool {
		var st int
		q, st = get(n1b, "q")
		return st == http.StatusOK && q.Latest == 0
	})
	time.Sleep(1500 * time.Millisecond) // a leader's declared-disruptor pass or two
	if q.Replication != "quorum" || strings.Contains(n1b.logs.String(), "created declared quorum disruptor") {
		t.Errorf("after a restart: %+v, created again: %v", q, strings.Contains(n1b.logs.String(), "created declared quorum disruptor"))
	}
}

// TestReplicationProcesses is the multi-process acceptance test of
// replication: three `badbatch server --cluster --replication` processes,
// and `badbatch bench --replication quorum --idempotent --acked FILE`
// publishing through a follower (which forwards to the Raft leader) while
// the leader is killed with SIGKILL. The bench retries what failed with
// the same idempotency key and writes every acknowledged batch; afterwards
// every acknowledged event is on both survivors exactly once, at the
// sequences its acknowledgement gave, and the survivors agree.
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
	poll(t, 60*time.Second, "n1 to add n2 and n3, then promote them to voters once caught up", func() bool {
		l := n1.logs.String()
		return strings.Count(l, `"change":"add_nonvoter"`) >= 2 && strings.Count(l, `"change":"promote"`) >= 2
	})
	hc := &http.Client{Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	getJSON := func(url string, out any) error {
		resp, err := hc.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return json.NewDecoder(resp.Body).Decode(out)
	}
	nodes := map[string]*serverProcess{"n1": n1, "n2": n2, "n3": n3}
	var leader *serverProcess
	poll(t, 30*time.Second, "a Raft leader", func() bool {
		var st struct {
			LeaderID string `json:"leader_id"`
		}
		if getJSON("http://"+n2.api+"/api/v1/cluster/raft", &st) != nil {
			return false
		}
		leader = nodes[st.LeaderID]
		return leader != nil
	})
	var via, other *serverProcess // the node the bench publishes through, and the third
	for _, id := range []string{"n1", "n2", "n3"} {
		switch p := nodes[id]; {
		case p == leader:
		case via == nil:
			via = p
		default:
			other = p
		}
	}

	ackedPath := filepath.Join(t.TempDir(), "acked.ndjson")
	var out, errOut bytes.Buffer
	bench := exec.Command(bin, "bench", "--endpoint", "http://"+via.api, "--disruptor", "orders",
		"--replication", "quorum", "--buffer-size", "65536", "--keep", "--concurrency", "4", "--batch-size", "10",
		"--idempotent", "--retries", "40", "--acked", ackedPath, "--duration", "3m", "-o", "json")
	bench.Env = clusterEnv()
	bench.Stdout, bench.Stderr = &out, &errOut
	if err := bench.Start(); err != nil {
		t.Fatal(err)
	}
	benchDone := make(chan error, 1)
	go func() { benchDone <- bench.Wait() }()
	t.Cleanup(func() {
		if bench.ProcessState == nil {
			_ = bench.Process.Kill()
			<-benchDone
		}
		if t.Failed() {
			t.Logf("bench's output:\n%s\n%s", out.String(), errOut.String())
		}
	})
	latest := func(p *serverProcess) int64 {
		var info struct {
			Latest int64 `json:"latest_sequence"`
		}
		if getJSON("http://"+p.api+"/api/v1/disruptors/orders", &info) != nil {
			return -1
		}
		return info.Latest
	}
	poll(t, 60*time.Second, "the bench to publish 2000 events", func() bool { return latest(via) >= 2000 })
	before := latest(via)
	killed := time.Now()
	if err := leader.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	poll(t, 60*time.Second, "publishing to resume after the kill", func() bool { return latest(via) >= before+2000 })
	t.Logf("publishing through %s resumed %v after SIGKILL of the leader %s", via.id, time.Since(killed).Round(time.Millisecond), leader.id)
	// The survivors stay ready once they see the old leader dead.
	for _, p := range []*serverProcess{via, other} {
		poll(t, 60*time.Second, p.id+" to show "+leader.id+" dead", func() bool { return states(t, bin, p)[leader.id] == "dead" })
		checkReadyWithDeadPeer(t, p, leader.id)
	}
	if err := bench.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-benchDone:
		if err != nil {
			t.Fatalf("bench: %v\n%s", err, errOut.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("bench did not stop after Ctrl-C\n%s", errOut.String())
	}
	var res benchResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("bench output: %v\n%s", err, out.String())
	}
	t.Logf("bench: %d events in %d acknowledged requests, %.0f events/s, %d errors %v, %d duplicates, p50 %d µs p99 %d µs",
		res.Events, res.Requests, res.EventsPerSec, res.Errors, res.ErrorsByCode, res.Duplicates, res.Latency.P50, res.Latency.P99)

	data, err := os.ReadFile(ackedPath)
	if err != nil {
		t.Fatal(err)
	}
	var acked []ackedBatch
	ackedEvents := 0
	for line := range strings.Lines(string(data)) {
		var b ackedBatch
		if err := json.Unmarshal([]byte(line), &b); err != nil {
			t.Fatalf("acked line %q: %v", line, err)
		}
		acked = append(acked, b)
		ackedEvents += b.Count
	}
	if int64(len(acked)) != res.Requests || int64(ackedEvents) != res.Events {
		t.Errorf("acked file has %d batches, %d events; bench reported %d, %d", len(acked), ackedEvents, res.Requests, res.Events)
	}

	read := func(p *serverProcess) []string { return readIDs(t, p, "orders") }
	var got [][]string
	for _, p := range []*serverProcess{via, other} {
		ids := verifyAcked(t, p, "orders", acked)
		t.Logf("%s: %d events present, %d acknowledged, none missing, doubled or moved", p.id, len(ids), ackedEvents)
		got = append(got, ids)
	}
	if len(got) == 2 && strings.Join(got[0], ",") != strings.Join(got[1], ",") {
		poll(t, 10*time.Second, "the survivors to converge", func() bool {
			return strings.Join(read(via), ",") == strings.Join(read(other), ",")
		})
	}
	// Consistent reads on both survivors (the follower's goes to the new
	// leader) see everything, and say the Raft index they reflect.
	for _, p := range []*serverProcess{via, other} {
		resp, err := hc.Get("http://" + p.api + "/api/v1/disruptors/orders?consistent=true")
		if err != nil {
			t.Fatal(err)
		}
		var info struct {
			Latest      int64  `json:"latest_sequence"`
			Replication string `json:"replication"`
		}
		err = json.NewDecoder(resp.Body).Decode(&info)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("X-Raft-Applied-Index") == "" ||
			info.Latest != int64(len(got[0])-1) || info.Replication != "quorum" {
			t.Errorf("consistent read on %s: %s %v %+v applied index %q", p.id, resp.Status, err, info, resp.Header.Get("X-Raft-Applied-Index"))
		}
	}
}
