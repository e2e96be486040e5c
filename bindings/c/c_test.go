package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/badbatch/badbatch/bindings/internal/bindingtest"
	"github.com/badbatch/badbatch/bindings/internal/bytering"
)

// stressEvents is how many events each stress run publishes: the issue's
// 10M, or a fiftieth under -short.
func stressEvents() int {
	if testing.Short() {
		return 200_000
	}
	return 10_000_000
}

// builds caches the libraries and programs built by this test binary, by
// kind, so that each is built once.
var builds struct {
	sync.Mutex
	dir   string
	paths map[string]string
}

func built(t testing.TB, key string, build func(dir string) string) string {
	t.Helper()
	builds.Lock()
	defer builds.Unlock()
	if builds.paths == nil {
		dir, err := os.MkdirTemp("", "bindings-c-test-")
		if err != nil {
			t.Fatal(err)
		}
		builds.dir, builds.paths = dir, map[string]string{}
	}
	if p, ok := builds.paths[key]; ok {
		return p
	}
	dir := filepath.Join(builds.dir, key)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := build(dir)
	builds.paths[key] = p
	return p
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builds.dir != "" {
		os.RemoveAll(builds.dir)
	}
	os.Exit(code)
}

// program builds testdata/<src> against the library built with mode,
// flags and env, with cflags for the compiler.
func program(t testing.TB, src, mode string, flags, env, cflags []string) string {
	t.Helper()
	key := fmt.Sprintf("%s-%s-%s-%s-%s", strings.TrimSuffix(src, ".c"), mode, strings.Join(flags, ""), strings.Join(env, ""), strings.Join(cflags, ""))
	key = regexp.MustCompile(`[^a-zA-Z0-9]+`).ReplaceAllString(key, "_")
	bindingtest.Track(t, "bindings/c/testdata")
	return built(t, key, func(dir string) string {
		lib := bindingtest.Library(t, dir, mode, flags, env)
		exe := filepath.Join(dir, strings.TrimSuffix(src, ".c"))
		args := append([]string{"-O2", "-g", "-Wall", "-Wextra", "-Werror", "-I.", "-o", exe, filepath.Join("testdata", src)}, cflags...)
		if mode == "c-shared" {
			args = append(args, "-L"+dir, "-lbadbatch", "-Wl,-rpath,"+dir, "-lpthread")
		} else {
			args = append(args, lib, "-lpthread", "-ldl", "-lm")
		}
		bindingtest.Run(t, 5*time.Minute, nil, bindingtest.CC(t), args...)
		return exe
	})
}

// cgocheck makes the Go runtime check every pointer passed between Go and
// C (the default, stated so that no environment turns it off).
var cgocheck = []string{"GODEBUG=cgocheck=1"}

func TestCProgram(t *testing.T) {
	n := strconv.Itoa(stressEvents())
	for _, mode := range []string{"c-shared", "c-archive"} {
		t.Run(mode, func(t *testing.T) {
			exe := program(t, "badbatch_test.c", mode, nil, nil, nil)
			for _, args := range [][]string{
				{"errors"},
				{"stress", "1", n, "single", "blocking"},
				{"stress", "4", n, "multi", "blocking"},
				{"stress", "4", n, "multi", "lite_blocking"},
			} {
				t.Run(strings.Join(args, "_"), func(t *testing.T) {
					out := bindingtest.Run(t, 10*time.Minute, cgocheck, exe, args...)
					if !strings.HasPrefix(out, "ok ") {
						t.Fatalf("output: %s", out)
					}
					t.Log(strings.TrimSpace(out))
				})
			}
		})
	}
}

