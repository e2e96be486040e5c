package replication

import (
	"errors"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the node's Prometheus figures. A nil *metrics is off: every
// method is a no-op, so a node without a Registerer pays one nil check per
// proposal.
//
//	badbatch_raft_state{state}                   1 for the node's Raft state (follower, candidate, leader, shutdown), else 0
//	badbatch_raft_term                           the current term
//	badbatch_raft_commit_index                   the highest log index known committed
//	badbatch_raft_applied_index                  the highest log index applied to the FSM
//	badbatch_raft_last_index                     the highest log index stored
//	badbatch_raft_leader_changes_total           leader changes this node observed (including to "no leader")
//	badbatch_replication_commit_seconds          proposal to applied on the leader, per proposal (publish, create, ...)
//	badbatch_replication_entry_proposals         proposals the leader batched into one log entry
//	badbatch_replication_snapshot_restores_total snapshots restored into the FSM (start-up or sent by the leader)
//	badbatch_replication_fsm_stalled             1 while applying a committed entry waits for a local condition
//	badbatch_replication_disruptors              replicated disruptors in the catalog
type metrics struct {
	leaderChanges prometheus.Counter
	commit        prometheus.Histogram
	entrySize     prometheus.Histogram
	collectors    []prometheus.Collector
	reg           prometheus.Registerer
}

func newMetrics(n *Node, reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		reg: reg,
		leaderChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "badbatch_raft_leader_changes_total",
			Help: "Leader changes this node observed, including losing the leader.",
		}),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "badbatch_replication_commit_seconds",
			Help:    "Time from a proposal (publish, create, ...) reaching the leader's batcher to its log entry being committed and applied on the leader.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18), // 100 µs to 13 s
		}),
		entrySize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "badbatch_replication_entry_proposals",
			Help:    "Proposals the leader batched into one Raft log entry.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12), // 1 to 2048
		}),
	}
	m.collectors = []prometheus.Collector{m.leaderChanges, m.commit, m.entrySize, newRaftCollector(n)}
	for i, c := range m.collectors {
		if err := reg.Register(c); err != nil {
			for _, c := range m.collectors[:i] {
				reg.Unregister(c)
			}
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, errors.New("replication: metrics already registered (one node per registerer)")
			}
			return nil, err
		}
	}
	return m, nil
}

// unregister removes the collectors, so a node can be started again on
// the same registerer.
func (m *metrics) unregister() {
	if m == nil {
		return
	}
	for _, c := range m.collectors {
		m.reg.Unregister(c)
	}
}

func (m *metrics) leaderChanged() {
	if m != nil {
		m.leaderChanges.Inc()
	}
}

func (m *metrics) committed(d time.Duration) {
	if m != nil {
		m.commit.Observe(d.Seconds())
	}
}

func (m *metrics) entry(proposals int) {
	if m != nil {
		m.entrySize.Observe(float64(proposals))
	}
}

// raftCollector reads raft's and the FSM's figures at scrape time.
type raftCollector struct {
	n                                  *Node
	state, term, commit, applied, last *prometheus.Desc
	restores, stalled, disruptors      *prometheus.Desc
}

func newRaftCollector(n *Node) *raftCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &raftCollector{
		n:          n,
		state:      d("badbatch_raft_state", "1 for this node's Raft state, else 0.", "state"),
		term:       d("badbatch_raft_term", "The node's current Raft term."),
		commit:     d("badbatch_raft_commit_index", "The highest log index this node knows committed."),
		applied:    d("badbatch_raft_applied_index", "The highest log index applied to this node's state machine."),
		last:       d("badbatch_raft_last_index", "The highest log index stored on this node."),
		restores:   d("badbatch_replication_snapshot_restores_total", "Snapshots restored into the state machine (at start-up or sent by the leader)."),
		stalled:    d("badbatch_replication_fsm_stalled", "1 while applying a committed entry waits for a local condition (full ring, name held by a local disruptor)."),
		disruptors: d("badbatch_replication_disruptors", "Replicated disruptors in the catalog."),
	}
}

func (c *raftCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.state, c.term, c.commit, c.applied, c.last, c.restores, c.stalled, c.disruptors} {
		ch <- d
	}
}

var raftStates = []raft.RaftState{raft.Follower, raft.Candidate, raft.Leader, raft.Shutdown}

func (c *raftCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.n.raft
	st := r.State()
	for _, s := range raftStates {
		v := 0.0
		if s == st {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, v, stateName(s))
	}
	gauge := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	gauge(c.term, r.CurrentTerm())
	gauge(c.commit, r.CommitIndex())
	gauge(c.applied, c.n.AppliedIndex())
	gauge(c.last, r.LastIndex())
	ch <- prometheus.MustNewConstMetric(c.restores, prometheus.CounterValue, float64(c.n.fsm.restores.Load()))
	stalled := 0.0
	if c.n.fsm.stalled.Load() {
		stalled = 1
	}
	ch <- prometheus.MustNewConstMetric(c.stalled, prometheus.GaugeValue, stalled)
	c.n.fsm.mu.RLock()
	rings := len(c.n.fsm.rings)
	c.n.fsm.mu.RUnlock()
	ch <- prometheus.MustNewConstMetric(c.disruptors, prometheus.GaugeValue, float64(rings))
}

// stateName is the metric and status name of a Raft state.
func stateName(s raft.RaftState) string {
	switch s {
	case raft.Follower:
		return "follower"
	case raft.Candidate:
		return "candidate"
	case raft.Leader:
		return "leader"
	}
	return "shutdown"
}
