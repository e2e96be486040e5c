package api

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

var formats = []format{formatJSON, formatYAML, formatMsgpack}

// TestEndToEnd drives every route over a real socket, in each encoding,
// with and without gzip both ways.
func TestEndToEnd(t *testing.T) {
	ts := newTestServer(t, withJournal(t))
	for _, f := range formats {
		for _, gz := range []bool{false, true} {
			name := fmt.Sprintf("%s-gzip=%v", f, gz)
			t.Run(name, func(t *testing.T) { scenario(t, ts, f, gz, "e2e-"+strings.ReplaceAll(name, "=", "")) })
		}
	}
	// The console and who-am-I (console_test.go checks them closely).
	for _, path := range []string{"/", "/docs", "/ui/", "/ui/app.js", "/api/v1/auth/whoami"} {
		if r := ts.do(t, request{method: "GET", path: path}); r.status != http.StatusOK {
			t.Errorf("GET %s: %d", path, r.status)
		}
	}
	// A journaled disruptor, and its purge.
	for _, c := range []struct {
		method, path string
		body         any
		want         int
	}{
		{"POST", "/api/v1/disruptors", map[string]any{"name": "e2e-journal", "durability": "journal", "sync": "always"}, http.StatusCreated},
		{"POST", "/api/v1/disruptors/e2e-journal/events", map[string]any{"events": []any{map[string]any{"payload": 1}, map[string]any{"payload": 2}}}, http.StatusOK},
		{"POST", "/api/v1/disruptors/e2e-journal/purge", map[string]any{"before": 1}, http.StatusOK},
		{"GET", "/api/v1/disruptors/e2e-journal/events?from=0", nil, http.StatusGone},
	} {
		if r := ts.do(t, request{method: c.method, path: c.path, body: c.body}); r.status != c.want {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, r.status, r.body, c.want)
		}
	}
	// Every route answered at least one 2xx (a redirect, 302).
	hit := map[string]bool{}
	for _, rt := range ts.srv.Routes() {
		if strings.HasPrefix(rt[1], "/api/v1/cluster/") {
			continue // 404 on a standalone server; cluster_test.go drives them
		}
		hit[rt[0]+" "+rt[1]] = false
	}
	mfs, err := ts.srv.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "badbatch_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var route, status string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "route":
					route = l.GetValue()
				case "status":
					status = l.GetValue()
				}
			}
			if strings.HasPrefix(status, "2") || status == "302" {
				hit[route] = true
			}
		}
	}
	for route, ok := range hit {
		if !ok {
			t.Errorf("route %s never answered 2xx", route)
		}
	}
}

