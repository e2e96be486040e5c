package wire

import "time"

// ClusterMember is one node of the cluster as this node sees it, in GET
// /api/v1/cluster/members.
type ClusterMember struct {
	ID string `json:"id" yaml:"id"`
	// GossipAddr is the member's gossip address, host:port.
	GossipAddr string `json:"gossip_addr" yaml:"gossip_addr"`
	// State is alive, suspect, dead or left (see docs/cluster.md).
	State string `json:"state" yaml:"state"`
	// Since is when this node saw the member enter State.
	Since time.Time `json:"since" yaml:"since"`
	// LastSeen is this node's last sign of life from the member; absent
	// for the local node.
	LastSeen *time.Time `json:"last_seen,omitempty" yaml:"last_seen,omitempty"`
	// RTTMillis is the round trip of the last answered probe.
	RTTMillis float64 `json:"rtt_ms,omitempty" yaml:"rtt_ms,omitempty"`
	Local     bool    `json:"local" yaml:"local"`
	// APIAddr and APIScheme are where the member serves this API.
	APIAddr   string `json:"api_addr,omitempty" yaml:"api_addr,omitempty"`
	APIScheme string `json:"api_scheme,omitempty" yaml:"api_scheme,omitempty"`
	Version   string `json:"version,omitempty" yaml:"version,omitempty"`
	// NodeState is the member's own account: starting, ready or leaving.
	NodeState  string     `json:"node_state" yaml:"node_state"`
	StartedAt  *time.Time `json:"started_at,omitempty" yaml:"started_at,omitempty"`
	Disruptors []string   `json:"disruptors" yaml:"disruptors"`
	// Routable: requests for its disruptors may be forwarded to it (alive,
	// ready, with an API address).
	Routable bool              `json:"routable" yaml:"routable"`
	Tags     map[string]string `json:"tags,omitempty" yaml:"tags,omitempty"`
	// MetaError says why the member's metadata did not decode.
	MetaError string `json:"meta_error,omitempty" yaml:"meta_error,omitempty"`
	// Circuit is this node's circuit breaker for requests forwarded to the
	// member (closed, half-open, open): its API reachability from here.
	// Absent when nothing was forwarded to it.
	Circuit         string `json:"circuit,omitempty" yaml:"circuit,omitempty"`
	ForwardFailures uint32 `json:"forward_failures,omitempty" yaml:"forward_failures,omitempty"`
}

// ClusterMembers is the body of GET /api/v1/cluster/members.
type ClusterMembers struct {
	NodeID  string          `json:"node_id" yaml:"node_id"`
	Members []ClusterMember `json:"members" yaml:"members"`
}

// ClusterTimings are the failure detector's figures for the cluster's
// current size, in milliseconds.
type ClusterTimings struct {
	SuspectAfterMS     int64 `json:"suspect_after_ms" yaml:"suspect_after_ms"`
	SuspicionTimeoutMS int64 `json:"suspicion_timeout_ms" yaml:"suspicion_timeout_ms"`
	DeadAfterMS        int64 `json:"dead_after_ms" yaml:"dead_after_ms"`
	ForgetAfterMS      int64 `json:"forget_after_ms" yaml:"forget_after_ms"`
}

// ClusterHealth is the body of GET /api/v1/cluster/health.
type ClusterHealth struct {
	// Status is degraded when a member is suspect or dead, or this node
	// is not running; else healthy.
	Status      string         `json:"status" yaml:"status"`
	NodeID      string         `json:"node_id" yaml:"node_id"`
	Alive       int            `json:"alive" yaml:"alive"`
	Suspect     int            `json:"suspect" yaml:"suspect"`
	Dead        int            `json:"dead" yaml:"dead"`
	Left        int            `json:"left" yaml:"left"`
	HealthScore int            `json:"health_score" yaml:"health_score"`
	Problems    []string       `json:"problems" yaml:"problems"`
	Warnings    []string       `json:"warnings" yaml:"warnings"`
	Timings     ClusterTimings `json:"timings" yaml:"timings"`
}

// JoinRequest is the body of POST /api/v1/cluster/join.
type JoinRequest struct {
	// Addrs are gossip addresses, host[:port] (port 7946 by default).
	Addrs []string `json:"addrs" yaml:"addrs"`
}

// JoinResponse is the body of a successful join.
type JoinResponse struct {
	// Contacted is how many of the addresses answered.
	Contacted int `json:"contacted" yaml:"contacted"`
}

// LeaveResponse is the body of POST /api/v1/cluster/leave.
type LeaveResponse struct {
	NodeID string `json:"node_id" yaml:"node_id"`
	// Status is "left".
	Status string `json:"status" yaml:"status"`
	// Warnings say what went wrong on the way out: the news may then reach
	// some members through the failure detector (dead, not left).
	Warnings []string `json:"warnings" yaml:"warnings"`
}

// RaftStatus is the body of GET /api/v1/cluster/raft: the answering
// node's view of the Raft group that replicates the quorum disruptors.
type RaftStatus struct {
	NodeID   string `json:"node_id" yaml:"node_id"`
	RaftAddr string `json:"raft_addr" yaml:"raft_addr"`
	// State is follower, candidate, leader or shutdown.
	State string `json:"state" yaml:"state"`
	// LeaderID and LeaderRaftAddr are empty when no leader is known.
	LeaderID       string `json:"leader_id" yaml:"leader_id"`
	LeaderRaftAddr string `json:"leader_raft_addr" yaml:"leader_raft_addr"`
	Term           uint64 `json:"term" yaml:"term"`
	CommitIndex    uint64 `json:"commit_index" yaml:"commit_index"`
	AppliedIndex   uint64 `json:"applied_index" yaml:"applied_index"`
	LastIndex      uint64 `json:"last_index" yaml:"last_index"`
	// LastContact is when a follower last heard from the leader; absent
	// on the leader and before any contact.
	LastContact *time.Time `json:"last_contact,omitempty" yaml:"last_contact,omitempty"`
	// Stalled is set while applying a committed entry waits for a local
	// condition.
	Stalled bool `json:"stalled" yaml:"stalled"`
	// Servers is the Raft configuration as this node knows it.
	Servers []RaftServer `json:"servers" yaml:"servers"`
}

// RaftServer is one server of the Raft configuration.
type RaftServer struct {
	ID       string `json:"id" yaml:"id"`
	RaftAddr string `json:"raft_addr" yaml:"raft_addr"`
	// Suffrage is voter or nonvoter.
	Suffrage string `json:"suffrage" yaml:"suffrage"`
	Leader   bool   `json:"leader" yaml:"leader"`
	Local    bool   `json:"local" yaml:"local"`
}
