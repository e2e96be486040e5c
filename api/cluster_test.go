package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/badbatch/badbatch/cluster"
	"github.com/badbatch/badbatch/engine"
)

// clusterKey is the gossip key of the test clusters.
const clusterKey = "SGVyZSBpcyBhIHRlc3Qga2V5IG9mIDMyIGJ5dGVzISE="

// clusterServer is a real server with a real cluster node on loopback.
type clusterServer struct {
	*testServer
	node *cluster.Node
	reg  *prometheus.Registry
}

// newClusterServer starts a node with the loopback preset's fast failure
// detection (probe every 200 ms, 1 s suspicion) joined to seeds, and a
// server on it. The node advertises the server's address once it listens.
func newClusterServer(t *testing.T, id string, seeds []string, opts ...serverOpt) *clusterServer {
	t.Helper()
	cfg := cluster.LoopbackConfig(id)
	cfg.SeedNodes = seeds
	cfg.EncryptionKey = clusterKey
	cfg.Label = "badbatch-api-test"
	reg := prometheus.NewRegistry()
	node, err := cluster.New(cfg, cluster.WithRegisterer(reg), cluster.WithVersion("test"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := node.Start(ctx); err != nil {
		t.Fatal(err)
	}
	fcfg := cluster.DefaultForwardConfig()
	fcfg.ErrorHandler = ForwardErrorHandler
	fwd, err := cluster.NewForwarder(node, fcfg, cluster.WithRegisterer(reg))
	if err != nil {
		t.Fatal(err)
	}
	// Cleanups run last first: the server stops before the node.
	t.Cleanup(func() {
		fwd.Close()
		_ = node.Shutdown()
	})
	opts = append([]serverOpt{func(_ *engine.Config, a *Config) {
		a.Registry = reg
		a.ClusterNode, a.ClusterForwarder = node, fwd
	}}, opts...)
	ts := newTestServer(t, opts...)
	if err := node.SetAPI("http", strings.TrimPrefix(ts.url, "http://")); err != nil {
		t.Fatal(err)
	}
	return &clusterServer{testServer: ts, node: node, reg: reg}
}

// members returns id → member as s's members endpoint shows them.
func (s *clusterServer) members(t *testing.T) map[string]map[string]any {
	t.Helper()
	r := s.do(t, request{method: "GET", path: "/api/v1/cluster/members"})
	if r.status != http.StatusOK {
		t.Fatalf("members: %d %s", r.status, r.body)
	}
	out := map[string]map[string]any{}
	ms, _ := get(r.v, "members").([]any)
	for _, m := range ms {
		mm := m.(map[string]any)
		out[mm["id"].(string)] = mm
	}
	return out
}

// hosts reports whether s sees member id alive, routable and hosting the
// disruptor.
func (s *clusterServer) hosts(t *testing.T, id, disruptor string) bool {
	m := s.members(t)[id]
	if m == nil || m["state"] != "alive" || m["routable"] != true {
		return false
	}
	ds, _ := m["disruptors"].([]any)
	return slices.Contains(ds, any(disruptor))
}

// startClusterServers starts n servers, each joining the first.
func startClusterServers(t *testing.T, n int) []*clusterServer {
	t.Helper()
	var out []*clusterServer
	var seeds []string
	for i := range n {
		s := newClusterServer(t, fmt.Sprintf("n%d", i+1), seeds)
		if i == 0 {
			seeds = []string{s.node.Addr()}
		}
		out = append(out, s)
	}
	for _, s := range out {
		waitFor(t, s.node.ID()+" to see every member alive", func() bool {
			ms := s.members(t)
			alive := 0
			for _, m := range ms {
				if m["state"] == "alive" {
					alive++
				}
			}
			return alive == n
		})
	}
	return out
}

// TestClusterForwarding is the acceptance test of the server in a
// cluster: three real servers, each with a real node on loopback. A
// request for a disruptor hosted on node B, sent to node A, reaches B and
// returns B's answer; the members, health and readiness follow the
// cluster; a dead member degrades it; a leave shows "left".
func TestClusterForwarding(t *testing.T) {
	nodes := startClusterServers(t, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]

	// B hosts "orders"; A learns it by gossip.
	if r := b.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "orders", "buffer_size": 64}}); r.status != http.StatusCreated {
		t.Fatalf("create on B: %d %s", r.status, r.body)
	}
	waitFor(t, "A to see B host orders", func() bool { return a.hosts(t, "n2", "orders") })

	// A publish sent to A is B's: its trace context is in B's ring.
	const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	r := a.do(t, request{method: "POST", path: "/api/v1/disruptors/orders/events",
		body:   map[string]any{"payload": map[string]any{"item": "book"}},
		header: map[string]string{"Traceparent": traceparent, "X-Request-Id": "forwarded-publish-1"}})
	if r.status != http.StatusOK || get(r.v, "first_sequence") != 0.0 || get(r.v, "disruptor") != "orders" {
		t.Fatalf("publish through A: %d %s", r.status, r.body)
	}
	if got := r.header.Values("X-Request-Id"); len(got) != 1 || got[0] != "forwarded-publish-1" {
		t.Errorf("X-Request-Id through A: %q", got)
	}
	if info, err := b.eng.Info("orders"); err != nil || info.Published != 1 {
		t.Fatalf("B's orders: %+v, %v", info, err)
	}
	if _, err := a.eng.Info("orders"); err == nil {
		t.Fatal("A hosts orders too")
	}
	for _, path := range []string{"/api/v1/disruptors/orders/events?from=0", "/api/v1/disruptors/orders/state"} {
		viaA, fromB := a.do(t, request{method: "GET", path: path}), b.do(t, request{method: "GET", path: path})
		if viaA.status != http.StatusOK || string(viaA.body) != string(fromB.body) {
			t.Errorf("GET %s: through A %d %s, from B %d %s", path, viaA.status, viaA.body, fromB.status, fromB.body)
		}
	}
	if md := get(b.do(t, request{method: "GET", path: "/api/v1/disruptors/orders/events/0"}).v, "metadata", "traceparent"); md != traceparent {
		t.Errorf("the trace context did not reach B: %v", md)
	}
	// YAML, asked of A, is what B encodes.
	if y := a.do(t, request{method: "GET", path: "/api/v1/disruptors/orders", accept: formatYAML}); y.status != 200 ||
		!strings.HasPrefix(y.header.Get("Content-Type"), "application/yaml") || get(y.v, "name") != "orders" {
		t.Errorf("YAML through A: %d %s", y.status, y.body)
	}

	// A live tail through A follows B's ring.
	req, _ := http.NewRequest("GET", a.url+"/api/v1/disruptors/orders/events/stream?from=0", nil)
	res, err := a.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream through A: %d %v", res.StatusCode, res.Header)
	}
	var ids []string
	_ = readSSE(res.Body, func(ev sseEvent) bool {
		if ev.id != "" {
			ids = append(ids, ev.id)
		}
		if len(ids) == 1 { // the next event is published on B while the stream waits
			b.do(t, request{method: "POST", path: "/api/v1/disruptors/orders/events", body: map[string]any{"payload": 2}})
		}
		return len(ids) < 2
	})
	res.Body.Close()
	if fmt.Sprint(ids) != "[0 1]" {
		t.Errorf("stream through A gave ids %v", ids)
	}

	// No node hosts "nothing": A answers as for a local miss.
	if r := a.do(t, request{method: "GET", path: "/api/v1/disruptors/nothing"}); r.status != 404 || errCode(r) != CodeDisruptorNotFound {
		t.Errorf("unknown disruptor on A: %d %s", r.status, r.body)
	}
	// A request B forwarded is answered by A, never sent on.
	if r := a.do(t, request{method: "GET", path: "/api/v1/disruptors/orders", header: map[string]string{cluster.HeaderForwardedBy: "n2"}}); r.status != 404 {
		t.Errorf("forwarded request: %d %s", r.status, r.body)
	}

	// Members, health, readiness and metrics, all healthy.
	ms := a.members(t)
	if len(ms) != 3 || ms["n1"]["local"] != true || ms["n2"]["circuit"] != "closed" || ms["n2"]["api_addr"] != strings.TrimPrefix(b.url, "http://") {
		t.Errorf("members seen by A: %v", ms)
	}
	// (On a loaded machine a member may look suspect for a moment: poll.)
	var h *response
	waitFor(t, "A to be healthy and ready", func() bool {
		h = a.do(t, request{method: "GET", path: "/api/v1/cluster/health"})
		return get(h.v, "status") == "healthy" && a.do(t, request{method: "GET", path: "/health/ready"}).status == 200
	})
	if get(h.v, "alive") != 3.0 || get(h.v, "node_id") != "n1" || get(h.v, "timings", "dead_after_ms").(float64) <= 0 {
		t.Errorf("health of A: %s", h.body)
	}
	mfs, err := a.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	gathered := map[string]bool{}
	for _, mf := range mfs {
		gathered[mf.GetName()] = true
	}
	for _, name := range []string{"badbatch_cluster_members", "badbatch_cluster_healthy", "badbatch_cluster_forward_requests_total", "badbatch_http_requests_total"} {
		if !gathered[name] {
			t.Errorf("A's registry has no %s", name)
		}
	}

	// A delete sent to A deletes B's disruptor, and B stops advertising it.
	if r := a.do(t, request{method: "DELETE", path: "/api/v1/disruptors/orders"}); r.status != http.StatusNoContent {
		t.Fatalf("delete through A: %d %s", r.status, r.body)
	}
	if _, err := b.eng.Info("orders"); err == nil {
		t.Fatal("B still hosts orders")
	}
	waitFor(t, "A to see B drop orders", func() bool { return !a.hosts(t, "n2", "orders") })

	// C dies without a word: A's cluster degrades, and A and B stay
	// ready (readiness is per node: a balancer keeps both endpoints).
	start := time.Now()
	if err := c.node.Shutdown(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "A to see C dead", func() bool { return a.members(t)["n3"]["state"] == "dead" })
	t.Logf("A saw C dead %v after it stopped (bound %v)", time.Since(start).Round(time.Millisecond), a.node.Timings().DeadAfter)
	h = a.do(t, request{method: "GET", path: "/api/v1/cluster/health"})
	if get(h.v, "status") != "degraded" || get(h.v, "dead") != 1.0 {
		t.Errorf("health of A with C dead: %s", h.body)
	}
	for _, n := range []*clusterServer{a, b} {
		if r := n.do(t, request{method: "GET", path: "/health/ready"}); r.status != 200 || get(r.v, "ready") != true {
			t.Errorf("readiness of %s with C dead: %d %s", n.node.ID(), r.status, r.body)
		}
	}
	d := a.do(t, request{method: "GET", path: "/api/v1/health"})
	if d.status != 200 || get(d.v, "status") != "degraded" || get(d.v, "ready") != true ||
		get(d.v, "cluster", "status") != "degraded" || get(d.v, "cluster", "dead") != 1.0 {
		t.Errorf("/api/v1/health of A with C dead: %d %s", d.status, d.body)
	}
	if ps := fmt.Sprint(get(d.v, "cluster", "problems")); !strings.Contains(ps, "n3 is dead") {
		t.Errorf("/api/v1/health of A lists the problems %v", get(d.v, "cluster", "problems"))
	}

	// B leaves: A sees it left, and B is no longer ready.
	lv := b.do(t, request{method: "POST", path: "/api/v1/cluster/leave"})
	if lv.status != 200 || get(lv.v, "status") != "left" || get(lv.v, "node_id") != "n2" {
		t.Fatalf("leave: %d %s", lv.status, lv.body)
	}
	waitFor(t, "A to see B left", func() bool { return a.members(t)["n2"]["state"] == "left" })
	if r := b.do(t, request{method: "GET", path: "/health/ready"}); r.status != 503 || errCode(r) != CodeNotReady || get(r.v, "error", "details", "running") != false {
		t.Errorf("readiness of B after leaving: %d %s", r.status, r.body)
	}
	if r := b.do(t, request{method: "POST", path: "/api/v1/cluster/join", body: map[string]any{"addrs": []string{a.node.Addr()}}}); r.status != 409 || errCode(r) != CodeClusterNotRunning {
		t.Errorf("join after leaving: %d %s", r.status, r.body)
	}
}

