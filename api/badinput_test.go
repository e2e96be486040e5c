package api

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/badbatch/badbatch/docs"
	"github.com/badbatch/badbatch/engine"
	"github.com/badbatch/badbatch/wire"
)

// TestBadInput sends malformed requests: each must get its documented
// code and status, and the server must go on serving.
func TestBadInput(t *testing.T) {
	ts := newTestServer(t, func(e *engine.Config, a *Config) {
		e.MaxBatchEvents = 16
		a.MaxBodyBytes = 64 << 10
	})
	setup := []request{
		{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "bad", "buffer_size": 8, "max_event_size": 64}},
		{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "paused"}},
		{method: "PUT", path: "/api/v1/disruptors/paused/state", body: map[string]any{"state": "paused"}},
		{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "schema", "schema": map[string]any{"type": "object", "properties": map[string]any{"n": map[string]any{"type": "integer"}}}}},
		{method: "POST", path: "/api/v1/disruptors/bad/events", header: map[string]string{"Idempotency-Key": "used"}, body: map[string]any{"payload": 1}},
	}
	for _, r := range setup {
		if res := ts.do(t, r); res.status >= 300 {
			t.Fatalf("setup %s %s: %d %s", r.method, r.path, res.status, res.body)
		}
	}
	for i := range 12 { // 13 events in a ring of 8: 0..4 are evicted
		ts.do(t, request{method: "POST", path: "/api/v1/disruptors/bad/events", body: map[string]any{"payload": i}})
	}

	var truncated []byte
	{
		gz := gzipBytes([]byte(`{"name":"gzipped"}`))
		truncated = gz[:len(gz)-6]
	}
	bomb := func() []byte {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		_, _ = w.Write([]byte(`{"payload":"`))
		_, _ = w.Write(bytes.Repeat([]byte("a"), 1<<20))
		_, _ = w.Write([]byte(`"}`))
		_ = w.Close()
		return buf.Bytes()
	}()
	laughs := "payload:\n  a: &a [x,x,x,x,x,x,x,x,x]\n"
	for _, p := range []string{"b", "c", "d", "e", "f", "g", "h"} {
		prev := string(rune(p[0] - 1))
		laughs += "  " + p + ": &" + p + " [" + strings.Repeat("*"+prev+",", 8) + "*" + prev + "]\n"
	}
	laughs += "  z: [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
	events := func(n int) string {
		return `{"events":[` + strings.Repeat(`{"payload":1},`, n-1) + `{"payload":1}]}`
	}
	const pub = "/api/v1/disruptors/bad/events"
	cases := []struct {
		name string
		req  request
		code string
	}{
		{"create: bad JSON", request{method: "POST", path: "/api/v1/disruptors", raw: []byte(`{"name":`)}, CodeMalformedBody},
		{"create: wrong type", request{method: "POST", path: "/api/v1/disruptors", raw: []byte(`{"name":5}`)}, CodeMalformedBody},
		{"create: unknown field", request{method: "POST", path: "/api/v1/disruptors", raw: []byte(`{"name":"x","size":8}`)}, CodeMalformedBody},
		{"create: trailing data", request{method: "POST", path: "/api/v1/disruptors", raw: []byte(`{"name":"x"} {}`)}, CodeMalformedBody},
		{"create: empty body", request{method: "POST", path: "/api/v1/disruptors", raw: []byte{}}, CodeMalformedBody},
		{"create: non-power-of-2 size", request{method: "POST", path: "/api/v1/disruptors", raw: []byte(`{"name":"x","buffer_size":1000}`)}, CodeValidation},
		{"create: negative size", request{method: "POST", path: "/api/v1/disruptors", raw: []byte(`{"name":"x","buffer_size":-8}`)}, CodeValidation},
		{"create: bad name", request{method: "POST", path: "/api/v1/disruptors", raw: []byte(`{"name":"a/b"}`)}, CodeValidation},
		{"create: no name", request{method: "POST", path: "/api/v1/disruptors", raw: []byte(`{}`)}, CodeValidation},
		{"create: bad producer type", request{method: "POST", path: "/api/v1/disruptors", raw: []byte(`{"name":"x","producer_type":"many"}`)}, CodeValidation},
		{"create: bad wait strategy", request{method: "POST", path: "/api/v1/disruptors", raw: []byte(`{"name":"x","wait_strategy":"nap"}`)}, CodeValidation},
		{"create: bad overflow", request{method: "POST", path: "/api/v1/disruptors", raw: []byte(`{"name":"x","overflow":"drop"}`)}, CodeValidation},
		{"create: bad schema", request{method: "POST", path: "/api/v1/disruptors", raw: []byte(`{"name":"x","schema":{"type":12}}`)}, CodeInvalidSchema},
		{"create: schema loading a file", request{method: "POST", path: "/api/v1/disruptors", raw: []byte(`{"name":"x","schema":{"$ref":"file:///etc/passwd"}}`)}, CodeInvalidSchema},
		{"create: exists", request{method: "POST", path: "/api/v1/disruptors", raw: []byte(`{"name":"bad"}`)}, CodeDisruptorExists},
		{"create: bad YAML", request{method: "POST", path: "/api/v1/disruptors", raw: []byte("name: [\n"), f: formatYAML}, CodeMalformedBody},
		{"create: YAML unknown field", request{method: "POST", path: "/api/v1/disruptors", raw: []byte("name: x\nsize: 8\n"), f: formatYAML}, CodeMalformedBody},
		{"create: bad MessagePack", request{method: "POST", path: "/api/v1/disruptors", raw: []byte{0xc1}, f: formatMsgpack}, CodeMalformedBody},
		{"create: truncated MessagePack", request{method: "POST", path: "/api/v1/disruptors", raw: []byte{0x81, 0xa4, 'n', 'a'}, f: formatMsgpack}, CodeMalformedBody},
		{"create: wrong media type", request{method: "POST", path: "/api/v1/disruptors", raw: []byte(`name=x`), contentType: "application/x-www-form-urlencoded"}, CodeUnsupportedMediaType},
		{"create: unparsable media type", request{method: "POST", path: "/api/v1/disruptors", raw: []byte(`{}`), contentType: "application/"}, CodeUnsupportedMediaType},
		{"create: unknown content encoding", request{method: "POST", path: "/api/v1/disruptors", raw: []byte(`{}`), header: map[string]string{"Content-Encoding": "br"}}, CodeUnsupportedContentEncoding},
		{"create: truncated gzip", request{method: "POST", path: "/api/v1/disruptors", raw: truncated, header: map[string]string{"Content-Encoding": "gzip"}}, CodeInvalidEncoding},
		{"create: gzip that is not", request{method: "POST", path: "/api/v1/disruptors", raw: []byte(`{"name":"x"}`), header: map[string]string{"Content-Encoding": "gzip"}}, CodeInvalidEncoding},
		{"publish: unknown disruptor", request{method: "POST", path: "/api/v1/disruptors/nope/events", raw: []byte(`{"payload":1}`)}, CodeDisruptorNotFound},
		{"publish: bad JSON", request{method: "POST", path: pub, raw: []byte(`{"payload":{"a":}`)}, CodeMalformedBody},
		{"publish: bad JSON literal", request{method: "POST", path: pub, raw: []byte(`{"payload":tru}`)}, CodeMalformedBody},
		{"publish: not an object", request{method: "POST", path: pub, raw: []byte(`[1,2]`)}, CodeMalformedBody},
		{"publish: payload and payload_base64", request{method: "POST", path: pub, raw: []byte(`{"payload":1,"payload_base64":"AA=="}`)}, CodeValidation},
		{"publish: no payload", request{method: "POST", path: pub, raw: []byte(`{"metadata":{"a":"b"}}`)}, CodeValidation},
		{"publish: metadata value not a string", request{method: "POST", path: pub, raw: []byte(`{"payload":1,"metadata":{"k":1}}`)}, CodeMalformedBody},
		{"publish: metadata key twice", request{method: "POST", path: pub, raw: []byte(`{"payload":1,"metadata":{"k":"a","k":"b"}}`)}, CodeValidation},
		{"publish: bad base64", request{method: "POST", path: pub, raw: []byte(`{"payload_base64":"%%%"}`)}, CodeValidation},
		{"publish: unknown field", request{method: "POST", path: pub, raw: []byte(`{"payload":1,"color":"red"}`)}, CodeMalformedBody},
		{"publish: duplicate field", request{method: "POST", path: pub, raw: []byte(`{"payload":1,"payload":2}`)}, CodeMalformedBody},
		{"publish: events not an array", request{method: "POST", path: pub, raw: []byte(`{"events":{}}`)}, CodeMalformedBody},
		{"publish: empty batch", request{method: "POST", path: pub, raw: []byte(`{"events":[]}`)}, CodeValidation},
		{"publish: events and payload", request{method: "POST", path: pub, raw: []byte(`{"events":[{"payload":1}],"payload":2}`)}, CodeValidation},
		{"publish: too deep", request{method: "POST", path: pub, raw: []byte(`{"payload":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`)}, CodeMalformedBody},
		{"publish: oversize event", request{method: "POST", path: pub, raw: []byte(`{"payload":"` + strings.Repeat("x", 100) + `"}`)}, CodeEventTooLarge},
		{"publish: batch over the limit", request{method: "POST", path: pub, raw: []byte(events(17))}, CodeBatchTooLarge},
		{"publish: batch over the ring", request{method: "POST", path: pub, raw: []byte(events(9))}, CodeBatchTooLarge},
		{"publish: body too large", request{method: "POST", path: pub, raw: []byte(`{"payload":"` + strings.Repeat("x", 70<<10) + `"}`)}, CodeBodyTooLarge},
		{"publish: gzip bomb", request{method: "POST", path: pub, raw: bomb, header: map[string]string{"Content-Encoding": "gzip"}}, CodeBodyTooLarge},
		{"publish: bad idempotency key", request{method: "POST", path: pub, raw: []byte(`{"payload":1}`), header: map[string]string{"Idempotency-Key": strings.Repeat("k", 300)}}, CodeInvalidParameter},
		{"publish: key reused", request{method: "POST", path: pub, raw: []byte(`{"payload":2}`), header: map[string]string{"Idempotency-Key": "used"}}, CodeIdempotencyKeyReused},
		{"publish: schema violation", request{method: "POST", path: "/api/v1/disruptors/schema/events", raw: []byte(`{"payload":{"n":"one"}}`)}, CodeSchemaViolation},
		{"publish: paused", request{method: "POST", path: "/api/v1/disruptors/paused/events", raw: []byte(`{"payload":1}`)}, CodeDisruptorNotRunning},
		{"publish: YAML payload with a NaN", request{method: "POST", path: pub, raw: []byte("payload: .nan\n"), f: formatYAML}, CodeMalformedBody},
		{"publish: YAML billion laughs", request{method: "POST", path: pub, raw: []byte(laughs), f: formatYAML}, CodeEventTooLarge},
		{"publish: YAML two documents", request{method: "POST", path: pub, raw: []byte("payload: 1\n---\npayload: 2\n"), f: formatYAML}, CodeMalformedBody},
		{"publish: MessagePack map key not a string", request{method: "POST", path: pub, raw: []byte{0x81, 0xa7, 'p', 'a', 'y', 'l', 'o', 'a', 'd', 0x81, 0x01, 0x02}, f: formatMsgpack}, CodeMalformedBody},
		{"publish: MessagePack length beyond the body", request{method: "POST", path: pub, raw: []byte{0xdd, 0xff, 0xff, 0xff, 0xff}, f: formatMsgpack}, CodeMalformedBody},
		{"multi: no batches", request{method: "POST", path: "/api/v1/events", raw: []byte(`{"batches":[]}`)}, CodeValidation},
		{"multi: batch without disruptor", request{method: "POST", path: "/api/v1/events", raw: []byte(`{"batches":[{"events":[{"payload":1}]}]}`)}, CodeValidation},
		{"replay: negative from", request{method: "GET", path: pub + "?from=-1"}, CodeInvalidParameter},
		{"replay: from not a number", request{method: "GET", path: pub + "?from=abc"}, CodeInvalidParameter},
		{"replay: limit 0", request{method: "GET", path: pub + "?limit=0"}, CodeInvalidParameter},
		{"replay: limit too big", request{method: "GET", path: pub + "?limit=100000"}, CodeInvalidParameter},
		{"replay: evicted", request{method: "GET", path: pub + "?from=1"}, CodeSequenceEvicted},
		{"replay: unknown disruptor", request{method: "GET", path: "/api/v1/disruptors/nope/events"}, CodeDisruptorNotFound},
		{"event: bad sequence", request{method: "GET", path: pub + "/x1"}, CodeInvalidParameter},
		{"event: not published", request{method: "GET", path: pub + "/99999"}, CodeSequenceNotFound},
		{"event: evicted", request{method: "GET", path: pub + "/0"}, CodeSequenceEvicted},
		{"stream: bad from", request{method: "GET", path: pub + "/stream?from=x"}, CodeInvalidParameter},
		{"stream: bad Last-Event-ID", request{method: "GET", path: pub + "/stream", header: map[string]string{"Last-Event-ID": "-3"}}, CodeInvalidParameter},
		{"stream: bad on_lag", request{method: "GET", path: pub + "/stream?on_lag=wait"}, CodeInvalidParameter},
		{"stream: bad format", request{method: "GET", path: pub + "/stream?format=xml"}, CodeInvalidParameter},
		{"stream: not acceptable", request{method: "GET", path: pub + "/stream", acceptHeader: "image/png"}, CodeNotAcceptable},
		{"stream: evicted start", request{method: "GET", path: pub + "/stream?from=2"}, CodeSequenceEvicted},
		{"stream: future start", request{method: "GET", path: pub + "/stream?from=500"}, CodeSequenceNotFound},
		{"stream: unknown disruptor", request{method: "GET", path: "/api/v1/disruptors/nope/events/stream"}, CodeDisruptorNotFound},
		{"not acceptable", request{method: "GET", path: "/api/v1/disruptors/bad", acceptHeader: "application/xml"}, CodeNotAcceptable},
		{"unknown route", request{method: "GET", path: "/api/v2/disruptors"}, CodeNotFound},
		{"wrong method", request{method: "PATCH", path: "/api/v1/disruptors/bad"}, CodeMethodNotAllowed},
		{"state: bad transition", request{method: "PUT", path: "/api/v1/disruptors/bad/state", raw: []byte(`{"state":"created"}`)}, CodeInvalidStateTransition},
		{"state: unknown state", request{method: "PUT", path: "/api/v1/disruptors/bad/state", raw: []byte(`{"state":"asleep"}`)}, CodeValidation},
		{"state: unknown disruptor", request{method: "PUT", path: "/api/v1/disruptors/nope/state", raw: []byte(`{"state":"paused"}`)}, CodeDisruptorNotFound},
		{"list: bad limit", request{method: "GET", path: "/api/v1/disruptors?limit=0"}, CodeInvalidParameter},
		{"list: bad state", request{method: "GET", path: "/api/v1/disruptors?state=asleep"}, CodeInvalidParameter},
		{"list: bad pattern", request{method: "GET", path: "/api/v1/disruptors?name=%5B"}, CodeInvalidParameter},
		{"metrics: unknown disruptor", request{method: "GET", path: "/api/v1/disruptors/nope/metrics"}, CodeDisruptorNotFound},
	}
	if len(cases) < 30 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.req.f == 0 && c.req.raw != nil && c.req.contentType == "" {
				c.req.f = formatJSON
			}
			if c.req.acceptHeader == "" {
				c.req.acceptHeader = "application/json"
			}
			r := ts.do(t, c.req)
			info, ok := wire.Lookup(c.code)
			want := info.Status
			if !ok {
				t.Fatalf("code %s is not in the table", c.code)
			}
			if r.status != want || errCode(r) != c.code {
				t.Fatalf("got %d %s, want %d %s: %s", r.status, errCode(r), want, c.code, r.body)
			}
			if r.status < 400 || r.status >= 500 {
				t.Fatalf("status %d is not a 4xx", r.status)
			}
			if msg, _ := get(r.v, "error", "message").(string); msg == "" {
				t.Errorf("no message: %s", r.body)
			}
			if _, ok := get(r.v, "error", "details").(map[string]any); !ok {
				t.Errorf("details is not an object: %s", r.body)
			}
			if c.code == CodeSequenceEvicted && get(r.v, "error", "details", "oldest_sequence") != 5.0 {
				t.Errorf("evicted without the oldest sequence: %s", r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if c.code == CodeMethodNotAllowed && r.header.Get("Allow") == "" {
				t.Errorf("405 without Allow")
			}
			// The server keeps serving.
			if h := ts.do(t, request{method: "GET", path: "/health"}); h.status != 200 {
				t.Fatalf("health after the bad request: %d", h.status)
			}
		})
	}
	r := ts.do(t, request{method: "POST", path: pub, body: map[string]any{"payload": "still fine"}})
	if r.status != 200 {
		t.Fatalf("publish after the bad requests: %d %s", r.status, r.body)
	}
}

