// Command benchdoc turns the output of the disruptor benchmark suite into
// docs/benchmarks.md: one table per topology with each peer's median ns/op,
// its speed-up over the channel baseline of the same run, its allocations
// and the consumers' average batch, then the targets checked
// against the run, the benchstat summary and the notes. scripts/bench.sh
// runs it; it reads the raw `go test -bench` output, so every figure comes
// from one run.
//
// Usage:
//
//	go run ./internal/benchdoc -raw raw.txt -benchstat benchstat.txt \
//		-cmd 'go test ...' -nproc 2 -cpu 'AMD EPYC' -go 'go1.26' \
//		-notes scripts/bench-notes.md > docs/benchmarks.md
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

func main() {
	var (
		rawPath   = flag.String("raw", "", "raw `go test -bench` output (required)")
		statPath  = flag.String("benchstat", "", "benchstat's summary of the same file")
		notesPath = flag.String("notes", "", "markdown appended as the analysis")
		machine   machineInfo
	)
	flag.StringVar(&machine.Command, "cmd", "", "the command that made the raw output")
	flag.StringVar(&machine.NProc, "nproc", "", "nproc on the machine")
	flag.StringVar(&machine.CPU, "cpu", "", "CPU model")
	flag.StringVar(&machine.GoVersion, "go", "", "go version")
	flag.Parse()
	if *rawPath == "" {
		log.Fatal("benchdoc: -raw is required")
	}
	raw, err := os.Open(*rawPath)
	if err != nil {
		log.Fatal(err)
	}
	defer raw.Close()
	results, err := parse(raw)
	if err != nil {
		log.Fatal(err)
	}
	machine.Benchstat = readOptional(*statPath)
	machine.Notes = readOptional(*notesPath)
	w := bufio.NewWriter(os.Stdout)
	render(w, summarize(results), machine)
	if err := w.Flush(); err != nil {
		log.Fatal(err)
	}
}

func readOptional(path string) string {
	if path == "" {
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	return string(b)
}

// machineInfo is what the document says about where and how it was made.
type machineInfo struct {
	Command, NProc, CPU, GoVersion string
	Benchstat, Notes               string
}

// result is one line of benchmark output: a name (without "Benchmark" and
// the -GOMAXPROCS suffix) and its metrics by unit.
type result struct {
	name    string
	metrics map[string]float64
}

var procsSuffix = regexp.MustCompile(`-\d+$`)

// parse reads the benchmark lines of r, in order, and ignores the rest.
func parse(r io.Reader) ([]result, error) {
	var out []result
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			continue // not an iteration count: a log line that starts like a result
		}
		res := result{
			name:    procsSuffix.ReplaceAllString(strings.TrimPrefix(f[0], "Benchmark"), ""),
			metrics: make(map[string]float64),
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("benchdoc: %q: bad value %q", sc.Text(), f[i])
			}
			res.metrics[f[i+1]] = v
		}
		out = append(out, res)
	}
	return out, sc.Err()
}

// peerPrefixes start the peer part of a benchmark name; what comes before
// is the topology.
var peerPrefixes = []string{"ceiling", "atomic", "channel", "queue", "disruptor"}

// split divides a name into topology and peer: "MPSC/P3/disruptor/busy_spin"
// is ("MPSC/P3", "disruptor/busy_spin"). A name with no known peer is all
// topology.
func split(name string) (topology, peer string) {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		if i == 0 {
			continue
		}
		for _, prefix := range peerPrefixes {
			if strings.HasPrefix(p, prefix) {
				return strings.Join(parts[:i], "/"), strings.Join(parts[i:], "/")
			}
		}
	}
	return name, ""
}

// row is one peer of a topology, summarised over its runs.
type row struct {
	peer    string
	runs    int
	medians map[string]float64 // unit → median
	mins    map[string]float64 // unit → smallest
}

// topology is a table: its rows in the order the suite ran them.
type topology struct {
	name string
	rows []*row
}

// baseline is the topology's first channel row, or nil.
func (t *topology) baseline() *row {
	for _, r := range t.rows {
		if strings.HasPrefix(r.peer, "channel") {
			return r
		}
	}
	return nil
}

func (t *topology) row(peer string) *row {
	for _, r := range t.rows {
		if r.peer == peer {
			return r
		}
	}
	return nil
}

