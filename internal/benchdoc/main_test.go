package main

import (
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sample is what `benchdoc run` keeps: three rounds of a small suite, each
// line with the noise of its run appended.
const sample = `# benchdoc run: -pkg ./disruptor/ -bench . -benchtime 300ms -count 3 -threshold 0.05
goos: linux
goarch: amd64
pkg: github.com/badbatch/badbatch/disruptor
cpu: AMD EPYC
BenchmarkSPSC/channel-2         	36337322	        30.00 ns/op	       0 B/op	       0 allocs/op	0.0100 noise-cores	0 noisy
BenchmarkSPSC/disruptor/blocking-2 	95904517	        5.00 ns/op	     100 events/wakeup	       0 B/op	       0 allocs/op	0.0200 noise-cores	0 noisy
BenchmarkSPSC/disruptor_batch/blocking-2 	95904517	        4.00 ns/op	     100 events/wakeup	       0 B/op	       0 allocs/op	0.0200 noise-cores	0 noisy
BenchmarkSPSC/disruptor/busy_spin-2 	95904517	        60.00 ns/op	     1 events/wakeup	       0 B/op	       0 allocs/op	0.0200 noise-cores	0 noisy
BenchmarkPingPong/atomic-2      	   10467	    300 ns/op	      250 p50-ns	   400 p99-ns	   900 p99.9-ns	       0 B/op	       0 allocs/op	0.0100 noise-cores	0 noisy
BenchmarkPingPong/channel-2      	   10467	    300 ns/op	      400 p50-ns	   400 p99-ns	   900 p99.9-ns	       0 B/op	       0 allocs/op	0.0100 noise-cores	0 noisy
BenchmarkPingPong/disruptor/busy_spin-2 	   10000	    350 ns/op	       300.0 p50-ns	       500 p99-ns	   1000 p99.9-ns	       0 B/op	       0 allocs/op	0.0100 noise-cores	0 noisy
BenchmarkSPSC/channel-2         	36337322	        34.00 ns/op	       0 B/op	       0 allocs/op	0.0100 noise-cores	0 noisy
BenchmarkSPSC/disruptor/blocking-2 	95904517	        4.00 ns/op	     300 events/wakeup	       0 B/op	       0 allocs/op	0.0100 noise-cores	0 noisy
BenchmarkSPSC/disruptor_batch/blocking-2 	95904517	        4.00 ns/op	     100 events/wakeup	       0 B/op	       0 allocs/op	0.0200 noise-cores	0 noisy
BenchmarkSPSC/disruptor/busy_spin-2 	95904517	        70.00 ns/op	     1 events/wakeup	       0 B/op	       0 allocs/op	0.0200 noise-cores	0 noisy
BenchmarkPingPong/atomic-2      	   10467	    900 ns/op	      260 p50-ns	   800 p99-ns	   900 p99.9-ns	       0 B/op	       0 allocs/op	0.0100 noise-cores	0 noisy
BenchmarkPingPong/channel-2      	   10467	    300 ns/op	      400 p50-ns	   400 p99-ns	   900 p99.9-ns	       0 B/op	       0 allocs/op	0.0100 noise-cores	0 noisy
BenchmarkPingPong/disruptor/busy_spin-2 	   10000	    950 ns/op	       320.0 p50-ns	       900 p99-ns	   6000 p99.9-ns	       0 B/op	       0 allocs/op	0.3000 noise-cores	1 noisy
BenchmarkSPSC/channel-2         	36337322	        32.00 ns/op	       0 B/op	       0 allocs/op	0.0100 noise-cores	0 noisy
BenchmarkSPSC/disruptor/blocking-2 	95904517	        8.00 ns/op	     200 events/wakeup	       0 B/op	       0 allocs/op	0.0100 noise-cores	0 noisy
BenchmarkSPSC/disruptor_batch/blocking-2 	95904517	        4.00 ns/op	     100 events/wakeup	       0 B/op	       1 allocs/op	0.0200 noise-cores	0 noisy
BenchmarkSPSC/disruptor/busy_spin-2 	95904517	        80.00 ns/op	     1 events/wakeup	       0 B/op	       0 allocs/op	0.0200 noise-cores	0 noisy
--- BENCH: BenchmarkSomething
BenchmarkNotAResult is a log line
PASS
`

func TestSplit(t *testing.T) {
	tests := []struct{ name, topology, peer string }{
		{"SPSC/channel", "SPSC", "channel"},
		{"SPSC/disruptor_claim16_batch/busy_spin", "SPSC", "disruptor_claim16_batch/busy_spin"},
		{"MPSC/P3/disruptor/busy_spin", "MPSC/P3", "disruptor/busy_spin"},
		{"Diamond/channel_chain", "Diamond", "channel_chain"},
		{"PingPong/atomic", "PingPong", "atomic"},
		{"Other/thing", "Other/thing", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topology, peer := split(tt.name)
			if topology != tt.topology || peer != tt.peer {
				t.Errorf("split(%q) = %q, %q; want %q, %q", tt.name, topology, peer, tt.topology, tt.peer)
			}
		})
	}
}

