package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/badbatch/badbatch/engine"
)

// Node is one member of the Raft group that replicates disruptors: it runs
// Raft over the transport, keeps the durable log and the snapshots, applies
// committed entries to the local engine, and, while it is the leader,
// batches proposals into log entries.
//
// All its methods are safe for concurrent use. The replicated disruptors
// it creates in the engine are owned by it ([engine.Engine.CreateOwned]):
// the engine refuses to change them directly, and [engine.Engine.Writer]
// returns the Node's proposals for them, so there is no way to publish
// into one without the log. The engine's other disruptors are the
// caller's.
type Node struct {
	cfg   Config
	id    string
	addr  string // advertised Raft address
	eng   *engine.Engine
	log   *slog.Logger
	raft  *raft.Raft
	fsm   *fsm
	store *raftboltdb.BoltStore
	logs  raft.LogStore
	saver *appliedSaver
	// replayed is closed when the replay of a restart is over.
	replayed chan struct{}
	trans    *watchedTransport
	met      *metrics

	queue     chan *proposal     // proposals for the batcher
	inflight  chan *inflight     // entries proposed, for the completer
	stop      chan struct{}      // closed by Close: no new proposals
	cancelFSM context.CancelFunc // ends the FSM's engine calls and retries

	// Closed when the goroutine of the same name returns.
	batcherDone, completerDone, observerDone chan struct{}

	// pending holds every entry the batcher has proposed and the completer
	// has not finished, so Close can answer their proposals if raft never
	// does.
	pendingMu sync.Mutex
	pending   map[*inflight]struct{}

	observer  *raft.Observer
	prog      *progress // the leader's view of its followers (progress.go)
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	// caughtUp latches once the node has applied the log as far as the
	// cluster had committed it when the node first heard from a leader (or
	// took the lead) after starting; leadTarget is the leader's target.
	caughtUp   atomic.Bool
	leadTarget atomic.Uint64
}

// Option is a rarely needed setting of [New].
type Option func(*options)

type options struct {
	transport raft.Transport
}

// WithTransport makes the node use t instead of listening on
// [Config.BindAddr]: raft's InmemTransport in tests, or a transport over a
// custom stream layer. The node advertises t.LocalAddr() and closes t
// when it closes (if t has a Close method).
func WithTransport(t raft.Transport) Option {
	return func(o *options) { o.transport = t }
}

