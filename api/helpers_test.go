package api

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"go.uber.org/goleak"
	"go.yaml.in/yaml/v3"

	"github.com/badbatch/badbatch/engine"
	"github.com/badbatch/badbatch/internal/clustertest"
	"github.com/badbatch/badbatch/journal"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testServer is a real server on a loopback port.
type testServer struct {
	t      *testing.T
	srv    *Server
	eng    *engine.Engine
	url    string
	client *http.Client
}

type serverOpt func(*engine.Config, *Config)

// withJournal gives the engine a data directory of journals, closed when
// the test ends (after the server).
func withJournal(t testing.TB) serverOpt {
	dir, err := journal.OpenDir(t.TempDir(), journal.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dir.Close() })
	return func(e *engine.Config, _ *Config) { e.Journal = dir }
}

func newTestServer(t testing.TB, opts ...serverOpt) *testServer {
	t.Helper()
	ecfg := engine.DefaultConfig()
	acfg := DefaultConfig()
	acfg.Logger = discardLogger()
	for _, o := range opts {
		o(&ecfg, &acfg)
	}
	eng, err := engine.New(ecfg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(acfg, eng)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	tr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64}
	ts := &testServer{srv: srv, eng: eng, url: "http://" + ln.Addr().String(), client: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
	if tt, ok := t.(*testing.T); ok {
		ts.t = tt
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != http.ErrServerClosed {
			t.Errorf("serve: %v", err)
		}
		tr.CloseIdleConnections()
	})
	return ts
}

// request describes one test request.
type request struct {
	method, path string
	// body is encoded in format f unless raw is set.
	body any
	raw  []byte
	f    format
	// accept is the response format asked for (Accept header), unless
	// acceptHeader overrides it.
	accept       format
	acceptHeader string
	contentType  string // overrides the format's
	gzipBody     bool   // gzip the request body
	gzipResponse bool   // ask for a gzipped response
	header       map[string]string
}

type response struct {
	status int
	header http.Header
	body   []byte // decompressed
	gzip   bool   // the response was gzipped
	v      any    // decoded generically, numbers as float64, times as strings
}

func encodeAs(t testing.TB, f format, v any) []byte {
	t.Helper()
	var b []byte
	var err error
	switch f {
	case formatYAML:
		b, err = yaml.Marshal(v)
	case formatMsgpack:
		b, err = msgpack.Marshal(v)
	default:
		b, err = json.Marshal(v)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Bytes()
}

func (ts *testServer) do(t testing.TB, r request) *response {
	t.Helper()
	var body io.Reader
	raw := r.raw
	if raw == nil && r.body != nil {
		raw = encodeAs(t, r.f, r.body)
	}
	if r.gzipBody {
		raw = gzipBytes(raw)
	}
	if raw != nil {
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(r.method, ts.url+r.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if raw != nil {
		ct := r.contentType
		if ct == "" {
			ct = r.f.contentType()
		}
		req.Header.Set("Content-Type", ct)
	}
	if r.gzipBody {
		req.Header.Set("Content-Encoding", "gzip")
	}
	if r.acceptHeader != "" {
		req.Header.Set("Accept", r.acceptHeader)
	} else {
		req.Header.Set("Accept", r.accept.contentType())
	}
	if r.gzipResponse {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	res, err := ts.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer res.Body.Close()
	out := &response{status: res.StatusCode, header: res.Header}
	var rd io.Reader = res.Body
	if res.Header.Get("Content-Encoding") == "gzip" {
		out.gzip = true
		zr, err := gzip.NewReader(res.Body)
		if err != nil {
			t.Fatalf("%s %s: gzip: %v", r.method, r.path, err)
		}
		rd = zr
	}
	if out.body, err = io.ReadAll(rd); err != nil {
		t.Fatalf("%s %s: reading: %v", r.method, r.path, err)
	}
	if len(out.body) > 0 {
		out.v = decodeAny(t, res.Header.Get("Content-Type"), out.body)
	}
	return out
}

// decodeAny decodes a response body by its Content-Type.
func decodeAny(t testing.TB, ct string, b []byte) any {
	t.Helper()
	var v any
	var err error
	switch {
	case strings.HasPrefix(ct, "application/json"):
		d := json.NewDecoder(bytes.NewReader(b))
		err = d.Decode(&v)
	case strings.HasPrefix(ct, "application/yaml"):
		err = yaml.Unmarshal(b, &v)
	case strings.HasPrefix(ct, "application/msgpack"):
		err = msgpack.Unmarshal(b, &v)
	default:
		return string(b)
	}
	if err != nil {
		t.Fatalf("decoding %s body %q: %v", ct, b, err)
	}
	return normalize(v)
}

// normalize makes decoded values of every format comparable: maps with
// string keys, numbers as float64, times as RFC 3339 strings, bytes as
// base64-free []byte.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = normalize(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
		return x
	case int:
		return float64(x)
	case int8:
		return float64(x)
	case int16:
		return float64(x)
	case int32:
		return float64(x)
	case int64:
		return float64(x)
	case uint:
		return float64(x)
	case uint8:
		return float64(x)
	case uint16:
		return float64(x)
	case uint32:
		return float64(x)
	case uint64:
		return float64(x)
	case float32:
		return float64(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	}
	return v
}

// get walks a decoded body: get(v, "error", "code").
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			s, ok := v.([]any)
			if !ok || k >= len(s) {
				return nil
			}
			v = s[k]
		}
	}
	return v
}

func errCode(r *response) string {
	s, _ := get(r.v, "error", "code").(string)
	return s
}

// sseEvent is one Server-Sent Events message.
type sseEvent struct {
	id, event, data string
}

// readSSE parses messages from r until fn returns false or the stream
// ends.
func readSSE(r io.Reader, fn func(sseEvent) bool) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	var ev sseEvent
	var data []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if len(data) > 0 || ev.event != "" {
				ev.data = strings.Join(data, "\n")
				if !fn(ev) {
					return nil
				}
			}
			ev, data = sseEvent{}, nil
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "id: "):
			ev.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			data = append(data, line[6:])
		}
	}
	return sc.Err()
}

// waitFor is the shared harness's, with the API tests' deadline.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	clustertest.WaitFor(t, 10*time.Second, what, cond)
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
