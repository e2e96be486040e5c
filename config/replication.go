package config

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/badbatch/badbatch/replication"
)

// Replication is the cluster.replication section: the Raft group that
// replicates the disruptors created with "replication": "quorum" (see the
// replication package and docs/cluster.md). It needs server.cluster_mode.
type Replication struct {
	// Enabled runs a replication node beside the engine.
	Enabled bool `koanf:"enabled"`
	// RaftBindAddr is the host:port the Raft transport listens on. Empty
	// (the default) means the node's advertised address: raft_advertise_addr
	// when set, else the gossip advertise IP (cluster.advertise_addr, or
	// the address picked for it) with port [DefaultRaftPort]; never all
	// interfaces unless asked for.
	RaftBindAddr string `koanf:"raft_bind_addr"`
	// RaftAdvertiseAddr is the host:port other nodes dial; empty means
	// the address bound, which must then be a specific IP. A host name is
	// kept as a name (peers resolve it at each dial).
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
	// ServerStabilization is how long a joining member stays a non-voter
	// before the leader promotes it (once it has also caught up with the
	// log), as Consul's autopilot does.
	ServerStabilization time.Duration `koanf:"server_stabilization"`
	// TLS runs Raft traffic over mutual TLS.
	TLS ReplicationTLS `koanf:"tls"`

	// The Raft timings and the leader's batching limits; every node should
	// use the same (see replication.Config for each).
	HeartbeatTimeout   time.Duration `koanf:"heartbeat_timeout"`
	ElectionTimeout    time.Duration `koanf:"election_timeout"`
	LeaderLeaseTimeout time.Duration `koanf:"leader_lease_timeout"`
	CommitTimeout      time.Duration `koanf:"commit_timeout"`
	SnapshotInterval   time.Duration `koanf:"snapshot_interval"`
	SnapshotThreshold  uint64        `koanf:"snapshot_threshold"`
	TrailingLogs       uint64        `koanf:"trailing_logs"`
	MaxBatchEvents     int           `koanf:"max_batch_events"`
	MaxBatchBytes      int           `koanf:"max_batch_bytes"`
	MaxBatchDelay      time.Duration `koanf:"max_batch_delay"`
	MaxInflight        int           `koanf:"max_inflight"`
}

// DefaultRaftPort is the Raft transport's port when
// cluster.replication.raft_bind_addr and raft_advertise_addr are empty.
const DefaultRaftPort = 7947

// ApplyTo sets the timings and batching limits of the section on rc, a
// replication configuration (from replication.DefaultConfig).
func (r Replication) ApplyTo(rc *replication.Config) {
	rc.HeartbeatTimeout, rc.ElectionTimeout = r.HeartbeatTimeout, r.ElectionTimeout
	rc.LeaderLeaseTimeout, rc.CommitTimeout = r.LeaderLeaseTimeout, r.CommitTimeout
	rc.SnapshotInterval, rc.SnapshotThreshold, rc.TrailingLogs = r.SnapshotInterval, r.SnapshotThreshold, r.TrailingLogs
	rc.MaxBatchEvents, rc.MaxBatchBytes, rc.MaxBatchDelay, rc.MaxInflight = r.MaxBatchEvents, r.MaxBatchBytes, r.MaxBatchDelay, r.MaxInflight
}

// SetTimings sets the section's timings and batching limits from rc, the
// inverse of [Replication.ApplyTo]: a program or test that starts from
// [replication.LoopbackConfig] writes it into a [Config] with it.
func (r *Replication) SetTimings(rc replication.Config) {
	r.HeartbeatTimeout, r.ElectionTimeout = rc.HeartbeatTimeout, rc.ElectionTimeout
	r.LeaderLeaseTimeout, r.CommitTimeout = rc.LeaderLeaseTimeout, rc.CommitTimeout
	r.SnapshotInterval, r.SnapshotThreshold, r.TrailingLogs = rc.SnapshotInterval, rc.SnapshotThreshold, rc.TrailingLogs
	r.MaxBatchEvents, r.MaxBatchBytes, r.MaxBatchDelay, r.MaxInflight = rc.MaxBatchEvents, rc.MaxBatchBytes, rc.MaxBatchDelay, rc.MaxInflight
}