// New starts a node with cfg, applying committed entries to eng. It opens
// (or creates) the log and snapshots in cfg.DataDir, restores the latest
// snapshot into eng, bootstraps a new cluster from cfg.Bootstrap when the
// directory holds no Raft state, and joins the election. Close it when
// done; the engine stays the caller's.
//
// It returns ErrInvalidConfig with a [*ConfigError] per problem, or the
// error of opening the log, snapshots or transport.
func New(cfg Config, eng *engine.Engine, opts ...Option) (n *Node, err error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if err := cfg.validate(o.transport != nil); err != nil {
		return nil, err
	}
	if eng == nil {
		return nil, fmt.Errorf("%w: no engine", ErrInvalidConfig)
	}
	logger, hl := discardLogger, newHCLogger(nil)
	if cfg.Logger != nil {
		logger = cfg.Logger.With("node", cfg.NodeID)
		hl = newHCLogger(logger)
	}

	var cleanup []func() error
	defer func() {
		if err != nil {
			for i := len(cleanup) - 1; i >= 0; i-- {
				_ = cleanup[i]()
			}
		}
	}()

	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("replication: %w", err)
	}
	store, err := raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(cfg.DataDir, "raft.db"),
		BoltOptions: &bbolt.Options{Timeout: 5 * time.Second}, // another process holding the file
	})
	if err != nil {
		return nil, fmt.Errorf("replication: opening the log: %w", err)
	}
	cleanup = append(cleanup, store.Close)
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, cfg.SnapshotsRetained, hl.Named("snapshot"))
	if err != nil {
		return nil, fmt.Errorf("replication: opening the snapshots: %w", err)
	}

	trans := o.transport
	if trans == nil {
		layer, err := newStreamLayer(cfg.BindAddr, cfg.AdvertiseAddr, cfg.TLS)
		if err != nil {
			return nil, err
		}
		trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
			Stream:  layer,
			MaxPool: cfg.TransportPool,
			Timeout: cfg.TransportTimeout,
			Logger:  hl.Named("transport"),
		})
	}
	prog, trans := newProgress(trans)
	watched := watchTransport(trans)
	cleanup = append(cleanup, watched.Close)

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	rc.CommitTimeout = cfg.CommitTimeout
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.TrailingLogs = cfg.TrailingLogs
	rc.Logger = hl
	rc.NoLegacyTelemetry = true
	// The node restores its snapshot and the entries it had applied itself
	// (see replay).
	rc.NoSnapshotRestoreOnStart = true
	if err := raft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}

	if len(cfg.Bootstrap) > 0 {
		has, err := raft.HasExistingState(store, store, snaps)
		if err != nil {
			return nil, fmt.Errorf("replication: reading the log: %w", err)
		}
		if !has {
			var conf raft.Configuration
			for _, s := range cfg.Bootstrap {
				suffrage := raft.Voter
				if s.Nonvoter {
					suffrage = raft.Nonvoter
				}
				conf.Servers = append(conf.Servers, raft.Server{
					ID: raft.ServerID(s.ID), Address: raft.ServerAddress(s.Address), Suffrage: suffrage})
			}
			if err := raft.BootstrapCluster(rc, store, store, snaps, watched, conf); err != nil {
				return nil, fmt.Errorf("replication: bootstrapping: %w", err)
			}
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	cleanup = append(cleanup, func() error { cancel(); return nil })
	n = &Node{
		cfg:           cfg,
		id:            cfg.NodeID,
		addr:          string(trans.LocalAddr()),
		trans:         watched,
		eng:           eng,
		log:           logger,
		fsm:           newFSM(ctx, eng, logger),
		store:         store,
		queue:         make(chan *proposal, cfg.QueueSize),
		inflight:      make(chan *inflight, cfg.MaxInflight),
		stop:          make(chan struct{}),
		batcherDone:   make(chan struct{}),
		completerDone: make(chan struct{}),
		observerDone:  make(chan struct{}),
		cancelFSM:     cancel,
		pending:       make(map[*inflight]struct{}),
		prog:          prog,
	}
	n.fsm.owner = n.writer
	start, err := loadStartState(snaps, store)
	if err != nil {
		return nil, err
	}
	cache, err := raft.NewLogCache(1024, store)
	if err != nil {
		return nil, fmt.Errorf("replication: %w", err)
	}
	n.fsm.ready = make(chan struct{})
	n.logs = cache
	n.replayed = make(chan struct{})
	go func() {
		defer close(n.replayed)
		n.fsm.replay(start, cache)
	}()
	cleanup = append(cleanup, func() error { cancel(); <-n.replayed; return nil })
	n.saver = startAppliedSaver(store, n.fsm, start.applied)
	cleanup = append(cleanup, n.saver.close)
	r, err := raft.NewRaft(rc, n.fsm, cache, store, snaps, watched)
	if err != nil {
		return nil, fmt.Errorf("replication: starting raft: %w", err)
	}
	n.raft = r
	if n.met, err = newMetrics(n, cfg.Registerer); err != nil {
		_ = r.Shutdown().Error()
		return nil, err
	}

	obs := make(chan raft.Observation, 64)
	n.observer = raft.NewObserver(obs, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	r.RegisterObserver(n.observer)
	go n.observe(obs)
	prog.watch(r, n.stop)
	go n.runBatcher()
	go n.runCompleter()
	n.awaitReplay()
	return n, nil
}

// awaitReplay waits for the replay of a restart (see replay), so that the
// node serves its replicated rings as they were from the moment New
// returns, unless the replay is held up by a local condition it waits out
// (a local disruptor holding a replicated one's name): then the node goes
// on and the replay finishes when the condition clears.
func (n *Node) awaitReplay() {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-n.replayed:
			return
		case <-t.C:
			if n.fsm.stalled.Load() {
				n.log.Warn("replication: serving while the replay of the log this node had applied is held up")
				return
			}
		}
	}
}

// observe counts and logs leader changes.
func (n *Node) observe(ch <-chan raft.Observation) {
	defer close(n.observerDone)
	for {
		select {
		case o := <-ch:
			lo, _ := o.Data.(raft.LeaderObservation)
			n.met.leaderChanged()
			n.log.Info("replication: leader changed", "leader", lo.LeaderID, "leader_addr", lo.LeaderAddr)
		case <-n.stop:
			return
		}
	}
}

