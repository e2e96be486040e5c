package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/badbatch/badbatch/internal/testpki"
)

// offLoopbackIP returns an IPv4 address of this host that is not a
// loopback one, or skips the test.
func offLoopbackIP(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Skip(err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() && !ipn.IP.IsLinkLocalUnicast() {
			return ipn.IP.String()
		}
	}
	t.Skip("this host has no IPv4 address off loopback")
	return ""
}

// freePortOn returns ip:port with a port free a moment ago.
func freePortOn(t *testing.T, ip string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// withEnv returns env with key=value set (or removed when value is "").
func withEnv(env []string, key, value string) []string {
	out := slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, key+"=") })
	if value != "" {
		out = append(out, key+"="+value)
	}
	return out
}

// TestClusterSecureByDefaultProcesses is issue 14's acceptance test of a
// cluster off loopback (on this host's own IP): a node started without a
// gossip key and without Raft TLS refuses to start, with a message naming
// each missing setting (exit 2), unless --insecure-cluster says so (then it
// logs a warning per open port); three nodes with both form a Raft group;
// a fourth node with another gossip key never joins, and one whose Raft
// certificate another CA signed joins the gossip cluster but never gets a
// log entry nor a vote.
func TestClusterSecureByDefaultProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster test: run without -short")
	}
	ip := offLoopbackIP(t)
	noKey := withEnv(clusterEnv(), "BADBATCH_CLUSTER_ENCRYPTION_KEY", "")
	open := func(extra ...string) []string {
		return append([]string{"server", "--bind", "127.0.0.1:0", "--log-format", "json", "--cluster", "--node-id", "open",
			"--cluster-bind", ip + ":0", "--replication", "--raft-bind", freePortOn(t, ip), "--raft-data-dir", t.TempDir()}, extra...)
	}

	// Refused, naming what is missing.
	r := cliRun{env: noKey}.run(t, open()...)
	if r.code != exitUsage || !strings.Contains(r.stderr, "cluster.encryption_key") || !strings.Contains(r.stderr, "cluster.replication.tls") ||
		!strings.Contains(r.stderr, "--insecure-cluster") {
		t.Fatalf("off loopback without a key or TLS: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	r = cliRun{env: clusterEnv()}.run(t, open()...)
	if r.code != exitUsage || strings.Contains(r.stderr, "cluster.encryption_key") || !strings.Contains(r.stderr, "cluster.replication.tls") {
		t.Fatalf("off loopback with a key, without TLS: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	// The explicit override starts, loudly.
	p := startLogged(t, "insecure", noKey, open("--insecure-cluster")...)
	poll(t, 30*time.Second, "the insecure node to serve", func() bool { return p.logs.find("serving", "addr") != "" })
	if n := strings.Count(p.logs.String(), "INSECURE CLUSTER"); n != 2 {
		t.Errorf("%d INSECURE CLUSTER warnings, want 2 (gossip and Raft):\n%s", n, p.logs)
	}
	p.kill()

	// With a key and mutual TLS, three nodes form a group.
	ca, rogueCA := testpki.New(t, "cluster CA"), testpki.New(t, "another CA")
	tlsArgs := func(ca *testpki.CA, id string) []string {
		c := ca.Peer(t, id, ip)
		f := filepath.Join(t.TempDir(), id+".yaml")
		y := fmt.Sprintf("cluster:\n  replication:\n    tls:\n      ca_file: %q\n      cert_file: %q\n      key_file: %q\n", ca.File, c.CertFile, c.KeyFile)
		if err := os.WriteFile(f, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		return []string{"--config", f, "--cluster-bind", ip + ":0", "--raft-bind", freePortOn(t, ip)}
	}
	n1 := startReplicaWith(t, badbatchBin, "n1", true, tlsArgs(ca, "n1"))
	n2 := startReplicaWith(t, badbatchBin, "n2", false, tlsArgs(ca, "n2"), n1.gossip)
	n3 := startReplicaWith(t, badbatchBin, "n3", false, tlsArgs(ca, "n3"), n1.gossip)
	if !strings.HasPrefix(n1.gossip, ip+":") {
		t.Fatalf("n1 gossips at %s, not on %s", n1.gossip, ip)
	}
	poll(t, 60*time.Second, "n2 and n3 to become voters", func() bool {
		return strings.Count(n1.logs.String(), `"change":"promote"`) >= 2
	})
	if strings.Contains(n1.logs.String()+n2.logs.String()+n3.logs.String(), "INSECURE") {
		t.Error("a node with a key and TLS warned that it is insecure")
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	members := func(p *serverProcess) []string {
		var ms struct {
			Members []struct {
				ID    string `json:"id"`
				State string `json:"state"`
			} `json:"members"`
		}
		resp, err := hc.Get("http://" + p.api + "/api/v1/cluster/members")
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		_ = json.NewDecoder(resp.Body).Decode(&ms)
		var out []string
		for _, m := range ms.Members {
			out = append(out, m.ID+"="+m.State)
		}
		return out
	}

	// Another gossip key: never a member.
	wrong := withEnv(clusterEnv(), "BADBATCH_CLUSTER_ENCRYPTION_KEY", "QW5vdGhlciBrZXkgb2YgdGhpcnR5LXR3byBieXRlcyE=")
	outsider := startLogged(t, "n4", wrong, append([]string{"server", "--bind", "127.0.0.1:0", "--log-format", "json", "--cluster", "--node-id", "n4",
		"--seed", n1.gossip, "--replication", "--raft-data-dir", t.TempDir()}, tlsArgs(ca, "n4")...)...)
	poll(t, 30*time.Second, "n4 to serve", func() bool { return outsider.logs.find("serving", "addr") != "" })
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if ms := members(n1); slices.ContainsFunc(ms, func(m string) bool { return strings.HasPrefix(m, "n4=") }) {
			t.Fatalf("n4, with another gossip key, joined: %v", ms)
		}
		time.Sleep(200 * time.Millisecond)
	}
	outsider.kill()

	// The right key, a Raft certificate of another CA: in the gossip
	// cluster, never in the log.
	rogue := startReplicaWith(t, badbatchBin, "n5", false, tlsArgs(rogueCA, "n5"), n1.gossip)
	poll(t, 30*time.Second, "the leader to try n5", func() bool {
		return strings.Contains(n1.logs.String()+n2.logs.String()+n3.logs.String(), `"change":"add_nonvoter","node_id":"n5"`)
	})
	time.Sleep(3 * time.Second) // appends and heartbeats to n5, all refused by TLS
	if st, err := getRaft(rogue); err != nil || st.LastIndex != 0 {
		t.Errorf("n5, of another CA, got Raft log entries: last index %d (%v)", st.LastIndex, err)
	}
	if strings.Contains(n1.logs.String()+n2.logs.String()+n3.logs.String(), `"change":"promote","node_id":"n5"`) {
		t.Error("n5 was promoted")
	}
}
