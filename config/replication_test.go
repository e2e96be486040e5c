package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/badbatch/badbatch/internal/testpki"
)

// TestReplicationValidation: cluster.replication is checked when enabled,
// each problem named by its key, and needs cluster mode.
func TestReplicationValidation(t *testing.T) {
	keys := func(err error) []string {
		var out []string
		for _, ke := range KeyErrors(err) {
			out = append(out, ke.Key)
		}
		slices.Sort(out)
		return out
	}
	c := Default()
	c.Cluster.Replication.Enabled = true
	if got := keys(c.Validate()); !slices.Equal(got, []string{"cluster.replication.enabled"}) {
		t.Errorf("without cluster mode: %v", got)
	}
	c.Server.ClusterMode = true
	if err := c.Validate(); err != nil {
		t.Errorf("defaults with cluster mode: %v", err)
	}
	good := c.Cluster.Replication
	c.Cluster.Replication.RaftBindAddr, c.Cluster.Replication.RaftAdvertiseAddr = "nowhere", "0.0.0.0:1"
	c.Cluster.Replication.MaxVoters, c.Cluster.Replication.DataDir, c.Cluster.Replication.DeadGraceMS = 4, "", 0
	want := []string{"cluster.replication.data_dir", "cluster.replication.dead_grace_ms", "cluster.replication.max_voters",
		"cluster.replication.raft_advertise_addr", "cluster.replication.raft_bind_addr"}
	if got := keys(c.Validate()); !slices.Equal(got, want) {
		t.Errorf("invalid section: %v, want %v", got, want)
	}
	// The Raft timings and batching limits, checked by the replication
	// package, are named by their keys.
	c.Cluster.Replication = good
	c.Cluster.Replication.HeartbeatTimeout, c.Cluster.Replication.LeaderLeaseTimeout = 100*time.Millisecond, 200*time.Millisecond
	c.Cluster.Replication.ElectionTimeout, c.Cluster.Replication.MaxBatchEvents = 50*time.Millisecond, 0
	c.Cluster.Replication.SnapshotThreshold, c.Cluster.Replication.MaxBatchDelay = 0, -time.Second
	want = []string{"cluster.replication.election_timeout", "cluster.replication.leader_lease_timeout", "cluster.replication.max_batch_delay",
		"cluster.replication.max_batch_events", "cluster.replication.snapshot_threshold"}
	if got := keys(c.Validate()); !slices.Equal(got, want) {
		t.Errorf("invalid timings: %v, want %v", got, want)
	}
	y := "server:\n  cluster_mode: true\ncluster:\n  replication:\n    enabled: true\n    raft_bind_addr: 127.0.0.1:9000\n    heartbeat_timeout: 300ms\n    election_timeout: 400ms\n    leader_lease_timeout: 150ms\n    max_batch_delay: 2ms\n"
	if p, err := Parse([]byte(y)); err != nil || p.Cluster.Replication.HeartbeatTimeout != 300*time.Millisecond || p.Cluster.Replication.MaxBatchDelay != 2*time.Millisecond {
		t.Errorf("parse timings: %v %+v", err, p.Cluster.Replication)
	}
	if _, err := Parse([]byte(strings.Replace(y, "300ms", "soon", 1))); err == nil || !strings.Contains(err.Error(), "cluster.replication.heartbeat_timeout") {
		t.Errorf("a bad duration: %v", err)
	}
	c.Cluster.Replication = good
	// A declared quorum disruptor needs replication.
	c.Disruptor.Disruptors = []DisruptorSpec{{Name: "q", Replication: "quorum"}, {Name: "r", Replication: "all"}}
	if got := keys(c.Validate()); !slices.Equal(got, []string{"disruptor.disruptors[1].replication"}) {
		t.Errorf("declared disruptors: %v", got)
	}
	c.Cluster.Replication.Enabled = false
	if got := keys(c.Validate()); !slices.Equal(got, []string{"disruptor.disruptors[0].replication", "disruptor.disruptors[1].replication"}) {
		t.Errorf("declared disruptors without replication: %v", got)
	}
	c.Disruptor.Disruptors = nil
	c.Cluster.Replication.Enabled = false
	if err := c.Validate(); err != nil {
		t.Errorf("a disabled section is not checked: %v", err)
	}
	p, err := Parse([]byte("server:\n  cluster_mode: true\ncluster:\n  replication:\n    enabled: true\n    bootstrap: true\n    raft_bind_addr: 127.0.0.1:9000\n"))
	if err != nil || !p.Cluster.Replication.Bootstrap || p.Cluster.Replication.RaftBindAddr != "127.0.0.1:9000" || p.Cluster.Replication.MaxVoters != 3 {
		t.Errorf("parse: %v %+v", err, p.Cluster.Replication)
	}
}