func scenario(t *testing.T, ts *testServer, f format, gz bool, name string) {
	do := func(method, path string, body any, want int) *response {
		t.Helper()
		r := ts.do(t, request{method: method, path: path, body: body, f: f, accept: f, gzipBody: gz && body != nil, gzipResponse: gz})
		if r.status != want {
			t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.body)
		}
		if ct := r.header.Get("Content-Type"); len(r.body) > 0 && path != "/metrics" && !strings.HasPrefix(ct, f.contentType()) {
			t.Fatalf("%s %s: Content-Type %q, want %s", method, path, ct, f.contentType())
		}
		if r.header.Get("X-Request-Id") == "" {
			t.Fatalf("%s %s: no X-Request-Id", method, path)
		}
		return r
	}
	base := "/api/v1/disruptors/" + name

	r := do("POST", "/api/v1/disruptors", map[string]any{
		"name": name, "buffer_size": 64, "producer_type": "single", "wait_strategy": "yielding",
		"schema": map[string]any{"type": "object", "required": []any{"id"}},
	}, http.StatusCreated)
	if loc := r.header.Get("Location"); loc != base {
		t.Errorf("Location %q", loc)
	}
	if get(r.v, "state") != "running" || get(r.v, "buffer_size") != 64.0 || get(r.v, "producer_type") != "single" ||
		get(r.v, "schema", "type") != "object" {
		t.Errorf("created: %v", r.v)
	}
	do("POST", "/api/v1/disruptors", map[string]any{"name": name}, http.StatusConflict)

	r = do("GET", "/api/v1/disruptors?name="+name+"&state=running", nil, http.StatusOK)
	if get(r.v, "disruptors", 0, "name") != name || len(get(r.v, "disruptors").([]any)) != 1 {
		t.Errorf("list: %v", r.v)
	}
	r = do("GET", base, nil, http.StatusOK)
	if get(r.v, "name") != name || get(r.v, "latest_sequence") != -1.0 {
		t.Errorf("get: %v", r.v)
	}

	// Lifecycle: pause refuses events, resume accepts them.
	r = do("PUT", base+"/state", map[string]any{"state": "paused"}, http.StatusOK)
	if get(r.v, "state") != "paused" {
		t.Errorf("pause: %v", r.v)
	}
	r = do("GET", base+"/state", nil, http.StatusOK)
	if get(r.v, "state") != "paused" {
		t.Errorf("state: %v", r.v)
	}
	r = do("POST", base+"/events", map[string]any{"payload": map[string]any{"id": 0}}, http.StatusConflict)
	if errCode(r) != CodeDisruptorNotRunning || get(r.v, "error", "details", "state") != "paused" {
		t.Errorf("publish while paused: %v", r.v)
	}
	do("PUT", base+"/state", map[string]any{"state": "created"}, http.StatusConflict)
	do("PUT", base+"/state", map[string]any{"state": "running"}, http.StatusOK)

	// Publishing: one event, a batch, several disruptors.
	r = do("POST", base+"/events", map[string]any{"payload": map[string]any{"id": 1, "tags": []any{"a", "b"}}, "metadata": map[string]any{"src": "test"}}, http.StatusOK)
	if get(r.v, "first_sequence") != 0.0 || get(r.v, "count") != 1.0 || get(r.v, "last_sequence") != 0.0 {
		t.Errorf("publish one: %v", r.v)
	}
	batch := []any{
		map[string]any{"payload": map[string]any{"id": 2}},
		map[string]any{"payload": map[string]any{"id": 3, "text": "héllo \"world\"\n"}},
	}
	r = do("POST", base+"/events", map[string]any{"events": batch}, http.StatusOK)
	if get(r.v, "first_sequence") != 1.0 || get(r.v, "last_sequence") != 2.0 || get(r.v, "duplicate") != false {
		t.Errorf("publish batch: %v", r.v)
	}
	r = do("POST", base+"/events", map[string]any{"payload": map[string]any{"no_id": true}}, http.StatusUnprocessableEntity)
	if errCode(r) != CodeSchemaViolation {
		t.Errorf("schema violation: %v", r.v)
	}
	r = do("POST", "/api/v1/events", map[string]any{"batches": []any{
		map[string]any{"disruptor": name, "events": []any{map[string]any{"payload": map[string]any{"id": 4}}}},
		map[string]any{"disruptor": "missing-" + name, "events": []any{map[string]any{"payload": 1}}},
	}}, http.StatusMultiStatus)
	if get(r.v, "succeeded") != 1.0 || get(r.v, "failed") != 1.0 || get(r.v, "results", 0, "first_sequence") != 3.0 ||
		get(r.v, "results", 1, "error", "code") != CodeDisruptorNotFound {
		t.Errorf("multi: %v", r.v)
	}
	r = do("POST", "/api/v1/events", map[string]any{"batches": []any{
		map[string]any{"disruptor": name, "idempotency_key": "k-" + name, "events": []any{map[string]any{"payload": map[string]any{"id": 5}}}},
	}}, http.StatusOK)
	if get(r.v, "failed") != 0.0 || get(r.v, "results", 0, "first_sequence") != 4.0 {
		t.Errorf("multi ok: %v", r.v)
	}

	// Reading back: replay, one event, in order, payloads intact.
	r = do("GET", base+"/events?from=0&limit=10", nil, http.StatusOK)
	evs, _ := get(r.v, "events").([]any)
	if len(evs) != 5 || get(r.v, "next_sequence") != 5.0 || get(r.v, "latest_sequence") != 4.0 || get(r.v, "oldest_sequence") != 0.0 {
		t.Fatalf("replay: %v", r.v)
	}
	for i, ev := range evs {
		if get(ev, "sequence") != float64(i) || get(ev, "payload", "id") != float64(i+1) {
			t.Errorf("replay event %d: %v", i, ev)
		}
		if _, err := time.Parse(time.RFC3339Nano, get(ev, "time").(string)); err != nil {
			t.Errorf("replay event %d time: %v", i, err)
		}
	}
	if get(evs[0], "metadata", "src") != "test" || get(evs[2], "payload", "text") != "héllo \"world\"\n" {
		t.Errorf("replay content: %v %v", evs[0], evs[2])
	}
	r = do("GET", base+"/events/2", nil, http.StatusOK)
	if get(r.v, "sequence") != 2.0 || get(r.v, "payload", "id") != 3.0 {
		t.Errorf("get event: %v", r.v)
	}
	do("GET", base+"/events/99", nil, http.StatusNotFound)

	// Figures.
	waitFor(t, "consumers", func() bool {
		r := do("GET", base+"/metrics", nil, http.StatusOK)
		return get(r.v, "consumed") == 5.0
	})
	r = do("GET", base+"/metrics", nil, http.StatusOK)
	if get(r.v, "published") != 5.0 || get(r.v, "latency", "count") != 5.0 || get(r.v, "errors", CodeSchemaViolation) != 1.0 {
		t.Errorf("metrics: %v", r.v)
	}
	r = do("GET", "/api/v1/metrics", nil, http.StatusOK)
	if len(get(r.v, "disruptors").([]any)) == 0 {
		t.Errorf("system metrics: %v", r.v)
	}
	r = do("GET", "/metrics", nil, http.StatusOK)
	if !strings.Contains(string(r.body), `badbatch_events_published_total{disruptor="`+name+`"} 5`) {
		t.Errorf("/metrics lacks the published count")
	}
	if gz && !r.gzip {
		t.Errorf("/metrics not gzipped")
	}
	for _, p := range []string{"/health", "/health/ready", "/api/v1/health", "/api/v1/version"} {
		r = do("GET", p, nil, http.StatusOK)
		if get(r.v, "status") == nil && get(r.v, "api_version") == nil {
			t.Errorf("%s: %v", p, r.v)
		}
	}
	r = do("GET", "/api/v1/openapi.json", nil, http.StatusOK)
	if get(r.v, "openapi") != "3.0.3" {
		t.Errorf("openapi: %.100s", r.body)
	}
	if gz && !r.gzip {
		t.Errorf("openapi not gzipped")
	}

	// The live stream replays from 3, then ends when the disruptor stops.
	streamAndStop(t, ts, f, gz, base)

	// Delete.
	do("DELETE", base, nil, http.StatusNoContent)
	do("GET", base, nil, http.StatusNotFound)
	do("DELETE", base, nil, http.StatusNotFound)
}

