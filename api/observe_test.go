package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/badbatch/badbatch/docs"
	"github.com/badbatch/badbatch/engine"
)

// TestMetrics publishes N events and finds N, and a latency histogram of
// N observations, on /metrics.
func TestMetrics(t *testing.T) {
	const n = 250
	ts := newTestServer(t)
	ts.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "m"}})
	ts.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "other"}})
	for i := 0; i < n; i += 10 {
		var evs []any
		for k := range 10 {
			evs = append(evs, map[string]any{"payload": i + k})
		}
		if r := ts.do(t, request{method: "POST", path: "/api/v1/disruptors/m/events", body: map[string]any{"events": evs}}); r.status != 200 {
			t.Fatal(r.status, string(r.body))
		}
	}
	ts.do(t, request{method: "POST", path: "/api/v1/disruptors/m/events", raw: []byte(`{"payload":`)})
	scrape := func() map[string]*dto.MetricFamily {
		r := ts.do(t, request{method: "GET", path: "/metrics", acceptHeader: "text/plain"})
		if r.status != 200 {
			t.Fatal(r.status)
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		mfs, err := p.TextToMetricFamilies(strings.NewReader(string(r.body)))
		if err != nil {
			t.Fatal(err)
		}
		return mfs
	}
	find := func(mfs map[string]*dto.MetricFamily, name string, labels map[string]string) *dto.Metric {
		mf := mfs[name]
		if mf == nil {
			t.Fatalf("no %s", name)
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					continue next
				}
			}
			return m
		}
		t.Fatalf("no %s%v", name, labels)
		return nil
	}
	m := map[string]string{"disruptor": "m"}
	waitFor(t, "consumers", func() bool {
		return find(scrape(), "badbatch_events_consumed_total", m).GetCounter().GetValue() == n
	})
	mfs := scrape()
	if v := find(mfs, "badbatch_events_published_total", m).GetCounter().GetValue(); v != n {
		t.Errorf("published %v, want %d", v, n)
	}
	if v := find(mfs, "badbatch_events_published_total", map[string]string{"disruptor": "other"}).GetCounter().GetValue(); v != 0 {
		t.Errorf("other published %v", v)
	}
	h := find(mfs, "badbatch_event_latency_seconds", m).GetHistogram()
	if h.GetSampleCount() != n || h.GetSampleSum() <= 0 || len(h.GetBucket()) < 10 {
		t.Errorf("latency histogram: count %d sum %v buckets %d", h.GetSampleCount(), h.GetSampleSum(), len(h.GetBucket()))
	}
	nonEmpty := false
	for _, b := range h.GetBucket() {
		if b.GetCumulativeCount() > 0 && b.GetCumulativeCount() < n {
			nonEmpty = true
		}
		if b.GetUpperBound() > 1 && b.GetCumulativeCount() != n {
			t.Errorf("bucket %v holds %d of %d", b.GetUpperBound(), b.GetCumulativeCount(), n)
		}
	}
	_ = nonEmpty
	for _, name := range []string{"badbatch_ring_fill_ratio", "badbatch_consumer_lag", "badbatch_subscribers",
		"badbatch_publish_rate", "badbatch_http_requests_total", "badbatch_api_errors_total", "go_goroutines", "process_cpu_seconds_total"} {
		if mfs[name] == nil {
			t.Errorf("no %s", name)
		}
	}
	if v := find(mfs, "badbatch_api_errors_total", map[string]string{"code": CodeMalformedBody}).GetCounter().GetValue(); v != 1 {
		t.Errorf("MALFORMED_BODY count %v", v)
	}
	r := ts.do(t, request{method: "GET", path: "/api/v1/disruptors/m/metrics"})
	if get(r.v, "published") != float64(n) || get(r.v, "latency", "count") != float64(n) ||
		get(r.v, "latency", "p99_ns").(float64) < get(r.v, "latency", "p50_ns").(float64) {
		t.Errorf("json metrics: %v", r.v)
	}
}

// TestOpenAPIMatchesRoutes: every route in the mux is in docs/openapi.json
// and every operation there is a route.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(docs.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for p, ops := range doc.Paths {
		for m, op := range ops {
			if m == "parameters" {
				continue
			}
			documented[strings.ToUpper(m)+" "+p] = true
			var o struct {
				OperationID string                     `json:"operationId"`
				Responses   map[string]json.RawMessage `json:"responses"`
			}
			if err := json.Unmarshal(op, &o); err != nil || o.OperationID == "" || len(o.Responses) == 0 {
				t.Errorf("%s %s: operationId and responses are required", m, p)
			}
		}
	}
	ts := newTestServer(t)
	routed := map[string]bool{}
	for _, rt := range ts.srv.Routes() {
		routed[rt[0]+" "+openAPIPath(rt[1])] = true
	}
	if diff := cmp.Diff(routed, documented); diff != "" {
		t.Errorf("routes (-mux +openapi):\n%s", diff)
	}
	// Every $ref resolves.
	var whole map[string]any
	_ = json.Unmarshal(docs.OpenAPI, &whole)
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				var node any = whole
				for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
					node, _ = node.(map[string]any)[part]
				}
				if node == nil {
					t.Errorf("unresolved $ref %s", ref)
				}
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(whole)
	// The served document is the file.
	r := ts.do(t, request{method: "GET", path: "/api/v1/openapi.json"})
	if string(r.body) != string(docs.OpenAPI) {
		t.Error("served document differs from docs/openapi.json")
	}
}