// summarize groups results by topology and peer, orders the topologies as
// the issue does (peers stay in the order they ran), and takes the median
// of each metric (benchstat's centre too).
func summarize(results []result) []*topology {
	var tops []*topology
	byName := map[string]*topology{}
	samples := map[*row]map[string][]float64{}
	for _, res := range results {
		tn, peer := split(res.name)
		t := byName[tn]
		if t == nil {
			t = &topology{name: tn}
			byName[tn] = t
			tops = append(tops, t)
		}
		r := t.row(peer)
		if r == nil {
			r = &row{peer: peer}
			t.rows = append(t.rows, r)
			samples[r] = map[string][]float64{}
		}
		r.runs++
		for unit, v := range res.metrics {
			samples[r][unit] = append(samples[r][unit], v)
		}
	}
	slices.SortStableFunc(tops, func(a, b *topology) int { return order(a.name) - order(b.name) })
	for r, byUnit := range samples {
		r.medians = make(map[string]float64, len(byUnit))
		r.mins = make(map[string]float64, len(byUnit))
		for unit, vs := range byUnit {
			r.medians[unit] = median(vs)
			r.mins[unit] = slices.Min(vs)
		}
	}
	return tops
}

// topologyOrder is the order of the document's sections: the issue's.
var topologyOrder = []string{"SPSC", "MPSC", "Multicast", "Pipeline", "Diamond", "WorkerPool", "PingPong"}

// order ranks a topology by its first name segment; unknown ones go last.
func order(name string) int {
	first, _, _ := strings.Cut(name, "/")
	if i := slices.Index(topologyOrder, first); i >= 0 {
		return i
	}
	return len(topologyOrder)
}

func median(vs []float64) float64 {
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return math.NaN()
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// speedup is how many times faster r is than base: base ns/op over r's.
func speedup(base, r *row) float64 {
	if base == nil || r == nil {
		return math.NaN()
	}
	return base.medians["ns/op"] / r.medians["ns/op"]
}

// num formats v with three significant digits, or "—" when absent.
func num(v float64) string {
	switch {
	case math.IsNaN(v):
		return "—"
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

func metric(r *row, unit string) float64 {
	if v, ok := r.medians[unit]; ok {
		return v
	}
	return math.NaN()
}

// percentileUnits are the PingPong latency metrics.
var percentileUnits = []string{"p50-ns", "p99-ns", "p99.9-ns"}

func render(w io.Writer, tops []*topology, m machineInfo) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("# Benchmarks\n\n")
	p("Generated by `scripts/bench.sh` from one run of the suite in `disruptor/*_bench_test.go`; do not edit by hand.\n")
	p("Each figure is the median of the run's repetitions. The machine is shared and noisy, so compare peers by\n")
	p("their ratio within this run (\"× channel\" is the channel baseline's ns/op over the row's: higher is faster),\n")
	p("not by absolute ns/op across runs. One op is one event through the whole topology (PingPong: one round trip).\n\n")
	p("## Machine and command\n\n")
	p("| | |\n|---|---|\n")
	p("| nproc | %s |\n| CPU | %s |\n| Go | %s |\n\n", orDash(m.NProc), orDash(m.CPU), orDash(m.GoVersion))
	p("```sh\n%s\n```\n\n", m.Command)
	p("## Targets\n\n")
	renderTargets(w, tops)
	for _, t := range tops {
		p("## %s\n\n", t.name)
		latency := hasUnit(t, percentileUnits[0])
		base := t.baseline()
		p("| peer | ns/op | × channel | allocs/op | events/batch |")
		if latency {
			p(" p50 ns | p99 ns | p99.9 ns |")
		}
		p("\n|---|---:|---:|---:|---:|")
		if latency {
			p("---:|---:|---:|")
		}
		p("\n")
		for _, r := range t.rows {
			p("| %s | %s | %s | %s | %s |", orDash(r.peer), num(metric(r, "ns/op")), num(speedup(base, r)),
				num(metric(r, "allocs/op")), num(metric(r, "events/batch")))
			if latency {
				for _, u := range percentileUnits {
					p(" %s |", num(metric(r, u)))
				}
			}
			p("\n")
		}
		p("\n")
	}
	if m.Benchstat != "" {
		p("## benchstat\n\n```\n%s```\n\n", m.Benchstat)
	}
	if m.Notes != "" {
		p("%s", m.Notes)
	}
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func hasUnit(t *topology, unit string) bool {
	for _, r := range t.rows {
		if _, ok := r.medians[unit]; ok {
			return true
		}
	}
	return false
}
