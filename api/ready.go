package api

import "github.com/badbatch/badbatch/cluster"

// Readiness is per node: GET /health/ready answers 200 when this node can
// serve (and, replicating, has caught up with the Raft log), whatever the
// rest of the cluster is doing, so that a Kubernetes
// Service (or any balancer) keeps every healthy node's endpoint while a
// peer is dead. The cluster's own health is in GET /api/v1/health
// ("cluster") and GET /api/v1/cluster/health.

// readinessCheck is one condition of readiness: nil when it holds, else
// the error /health/ready answers (503).
type readinessCheck func(s *Server) *Error

// readinessChecks are the conditions of readiness, in the order they are
// reported: the first that fails is the answer.
var readinessChecks = []readinessCheck{
	(*Server).shutdownProblem,
	(*Server).engineProblem,
	(*Server).clusterNodeProblem,
	(*Server).replicationProblem, // replication.go: the Raft log applied as far as committed at start
}

// readiness is this node's readiness decision: nil when it can serve, else
// why not. It is the one place that decides; /health, /health/ready and
// /api/v1/health all ask it.
func (s *Server) readiness() *Error {
	for _, check := range readinessChecks {
		if e := check(s); e != nil {
			return e
		}
	}
	return nil
}

// shutdownProblem: the server is shutting down.
func (s *Server) shutdownProblem() *Error {
	if s.closed.Load() {
		return errorf(CodeShuttingDown, "the server is shutting down")
	}
	return nil
}

// engineProblem: the engine is down, or a disruptor's consumers are not
// running as its state says.
func (s *Server) engineProblem() *Error {
	h := s.eng.Health()
	if h.Ready() {
		return nil
	}
	bad := []string{}
	for _, d := range h.Disruptors {
		if !d.Healthy {
			bad = append(bad, d.Name)
		}
	}
	return newError(CodeNotReady, "not ready", map[string]any{"engine_up": h.Up, "unhealthy": bad})
}

// clusterNodeProblem: on a clustered server, this node's cluster member is
// not running (before it starts, after it left): it is no member of the
// cluster, forwards nothing and is routed nothing. Other members being
// suspect or dead is no problem of this node's.
func (s *Server) clusterNodeProblem() *Error {
	if s.cluster == nil {
		return nil
	}
	if ch := s.cluster.node.Health(); !ch.Running {
		return newError(CodeNotReady, "this node is not running in the cluster (it left, or has not started)",
			map[string]any{"cluster": string(ch.Status), "running": false})
	}
	return nil
}

// clusterView is the cluster part of GET /api/v1/health, or nil on a
// standalone server; problems only for callers who may view the cluster.
func (c *call) clusterView() *HealthCluster {
	if c.s.cluster == nil {
		return nil
	}
	ch := c.s.cluster.node.Health()
	out := &HealthCluster{Status: string(ch.Status), Alive: ch.Alive, Suspect: ch.Suspect, Dead: ch.Dead, Left: ch.Left}
	if c.id != nil && c.id.role.Allows(PermView) {
		out.Problems = ch.Problems
	}
	return out
}

// clusterDegraded reports whether the cluster view is not healthy (false
// on a standalone server).
func clusterDegraded(v *HealthCluster) bool { return v != nil && v.Status != string(cluster.Healthy) }