// TestRingFullOverHTTP fills a one-slot ring whose consumers sleep when
// idle: a reject-policy publish then meets a full ring and gets 429
// RING_FULL with Retry-After.
func TestRingFullOverHTTP(t *testing.T) {
	ts := newTestServer(t)
	r := ts.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{
		"name": "full", "buffer_size": 1, "overflow": "reject", "wait_strategy": "sleeping"}})
	if r.status != 201 {
		t.Fatal(r.status, string(r.body))
	}
	var full atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := 0; i < 2000 && full.Load() == 0; i++ {
				r := ts.do(t, request{method: "POST", path: "/api/v1/disruptors/full/events", raw: []byte(`{"payload":1}`)})
				switch r.status {
				case 200:
				case http.StatusTooManyRequests:
					if errCode(r) != CodeRingFull || r.header.Get("Retry-After") == "" {
						t.Errorf("429 without RING_FULL and Retry-After: %v %s", r.header, r.body)
					}
					full.Add(1)
				default:
					t.Errorf("status %d: %s", r.status, r.body)
					return
				}
			}
		})
	}
	wg.Wait()
	if full.Load() == 0 {
		t.Fatal("never saw RING_FULL")
	}
	r = ts.do(t, request{method: "GET", path: "/api/v1/disruptors/full/metrics"})
	if n, _ := get(r.v, "errors", CodeRingFull).(float64); n < 1 {
		t.Errorf("RING_FULL not counted: %v", r.v)
	}
}

