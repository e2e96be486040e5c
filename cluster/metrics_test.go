package cluster

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/badbatch/badbatch/internal/clustertest"
)

func TestNodeMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	nodes := startCluster(t, 2, nil)
	cfg := testConfig("n3")
	n3 := startNode(t, cfg, []string{nodes[0].Addr()}, WithRegisterer(reg))
	waitConverged(t, nodes[0], nodes[1], n3)
	want := `
# HELP badbatch_cluster_members Cluster members this node sees, by state (alive, suspect, dead, left).
# TYPE badbatch_cluster_members gauge
badbatch_cluster_members{state="alive"} 3
badbatch_cluster_members{state="dead"} 0
badbatch_cluster_members{state="left"} 0
badbatch_cluster_members{state="suspect"} 0
# HELP badbatch_cluster_healthy 1 when no member is suspect or dead and the node is running, else 0.
# TYPE badbatch_cluster_healthy gauge
badbatch_cluster_healthy 1
`
	var err error
	clustertest.WaitFor(t, 10*time.Second, "the metrics to show 3 alive members", func() bool {
		err = testutil.GatherAndCompare(reg, strings.NewReader(want), "badbatch_cluster_members", "badbatch_cluster_healthy")
		return err == nil
	})
	if n, err := testutil.GatherAndCount(reg, "badbatch_cluster_health_score"); err != nil || n != 1 {
		t.Errorf("health score series: %d, %v", n, err)
	}
	if err := nodes[1].Shutdown(); err != nil {
		t.Fatal(err)
	}
	clustertest.WaitFor(t, 20*time.Second, "the metrics to show a dead member", func() bool {
		return testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP badbatch_cluster_healthy 1 when no member is suspect or dead and the node is running, else 0.
# TYPE badbatch_cluster_healthy gauge
badbatch_cluster_healthy 0
`), "badbatch_cluster_healthy") == nil
	})
	// Shutdown unregisters: a new node can register on the same registry.
	if err := n3.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if _, err := New(testConfig("n3"), WithRegisterer(reg)); err != nil {
		t.Errorf("registering again after Shutdown: %v", err)
	}
}

func TestForwardMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	b := newPeer(t, "b")
	f, err := NewForwarder(&fakeDirectory{local: "a", members: []Member{b.member("orders")}}, testForwardConfig(), WithRegisterer(reg))
	if err != nil {
		t.Fatal(err)
	}
	a := forwardVia(t, f)
	do(t, http.MethodGet, a.URL+"/d/orders", "", nil)
	do(t, http.MethodGet, a.URL+"/d/nowhere", "", nil)
	want := `
# HELP badbatch_cluster_forward_requests_total Requests forwarded to the node hosting the disruptor, by outcome.
# TYPE badbatch_cluster_forward_requests_total counter
badbatch_cluster_forward_requests_total{result="no_owner"} 1
badbatch_cluster_forward_requests_total{result="ok"} 1
# HELP badbatch_cluster_peer_circuit_open 1 while the circuit breaker of a peer is open or half-open, else 0.
# TYPE badbatch_cluster_peer_circuit_open gauge
badbatch_cluster_peer_circuit_open{peer="b"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"badbatch_cluster_forward_requests_total", "badbatch_cluster_peer_circuit_open"); err != nil {
		t.Error(err)
	}
	f.Close()
	if n, _ := testutil.GatherAndCount(reg); n != 0 {
		t.Errorf("%d series left after Close", n)
	}
}
