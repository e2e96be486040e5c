package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/badbatch/badbatch/api"
	"github.com/badbatch/badbatch/cluster"
	"github.com/badbatch/badbatch/config"
	"github.com/badbatch/badbatch/engine"
	"github.com/badbatch/badbatch/replication"
)

// raftAddrTag is the cluster tag with which a member gossips its Raft
// address, so that the leader can add it to the Raft group.
const raftAddrTag = "raft_addr"

// replicator is a server's replication node and the loop that makes the
// Raft membership follow the cluster's.
type replicator struct {
	node   *replication.Node
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
	// closeErr is what closing the node returned.
	closeErr error
	// declared are the quorum disruptors of the configuration, which the
	// leader creates when the catalog lacks them; warned, those it could
	// not create because a local disruptor holds the name.
	declared []engine.DisruptorConfig
	warned   map[string]bool

	// The membership rules: see followMembership.
	member        *cluster.Node
	maxVoters     int
	grace         time.Duration // a server gone this long is removed
	stabilization time.Duration // a non-voter this long (and caught up) is promoted
	log           *slog.Logger
	// reported is the applied index this node last gossiped (as a
	// non-voter), 0 when none.
	reported uint64
}

// raftAppliedTag is the cluster tag with which a member that is not a
// voter gossips its applied Raft index, so that the leader promotes it
// only once it has caught up: hashicorp/raft does not tell the leader how
// far each follower got.
const raftAppliedTag = "raft_applied"

// startReplication starts the replication node of a clustered server
// with cluster.replication.enabled and puts it in acfg; it returns nil
// otherwise.
func startReplication(cfg config.Config, eng *engine.Engine, m *member, acfg *api.Config) (*replicator, error) {
	rc := cfg.Cluster.Replication
	if m == nil || !rc.Enabled {
		return nil, nil
	}
	rcfg := replication.DefaultConfig()
	rcfg.NodeID = m.node.ID()
	rcfg.BindAddr, rcfg.AdvertiseAddr, rcfg.DataDir = rc.RaftBindAddr, rc.RaftAdvertiseAddr, rc.DataDir
	rc.ApplyTo(&rcfg)
	if rc.Bootstrap {
		addr := rc.RaftAdvertiseAddr
		if addr == "" {
			addr = rc.RaftBindAddr
		}
		rcfg.Bootstrap = []replication.Server{{ID: rcfg.NodeID, Address: addr}}
	}
	tc, err := rc.TLSConfig()
	if err != nil {
		return nil, invalid(err)
	}
	rcfg.TLS = tc
	rcfg.Logger = acfg.Logger.With("component", "raft")
	rcfg.Registerer = acfg.Registry
	node, err := replication.New(rcfg, eng)
	if err != nil {
		if errors.Is(err, replication.ErrInvalidConfig) {
			return nil, invalid(err)
		}
		return nil, fmt.Errorf("replication: %w", err)
	}
	if err := m.node.SetTag(raftAddrTag, node.Addr()); err != nil {
		_ = node.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &replicator{node: node, cancel: cancel, done: make(chan struct{}), member: m.node, maxVoters: rc.MaxVoters,
		grace: time.Duration(rc.DeadGraceMS) * time.Millisecond, stabilization: rc.ServerStabilization, log: acfg.Logger,
		warned: map[string]bool{}}
	for _, spec := range cfg.Disruptor.Disruptors {
		if spec.Quorum() {
			dc, err := spec.EngineConfig()
			if err != nil {
				_ = node.Close()
				return nil, invalid(err)
			}
			r.declared = append(r.declared, dc)
		}
	}
	go r.followMembership(ctx)
	acfg.Replication = node
	acfg.Logger.Info("replication: started", "node_id", node.ID(), "raft_addr", node.Addr(), "bootstrap", rc.Bootstrap, "tls", tc != nil,
		"heartbeat_timeout", rcfg.HeartbeatTimeout.String(), "election_timeout", rcfg.ElectionTimeout.String(), "max_batch_delay", rcfg.MaxBatchDelay.String())
	return r, nil
}

// close hands the leadership over when this node leads, and stops the
// node; a nil replicator does nothing.
func (r *replicator) close() error {
	if r == nil {
		return nil
	}
	r.once.Do(func() {
		r.cancel()
		<-r.done
		if r.node.IsLeader() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = r.node.TransferLeadership(ctx)
			cancel()
		}
		r.closeErr = r.node.Close()
	})
	return r.closeErr
}

