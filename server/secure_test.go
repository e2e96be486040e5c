package server

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/badbatch/badbatch/config"
)

// TestClusterSecureByDefault: off loopback, gossip without a key and Raft
// without mutual TLS are refused with an error naming the missing
// setting, unless cluster.insecure says the network is trusted (then
// each open port is logged). On loopback both are allowed.
func TestClusterSecureByDefault(t *testing.T) {
	const key = "SGVyZSBpcyBhIHRlc3Qga2V5IG9mIDMyIGJ5dGVzISE="
	tls := config.ReplicationTLS{CAFile: "ca.pem", CertFile: "n.pem", KeyFile: "n.key"}
	for _, c := range []struct {
		name string
		edit func(*config.Cluster)
		want []string // settings the error names; none: allowed
	}{
		{"loopback gossip without a key", func(c *config.Cluster) { c.BindAddr = "127.0.0.1:7946" }, nil},
		{"all interfaces without a key", func(c *config.Cluster) { c.BindAddr = "0.0.0.0:7946" }, []string{"cluster.encryption_key", "--insecure-cluster"}},
		{"a public IP without a key", func(c *config.Cluster) { c.BindAddr = "192.0.2.2:7946" }, []string{"cluster.encryption_key"}},
		{"a key off loopback", func(c *config.Cluster) { c.BindAddr = "0.0.0.0:7946"; c.EncryptionKey = key }, nil},
		{"loopback Raft without TLS", func(c *config.Cluster) {
			c.BindAddr, c.Replication.Enabled, c.Replication.RaftBindAddr = "127.0.0.1:7946", true, "127.0.0.1:7947"
		}, nil},
		{"Raft on its default bind (the advertised address) without TLS", func(c *config.Cluster) {
			c.BindAddr, c.EncryptionKey, c.Replication.Enabled = "0.0.0.0:7946", key, true
		}, []string{"cluster.replication.tls"}},
		{"Raft advertised by name without TLS", func(c *config.Cluster) {
			c.BindAddr, c.EncryptionKey, c.Replication.Enabled, c.Replication.RaftAdvertiseAddr = "127.0.0.1:7946", key, true, "node1.example:7947"
		}, []string{"cluster.replication.tls"}},
		{"Raft on all interfaces without TLS, gossip on loopback", func(c *config.Cluster) {
			c.BindAddr, c.Replication.Enabled, c.Replication.RaftBindAddr = "127.0.0.1:7946", true, "0.0.0.0:7947"
		}, []string{"cluster.replication.tls"}},
		{"neither, off loopback: both named", func(c *config.Cluster) {
			c.BindAddr, c.Replication.Enabled = "192.0.2.2:7946", true
		}, []string{"cluster.encryption_key", "cluster.replication.tls"}},
		{"a key and TLS off loopback", func(c *config.Cluster) {
			c.BindAddr, c.EncryptionKey, c.Replication.Enabled, c.Replication.TLS = "0.0.0.0:7946", key, true, tls
		}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Server.ClusterMode = true
			c.edit(&cfg.Cluster)
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			err := checkClusterSecurity(cfg, log)
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("allowed (%v); want an error naming %v", err, c.want)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not name %s:\n%v", w, err)
				}
			}
			// The explicit override allows it, loudly.
			cfg.Cluster.Insecure = true
			if err := checkClusterSecurity(cfg, log); err != nil {
				t.Fatalf("refused with cluster.insecure: %v", err)
			}
			if n := strings.Count(logs.String(), "INSECURE CLUSTER"); n != len(c.want)-strings.Count(strings.Join(c.want, " "), "--") {
				t.Errorf("%d warnings for %v:\n%s", n, c.want, logs.String())
			}
		})
	}
	// New enforces it before it starts anything.
	cfg := config.Default()
	cfg.Server.BindAddr = "127.0.0.1:0"
	cfg.Server.ClusterMode = true
	cfg.Cluster.NodeID = "n1"
	cfg.Server.DataDir = t.TempDir()
	_, err := New(context.Background(), cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "cluster.encryption_key") {
		t.Fatalf("New with the default gossip bind and no key: %v", err)
	}
}

// TestRaftDefaultBind: with no raft_bind_addr, the Raft transport binds
// the node's advertised address (raft_advertise_addr, else the IP the
// gossip layer advertises, port 7947), never all interfaces. (Issue 14:
// it bound 0.0.0.0:7947.)
func TestRaftDefaultBind(t *testing.T) {
	for _, c := range []struct {
		name            string
		rc              config.Replication
		gossip          string // the address the cluster node advertises
		bind, advertise string
	}{
		{"the gossip advertise IP", config.Replication{}, "10.1.2.3:7946", "10.1.2.3:7947", ""},
		{"gossip on loopback", config.Replication{}, "127.0.0.1:7946", "127.0.0.1:7947", ""},
		{"raft_advertise_addr", config.Replication{RaftAdvertiseAddr: "10.9.9.9:9000"}, "10.1.2.3:7946", "10.9.9.9:9000", "10.9.9.9:9000"},
		{"raft_bind_addr, as asked", config.Replication{RaftBindAddr: "0.0.0.0:7000"}, "10.1.2.3:7946", "0.0.0.0:7000", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			bind, advertise := raftBind(c.rc, c.gossip)
			if bind != c.bind || advertise != c.advertise {
				t.Errorf("binds %q advertising %q, want %q and %q", bind, advertise, c.bind, c.advertise)
			}
		})
	}
}