// slowBody: a body that does not arrive within the read timeout is
// answered 408 REQUEST_TIMEOUT, with a message that names no address.
func slowBody(t *testing.T) {
	ts := newTestServer(t, func(_ *engine.Config, a *Config) { a.ReadTimeout = 300 * time.Millisecond })
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = io.WriteString(conn, "POST /api/v1/disruptors HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"name\":")
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(b), `"code":"REQUEST_TIMEOUT"`) {
		t.Fatalf("%d %s", res.StatusCode, b)
	}
	if host, _, _ := net.SplitHostPort(conn.LocalAddr().String()); strings.Contains(string(b), host) || strings.Contains(string(b), "127.0.0.1") {
		t.Errorf("the message names an address: %s", b)
	}
}

// hostileCase is one request of TestHostileInput: it must be refused
// with code, and check, when set, looks at the answer further.
type hostileCase struct {
	name  string
	req   request
	code  string
	check func(t *testing.T, r *response)
}

func detail(key string, want any) func(*testing.T, *response) {
	return func(t *testing.T, r *response) {
		t.Helper()
		if got := get(r.v, "error", "details", key); !reflect.DeepEqual(got, want) {
			t.Errorf("details.%s = %v (%T), want %v: %s", key, got, got, want, r.body)
		}
	}
}