// followMembership makes the Raft configuration follow the cluster's,
// on the leader, once a second: an alive member gossiping a Raft address
// is added as a non-voter, and promoted to voter while there are fewer
// than maxVoters once it has been a non-voter for the stabilization time
// and has caught up: its gossiped applied index has reached the leader's
// applied index of the moment the leader first saw it as a non-voter (so
// it got the snapshot and the log up to its joining, and keeps up since:
// a gossiped index is a second or two old, so comparing it with the
// leader's current index would never promote anyone under steady load).
// That is Consul's autopilot, kept simple. A member dead or gone for
// longer than grace is removed. On a node that is not a voter it gossips
// the applied index instead.
func (r *replicator) followMembership(ctx context.Context) {
	defer close(r.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	gone := map[string]time.Time{}        // Raft servers not alive in the cluster, since
	nonvoter := map[string]nonvoterSeen{} // non-voters, since
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !r.node.IsLeader() {
			clear(gone)
			clear(nonvoter)
			if err := r.reportProgress(ctx); err != nil && ctx.Err() == nil {
				r.log.Warn("replication: gossiping the applied index", "err", err)
			}
			continue
		}
		if err := r.reconcile(ctx, gone, nonvoter); err != nil && ctx.Err() == nil {
			r.log.Warn("replication: following the cluster membership", "err", err)
		}
		r.createDeclared(ctx, r.log)
	}
}

// reportProgress gossips this node's applied index while it is not a
// voter, and drops the tag once it is one.
func (r *replicator) reportProgress(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	servers, err := r.node.Servers(cctx)
	if err != nil {
		return err
	}
	voter := false
	for _, s := range servers {
		voter = voter || (s.ID == r.node.ID() && !s.Nonvoter)
	}
	applied := r.node.AppliedIndex()
	if voter {
		applied = 0
	}
	if applied == r.reported {
		return nil
	}
	v := ""
	if !voter {
		v = strconv.FormatUint(applied, 10)
	}
	if err := r.member.SetTag(raftAppliedTag, v); err != nil {
		return err
	}
	r.reported = applied
	return nil
}

// nonvoterSeen is when the leader first saw a member as a non-voter, and
// its own applied index then: the index the member must reach to be
// promoted.
type nonvoterSeen struct {
	since  time.Time
	target uint64
}

// promotable reports whether a non-voter that gossips applied (its
// raft_applied tag) and has been one for the given time may be promoted:
// it has been a non-voter for the stabilization time and has applied the
// log up to target. A member that gossips no index (an older version, or
// not yet) is not promoted.
func promotable(applied string, target uint64, nonvoterFor, stabilization time.Duration) bool {
	if nonvoterFor < stabilization {
		return false
	}
	n, err := strconv.ParseUint(applied, 10, 64)
	return err == nil && n >= target
}

