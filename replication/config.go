package replication

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Server is a member of the Raft configuration.
type Server struct {
	// ID is the node's stable identity (the cluster node id).
	ID string
	// Address is the host:port of its Raft transport.
	Address string
	// Nonvoter marks a member that receives the log but does not vote or
	// count towards the quorum.
	Nonvoter bool
}

// Config configures a [Node]. Start from [DefaultConfig]; every node of a
// cluster should use the same timings and batching limits.
type Config struct {
	// NodeID is this node's Raft server ID: unique in the cluster and
	// stable across restarts (use the cluster node id).
	NodeID string
	// BindAddr is the host:port the Raft transport listens on. Port 0
	// picks a free port (tests).
	BindAddr string
	// AdvertiseAddr is the host:port other nodes dial. Empty means the
	// listener's address, which must then be a specific IP (not 0.0.0.0).
	AdvertiseAddr string
	// DataDir holds the Raft log and stable store (DataDir/raft.db, a
	// bbolt file) and the snapshots (DataDir/snapshots). It must be this
	// node's own.
	DataDir string
	// Bootstrap is the initial configuration of a new cluster. A node
	// whose DataDir holds no Raft state yet and whose Bootstrap is not
	// empty bootstraps with it; a node with state ignores it. Give every
	// initial node the same list, or bootstrap one node with itself and
	// add the others with [Node.AddVoter]. It must include this node.
	Bootstrap []Server

	// HeartbeatTimeout is how long a follower waits without hearing from
	// a leader before it starts an election.
	HeartbeatTimeout time.Duration
	// ElectionTimeout is how long a candidate waits for an election to
	// succeed before it starts another.
	ElectionTimeout time.Duration
	// LeaderLeaseTimeout is how long a leader stays leader without
	// contact with a quorum; then it steps down and its publishes get
	// [ErrNoQuorum]. At most HeartbeatTimeout.
	LeaderLeaseTimeout time.Duration
	// CommitTimeout is the longest an idle leader waits before telling the
	// followers the commit index (heartbeats carry it), so bounds how far
	// an idle follower's applied events lag.
	CommitTimeout time.Duration

	// SnapshotInterval is how often the node checks whether to snapshot.
	SnapshotInterval time.Duration
	// SnapshotThreshold is how many log entries since the last snapshot
	// trigger a new one.
	SnapshotThreshold uint64
	// TrailingLogs is how many entries a snapshot leaves in the log, so a
	// follower slightly behind catches up from the log rather than a
	// whole snapshot.
	TrailingLogs uint64
	// SnapshotsRetained is how many snapshot files are kept.
	SnapshotsRetained int

	// MaxBatchDelay is how long the leader waits to gather more proposals
	// into a log entry once it has one. Zero takes whatever is queued at
	// that moment: under load, proposals queue while earlier entries
	// commit, so entries grow by themselves.
	MaxBatchDelay time.Duration
	// MaxBatchEvents caps the events the leader gathers into one log
	// entry: the proposal that reaches it still joins, and ends the entry.
	MaxBatchEvents int
	// MaxBatchBytes caps the encoded size of the proposals the leader
	// gathers into one log entry, the same way.
	MaxBatchBytes int
	// MaxInflight is how many log entries the leader has proposed and not
	// yet seen applied before it stops proposing more; proposals wait
	// (and batch up) meanwhile.
	MaxInflight int
	// QueueSize is how many proposals may wait for the batcher.
	QueueSize int

	// TransportTimeout bounds dialling a peer and each RPC's I/O.
	TransportTimeout time.Duration
	// TransportPool is how many idle connections to each peer are kept.
	TransportPool int
	// TLS, when set, wraps every Raft connection in TLS: the listener
	// serves with it and dials use it as the client configuration. For
	// mutual TLS set Certificates, RootCAs, ClientCAs and
	// ClientAuth: tls.RequireAndVerifyClientCert; peers are dialled by
	// their Raft address, so node certificates need its IP or name (or set
	// ServerName).
	TLS *tls.Config

	// Logger receives Raft's and the node's log lines. Nil means silent.
	Logger *slog.Logger
	// Registerer, when set, gets the node's Prometheus collectors (see
	// [Node]); nil means no metrics.
	Registerer prometheus.Registerer
}

// DefaultConfig returns Raft's timings for a LAN (1 s heartbeat and
// election timeouts, 500 ms leader lease, 50 ms commit timeout), a
// snapshot every 8192 entries (checked every 30 s, keeping 10240 trailing
// entries and 2 snapshot files), log entries of up to
// 10000 events or 1 MiB with no added batching delay and up to 16 of them
// in flight, and a 10 s transport timeout with 3 pooled connections per
// peer.
func DefaultConfig() Config {
	return Config{
		HeartbeatTimeout:   time.Second,
		ElectionTimeout:    time.Second,
		LeaderLeaseTimeout: 500 * time.Millisecond,
		CommitTimeout:      50 * time.Millisecond,
		SnapshotInterval:   30 * time.Second,
		SnapshotThreshold:  8192,
		TrailingLogs:       10240,
		SnapshotsRetained:  2,
		MaxBatchDelay:      0,
		MaxBatchEvents:     10_000,
		MaxBatchBytes:      1 << 20,
		MaxInflight:        16,
		QueueSize:          4096,
		TransportTimeout:   10 * time.Second,
		TransportPool:      3,
	}
}