func mustSummarize(t *testing.T, raw string) []*topology {
	t.Helper()
	results, err := parse(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return summarize(results)
}

func TestParseAndSummarize(t *testing.T) {
	results, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 18 {
		t.Fatalf("parsed %d results, want 18", len(results))
	}
	tops := summarize(results)
	var names []string
	for _, tp := range tops {
		names = append(names, tp.name)
	}
	if got := strings.Join(names, ","); got != "SPSC,PingPong" {
		t.Fatalf("topologies %s, want them in the issue's order", got)
	}
	spsc := tops[0]
	d := spsc.row("disruptor/blocking")
	if d.runs() != 3 || d.median("ns/op") != 5 || d.median("events/wakeup") != 200 {
		t.Errorf("disruptor row: %d runs, median %v ns/op, %v events/wakeup; want 3, 5, 200", d.runs(), d.median("ns/op"), d.median("events/wakeup"))
	}
	if d.strategy() != "blocking" || d.variant() != "disruptor" || spsc.baseline().strategy() != "" {
		t.Errorf("strategy %q, variant %q", d.strategy(), d.variant())
	}
	if base := spsc.baseline(); base == nil || base.peer != "channel" || base.median("ns/op") != 32 {
		t.Fatalf("baseline %+v, want the channel row at 32 ns/op", base)
	}
	// Paired by round: 30/5, 34/4, 32/8.
	if k, lo, hi := speedup(spsc.baseline(), d); k != 6 || lo != 4 || hi != 8.5 {
		t.Errorf("speed-up %v (%v–%v), want the median of the paired ratios, 6 (4–8.5)", k, lo, hi)
	}
	if n := tops[1].row("disruptor/busy_spin").noisy(); n != 1 {
		t.Errorf("%d noisy runs, want 1", n)
	}
}

func TestMedianInterval(t *testing.T) {
	tests := []struct {
		vs             []float64
		lo, hi, atLeat float64
	}{
		{[]float64{5}, math.NaN(), math.NaN(), 0},
		{[]float64{3, 1, 2, 5, 4}, 1, 5, 0.9375},    // too few for 95%: the range
		{[]float64{6, 1, 2, 5, 4, 3}, 1, 6, 0.9687}, // the first n with 95%
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, 3, 10, 0.96},
	}
	for _, tt := range tests {
		lo, hi, conf := medianInterval(tt.vs)
		same := func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }
		if !same(lo, tt.lo) || !same(hi, tt.hi) || conf < tt.atLeat || (conf < 0.95 && len(tt.vs) >= 6) {
			t.Errorf("medianInterval(%v) = %v–%v at %v; want %v–%v at ≥ %v", tt.vs, lo, hi, conf, tt.lo, tt.hi, tt.atLeat)
		}
	}
}