// createDeclared creates, on the leader, the declared quorum disruptors
// the replicated catalog lacks. One the catalog holds is left as it is,
// even when its settings differ from the declaration (they are logged):
// changing a replicated ring's settings is not a create.
func (r *replicator) createDeclared(ctx context.Context, log *slog.Logger) {
	for i, dc := range r.declared {
		if dc.Name == "" {
			continue // done
		}
		if ri, ok := r.node.Lookup(dc.Name); ok {
			if want, got := dc.BufferSize, ri.Config.BufferSize; want != 0 && want != got {
				log.Warn("replication: a declared quorum disruptor exists with other settings; keeping it", "name", dc.Name, "buffer_size", got, "declared_buffer_size", want)
			}
			r.declared[i].Name = ""
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		info, err := r.node.Create(cctx, dc, true)
		cancel()
		switch {
		case err == nil:
			log.Info("replication: created declared quorum disruptor", "name", info.Name, "buffer_size", info.BufferSize,
				"producer_type", info.ProducerType, "wait_strategy", info.WaitStrategy)
			r.declared[i].Name = ""
		case errors.Is(err, engine.ErrExists) && r.node.Replicated(dc.Name):
			r.declared[i].Name = "" // another leader created it meanwhile
		case errors.Is(err, engine.ErrExists):
			// A local disruptor of the leader holds the name: say so once,
			// and create the quorum one if it goes (or another node leads).
			if !r.warned[dc.Name] {
				log.Warn("replication: a local disruptor holds the name of a declared quorum disruptor; delete it to let the quorum one be created",
					"name", dc.Name, "err", err)
				r.warned[dc.Name] = true
			}
		case ctx.Err() == nil:
			log.Warn("replication: creating declared quorum disruptor; will retry", "name", dc.Name, "err", err)
		}
	}
}

func (r *replicator) reconcile(ctx context.Context, gone map[string]time.Time, nonvoter map[string]nonvoterSeen) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	servers, err := r.node.Servers(cctx)
	if err != nil {
		return err
	}
	members := map[string]cluster.Member{}
	for _, m := range r.member.Members() {
		members[m.ID] = m
	}
	voters := 0
	inRaft := map[string]replication.Server{}
	for _, s := range servers {
		inRaft[s.ID] = s
		if !s.Nonvoter {
			voters++
		}
	}
	for id := range nonvoter {
		if s, ok := inRaft[id]; !ok || !s.Nonvoter {
			delete(nonvoter, id)
		}
	}
	now := time.Now()
	for _, s := range servers {
		if s.ID == r.node.ID() {
			continue
		}
		m, ok := members[s.ID]
		if ok && m.State == cluster.StateAlive {
			delete(gone, s.ID)
			continue
		}
		since, seen := gone[s.ID]
		if !seen {
			gone[s.ID] = now
			since = now
		}
		if now.Sub(since) < r.grace {
			continue
		}
		r.log.Info("replication: removing a member gone from the cluster", "node_id", s.ID, "gone_for", now.Sub(since).Round(time.Second))
		if err := r.node.RemoveServer(cctx, s.ID); err != nil {
			return err
		}
		delete(gone, s.ID)
		delete(nonvoter, s.ID)
		if !s.Nonvoter {
			voters--
		}
	}
	for _, m := range r.member.Members() {
		addr := m.Tags[raftAddrTag]
		if m.Local || m.State != cluster.StateAlive || addr == "" {
			continue
		}
		s, ok := inRaft[m.ID]
		switch {
		case ok && !s.Nonvoter:
			continue
		case !ok:
			r.log.Info("replication: adding a non-voter", "node_id", m.ID, "raft_addr", addr)
			if err := r.node.AddNonvoter(cctx, m.ID, addr); err != nil {
				return err
			}
			nonvoter[m.ID] = nonvoterSeen{since: now, target: r.node.AppliedIndex()}
		case voters < r.maxVoters:
			seen, ok := nonvoter[m.ID]
			if !ok {
				seen = nonvoterSeen{since: now, target: r.node.AppliedIndex()}
				nonvoter[m.ID] = seen
			}
			if !promotable(m.Tags[raftAppliedTag], seen.target, now.Sub(seen.since), r.stabilization) {
				continue
			}
			r.log.Info("replication: promoting a non-voter to voter", "node_id", m.ID, "raft_addr", addr,
				"applied_index", m.Tags[raftAppliedTag], "caught_up_to", seen.target, "leader_applied_index", r.node.AppliedIndex())
			if err := r.node.AddVoter(cctx, m.ID, addr); err != nil {
				return err
			}
			delete(nonvoter, m.ID)
			voters++
		}
	}
	return nil
}
