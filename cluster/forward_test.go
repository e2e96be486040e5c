package cluster

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/badbatch/badbatch/internal/clustertest"
)

// fakeDirectory is a static Directory.
type fakeDirectory struct {
	mu      sync.Mutex
	local   string
	members []Member
}

func (d *fakeDirectory) LocalID() string { return d.local }

func (d *fakeDirectory) Member(id string) (Member, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, m := range d.members {
		if m.ID == id {
			return m, true
		}
	}
	return Member{}, false
}

func (d *fakeDirectory) Owners(disruptor string) []Member {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Member
	for _, m := range d.members {
		if m.Routable() && m.Hosts(disruptor) {
			out = append(out, m)
		}
	}
	return out
}

// peer is an httptest server standing in for another node's API.
type peer struct {
	id   string
	srv  *httptest.Server
	hits atomic.Int64
	// status, when set, is answered instead of the echo.
	status atomic.Int32
	// stall makes the handler wait until the client goes away.
	stall atomic.Bool
}

// echo is what a peer answers: what it received.
type echo struct {
	Node          string
	Method        string
	Path          string
	Query         string
	Body          string
	Authorization string
	Traceparent   string
	Tracestate    string
	Baggage       string
	ForwardedBy   string
	ForwardedFor  string
	Host          string
}

