// Command benchdoc runs the disruptor benchmark suite honestly and turns
// its output into docs/benchmarks.md. scripts/bench.sh drives both steps.
//
// `benchdoc run` builds the package's test binary once, lists its
// benchmark cases and runs them in interleaved rounds (every case once per
// round, so each disruptor row has its channel baseline in the same round),
// recording for every run the CPU that the rest of the machine used
// meanwhile (/proc/stat's busy and stolen time minus the run's own CPU
// time). A run above the threshold is rerun (a bounded number of times,
// after waiting for a quiet probe) and, if still noisy, kept and marked.
// It exits 3 when any kept run is marked.
//
// `benchdoc render` reads the kept runs and writes the document: for every
// topology and every variant, the median ns/op with its confidence
// interval, the speed-up over the channel baseline (the median of the
// ratios paired by round, with its interval), the processors' events per
// wake-up, allocations, and the noise seen; then the targets,
// judged per wait strategy; benchstat's summary; and the notes.
//
// Usage:
//
//	go run ./internal/benchdoc run -count 6 -benchtime 300ms -out bench-results
//	go run ./internal/benchdoc render -raw bench-results/raw.txt \
//		-benchstat bench-results/benchstat.txt -quiet bench-results/quiet.txt \
//		-cmd 'scripts/bench.sh' -nproc 2 -cpu 'AMD EPYC' -go 'go1.26' \
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
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "run" {
		runMain(args[1:])
		return
	}
	if len(args) > 0 && args[0] == "render" {
		args = args[1:]
	}
	renderMain(args)
}

