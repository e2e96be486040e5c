package main

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// defaultStrategy is the wait strategy a Disruptor gets when its config
// names none (disruptor.New).
const defaultStrategy = "blocking"

// target is one of the performance targets. check returns one
// verdict per row of the target table: per wait strategy, where the
// target is judged per strategy.
type target struct {
	goal  string
	check func(tops []*topology) []verdict
}

// verdict is one line of the target table.
type verdict struct {
	who      string // the strategy, or what was judged
	measured string
	met      bool
	// unknown is set when the figures needed are missing.
	unknown bool
}

// strategies returns the wait strategies of t's disruptor rows, in order.
func strategies(t *topology) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range t.rows {
		if ws := r.strategy(); ws != "" && !seen[ws] {
			seen[ws] = true
			out = append(out, ws)
		}
	}
	return out
}

// ratioRows judges that every row of topology whose variant is in
// variants reaches want times the channel, one verdict per strategy (or
// only for the given strategies).
func ratioRows(tops []*topology, topology string, want float64, only []string, variants ...string) []verdict {
	t := find(tops, topology)
	if t == nil || t.baseline() == nil {
		return []verdict{{who: topology, measured: "not run", unknown: true}}
	}
	wss := only
	if wss == nil {
		wss = strategies(t)
	}
	var out []verdict
	for _, ws := range wss {
		v := verdict{who: topology + ", " + ws, met: true}
		var parts []string
		for _, variant := range variants {
			r := t.row(variant + "/" + ws)
			if r == nil {
				parts = append(parts, variant+" not run")
				v.met, v.unknown = false, true
				continue
			}
			k, lo, hi := speedup(t.baseline(), r)
			parts = append(parts, fmt.Sprintf("%s %s× (%s; %s ns vs %s ns)", variant, num(k), interval(lo, hi),
				num(r.median("ns/op")), num(t.baseline().median("ns/op"))))
			if !(k >= want) {
				v.met = false
			}
		}
		v.measured = strings.Join(parts, "; ")
		out = append(out, v)
	}
	return out
}

// targets are the issue's, in its order.
var targets = []target{
	{"SPSC, one event per claim: the default strategy (" + defaultStrategy + ") ≥ 6.5× the channel", func(tops []*topology) []verdict {
		return ratioRows(tops, "SPSC", 6.5, []string{defaultStrategy}, "disruptor", "disruptor_batch")
	}},
	{"No strategy slower than 2× the channel (speed-up ≥ 0.5) in any topology", floorTarget},
	{"SPSC, claims of 16: ≥ 28× the channel with the per-event and the batch handler", func(tops []*topology) []verdict {
		return ratioRows(tops, "SPSC", 28, nil, "disruptor_claim16", "disruptor_claim16_batch")
	}},
	{"MPSC with 2 producers: ≥ 1.6× the channel", func(tops []*topology) []verdict {
		return ratioRows(tops, "MPSC/P2", 1.6, nil, "disruptor", "disruptor_batch")
	}},
	{"MPSC with 3 producers (more goroutines than cores): ≥ 1.6× the channel", func(tops []*topology) []verdict {
		return ratioRows(tops, "MPSC/P3", 1.6, nil, "disruptor", "disruptor_batch")
	}},
	{"Pipeline of 3: ≥ 10× the channel chain", func(tops []*topology) []verdict {
		return ratioRows(tops, "Pipeline/3", 10, nil, "disruptor", "disruptor_batch")
	}},
	{"Diamond: ≥ 10× the channel chain", func(tops []*topology) []verdict {
		return ratioRows(tops, "Diamond", 10, nil, "disruptor", "disruptor_batch")
	}},
	{"PingPong: p50 ≤ 1.3× the atomic floor and below the channel's p50; busy_spin p99.9 < 5 µs", pingPongTarget},
	{"Zero allocations per event in every topology", allocTarget},
	{"`badbatch bench` reaches ≥ 90% of a minimal Go load generator against the same server", ingestTarget},
	{"HTTP ingestion, batches of 1000: journal sync=interval ≥ 70% of memory's events/s", intervalTarget},
	{"HTTP ingestion, batches of 1000: journal sync=always ≥ 100k events/s", alwaysTarget},
	{"Recovery of a 1M-event journaled disruptor (server start to a recovered answer) < 2 s", recoveryTarget},
}

// durabilityBatch is the topology of the durability targets.
const durabilityBatch = "IngestDurability/batch1000"

// intervalTarget compares the journaled disruptor's events/s with
// sync=interval to the memory disruptor's, paired by round.
func intervalTarget(tops []*topology) []verdict {
	t := find(tops, durabilityBatch)
	if t == nil || t.row("memory") == nil || t.row("journal_interval") == nil {
		return []verdict{{who: durabilityBatch, measured: "not run", unknown: true}}
	}
	mem, jr := t.row("memory"), t.row("journal_interval")
	rs := pairedRatios(jr, mem, "events/s")
	k := median(rs)
	lo, hi, _ := medianInterval(rs)
	return []verdict{{who: "batches of 1000, 4 connections", met: k >= 0.7,
		measured: fmt.Sprintf("%s%% of memory (%s–%s%%): %s vs %s events/s", num(100*k), num(100*lo), num(100*hi),
			rate(jr.median("events/s"), "events/s"), rate(mem.median("events/s"), "events/s"))}}
}

// alwaysTarget judges the median events/s with sync=always.
func alwaysTarget(tops []*topology) []verdict {
	t := find(tops, durabilityBatch)
	if t == nil || t.row("journal_always") == nil {
		return []verdict{{who: durabilityBatch, measured: "not run", unknown: true}}
	}
	r := t.row("journal_always")
	v := r.median("events/s")
	lo, hi, _ := medianInterval(r.values("events/s"))
	return []verdict{{who: "batches of 1000, 4 connections", met: v >= 100_000,
		measured: fmt.Sprintf("%s events/s (%s–%s)", rate(v, "events/s"), rate(lo, "events/s"), rate(hi, "events/s"))}}
}