// TestClusterJoin: POST /api/v1/cluster/join brings a lone node into a
// cluster, refuses bad bodies and reports unreachable seeds.
func TestClusterJoin(t *testing.T) {
	a := newClusterServer(t, "a", nil)
	lone := newClusterServer(t, "lone", nil)
	for _, bad := range []map[string]any{{"addrs": []string{}}, {"addrs": []string{" "}}} {
		if r := lone.do(t, request{method: "POST", path: "/api/v1/cluster/join", body: bad}); r.status != 400 || errCode(r) != CodeValidation {
			t.Errorf("join %v: %d %s", bad, r.status, r.body)
		}
	}
	if r := lone.do(t, request{method: "POST", path: "/api/v1/cluster/join", raw: []byte(`{"seeds":["x"]}`)}); r.status != 400 || errCode(r) != CodeMalformedBody {
		t.Errorf("join with an unknown field: %d %s", r.status, r.body)
	}
	if r := lone.do(t, request{method: "POST", path: "/api/v1/cluster/join", body: map[string]any{"addrs": []string{"127.0.0.1:1"}}}); r.status != 502 || errCode(r) != CodeClusterJoinFailed {
		t.Errorf("join to nobody: %d %s", r.status, r.body)
	}
	r := lone.do(t, request{method: "POST", path: "/api/v1/cluster/join", body: map[string]any{"addrs": []string{a.node.Addr()}}})
	if r.status != 200 || get(r.v, "contacted") != 1.0 {
		t.Fatalf("join: %d %s", r.status, r.body)
	}
	waitFor(t, "a to see lone alive", func() bool { return a.members(t)["lone"]["state"] == "alive" })
}

