package main

import (
	"github.com/spf13/pflag"
)

// replicationFlags are the replication flags of `badbatch server`; each
// sets a cluster.replication key.
type replicationFlags struct {
	enabled   bool
	bind      string
	advertise string
	dataDir   string
	bootstrap bool
}

func (rf *replicationFlags) add(f *pflag.FlagSet) {
	f.BoolVar(&rf.enabled, "replication", false, `replicate the disruptors created with "replication": "quorum" with Raft (cluster.replication.enabled); needs --cluster`)
	f.StringVar(&rf.bind, "raft-bind", "", "Raft transport address, IP:port (cluster.replication.raft_bind_addr; default the advertised address: --raft-advertise, or the gossip advertise IP with port 7947)")
	f.StringVar(&rf.advertise, "raft-advertise", "", "host:port other nodes dial for Raft (cluster.replication.raft_advertise_addr)")
	f.StringVar(&rf.dataDir, "raft-data-dir", "", "this node's Raft log and snapshots (cluster.replication.data_dir, default data/raft)")
	f.BoolVar(&rf.bootstrap, "raft-bootstrap", false, "start a new Raft group with this node when its data dir is empty; on one node only (cluster.replication.bootstrap)")
}

func (rf *replicationFlags) values(f *pflag.FlagSet, set func(flag, key string, v any)) {
	set("replication", "cluster.replication.enabled", rf.enabled)
	set("raft-bind", "cluster.replication.raft_bind_addr", rf.bind)
	set("raft-advertise", "cluster.replication.raft_advertise_addr", rf.advertise)
	set("raft-data-dir", "cluster.replication.data_dir", rf.dataDir)
	set("raft-bootstrap", "cluster.replication.bootstrap", rf.bootstrap)
}