// TestReplicationTLS: cluster.replication.tls loads into a mutual TLS 1.3
// configuration that two nodes of the cluster CA can talk over, and a
// partial or bad set of files is an error naming the key.
func TestReplicationTLS(t *testing.T) {
	ca := testpki.New(t, "cluster CA")
	n1, n2 := ca.Peer(t, "n1", "127.0.0.1"), ca.Peer(t, "n2", "127.0.0.1")
	load := func(y string) (Config, error) {
		return Parse([]byte("server:\n  cluster_mode: true\ncluster:\n  replication:\n    enabled: true\n    raft_bind_addr: 127.0.0.1:9000\n" + y))
	}
	section := func(caf, cert, key string) string {
		return fmt.Sprintf("    tls:\n      ca_file: %q\n      cert_file: %q\n      key_file: %q\n", caf, cert, key)
	}
	c1, err := load(section(ca.File, n1.CertFile, n1.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	c2, err := load(section(ca.File, n2.CertFile, n2.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	tc1, err := c1.Cluster.Replication.TLSConfig()
	if err != nil || tc1 == nil {
		t.Fatalf("TLSConfig: %v %v", tc1, err)
	}
	tc2, _ := c2.Cluster.Replication.TLSConfig()
	if tc1.MinVersion != tls.VersionTLS13 || tc1.ClientAuth != tls.RequireAndVerifyClientCert || len(tc1.Certificates) != 1 {
		t.Errorf("config: min version %x, client auth %v, %d certificates", tc1.MinVersion, tc1.ClientAuth, len(tc1.Certificates))
	}
	// n1 serves, n2 dials: both verify each other.
	ln, err := tls.Listen("tcp", "127.0.0.1:0", tc1)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			peer <- err.Error()
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			peer <- err.Error()
			return
		}
		peer <- tc.ConnectionState().PeerCertificates[0].Subject.CommonName
		_, _ = c.Write([]byte("ok"))
	}()
	conn, err := tls.Dial("tcp", ln.Addr().String(), tc2)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "ok" {
		t.Errorf("read over mutual TLS: %q %v", buf, err)
	}
	conn.Close()
	if cn := <-peer; cn != "n2" {
		t.Errorf("server saw client %q, want n2", cn)
	}

	// No files: no TLS.
	if tc, err := (Replication{}).TLSConfig(); tc != nil || err != nil {
		t.Errorf("no files: %v %v", tc, err)
	}
	bad := filepath.Join(t.TempDir(), "bad.pem")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing.pem")
	cases := []struct {
		caf, cert, key string
		want           []string
	}{
		{ca.File, n1.CertFile, "", []string{"cluster.replication.tls.key_file"}},
		{"", "", n1.KeyFile, []string{"cluster.replication.tls.ca_file", "cluster.replication.tls.cert_file"}},
		{bad, n1.CertFile, n1.KeyFile, []string{"cluster.replication.tls.ca_file"}},
		{missing, n1.CertFile, n1.KeyFile, []string{"cluster.replication.tls.ca_file"}},
		{ca.File, bad, n1.KeyFile, []string{"cluster.replication.tls.cert_file"}},
		{ca.File, n1.CertFile, missing, []string{"cluster.replication.tls.key_file"}},
		{ca.File, n1.CertFile, n2.KeyFile, []string{"cluster.replication.tls.cert_file"}},
	}
	for _, c := range cases {
		_, err := load(section(c.caf, c.cert, c.key))
		var got []string
		for _, ke := range KeyErrors(err) {
			got = append(got, ke.Key)
		}
		slices.Sort(got)
		if !errors.Is(err, ErrInvalid) || !slices.Equal(got, c.want) {
			t.Errorf("%q %q %q: %v, want keys %v", c.caf, c.cert, c.key, err, c.want)
		}
		r := Replication{TLS: ReplicationTLS{CAFile: c.caf, CertFile: c.cert, KeyFile: c.key}}
		if tc, err := r.TLSConfig(); tc != nil || err == nil || !strings.Contains(err.Error(), c.want[0]) {
			t.Errorf("TLSConfig %q %q %q: %v", c.caf, c.cert, c.key, err)
		}
	}
}