// TestClusterPeerUnavailable: an owner whose API is down, while its node
// still gossips, is answered 502 PEER_UNAVAILABLE in the API's envelope.
func TestClusterPeerUnavailable(t *testing.T) {
	nodes := startClusterServers(t, 2)
	a, b := nodes[0], nodes[1]
	b.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "gone"}})
	waitFor(t, "a to see b host gone", func() bool { return a.hosts(t, "n2", "gone") })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	r := a.do(t, request{method: "GET", path: "/api/v1/disruptors/gone", accept: formatYAML})
	if r.status != http.StatusBadGateway || errCode(r) != CodePeerUnavailable || get(r.v, "error", "details", "node") != "n2" ||
		!strings.HasPrefix(r.header.Get("Content-Type"), "application/yaml") || r.header.Get("X-Request-Id") == "" {
		t.Errorf("owner down: %d %v %s", r.status, r.header, r.body)
	}
	if ms := a.members(t); ms["n2"]["circuit"] != "closed" || ms["n2"]["forward_failures"] != 1.0 {
		t.Errorf("b's reachability from a: %v", ms["n2"])
	}
}

// TestClusterDisabled: a standalone server answers the cluster routes 404
// CLUSTER_DISABLED, and forwards nothing.
func TestClusterDisabled(t *testing.T) {
	ts := newTestServer(t)
	for _, rt := range [][2]string{{"GET", "/api/v1/cluster/members"}, {"GET", "/api/v1/cluster/health"},
		{"POST", "/api/v1/cluster/join"}, {"POST", "/api/v1/cluster/leave"}} {
		r := ts.do(t, request{method: rt[0], path: rt[1]})
		if r.status != 404 || errCode(r) != CodeClusterDisabled {
			t.Errorf("%s %s: %d %s", rt[0], rt[1], r.status, r.body)
		}
	}
	if r := ts.do(t, request{method: "GET", path: "/api/v1/disruptors/x"}); errCode(r) != CodeDisruptorNotFound {
		t.Errorf("unknown disruptor: %d %s", r.status, r.body)
	}
}