// Close stops the node: it refuses new calls, fails the proposals not yet
// proposed ([ErrClosed]), waits (for about a leader lease and an election
// timeout at most) for the entries in flight to commit or fail, then shuts
// Raft down and closes the transport and the log. It does not hand the
// leadership over: call [Node.TransferLeadership] first for a quicker
// failover. The engine's replicated rings stay as they are. Close may be
// called more than once.
//
// Close returns within that bound and a second or two more even when the
// state machine is stalled on a local condition with every in-flight slot
// taken: once the wait is over it cancels the state machine's retries
// (the entries it had not applied answer OUTCOME_UNKNOWN), which lets
// raft, and the batcher waiting on it, go on to shut down.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.closed.Store(true)
		close(n.stop)
		// Let the entries in flight resolve while Raft still runs: raft
		// never answers a committed entry it had not applied when it shut
		// down.
		drain := time.NewTimer(n.cfg.LeaderLeaseTimeout + n.cfg.ElectionTimeout + time.Second)
		defer drain.Stop()
		drained := false
		select {
		case <-n.batcherDone:
		case <-drain.C:
			drained = true
			n.log.Warn("replication: closing while the state machine holds up proposals")
			n.cancelFSM()
			<-n.batcherDone
		}
		if !drained {
			select {
			case <-n.completerDone:
			case <-drain.C:
				n.log.Warn("replication: closing with log entries in flight")
			}
		}
		n.cancelFSM()
		// With its retries cancelled the state machine answers what raft
		// hands it at once (see fsm.applyLog): give raft a moment to hand
		// over the entries it committed, whose proposals the completer
		// waits on, before it shuts down (raft drops the futures of
		// committed entries it had not handed over by then).
		select {
		case <-n.completerDone:
		case <-time.After(time.Second):
		}
		n.raft.DeregisterObserver(n.observer)
		err := n.raft.Shutdown().Error()
		select {
		case <-n.completerDone:
		case <-time.After(time.Second):
			// The completer waits on an entry raft will never answer;
			// answer its proposals here and leave it blocked.
			n.log.Error("replication: abandoning log entries raft did not answer")
		}
		n.pendingMu.Lock()
		for e := range n.pending {
			for _, p := range e.batch {
				p.finish(result{}, &OutcomeError{Cause: ErrClosed})
			}
		}
		n.pendingMu.Unlock()
		<-n.observerDone
		n.met.unregister()
		<-n.replayed
		n.closeErr = errors.Join(err, n.saver.close(), n.store.Close())
	})
	return n.closeErr
}

// ID returns the node's Raft server ID.
func (n *Node) ID() string { return n.id }

// Addr returns the node's advertised Raft address.
func (n *Node) Addr() string { return n.addr }

// IsLeader reports whether the node is the leader now.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Leader returns the leader's ID and Raft address as this node knows them,
// or empty strings.
func (n *Node) Leader() (id, addr string) {
	a, i := n.raft.LeaderWithID()
	return string(i), string(a)
}

// Replicated reports whether name is a replicated disruptor (in the
// catalog as this node has applied it).
func (n *Node) Replicated(name string) bool {
	_, ok := n.fsm.lookup(name)
	return ok
}

// Lookup returns the catalog's record of the replicated disruptor name.
func (n *Node) Lookup(name string) (RingInfo, bool) { return n.fsm.lookup(name) }

// Disruptors returns the catalog of replicated disruptors, sorted by name.
func (n *Node) Disruptors() []RingInfo { return n.fsm.catalog() }

// Status is a node's view of the Raft group.
type Status struct {
	ID, Address          string
	State                string // follower, candidate, leader or shutdown
	LeaderID, LeaderAddr string // empty when no leader is known
	Term                 uint64
	CommitIndex          uint64
	AppliedIndex         uint64
	LastIndex            uint64
	// LastContact is when a follower last heard from the leader (zero on
	// the leader).
	LastContact time.Time
	// Stalled is set while applying a committed entry waits for a local
	// condition (see the package documentation).
	Stalled bool
	// CaughtUp is set once the node has applied the log as far as the
	// cluster had committed it when the node started ([Node.CaughtUp]).
	CaughtUp bool
}

