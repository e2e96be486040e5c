package api

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/badbatch/badbatch/engine"
	"github.com/badbatch/badbatch/internal/proctest"
)

// heapSampler follows the heap's size while a request is handled. With
// the GC made eager (GOGC=10) the heap holds little garbage, so its peak
// above the level before the request is what the request made the heap
// grow by.
type heapSampler struct {
	stop   chan struct{}
	done   sync.WaitGroup
	peak   atomic.Uint64
	base   uint64
	allocs uint64 // bytes allocated before
}

func heapBytes() uint64 { return readMetric("/memory/classes/heap/objects:bytes") }

func readMetric(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func startHeapSampler() *heapSampler {
	runtime.GC()
	h := &heapSampler{stop: make(chan struct{}), base: heapBytes(), allocs: readMetric("/gc/heap/allocs:bytes")}
	h.peak.Store(h.base)
	h.done.Go(func() {
		for {
			select {
			case <-h.stop:
				return
			default:
			}
			if b := heapBytes(); b > h.peak.Load() {
				h.peak.Store(b)
			}
			time.Sleep(20 * time.Microsecond)
		}
	})
	return h
}

// growth stops the sampler and returns the heap's growth, and the bytes
// allocated meanwhile (an upper bound of the growth, which sampling can
// miss the peak of).
func (h *heapSampler) growth() (grew, allocated uint64) {
	allocated = readMetric("/gc/heap/allocs:bytes") - h.allocs
	close(h.stop)
	h.done.Wait()
	if p := h.peak.Load(); p > h.base {
		grew = p - h.base
	}
	return min(grew, allocated), allocated
}

// gzipBomb is a body of members gzip members, each n bytes of 'a' inside
// a JSON string: gzip readers read concatenated members as one stream, so
// a few hundred KiB decompress to gigabytes.
func gzipBomb(t testing.TB, n, members int) []byte {
	var member bytes.Buffer
	w, _ := gzip.NewWriterLevel(&member, gzip.BestCompression)
	chunk := bytes.Repeat([]byte("a"), 1<<20)
	for i := 0; i < n; i += len(chunk) {
		_, _ = w.Write(chunk[:min(len(chunk), n-i)])
	}
	_ = w.Close()
	head := gzipBytes([]byte(`{"payload":"`))
	return append(head, bytes.Repeat(member.Bytes(), members)...)
}

// hostileHeap sends each hostile body of issue 14 to a server with the
// default limits and measures how much the heap grows while it handles
// it: at most 4× the decompressed body limit, for every one, in every
// format. The figures are in docs/security.md.
func hostileHeap(t *testing.T) {
	if testing.Short() && raceEnabled {
		t.Skip("allocates a few hundred MB; run without -race or without -short")
	}
	old := debug.SetGCPercent(10)
	defer debug.SetGCPercent(old)
	limit := DefaultConfig().MaxBodyBytes
	servers := map[string]*testServer{
		"ratio":    newTestServer(t),
		"no ratio": newTestServer(t, func(_ *engine.Config, a *Config) { a.MaxCompressionRatio = 0 }),
	}
	for _, ts := range servers {
		for _, body := range []map[string]any{{"name": "big", "max_event_size": 1 << 20}, {"name": "small"}} {
			if r := ts.do(t, request{method: "POST", path: "/api/v1/disruptors", body: body}); r.status != 201 {
				t.Fatal(r.status, string(r.body))
			}
		}
	}
	const big, small = "/api/v1/disruptors/big/events", "/api/v1/disruptors/small/events"
	var nested, keys, meta, yamlNodes, yamlEvents strings.Builder
	nested.WriteString(`{"payload":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`)
	keys.WriteString(`{"payload":{`)
	for i := 0; keys.Len() < int(limit)-64; i++ {
		keys.WriteString(`"k` + strconv.Itoa(i) + `":0,`)
	}
	keys.WriteString(`"z":0}}`)
	meta.WriteString(`{"events":[`)
	for i := range 10_000 {
		if i > 0 {
			meta.WriteByte(',')
		}
		meta.WriteString(`{"payload":0,"metadata":{`)
		for k := range 64 {
			if k > 0 {
				meta.WriteByte(',')
			}
			meta.WriteString(`"` + strconv.Itoa(k) + `":""`)
		}
		meta.WriteString(`}}`)
	}
	meta.WriteString(`]}`)
	yamlLimit := int(limit / codecs[formatYAML].maxBody)
	yamlNodes.WriteString("payload: [")
	for yamlNodes.Len() < yamlLimit-4 {
		yamlNodes.WriteString("1,")
	}
	yamlNodes.WriteString("1]\n")
	yamlEvents.WriteString("events:\n")
	for yamlEvents.Len() < yamlLimit-16 {
		yamlEvents.WriteString("- {payload: 1}\n")
	}
	laughs := "payload:\n  a: &a [x,x,x,x,x,x,x,x,x]\n"
	for _, p := range "bcdefgh" {
		prev := string(p - 1)
		laughs += "  " + string(p) + ": &" + string(p) + " [" + strings.Repeat("*"+prev+",", 8) + "*" + prev + "]\n"
	}
	falses := func(events, each int) []byte {
		b := mpStr(mpMapLen(nil, 1), "events")
		b = mpArrayLen(b, events)
		for range events {
			b = mpStr(mpMapLen(b, 1), "payload")
			b = mpArrayLen(b, each)
			for range each {
				b = mpBool(b, false)
			}
		}
		return b
	}
	schemaKeys := `{"name":"s","schema":{"properties":{` + strings.Repeat(`"p":{},`, 20000) + `"q":{}}}}`
	gz := map[string]string{"Content-Encoding": "gzip"}
	bomb := gzipBomb(t, 64<<20, 32) // 2 GiB in about 2 MB
	compressible := gzipBytes(padded(int(limit) + 1<<20))
	cases := []struct {
		name, server string
		req          request
		code         string
	}{
		{"gzip bomb", "ratio", request{method: "POST", path: big, raw: bomb, f: formatJSON, header: gz}, CodeBodyTooLarge},
		{"gzip bomb, no ratio limit", "no ratio", request{method: "POST", path: big, raw: bomb, f: formatJSON, header: gz}, CodeBodyTooLarge},
		{"gzip past the limit", "no ratio", request{method: "POST", path: big, raw: compressible, f: formatJSON, header: gz}, CodeBodyTooLarge},
		{"YAML alias explosion", "ratio", request{method: "POST", path: big, raw: []byte(laughs), f: formatYAML}, CodeEventTooLarge},
		{"YAML node explosion", "ratio", request{method: "POST", path: small, raw: []byte(yamlNodes.String()), f: formatYAML}, CodeEventTooLarge},
		{"YAML events explosion", "ratio", request{method: "POST", path: big, raw: []byte(yamlEvents.String()), f: formatYAML}, CodeBatchTooLarge},
		{"MessagePack payload conversion", "ratio", request{method: "POST", path: big, raw: falses(1, int(limit)-64), f: formatMsgpack}, CodeEventTooLarge},
		{"MessagePack payloads converting past the limit", "ratio", request{method: "POST", path: big, raw: falses(int(limit)/(160<<10), 160<<10), f: formatMsgpack}, CodeBodyTooLarge},
		{"deeply nested JSON", "ratio", request{method: "POST", path: big, raw: []byte(nested.String()), f: formatJSON}, CodeMalformedBody},
		{"huge key count in a payload", "ratio", request{method: "POST", path: big, raw: []byte(keys.String()), f: formatJSON}, CodeEventTooLarge},
		{"huge metadata count", "ratio", request{method: "POST", path: big, raw: []byte(meta.String()), f: formatJSON}, CodeBatchTooLarge},
		{"huge key count in a schema", "ratio", request{method: "POST", path: "/api/v1/disruptors", raw: []byte(schemaKeys), f: formatJSON}, CodeMalformedBody},
		{"a body at the limit", "ratio", request{method: "POST", path: big, raw: padded(int(limit) - 64), f: formatJSON}, CodeEventTooLarge},
	}
	var report strings.Builder
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := servers[c.server]
			c.req.acceptHeader = "application/json"
			h := startHeapSampler()
			r := ts.do(t, c.req)
			grew, allocated := h.growth()
			if errCode(r) != c.code {
				t.Errorf("got %d %s, want %s: %.300s", r.status, errCode(r), c.code, r.body)
			}
			fmt.Fprintf(&report, "| %s | %d KiB | `%s` | %.1f MiB (%.2f×) | %.1f MiB |\n", c.name, len(c.req.raw)>>10, c.code,
				float64(grew)/(1<<20), float64(grew)/float64(limit), float64(allocated)/(1<<20))
			if grew > uint64(4*limit) {
				t.Errorf("the heap grew by %d MiB, over 4× the %d MiB limit", grew>>20, limit>>20)
			}
		})
	}
	t.Logf("heap growth per hostile body, limit %d MiB:\n%s", limit>>20, report.String())
	if p := os.Getenv("BADBATCH_HEAP_REPORT"); p != "" {
		_ = os.WriteFile(p, []byte(report.String()), 0o644)
	}
}

