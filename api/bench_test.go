package api

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/badbatch/badbatch/engine"
)

// BenchmarkIngest measures HTTP ingestion, in events/s, through the batch
// publish endpoint, beside a ceiling: a bare net/http handler on the same
// kind of loopback socket that reads and decodes the same body with the
// same decoder, then answers a fixed body, publishing nothing. The ratio
// of the two is what the engine, routing and response cost.
//
//	go test -run '^$' -bench BenchmarkIngest -benchtime 3s ./api/
func BenchmarkIngest(b *testing.B) {
	// Both servers live for the whole benchmark, in one process, so both
	// sides run with the same heap (the ring's slots) and GC pacing.
	ts := newTestServer(b, func(_ *engine.Config, a *Config) { a.Logger = discardLogger() })
	r := ts.do(b, request{method: "POST", path: "/api/v1/disruptors",
		body: map[string]any{"name": "bench", "buffer_size": 1 << 16, "max_event_size": 1024}})
	if r.status != 201 {
		b.Fatal(r.status, string(r.body))
	}
	ceilURL, ceilClient, stop := ceilingServer(b)
	defer stop()
	for _, f := range []format{formatJSON, formatMsgpack} {
		for _, n := range []int{1, 100, 1000} {
			body := benchBody(b, f, n)
			b.Run(fmt.Sprintf("%s/batch=%d/server", f, n), func(b *testing.B) {
				runIngest(b, ts.client, ts.url+"/api/v1/disruptors/bench/events", f, body, n)
			})
			b.Run(fmt.Sprintf("%s/batch=%d/ceiling", f, n), func(b *testing.B) {
				runIngest(b, ceilClient, ceilURL, f, body, n)
			})
		}
	}
}

// benchBody is a batch of n small JSON-object events.
func benchBody(b *testing.B, f format, n int) []byte {
	evs := make([]any, n)
	for i := range evs {
		evs[i] = map[string]any{"payload": map[string]any{"id": i, "user": "u-1234", "amount": 12.5, "ok": true}}
	}
	return encodeAs(b, f, map[string]any{"events": evs})
}

func runIngest(b *testing.B, client *http.Client, url string, f format, body []byte, n int) {
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
			req.Header.Set("Content-Type", f.contentType())
			res, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				b.Errorf("status %d", res.StatusCode)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)*float64(n)/b.Elapsed().Seconds(), "events/s")
}

// ceilingServer serves a handler that only reads and decodes publish
// bodies.
func ceilingServer(b *testing.B) (string, *http.Client, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	cfg := DefaultConfig()
	s := &Server{cfg: cfg, budget: newBudget(cfg.inflightBudget())}
	ecfg := engine.DefaultConfig()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &call{s: s, w: w, r: r}
		defer c.releaseBody()
		f, e := requestFormat(r)
		if e != nil {
			http.Error(w, e.Message, http.StatusUnsupportedMediaType)
			return
		}
		body, e := c.readBody(f, cfg.MaxBodyBytes)
		if e != nil {
			http.Error(w, e.Message, http.StatusBadRequest)
			return
		}
		d := getDecoder(decodeLimits{maxEvents: ecfg.MaxBatchEvents, maxMeta: ecfg.MaxMetadata,
			maxPayload: ecfg.MaxEventSize, maxArena: int(cfg.MaxBodyBytes)})
		err := d.decode(f, body, false)
		d.release()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`+"\n")
	})}
	go func() { _ = srv.Serve(ln) }()
	tr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64}
	return "http://" + ln.Addr().String() + "/", &http.Client{Transport: tr}, func() {
		_ = srv.Close()
		tr.CloseIdleConnections()
	}
}