// TestHostileInput is the table of issue 14's strict-input and
// bounded-cost items: single requests, each refused with its code and the
// error envelope in every format it applies to (the server going on
// serving), then the items that take a scenario.
//
// The cluster items are tested where their code is:
// server.TestClusterSecureByDefault and server.TestRaftDefaultBind (no
// open gossip or Raft port off loopback; Raft binds the advertised
// address), TestClusterSecureByDefaultProcesses in cmd/badbatch (the
// three-process test: refusals naming the setting, a fourth node with
// another key or CA kept out), cluster.TestForwardKeepsCredentialsOffPlainHTTP
// (credentials of a TLS client never forwarded over plain HTTP),
// replication.TestReadIndexWritesNothing (consistent reads append no log
// entry and honour their context), and TestPortTable in cmd/badbatch
// (docs/security.md's table of listening ports).
func TestHostileInput(t *testing.T) {
	t.Run("requests", hostileRequests)
	for _, sc := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"a slow body upload is 408 without addresses", slowBody},
		{"metrics label values come from closed sets", metricsCardinality},
		{"health probes draw on no rate-limit bucket", probesNotRateLimited},
		{"spinning consumers are capped", spinningCap},
		{"the spinning cap is the cores by default", spinningCapDefault},
		{"bodies in flight share a budget", inflightBudget},
		{"the heap grows at most 4x the limit for each hostile body", hostileHeap},
		{"8 gzip bombs in parallel keep the RSS under 300 MB", gzipBombsRSS},
	} {
		t.Run(sc.name, sc.run)
	}
}