// Status returns the node's view of the Raft group.
func (n *Node) Status() Status {
	lid, laddr := n.Leader()
	s := Status{
		ID: n.id, Address: n.addr,
		State:    stateName(n.raft.State()),
		LeaderID: lid, LeaderAddr: laddr,
		Term:         n.raft.CurrentTerm(),
		CommitIndex:  n.raft.CommitIndex(),
		AppliedIndex: n.AppliedIndex(),
		LastIndex:    n.raft.LastIndex(),
		Stalled:      n.fsm.stalled.Load(),
		CaughtUp:     n.CaughtUp(),
	}
	if s.State != "leader" {
		s.LastContact = n.raft.LastContact()
	}
	return s
}

// leaderError describes why this node cannot take a proposal.
func (n *Node) leaderError() error {
	if n.closed.Load() {
		return ErrClosed
	}
	addr, id := n.raft.LeaderWithID()
	if id == "" || string(id) == n.id {
		return &LeaderError{Err: ErrNoQuorum}
	}
	return &LeaderError{Err: ErrNotLeader, LeaderID: string(id), LeaderAddr: string(addr)}
}

// checkLeader returns nil on the leader, else why not. A leader that has
// not finished replaying its own log since it started (see replay) waits
// for it first, so that what it checks before proposing is its whole
// state.
func (n *Node) checkLeader() error {
	if n.closed.Load() {
		return ErrClosed
	}
	if n.raft.State() != raft.Leader {
		return n.leaderError()
	}
	select {
	case <-n.fsm.ready:
	case <-n.stop:
		return ErrClosed
	}
	return nil
}

// Publish publishes b to the replicated disruptor name: it proposes the
// batch to the Raft log and returns the batch's first sequence once the
// entry carrying it is committed (stored on a majority, each of which
// fsynced it) and applied on this node. Every node applies it to its copy
// of the ring at the time the leader stamped on the entry, so every node
// stores the batch at the same sequences. b.Time is ignored; b.Duplicate
// is set when the idempotency key was seen before, and the first publish's
// first sequence is returned.
//
// The batch is checked before it is proposed (the ring exists and runs,
// the batch fits its limits and schema): a batch every node would refuse
// costs no log entry.
//
// It must be called on the leader. It returns a [*LeaderError] wrapping
// ErrNotLeader or ErrNoQuorum when this node is not the leader (nothing was
// proposed), an [*OutcomeError] when the batch was proposed but its
// commit could not be confirmed (leadership lost, ctx ended, node closed:
// retry with the same idempotency key), [ErrClosed], or the refusal of
// the state machine: [engine.ErrNotFound] for a disruptor that is not
// replicated, [engine.ErrKeyReused], a [*engine.DedupFullError], a
// [*engine.StateError], a [*engine.BatchError], [*engine.EventError] or
// [*engine.SchemaError].
func (n *Node) Publish(ctx context.Context, name string, b *engine.Batch) (int64, error) {
	return n.publish(ctx, name, 0, b)
}

// publish is Publish into the ring of the name created by the entry at
// index ring (0: whichever ring has the name when the entry is applied).
func (n *Node) publish(ctx context.Context, name string, ring uint64, b *engine.Batch) (int64, error) {
	b.Duplicate = false
	if len(b.Events) == 0 {
		return 0, &engine.BatchError{Err: engine.ErrEmptyBatch}
	}
	if err := n.checkLeader(); err != nil {
		return 0, err
	}
	if err := n.fsm.precheck(name, ring, b.Events, b.IdempotencyKey != ""); err != nil {
		return 0, err
	}
	cmd := appendGuard(make([]byte, 0, publishSize(name, b.IdempotencyKey, b.Events)), ring)
	cmd = appendPublish(cmd, name, b.IdempotencyKey, b.Events)
	res, err := n.propose(ctx, cmd, len(b.Events))
	if err != nil {
		return 0, err
	}
	b.Duplicate = res.duplicate
	return res.first, nil
}