// procMemory is a process's resident set size now (VmRSS) and at its
// peak so far (VmHWM, the kernel's high-water mark), from
// /proc/<pid>/status.
func procMemory(pid int) (rss, hwm uint64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.Lines(string(b)) {
		key, val, ok := strings.Cut(line, ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %q", key, val)
		}
		if key == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
	}
	if rss == 0 || hwm == 0 {
		return 0, 0, fmt.Errorf("no VmRSS or VmHWM in /proc/%d/status", pid)
	}
	return rss, hwm, nil
}

// postBomb sends one gzipped JSON body to url and returns the answer's
// status and error code.
func postBomb(c *http.Client, url string, body []byte) (int, string, error) {
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Accept", "application/json")
	res, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	var env struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return res.StatusCode, "", err
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return res.StatusCode, "", fmt.Errorf("%d %.200s: %w", res.StatusCode, b, err)
	}
	return res.StatusCode, env.Error.Code, nil
}

// gzipBombsRSS sends 8 gzip bombs (2 MB each, 2 GiB decompressed) in
// parallel, over real sockets, to the badbatch binary (built without the
// race detector, whose shadow memory would multiply the figure, and
// started with the defaults: 16 MiB bodies, a 64 MiB in-flight budget),
// and reads the server process's RSS from /proc while they are in flight
// and its peak (VmHWM) after: it must stay under 300 MB, with the
// compression ratio limit and without it (then the body limit and the
// in-flight budget bound it). The figures are in docs/security.md.
func gzipBombsRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the server and sends 16 MB of gzip bombs")
	}
	if _, _, err := procMemory(os.Getpid()); err != nil {
		t.Skip("no /proc:", err)
	}
	bin := proctest.BuildPlain(t)
	journal := proctest.HasServerFlag(t, bin, "data-dir")
	bomb := gzipBomb(t, 64<<20, 32)
	for _, ratio := range []int64{DefaultConfig().MaxCompressionRatio, 0} {
		t.Run(fmt.Sprintf("ratio=%d", ratio), func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "limits.yaml")
			if err := os.WriteFile(cfg, fmt.Appendf(nil, "limits:\n  max_compression_ratio: %d\n", ratio), 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"--config", cfg}
			if journal {
				args = append(args, "--data-dir", t.TempDir())
			}
			srv := proctest.Start(t, bin, proctest.Options{Args: args})
			srv.MustDo(t, "", "POST", "/api/v1/disruptors", map[string]any{"name": "b"}, nil, http.StatusCreated)
			pid := srv.Pid()
			before, _, err := procMemory(pid)
			if err != nil {
				t.Fatal(err)
			}
			var sampled atomic.Uint64 // the highest VmRSS seen while the bombs were in flight
			stop := make(chan struct{})
			var sampler sync.WaitGroup
			sampler.Go(func() {
				for {
					if v, _, err := procMemory(pid); err == nil && v > sampled.Load() {
						sampled.Store(v)
					}
					select {
					case <-stop:
						return
					case <-time.After(time.Millisecond):
					}
				}
			})
			tr := &http.Transport{DisableCompression: true, MaxConnsPerHost: 8}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: time.Minute}
			answers := make([]string, 8)
			var wg sync.WaitGroup
			for i := range answers {
				wg.Go(func() {
					status, code, err := postBomb(c, srv.URL+"/api/v1/disruptors/b/events", bomb)
					answers[i] = fmt.Sprintf("%d %s", status, code)
					if err != nil {
						answers[i] += " " + err.Error()
					}
				})
			}
			wg.Wait()
			close(stop)
			sampler.Wait()
			_, peak, err := procMemory(pid)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("server RSS %d MB before, %d MB the highest sampled, peak (VmHWM) %d MB during 8 parallel gzip bombs; answers %v",
				before>>20, sampled.Load()>>20, peak>>20, answers)
			for _, a := range answers {
				if a != "413 "+CodeBodyTooLarge && a != "503 "+CodeOverloaded {
					t.Errorf("a bomb got %q", a)
				}
			}
			if peak >= 300<<20 {
				t.Errorf("the server's RSS peaked at %d MB", peak>>20)
			}
			if r := srv.Do("", "GET", "/health", nil, nil); r != http.StatusOK {
				t.Errorf("health after the bombs: %d", r)
			}
		})
	}
}