func hostileRequests(t *testing.T) {
	ts := newTestServer(t)
	for _, name := range []string{"h", "h2"} {
		if r := ts.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": name}}); r.status != 201 {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
	}
	const pub = "/api/v1/disruptors/h/events"
	cases := []hostileCase{
		// Unknown, repeated and unparsable query parameters.
		{"replay: unknown parameter", request{method: "GET", path: pub + "?fromm=0"}, CodeInvalidParameter, detail("parameter", "fromm")},
		{"replay: parameter twice", request{method: "GET", path: pub + "?from=0&from=1"}, CodeInvalidParameter, detail("parameter", "from")},
		{"replay: bad escape", request{method: "GET", path: pub + "?from=%zz"}, CodeInvalidParameter, nil},
		{"list: unknown parameter", request{method: "GET", path: "/api/v1/disruptors?limt=5"}, CodeInvalidParameter, detail("parameter", "limt")},
		{"get: unknown parameter", request{method: "GET", path: "/api/v1/disruptors/h?verbose=1"}, CodeInvalidParameter, detail("parameter", "verbose")},
		{"stream: unknown parameter", request{method: "GET", path: pub + "/stream?form=sse"}, CodeInvalidParameter, detail("parameter", "form")},
		{"publish: a query parameter", request{method: "POST", path: pub + "?sync=1", raw: []byte(`{"payload":1}`), f: formatJSON}, CodeInvalidParameter, detail("parameter", "sync")},
		{"create: a query parameter", request{method: "POST", path: "/api/v1/disruptors?dry_run=1", raw: []byte(`{"name":"q"}`), f: formatJSON}, CodeInvalidParameter, detail("parameter", "dry_run")},
		{"health: a query parameter", request{method: "GET", path: "/health?full=1"}, CodeInvalidParameter, detail("parameter", "full")},
		// Invalid UTF-8 is refused in every format, naming where.
		{"publish: invalid UTF-8 in a JSON payload string", request{method: "POST", path: pub, raw: []byte("{\"payload\":\"a\xffb\"}"), f: formatJSON}, CodeMalformedBody, detail("offset", 13.0)},
		{"publish: invalid UTF-8 in a JSON payload key", request{method: "POST", path: pub, raw: []byte("{\"payload\":{\"\xff\":1}}"), f: formatJSON}, CodeMalformedBody, detail("offset", 13.0)},
		{"publish: invalid UTF-8 in JSON metadata", request{method: "POST", path: pub, raw: []byte("{\"payload\":1,\"metadata\":{\"k\":\"\xc3\"}}"), f: formatJSON}, CodeMalformedBody, detail("offset", 30.0)},
		{"publish: invalid UTF-8 in a JSON metadata key", request{method: "POST", path: pub, raw: []byte("{\"payload\":1,\"metadata\":{\"\xe2\x82\":\"v\"}}"), f: formatJSON}, CodeMalformedBody, detail("offset", 26.0)},
		{"publish: a lone surrogate in JSON", request{method: "POST", path: pub, raw: []byte(`{"payload":"\ud800x"}`), f: formatJSON}, CodeMalformedBody, detail("offset", 12.0)},
		{"publish: invalid UTF-8 in a MessagePack str", request{method: "POST", path: pub, raw: mpBody("payload", "ok\xff"), f: formatMsgpack}, CodeMalformedBody, detail("offset", 12.0)},
		{"publish: invalid UTF-8 in a YAML payload", request{method: "POST", path: pub, raw: []byte("payload: ok\xff\n"), f: formatYAML}, CodeMalformedBody, detail("offset", 11.0)},
		{"create: invalid UTF-8 in a JSON name", request{method: "POST", path: "/api/v1/disruptors", raw: []byte("{\"name\":\"\xff\"}"), f: formatJSON}, CodeMalformedBody, detail("offset", 9.0)},
		{"create: invalid UTF-8 in a MessagePack name", request{method: "POST", path: "/api/v1/disruptors", raw: mpBody("name", "\xff"), f: formatMsgpack}, CodeMalformedBody, detail("offset", 7.0)},
		{"create: invalid UTF-8 in YAML", request{method: "POST", path: "/api/v1/disruptors", raw: []byte("name: \xff\n"), f: formatYAML}, CodeMalformedBody, detail("offset", 6.0)},
		// Duplicate and differently-cased fields of create and state
		// bodies, in every format.
		{"create: a JSON field twice", request{method: "POST", path: "/api/v1/disruptors", raw: []byte(`{"name":"u1","name":"u2"}`), f: formatJSON}, CodeMalformedBody, nil},
		{"create: a YAML field twice", request{method: "POST", path: "/api/v1/disruptors", raw: []byte("name: u1\nname: u2\n"), f: formatYAML}, CodeMalformedBody, nil},
		{"create: a MessagePack field twice", request{method: "POST", path: "/api/v1/disruptors", raw: mpBody("name", "u1", "name", "u2"), f: formatMsgpack}, CodeMalformedBody, nil},
		{"create: a key twice in the schema", request{method: "POST", path: "/api/v1/disruptors", raw: []byte(`{"name":"u3","schema":{"type":"object","type":"array"}}`), f: formatJSON}, CodeMalformedBody, nil},
		{"create: an upper-case JSON field", request{method: "POST", path: "/api/v1/disruptors", raw: []byte(`{"name":"u4","BUFFER_SIZE":8}`), f: formatJSON}, CodeMalformedBody, nil},
		{"create: a capitalised YAML field", request{method: "POST", path: "/api/v1/disruptors", raw: []byte("Name: u5\n"), f: formatYAML}, CodeMalformedBody, nil},
		{"create: an upper-case MessagePack field", request{method: "POST", path: "/api/v1/disruptors", raw: mpBody("NAME", "u6"), f: formatMsgpack}, CodeMalformedBody, nil},
		{"create: an upper-case wait strategy", request{method: "POST", path: "/api/v1/disruptors", raw: []byte(`{"name":"u7","wait_strategy":"BLOCKING"}`), f: formatJSON}, CodeValidation, nil},
		{"state: a JSON field twice", request{method: "PUT", path: "/api/v1/disruptors/h/state", raw: []byte(`{"state":"paused","state":"running"}`), f: formatJSON}, CodeMalformedBody, nil},
		{"state: a YAML field twice", request{method: "PUT", path: "/api/v1/disruptors/h/state", raw: []byte("state: paused\nstate: running\n"), f: formatYAML}, CodeMalformedBody, nil},
		{"state: a MessagePack field twice", request{method: "PUT", path: "/api/v1/disruptors/h/state", raw: mpBody("state", "paused", "state", "running"), f: formatMsgpack}, CodeMalformedBody, nil},
		{"state: an upper-case field", request{method: "PUT", path: "/api/v1/disruptors/h/state", raw: []byte(`{"STATE":"paused"}`), f: formatJSON}, CodeMalformedBody, nil},
		{"state: an upper-case JSON state", request{method: "PUT", path: "/api/v1/disruptors/h/state", raw: []byte(`{"state":"PAUSED"}`), f: formatJSON}, CodeValidation, nil},
		{"state: an upper-case YAML state", request{method: "PUT", path: "/api/v1/disruptors/h/state", raw: []byte("state: Paused\n"), f: formatYAML}, CodeValidation, nil},
		{"state: an upper-case MessagePack state", request{method: "PUT", path: "/api/v1/disruptors/h/state", raw: mpBody("state", "PAUSED"), f: formatMsgpack}, CodeValidation, nil},
		// An explicit 0 is not "the default".
		{"create: buffer_size 0", request{method: "POST", path: "/api/v1/disruptors", raw: []byte(`{"name":"z1","buffer_size":0}`), f: formatJSON}, CodeValidation, fieldProblem("buffer_size")},
		{"create: max_event_size 0", request{method: "POST", path: "/api/v1/disruptors", raw: []byte("name: z2\nmax_event_size: 0\n"), f: formatYAML}, CodeValidation, fieldProblem("max_event_size")},
		{"create: publish_timeout_ms 0", request{method: "POST", path: "/api/v1/disruptors", raw: mpBody("name", "z3", "publish_timeout_ms", 0), f: formatMsgpack}, CodeValidation, fieldProblem("publish_timeout_ms")},
		// What a body may cost is bounded before it is spent.
		{"publish: a gzip bomb over the compression ratio", request{method: "POST", path: pub, raw: gzipBytes(padded(8 << 20)), f: formatJSON, header: map[string]string{"Content-Encoding": "gzip"}}, CodeBodyTooLarge, detail("max_ratio", 100.0)},
		{"publish: a MessagePack payload converting past max_event_size", request{method: "POST", path: pub, raw: mpFalses(20000), f: formatMsgpack}, CodeEventTooLarge, detail("limit", 65536.0)},
		{"publish: a YAML body over its limit", request{method: "POST", path: pub, raw: []byte("payload: \"" + strings.Repeat("y", 300<<10) + "\"\n"), f: formatYAML}, CodeBodyTooLarge, detail("limit", float64(16<<20/64))},
		{"create: a body over the document limit", request{method: "POST", path: "/api/v1/disruptors", raw: []byte(`{"name":"big","schema":{"description":"` + strings.Repeat("d", 2<<20) + `"}}`), f: formatJSON}, CodeBodyTooLarge, detail("limit", float64(1<<20))},
		// Paths that are not clean are refused, not redirected.
		{"path with //", request{method: "GET", path: "//api/v1/disruptors"}, CodeNotFound, detail("clean_path", "/api/v1/disruptors")},
		{"path with ..", request{method: "POST", path: "/api/v1/disruptors/x/../h/events", raw: []byte(`{"payload":1}`), f: formatJSON}, CodeNotFound, detail("clean_path", "/api/v1/disruptors/h/events")},
		{"path with .", request{method: "GET", path: "/api/v1/./disruptors"}, CodeNotFound, detail("clean_path", "/api/v1/disruptors")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.req.acceptHeader == "" {
				c.req.acceptHeader = "application/json"
			}
			r := ts.do(t, c.req)
			if info, _ := wire.Lookup(c.code); r.status != info.Status || errCode(r) != c.code {
				t.Fatalf("got %d %s, want %d %s: %s", r.status, errCode(r), info.Status, c.code, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if msg, _ := get(r.v, "error", "message").(string); msg == "" {
				t.Errorf("no message: %s", r.body)
			}
			if c.check != nil {
				c.check(t, r)
			}
		})
	}
	if r := ts.do(t, request{method: "GET", path: "/api/v1/disruptors/h"}); r.status != 200 || get(r.v, "published") != 0.0 {
		t.Fatalf("after the hostile requests: %d %s", r.status, r.body)
	}
}

// mpBody is a MessagePack map of the key/value pairs kv, in order, keys
// as given (twice, if they are).
func mpBody(kv ...any) []byte {
	b := mpMapLen(nil, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		b = mpStr(b, kv[i].(string))
		switch v := kv[i+1].(type) {
		case string:
			b = mpStr(b, v)
		case int:
			b = mpInt(b, int64(v))
		}
	}
	return b
}

// mpFalses is a publish of one event whose payload is an array of n
// falses: a byte each in MessagePack, six in JSON.
func mpFalses(n int) []byte {
	b := mpStr(mpMapLen(nil, 1), "payload")
	b = mpArrayLen(b, n)
	for range n {
		b = mpBool(b, false)
	}
	return b
}

// padded is a publish of one event of n bytes of a string payload.
func padded(n int) []byte {
	return []byte(`{"payload":"` + strings.Repeat("a", n) + `"}`)
}

func fieldProblem(field string) func(*testing.T, *response) {
	return func(t *testing.T, r *response) {
		t.Helper()
		errs, _ := get(r.v, "error", "details", "errors").([]any)
		if len(errs) != 1 || get(errs[0], "field") != field {
			t.Errorf("want one problem with %s: %s", field, r.body)
		}
	}
}

// TestQueryParamsDocumented: each route declares exactly the query
// parameters docs/openapi.json documents for its operation.
func TestQueryParamsDocumented(t *testing.T) {
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Parameters map[string]openAPIParam `json:"parameters"`
		} `json:"components"`
	}
	if err := json.Unmarshal(docs.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	resolve := func(raw []openAPIParam) []string {
		var names []string
		for _, p := range raw {
			if p.Ref != "" {
				p = doc.Components.Parameters[p.Ref[strings.LastIndex(p.Ref, "/")+1:]]
			}
			if p.In == "query" {
				names = append(names, p.Name)
			}
		}
		return names
	}
	ts := newTestServer(t)
	for _, rt := range ts.srv.routes {
		ops := doc.Paths[rt.pattern]
		var common, own struct {
			Parameters []openAPIParam `json:"parameters"`
		}
		if raw, ok := ops["parameters"]; ok {
			_ = json.Unmarshal([]byte(`{"parameters":`+string(raw)+`}`), &common)
		}
		_ = json.Unmarshal(ops[strings.ToLower(rt.method)], &own)
		documented := append(resolve(common.Parameters), resolve(own.Parameters)...)
		slices.Sort(documented)
		declared := slices.Sorted(slices.Values(rt.params()))
		if !slices.Equal(documented, declared) {
			t.Errorf("%s %s: the route declares %v, openapi.json documents %v", rt.method, rt.pattern, declared, documented)
		}
	}
}

