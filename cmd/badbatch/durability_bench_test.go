package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/badbatch/badbatch/internal/clustertest"
	"github.com/badbatch/badbatch/internal/procstat"
)

// The durability benchmarks of issue 13, over HTTP against a real
// `badbatch server` process with a data directory (under $TMPDIR: put it
// on the disk to measure):
//
//   - BenchmarkIngestDurability: events/s published with the minimal load
//     generator (4 keep-alive connections, 128-byte JSON payloads) in
//     batches of 1, 100 and 1000, into a memory disruptor and into
//     journaled ones with sync=interval and sync=always, side by side in
//     one server. One op is one event.
//   - BenchmarkRecovery: the time from starting the server to its first
//     answer that shows every event of a journaled disruptor recovered,
//     for 1M events and, as the baseline, for none. One op is one start;
//     the server is killed with SIGKILL after each.
//
// Every run reports others-%: the CPU that processes other than the
// benchmark and its server used meanwhile (internal/procstat); rerun when
// it is more than a few percent. scripts/bench.sh runs both, one case per
// run, and writes their tables and targets into docs/benchmarks.md; by
// hand:
//
//	go test -run '^$' -bench 'BenchmarkIngestDurability|BenchmarkRecovery' -benchtime 2s -count 6 ./cmd/badbatch/

// durabilityModes are the disruptors compared: the create body's fields.
var durabilityModes = []struct{ name, fields string }{
	{"memory", `"durability":"memory"`},
	{"journal_interval", `"durability":"journal","sync":"interval"`},
	{"journal_always", `"durability":"journal","sync":"always"`},
}

// durabilityServer starts a server on a data directory of b with one
// disruptor per durability mode (named after it), stopped when b ends.
func durabilityServer(b *testing.B, data string) *cliServer {
	b.Helper()
	srv, err := startCLIServer(nil, "--bind", "127.0.0.1:0", "--log-format", "json", "--log-level", "info", "--data-dir", data)
	if err != nil {
		b.Fatalf("server: %v", err)
	}
	b.Cleanup(func() {
		if err := srv.stop(); err != nil {
			b.Errorf("server: %v", err)
		}
	})
	return srv
}

// createDurable creates disruptor name on srv with the given extra
// fields of the create body.
func createDurable(b *testing.B, srv *cliServer, name, fields string) {
	b.Helper()
	body := fmt.Sprintf(`{"name":%q,"buffer_size":65536,"producer_type":"multi","max_event_size":512,%s}`, name, fields)
	res, err := http.Post(srv.url+"/api/v1/disruptors", "application/json", bytes.NewReader([]byte(body)))
	if err != nil {
		b.Fatal(err)
	}
	out, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		b.Fatalf("creating %s (%s): %s %s", name, fields, res.Status, out)
	}
}

func BenchmarkIngestDurability(b *testing.B) {
	// One server for every case this process runs, started by the first.
	var (
		once sync.Once
		srv  *cliServer
	)
	server := func() *cliServer {
		once.Do(func() {
			srv = durabilityServer(b, filepath.Join(b.TempDir(), "data"))
			for _, m := range durabilityModes {
				createDurable(b, srv, m.name, m.fields)
			}
		})
		return srv
	}
	for _, batch := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("batch%d", batch), func(b *testing.B) {
			body := ingestBodyOf(batch)
			for _, m := range durabilityModes {
				b.Run(m.name, func(b *testing.B) {
					s := server()
					batches := max(1, (b.N+batch-1)/batch)
					before, err := procstat.ReadWith(s.cmd.Process.Pid)
					if err != nil {
						b.Fatal(err)
					}
					b.ResetTimer()
					elapsed, err := minimalLoad(s.url+"/api/v1/disruptors/"+m.name+"/events", body, ingestConns, batches)
					b.StopTimer()
					if err != nil {
						b.Fatal(err)
					}
					after, err := procstat.ReadWith(s.cmd.Process.Pid)
					if err != nil {
						b.Fatal(err)
					}
					events := float64(batches * batch)
					b.ReportMetric(float64(elapsed.Nanoseconds())/events, "ns/op")
					b.ReportMetric(events/elapsed.Seconds(), "events/s")
					b.ReportMetric(100*procstat.Others(before, after), "others-%")
				})
			}
		})
	}
}

