package client

import (
	"context"
	"net/http"

	"github.com/badbatch/badbatch/wire"
)

// The cluster calls answer [ErrClusterDisabled] on a server that is not
// clustered.

// ClusterMembers returns the cluster's members as the server's node sees
// them: each one's state, API address, disruptors and reachability.
func (c *Client) ClusterMembers(ctx context.Context) (wire.ClusterMembers, error) {
	var out wire.ClusterMembers
	_, err := c.do(ctx, &request{method: http.MethodGet, path: "/api/v1/cluster/members"}, &out)
	return out, err
}

// ClusterHealth returns the cluster's health as the server's node sees it;
// Status is "degraded" when a member is suspect or dead.
func (c *Client) ClusterHealth(ctx context.Context) (wire.ClusterHealth, error) {
	var out wire.ClusterHealth
	_, err := c.do(ctx, &request{method: http.MethodGet, path: "/api/v1/cluster/health"}, &out)
	return out, err
}

// ClusterRaft returns the server's node's view of the Raft group that
// replicates the quorum disruptors: its state, term, leader, log indexes
// and servers. It fails with [ErrClusterDisabled] on a server that does
// not replicate.
func (c *Client) ClusterRaft(ctx context.Context) (wire.RaftStatus, error) {
	var out wire.RaftStatus
	_, err := c.do(ctx, &request{method: http.MethodGet, path: "/api/v1/cluster/raft"}, &out)
	return out, err
}

// ClusterJoin has the server's node join the cluster of the nodes at these
// gossip addresses (host[:port]). It fails with [ErrClusterJoinFailed]
// when none answers, and [ErrClusterNotRunning] after the node left. It
// is not retried.
func (c *Client) ClusterJoin(ctx context.Context, addrs ...string) (wire.JoinResponse, error) {
	var out wire.JoinResponse
	r, err := c.bodyRequest(http.MethodPost, "/api/v1/cluster/join", wire.JoinRequest{Addrs: addrs})
	if err != nil {
		return out, err
	}
	_, err = c.do(ctx, r, &out)
	return out, err
}

// ClusterLeave has the server's node leave the cluster gracefully; the
// server goes on serving its own disruptors, not ready. It is not retried.
func (c *Client) ClusterLeave(ctx context.Context) (wire.LeaveResponse, error) {
	var out wire.LeaveResponse
	_, err := c.do(ctx, &request{method: http.MethodPost, path: "/api/v1/cluster/leave"}, &out)
	return out, err
}
