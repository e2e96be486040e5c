package wasm

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/badbatch/badbatch/bindings/internal/bindingtest"
	"github.com/badbatch/badbatch/bindings/internal/bytering"

	// What the modules are built from, so that go test's cache sees its
	// changes (bindingtest.Track covers the main packages).
	_ "github.com/badbatch/badbatch/bindings/wasm/wasmapi"
)

// The build commands of docs/bindings.md.
var (
	wasip1Build = []string{"build", "-buildmode=c-shared", "-ldflags=-s -w", "-trimpath"}
	jsBuild     = []string{"build", "-ldflags=-s -w", "-trimpath"}
)

var modules struct {
	sync.Mutex
	dir   string
	paths map[string]string
}

// build builds ./<pkg> for GOOS goos (GOARCH=wasm) once per test binary.
func build(tb testing.TB, goos, pkg string, args []string) string {
	tb.Helper()
	modules.Lock()
	defer modules.Unlock()
	if p, ok := modules.paths[pkg]; ok {
		return p
	}
	if modules.paths == nil {
		dir, err := os.MkdirTemp("", "bindings-wasm-test-")
		if err != nil {
			tb.Fatal(err)
		}
		modules.dir, modules.paths = dir, map[string]string{}
	}
	bindingtest.Track(tb, "bindings/wasm/"+pkg, "bindings/wasm/testdata")
	out := filepath.Join(modules.dir, pkg+".wasm")
	cmd := append(append([]string{}, args...), "-o", out, "github.com/badbatch/badbatch/bindings/wasm/"+pkg)
	bindingtest.Go(tb, []string{"GOOS=" + goos, "GOARCH=wasm", "CGO_ENABLED=0"}, cmd...)
	modules.paths[pkg] = out
	return out
}

func TestMain(m *testing.M) {
	code := m.Run()
	if modules.dir != "" {
		os.RemoveAll(modules.dir)
	}
	os.Exit(code)
}

// host runs the wasip1 module in wazero.
type host struct {
	t   testing.TB
	ctx context.Context
	mod api.Module
	fns map[string]api.Function
}

func newHost(t testing.TB) *host {
	t.Helper()
	path := build(t, "wasip1", "wasip1", wasip1Build)
	bin, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	t.Cleanup(func() { r.Close(ctx) })
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	var stderr bytes.Buffer
	mod, err := r.InstantiateWithConfig(ctx, bin, wazero.NewModuleConfig().
		WithStartFunctions("_initialize").WithStderr(&stderr).WithStdout(&stderr).WithName(""))
	if err != nil {
		t.Fatalf("instantiate: %v\n%s", err, stderr.String())
	}
	h := &host{t: t, ctx: ctx, mod: mod, fns: map[string]api.Function{}}
	for name := range mod.ExportedFunctionDefinitions() {
		h.fns[name] = mod.ExportedFunction(name)
	}
	return h
}

func (h *host) call(name string, args ...uint64) uint64 {
	h.t.Helper()
	f := h.fns[name]
	if f == nil {
		h.t.Fatalf("the module does not export %s", name)
	}
	res, err := f.Call(h.ctx, args...)
	if err != nil {
		h.t.Fatalf("%s: %v", name, err)
	}
	if len(res) == 0 {
		return 0
	}
	return res[0]
}

// code calls an export that returns a BB_* code.
func (h *host) code(name string, args ...uint64) bytering.Code {
	h.t.Helper()
	return bytering.Code(int32(uint32(h.call(name, args...))))
}

func (h *host) ok(name string, args ...uint64) {
	h.t.Helper()
	if c := h.code(name, args...); c != bytering.CodeOK {
		h.t.Fatalf("%s: %v (%s)", name, c, h.strerror(c))
	}
}

func (h *host) alloc(n int) uint32 { return uint32(h.call("bb_alloc", uint64(n))) }

func (h *host) write(p uint32, b []byte) {
	if !h.mod.Memory().Write(p, b) {
		h.t.Fatalf("write of %d bytes at %d out of range", len(b), p)
	}
}

func (h *host) read(p uint32, n int) []byte {
	b, ok := h.mod.Memory().Read(p, uint32(n))
	if !ok {
		h.t.Fatalf("read of %d bytes at %d out of range", n, p)
	}
	return append([]byte(nil), b...)
}

func (h *host) u32(p uint32) uint32 { v, _ := h.mod.Memory().ReadUint32Le(p); return v }
func (h *host) i64(p uint32) int64  { v, _ := h.mod.Memory().ReadUint64Le(p); return int64(v) }

func (h *host) strerror(c bytering.Code) string {
	buf := h.alloc(128)
	n := h.call("bb_strerror", uint64(uint32(c)), uint64(buf), 128)
	return string(h.read(buf, int(min(n, 128))))
}

