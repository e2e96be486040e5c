package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// runConfig is what `benchdoc run` does: build the package's test binary
// once, list its benchmark cases, and run them in interleaved rounds (every
// case once per round, in the suite's order, so a channel baseline always
// runs beside the disruptor rows of its topology), measuring for each run
// the CPU the rest of the machine used meanwhile and rerunning a run when
// that exceeds the threshold.
type runConfig struct {
	pkg, bench, benchtime string
	count                 int
	threshold             float64       // cores of others' CPU a run may see
	retries               int           // reruns of a noisy run before keeping it, marked
	pause                 time.Duration // between quiet probes
	quietWait             time.Duration // longest wait for a quiet machine, before the first round and before each rerun
	probe                 time.Duration // length of a quiet probe
	out                   string        // directory for the results
	stat                  string        // the /proc/stat to read
	logw                  io.Writer
	// sample reads the machine's CPU counters; nil means readCPU(stat).
	sample func() (cpuTimes, error)
	// bins, when set, are test binaries built beforehand, to compare (an
	// A/B of two builds): every case runs once per binary per round, and
	// each binary's kept runs go to raw-<label>.txt. pkg is not built.
	bins []labeledBin
}

// labeledBin is a test binary of -bin label=path, and the directory it
// runs in (its package's, as under go test; "" is the current one).
type labeledBin struct{ label, path, dir string }

// binFlags collects -bin flags.
type binFlags []labeledBin

func (b *binFlags) String() string { return fmt.Sprint(*b) }