// TestSlowSubscriber: a client that stops reading falls a ring behind;
// publishers are not held back, and when it reads again it gets what was
// sent, then a final "lagged" message naming the last sequence it was
// given (disconnect), or a gap and the rest (skip).
func TestSlowSubscriber(t *testing.T) {
	ts := newTestServer(t, func(_ *engine.Config, a *Config) { a.StreamBatch = 4 })
	ts.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "slow", "buffer_size": 16}})
	open := func(q string) *http.Response {
		req, _ := http.NewRequest("GET", ts.url+"/api/v1/disruptors/slow/events/stream"+q, nil)
		res, err := ts.client.Do(req)
		if err != nil || res.StatusCode != 200 {
			t.Fatal(err, res)
		}
		return res
	}
	disc := open("?from=0")
	defer disc.Body.Close()
	skip := open("?from=0&on_lag=skip&format=ndjson")
	defer skip.Body.Close()
	payload := `{"payload":"` + strings.Repeat("x", 60<<10) + `"}`
	start := time.Now()
	const n = 300 // 18 MB: more than the socket buffers hold
	for range n {
		if r := ts.do(t, request{method: "POST", path: "/api/v1/disruptors/slow/events", raw: []byte(payload)}); r.status != 200 {
			t.Fatalf("publish: %d %s", r.status, r.body)
		}
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("publishing took %v: held back by the subscribers?", d)
	}
	var last int64 = -1
	var lagged map[string]any
	_ = readSSE(disc.Body, func(ev sseEvent) bool {
		if ev.event == "lagged" {
			_ = json.Unmarshal([]byte(ev.data), &lagged)
			return false
		}
		var seq int64
		fmt.Sscan(ev.id, &seq)
		if seq != last+1 {
			t.Errorf("sequence %d after %d", seq, last)
		}
		last = seq
		return true
	})
	if lagged == nil || lagged["code"] != engine.CodeLagged || lagged["last_sequence"] != float64(last) || last >= n-1 {
		t.Fatalf("disconnect: last %d, final %v", last, lagged)
	}
	sc := bufio.NewScanner(skip.Body)
	sc.Buffer(nil, 1<<20)
	var gaps int
	last = -1
	for last < n-1 && sc.Scan() {
		var v struct {
			Type     string `json:"type"`
			Sequence int64  `json:"sequence"`
			From, To int64
		}
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatal(err)
		}
		switch v.Type {
		case "gap":
			if v.From != last+1 {
				t.Fatalf("gap from %d after %d", v.From, last)
			}
			gaps++
			last = v.To
		case "":
			if v.Sequence != last+1 {
				t.Fatalf("sequence %d after %d", v.Sequence, last)
			}
			last = v.Sequence
		}
	}
	if gaps == 0 || last != n-1 {
		t.Fatalf("skip: %d gaps, last %d", gaps, last)
	}
}

// TestStreamsEndOnShutdown: a graceful shutdown sends open streams their
// final message, and /health/ready fails.
func TestStreamsEndOnShutdown(t *testing.T) {
	ts := newTestServer(t, func(_ *engine.Config, a *Config) { a.StreamHeartbeat = 20 * time.Millisecond })
	ts.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "s"}})
	req, _ := http.NewRequest("GET", ts.url+"/api/v1/disruptors/s/events/stream", nil)
	res, err := ts.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	br := bufio.NewReader(res.Body)
	// A heartbeat comes while idle.
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == ": keepalive\n" {
			break
		}
	}
	done := make(chan error)
	go func() { done <- ts.srv.Shutdown(context.Background()) }()
	var end map[string]any
	_ = readSSE(br, func(ev sseEvent) bool {
		if ev.event == "end" {
			_ = json.Unmarshal([]byte(ev.data), &end)
			return false
		}
		return true
	})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if end["reason"] != "shutdown" {
		t.Fatalf("final message %v", end)
	}
	if _, err := ts.eng.Info("s"); err == nil {
		t.Fatal("engine still open after shutdown")
	}
}