// recoveryName is the disruptor BenchmarkRecovery recovers.
const recoveryName = "recover"

func BenchmarkRecovery(b *testing.B) {
	top := b
	for _, c := range []struct {
		name   string
		events int
	}{{"journal_empty", 0}, {"journal_1M", 1_000_000}} {
		// The data directory is filled once, for every call of the case
		// (the kills between the starts add nothing to it).
		var once sync.Once
		var data string
		b.Run(c.name, func(b *testing.B) {
			if testing.Short() && c.events > 0 {
				b.Skip("-short: filling the journal takes a while")
			}
			once.Do(func() {
				data = filepath.Join(top.TempDir(), "data-"+c.name)
				fillJournal(b, data, c.events)
			})
			var total time.Duration
			var others float64
			b.ResetTimer()
			for range b.N {
				took, o := recoverOnce(b, data, int64(c.events)-1)
				total += took
				others += o
			}
			b.StopTimer()
			b.ReportMetric(total.Seconds()/float64(b.N), "s/start")
			b.ReportMetric(float64(c.events), "events")
			b.ReportMetric(100*others/float64(b.N), "others-%")
		})
	}
}

// fillJournal makes a data directory whose journaled disruptor
// recoveryName holds n events of the ingestion benchmarks' kind, and
// stops its server.
func fillJournal(b *testing.B, data string, n int) {
	b.Helper()
	srv, err := startCLIServer(nil, "--bind", "127.0.0.1:0", "--log-format", "json", "--data-dir", data)
	if err != nil {
		b.Fatalf("server: %v", err)
	}
	b.Cleanup(func() { _ = srv.cmd.Process.Kill() }) // when it failed before stopping
	createDurable(b, srv, recoveryName, `"durability":"journal","sync":"never"`)
	if n > 0 {
		if n%ingestBatch != 0 {
			b.Fatalf("%d events: want a multiple of %d", n, ingestBatch)
		}
		if _, err := minimalLoad(srv.url+"/api/v1/disruptors/"+recoveryName+"/events", ingestBodyOf(ingestBatch), ingestConns, n/ingestBatch); err != nil {
			b.Fatal(err)
		}
	}
	if err := srv.stop(); err != nil {
		b.Fatalf("server: %v", err)
	}
}

// recoverOnce starts a server on data, waits until the disruptor's info
// answers with latest as its latest sequence, kills the server with
// SIGKILL, and returns the time from the start to that answer (only that
// part of the op is timed) and the share of the CPU other processes used
// meanwhile.
func recoverOnce(b *testing.B, data string, latest int64) (time.Duration, float64) {
	b.Helper()
	addr := clustertest.FreeAddr(b)
	logs := &syncBuffer{}
	cmd := exec.Command(badbatchBin, "server", "--bind", addr, "--log-format", "json", "--data-dir", data)
	cmd.Env = baseEnv()
	cmd.Stdout, cmd.Stderr = io.Discard, logs
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	info := "http://" + addr + "/api/v1/disruptors/" + recoveryName
	before, err := procstat.Read()
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	var took time.Duration
	var self procstat.Sample
	for deadline := start.Add(2 * time.Minute); ; {
		if res, err := hc.Get(info); err == nil {
			var d struct {
				Latest int64 `json:"latest_sequence"`
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK && json.Unmarshal(body, &d) == nil && d.Latest == latest {
				took = time.Since(start)
				self, err = procstat.ReadWith(cmd.Process.Pid)
				if err != nil {
					b.Fatal(err)
				}
				break
			}
			if res.StatusCode != http.StatusServiceUnavailable && res.StatusCode != http.StatusOK {
				b.Fatalf("GET %s: %s %s\n%s", info, res.Status, body, logs)
			}
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			b.Fatalf("the server did not recover %s with latest sequence %d in 2 minutes:\n%s", recoveryName, latest, logs)
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	b.StartTimer()
	// The server's CPU up to the answer is the benchmark's own: before
	// counts no server, self counts it from its start.
	return took, procstat.Others(before, self)
}