func newPeer(t *testing.T, id string) *peer {
	p := &peer{id: id}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.hits.Add(1)
		if p.stall.Load() {
			<-r.Context().Done()
			return
		}
		if s := p.status.Load(); s != 0 {
			http.Error(w, id+" is sick", int(s))
			return
		}
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(echo{
			Node: id, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: string(body),
			Authorization: r.Header.Get("Authorization"), Traceparent: r.Header.Get("traceparent"),
			Tracestate: r.Header.Get("tracestate"), Baggage: r.Header.Get("baggage"),
			ForwardedBy: r.Header.Get(HeaderForwardedBy), ForwardedFor: r.Header.Get("X-Forwarded-For"),
			Host: r.Host,
		})
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// member describes the peer as an owner of the disruptors.
func (p *peer) member(disruptors ...string) Member {
	u, _ := url.Parse(p.srv.URL)
	return Member{ID: p.id, State: StateAlive, Meta: Meta{APIAddr: u.Host, APIScheme: "http", State: NodeReady, Disruptors: disruptors}}
}

// forwardVia returns an httptest server for node "a" whose handler forwards
// every /d/{name}/... request with f.
func forwardVia(t *testing.T, f *Forwarder) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.Split(strings.TrimPrefix(r.URL.Path, "/d/"), "/")[0]
		f.Forward(w, r, name)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func testForwardConfig() ForwardConfig {
	c := DefaultForwardConfig()
	c.DialTimeout = time.Second
	c.ResponseHeaderTimeout = 300 * time.Millisecond
	c.BreakerFailures = 3
	c.BreakerOpenTimeout = 200 * time.Millisecond
	return c
}

func newTestForwarder(t *testing.T, dir Directory, cfg ForwardConfig) *Forwarder {
	t.Helper()
	f, err := NewForwarder(dir, cfg, WithLogger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f
}

func do(t *testing.T, method, u, body string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func decodeEcho(t *testing.T, s string) echo {
	t.Helper()
	var e echo
	if err := json.Unmarshal([]byte(s), &e); err != nil {
		t.Fatalf("not an echo: %q", s)
	}
	return e
}

func TestForwardReachesOwner(t *testing.T) {
	b := newPeer(t, "b")
	dir := &fakeDirectory{local: "a", members: []Member{
		{ID: "a", Local: true, State: StateAlive, Meta: Meta{APIAddr: "127.0.0.1:1", State: NodeReady, Disruptors: []string{"orders"}}},
		b.member("orders"),
	}}
	a := forwardVia(t, newTestForwarder(t, dir, testForwardConfig()))
	hdr := map[string]string{
		"Authorization": "Bearer secret-token",
		"traceparent":   "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"tracestate":    "vendor=opaque",
		"baggage":       "tenant=acme",
	}
	resp, body := do(t, http.MethodPost, a.URL+"/d/orders/events?sync=true", `{"events":[1]}`, hdr)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	e := decodeEcho(t, body)
	want := echo{Node: "b", Method: "POST", Path: "/d/orders/events", Query: "sync=true", Body: `{"events":[1]}`,
		Authorization: hdr["Authorization"], Traceparent: hdr["traceparent"], Tracestate: hdr["tracestate"],
		Baggage: hdr["baggage"], ForwardedBy: "a", ForwardedFor: "127.0.0.1", Host: b.member().APIAddr}
	if e != want {
		t.Errorf("the owner received\n%+v\nwant\n%+v", e, want)
	}
}

func TestForwardRetriesIdempotentOnAnotherOwner(t *testing.T) {
	sick, well := newPeer(t, "sick"), newPeer(t, "well")
	sick.status.Store(http.StatusServiceUnavailable)
	dir := &fakeDirectory{local: "a", members: []Member{sick.member("orders"), well.member("orders")}}
	cfg := testForwardConfig()
	cfg.BreakerFailures = 100 // keep the sick peer's breaker closed here
	a := forwardVia(t, newTestForwarder(t, dir, cfg))

	// Whichever owner the rotation picks first, idempotent requests end
	// up answered by the well one, body included.
	for i := range 4 {
		resp, body := do(t, http.MethodPut, a.URL+"/d/orders/config", `{"n":1}`, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT %d: status %d: %s", i, resp.StatusCode, body)
		}
		if e := decodeEcho(t, body); e.Node != "well" || e.Body != `{"n":1}` {
			t.Fatalf("PUT %d answered by %+v", i, e)
		}
	}
	if sick.hits.Load() == 0 {
		t.Fatal("the rotation never tried the sick owner first")
	}
	// A POST is sent once: when the sick owner is tried first, its 503 is
	// the answer.
	got503 := false
	for range 4 {
		resp, _ := do(t, http.MethodPost, a.URL+"/d/orders/events", `{}`, nil)
		got503 = got503 || resp.StatusCode == http.StatusServiceUnavailable
	}
	if !got503 {
		t.Error("a POST was retried on another owner")
	}
}

// TestForwardTo: ForwardTo reaches the named member whether or not it
// advertises the disruptor, never another owner, and answers 404 for a
// member that is unknown, local or not routable.
func TestForwardTo(t *testing.T) {
	leader, other := newPeer(t, "leader"), newPeer(t, "other")
	gone := newPeer(t, "gone").member()
	gone.State = StateDead
	dir := &fakeDirectory{local: "a", members: []Member{
		{ID: "a", Local: true, State: StateAlive, Meta: Meta{APIAddr: "127.0.0.1:1", State: NodeReady, Disruptors: []string{"orders"}}},
		leader.member(), other.member("orders"), gone,
	}}
	f := newTestForwarder(t, dir, testForwardConfig())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.ForwardTo(w, r, "orders", r.URL.Query().Get("to"))
	}))
	t.Cleanup(srv.Close)
	for range 4 {
		resp, body := do(t, http.MethodPost, srv.URL+"/d/orders/events?to=leader", `{"payload":1}`, map[string]string{"Authorization": "Bearer k"})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		if e := decodeEcho(t, body); e.Node != "leader" || e.Body != `{"payload":1}` || e.Authorization != "Bearer k" || e.ForwardedBy != "a" {
			t.Fatalf("answered by %+v", e)
		}
	}
	if other.hits.Load() != 0 {
		t.Errorf("another owner got %d requests", other.hits.Load())
	}
	for _, id := range []string{"nobody", "a", "gone"} {
		if resp, body := do(t, http.MethodPost, srv.URL+"/d/orders/events?to="+id, `{}`, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("to %s: status %d: %s", id, resp.StatusCode, body)
		}
	}
	resp, body := do(t, http.MethodPost, srv.URL+"/d/orders/events?to=leader", `{}`, map[string]string{HeaderForwardedBy: "b"})
	if resp.StatusCode != http.StatusLoopDetected {
		t.Errorf("already forwarded: status %d: %s", resp.StatusCode, body)
	}
}

func TestForwardUnreachableOwner(t *testing.T) {
	gone := newPeer(t, "gone")
	m := gone.member("orders")
	gone.srv.Close() // connection refused from now on
	var got *ForwardError
	cfg := testForwardConfig()
	cfg.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		if !errors.As(err, &got) {
			t.Errorf("error handler got %T", err)
		}
		w.WriteHeader(got.Status)
	}
	a := forwardVia(t, newTestForwarder(t, &fakeDirectory{local: "a", members: []Member{m}}, cfg))
	resp, _ := do(t, http.MethodGet, a.URL+"/d/orders", "", nil)
	if resp.StatusCode != http.StatusBadGateway || !errors.Is(got, ErrPeerUnavailable) || got.Peer != "gone" {
		t.Errorf("status %d, error %v", resp.StatusCode, got)
	}
}

