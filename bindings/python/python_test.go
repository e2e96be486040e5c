package python

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/badbatch/badbatch/bindings/internal/bindingtest"
	"github.com/badbatch/badbatch/internal/proctest"

	// What the library and the server are built from, so that go test's
	// cache sees their changes (bindingtest.Track covers the main packages).
	_ "github.com/badbatch/badbatch/api"
	_ "github.com/badbatch/badbatch/bindings/internal/bytering"
)

// lib builds libbadbatch once per test binary.
var lib struct {
	once sync.Once
	path string
}

func library(tb testing.TB) string {
	tb.Helper()
	bindingtest.CC(tb)
	lib.once.Do(func() {
		// Not tb.TempDir: the library outlives the test that built it.
		dir := filepath.Join(os.TempDir(), fmt.Sprintf("badbatch-python-%d", os.Getpid()))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			tb.Fatal(err)
		}
		lib.path = bindingtest.Library(tb, dir, "c-shared", nil, nil)
	})
	if lib.path == "" {
		tb.Fatal("libbadbatch was not built")
	}
	return lib.path
}

func pythonEnv(tb testing.TB) []string {
	env := []string{
		"BADBATCH_LIBRARY=" + library(tb),
		"PYTHONDONTWRITEBYTECODE=1",
		"PYTHONFAULTHANDLER=1",
	}
	if testing.Short() {
		env = append(env, "BADBATCH_SHORT=1")
	}
	return env
}

// TestPytest runs the package's pytest suite: the in-process disruptor
// over the library, and the REST client against a real server on a free
// loopback port.
func TestPytest(t *testing.T) {
	py := bindingtest.Python(t)
	env := pythonEnv(t)
	bindingtest.Track(t, "bindings/python/badbatch", "bindings/python/tests", "docs", "cmd/badbatch")
	srv := proctest.Start(t, proctest.Build(t), proctest.Options{})
	env = append(env, "BADBATCH_URL="+srv.URL)
	out := bindingtest.Run(t, 10*time.Minute, env, py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", "tests")
	t.Log(out)
	if strings.Contains(out, "skipped") {
		t.Errorf("pytest skipped tests:\n%s", out)
	}
}

// BenchmarkPython measures events per second from one Python thread to
// another through the disruptor (a callback consumer and a poller
// iterator) and through queue.SimpleQueue and collections.deque with
// threading.Condition, at batch 1 and 64, in one run. One op is one event;
// the Python program times its own loop. wakeups/op... see bench.py.
//
//	go test -run='^$' -bench=. -benchtime=200000x -count=6 ./bindings/python/
func BenchmarkPython(b *testing.B) {
	py := bindingtest.Python(b)
	env := pythonEnv(b)
	bindingtest.Track(b, "bindings/python/badbatch")
	out := regexp.MustCompile(`ns=(\d+) wakeups=(\d+)`)
	for _, batch := range []int{1, 64} {
		for _, v := range []string{"disruptor-callback", "disruptor-poller", "packed-callback", "packed-poller", "view-callback", "view-poller", "simplequeue", "simplequeue-lists", "deque"} {
			b.Run(fmt.Sprintf("batch=%d/%s", batch, v), func(b *testing.B) {
				load := bindingtest.StartLoad()
				res := bindingtest.Run(b, 10*time.Minute, env, py, "-m", "badbatch.bench", v, strconv.Itoa(batch), strconv.Itoa(b.N))
				m := out.FindStringSubmatch(res)
				if m == nil {
					b.Fatalf("output: %s", res)
				}
				ns, _ := strconv.ParseFloat(m[1], 64)
				wakeups, _ := strconv.ParseFloat(m[2], 64)
				b.ReportMetric(ns/float64(b.N), "ns/op")
				b.ReportMetric(float64(b.N)/(ns/1e9), "events/s")
				b.ReportMetric(float64(b.N)/max(wakeups, 1), "events/wakeup")
				b.ReportMetric(load.Others(), "other-cpu-%")
			})
		}
	}
}