// newRing makes a disruptor with one poller in the module.
func (h *host) newRing(slots, size int, wait string) (ring, poller uint32, c bytering.Code) {
	out := h.alloc(8)
	w := h.alloc(len(wait))
	h.write(w, []byte(wait))
	if c := h.code("bb_new", uint64(slots), uint64(size), 0, uint64(w), uint64(len(wait)), uint64(out)); c != bytering.CodeOK {
		return 0, 0, c
	}
	ring = h.u32(out)
	h.ok("bb_poller_new", uint64(ring), uint64(out))
	return ring, h.u32(out), bytering.CodeOK
}

const wasmEventSize = 16

// wasmEvent is event k: k, then bytes from k; 8 to 16 bytes long.
func wasmEvent(k int64) []byte {
	b := make([]byte, 8+k%9)
	binary.LittleEndian.PutUint64(b, uint64(k))
	for i := 8; i < len(b); i++ {
		b[i] = byte(k) + byte(i)
	}
	return b
}

// TestModuleExactlyOnce publishes 1M events into the module, in batches
// and one by one, and polls them out, checking every sequence and byte.
func TestModuleExactlyOnce(t *testing.T) {
	total := int64(1_000_000)
	if testing.Short() {
		total = 100_000
	}
	h := newHost(t)
	const slots, batch, maxPoll = 4096, 256, 1024
	ring, poller, c := h.newRing(slots, wasmEventSize, "blocking")
	if c != bytering.CodeOK {
		t.Fatalf("bb_new: %v", c)
	}
	h.ok("bb_start", uint64(ring))
	src, lens := h.alloc(batch*wasmEventSize), h.alloc(batch*4)
	out, outLens, n, first, seq := h.alloc(maxPoll*wasmEventSize), h.alloc(maxPoll*4), h.alloc(4), h.alloc(8), h.alloc(8)
	var published, polled, fulls int64
	start := time.Now()
	for polled < total {
		// Publish until the ring is full: a batch, then some singly.
		for published < total {
			if (published/batch)%4 == 3 { // a quarter of them one by one
				ev := wasmEvent(published)
				h.write(src, ev)
				c := h.code("bb_publish", uint64(ring), uint64(src), uint64(len(ev)), uint64(seq))
				if c == bytering.CodeFull {
					fulls++
					break
				}
				if c != bytering.CodeOK || h.i64(seq) != published {
					t.Fatalf("bb_publish: %v, seq %d; want seq %d", c, h.i64(seq), published)
				}
				published++
				continue
			}
			m := min(batch, total-published)
			var data []byte
			ls := make([]byte, 4*m)
			for k := range m {
				ev := wasmEvent(published + k)
				data = append(data, ev...)
				binary.LittleEndian.PutUint32(ls[4*k:], uint32(len(ev)))
			}
			h.write(src, data)
			h.write(lens, ls)
			c := h.code("bb_publish_many", uint64(ring), uint64(src), uint64(lens), uint64(m), uint64(seq))
			if c == bytering.CodeFull {
				fulls++
				break
			}
			if c != bytering.CodeOK {
				t.Fatalf("bb_publish_many: %v", c)
			}
			if got := h.i64(seq); got != published+m-1 {
				t.Fatalf("bb_publish_many: hi %d, want %d", got, published+m-1)
			}
			published += m
		}
		// Poll everything there is.
		for {
			h.ok("bb_poll", uint64(poller), uint64(out), maxPoll*wasmEventSize, uint64(outLens), maxPoll, uint64(n), uint64(first))
			k := int64(h.u32(n))
			if k == 0 {
				break
			}
			if f := h.i64(first); f != polled {
				t.Fatalf("poll: first %d, want %d", f, polled)
			}
			evs, ls := h.read(out, int(k)*wasmEventSize), h.read(outLens, int(k)*4)
			for j := range k {
				s := polled + j
				got := evs[j*wasmEventSize : j*wasmEventSize+int64(binary.LittleEndian.Uint32(ls[4*j:]))]
				if want := wasmEvent(s); !bytes.Equal(got, want) {
					t.Fatalf("event %d: %x, want %x", s, got, want)
				}
			}
			polled += k
		}
	}
	elapsed := time.Since(start)
	h.ok("bb_shutdown", uint64(ring))
	if c := h.code("bb_poll", uint64(poller), uint64(out), maxPoll*wasmEventSize, uint64(outLens), maxPoll, uint64(n), uint64(first)); c != bytering.CodeShutdown {
		t.Errorf("poll after shutdown, drained: %v, want BB_ESHUTDOWN", c)
	}
	h.ok("bb_free", uint64(ring))
	t.Logf("%d events through the wasip1 module in %v (%.1fM events/s), ring full %d times", polled, elapsed, float64(polled)/elapsed.Seconds()/1e6, fulls)
}