// validate is [Config.Validate]; transport says whether a transport was
// given with [WithTransport], which makes the addresses unnecessary.
func (c Config) validate(transport bool) error {
	var errs configErrors
	if c.NodeID == "" {
		errs.add("node_id", c.NodeID, "must be set")
	}
	if !transport {
		if _, _, err := net.SplitHostPort(c.BindAddr); err != nil {
			errs.add("raft_bind_addr", c.BindAddr, "must be host:port")
		}
		if c.AdvertiseAddr != "" {
			if _, _, err := net.SplitHostPort(c.AdvertiseAddr); err != nil {
				errs.add("raft_advertise_addr", c.AdvertiseAddr, "must be host:port")
			}
		}
	}
	if c.DataDir == "" {
		errs.add("data_dir", c.DataDir, "must be set")
	}
	seen := map[string]bool{}
	self := false
	for i, s := range c.Bootstrap {
		if s.ID == "" || s.Address == "" {
			errs.add(fmt.Sprintf("bootstrap[%d]", i), s, "needs an id and an address")
		}
		if seen[s.ID] {
			errs.add(fmt.Sprintf("bootstrap[%d]", i), s.ID, "duplicate id")
		}
		seen[s.ID] = true
		self = self || s.ID == c.NodeID
	}
	if len(c.Bootstrap) > 0 && !self {
		errs.add("bootstrap", len(c.Bootstrap), "must include this node ("+c.NodeID+")")
	}
	positiveDur := func(field string, d time.Duration, least time.Duration) {
		if d < least {
			errs.add(field, d, fmt.Sprintf("must be at least %v", least))
		}
	}
	positiveDur("heartbeat_timeout", c.HeartbeatTimeout, 5*time.Millisecond)
	positiveDur("election_timeout", c.ElectionTimeout, 5*time.Millisecond)
	positiveDur("leader_lease_timeout", c.LeaderLeaseTimeout, 5*time.Millisecond)
	positiveDur("commit_timeout", c.CommitTimeout, time.Millisecond)
	positiveDur("snapshot_interval", c.SnapshotInterval, 5*time.Millisecond)
	positiveDur("transport_timeout", c.TransportTimeout, time.Millisecond)
	if c.LeaderLeaseTimeout > c.HeartbeatTimeout {
		errs.add("leader_lease_timeout", c.LeaderLeaseTimeout, "must not exceed heartbeat_timeout")
	}
	if c.ElectionTimeout < c.HeartbeatTimeout {
		errs.add("election_timeout", c.ElectionTimeout, "must be at least heartbeat_timeout")
	}
	if c.SnapshotThreshold == 0 {
		errs.add("snapshot_threshold", c.SnapshotThreshold, "must be positive")
	}
	if c.SnapshotsRetained < 1 {
		errs.add("snapshots_retained", c.SnapshotsRetained, "must be at least 1")
	}
	if c.MaxBatchDelay < 0 {
		errs.add("max_batch_delay", c.MaxBatchDelay, "must not be negative")
	}
	for _, f := range []struct {
		field string
		v     int
	}{
		{"max_batch_events", c.MaxBatchEvents},
		{"max_batch_bytes", c.MaxBatchBytes},
		{"max_inflight", c.MaxInflight},
		{"queue_size", c.QueueSize},
		{"transport_pool", c.TransportPool},
	} {
		if f.v <= 0 {
			errs.add(f.field, f.v, "must be positive")
		}
	}
	return errs.err()
}

// Validate returns every problem with c at once, joined with
// [ErrInvalidConfig], or nil.
func (c Config) Validate() error { return c.validate(false) }

// LoopbackConfig returns a configuration for node id on 127.0.0.1 with a
// free port and its data in dataDir, with Raft timings for a loopback
// network: a follower starts an election after 150 to 300 ms without a
// leader, a leader steps down after 150 ms without a quorum, an idle
// leader tells the commit index every 5 ms, and a dial or RPC gives up
// after 2 s. Snapshots are rare (a million entries). It is what tests and
// single-machine clusters use, as memberlist's DefaultLocalConfig is for
// gossip.
func LoopbackConfig(id, dataDir string) Config {
	c := DefaultConfig()
	c.NodeID = id
	c.BindAddr = "127.0.0.1:0"
	c.DataDir = dataDir
	c.HeartbeatTimeout = 150 * time.Millisecond
	c.ElectionTimeout = 150 * time.Millisecond
	c.LeaderLeaseTimeout = 150 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
	c.SnapshotInterval = 100 * time.Millisecond
	c.SnapshotThreshold = 1 << 20
	c.TrailingLogs = 64
	c.TransportTimeout = 2 * time.Second
	return c
}