// recoveryTarget judges the median start over a 1M-event journal.
func recoveryTarget(tops []*topology) []verdict {
	t := find(tops, "Recovery")
	if t == nil || t.row("journal_1M") == nil {
		return []verdict{{who: "Recovery", measured: "not run", unknown: true}}
	}
	r := t.row("journal_1M")
	v := r.median("s/start")
	lo, hi, _ := medianInterval(r.values("s/start"))
	measured := fmt.Sprintf("%s s (%s) for %s events", num(v), interval(lo, hi), count(r.median("events")))
	if e := t.row("journal_empty"); e != nil {
		measured += fmt.Sprintf("; an empty one: %s s", num(e.median("s/start")))
	}
	return []verdict{{who: "1M events, killed with SIGKILL before each start", met: v < 2, measured: measured}}
}

// ingestTarget compares the bench client's events/s with the minimal
// generator's, paired by round.
func ingestTarget(tops []*topology) []verdict {
	t := find(tops, "IngestClients")
	if t == nil || t.row("minimal") == nil || t.row("bench") == nil {
		return []verdict{{who: "IngestClients", measured: "not run", unknown: true}}
	}
	rs := pairedRatios(t.row("bench"), t.row("minimal"), "events/s")
	k := median(rs)
	lo, hi, _ := medianInterval(rs)
	return []verdict{{who: "batches of 1000, 4 connections", met: k >= 0.9,
		measured: fmt.Sprintf("%s%% of the generator (%s–%s%%): %s vs %s events/s", num(100*k), num(100*lo), num(100*hi),
			rate(t.row("bench").median("events/s"), "events/s"), rate(t.row("minimal").median("events/s"), "events/s"))}}
}

// floorTarget judges every disruptor row of every topology against half
// the channel's speed, one verdict per topology.
func floorTarget(tops []*topology) []verdict {
	var out []verdict
	for _, t := range tops {
		base := t.baseline()
		if base == nil {
			continue
		}
		var worst *row
		worstK := math.Inf(1)
		for _, r := range t.rows {
			if r.strategy() == "" {
				continue
			}
			if k, _, _ := speedup(base, r); k < worstK {
				worst, worstK = r, k
			}
		}
		if worst == nil {
			continue
		}
		out = append(out, verdict{who: t.name, met: worstK >= 0.5,
			measured: fmt.Sprintf("slowest %s: %s× the channel (%s ns vs %s ns)", worst.peer, num(worstK),
				num(worst.median("ns/op")), num(base.median("ns/op")))})
	}
	if len(out) == 0 {
		return []verdict{{who: "every topology", measured: "not run", unknown: true}}
	}
	return out
}

// pingPongTarget judges each strategy's round trip against the floor and
// the channel measured in the same run, paired by round.
func pingPongTarget(tops []*topology) []verdict {
	t := find(tops, "PingPong")
	if t == nil || t.row("atomic") == nil || t.row("channel") == nil {
		return []verdict{{who: "PingPong", measured: "not run", unknown: true}}
	}
	floor, ch := t.row("atomic"), t.row("channel")
	var out []verdict
	for _, ws := range strategies(t) {
		r := t.row("disruptor/" + ws)
		if r == nil {
			continue
		}
		rf := pairedRatios(r, floor, "p50-ns")
		rc := pairedRatios(r, ch, "p50-ns")
		kf, kc := median(rf), median(rc)
		flo, fhi, _ := medianInterval(rf)
		measured := fmt.Sprintf("p50 %s ns: %s× the floor's %s ns (%s), %s× the channel's %s ns",
			num(r.median("p50-ns")), num(kf), num(floor.median("p50-ns")), interval(flo, fhi), num(kc), num(ch.median("p50-ns")))
		met := kf <= 1.3 && kc < 1
		if ws == "busy_spin" {
			p999 := r.median("p99.9-ns")
			measured += fmt.Sprintf("; p99.9 %s ns", num(p999))
			met = met && p999 < 5000
		}
		out = append(out, verdict{who: "PingPong, " + ws, measured: measured, met: met})
	}
	return out
}

func allocTarget(tops []*topology) []verdict {
	var worst *row
	where := ""
	for _, t := range tops {
		for _, r := range t.rows {
			if r.strategy() != "" && (worst == nil || r.median("allocs/op") > worst.median("allocs/op")) {
				worst, where = r, t.name
			}
		}
	}
	if worst == nil {
		return []verdict{{who: "every topology", measured: "not run", unknown: true}}
	}
	if a := worst.median("allocs/op"); a > 0 {
		return []verdict{{who: "every topology", measured: fmt.Sprintf("%s allocs/op in %s/%s", num(a), where, worst.peer)}}
	}
	return []verdict{{who: "every topology", measured: "0 allocs/op (median) in every disruptor row", met: true}}
}

func find(tops []*topology, name string) *topology {
	for _, t := range tops {
		if t.name == name {
			return t
		}
	}
	return nil
}

func renderTargets(w io.Writer, tops []*topology) {
	fmt.Fprintf(w, "Each target is judged per wait strategy (the first only for the default one), on the medians of this run.\n\n")
	fmt.Fprintf(w, "| target | judged | measured | met |\n|---|---|---|---|\n")
	for _, t := range targets {
		for _, v := range t.check(tops) {
			mark := "no"
			switch {
			case v.unknown:
				mark = "not measured"
			case v.met:
				mark = "yes"
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s |\n", t.goal, v.who, v.measured, mark)
		}
	}
	fmt.Fprintf(w, "\n")
}
