// Command benchfig writes the "Measured figures" section of
// docs/bindings.md from the raw output of bindings/bench.sh (the C API's
// and the Python package's benchmarks, `go test -bench` lines): for every
// benchmark the median of its runs with the 95% confidence interval of
// the median (golang.org/x/perf/benchmath, as benchstat computes them),
// events per wake-up, and the CPU other processes used meanwhile; the cost
// of the cgo crossing (C API against the same core from Go); and the
// Python target, judged on the medians and on the intervals' ends.
//
//	go run ./bindings/internal/benchfig -c bench-results/bindings/c.txt \
//		-python bench-results/bindings/python.txt -doc docs/bindings.md
//
// It replaces the text between the markers "<!-- benchfig: begin -->"
// and "<!-- benchfig: end -->" in -doc (or prints the section without
// -doc). bench.sh runs it after the benchmarks.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/perf/benchmath"
)

const (
	beginMarker = "<!-- benchfig: begin -->"
	endMarker   = "<!-- benchfig: end -->"
	// target is the issue's: the best Python variant at batch 64 at least
	// this many times queue.SimpleQueue's events/s.
	target = 3.0
)

func main() {
	cPath := flag.String("c", "", "raw output of the C API's benchmarks (bindings/c)")
	pyPath := flag.String("python", "", "raw output of the Python benchmarks (bindings/python)")
	docPath := flag.String("doc", "", "the document to update between its markers (default: print the section)")
	cmd := flag.String("cmd", "bindings/bench.sh", "the command that made the raw output")
	pyVersion := flag.String("python-version", "", "the Python that ran the Python benchmarks")
	flag.Parse()
	var in inputs
	in.cmd, in.pyVersion = *cmd, *pyVersion
	in.goVersion = runtime.Version()
	in.nproc = runtime.NumCPU()
	for _, f := range []struct {
		path string
		dst  *[]*bench
	}{{*cPath, &in.c}, {*pyPath, &in.py}} {
		if f.path == "" {
			continue
		}
		data, err := os.ReadFile(f.path)
		if err != nil {
			log.Fatal(err)
		}
		bs, cpu := parse(bytes.NewReader(data))
		*f.dst = bs
		if cpu != "" {
			in.cpu = cpu
		}
	}
	var out bytes.Buffer
	render(&out, &in)
	if *docPath == "" {
		os.Stdout.Write(out.Bytes())
		return
	}
	doc, err := os.ReadFile(*docPath)
	if err != nil {
		log.Fatal(err)
	}
	updated, err := splice(doc, out.Bytes())
	if err != nil {
		log.Fatalf("%s: %v", *docPath, err)
	}
	if err := os.WriteFile(*docPath, updated, 0o644); err != nil {
		log.Fatal(err)
	}
}

// bench is one benchmark's runs: every metric's values, by unit.
type bench struct {
	name   string // without the GOMAXPROCS suffix
	values map[string][]float64
}