type openAPIParam struct {
	Ref  string `json:"$ref"`
	Name string `json:"name"`
	In   string `json:"in"`
}

// metricsCardinality: requests with invented methods on unknown and
// known paths add no series to the request metrics; label values come
// from closed sets.
func metricsCardinality(t *testing.T) {
	ts := newTestServer(t)
	series := func() int {
		mfs, err := ts.srv.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, mf := range mfs {
			if strings.HasPrefix(mf.GetName(), "badbatch_http_") || mf.GetName() == "badbatch_api_errors_total" {
				n += len(mf.GetMetric())
			}
		}
		return n
	}
	warm := func() {
		for _, m := range []string{"FOO0", "GET"} {
			ts.do(t, request{method: m, path: "/nowhere/0"})
			ts.do(t, request{method: m, path: "/api/v1/disruptors/x"})
		}
	}
	warm()
	before := series()
	for i := range 200 {
		ts.do(t, request{method: fmt.Sprintf("FOO%d", i), path: fmt.Sprintf("/nowhere/%d", i)})
		ts.do(t, request{method: fmt.Sprintf("BAR%d", i), path: "/api/v1/disruptors/x"})
	}
	if after := series(); after != before {
		t.Errorf("400 requests with invented methods made %d series into %d", before, after)
	}
}