// Create creates a replicated disruptor on every node, and starts it when
// start is set. The leader resolves the configuration with its engine's
// defaults ([engine.Config.Resolve]) and records the result in the log,
// together with its engine's idempotency window, so every node builds the
// same ring. It returns the local engine's [engine.Info] once the
// creation is applied on this node.
//
// It must be called on the leader; besides the errors of [Node.Publish]
// it returns [engine.ErrExists] (also when the name is a local disruptor
// on the leader), [engine.ErrInvalidConfig] or [engine.ErrInvalidSchema].
func (n *Node) Create(ctx context.Context, cfg engine.DisruptorConfig, start bool) (engine.Info, error) {
	if err := n.checkLeader(); err != nil {
		return engine.Info{}, err
	}
	ec := n.eng.Config()
	if cfg.Durability == engine.DurabilityJournal || cfg.Sync != "" || cfg.Retention != (engine.DisruptorConfig{}).Retention {
		// The engine makes a replicated ring a memory one whatever it is
		// given: refuse what would be dropped.
		return engine.Info{}, errors.Join(engine.ErrInvalidConfig, &engine.ConfigError{Field: "durability", Value: cfg.Durability,
			Reason: "a replicated disruptor is not journaled: its record is the Raft log (leave durability, sync and retention out)"})
	}
	if cfg.FirstSequence != 0 {
		// The log numbers a replicated ring's events from 0; a restore
		// starts a ring elsewhere itself.
		return engine.Info{}, errors.Join(engine.ErrInvalidConfig, &engine.ConfigError{Field: "first_sequence", Value: cfg.FirstSequence,
			Reason: "must be 0 for a replicated disruptor: the Raft log numbers its events"})
	}
	cfg, err := ec.Resolve(cfg)
	if err != nil {
		return engine.Info{}, err
	}
	if n.Replicated(cfg.Name) {
		return engine.Info{}, fmt.Errorf("%w: %q", engine.ErrExists, cfg.Name)
	}
	if _, err := n.eng.Info(cfg.Name); err == nil {
		return engine.Info{}, fmt.Errorf("%w: %q is a local disruptor on the leader", engine.ErrExists, cfg.Name)
	}
	spec := ringSpec{Config: cfg, DedupWindow: ec.DedupWindow, DedupMax: ec.DedupMaxKeys}
	if _, err := n.propose(ctx, appendCreate(nil, spec, start), 0); err != nil {
		return engine.Info{}, err
	}
	return n.eng.Info(cfg.Name)
}

// Delete deletes the replicated disruptor name on every node. It must be
// called on the leader; besides the errors of [Node.Publish] it returns
// [engine.ErrNotFound].
func (n *Node) Delete(ctx context.Context, name string) error { return n.delete(ctx, name, 0) }

// delete is Delete of the ring of the name created by the entry at index
// ring (0: whichever has the name).
func (n *Node) delete(ctx context.Context, name string, ring uint64) error {
	if err := n.checkLeader(); err != nil {
		return err
	}
	if err := n.fsm.precheckState(name, ring, engine.StateDeleted, true); err != nil {
		return err
	}
	_, err := n.propose(ctx, appendDelete(appendGuard(nil, ring), name), 0)
	return err
}

// SetState moves the replicated disruptor name through its lifecycle on
// every node (see [engine.State]; deleting is [Node.Delete]) and returns
// the local engine's [engine.Info] once applied here. It must be called on
// the leader; besides the errors of [Node.Publish] it returns
// [engine.ErrNotFound] or an [*engine.TransitionError], before proposing
// anything when the catalog already says so.
func (n *Node) SetState(ctx context.Context, name string, to engine.State) (engine.Info, error) {
	return n.setState(ctx, name, 0, to)
}

// setState is SetState of the ring of the name created by the entry at
// index ring (0: whichever has the name).
func (n *Node) setState(ctx context.Context, name string, ring uint64, to engine.State) (engine.Info, error) {
	if err := n.checkLeader(); err != nil {
		return engine.Info{}, err
	}
	if err := n.fsm.precheckState(name, ring, to, false); err != nil {
		return engine.Info{}, err
	}
	if _, err := n.propose(ctx, appendSetState(appendGuard(nil, ring), name, to), 0); err != nil {
		return engine.Info{}, err
	}
	return n.eng.Info(name)
}

// writer is the [engine.Writer] of the replicated disruptor name created
// by the entry at index created, which the state machine gives the
// engine when it creates the local ring: a server that resolves the name
// ([engine.Engine.Writer]) gets the Node's proposals, never the ring
// itself. They are guarded with the ring's identity: a change made
// through it is refused (not found) once the name is another ring's,
// deleted and created again since, as a local disruptor's writer
// changes nothing once its ring is deleted.
func (n *Node) writer(name string, created uint64) engine.Writer {
	return &ringWriter{n: n, name: name, ring: created}
}

