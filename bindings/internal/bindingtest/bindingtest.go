// Package bindingtest is the shared harness of the bindings' tests: it
// builds the C library with the go command, finds the C compiler and a
// Python with pytest, and measures how busy the machine was while a
// benchmark ran. (internal/proctest builds and runs the server.)
package bindingtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/badbatch/badbatch/internal/proctest"
)

// BuildTimeout bounds one go build: a cold cache on a loaded 2-core
// machine compiles the runtime again for -asan or cgocheck2.
const BuildTimeout = 10 * time.Minute

// CC returns the C compiler (cc, else gcc), or skips the test when there
// is none.
func CC(tb testing.TB) string {
	tb.Helper()
	for _, name := range []string{"cc", "gcc"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	tb.Skip("no C compiler (cc or gcc) on PATH: install gcc (apt-get install -y gcc) to run the C binding's tests")
	return ""
}

// Library builds the C binding as a library in dir with go build and
// returns its path: mode is "c-shared" (libbadbatch.so) or "c-archive"
// (libbadbatch.a). flags go to go build (such as -asan); env is added to
// its environment (such as GOEXPERIMENT=cgocheck2).
func Library(tb testing.TB, dir, mode string, flags, env []string) string {
	tb.Helper()
	CC(tb) // cgo needs it
	name := map[string]string{"c-shared": "libbadbatch.so", "c-archive": "libbadbatch.a"}[mode]
	if name == "" {
		tb.Fatalf("build mode %q", mode)
	}
	out := filepath.Join(dir, name)
	Track(tb, "bindings/c")
	args := append([]string{"build", "-buildmode=" + mode}, flags...)
	args = append(args, "-o", out, "github.com/badbatch/badbatch/bindings/c")
	Go(tb, env, args...)
	return out
}

// Track reads every file in dirs (relative to the module's root, not
// recursively), so that go test's cache, which notes the files a test
// opens, reruns the test when one of them changes: the programs a test
// builds with go build, or feeds to pytest or node, are inputs the test
// binary's own dependencies do not cover. (The packages they import are
// covered by importing them into the test.)
func Track(tb testing.TB, dirs ...string) {
	tb.Helper()
	root := proctest.ModuleRoot(tb)
	for _, d := range dirs {
		entries, err := os.ReadDir(filepath.Join(root, d))
		if err != nil {
			tb.Fatal(err)
		}
		for _, e := range entries {
			if e.Type().IsRegular() {
				if _, err := os.ReadFile(filepath.Join(root, d, e.Name())); err != nil {
					tb.Fatal(err)
				}
			}
		}
	}
}

// Go runs the go command with args, and env added to the environment.
func Go(tb testing.TB, env []string, args ...string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), BuildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goCommand(), args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	cmd.Env = append(cmd.Env, env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// goCommand is the go command of this test run: go test puts its own
// GOROOT's bin first on PATH for the tests it runs.
func goCommand() string { return "go" }

// Run runs a program with a timeout and returns its combined output,
// failing the test when it fails.
func Run(tb testing.TB, timeout time.Duration, env []string, name string, args ...string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		tb.Fatalf("%s %s: no answer within %v\n%s", filepath.Base(name), strings.Join(args, " "), timeout, out)
	}
	if err != nil {
		tb.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Output runs a command and returns its standard output, failing the
// test when it fails.
func Output(tb testing.TB, name string, args ...string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		tb.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return string(out)
}

// Python returns a python3 that has pytest: the first python3 on PATH,
// else Debian's /usr/bin/python3. It skips the test when neither has it.
func Python(tb testing.TB) string {
	tb.Helper()
	var tried []string
	for _, name := range []string{"python3", "/usr/bin/python3"} {
		p, err := exec.LookPath(name)
		if err != nil {
			tried = append(tried, name+": not found")
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, err := exec.CommandContext(ctx, p, "-m", "pytest", "--version").CombinedOutput()
		cancel()
		if err == nil {
			return p
		}
		tried = append(tried, fmt.Sprintf("%s: %s", p, firstLine(out)))
	}
	tb.Skipf("no python3 with pytest (%s): install python3-pytest (apt-get install -y python3-pytest) to run the Python binding's tests", strings.Join(tried, "; "))
	return ""
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}

// Load measures the CPU time that other processes used while a benchmark
// ran, from /proc/stat (all CPUs) less this process's and its waited-for
// children's from /proc/self/stat.
type Load struct {
	busy0, self0 float64
	wall0        time.Time
}

// StartLoad starts a measurement; it returns nil where /proc is missing.
func StartLoad() *Load {
	busy, err := machineBusy()
	if err != nil {
		return nil
	}
	self, err := selfCPU()
	if err != nil {
		return nil
	}
	return &Load{busy0: busy, self0: self, wall0: time.Now()}
}

// Others returns the share of the machine's CPUs, in percent, that other
// processes kept busy since StartLoad (0 on an idle machine; 100 means
// every core was busy with other work the whole time).
func (l *Load) Others() float64 {
	if l == nil {
		return -1
	}
	busy, err1 := machineBusy()
	self, err2 := selfCPU()
	wall := time.Since(l.wall0).Seconds()
	if err1 != nil || err2 != nil || wall <= 0 {
		return -1
	}
	other := (busy - l.busy0) - (self - l.self0)
	return max(0, 100*other/(wall*float64(runtime.NumCPU())))
}

// machineBusy is the CPU seconds all CPUs spent not idle, from /proc/stat.
func machineBusy() (float64, error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, errors.New("empty /proc/stat")
	}
	fields := strings.Fields(sc.Text()) // cpu user nice system idle iowait irq softirq steal ...
	if len(fields) < 8 || fields[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: %q", sc.Text())
	}
	var busy float64
	for i, f := range fields[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 8 { // guest time is counted in user already
			break
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return 0, err
		}
		busy += v
	}
	return busy / clockTicks, nil
}

// selfCPU is this process's CPU seconds, with its waited-for children's.
func selfCPU() (float64, error) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: skip past it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("/proc/self/stat: no command")
	}
	fields := strings.Fields(string(b[i+1:]))
	// fields[0] is field 3 (state); utime, stime, cutime, cstime are 14-17.
	if len(fields) < 15 {
		return 0, errors.New("/proc/self/stat: short")
	}
	var sum float64
	for _, f := range fields[11:15] {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return 0, err
		}
		sum += v
	}
	return sum / clockTicks, nil
}

// clockTicks is USER_HZ, 100 on every Linux that Go supports.
const clockTicks = 100