// probesNotRateLimited: a client whose bad keys exhausted its
// address's bucket still gets 200 from /health and /health/ready.
func probesNotRateLimited(t *testing.T) {
	f := newAuthFixture(t, func(_ *engine.Config, a *Config) { a.RateLimit, a.RateBurst = 1, 2 })
	limited := false
	for range 20 {
		status, _, _ := f.call(t, "GET", "/api/v1/disruptors", "", map[string]string{"X-API-Key": "bad-key"})
		limited = limited || status == http.StatusTooManyRequests
	}
	if !limited {
		t.Fatal("bad keys were never rate limited")
	}
	for _, path := range []string{"/health", "/health/ready"} {
		for range 5 {
			if status, _, b := f.call(t, "GET", path, "", map[string]string{"X-API-Key": "bad-key"}); status != 200 {
				t.Fatalf("%s after the bucket ran dry: %d %s", path, status, b)
			}
		}
	}
	if status, _, _ := f.call(t, "GET", "/api/v1/version", "", nil); status != http.StatusTooManyRequests {
		t.Errorf("other public routes are still limited: %d", status)
	}
}

// spinningCap: busy_spin and yielding disruptors are refused with 409
// SPIN_LIMIT_REACHED past the cap on spinning consumers, even when the
// creates race; blocking ones are not counted; a delete frees the slots;
// GET says what each strategy costs idle.
func spinningCap(t *testing.T) {
	ts := newTestServer(t, func(_ *engine.Config, a *Config) { a.MaxSpinningConsumers = 4 })
	var created atomic.Int64
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			ws := []string{"busy_spin", "yielding"}[i%2]
			r := ts.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": fmt.Sprintf("spin%d", i), "wait_strategy": ws}})
			switch {
			case r.status == 201:
				created.Add(1)
			case r.status != http.StatusConflict || errCode(r) != CodeSpinLimitReached || get(r.v, "error", "details", "limit") != 4.0:
				t.Errorf("%d %s", r.status, r.body)
			}
		})
	}
	wg.Wait()
	if created.Load() != 2 {
		t.Fatalf("%d spinning disruptors of 2 consumers each under a cap of 4", created.Load())
	}
	if r := ts.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "calm", "wait_strategy": "blocking"}}); r.status != 201 {
		t.Fatalf("a blocking disruptor: %d %s", r.status, r.body)
	}
	var spun string
	for _, d := range get(ts.do(t, request{method: "GET", path: "/api/v1/disruptors"}).v, "disruptors").([]any) {
		if name := get(d, "name").(string); strings.HasPrefix(name, "spin") {
			spun = name
		}
		if get(d, "idle_cost") == nil || get(d, "idle_cost") == "" {
			t.Errorf("no idle_cost: %v", d)
		}
	}
	if r := ts.do(t, request{method: "GET", path: "/api/v1/disruptors/calm"}); !strings.HasPrefix(get(r.v, "idle_cost").(string), "none") {
		t.Errorf("blocking idle cost: %s", r.body)
	}
	if r := ts.do(t, request{method: "DELETE", path: "/api/v1/disruptors/" + spun}); r.status != 204 {
		t.Fatal(r.status, string(r.body))
	}
	if r := ts.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "spin-again", "wait_strategy": "busy_spin"}}); r.status != 201 {
		t.Fatalf("after a delete: %d %s", r.status, r.body)
	}
}

