package cluster

import (
	"github.com/prometheus/client_golang/prometheus"
)

// nodeCollector exposes the node's membership on scrape. It reads the
// member table when scraped, so it costs nothing in between.
//
//	badbatch_cluster_members{state}   members this node sees, by state
//	badbatch_cluster_health_score     memberlist's local health score (0 best)
//	badbatch_cluster_healthy          1 when [Node.Health] is Healthy, else 0
type nodeCollector struct {
	n       *Node
	members *prometheus.Desc
	score   *prometheus.Desc
	healthy *prometheus.Desc
}

func newNodeCollector(n *Node) *nodeCollector {
	return &nodeCollector{
		n: n,
		members: prometheus.NewDesc("badbatch_cluster_members",
			"Cluster members this node sees, by state (alive, suspect, dead, left).",
			[]string{"state"}, nil),
		score: prometheus.NewDesc("badbatch_cluster_health_score",
			"Memberlist's local health score: 0 is healthy, higher means this node's probes are struggling.",
			nil, nil),
		healthy: prometheus.NewDesc("badbatch_cluster_healthy",
			"1 when no member is suspect or dead and the node is running, else 0.",
			nil, nil),
	}
}

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.members
	ch <- c.score
	ch <- c.healthy
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	counts := c.n.table.counts()
	for s := StateAlive; s <= StateLeft; s++ {
		ch <- prometheus.MustNewConstMetric(c.members, prometheus.GaugeValue, float64(counts[s]), s.String())
	}
	ch <- prometheus.MustNewConstMetric(c.score, prometheus.GaugeValue, float64(c.n.HealthScore()))
	healthy := 0.0
	if c.n.running.Load() && counts[StateSuspect] == 0 && counts[StateDead] == 0 {
		healthy = 1
	}
	ch <- prometheus.MustNewConstMetric(c.healthy, prometheus.GaugeValue, healthy)
}

// forwardMetrics counts forwarded requests.
//
//	badbatch_cluster_forward_requests_total{result}  requests by outcome:
//	    ok (the owner answered), retried_ok (another owner answered after a
//	    failure), peer_error (the last owner's own 502/503/504 passed on),
//	    unavailable (no owner reached), circuit_open, no_owner, loop,
//	    insecure_peer (credentials from a TLS client not sent over plain
//	    HTTP), canceled (the client went away), redirected (a 307 was sent)
//	badbatch_cluster_forward_attempts_total{result}  attempts on one peer:
//	    ok, failed (transport error or 502/503/504), rejected (breaker open),
//	    insecure (skipped: a plain-HTTP peer for a TLS client's credentials)
//	badbatch_cluster_peer_circuit_open{peer}        1 while a peer's breaker
//	    is open or half-open, else 0
type forwardMetrics struct {
	requests *prometheus.CounterVec
	attempts *prometheus.CounterVec
	circuits *breakerCollector
}

func newForwardMetrics(f *Forwarder) *forwardMetrics {
	return &forwardMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "badbatch_cluster_forward_requests_total",
			Help: "Requests forwarded to the node hosting the disruptor, by outcome.",
		}, []string{"result"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "badbatch_cluster_forward_attempts_total",
			Help: "Attempts to send a forwarded request to one peer, by outcome.",
		}, []string{"result"}),
		circuits: &breakerCollector{f: f, desc: prometheus.NewDesc("badbatch_cluster_peer_circuit_open",
			"1 while the circuit breaker of a peer is open or half-open, else 0.", []string{"peer"}, nil)},
	}
}

func (m *forwardMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.attempts, m.circuits}
}

type breakerCollector struct {
	f    *Forwarder
	desc *prometheus.Desc
}

func (c *breakerCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *breakerCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.f.Peers() {
		v := 0.0
		if p.Circuit != "closed" {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, p.ID)
	}
}