func streamAndStop(t *testing.T, ts *testServer, f format, gz bool, base string) {
	accept := "text/event-stream"
	if f != formatJSON {
		accept = "application/x-ndjson"
	}
	req, _ := http.NewRequest("GET", ts.url+base+"/events/stream?from=3", nil)
	req.Header.Set("Accept", accept)
	if gz {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	res, err := ts.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != accept {
		t.Fatalf("stream: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	var body io.Reader = res.Body
	if gz {
		if res.Header.Get("Content-Encoding") != "gzip" {
			t.Fatal("stream not gzipped")
		}
		zr, err := gzip.NewReader(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		body = zr
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		r := ts.do(t, request{method: "PUT", path: base + "/state", body: map[string]any{"state": "stopped"}, f: f, accept: f})
		if r.status != 200 {
			t.Errorf("stop: %d %s", r.status, r.body)
		}
	}()
	var seqs []float64
	var end map[string]any
	if accept == "text/event-stream" {
		_ = readSSE(body, func(ev sseEvent) bool {
			var v map[string]any
			if err := json.Unmarshal([]byte(ev.data), &v); err != nil {
				t.Errorf("sse data %q: %v", ev.data, err)
				return false
			}
			if ev.event == "end" {
				end = v
				return false
			}
			if ev.id != fmt.Sprint(v["sequence"]) {
				t.Errorf("sse id %q for sequence %v", ev.id, v["sequence"])
			}
			seqs = append(seqs, v["sequence"].(float64))
			return true
		})
	} else {
		dec := json.NewDecoder(body)
		for {
			var v map[string]any
			if err := dec.Decode(&v); err != nil {
				break
			}
			if v["type"] == "end" {
				end = v
				break
			}
			seqs = append(seqs, v["sequence"].(float64))
		}
	}
	<-stopped
	if fmt.Sprint(seqs) != "[3 4]" || end == nil || end["reason"] != "stopped" || end["last_sequence"] != 4.0 {
		t.Errorf("stream: %v, end %v", seqs, end)
	}
}

// TestGzipRequestAndResponse checks compression both ways on a large
// body, and that small responses go out plain.
func TestGzipRequestAndResponse(t *testing.T) {
	ts := newTestServer(t)
	ts.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "gz"}})
	var evs []any
	for i := range 500 {
		evs = append(evs, map[string]any{"payload": map[string]any{"i": i, "pad": strings.Repeat("x", 40)}})
	}
	r := ts.do(t, request{method: "POST", path: "/api/v1/disruptors/gz/events", body: map[string]any{"events": evs}, gzipBody: true, gzipResponse: true})
	if r.status != 200 || r.gzip || get(r.v, "count") != 500.0 {
		t.Fatalf("gzip publish (a small answer goes plain): %d gzip=%v %s", r.status, r.gzip, r.body)
	}
	r = ts.do(t, request{method: "GET", path: "/api/v1/disruptors/gz/events?limit=500", gzipResponse: true})
	if r.status != 200 || !r.gzip || len(get(r.v, "events").([]any)) != 500 || r.header.Get("Vary") != "Accept-Encoding" {
		t.Fatalf("gzip replay: %d gzip=%v", r.status, r.gzip)
	}
	r = ts.do(t, request{method: "GET", path: "/health", gzipResponse: true})
	if r.status != 200 || r.gzip {
		t.Fatalf("small response: gzip=%v", r.gzip)
	}
	r = ts.do(t, request{method: "GET", path: "/api/v1/disruptors/gz/events?limit=500", header: map[string]string{"Accept-Encoding": "gzip;q=0"}})
	if r.gzip {
		t.Fatal("gzip;q=0 was compressed")
	}
}

// TestBinaryPayloads checks opaque payloads in every encoding.
func TestBinaryPayloads(t *testing.T) {
	ts := newTestServer(t)
	ts.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "bin"}})
	data := []byte{0, 1, 2, 0xff, '"', '\n'}
	b64 := base64.StdEncoding.EncodeToString(data)
	ts.do(t, request{method: "POST", path: "/api/v1/disruptors/bin/events", body: map[string]any{"payload_base64": b64}})
	ts.do(t, request{method: "POST", path: "/api/v1/disruptors/bin/events", body: map[string]any{"payload": data}, f: formatMsgpack})
	ts.do(t, request{method: "POST", path: "/api/v1/disruptors/bin/events", raw: []byte("payload: !!binary " + b64 + "\n"), f: formatYAML})
	for _, f := range formats {
		r := ts.do(t, request{method: "GET", path: "/api/v1/disruptors/bin/events", accept: f})
		evs := get(r.v, "events").([]any)
		if len(evs) != 3 {
			t.Fatalf("%s: %v", f, r.v)
		}
		for i, ev := range evs {
			var got []byte
			if f == formatMsgpack {
				got, _ = get(ev, "payload").([]byte)
			} else {
				got, _ = base64.StdEncoding.DecodeString(get(ev, "payload_base64").(string))
			}
			if !bytes.Equal(got, data) {
				t.Errorf("%s event %d: %v", f, i, ev)
			}
		}
	}
}