func (b *binFlags) Set(v string) error {
	label, path, ok := strings.Cut(v, "=")
	if !ok || label == "" || path == "" {
		return fmt.Errorf("want label=path, got %q", v)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	*b = append(*b, labeledBin{label: label, path: abs})
	return nil
}

func (c *runConfig) readCPU() (cpuTimes, error) {
	if c.sample != nil {
		return c.sample()
	}
	return readCPU(c.stat)
}

func runMain(args []string) {
	var c runConfig
	fs := flag.NewFlagSet("benchdoc run", flag.ExitOnError)
	fs.StringVar(&c.pkg, "pkg", "./disruptor/", "package whose benchmarks to run")
	fs.StringVar(&c.bench, "bench", ".", "benchmark pattern (-test.bench)")
	fs.StringVar(&c.benchtime, "benchtime", "300ms", "-test.benchtime of each run")
	fs.IntVar(&c.count, "count", 6, "rounds: runs of every case, interleaved")
	fs.Float64Var(&c.threshold, "threshold", 0.05, "most CPU, in cores, the rest of the machine may use during a run")
	fs.IntVar(&c.retries, "retries", 3, "reruns of a run that was not quiet, before it is kept and marked")
	fs.DurationVar(&c.pause, "pause", 30*time.Second, "pause between quiet probes when the machine is busy")
	fs.DurationVar(&c.quietWait, "quiet-wait", 30*time.Minute, "longest wait for a quiet machine before the first round and before each rerun")
	fs.DurationVar(&c.probe, "probe", 2*time.Second, "length of a quiet probe")
	fs.StringVar(&c.out, "out", "bench-results", "directory for raw.txt (kept runs), noisy.txt (rerun ones) and quiet.txt (the verdict)")
	fs.StringVar(&c.stat, "proc-stat", "/proc/stat", "the machine's CPU counters")
	fs.Var((*binFlags)(&c.bins), "bin", "`label=path` of a prebuilt test binary to run instead of building -pkg (repeat to compare builds)")
	_ = fs.Parse(args)
	c.logw = os.Stderr
	quiet, err := c.run()
	if err != nil {
		log.Fatal(err)
	}
	if !quiet {
		os.Exit(3) // ran, but not quietly: the caller decides what to do with it
	}
}

// benchCase is one benchmark to run on its own: its name as reported
// (without "Benchmark" and the -GOMAXPROCS suffix) and the -test.bench
// pattern that selects exactly it.
type benchCase struct {
	name, pattern string
}

// casePattern anchors every element of a benchmark name, so that
// "SPSC/disruptor/busy_spin" matches neither "SPSC/disruptor_batch/busy_spin"
// nor a longer name.
func casePattern(name string) string {
	parts := strings.Split("Benchmark"+name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// listCases returns the cases of a `-benchtime=1x` run's output, in order.
func listCases(out []byte) []benchCase {
	var cases []benchCase
	seen := map[string]bool{}
	results, _ := parse(bytes.NewReader(out))
	for _, r := range results {
		if !seen[r.name] {
			seen[r.name] = true
			cases = append(cases, benchCase{name: r.name, pattern: casePattern(r.name)})
		}
	}
	return cases
}

func (c *runConfig) logf(format string, args ...any) {
	fmt.Fprintf(c.logw, "benchdoc: "+format+"\n", args...)
}

// run does it all and reports whether every kept run was quiet.
func (c *runConfig) run() (bool, error) {
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return false, err
	}
	bins := c.bins
	if len(bins) == 0 {
		bin, err := filepath.Abs(filepath.Join(c.out, "bench.test"))
		if err != nil {
			return false, err
		}
		c.logf("building %s", c.pkg)
		if out, err := exec.Command("go", "test", "-c", "-o", bin, c.pkg).CombinedOutput(); err != nil {
			return false, fmt.Errorf("benchdoc: go test -c: %v\n%s", err, out)
		}
		// Test binaries run in their package's directory, as go test
		// runs them (tests find their testdata, or build from there).
		dir, err := exec.Command("go", "list", "-f", "{{.Dir}}", c.pkg).Output()
		if err != nil {
			return false, fmt.Errorf("benchdoc: go list %s: %w", c.pkg, err)
		}
		bins = []labeledBin{{path: bin, dir: strings.TrimSpace(string(dir))}}
	}
	// The cases: every binary's, in the first one's order, then the
	// others' own; each case runs on the binaries that have it.
	var cases []benchCase
	var list []byte
	has := map[string]map[int]bool{}
	for i, b := range bins {
		lc := exec.Command(b.path, "-test.run=^$", "-test.bench="+c.bench, "-test.benchtime=1x")
		lc.Dir = b.dir
		out, err := lc.Output()
		if err != nil {
			return false, fmt.Errorf("benchdoc: listing the benchmarks of %s: %w", b.path, err)
		}
		if i == 0 {
			list = out
		}
		for _, bc := range listCases(out) {
			if has[bc.name] == nil {
				has[bc.name] = map[int]bool{}
				cases = append(cases, bc)
			}
			has[bc.name][i] = true
		}
	}
	if len(cases) == 0 {
		return false, fmt.Errorf("benchdoc: no benchmark matches %q", c.bench)
	}
	c.logf("%d cases × %d rounds × %d binaries, -benchtime=%s, quiet means < %.3f cores used by others",
		len(cases), c.count, len(bins), c.benchtime, c.threshold)

	raws := make([]*os.File, len(bins))
	for i, b := range bins {
		name := "raw.txt"
		if b.label != "" {
			name = "raw-" + b.label + ".txt"
		}
		f, err := os.Create(filepath.Join(c.out, name))
		if err != nil {
			return false, err
		}
		defer f.Close()
		fmt.Fprintf(f, "# benchdoc run: -pkg %s -bench %s -benchtime %s -count %d -threshold %g %s\n", c.pkg, c.bench, c.benchtime, c.count, c.threshold, b.label)
		fmt.Fprint(f, headerLines(list))
		raws[i] = f
	}
	noisy, err := os.Create(filepath.Join(c.out, "noisy.txt"))
	if err != nil {
		return false, err
	}
	defer noisy.Close()

	if q, err := c.waitQuiet(); err != nil {
		return false, err
	} else if !q {
		c.logf("no quiet window in %v: going on, every noisy run will be marked", c.quietWait)
	}
	var kept, marked, reruns int
	var worst float64
	for round := 1; round <= c.count; round++ {
		for _, bc := range cases {
			for bi, bin := range bins {
				if !has[bc.name][bi] {
					continue
				}
				var lines []string
				var n float64
				for attempt := 0; ; attempt++ {
					lines, n, err = c.runCase(bin, bc)
					if err != nil {
						return false, err
					}
					if n <= c.threshold || attempt == c.retries {
						break
					}
					reruns++
					for _, l := range lines {
						fmt.Fprintf(noisy, "%s\t%.4f noise-cores\t%s\n", l, n, bin.label)
					}
					c.logf("round %d %s %s: others used %.3f cores; rerunning (%d/%d)", round, bc.name, bin.label, n, attempt+1, c.retries)
					if _, err := c.waitQuiet(); err != nil {
						return false, err
					}
				}
				noisyMark := 0
				if n > c.threshold {
					marked++
					noisyMark = 1
				}
				worst = max(worst, n)
				for _, l := range lines {
					kept++
					fmt.Fprintf(raws[bi], "%s\t%.4f noise-cores\t%d noisy\n", l, n, noisyMark)
				}
			}
		}
		c.logf("round %d of %d done", round, c.count)
	}
	verdict := fmt.Sprintf("%d runs kept, %d rerun for noise, %d still noisy after %d reruns (kept and marked); worst noise %.3f cores; threshold %.3f\n",
		kept, reruns, marked, c.retries, worst, c.threshold)
	if err := os.WriteFile(filepath.Join(c.out, "quiet.txt"), []byte(verdict), 0o644); err != nil {
		return false, err
	}
	c.logf("%s", strings.TrimSpace(verdict))
	return marked == 0, nil
}

// headerLines returns the goos/goarch/pkg/cpu lines of a test binary's
// output, which benchstat uses to label its tables.
func headerLines(out []byte) string {
	var b strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		l := sc.Text()
		for _, p := range []string{"goos:", "goarch:", "pkg:", "cpu:"} {
			if strings.HasPrefix(l, p) {
				b.WriteString(l + "\n")
			}
		}
	}
	return b.String()
}

// runCase runs one case once and returns its result lines and the noise
// (others' CPU, in cores) during the run.
func (c *runConfig) runCase(bin labeledBin, bc benchCase) ([]string, float64, error) {
	cmd := exec.Command(bin.path, "-test.run=^$", "-test.bench="+bc.pattern, "-test.benchtime="+c.benchtime, "-test.count=1", "-test.benchmem")
	cmd.Dir = bin.dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	before, err := c.readCPU()
	if err != nil {
		return nil, 0, err
	}
	start := time.Now()
	runErr := cmd.Run()
	wall := time.Since(start)
	after, err := c.readCPU()
	if err != nil {
		return nil, 0, err
	}
	if runErr != nil {
		return nil, 0, fmt.Errorf("benchdoc: %s: %v\n%s", bc.name, runErr, out.Bytes())
	}
	var own time.Duration
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		own = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	// The pattern also selects benchmarks whose names extend this one's
	// by more elements: keep only this one's lines.
	var lines []string
	for _, l := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(l); len(f) >= 4 && strings.HasPrefix(f[0], "Benchmark") {
			_, err := strconv.ParseInt(f[1], 10, 64)
			if err == nil && procsSuffix.ReplaceAllString(strings.TrimPrefix(f[0], "Benchmark"), "") == bc.name {
				lines = append(lines, l)
			}
		}
	}
	if len(lines) == 0 {
		return nil, 0, fmt.Errorf("benchdoc: %s printed no result:\n%s", bc.name, out.Bytes())
	}
	return lines, noise(before, after, own, wall), nil
}

// waitQuiet probes the machine until the rest of it uses less than the
// threshold, pausing between probes, for at most quietWait. It reports
// whether it found it quiet.
func (c *runConfig) waitQuiet() (bool, error) {
	deadline := time.Now().Add(c.quietWait)
	for {
		n, err := c.probeNoise()
		if err != nil {
			return false, err
		}
		if n <= c.threshold {
			return true, nil
		}
		if !time.Now().Before(deadline) {
			return false, nil
		}
		c.logf("machine busy (others use %.2f cores); probing again in %v", n, c.pause)
		time.Sleep(min(c.pause, time.Until(deadline)))
	}
}

// probeNoise measures what the machine uses over one probe, while this
// process sleeps.
func (c *runConfig) probeNoise() (float64, error) {
	before, err := c.readCPU()
	if err != nil {
		return 0, err
	}
	start := time.Now()
	time.Sleep(c.probe)
	after, err := c.readCPU()
	if err != nil {
		return 0, err
	}
	return noise(before, after, 0, time.Since(start)), nil
}