var (
	benchLine = regexp.MustCompile(`^Benchmark(\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)
	cpuLine   = regexp.MustCompile(`^cpu:\s*(.*)$`)
)

// parse reads `go test -bench` output: the benchmarks in the order first
// seen, and the cpu line.
func parse(r io.Reader) ([]*bench, string) {
	var bs []*bench
	byName := map[string]*bench{}
	cpu := ""
	s := bufio.NewScanner(r)
	for s.Scan() {
		line := s.Text()
		if m := cpuLine.FindStringSubmatch(line); m != nil {
			cpu = strings.TrimSpace(m[1])
			continue
		}
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		b := byName[m[1]]
		if b == nil {
			b = &bench{name: m[1], values: map[string][]float64{}}
			byName[m[1]] = b
			bs = append(bs, b)
		}
		f := strings.Fields(m[2])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			b.values[f[i+1]] = append(b.values[f[i+1]], v)
		}
	}
	return bs, cpu
}

// summary is the median of unit's values and its 95% interval.
func (b *bench) summary(unit string) (benchmath.Summary, bool) {
	v := b.values[unit]
	if len(v) == 0 {
		return benchmath.Summary{}, false
	}
	return benchmath.AssumeNothing.Summary(benchmath.NewSample(v, &benchmath.DefaultThresholds), 0.95), true
}

func (b *bench) runs() int { return len(b.values["ns/op"]) }

// maxOf is the largest of unit's values.
func (b *bench) maxOf(unit string) float64 {
	if len(b.values[unit]) == 0 {
		return 0
	}
	return slices.Max(b.values[unit])
}

type inputs struct {
	c, py                     []*bench
	cpu, goVersion, pyVersion string
	cmd                       string
	nproc                     int
}

func find(bs []*bench, name string) *bench {
	for _, b := range bs {
		if b.name == name {
			return b
		}
	}
	return nil
}

// si formats a rate: 3.19M.
func si(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.3gG", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.3gk", v/1e3)
	}
	return fmt.Sprintf("%.3g", v)
}

// interval is "lo–hi" of a summary, formatted by f.
func interval(s benchmath.Summary, f func(float64) string) string {
	return f(s.Lo) + "–" + f(s.Hi)
}

// ns formats nanoseconds to 3 significant digits, never in e-notation.
func ns(v float64) string {
	if v >= 1000 || v <= -1000 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// quietness is the other processes' CPU during b's runs: median and most.
func quietness(b *bench) string {
	s, ok := b.summary("other-cpu-%")
	if !ok {
		return "?"
	}
	return fmt.Sprintf("%.1f (≤ %.1f)", s.Center, b.maxOf("other-cpu-%"))
}

func render(w io.Writer, in *inputs) {
	fmt.Fprintln(w, beginMarker)
	fmt.Fprintf(w, "Made by `%s` (which writes this section with `go run ./bindings/internal/benchfig`), on %d CPUs (%s), %s",
		in.cmd, in.nproc, orUnknown(in.cpu), in.goVersion)
	if in.pyVersion != "" {
		fmt.Fprintf(w, ", %s", in.pyVersion)
	}
	fmt.Fprintln(w, ". Every figure is the median of the runs (each a separate process), with the 95% confidence interval of the median beside it (benchstat's); other-cpu-% is the share of the machine that other processes used during a run (median, and the most in any run; /proc/stat counts in 10 ms ticks, so a run of a few milliseconds can show a large share from one tick): figures from runs with more than a few percent are from a busy machine and worth less.")
	fmt.Fprintln(w)
	if len(in.c) > 0 {
		renderC(w, in.c)
	}
	if len(in.py) > 0 {
		renderPython(w, in.py)
	}
	fmt.Fprintln(w, endMarker)
}

func orUnknown(s string) string {
	if s == "" {
		return "CPU unknown"
	}
	return s
}

// busyShare is the median other-cpu-% above which a section says its
// figures are from a busy machine.
const busyShare = 5.0

// busyWarning says so when any benchmark of bs ran, by its median, on a
// machine busier than busyShare.
func busyWarning(w io.Writer, bs []*bench) {
	worst, name := 0.0, ""
	for _, b := range bs {
		if s, ok := b.summary("other-cpu-%"); ok && s.Center > worst {
			worst, name = s.Center, b.name
		}
	}
	if worst > busyShare {
		fmt.Fprintf(w, "**From a busy machine**: other processes used a median of up to %.0f%% of it during these runs (%s), so these figures are not quiet ones; `bindings/bench.sh` (with a longer WAIT) on a quiet machine replaces them.\n\n", worst, name)
	}
}

func renderC(w io.Writer, bs []*bench) {
	fmt.Fprintln(w, "### C")
	fmt.Fprintln(w)
	busyWarning(w, bs)
	fmt.Fprintln(w, "One C thread publishes 32-byte events (`yielding` wait) to one C callback consumer, in claims of 1 and of 64: `claim` is `bb_next_n`, writing the slots in place, `bb_publish_range`; `copy` is `bb_publish_copy` / `bb_publish_many`. Beside it, the same core driven from Go (no cgo crossing) and a buffered Go channel (one send and receive per event).")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| benchmark | events/s | 95% interval | ns/event | events/wake-up | runs | other-cpu-% |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, b := range bs {
		eps, ok := b.summary("events/s")
		if !ok {
			continue
		}
		nsop, _ := b.summary("ns/op")
		epb := "–"
		if s, ok := b.summary("events/batch"); ok {
			epb = fmt.Sprintf("%.0f", s.Center)
		}
		fmt.Fprintf(w, "| %s | **%s** | %s | %s | %s | %d | %s |\n", b.name, si(eps.Center), interval(eps, si), ns(nsop.Center), epb, b.runs(), quietness(b))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "The crossing's cost, from the medians (C API minus Go, same API and batch): per event, and per call of the API (one call per batch):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| API | batch | C API ns/event | Go ns/event | crossing per event | per call |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, api := range []string{"claim", "copy"} {
		for _, batch := range []int{1, 64} {
			suffix := fmt.Sprintf("%s/batch=%d", api, batch)
			c, g := find(bs, "CAPI/"+suffix), find(bs, "Go/"+suffix)
			if c == nil || g == nil {
				continue
			}
			cs, _ := c.summary("ns/op")
			gs, _ := g.summary("ns/op")
			d := cs.Center - gs.Center
			fmt.Fprintf(w, "| %s | %d | %s | %s | %s ns | %s ns |\n", api, batch, ns(cs.Center), ns(gs.Center), ns(d), ns(d*float64(batch)))
		}
	}
	fmt.Fprintln(w)
}

// pyVariants are the Python benchmark's variants, with what each is.
var pyVariants = []struct{ name, what string }{
	{"disruptor-callback", "`publish`/`publish_many` of bytes; a handler gets a list of bytes per batch"},
	{"disruptor-poller", "the same; a thread iterates a poller's lists"},
	{"packed-callback", "`publish_packed` of one buffer per batch; a handler gets a `Batch` (a bytes copy)"},
	{"packed-poller", "the same; a thread iterates `raw_batches()`"},
	{"view-callback", "`publish_packed`; a handler gets a view `Batch` (`view=True`: memoryviews, no allocation)"},
	{"view-poller", "`publish_packed`; a thread iterates `views()`"},
	{"simplequeue", "`queue.SimpleQueue`: a put and a get per event"},
	{"simplequeue-lists", "`queue.SimpleQueue` of lists: a put and a get per batch"},
	{"deque", "`collections.deque` + `threading.Condition`: extend by a batch, take all present"},
}

func renderPython(w io.Writer, bs []*bench) {
	fmt.Fprintln(w, "### Python")
	fmt.Fprintln(w)
	busyWarning(w, bs)
	fmt.Fprintln(w, "One Python thread publishes 16-byte events to one consumer (a handler on the library's thread, or a second Python thread), 1M events a run, the ring 65536 slots, `blocking` wait, `producer=\"single\"`; `badbatch.bench` times from the first publish until the consumer has the last event. The disruptor's consumers check every event: each batch's first sequence is the next one, and its bytes and lengths are exactly those published (a list compared with the published list; a batch's buffer compared with the published bytes in one memcmp), so a lost, repeated, reordered or damaged event fails the run. The queues' consumers take every item and count (they are the baseline, unburdened).")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| batch | variant | events/s | 95% interval | ns/event | × SimpleQueue | events/wake-up | runs | other-cpu-% |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	for _, batch := range []int{1, 64} {
		base := find(bs, fmt.Sprintf("Python/batch=%d/simplequeue", batch))
		var baseEPS float64
		if base != nil {
			s, _ := base.summary("events/s")
			baseEPS = s.Center
		}
		for _, v := range pyVariants {
			b := find(bs, fmt.Sprintf("Python/batch=%d/%s", batch, v.name))
			if b == nil {
				continue
			}
			eps, _ := b.summary("events/s")
			nsop, _ := b.summary("ns/op")
			ratio := "–"
			if baseEPS > 0 {
				ratio = fmt.Sprintf("%.2f×", eps.Center/baseEPS)
			}
			epw := "–"
			if s, ok := b.summary("events/wakeup"); ok {
				epw = fmt.Sprintf("%.0f", s.Center)
			}
			fmt.Fprintf(w, "| %d | %s | **%s** | %s | %s | %s | %s | %d | %s |\n", batch, v.name, si(eps.Center), interval(eps, si), ns(nsop.Center), ratio, epw, b.runs(), quietness(b))
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "The variants:")
	fmt.Fprintln(w)
	for _, v := range pyVariants {
		fmt.Fprintf(w, "- `%s`: %s.\n", v.name, v.what)
	}
	fmt.Fprintln(w)
	verdict(w, bs)
}

// verdict judges the target: the best disruptor variant at batch 64
// against queue.SimpleQueue at batch 64.
func verdict(w io.Writer, bs []*bench) {
	base := find(bs, "Python/batch=64/simplequeue")
	if base == nil {
		return
	}
	bs64, _ := base.summary("events/s")
	var best *bench
	var bestS benchmath.Summary
	for _, v := range pyVariants {
		if strings.HasPrefix(v.name, "simplequeue") || v.name == "deque" {
			continue
		}
		b := find(bs, "Python/batch=64/"+v.name)
		if b == nil {
			continue
		}
		if s, _ := b.summary("events/s"); best == nil || s.Center > bestS.Center {
			best, bestS = b, s
		}
	}
	if best == nil || bs64.Center == 0 {
		return
	}
	ratio := bestS.Center / bs64.Center
	worst := bestS.Lo / bs64.Hi
	met := "**met**"
	switch {
	case ratio < target:
		met = "**missed**"
	case worst < target:
		met = "**met on the medians**, though not at the intervals' ends"
	}
	name := strings.TrimPrefix(best.name, "Python/batch=64/")
	fmt.Fprintf(w, "**Target** (≥ %.0f× `queue.SimpleQueue` at batch 64): %s. The best variant, `%s`, moves %s events/s against SimpleQueue's %s: %.2f× on the medians, %.2f× from its interval's low end against SimpleQueue's high end.\n",
		target, met, name, si(bestS.Center), si(bs64.Center), ratio, worst)
	for _, v := range []string{"disruptor-callback", "disruptor-poller"} {
		if b := find(bs, "Python/batch=64/"+v); b != nil {
			s, _ := b.summary("events/s")
			fmt.Fprintf(w, "With a bytes object per event on both sides, `%s` is %.2f×.\n", v, s.Center/bs64.Center)
		}
	}
	fmt.Fprintln(w)
}

// splice replaces the section between the markers in doc.
func splice(doc, section []byte) ([]byte, error) {
	i := bytes.Index(doc, []byte(beginMarker))
	j := bytes.Index(doc, []byte(endMarker))
	if i < 0 || j < i {
		return nil, fmt.Errorf("no %q … %q markers", beginMarker, endMarker)
	}
	j += len(endMarker)
	if j < len(doc) && doc[j] == '\n' {
		j++
	}
	var out bytes.Buffer
	out.Write(doc[:i])
	out.Write(section)
	out.Write(doc[j:])
	return out.Bytes(), nil
}
