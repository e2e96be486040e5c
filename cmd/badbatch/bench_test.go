package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The ingestion client benchmark: `badbatch bench` beside the smallest Go
// load generator that drives the same server, so that the bench's own cost
// shows. Both publish batches of ingestBatch events with ingestPayload-byte
// JSON payloads (the bench's default payload) from ingestConns goroutines
// over keep-alive connections, into one disruptor of one `badbatch server`
// process on a loopback port, and report what they achieved as events/s.
// Interleave the two with -count:
//
//	go test -run '^$' -bench BenchmarkIngestClients -benchtime 2000x -count 5 ./cmd/badbatch/
const (
	ingestBatch   = 1000
	ingestPayload = 128
	ingestConns   = 4
	ingestName    = "ingest"
)

// startIngest starts the server both clients publish to, with the
// disruptor they publish into, for the rest of the benchmark.
func startIngest(b *testing.B) *cliServer {
	b.Helper()
	srv, err := startCLIServer(nil, "--bind", "127.0.0.1:0", "--log-format", "json", "--log-level", "info")
	if err != nil {
		b.Fatalf("ingest server: %v", err)
	}
	b.Cleanup(func() {
		if err := srv.stop(); err != nil {
			b.Errorf("ingest server: %v", err)
		}
	})
	r := cliRun{}.run(b, "disruptor", "create", ingestName, "--endpoint", srv.url,
		"--size", "65536", "--producer", "multi", "--max-event-size", "512")
	if r.code != 0 {
		b.Fatalf("creating %s: %v", ingestName, r)
	}
	return srv
}

// ingestBody is the body both clients send: a batch of ingestBatch events
// whose payloads are the bench's, {"bench":true,"pad":"xx…"} of
// ingestPayload bytes.
func ingestBody() []byte { return ingestBodyOf(ingestBatch) }

// ingestBodyOf is ingestBody with n events.
func ingestBodyOf(n int) []byte {
	pad := strings.Repeat("x", ingestPayload-len(`{"bench":true,"pad":""}`))
	event := `{"payload":{"bench":true,"pad":"` + pad + `"}}`
	return []byte(`{"events":[` + strings.TrimSuffix(strings.Repeat(event+",", n), ",") + `]}`)
}

// minimalLoad is the minimal load generator: conns goroutines posting the
// same pre-encoded body batches times between them with net/http's
// client over keep-alive connections, reading each answer to the end. It
// returns how long that took.
func minimalLoad(url string, body []byte, conns, batches int) (time.Duration, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: time.Minute}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	start := time.Now()
	for range conns {
		wg.Go(func() {
			for next.Add(1) <= int64(batches) {
				req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
				if err != nil {
					errs <- err
					return
				}
				req.Header.Set("Content-Type", "application/json")
				res, err := hc.Do(req)
				if err != nil {
					errs <- err
					return
				}
				_, err = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if err == nil && res.StatusCode/100 != 2 {
					err = fmt.Errorf("POST %s: %s", url, res.Status)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	return elapsed, <-errs
}

// BenchmarkIngestClients: one op is one batch of ingestBatch events; the
// events/s metric is each client's own figure (the bench's from its
// report, which leaves out its start-up).
func BenchmarkIngestClients(b *testing.B) {
	srv := startIngest(b)
	b.Run("minimal", func(b *testing.B) {
		body := ingestBody()
		b.ResetTimer()
		elapsed, err := minimalLoad(srv.url+"/api/v1/disruptors/"+ingestName+"/events", body, ingestConns, b.N)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(b.N*ingestBatch)/elapsed.Seconds(), "events/s")
	})
	b.Run("bench", func(b *testing.B) {
		b.ResetTimer()
		r := cliRun{}.run(b, "bench", "--endpoint", srv.url, "--disruptor", ingestName,
			"--events", strconv.Itoa(b.N*ingestBatch), "--batch-size", strconv.Itoa(ingestBatch),
			"--payload-size", strconv.Itoa(ingestPayload), "--concurrency", strconv.Itoa(ingestConns), "-o", "json")
		b.StopTimer()
		if r.code != 0 {
			b.Fatalf("bench: %v", r)
		}
		var res benchResult
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
			b.Fatalf("bench output: %v\n%s", err, r.stdout)
		}
		if res.Events != int64(b.N*ingestBatch) || res.Errors != 0 {
			b.Fatalf("bench published %d events with %d errors, want %d and none", res.Events, res.Errors, b.N*ingestBatch)
		}
		if res.PayloadBytes != ingestPayload {
			b.Fatalf("bench sent %d-byte payloads, want %d like the generator", res.PayloadBytes, ingestPayload)
		}
		b.ReportMetric(res.EventsPerSec, "events/s")
	})
}