// ReplicationTLS is cluster.replication.tls: mutual TLS between the Raft
// nodes, all three files or none. Each node serves and dials with its
// certificate (which must name its Raft address, IP or DNS name, and
// allow both server and client authentication) and accepts only peers
// whose certificates the cluster CA signed.
type ReplicationTLS struct {
	// CAFile is the cluster CA (PEM) that signs every node's certificate.
	CAFile string `koanf:"ca_file"`
	// CertFile and KeyFile are this node's certificate and key (PEM).
	CertFile string `koanf:"cert_file"`
	KeyFile  string `koanf:"key_file"`
}

// Enabled reports whether any of the files is set.
func (t ReplicationTLS) Enabled() bool { return t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" }

// TLSConfig loads cluster.replication.tls into the Raft transport's
// configuration: TLS 1.3, this node's certificate for both ends, the
// cluster CA as the only roots for servers and clients, and client
// certificates required and verified. It returns nil when no file is set,
// and an error wrapping [ErrInvalid] with a [*KeyError] naming the key of
// each file that is missing or does not load.
func (r Replication) TLSConfig() (*tls.Config, error) {
	var errs keyErrors
	tc := r.loadTLS(&errs)
	if err := errs.err(); err != nil {
		return nil, err
	}
	return tc, nil
}

func (r Replication) loadTLS(errs *keyErrors) *tls.Config {
	t := r.TLS
	if !t.Enabled() {
		return nil
	}
	const p = "cluster.replication.tls."
	n := len(*errs)
	for _, f := range []struct{ key, v string }{{"ca_file", t.CAFile}, {"cert_file", t.CertFile}, {"key_file", t.KeyFile}} {
		if f.v == "" {
			errs.add(p+f.key, nil, "must be set with the other cluster.replication.tls files (all three or none)")
		}
	}
	if len(*errs) > n {
		return nil
	}
	pool := x509.NewCertPool()
	if pem, err := os.ReadFile(t.CAFile); err != nil {
		errs.add(p+"ca_file", t.CAFile, "cannot be read: %v", err)
	} else if !pool.AppendCertsFromPEM(pem) {
		errs.add(p+"ca_file", t.CAFile, "holds no PEM certificate")
	}
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		key := "cert_file"
		if _, rerr := os.Stat(t.CertFile); rerr == nil {
			if _, kerr := os.Stat(t.KeyFile); kerr != nil {
				key = "key_file"
			}
		}
		v := t.CertFile
		if key == "key_file" {
			v = t.KeyFile
		}
		errs.add(p+key, v, "cannot load the certificate and key (cert_file %s, key_file %s): %v", t.CertFile, t.KeyFile, err)
	}
	if len(*errs) > n {
		return nil
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}
}

func replicationSection() Replication {
	d := replication.DefaultConfig()
	return Replication{
		RaftBindAddr:        "",
		DataDir:             "data/raft",
		MaxVoters:           3,
		DeadGraceMS:         60000,
		ServerStabilization: 5 * time.Second,
		HeartbeatTimeout:    d.HeartbeatTimeout,
		ElectionTimeout:     d.ElectionTimeout,
		LeaderLeaseTimeout:  d.LeaderLeaseTimeout,
		CommitTimeout:       d.CommitTimeout,
		SnapshotInterval:    d.SnapshotInterval,
		SnapshotThreshold:   d.SnapshotThreshold,
		TrailingLogs:        d.TrailingLogs,
		MaxBatchEvents:      d.MaxBatchEvents,
		MaxBatchBytes:       d.MaxBatchBytes,
		MaxBatchDelay:       d.MaxBatchDelay,
		MaxInflight:         d.MaxInflight,
	}
}

func (r Replication) validate(errs *keyErrors) {
	if !r.Enabled {
		return
	}
	const p = "cluster.replication."
	if r.RaftBindAddr != "" {
		checkHostPort(errs, p+"raft_bind_addr", r.RaftBindAddr, false)
	}
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
	if r.ServerStabilization < 0 {
		errs.add(p+"server_stabilization", r.ServerStabilization, "must not be negative")
	}
	// The replication package checks the timings and limits; the settings
	// it needs that are not keys here are filled in so only ours fail.
	rc := replication.DefaultConfig()
	r.ApplyTo(&rc)
	rc.NodeID, rc.BindAddr, rc.DataDir = "check", "127.0.0.1:0", "check"
	for _, ce := range replication.ConfigErrors(rc.Validate()) {
		errs.add(p+ce.Field, ce.Value, "%s", ce.Reason)
	}
	r.loadTLS(errs)
}