// ringWriter proposes the changes of one replicated disruptor.
type ringWriter struct {
	n    *Node
	name string
	ring uint64 // the created index: the ring's identity
}

var _ engine.Writer = (*ringWriter)(nil)

func (w *ringWriter) Publish(ctx context.Context, b *engine.Batch) (int64, error) {
	return w.n.publish(ctx, w.name, w.ring, b)
}

func (w *ringWriter) SetState(ctx context.Context, to engine.State) (engine.Info, error) {
	if to == engine.StateDeleted {
		return engine.Info{}, w.n.delete(ctx, w.name, w.ring)
	}
	return w.n.setState(ctx, w.name, w.ring, to)
}

func (w *ringWriter) Delete(ctx context.Context) error { return w.n.delete(ctx, w.name, w.ring) }

// Barrier appends a barrier entry to the log and waits until it, and so
// every entry before it, is applied to the local engine, after checking
// that this node is still the leader. It costs a log entry fsynced on a
// majority: for consistent reads, use [Node.ReadIndex], which costs none.
// It returns the errors of [Node.Publish] that concern leadership.
func (n *Node) Barrier(ctx context.Context) error {
	if err := n.checkLeader(); err != nil {
		return err
	}
	if err := n.wait(ctx, n.raft.VerifyLeader()); err != nil {
		return err
	}
	return n.wait(ctx, n.raft.Barrier(timeout(ctx)))
}

// TransferLeadership hands the leadership to another voter, for a quick
// failover before [Node.Close]. It returns ErrNotLeader or ErrNoQuorum
// when this node is not the leader.
func (n *Node) TransferLeadership(ctx context.Context) error {
	if err := n.checkLeader(); err != nil {
		return err
	}
	return n.wait(ctx, n.raft.LeadershipTransfer())
}

// AddVoter adds (or promotes) the node id at Raft address addr as a voter.
// Joining members are usually added as non-voters first, then promoted
// once caught up; keep 3 or 5 voters. It must be called on the leader.
func (n *Node) AddVoter(ctx context.Context, id, addr string) error {
	if err := n.checkLeader(); err != nil {
		return err
	}
	return n.wait(ctx, n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeout(ctx)))
}

// AddNonvoter adds the node id at Raft address addr as a non-voter: it
// receives the log and applies it (so it serves replicated disruptors
// locally) but does not vote or count towards the quorum. It must be
// called on the leader.
func (n *Node) AddNonvoter(ctx context.Context, id, addr string) error {
	if err := n.checkLeader(); err != nil {
		return err
	}
	return n.wait(ctx, n.raft.AddNonvoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeout(ctx)))
}

// RemoveServer removes the node id from the Raft configuration (a member
// dead past its grace period, or one leaving). It must be called on the
// leader.
func (n *Node) RemoveServer(ctx context.Context, id string) error {
	if err := n.checkLeader(); err != nil {
		return err
	}
	return n.wait(ctx, n.raft.RemoveServer(raft.ServerID(id), 0, timeout(ctx)))
}

// Servers returns the Raft configuration as this node knows it (the
// latest, possibly not committed yet).
func (n *Node) Servers(ctx context.Context) ([]Server, error) {
	if n.closed.Load() {
		return nil, ErrClosed
	}
	f := n.raft.GetConfiguration()
	if err := n.wait(ctx, f); err != nil {
		return nil, err
	}
	var out []Server
	for _, s := range f.Configuration().Servers {
		out = append(out, Server{ID: string(s.ID), Address: string(s.Address), Nonvoter: s.Suffrage != raft.Voter})
	}
	return out, nil
}

// timeout is what is left of ctx's deadline, or 0 for none: raft's
// enqueue timeout for membership changes and barriers.
func timeout(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Millisecond)
	}
	return 0
}

// wait waits for a raft future, or for ctx. When ctx ends first, the
// goroutine left waiting ends when raft answers the future, which it
// does when the change commits or fails, or when raft shuts down (unless
// the change was committed and not yet applied then).
func (n *Node) wait(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		if err != nil {
			return n.proposalError(err)
		}
		return nil
	case <-ctx.Done():
		return &OutcomeError{Cause: ctx.Err()}
	}
}
