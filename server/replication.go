package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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

// autopilotInterval is how often the leader's autopilot looks at the
// cluster when no member event wakes it sooner.
const autopilotInterval = 500 * time.Millisecond

// replicator is a server's replication node and the autopilot's driver:
// the loop that, on the leader, feeds [Autopilot.Step] what the leader
// sees and applies the changes it decides, and creates the declared
// quorum disruptors.
type replicator struct {
	node   *replication.Node
	member *cluster.Node
	pilot  AutopilotConfig
	log    *slog.Logger
	// wake is poked by member events, so a leave is acted on at once.
	wake <-chan struct{}

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
}

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
	rcfg.BindAddr, rcfg.AdvertiseAddr = raftBind(rc, m.node.Addr())
	rcfg.DataDir = rc.DataDir
	rc.ApplyTo(&rcfg)
	if rc.Bootstrap {
		addr := rcfg.AdvertiseAddr
		if addr == "" {
			addr = rcfg.BindAddr
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
	r := &replicator{node: node, member: m.node, log: acfg.Logger, wake: m.changed,
		pilot: AutopilotConfig{
			Self:          node.ID(),
			MaxVoters:     rc.MaxVoters,
			DeadGrace:     time.Duration(rc.DeadGraceMS) * time.Millisecond,
			Stabilization: rc.ServerStabilization,
			MaxContactAge: max(2*rcfg.HeartbeatTimeout, time.Second),
		},
		cancel: cancel, done: make(chan struct{}), warned: map[string]bool{}}
	for _, spec := range cfg.Disruptor.Disruptors {
		if spec.Quorum() {
			dc, err := spec.EngineConfig()
			if err != nil {
				cancel()
				_ = node.Close()
				return nil, invalid(err)
			}
			r.declared = append(r.declared, dc)
		}
	}
	go r.run(ctx)
	acfg.Replication = node
	acfg.Logger.Info("replication: started", "node_id", node.ID(), "raft_addr", node.Addr(), "bootstrap", rc.Bootstrap, "tls", tc != nil,
		"heartbeat_timeout", rcfg.HeartbeatTimeout.String(), "election_timeout", rcfg.ElectionTimeout.String(), "max_batch_delay", rcfg.MaxBatchDelay.String())
	return r, nil
}

// transferLeadership hands the leadership to another voter when this node
// leads, waiting up to timeout; a nil replicator does nothing. It returns
// nil when this node does not lead.
func (r *replicator) transferLeadership(timeout time.Duration) error {
	if r == nil || !r.node.IsLeader() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	if err := r.node.TransferLeadership(ctx); err != nil {
		r.log.Warn("replication: handing the leadership over", "err", err)
		return fmt.Errorf("replication: handing the leadership over: %w", err)
	}
	id, _ := r.node.Leader()
	r.log.Info("replication: leadership handed over", "to", id, "took", time.Since(start).String())
	return nil
}

// close stops the autopilot and the node; with transfer, a leader first
// hands its leadership over. A nil replicator does nothing.
func (r *replicator) close(transfer bool) error {
	if r == nil {
		return nil
	}
	r.once.Do(func() {
		r.cancel()
		<-r.done
		var terr error
		if transfer {
			terr = r.transferLeadership(5 * time.Second)
		}
		r.closeErr = errors.Join(terr, r.node.Close())
	})
	return r.closeErr
}

// run drives the autopilot: on the leader, at every tick or member event,
// it steps a fresh-per-leadership [Autopilot] with what the leader sees
// and applies the changes, then creates the declared quorum disruptors
// the catalog lacks.
func (r *replicator) run(ctx context.Context) {
	defer close(r.done)
	t := time.NewTicker(autopilotInterval)
	defer t.Stop()
	var pilot *Autopilot
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.wake:
		}
		if !r.node.IsLeader() {
			pilot = nil
			continue
		}
		if pilot == nil {
			pilot = NewAutopilot(r.pilot)
		}
		if err := r.step(ctx, pilot); err != nil && ctx.Err() == nil {
			r.log.Warn("replication: following the cluster membership", "err", err)
		}
		r.createDeclared(ctx, r.log)
	}
}

// step observes, decides and applies one round of changes.
func (r *replicator) step(ctx context.Context, pilot *Autopilot) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	servers, err := r.node.Servers(cctx)
	if err != nil {
		return err
	}
	o := Observation{Now: time.Now(), Members: r.member.Members(), Servers: servers,
		Progress: r.node.FollowerProgress(), LastIndex: r.node.Status().LastIndex}
	for _, c := range pilot.Step(o) {
		r.log.Info("replication: autopilot", "change", c.Kind.String(), "node_id", c.ID, "raft_addr", c.Addr, "why", c.Why)
		var err error
		switch c.Kind {
		case Remove:
			err = r.node.RemoveServer(cctx, c.ID)
		case Readdress:
			if c.Voter {
				err = r.node.AddVoter(cctx, c.ID, c.Addr)
			} else {
				err = r.node.AddNonvoter(cctx, c.ID, c.Addr)
			}
		case AddNonvoter:
			err = r.node.AddNonvoter(cctx, c.ID, c.Addr)
		case Promote:
			err = r.node.AddVoter(cctx, c.ID, c.Addr)
		case Demote:
			err = r.node.DemoteVoter(cctx, c.ID)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", c, err)
		}
	}
	return nil
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