func TestModuleErrors(t *testing.T) {
	h := newHost(t)
	// Spinning wait strategies are refused: one thread cannot spin.
	for _, w := range []string{"busy_spin", "yielding", "sleeping", "phased_backoff"} {
		if _, _, c := h.newRing(8, 8, w); c != bytering.CodeConfig {
			t.Errorf("bb_new with %s: %v, want BB_ECONFIG", w, c)
		}
	}
	if _, _, c := h.newRing(1000, 8, ""); c != bytering.CodeConfig {
		t.Errorf("bb_new with 1000 slots: %v, want BB_ECONFIG", c)
	}
	for _, w := range []string{"", "blocking", "lite_blocking", "timeout_blocking"} {
		ring, _, c := h.newRing(8, 8, w)
		if c != bytering.CodeOK {
			t.Errorf("bb_new with %q: %v", w, c)
			continue
		}
		h.ok("bb_free", uint64(ring))
	}
	ring, poller, c := h.newRing(4, 4, "")
	if c != bytering.CodeOK {
		t.Fatal(c)
	}
	src, seq := h.alloc(16), h.alloc(8)
	h.write(src, []byte("abcdefghijklmnop"))
	checks := []struct {
		what string
		got  bytering.Code
		want bytering.Code
	}{
		{"publish before start", h.code("bb_publish", uint64(ring), uint64(src), 4, uint64(seq)), bytering.CodeNotStarted},
		{"start", h.code("bb_start", uint64(ring)), bytering.CodeOK},
		{"start again", h.code("bb_start", uint64(ring)), bytering.CodeStarted},
		{"poller after start", h.code("bb_poller_new", uint64(ring), uint64(seq)), bytering.CodeStarted},
		{"too large", h.code("bb_publish", uint64(ring), uint64(src), 5, uint64(seq)), bytering.CodeTooLarge},
		{"no such handle", h.code("bb_start", 999), bytering.CodeHandle},
		{"dealloc of a bad pointer", h.code("bb_dealloc", 12345), bytering.CodeInvalid},
	}
	for range 4 {
		h.ok("bb_publish", uint64(ring), uint64(src), 4, uint64(seq))
	}
	// The ring is full and nothing in the module can drain it: the
	// publish does not wait, it says so.
	checks = append(checks, struct {
		what      string
		got, want bytering.Code
	}{"publish into a full ring", h.code("bb_publish", uint64(ring), uint64(src), 4, uint64(seq)), bytering.CodeFull})
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
	out, lens, n := h.alloc(64), h.alloc(64), h.alloc(4)
	h.ok("bb_poll", uint64(poller), uint64(out), 64, uint64(lens), 16, uint64(n), 0)
	if got := h.u32(n); got != 4 || string(h.read(out, 4)) != "abcd" {
		t.Errorf("poll: %d events, first %q", got, h.read(out, 4))
	}
	h.ok("bb_poll", uint64(poller), uint64(out), 64, uint64(lens), 16, uint64(n), 0)
	if got := h.u32(n); got != 0 {
		t.Errorf("poll of an empty ring: %d events", got)
	}
	h.ok("bb_shutdown", uint64(ring))
	if c := h.code("bb_publish", uint64(ring), uint64(src), 4, uint64(seq)); c != bytering.CodeShutdown {
		t.Errorf("publish after shutdown: %v", c)
	}
	h.ok("bb_free", uint64(ring))
	if c := h.code("bb_poll", uint64(poller), uint64(out), 64, uint64(lens), 16, uint64(n), 0); c != bytering.CodeHandle {
		t.Errorf("poll after free: %v, want BB_EHANDLE", c)
	}
	if got := h.strerror(bytering.CodeFull); got != bytering.CodeFull.Text() {
		t.Errorf("bb_strerror: %q", got)
	}
	h.ok("bb_dealloc", uint64(src))
}

// TestModuleSize logs the sizes of the two modules, the figures
// docs/bindings.md gives.
func TestModuleSize(t *testing.T) {
	for _, m := range []struct{ goos, pkg string }{{"wasip1", "wasip1"}, {"js", "js"}} {
		args := wasip1Build
		if m.goos == "js" {
			args = jsBuild
		}
		fi, err := os.Stat(build(t, m.goos, m.pkg, args))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s module: %d bytes (%.1f MiB)", m.goos, fi.Size(), float64(fi.Size())/(1<<20))
		if fi.Size() > 16<<20 {
			t.Errorf("%s module is %d bytes: something large was linked in", m.goos, fi.Size())
		}
	}
}

// TestJSModuleInNode runs the js/wasm module in Node.js: publish and poll
// (exactly once, in order) and the errors thrown.
func TestJSModuleInNode(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("no node on PATH: install nodejs (apt-get install -y nodejs) to run the js/wasm module's test")
	}
	goroot := strings.TrimSpace(bindingtest.Output(t, "go", "env", "GOROOT"))
	wasmExec := filepath.Join(goroot, "lib", "wasm", "wasm_exec.js")
	if _, err := os.Stat(wasmExec); err != nil {
		t.Fatalf("wasm_exec.js: %v", err)
	}
	mod := build(t, "js", "js", jsBuild)
	n := "200000" // each event crosses into JS: a microsecond or more
	if testing.Short() {
		n = "50000"
	}
	out := bindingtest.Run(t, 10*time.Minute, nil, node, filepath.Join("testdata", "node_test.js"), wasmExec, mod, n)
	if !strings.HasPrefix(out, "ok ") {
		t.Fatalf("output: %s", out)
	}
	t.Log(strings.TrimSpace(out))
}