// TestForwardErrors: every forwarding failure has its code.
func TestForwardErrors(t *testing.T) {
	cases := []struct {
		fe   *cluster.ForwardError
		code string
	}{
		{&cluster.ForwardError{Status: 404, Disruptor: "d", Err: cluster.ErrNoOwner}, CodeDisruptorNotFound},
		{&cluster.ForwardError{Status: 503, Disruptor: "d", Peer: "p", Err: cluster.ErrCircuitOpen}, CodePeerCircuitOpen},
		{&cluster.ForwardError{Status: 502, Disruptor: "d", Peer: "p", Err: cluster.ErrPeerUnavailable}, CodePeerUnavailable},
		{&cluster.ForwardError{Status: 504, Disruptor: "d", Peer: "p", Err: cluster.ErrPeerUnavailable}, CodePeerTimeout},
		{&cluster.ForwardError{Status: 508, Disruptor: "d", Err: cluster.ErrForwardLoop}, CodeForwardLoop},
		{&cluster.ForwardError{Status: 400, Disruptor: "d", Err: cluster.ErrPeerUnavailable}, CodeMalformedBody},
		{&cluster.ForwardError{Status: 502, Disruptor: "d", Peer: "p", Err: cluster.ErrInsecurePeer}, CodePeerUnavailable},
	}
	for _, c := range cases {
		e := forwardError(c.fe)
		if e.Code != c.code || e.Status() != c.fe.Status {
			t.Errorf("%v: %s %d, want %s %d", c.fe, e.Code, e.Status(), c.code, c.fe.Status)
		}
	}
	// A change the leader may have committed is OUTCOME_UNKNOWN; one that
	// was never sent says why.
	post := httptest.NewRequest("POST", "/api/v1/disruptors/d/events", nil)
	for _, c := range []struct {
		err  error
		code string
	}{
		{&cluster.ForwardError{Status: 504, Disruptor: "d", Peer: "p", Err: cluster.ErrPeerUnavailable}, CodeOutcomeUnknown},
		{&cluster.ForwardError{Status: 503, Disruptor: "d", Peer: "p", Err: cluster.ErrCircuitOpen}, CodeNoQuorum},
		{&cluster.ForwardError{Status: 502, Disruptor: "d", Peer: "p", Err: cluster.ErrInsecurePeer}, CodePeerUnavailable},
	} {
		if e := leaderForwardError(post, c.err, forwardError(c.err)); e.Code != c.code {
			t.Errorf("leader forward %v: %s, want %s", c.err, e.Code, c.code)
		}
	}
	// Outside a server, the envelope in JSON.
	rec := &headerRecorder{header: http.Header{}}
	ForwardErrorHandler(rec, httptest.NewRequest("GET", "/api/v1/disruptors/d", nil), cases[0].fe)
	if rec.status != 404 || rec.header.Get("Content-Type") != formatJSON.contentType() {
		t.Errorf("bare handler: %d %v", rec.status, rec.header)
	}
}

