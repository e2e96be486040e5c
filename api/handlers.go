package api

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/badbatch/badbatch/docs"
	"github.com/badbatch/badbatch/engine"
)

// outPool recycles response buffers.
var outPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// send writes a response body already encoded in c.out.
func (c *call) send(status int, body []byte) {
	h := c.w.Header()
	h.Set("Content-Type", c.out.contentType())
	h.Set("Cache-Control", "no-store")
	c.w.WriteHeader(status)
	_, _ = c.w.Write(body)
}

// respond encodes v in the negotiated format and writes it.
func (c *call) respond(status int, v any) {
	buf := outPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= 1<<20 {
			outPool.Put(buf)
		}
	}()
	if err := encodeBody(buf, c.out, v); err != nil {
		c.s.log.Error("encoding a response", "err", err, "format", c.out.String())
		c.out = formatJSON
		buf.Reset()
		_ = encodeBody(buf, formatJSON, errorBody{Error: newError(CodeInternal, "internal error", nil)})
		status = http.StatusInternalServerError
	}
	c.send(status, buf.Bytes())
}

// fail writes the error envelope.
func (c *call) fail(e *Error) {
	c.s.errors.WithLabelValues(e.Code).Inc()
	if rw := findResponseWriter(c.w); rw != nil {
		rw.code = e.Code
	}
	if ra := retryAfter(e); ra != "" && c.w.Header().Get("Retry-After") == "" {
		c.w.Header().Set("Retry-After", ra)
	}
	c.respond(e.Status(), errorBody{Error: e})
}

func (c *call) failEngine(err error) { c.fail(fromEngine(err)) }

// ---- health, version, docs, metrics ----

func (c *call) health() {
	c.respond(http.StatusOK, Health{Status: "ok", Ready: c.isReady(), UptimeSeconds: time.Since(c.s.started).Seconds()})
}

// isReady reports this node's readiness (ready.go).
func (c *call) isReady() bool { return c.s.readiness() == nil }

func (c *call) ready() {
	if e := c.s.readiness(); e != nil {
		c.fail(e)
		return
	}
	c.respond(http.StatusOK, Health{Status: "ready", Ready: true, UptimeSeconds: time.Since(c.s.started).Seconds()})
}

func (c *call) healthDetail() {
	h := c.s.eng.Health()
	out := Health{
		Status:        "ok",
		Ready:         c.isReady(),
		UptimeSeconds: time.Since(c.s.started).Seconds(),
		Version:       c.s.version.Version,
		Goroutines:    h.Goroutines,
		Disruptors:    make([]Component, len(h.Disruptors)),
		Cluster:       c.clusterView(),
	}
	switch {
	case c.s.closed.Load() || !h.Up:
		out.Status = "shutting_down"
	case !out.Ready, clusterDegraded(out.Cluster):
		out.Status = "degraded"
	}
	out.Disruptors = out.Disruptors[:0]
	for _, d := range h.Disruptors {
		if !c.visible(d.Name) {
			continue // anonymous callers see the summary only
		}
		out.Disruptors = append(out.Disruptors, Component{Name: d.Name, State: d.State.String(), Healthy: d.Healthy, Error: d.Error,
			Processors: toConsumers(d.Processors)})
	}
	c.respond(http.StatusOK, out)
}

func (c *call) versionInfo() {
	v := c.s.version
	c.respond(http.StatusOK, Version{Version: v.Version, Commit: v.Commit, GoVersion: v.GoVersion, APIVersion: "v1"})
}

func (c *call) openAPI() {
	b, err := codecs[c.out].document(nil, docs.OpenAPI)
	if err != nil {
		c.fail(newError(CodeInternal, "internal error", nil))
		return
	}
	c.send(http.StatusOK, b)
}

func (c *call) systemMetrics() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	all := c.s.eng.AllMetrics()
	out := SystemMetrics{
		UptimeSeconds: time.Since(c.s.started).Seconds(),
		Goroutines:    runtime.NumGoroutine(),
		HeapBytes:     ms.HeapAlloc,
		GCCycles:      ms.NumGC,
		Disruptors:    make([]Metrics, 0, len(all)),
	}
	for _, m := range all {
		if c.visible(m.Disruptor) {
			out.Disruptors = append(out.Disruptors, toMetrics(m))
		}
	}
	c.respond(http.StatusOK, out)
}

func (c *call) disruptorMetrics() {
	m, err := c.s.eng.Metrics(c.r.PathValue("name"))
	if err != nil {
		c.failEngine(err)
		return
	}
	c.respond(http.StatusOK, toMetrics(m))
}

// ---- disruptors ----

// intParam parses an integer query parameter within [min, max]; absent
// means def.
func (c *call) intParam(q url.Values, name string, def, min, max int64) (int64, *Error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < min || v > max {
		return 0, newError(CodeInvalidParameter, fmt.Sprintf("%s=%q must be an integer from %d to %d", name, s, min, max),
			map[string]any{"parameter": name, "value": s})
	}
	return v, nil
}