func TestForwardTimeout(t *testing.T) {
	slow := newPeer(t, "slow")
	slow.stall.Store(true)
	a := forwardVia(t, newTestForwarder(t, &fakeDirectory{local: "a", members: []Member{slow.member("orders")}}, testForwardConfig()))
	start := time.Now()
	resp, body := do(t, http.MethodGet, a.URL+"/d/orders", "", nil)
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	t.Logf("gave up after %v (response header timeout 300ms)", time.Since(start).Round(time.Millisecond))
}

func TestCircuitBreaker(t *testing.T) {
	b := newPeer(t, "b")
	b.status.Store(http.StatusServiceUnavailable)
	c := newPeer(t, "c")
	dir := &fakeDirectory{local: "a", members: []Member{b.member("orders"), c.member("payments")}}
	f := newTestForwarder(t, dir, testForwardConfig()) // 3 failures open it for 200 ms
	a := forwardVia(t, f)

	for range 3 {
		if resp, _ := do(t, http.MethodGet, a.URL+"/d/orders", "", nil); resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want b's 503", resp.StatusCode)
		}
	}
	// Open: b is not called any more, the forwarder answers 503 itself.
	hits := b.hits.Load()
	resp, body := do(t, http.MethodGet, a.URL+"/d/orders", "", nil)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, ErrCircuitOpen.Error()) || b.hits.Load() != hits {
		t.Fatalf("with the breaker open: status %d, body %q, b called %d more times", resp.StatusCode, body, b.hits.Load()-hits)
	}
	if _, err := f.Target(httptest.NewRequest("GET", "/d/orders", nil), "orders"); !errors.Is(err, ErrCircuitOpen) {
		t.Errorf("Target with the breaker open = %v", err)
	}
	// Another peer is not affected by b's breaker.
	if resp, body := do(t, http.MethodGet, a.URL+"/d/payments", "", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("c: status %d: %s", resp.StatusCode, body)
	}
	// b recovers; after the open timeout a trial request closes the
	// breaker.
	b.status.Store(0)
	clustertest.WaitFor(t, 10*time.Second, "b's breaker to half-open", func() bool {
		for _, p := range f.Peers() {
			if p.ID == "b" {
				return p.Circuit == "half-open"
			}
		}
		return false
	})
	if resp, body := do(t, http.MethodGet, a.URL+"/d/orders", "", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("trial request: status %d: %s", resp.StatusCode, body)
	}
	for _, p := range f.Peers() {
		if p.Circuit != "closed" {
			t.Errorf("peer %s circuit %s after recovery", p.ID, p.Circuit)
		}
	}
}

func TestForwardRefusals(t *testing.T) {
	b := newPeer(t, "b")
	starting := b.member("starting")
	starting.Meta.State = NodeStarting
	suspect := b.member("suspect")
	suspect.ID, suspect.State = "s", StateSuspect
	dir := &fakeDirectory{local: "a", members: []Member{b.member("orders"), starting, suspect}}
	a := forwardVia(t, newTestForwarder(t, dir, testForwardConfig()))
	tests := []struct {
		name   string
		path   string
		hdr    map[string]string
		status int
	}{
		{"already forwarded", "/d/orders", map[string]string{HeaderForwardedBy: "c"}, http.StatusLoopDetected},
		{"no owner", "/d/nowhere", nil, http.StatusNotFound},
		{"owner not ready", "/d/starting", nil, http.StatusNotFound},
		{"owner suspect", "/d/suspect", nil, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if resp, body := do(t, http.MethodGet, a.URL+tt.path, "", tt.hdr); resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
		})
	}
	if b.hits.Load() != 0 {
		t.Errorf("b was called %d times", b.hits.Load())
	}
}

