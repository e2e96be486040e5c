package config

import (
	"slices"
	"testing"
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
	c.Cluster.Replication = Replication{Enabled: true, RaftBindAddr: "nowhere", RaftAdvertiseAddr: "0.0.0.0:1", MaxVoters: 4}
	want := []string{"cluster.replication.data_dir", "cluster.replication.dead_grace_ms", "cluster.replication.max_voters",
		"cluster.replication.raft_advertise_addr", "cluster.replication.raft_bind_addr"}
	if got := keys(c.Validate()); !slices.Equal(got, want) {
		t.Errorf("invalid section: %v, want %v", got, want)
	}
	c.Cluster.Replication.Enabled = false
	if err := c.Validate(); err != nil {
		t.Errorf("a disabled section is not checked: %v", err)
	}
	p, err := Parse([]byte("server:\n  cluster_mode: true\ncluster:\n  replication:\n    enabled: true\n    bootstrap: true\n    raft_bind_addr: 127.0.0.1:9000\n"))
	if err != nil || !p.Cluster.Replication.Bootstrap || p.Cluster.Replication.RaftBindAddr != "127.0.0.1:9000" || p.Cluster.Replication.MaxVoters != 3 {
		t.Errorf("parse: %v %+v", err, p.Cluster.Replication)
	}
}