func (c *call) listDisruptors() {
	q := c.r.URL.Query()
	limit, e := c.intParam(q, "limit", int64(c.s.cfg.ListDefaultLimit), 1, int64(c.s.cfg.ListMaxLimit))
	if e != nil {
		c.fail(e)
		return
	}
	var states []engine.State
	if v := q.Get("state"); v != "" {
		for _, name := range strings.Split(v, ",") {
			st, err := engine.ParseState(strings.TrimSpace(name))
			if err != nil || st == engine.StateDeleted {
				c.fail(newError(CodeInvalidParameter, fmt.Sprintf("state=%q is not a state", name),
					map[string]any{"parameter": "state", "value": name}))
				return
			}
			states = append(states, st)
		}
	}
	glob := q.Get("name")
	if glob != "" {
		if _, err := path.Match(glob, ""); err != nil {
			c.fail(newError(CodeInvalidParameter, fmt.Sprintf("name=%q is not a valid pattern", glob),
				map[string]any{"parameter": "name", "value": glob}))
			return
		}
	}
	after := q.Get("after")
	out := DisruptorList{Disruptors: []Disruptor{}}
	for _, info := range c.s.eng.List() {
		if info.Name <= after && after != "" {
			continue
		}
		if glob != "" {
			if ok, _ := path.Match(glob, info.Name); !ok {
				continue
			}
		}
		if !c.visible(info.Name) {
			continue
		}
		if len(states) > 0 && !containsState(states, info.State) {
			continue
		}
		if len(out.Disruptors) == int(limit) {
			out.Next = out.Disruptors[len(out.Disruptors)-1].Name
			break
		}
		out.Disruptors = append(out.Disruptors, c.s.disruptor(info))
	}
	c.respond(http.StatusOK, out)
}

func containsState(ss []engine.State, s engine.State) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func (c *call) getDisruptor() {
	info, err := c.s.eng.Info(c.r.PathValue("name"))
	if err != nil {
		c.failEngine(err)
		return
	}
	c.respond(http.StatusOK, c.s.disruptor(info))
}

func (c *call) getState() {
	info, err := c.s.eng.Info(c.r.PathValue("name"))
	if err != nil {
		c.failEngine(err)
		return
	}
	c.respond(http.StatusOK, StateResponse{Disruptor: info.Name, State: info.State.String()})
}

// recordsPool recycles read buffers.
var recordsPool = sync.Pool{New: func() any { return new(engine.Records) }}

func getRecords() *engine.Records { return recordsPool.Get().(*engine.Records) }

func putRecords(r *engine.Records) {
	r.Reset()
	recordsPool.Put(r)
}

// seqParam parses a sequence parameter.
func seqParam(name, s string) (int64, *Error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, newError(CodeInvalidParameter, fmt.Sprintf("%s=%q must be a sequence number (an integer >= 0)", name, s),
			map[string]any{"parameter": name, "value": s})
	}
	return v, nil
}

func (c *call) replay() {
	name := c.r.PathValue("name")
	q := c.r.URL.Query()
	limit, e := c.intParam(q, "limit", int64(c.s.cfg.ReplayDefaultLimit), 1, int64(c.s.cfg.ReplayMaxLimit))
	if e != nil {
		c.fail(e)
		return
	}
	var from int64
	if v := q.Get("from"); v != "" {
		if from, e = seqParam("from", v); e != nil {
			c.fail(e)
			return
		}
	} else {
		info, err := c.s.eng.Info(name)
		if err != nil {
			c.failEngine(err)
			return
		}
		from = info.Oldest
	}
	rec := getRecords()
	defer putRecords(rec)
	w, err := c.s.eng.Read(name, from, int(limit), rec)
	if err != nil {
		c.failEngine(err)
		return
	}
	page := replayPage{Disruptor: name, Events: rec.Events, Next: w.Next, Oldest: w.Oldest, Latest: w.Latest}
	c.sendEncoded(func(dst []byte) ([]byte, error) { return codecs[c.out].page(dst, &page) })
}

// sendEncoded sends a 200 whose body encode appends to a pooled buffer.
func (c *call) sendEncoded(encode func(dst []byte) ([]byte, error)) {
	buf := outPool.Get().(*bytes.Buffer)
	b, err := encode(buf.Bytes()[:0])
	if err != nil {
		c.s.log.Error("encoding a response", "err", err, "format", c.out.String())
		c.fail(newError(CodeInternal, "internal error", nil))
		return
	}
	c.send(http.StatusOK, b)
	c.recycle(buf, b)
}

// recycle returns a buffer whose bytes grew into b to the pool.
func (c *call) recycle(buf *bytes.Buffer, b []byte) {
	if cap(b) <= 4<<20 {
		*buf = *bytes.NewBuffer(b[:0])
		outPool.Put(buf)
	}
}

func (c *call) getEvent() {
	seq, e := seqParam("seq", c.r.PathValue("seq"))
	if e != nil {
		c.fail(e)
		return
	}
	rec := getRecords()
	defer putRecords(rec)
	ev, err := c.s.eng.Get(c.r.PathValue("name"), seq, rec)
	if err != nil {
		c.failEngine(err)
		return
	}
	c.sendEncoded(func(dst []byte) ([]byte, error) { return codecs[c.out].event(dst, &ev) })
}