// TestStateCodes checks the lifecycle over HTTP, including the 409s.
func TestStateCodes(t *testing.T) {
	ts := newTestServer(t)
	r := ts.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "lc", "start": false}})
	if get(r.v, "state") != "created" {
		t.Fatalf("created: %v", r.v)
	}
	steps := []struct {
		state string
		want  int
		code  string
	}{
		{"paused", 409, CodeInvalidStateTransition},
		{"stopped", 409, CodeInvalidStateTransition},
		{"running", 200, ""},
		{"running", 200, ""},
		{"paused", 200, ""},
		{"stopped", 200, ""},
		{"running", 409, CodeInvalidStateTransition},
		{"deleted", 400, CodeValidation},
		{"sideways", 400, CodeValidation},
	}
	for _, s := range steps {
		r := ts.do(t, request{method: "PUT", path: "/api/v1/disruptors/lc/state", body: map[string]any{"state": s.state}})
		if r.status != s.want || errCode(r) != s.code {
			t.Errorf("→%s: %d %s", s.state, r.status, r.body)
		}
	}
	if m := testutil.ToFloat64(ts.srv.errors.WithLabelValues(CodeInvalidStateTransition)); m != 3 {
		t.Errorf("error metric %v", m)
	}
}

// TestLastEventIDResume: a client that reconnects with Last-Event-ID gets
// the events after it, whatever from= says.
func TestLastEventIDResume(t *testing.T) {
	ts := newTestServer(t)
	ts.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "resume"}})
	ts.do(t, request{method: "POST", path: "/api/v1/disruptors/resume/events",
		raw: []byte(`{"events":[{"payload":0},{"payload":1},{"payload":2},{"payload":3},{"payload":4}]}`)})
	if ids := resumeIDs(t, ts, "/api/v1/disruptors/resume/events/stream?from=0", "2", 2); fmt.Sprint(ids) != "[3 4]" {
		t.Fatalf("resumed with %v", ids)
	}
}

