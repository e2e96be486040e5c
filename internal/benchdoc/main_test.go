package main

import (
	"strings"
	"testing"
)

const sample = `goos: linux
goarch: amd64
pkg: github.com/badbatch/badbatch/disruptor
cpu: AMD EPYC
BenchmarkPingPong/atomic-2      	   10467	    300 ns/op	      250 p50-ns	   400 p99-ns	   900 p99.9-ns	       0 B/op	       0 allocs/op
BenchmarkSPSC/ceiling-2         	1000000000	         0.90 ns/op	       0 B/op	       0 allocs/op
BenchmarkSPSC/channel-2         	36337322	        30.00 ns/op	       0 B/op	       0 allocs/op
BenchmarkSPSC/disruptor/busy_spin-2 	95904517	        5.00 ns/op	     100 events/batch	       0 B/op	       0 allocs/op
BenchmarkSPSC/disruptor_claim16/busy_spin-2 	95904517	        2.00 ns/op	     100 events/batch	       0 B/op	       0 allocs/op
BenchmarkSPSC/ceiling-2         	1000000000	         1.10 ns/op	       0 B/op	       0 allocs/op
BenchmarkSPSC/channel-2         	36337322	        34.00 ns/op	       0 B/op	       0 allocs/op
BenchmarkSPSC/disruptor/busy_spin-2 	95904517	        7.00 ns/op	     300 events/batch	       0 B/op	       0 allocs/op
BenchmarkSPSC/disruptor_claim16/busy_spin-2 	95904517	        2.00 ns/op	     100 events/batch	       0 B/op	       0 allocs/op
BenchmarkSPSC/channel-2         	36337322	        32.00 ns/op	       0 B/op	       0 allocs/op
BenchmarkSPSC/disruptor/busy_spin-2 	95904517	        6.00 ns/op	     200 events/batch	       0 B/op	       0 allocs/op
BenchmarkMPSC/P3/channel-2      	44549269	        27.20 ns/op	       0 B/op	       0 allocs/op
BenchmarkMPSC/P3/disruptor/yielding-2 	43347542	        20.00 ns/op	     479 events/batch	       0 B/op	       1 allocs/op
BenchmarkPingPong/disruptor/busy_spin-2 	   10000	    350 ns/op	       300.0 p50-ns	       500 p99-ns	   1000 p99.9-ns	       0 B/op	       0 allocs/op
BenchmarkPingPong/atomic-2      	   10467	    900 ns/op	      700 p50-ns	   800 p99-ns	   900 p99.9-ns	       0 B/op	       0 allocs/op
BenchmarkPingPong/disruptor/busy_spin-2 	   10000	    950 ns/op	       800.0 p50-ns	       900 p99-ns	   1000 p99.9-ns	       0 B/op	       0 allocs/op
--- BENCH: BenchmarkSomething
BenchmarkNotAResult is a log line
PASS
ok  	github.com/badbatch/badbatch/disruptor	10.0s
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

func TestParseAndSummarize(t *testing.T) {
	results, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 16 {
		t.Fatalf("parsed %d results, want 16", len(results))
	}
	tops := summarize(results)
	var names []string
	for _, tp := range tops {
		names = append(names, tp.name)
	}
	if got := strings.Join(names, ","); got != "SPSC,MPSC/P3,PingPong" {
		t.Fatalf("topologies %s, want them in the issue's order", got)
	}
	spsc := tops[0]
	d := spsc.row("disruptor/busy_spin")
	if d.runs != 3 || d.medians["ns/op"] != 6 || d.medians["events/batch"] != 200 {
		t.Errorf("disruptor row: %d runs, medians %v; want 3 runs, 6 ns/op, 200 events/batch", d.runs, d.medians)
	}
	if got := spsc.row("ceiling").medians["ns/op"]; got != 1.0 {
		t.Errorf("median of an even count is %v, want the mean of the middle two, 1", got)
	}
	if base := spsc.baseline(); base == nil || base.peer != "channel" || base.medians["ns/op"] != 32 {
		t.Fatalf("baseline %+v, want the channel row at 32 ns/op", base)
	}
	if k := speedup(spsc.baseline(), d); k != 32.0/6 {
		t.Errorf("speed-up %v, want %v", k, 32.0/6)
	}
}

func TestTargets(t *testing.T) {
	results, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	tops := summarize(results)
	want := map[string]bool{
		"SPSC, one event per claim: ≥ 5× the channel":             true,  // 32/6
		"SPSC, claims of 16: ≥ 29× the channel":                   false, // 16
		"MPSC/P3: ≥ 2× the channel":                               false, // 1.36
		"MPSC/P3: per event within 4× of SPSC (one per claim)":    true,  // 20/6
		"Pipeline/3: ≥ 3× the channel chain":                      false, // not run
		"PingPong busy-spin: p50 within 1.3× of the atomic floor": true,  // 1.2
		"Zero allocations per event in every topology":            false, // MPSC/P3
		"Diamond: ≥ 3× the channel chain":                         false,
	}
	for _, tg := range targets {
		measured, met := tg.check(tops)
		if w, ok := want[tg.goal]; !ok {
			t.Errorf("unexpected target %q", tg.goal)
		} else if met != w {
			t.Errorf("%s: met=%v (%s), want %v", tg.goal, met, measured, w)
		}
	}
}

func TestPingPongFloorDisturbed(t *testing.T) {
	results, err := parse(strings.NewReader(`BenchmarkPingPong/atomic-2 	1000	500 ns/op	500 p50-ns
BenchmarkPingPong/disruptor/busy_spin-2 	1000	200 ns/op	200 p50-ns
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range targets {
		if !strings.HasPrefix(tg.goal, "PingPong") {
			continue
		}
		measured, met := tg.check(summarize(results))
		if met || !strings.Contains(measured, "inconclusive") {
			t.Errorf("a floor slower than the disruptor: met=%v, %q; want not met, inconclusive", met, measured)
		}
	}
}

func TestRender(t *testing.T) {
	results, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	render(&b, summarize(results), machineInfo{
		Command: "go test -bench=.", NProc: "2", CPU: "AMD EPYC", GoVersion: "go1.26",
		Benchstat: "benchstat says\n", Notes: "## Notes\n",
	})
	doc := b.String()
	for _, want := range []string{
		"| nproc | 2 |",
		"go test -bench=.",
		"## SPSC",
		"| disruptor/busy_spin | 6.00 | 5.33 | 0.00 | 200 |",
		"| channel | 32.0 | 1.00 | 0.00 | — |",
		"p50 ns",
		"| disruptor/busy_spin | 650 | — | 0.00 | — | 550 | 700 | 1000 |",
		"best runs' p50 300 ns vs 250 ns: 1.20× (medians 550 vs 475 ns)",
		"benchstat says",
		"## Notes",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("document lacks %q:\n%s", want, doc)
		}
	}
}