// TestAddressSanitizer runs the C program built with -fsanitize=address,
// leak detection on, against the library built with go build -asan (which
// checks Go's accesses to C memory too). Under -short the library is the
// plain one: -asan rebuilds the runtime, a minute on a cold cache.
func TestAddressSanitizer(t *testing.T) {
	cc := bindingtest.CC(t)
	probe := filepath.Join(t.TempDir(), "probe")
	if err := os.WriteFile(probe+".c", []byte("int main(void){return 0;}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runQuiet(cc, "-fsanitize=address", "-o", probe, probe+".c"); err != nil {
		t.Skipf("%s cannot build with -fsanitize=address (install libasan: apt-get install -y gcc): %s", cc, out)
	}
	var flags []string
	if !testing.Short() {
		flags = []string{"-asan"}
	}
	exe := program(t, "badbatch_test.c", "c-shared", flags, nil, []string{"-fsanitize=address", "-fno-omit-frame-pointer"})
	n := strconv.Itoa(stressEvents() / 10)
	env := append([]string{"ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0"}, cgocheck...)
	for _, args := range [][]string{{"errors"}, {"stress", "4", n, "multi", "blocking"}, {"stress", "1", n, "single", "blocking"}} {
		out := bindingtest.Run(t, 10*time.Minute, env, exe, args...)
		if !strings.HasPrefix(out, "ok ") {
			t.Fatalf("output: %s", out)
		}
		t.Log(strings.TrimSpace(out))
	}
}

// TestCgocheck2 runs the C program against a library built with
// GOEXPERIMENT=cgocheck2, which checks every store of a pointer into
// memory C can see. It rebuilds the runtime, so it runs in the full suite
// only.
func TestCgocheck2(t *testing.T) {
	if testing.Short() {
		t.Skip("rebuilds the runtime with GOEXPERIMENT=cgocheck2; runs without -short")
	}
	exe := program(t, "badbatch_test.c", "c-shared", nil, []string{"GOEXPERIMENT=cgocheck2"}, nil)
	for _, args := range [][]string{{"errors"}, {"stress", "4", "1000000", "multi", "blocking"}} {
		out := bindingtest.Run(t, 10*time.Minute, nil, exe, args...)
		if !strings.HasPrefix(out, "ok ") {
			t.Fatalf("output: %s", out)
		}
		t.Log(strings.TrimSpace(out))
	}
}

// TestHeader checks badbatch.h against the library: the same functions
// with the same types as the header cgo generates (ours adds const), and
// the same error codes as the Go table.
func TestHeader(t *testing.T) {
	src, err := os.ReadFile("badbatch.h")
	if err != nil {
		t.Fatal(err)
	}
	ours := prototypes(t, string(src))
	dir := filepath.Dir(built(t, "header", func(dir string) string {
		return bindingtest.Library(t, dir, "c-shared", nil, nil)
	}))
	gen, err := os.ReadFile(filepath.Join(dir, "libbadbatch.h"))
	if err != nil {
		t.Fatal(err)
	}
	theirs := prototypes(t, string(gen))
	if len(ours) == 0 || len(ours) != len(theirs) {
		t.Errorf("badbatch.h declares %d functions, the library exports %d:\nours %v\ntheirs %v", len(ours), len(theirs), keys(ours), keys(theirs))
	}
	for name, sig := range theirs {
		if ours[name] != sig {
			t.Errorf("%s: badbatch.h says %q, the library %q", name, ours[name], sig)
		}
	}
	enum := regexp.MustCompile(`(BB_[A-Z]+) = (\d+)`).FindAllStringSubmatch(string(src), -1)
	if len(enum) != len(bytering.Codes()) {
		t.Errorf("badbatch.h has %d codes, the Go table %d", len(enum), len(bytering.Codes()))
	}
	for _, m := range enum {
		v, _ := strconv.Atoi(m[2])
		if bytering.Code(v).Name() != m[1] {
			t.Errorf("badbatch.h: %s = %d; the Go table names code %d %q", m[1], v, v, bytering.Code(v).Name())
		}
	}
}

// prototypes maps each bb_ function declared in a header to its return
// and parameter types, without const, names or spaces.
func prototypes(t *testing.T, header string) map[string]string {
	t.Helper()
	flat := regexp.MustCompile(`/\*[\s\S]*?\*/`).ReplaceAllString(header, "")
	flat = strings.Join(strings.Fields(flat), " ")
	decl := regexp.MustCompile(`(?:extern )?((?:const )?[a-z_0-9]+ ?\*?) ?(bb_[a-z_]+)\(([^)]*)\);`)
	out := map[string]string{}
	for _, m := range decl.FindAllStringSubmatch(flat, -1) {
		var params []string
		for _, p := range strings.Split(m[3], ",") {
			p = strings.ReplaceAll(strings.TrimSpace(p), "const ", "")
			p = strings.ReplaceAll(p, "*", " * ")
			f := strings.Fields(p)
			params = append(params, strings.Join(f[:len(f)-1], ""))
		}
		ret := strings.ReplaceAll(strings.ReplaceAll(m[1], "const ", ""), " ", "")
		out[m[2]] = ret + "(" + strings.Join(params, ",") + ")"
	}
	return out
}

func runQuiet(name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return exec.CommandContext(ctx, name, args...).CombinedOutput()
}

func keys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// TestDocsQuickStart compiles and runs the C quick start of
// docs/bindings.md, so that it cannot rot.
func TestDocsQuickStart(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "bindings.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```c\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/bindings.md has no ```c block")
	}
	lib := built(t, "header", func(dir string) string {
		return bindingtest.Library(t, dir, "c-shared", nil, nil)
	})
	dir := filepath.Dir(lib)
	src := filepath.Join(t.TempDir(), "quickstart.c")
	if err := os.WriteFile(src, m[1], 0o644); err != nil {
		t.Fatal(err)
	}
	exe := strings.TrimSuffix(src, ".c")
	bindingtest.Run(t, 5*time.Minute, nil, bindingtest.CC(t), "-Wall", "-Wextra", "-Werror", "-I.", "-o", exe, src,
		"-L"+dir, "-lbadbatch", "-Wl,-rpath,"+dir, "-lpthread")
	if out := bindingtest.Run(t, time.Minute, cgocheck, exe); out != "0: hello\n1: from\n2: C\n" {
		t.Errorf("the quick start printed %q", out)
	}
}