// resumeIDs opens the SSE stream at path with Last-Event-ID lastID and
// returns the ids of its first n events.
func resumeIDs(t *testing.T, ts *testServer, path, lastID string, n int) []string {
	t.Helper()
	req, _ := http.NewRequest("GET", ts.url+path, nil)
	req.Header.Set("Last-Event-ID", lastID)
	res, err := ts.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var ids []string
	_ = readSSE(res.Body, func(ev sseEvent) bool {
		ids = append(ids, ev.id)
		return len(ids) < n
	})
	return ids
}

// TestFirstSequence: a disruptor created with first_sequence continues an
// earlier numbering: its first event gets that sequence, earlier ones
// read as evicted, a reader resuming with its saved Last-Event-ID gets the
// next events; a negative one, or one on a quorum disruptor, is refused.
func TestFirstSequence(t *testing.T) {
	ts := newTestServer(t)
	r := ts.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "moved", "buffer_size": 8, "first_sequence": 5000}})
	if r.status != http.StatusCreated || get(r.v, "oldest_sequence") != 5000.0 || get(r.v, "latest_sequence") != 4999.0 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	r = ts.do(t, request{method: "POST", path: "/api/v1/disruptors/moved/events", raw: []byte(`{"events":[{"payload":0},{"payload":1},{"payload":2}]}`)})
	if r.status != http.StatusOK || get(r.v, "first_sequence") != 5000.0 || get(r.v, "last_sequence") != 5002.0 {
		t.Fatalf("publish: %d %s", r.status, r.body)
	}
	if r = ts.do(t, request{method: "GET", path: "/api/v1/disruptors/moved/events/4999"}); r.status != http.StatusGone || errCode(r) != CodeSequenceEvicted {
		t.Errorf("before the first sequence: %d %s", r.status, r.body)
	}
	if ids := resumeIDs(t, ts, "/api/v1/disruptors/moved/events/stream", "5000", 2); fmt.Sprint(ids) != "[5001 5002]" {
		t.Errorf("resumed with %v", ids)
	}
	r = ts.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "neg", "first_sequence": -1}})
	if r.status != http.StatusBadRequest || errCode(r) != CodeValidation || !strings.Contains(string(r.body), "first_sequence") {
		t.Errorf("negative first_sequence: %d %s", r.status, r.body)
	}
}

// TestHeadStream: HEAD on a stream answers its headers and returns.
func TestHeadStream(t *testing.T) {
	ts := newTestServer(t)
	ts.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "h"}})
	r := ts.do(t, request{method: "HEAD", path: "/api/v1/disruptors/h/events/stream", acceptHeader: "text/event-stream"})
	if r.status != 200 || r.header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("HEAD stream: %d %v", r.status, r.header)
	}
}