func TestTargets(t *testing.T) {
	tops := mustSummarize(t, sample)
	got := map[string]verdict{}
	for _, tg := range targets {
		for _, v := range tg.check(tops) {
			got[tg.goal+" | "+v.who] = v
		}
	}
	want := map[string]bool{
		"SPSC, one event per claim: the default strategy (blocking) ≥ 6.5× the channel | SPSC, blocking":                  false, // 6× and 8×
		"No strategy slower than 2× the channel (speed-up ≥ 0.5) in any topology | SPSC":                                  false, // busy_spin 0.43×
		"PingPong: p50 ≤ 1.3× the atomic floor and below the channel's p50; busy_spin p99.9 < 5 µs | PingPong, busy_spin": true,
		"Zero allocations per event in every topology | every topology":                                                   true, // medians
	}
	for k, w := range want {
		v, ok := got[k]
		if !ok {
			t.Errorf("no verdict %q; have %v", k, got)
			continue
		}
		if v.met != w {
			t.Errorf("%s: met=%v (%s), want %v", k, v.met, v.measured, w)
		}
	}
	if v := got["MPSC with 2 producers: ≥ 1.6× the channel | MPSC/P2"]; !v.unknown {
		t.Errorf("a topology not run: %+v, want unknown", v)
	}
}

func TestRender(t *testing.T) {
	var b strings.Builder
	render(&b, mustSummarize(t, sample), machineInfo{
		Command: "scripts/bench.sh", NProc: "2", CPU: "AMD EPYC", GoVersion: "go1.26",
		Benchstat: "benchstat says\n", Notes: "## Notes\n", Quiet: "18 runs kept",
	})
	doc := b.String()
	for _, want := range []string{
		"| nproc | 2 |",
		"scripts/bench.sh",
		"| CPU used by other processes during a run | median 0.010 cores, worst 0.300 cores, over 18 runs; 1 kept noisy |",
		"| the run's verdict | 18 runs kept |",
		"## SPSC",
		"| disruptor/blocking | 5.00 | 4.00–8.00 | 6.00 | 4.00–8.50 | 200 | 0.00 | 3 | 0 | 0.020 |",
		"| channel | 32.0 | 30.0–34.0 | 1.00 | 1.00–1.00 | — | 0.00 | 3 | 0 | 0.010 |",
		"| disruptor/busy_spin | 310 | 300–320 | 700 | 500–900 | 3500 | 1000–6000 | 650 | 0.00 | 2 | 1 | 0.300 |",
		"benchstat says",
		"## Notes",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("document lacks %q:\n%s", want, doc)
		}
	}
}

func TestCasePattern(t *testing.T) {
	if got, want := casePattern("MPSC/P3/disruptor_batch/busy_spin"), `^BenchmarkMPSC$/^P3$/^disruptor_batch$/^busy_spin$`; got != want {
		t.Errorf("casePattern = %s, want %s", got, want)
	}
	if got := casePattern("X/a.b"); got != `^BenchmarkX$/^a\.b$` {
		t.Errorf("casePattern does not quote: %s", got)
	}
}

func TestParseCPULine(t *testing.T) {
	c, err := parseCPULine("cpu  100 20 30 400 50 6 4 10 0 0")
	if err != nil {
		t.Fatal(err)
	}
	if c.busy != 1.6 || c.steal != 0.1 || c.total != 6.2 {
		t.Errorf("parsed %+v; want busy 1.6 s, steal 0.1 s, total 6.2 s", c)
	}
	if _, err := parseCPULine("intr 1 2 3"); err == nil {
		t.Error("a line that is not the cpu line parsed")
	}
	// 1.5 CPU-seconds busy over 1 s, 0.5 of them the run's own: 1 core.
	if n := noise(cpuTimes{busy: 1}, cpuTimes{busy: 2.5}, 500*time.Millisecond, time.Second); n != 1 {
		t.Errorf("noise = %v, want 1", n)
	}
	if n := noise(cpuTimes{busy: 1}, cpuTimes{busy: 1.01}, 20*time.Millisecond, time.Second); n != 0 {
		t.Errorf("noise below zero (tick rounding) = %v, want 0", n)
	}
	if _, err := readCPU("/proc/stat"); err != nil && !os.IsNotExist(err) {
		t.Errorf("reading this machine's /proc/stat: %v", err)
	}
}

