package api

import (
	"net/http"
	"runtime"
	"time"

	"github.com/badbatch/badbatch/docs"
)

// The health, version, OpenAPI and metrics routes.

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