func renderMain(args []string) {
	fs := flag.NewFlagSet("benchdoc render", flag.ExitOnError)
	var (
		rawPath   = fs.String("raw", "", "the kept runs: `benchdoc run`'s raw.txt, or any `go test -bench` output (required)")
		statPath  = fs.String("benchstat", "", "benchstat's summary of the same file")
		quietPath = fs.String("quiet", "", "`benchdoc run`'s verdict (quiet.txt)")
		notesPath = fs.String("notes", "", "markdown appended as the analysis")
		machine   machineInfo
	)
	fs.StringVar(&machine.Command, "cmd", "", "the command that made the raw output")
	fs.StringVar(&machine.NProc, "nproc", "", "nproc on the machine")
	fs.StringVar(&machine.CPU, "cpu", "", "CPU model")
	fs.StringVar(&machine.GoVersion, "go", "", "go version")
	_ = fs.Parse(args)
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
	machine.Quiet = strings.TrimSpace(readOptional(*quietPath))
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
	Benchstat, Notes, Quiet        string
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
var peerPrefixes = []string{"ceiling", "atomic", "channel", "queue", "disruptor", "go-disruptor", "minimal", "bench", "memory", "journal"}

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

// row is one peer of a topology: its runs, in the order they ran (the k-th
// run of every row of a run is from round k).
type row struct {
	peer    string
	samples []map[string]float64
}

func (r *row) runs() int { return len(r.samples) }

// values returns the row's values of unit, in run order.
func (r *row) values(unit string) []float64 {
	var vs []float64
	for _, s := range r.samples {
		if v, ok := s[unit]; ok {
			vs = append(vs, v)
		}
	}
	return vs
}

// median is the median of the row's values of unit, or NaN.
func (r *row) median(unit string) float64 { return median(r.values(unit)) }

// strategy is the wait strategy of a disruptor row ("disruptor/blocking"
// is "blocking"), or "".
func (r *row) strategy() string {
	if !strings.HasPrefix(r.peer, "disruptor") {
		return ""
	}
	_, ws, _ := strings.Cut(r.peer, "/")
	return ws
}

// variant is a disruptor row's peer without its strategy
// ("disruptor_batch/yielding" is "disruptor_batch").
func (r *row) variant() string {
	v, _, _ := strings.Cut(r.peer, "/")
	return v
}

// noisy counts the row's runs marked noisy.
func (r *row) noisy() int {
	n := 0
	for _, v := range r.values("noisy") {
		if v > 0 {
			n++
		}
	}
	return n
}

// topology is a table: its rows in the order the suite ran them.
type topology struct {
	name string
	rows []*row
}

// baseline is the topology's first channel row (for the HTTP clients,
// the minimal load generator; for the durability modes, the memory
// disruptor), or nil.
func (t *topology) baseline() *row {
	for _, r := range t.rows {
		if strings.HasPrefix(r.peer, "channel") || r.peer == "minimal" || r.peer == "memory" {
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

// summarize groups results by topology and peer, and orders the
// topologies as the issue does (peers stay in the order they ran).
func summarize(results []result) []*topology {
	var tops []*topology
	byName := map[string]*topology{}
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
		}
		r.samples = append(r.samples, res.metrics)
	}
	slices.SortStableFunc(tops, func(a, b *topology) int { return order(a.name) - order(b.name) })
	return tops
}

// topologyOrder is the order of the document's sections: the issue's.
var topologyOrder = []string{"SPSC", "MPSC", "Multicast", "Pipeline", "Diamond", "WorkerPool", "PingPong", "IngestClients", "IngestDurability", "Recovery"}

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

// medianInterval is the distribution-free confidence interval of the
// median of vs, between two order statistics (as benchstat computes it):
// the narrowest [x(k), x(n+1-k)] whose confidence is at least 95%, or, with
// too few values for 95% (n < 6), the range of them, with the confidence
// it has. conf is 0 for fewer than two values.
func medianInterval(vs []float64) (lo, hi, conf float64) {
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n < 2 {
		return math.NaN(), math.NaN(), 0
	}
	// c(k) = 1 - 2 P(B <= k-1), B ~ Binomial(n, 1/2).
	cdf := func(k int) float64 { // P(B <= k)
		p, term := 0.0, math.Pow(0.5, float64(n))
		for i := 0; i <= k; i++ {
			p += term
			term = term * float64(n-i) / float64(i+1)
		}
		return p
	}
	k := 1
	for k+1 <= n/2 && 1-2*cdf(k) >= 0.95 {
		k++
	}
	return s[k-1], s[n-k], 1 - 2*cdf(k-1)
}

// pairedRatios returns num[k]/den[k] for the runs both rows have, by
// round: for the speed-up, num is the baseline's ns/op and den the row's.
func pairedRatios(num, den *row, unit string) []float64 {
	var out []float64
	for k := 0; k < len(num.samples) && k < len(den.samples); k++ {
		a, okA := num.samples[k][unit]
		b, okB := den.samples[k][unit]
		if okA && okB && b > 0 {
			out = append(out, a/b)
		}
	}
	return out
}

// speedup is the median of the row's speed-ups over base, paired by
// round, with their interval.
func speedup(base, r *row) (k, lo, hi float64) {
	if base == nil || r == nil {
		return math.NaN(), math.NaN(), math.NaN()
	}
	rs := pairedRatios(base, r, "ns/op")
	lo, hi, _ = medianInterval(rs)
	return median(rs), lo, hi
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

// interval formats an interval "lo–hi", or "—".
func interval(lo, hi float64) string {
	if math.IsNaN(lo) || math.IsNaN(hi) {
		return "—"
	}
	return num(lo) + "–" + num(hi)
}

// percentileUnits are the PingPong latency metrics.
var percentileUnits = []string{"p50-ns", "p99-ns", "p99.9-ns"}

func render(w io.Writer, tops []*topology, m machineInfo) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("# Benchmarks\n\n")
	p("Generated by `scripts/bench.sh` from one run of the suite in `disruptor/*_bench_test.go`; do not edit by hand.\n\n")
	p("How it was measured: the suite's test binary is built once and every case (one variant of one topology)\n")
	p("runs on its own, once per round, all cases in each round, so each disruptor row has its channel baseline\n")
	p("in the same round. During every run the CPU used by the rest of the machine (`/proc/stat` busy and stolen\n")
	p("time minus the run's own CPU time) is recorded; a run above the threshold is rerun after the machine is\n")
	p("quiet again, and one still noisy after the reruns is kept and counted in the *noisy* column. Figures are\n")
	p("medians over the rounds, with the distribution-free confidence interval of the median between two order\n")
	p("statistics (95%%, or the range of the runs when there are fewer than 6: 94%% for 5). \"× channel\" is the\n")
	p("median of the per-round ratios of the channel baseline's ns/op to the row's (higher is faster), with its\n")
	p("interval. *events/wakeup* is the average batch the disruptor's processors handled per wake-up, from\n")
	p("their own counts. One op is one event through the whole topology (PingPong: one round trip).\n")
	p("The HTTP sections (from `cmd/badbatch`) run a real `badbatch server` process: IngestClients compares\n")
	p("`badbatch bench` with a minimal load generator; IngestDurability publishes through that generator into a\n")
	p("memory disruptor and journaled ones (sync=interval, sync=always) of one server, one op per event, \"× memory\"\n")
	p("being the per-round ratio of events/s; Recovery times a server's start, from exec to the first answer\n")
	p("showing every event of a journaled disruptor recovered (*others-%%* is the CPU others used during it).\n\n")
	p("## Machine, command and quietness\n\n")
	p("| | |\n|---|---|\n")
	p("| nproc | %s |\n| CPU | %s |\n| Go | %s |\n", orDash(m.NProc), orDash(m.CPU), orDash(m.GoVersion))
	renderQuiet(w, tops, m.Quiet)
	p("\n```sh\n%s\n```\n\n", m.Command)
	p("## Targets\n\n")
	renderTargets(w, tops)
	for _, t := range tops {
		p("## %s\n\n", t.name)
		switch {
		case hasUnit(t, percentileUnits[0]):
			renderLatency(w, t)
		case hasUnit(t, "s/start"):
			renderStarts(w, t)
		default:
			renderThroughput(w, t)
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

// renderQuiet writes the quietness rows of the machine table.
func renderQuiet(w io.Writer, tops []*topology, verdict string) {
	var all []float64
	runs, noisy := 0, 0
	for _, t := range tops {
		for _, r := range t.rows {
			all = append(all, r.values("noise-cores")...)
			runs += r.runs()
			noisy += r.noisy()
		}
	}
	if len(all) == 0 {
		fmt.Fprintf(w, "| quietness | not recorded (raw `go test -bench` output) |\n")
		return
	}
	fmt.Fprintf(w, "| CPU used by other processes during a run | median %s cores, worst %s cores, over %d runs; %d kept noisy |\n",
		num3(median(all)), num3(slices.Max(all)), runs, noisy)
	if verdict != "" {
		fmt.Fprintf(w, "| the run's verdict | %s |\n", strings.ReplaceAll(strings.TrimSpace(verdict), "\n", "; "))
	}
}

// num3 formats a small quantity (cores) with three decimals.
func num3(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }

func renderThroughput(w io.Writer, t *topology) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	base := t.baseline()
	// The HTTP clients report what they achieved (events/s) and have no
	// processors; the ring topologies report events per wake-up.
	extra, vs := "events/wakeup", "× channel"
	if hasUnit(t, "events/s") {
		extra, vs = "events/s", "× baseline"
		if base != nil {
			vs = "× " + base.peer
		}
	}
	p("| peer | ns/op | interval | %s | interval | %s | allocs/op | runs | noisy | worst noise (cores) |\n", vs, extra)
	p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range t.rows {
		lo, hi, _ := medianInterval(r.values("ns/op"))
		k, klo, khi := speedup(base, r)
		if extra == "events/s" && base != nil {
			rs := pairedRatios(r, base, "events/s")
			klo, khi, _ = medianInterval(rs)
			k = median(rs)
		}
		p("| %s | %s | %s | %s | %s | %s | %s | %d | %d | %s |\n", orDash(r.peer), num(r.median("ns/op")), interval(lo, hi),
			num(k), interval(klo, khi), rate(r.median(extra), extra), num(r.median("allocs/op")),
			r.runs(), r.noisy(), worstNoise(r))
	}
}

// rate formats an events/s figure in millions, other units with num.
func rate(v float64, unit string) string {
	if unit != "events/s" || math.IsNaN(v) {
		return num(v)
	}
	return num(v/1e6) + "M"
}

// renderStarts writes a table of server starts (BenchmarkRecovery): the
// seconds from exec to a recovered answer.
func renderStarts(w io.Writer, t *topology) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("| peer | events | seconds to a recovered answer | interval | others-%% (median) | runs | noisy | worst noise (cores) |\n")
	p("|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range t.rows {
		lo, hi, _ := medianInterval(r.values("s/start"))
		p("| %s | %s | %s | %s | %s | %d | %d | %s |\n", orDash(r.peer), count(r.median("events")), num(r.median("s/start")),
			interval(lo, hi), num(r.median("others-%")), r.runs(), r.noisy(), worstNoise(r))
	}
}

// count formats a count of events: 1M, 10k, 0.
func count(v float64) string {
	switch {
	case math.IsNaN(v):
		return "—"
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'g', 3, 64) + "M"
	case v >= 1e3:
		return strconv.FormatFloat(v/1e3, 'g', 3, 64) + "k"
	default:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
}

func renderLatency(w io.Writer, t *topology) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("| peer | p50 ns | interval | p99 ns | interval | p99.9 ns | interval | mean ns/op | allocs/op | runs | noisy | worst noise (cores) |\n")
	p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range t.rows {
		p("| %s |", orDash(r.peer))
		for _, u := range percentileUnits {
			lo, hi, _ := medianInterval(r.values(u))
			p(" %s | %s |", num(r.median(u)), interval(lo, hi))
		}
		p(" %s | %s | %d | %d | %s |\n", num(r.median("ns/op")), num(r.median("allocs/op")), r.runs(), r.noisy(), worstNoise(r))
	}
}

func worstNoise(r *row) string {
	vs := r.values("noise-cores")
	if len(vs) == 0 {
		return "—"
	}
	return num3(slices.Max(vs))
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func hasUnit(t *topology, unit string) bool {
	for _, r := range t.rows {
		if len(r.values(unit)) > 0 {
			return true
		}
	}
	return false
}