// TestClusterForwardingKeepsAuthorization: the owner authenticates a
// forwarded request with the client's own credentials: a key both nodes
// know works through A, a key only A knows is refused by B, and a request
// without credentials is refused by A before anything is forwarded. The
// answer has the owner's headers, not two of each.
func TestClusterForwardingKeepsAuthorization(t *testing.T) {
	shared := Key{Name: "shared", Hash: HashKey("shared-key"), Grant: Grant{Role: RoleAdmin}}
	onlyA := Key{Name: "only-a", Hash: HashKey("a-key"), Grant: Grant{Role: RoleAdmin}}
	const origin = "https://dash.example"
	cors := CORSConfig{AllowedOrigins: []string{origin}}
	a := newClusterServer(t, "a", nil, func(_ *engine.Config, c *Config) { c.Keys, c.CORS = []Key{shared, onlyA}, cors })
	b := newClusterServer(t, "b", []string{a.node.Addr()}, func(_ *engine.Config, c *Config) { c.Keys, c.CORS = []Key{shared}, cors })
	bearer := func(k string) map[string]string { return map[string]string{"Authorization": "Bearer " + k} }
	if r := b.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "secret"}, header: bearer("shared-key")}); r.status != http.StatusCreated {
		t.Fatalf("create on b: %d %s", r.status, r.body)
	}
	waitFor(t, "a to see b host secret", func() bool {
		r := a.do(t, request{method: "GET", path: "/api/v1/cluster/members", header: bearer("shared-key")})
		ms, _ := get(r.v, "members").([]any)
		for _, m := range ms {
			if mm := m.(map[string]any); mm["id"] == "b" && mm["routable"] == true {
				ds, _ := mm["disruptors"].([]any)
				return slices.Contains(ds, any("secret"))
			}
		}
		return false
	})
	path := "/api/v1/disruptors/secret/events"
	h := bearer("shared-key")
	h["Origin"] = origin
	if r := a.do(t, request{method: "POST", path: path, body: map[string]any{"payload": 1}, header: h}); r.status != 200 {
		t.Errorf("with the shared key: %d %s", r.status, r.body)
	} else {
		for _, name := range []string{"Access-Control-Allow-Origin", "X-Content-Type-Options", "X-Request-Id", "Content-Type"} {
			if v := r.header.Values(name); len(v) != 1 {
				t.Errorf("%s through a: %q", name, v)
			}
		}
	}
	if r := a.do(t, request{method: "POST", path: path, body: map[string]any{"payload": 1}, header: bearer("a-key")}); r.status != 401 || errCode(r) != CodeUnauthorized {
		t.Errorf("with a key b does not know: %d %s", r.status, r.body)
	}
	if r := a.do(t, request{method: "POST", path: path, body: map[string]any{"payload": 1}}); r.status != 401 {
		t.Errorf("without credentials: %d %s", r.status, r.body)
	}
	if info, err := b.eng.Info("secret"); err != nil || info.Published != 1 {
		t.Errorf("b's secret: %+v, %v", info, err)
	}

	// b's node dies: a stays ready; its /api/v1/health says the cluster
	// is degraded to everyone, and why only to a caller who may view it.
	if err := b.node.Shutdown(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a to see b dead", func() bool {
		return get(a.do(t, request{method: "GET", path: "/api/v1/health"}).v, "cluster", "dead") == 1.0
	})
	if r := a.do(t, request{method: "GET", path: "/health/ready"}); r.status != 200 {
		t.Errorf("a's readiness with b dead: %d %s", r.status, r.body)
	}
	anon := a.do(t, request{method: "GET", path: "/api/v1/health"})
	if get(anon.v, "status") != "degraded" || get(anon.v, "ready") != true || get(anon.v, "cluster", "status") != "degraded" ||
		get(anon.v, "cluster", "problems") != nil {
		t.Errorf("anonymous /api/v1/health with b dead: %s", anon.body)
	}
	if r := a.do(t, request{method: "GET", path: "/api/v1/health", header: bearer("shared-key")}); !strings.Contains(fmt.Sprint(get(r.v, "cluster", "problems")), "b is dead") {
		t.Errorf("/api/v1/health for a viewer with b dead: %s", r.body)
	}
}