// TestRequestIDAndLogs: every response has a request id, the client's is
// kept when sane, and each request is logged with it.
func TestRequestIDAndLogs(t *testing.T) {
	var mu sync.Mutex
	var logs strings.Builder
	ts := newTestServer(t, func(_ *engine.Config, a *Config) {
		a.Logger = slog.New(slog.NewJSONHandler(&lockedWriter{mu: &mu, w: &logs}, nil))
	})
	r := ts.do(t, request{method: "GET", path: "/api/v1/version", header: map[string]string{"X-Request-Id": "abc-123"}})
	if r.header.Get("X-Request-Id") != "abc-123" {
		t.Errorf("request id %q", r.header.Get("X-Request-Id"))
	}
	r = ts.do(t, request{method: "GET", path: "/nope", header: map[string]string{"X-Request-Id": "bad id"}})
	if id := r.header.Get("X-Request-Id"); len(id) != 24 {
		t.Errorf("generated request id %q", id)
	}
	mu.Lock()
	out := logs.String()
	mu.Unlock()
	if !strings.Contains(out, `"request_id":"abc-123"`) || !strings.Contains(out, `"route":"GET /api/v1/version"`) ||
		!strings.Contains(out, `"error_code":"NOT_FOUND"`) {
		t.Errorf("logs:\n%s", out)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestTracing: with a tracer provider, requests and publishes get spans,
// and the client's trace context reaches the events' metadata.
func TestTracing(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := trace.NewTracerProvider(trace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	ts := newTestServer(t, func(_ *engine.Config, a *Config) { a.TracerProvider = tp })
	ts.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "tr"}})
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	r := ts.do(t, request{method: "POST", path: "/api/v1/disruptors/tr/events", raw: []byte(`{"payload":1}`),
		header: map[string]string{"traceparent": parent}})
	if r.status != 200 {
		t.Fatal(r.status)
	}
	r = ts.do(t, request{method: "GET", path: "/api/v1/disruptors/tr/events/0"})
	tp0, _ := get(r.v, "metadata", "traceparent").(string)
	if !strings.HasPrefix(tp0, "00-4bf92f3577b34da6a3ce929d0e0e4736-") || tp0 == parent {
		t.Errorf("event traceparent %q: want the publish span under the client's trace", tp0)
	}
	var names []string
	for _, s := range rec.Ended() {
		names = append(names, s.Name())
	}
	joined := strings.Join(names, ",")
	if !strings.Contains(joined, "publish tr") || !strings.Contains(joined, "POST /api/v1/disruptors/{name}/events") {
		t.Errorf("spans: %v", names)
	}
}

// TestTraceContextWithoutTracing: with tracing off, a client's
// traceparent is still carried on the events.
func TestTraceContextWithoutTracing(t *testing.T) {
	ts := newTestServer(t)
	ts.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "tc"}})
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ts.do(t, request{method: "POST", path: "/api/v1/disruptors/tc/events", raw: []byte(`{"events":[{"payload":1},{"payload":2,"metadata":{"a":"b"}}]}`),
		header: map[string]string{"traceparent": parent, "tracestate": "x=y"}})
	ts.do(t, request{method: "POST", path: "/api/v1/disruptors/tc/events", raw: []byte(`{"payload":3}`),
		header: map[string]string{"traceparent": "garbage"}})
	r := ts.do(t, request{method: "GET", path: "/api/v1/disruptors/tc/events"})
	evs := get(r.v, "events").([]any)
	if get(evs[0], "metadata", "traceparent") != parent || get(evs[1], "metadata", "tracestate") != "x=y" ||
		get(evs[1], "metadata", "a") != "b" || get(evs[2], "metadata") != nil {
		t.Errorf("events: %v", evs)
	}
}

// TestStreamOutlivesTimeouts: a stream lasts longer than the server's read
// and write timeouts, kept alive by heartbeats.
func TestStreamOutlivesTimeouts(t *testing.T) {
	ts := newTestServer(t, func(_ *engine.Config, a *Config) {
		a.ReadTimeout, a.WriteTimeout = 150*time.Millisecond, 150*time.Millisecond
		a.StreamHeartbeat = 40 * time.Millisecond
	})
	ts.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "long"}})
	res, err := ts.client.Get(ts.url + "/api/v1/disruptors/long/events/stream?format=ndjson")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	go func() {
		time.Sleep(500 * time.Millisecond)
		ts.do(t, request{method: "POST", path: "/api/v1/disruptors/long/events", raw: []byte(`{"payload":"late"}`)})
	}()
	sc := bufio.NewScanner(res.Body)
	beats := 0
	for sc.Scan() {
		if strings.Contains(sc.Text(), `"heartbeat"`) {
			beats++
			continue
		}
		if strings.Contains(sc.Text(), `"late"`) {
			break
		}
		t.Fatalf("unexpected line %q", sc.Text())
	}
	if beats < 5 {
		t.Fatalf("%d heartbeats before the late event (stream cut? %v)", beats, sc.Err())
	}
}