func TestRedirect(t *testing.T) {
	b := newPeer(t, "b")
	f := newTestForwarder(t, &fakeDirectory{local: "a", members: []Member{b.member("orders")}}, testForwardConfig())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { f.Redirect(w, r, "orders") }))
	defer srv.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Post(srv.URL+"/d/orders/events?x=1", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := b.srv.URL + "/d/orders/events?x=1"; resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != want {
		t.Errorf("status %d, Location %q, want 307 to %s", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	// Followed, the redirect keeps the method and body.
	resp2, body := do(t, http.MethodPost, srv.URL+"/d/orders/events", `{"a":1}`, nil)
	if e := decodeEcho(t, body); resp2.StatusCode != 200 || e.Node != "b" || e.Method != "POST" || e.Body != `{"a":1}` {
		t.Errorf("after the redirect: %d %+v", resp2.StatusCode, e)
	}
}

func TestForwardStreams(t *testing.T) {
	release := make(chan struct{})
	sse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer sse.Close()
	defer close(release)
	u, _ := url.Parse(sse.URL)
	m := Member{ID: "b", State: StateAlive, Meta: Meta{APIAddr: u.Host, State: NodeReady, Disruptors: []string{"orders"}}}
	a := forwardVia(t, newTestForwarder(t, &fakeDirectory{local: "a", members: []Member{m}}, testForwardConfig()))
	resp, err := http.Get(a.URL + "/d/orders/subscribe")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "data: first\n" {
		t.Fatalf("first event %q, %v: the stream was not flushed through", line, err)
	}
}

func TestForwardConfigValidate(t *testing.T) {
	c := ForwardConfig{MaxRetryBody: -1}
	var fields []string
	for _, ce := range ConfigErrors(c.Validate()) {
		fields = append(fields, ce.Field)
	}
	want := "forward.dial_timeout_ms forward.response_header_timeout_ms forward.max_attempts forward.max_retry_body_bytes " +
		"forward.breaker_failures forward.breaker_open_timeout_ms forward.breaker_half_open_requests"
	if got := strings.Join(fields, " "); got != want {
		t.Errorf("fields %s\nwant %s", got, want)
	}
	if err := DefaultForwardConfig().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	if _, err := NewForwarder(&fakeDirectory{}, c); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("NewForwarder(invalid) = %v", err)
	}
}

// TestForwardBetweenNodes is the in-process version of the acceptance
// test: a request for a disruptor hosted on node B, sent to node A, reaches
// B and returns B's answer, with real membership deciding the route.
func TestForwardBetweenNodes(t *testing.T) {
	nodes := startCluster(t, 2, nil)
	a, b := nodes[0], nodes[1]
	api := newPeer(t, "b") // b's API
	u, _ := url.Parse(api.srv.URL)
	if err := b.SetAPI("http", u.Host); err != nil {
		t.Fatal(err)
	}
	if err := b.SetDisruptors([]string{"orders"}); err != nil {
		t.Fatal(err)
	}
	clustertest.WaitFor(t, 10*time.Second, "a to see b host orders", func() bool { return len(a.Owners("orders")) == 1 })
	srv := forwardVia(t, newTestForwarder(t, a.Node, testForwardConfig()))
	resp, body := do(t, http.MethodGet, srv.URL+"/d/orders/events?from=0", "", map[string]string{"Authorization": "Bearer t"})
	if e := decodeEcho(t, body); resp.StatusCode != 200 || e.Node != "b" || e.ForwardedBy != "n1" || e.Authorization != "Bearer t" {
		t.Fatalf("status %d, answer %+v", resp.StatusCode, e)
	}
	// Once b leaves, a no longer routes to it.
	if err := b.Leave(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	clustertest.WaitFor(t, 10*time.Second, "a to stop routing to b", func() bool { return len(a.Owners("orders")) == 0 })
	if resp, _ := do(t, http.MethodGet, srv.URL+"/d/orders", "", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("after b left: status %d", resp.StatusCode)
	}
}

func TestForwardRetriesAfterConnectionRefused(t *testing.T) {
	gone, well := newPeer(t, "gone"), newPeer(t, "well")
	goneMember := gone.member("orders")
	gone.srv.Close()
	dir := &fakeDirectory{local: "a", members: []Member{goneMember, well.member("orders")}}
	a := forwardVia(t, newTestForwarder(t, dir, testForwardConfig()))
	for i := range 4 {
		resp, body := do(t, http.MethodGet, a.URL+"/d/orders", "", nil)
		if e := decodeEcho(t, body); resp.StatusCode != http.StatusOK || e.Node != "well" {
			t.Fatalf("GET %d: %d %s", i, resp.StatusCode, body)
		}
	}
}