// TestRunInterleavesAndRerunsNoisy runs a small suite: every case once per
// round, in order; a run during which the counters say others were busy is
// rerun, and one still noisy after the reruns is kept and marked.
func TestRunInterleavesAndRerunsNoisy(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a test binary")
	}
	out := t.TempDir()
	// The fake counters: each reading adds busy time; readings 3 and 4
	// (the first case's first run) add a lot, as do every reading of the
	// third case's runs in round 2 (with one rerun allowed, it stays
	// noisy).
	var reads int
	var busy float64
	c := runConfig{
		pkg: "./testdata/fakebench", bench: ".", benchtime: "100x", count: 2,
		threshold: 0.05, retries: 1, pause: time.Millisecond, quietWait: time.Second, probe: time.Millisecond,
		out: out, logw: io.Discard,
	}
	noisyReads := map[int]bool{}
	c.sample = func() (cpuTimes, error) {
		reads++
		if noisyReads[reads] {
			busy += 100
		}
		return cpuTimes{busy: busy}, nil
	}
	// Readings: 1-2 the first quiet probe; then per run (before, after),
	// with a probe (2 readings) after each noisy run.
	noisyReads[4] = true // round 1, Topo/channel: noisy, rerun
	// reads 5-6 probe, 7-8 rerun (quiet), 9-10 disruptor/blocking, 11-12 disruptor,
	// round 2: 13-14 channel, 15-16 blocking, 17-18 disruptor (noisy), 19-20 probe, 21-22 rerun (noisy): kept, marked.
	noisyReads[18], noisyReads[22] = true, true
	quiet, err := c.run()
	if err != nil {
		t.Fatal(err)
	}
	if quiet {
		t.Error("run reported quiet with a run kept noisy")
	}
	raw, err := os.ReadFile(filepath.Join(out, "raw.txt"))
	if err != nil {
		t.Fatal(err)
	}
	results, err := parse(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, r := range results {
		order = append(order, r.name)
	}
	wantOrder := "Topo/channel Topo/disruptor/blocking Topo/disruptor Topo/channel Topo/disruptor/blocking Topo/disruptor"
	if got := strings.Join(order, " "); got != wantOrder {
		t.Fatalf("kept runs %s, want %s", got, wantOrder)
	}
	if r := results[1]; r.metrics["events/wakeup"] != 64 || r.metrics["noise-cores"] != 0 {
		t.Errorf("kept run %+v, want its own metrics and a noise of 0", r.metrics)
	}
	if r := results[5]; r.metrics["noisy"] != 1 || r.metrics["noise-cores"] <= 0.05 {
		t.Errorf("last run %+v, want it marked noisy", r.metrics)
	}
	noisy, err := os.ReadFile(filepath.Join(out, "noisy.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(noisy), "\n"); n != 2 {
		t.Errorf("noisy.txt has %d runs, want the 2 that were rerun:\n%s", n, noisy)
	}
	verdict, err := os.ReadFile(filepath.Join(out, "quiet.txt"))
	if err != nil || !strings.Contains(string(verdict), "6 runs kept, 2 rerun for noise, 1 still noisy") {
		t.Errorf("verdict %q (%v)", verdict, err)
	}
}

// TestIngestClients: the HTTP client comparison is a table against the
// minimal generator, by events/s, and a target at 90% of it.
func TestIngestClients(t *testing.T) {
	tops := mustSummarize(t, `BenchmarkIngestClients/minimal-2 	2000	400000 ns/op	2500000 events/s	0.01 noise-cores	0 noisy
BenchmarkIngestClients/bench-2 	2000	450000 ns/op	2400000 events/s	0.01 noise-cores	0 noisy
BenchmarkIngestClients/minimal-2 	2000	400000 ns/op	2000000 events/s	0.01 noise-cores	0 noisy
BenchmarkIngestClients/bench-2 	2000	450000 ns/op	1700000 events/s	0.01 noise-cores	0 noisy
`)
	var v verdict
	for _, tg := range targets {
		if strings.Contains(tg.goal, "badbatch bench") {
			v = tg.check(tops)[0]
		}
	}
	// Paired: 2.4/2.5 = 0.96, 1.7/2.0 = 0.85; median 0.905.
	if !v.met || !strings.Contains(v.measured, "90.5% of the generator (85.0–96.0%)") {
		t.Errorf("ingest verdict %+v", v)
	}
	var b strings.Builder
	renderThroughput(&b, tops[0])
	if !strings.Contains(b.String(), "| bench | 450000 | 450000–450000 | 0.91 | 0.85–0.96 | 2.05M |") {
		t.Errorf("ingest table:\n%s", b.String())
	}
}

// TestDurability: the journal's HTTP ingestion is a table against the
// memory disruptor, with targets at 70% of it (sync=interval) and 100k
// events/s (sync=always); the recovery table is in seconds, its target
// 2 s.
func TestDurability(t *testing.T) {
	tops := mustSummarize(t, `BenchmarkIngestDurability/batch1000/memory-2 	1	4000 ns/op	250000 events/s	1.0 others-%	0.01 noise-cores	0 noisy
BenchmarkIngestDurability/batch1000/journal_interval-2 	1	5000 ns/op	200000 events/s	1.0 others-%	0.01 noise-cores	0 noisy
BenchmarkIngestDurability/batch1000/journal_always-2 	1	9000 ns/op	110000 events/s	1.0 others-%	0.01 noise-cores	0 noisy
BenchmarkRecovery/journal_empty-2 	1	100000000 ns/op	0.1 s/start	0 events	2.0 others-%	0.01 noise-cores	0 noisy
BenchmarkRecovery/journal_1M-2 	1	2500000000 ns/op	2.5 s/start	1000000 events	2.0 others-%	0.01 noise-cores	0 noisy
BenchmarkIngestDurability/batch1000/memory-2 	1	4000 ns/op	300000 events/s	1.0 others-%	0.01 noise-cores	0 noisy
BenchmarkIngestDurability/batch1000/journal_interval-2 	1	5000 ns/op	180000 events/s	1.0 others-%	0.01 noise-cores	0 noisy
BenchmarkIngestDurability/batch1000/journal_always-2 	1	9000 ns/op	90000 events/s	1.0 others-%	0.01 noise-cores	0 noisy
BenchmarkRecovery/journal_empty-2 	1	100000000 ns/op	0.1 s/start	0 events	2.0 others-%	0.01 noise-cores	0 noisy
BenchmarkRecovery/journal_1M-2 	1	1500000000 ns/op	1.5 s/start	1000000 events	2.0 others-%	0.01 noise-cores	0 noisy
`)
	if len(tops) != 2 || tops[0].name != "IngestDurability/batch1000" || tops[1].name != "Recovery" {
		t.Fatalf("topologies %v", tops)
	}
	got := map[string]verdict{}
	for _, tg := range targets {
		for _, v := range tg.check(tops) {
			got[tg.goal] = v
		}
	}
	for goal, want := range map[string]struct {
		met      bool
		measured string
	}{
		// Paired: 200/250 = 0.8, 180/300 = 0.6; median 0.7.
		"HTTP ingestion, batches of 1000: journal sync=interval ≥ 70% of memory's events/s": {true, "70.0% of memory (60.0–80.0%): 0.19M vs 0.28M events/s"},
		// Median of 110k and 90k: 100k.
		"HTTP ingestion, batches of 1000: journal sync=always ≥ 100k events/s": {true, "0.10M events/s"},
		// Median of 2.5 s and 1.5 s: 2 s, not under 2 s.
		"Recovery of a 1M-event journaled disruptor (server start to a recovered answer) < 2 s": {false, "2.00 s (1.50–2.50) for 1M events; an empty one: 0.10 s"},
	} {
		v, ok := got[goal]
		if !ok || v.unknown || v.met != want.met || !strings.Contains(v.measured, want.measured) {
			t.Errorf("%s: %+v, want met=%v and %q", goal, v, want.met, want.measured)
		}
	}
	var b strings.Builder
	renderThroughput(&b, tops[0])
	if !strings.Contains(b.String(), "× memory") || !strings.Contains(b.String(), "| journal_interval | 5000 | 5000–5000 | 0.70 | 0.60–0.80 | 0.19M |") {
		t.Errorf("durability table:\n%s", b.String())
	}
	b.Reset()
	renderStarts(&b, tops[1])
	if !strings.Contains(b.String(), "| journal_1M | 1M | 2.00 | 1.50–2.50 | 2.00 | 2 | 0 | 0.010 |") {
		t.Errorf("recovery table:\n%s", b.String())
	}
}
