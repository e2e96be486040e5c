package config

import (
	"path/filepath"
	"strings"
)

// Replication is the cluster.replication section: the Raft group that
// replicates the disruptors created with "replication": "quorum" (see the
// replication package and docs/cluster.md). It needs server.cluster_mode.
type Replication struct {
	// Enabled runs a replication node beside the engine.
	Enabled bool `koanf:"enabled"`
	// RaftBindAddr is the host:port the Raft transport listens on.
	RaftBindAddr string `koanf:"raft_bind_addr"`
	// RaftAdvertiseAddr is the host:port other nodes dial; empty means
	// raft_bind_addr, which must then be a specific IP.
	RaftAdvertiseAddr string `koanf:"raft_advertise_addr"`
	// DataDir holds this node's Raft log and snapshots.
	DataDir string `koanf:"data_dir"`
	// Bootstrap starts a new Raft group with this node as its only voter
	// when data_dir holds no Raft state; set it on one node only. The
	// others are added by the leader when they join the gossip cluster.
	Bootstrap bool `koanf:"bootstrap"`
	// MaxVoters is how many voters the leader keeps (3 or 5); members
	// joining beyond it are added as non-voters.
	MaxVoters int `koanf:"max_voters"`
	// DeadGraceMS is how long a member stays dead before the leader
	// removes it from the Raft group.
	DeadGraceMS int `koanf:"dead_grace_ms"`
}

func replicationSection() Replication {
	return Replication{
		RaftBindAddr: "0.0.0.0:7947",
		DataDir:      "data/raft",
		MaxVoters:    3,
		DeadGraceMS:  60000,
	}
}

func (r Replication) validate(errs *keyErrors) {
	if !r.Enabled {
		return
	}
	const p = "cluster.replication."
	checkHostPort(errs, p+"raft_bind_addr", r.RaftBindAddr, false)
	if r.RaftAdvertiseAddr != "" {
		checkHostPort(errs, p+"raft_advertise_addr", r.RaftAdvertiseAddr, true)
	}
	if strings.TrimSpace(r.DataDir) == "" || filepath.Clean(r.DataDir) == "/" {
		errs.add(p+"data_dir", r.DataDir, "must name this node's own directory")
	}
	if r.MaxVoters != 3 && r.MaxVoters != 5 && r.MaxVoters != 1 {
		errs.add(p+"max_voters", r.MaxVoters, "must be 1, 3 or 5")
	}
	if r.DeadGraceMS < 1000 {
		errs.add(p+"dead_grace_ms", r.DeadGraceMS, "must be at least 1000")
	}
}