// spinningCapDefault: with no cap configured, the cap on spinning
// consumers is the cores the server has (GOMAXPROCS): creates of
// busy_spin disruptors pass until their consumers would outnumber the
// cores, then get 409 SPIN_LIMIT_REACHED naming that limit.
func spinningCapDefault(t *testing.T) {
	ts := newTestServer(t)
	cores := runtime.GOMAXPROCS(0)
	for i := 0; ; i++ {
		name := fmt.Sprintf("spin%d", i)
		r := ts.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": name, "wait_strategy": "busy_spin"}})
		if r.status == 201 {
			defer ts.do(t, request{method: "DELETE", path: "/api/v1/disruptors/" + name})
			if 2*(i+1) > cores {
				t.Fatalf("%d busy_spin disruptors of 2 consumers each on %d cores", i+1, cores)
			}
			continue
		}
		if errCode(r) != CodeSpinLimitReached || get(r.v, "error", "details", "limit") != float64(cores) {
			t.Fatalf("%d %s, want 409 SPIN_LIMIT_REACHED with limit %d", r.status, r.body, cores)
		}
		if want := cores / 2; i != want {
			t.Errorf("refused after %d busy_spin disruptors, want %d on %d cores", i, want, cores)
		}
		return
	}
}

// inflightBudget: bodies in flight draw on the server-wide budget;
// two uploads that stall near the limit hold it, so a third body that
// needs as much waits and gets 503 OVERLOADED with Retry-After, and once
// they go, bodies are served again.
func inflightBudget(t *testing.T) {
	const limit = 64 << 10
	ts := newTestServer(t, func(_ *engine.Config, a *Config) {
		a.MaxBodyBytes, a.MaxInflightBodyBytes, a.ReadTimeout = limit, 3*limit, time.Minute
	})
	if r := ts.do(t, request{method: "POST", path: "/api/v1/disruptors", body: map[string]any{"name": "b", "max_event_size": limit}}); r.status != 201 {
		t.Fatal(r.status, string(r.body))
	}
	var stalled []net.Conn
	for range 2 {
		conn, err := net.Dial("tcp", strings.TrimPrefix(ts.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// Chunked, so the server grows its buffer as bytes come: to 64 KiB
		// once 32 KiB are in.
		_, _ = io.WriteString(conn, "POST /api/v1/disruptors/b/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
		part := `{"payload":"` + strings.Repeat("s", 40<<10)
		_, _ = fmt.Fprintf(conn, "%x\r\n%s\r\n", len(part), part)
		stalled = append(stalled, conn)
	}
	overloaded := false
	deadline := time.Now().Add(20 * time.Second)
	for !overloaded && time.Now().Before(deadline) {
		r := ts.do(t, request{method: "POST", path: "/api/v1/disruptors/b/events", raw: padded(50 << 10), f: formatJSON, acceptHeader: "application/json"})
		switch {
		case r.status == 200:
			time.Sleep(20 * time.Millisecond) // the stalled uploads are not in yet
		case errCode(r) == CodeOverloaded && r.status == 503 && r.header.Get("Retry-After") != "":
			overloaded = true
		default:
			t.Fatalf("%d %s", r.status, r.body)
		}
	}
	if !overloaded {
		t.Fatal("never OVERLOADED while two uploads held the budget")
	}
	for _, c := range stalled {
		c.Close()
	}
	deadline = time.Now().Add(20 * time.Second)
	for {
		r := ts.do(t, request{method: "POST", path: "/api/v1/disruptors/b/events", raw: padded(50 << 10), f: formatJSON})
		if r.status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the uploads went: %d %s", r.status, r.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
