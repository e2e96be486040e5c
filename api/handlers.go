package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

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

// isReady reports readiness: not shutting down, the engine ready and,
// when clustered, the cluster healthy.
func (c *call) isReady() bool {
	return !c.s.closed.Load() && c.s.eng.Health().Ready() && c.s.clusterProblem() == nil
}

func (c *call) ready() {
	if c.s.closed.Load() {
		c.fail(errorf(CodeShuttingDown, "the server is shutting down"))
		return
	}
	h := c.s.eng.Health()
	if !h.Ready() {
		var bad []string
		for _, d := range h.Disruptors {
			if !d.Healthy {
				bad = append(bad, d.Name)
			}
		}
		c.fail(newError(CodeNotReady, "not ready", map[string]any{"engine_up": h.Up, "unhealthy": bad}))
		return
	}
	if e := c.s.clusterProblem(); e != nil {
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
	}
	switch {
	case c.s.closed.Load() || !h.Up:
		out.Status = "shutting_down"
	case !out.Ready:
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
	switch c.out {
	case formatYAML:
		n, err := jsonToYAML(docs.OpenAPI)
		if err != nil {
			c.fail(newError(CodeInternal, "internal error", nil))
			return
		}
		c.respond(http.StatusOK, n)
	case formatMsgpack:
		b, err := jsonToMsgpack(nil, docs.OpenAPI)
		if err != nil {
			c.fail(newError(CodeInternal, "internal error", nil))
			return
		}
		c.send(http.StatusOK, b)
	default:
		c.send(http.StatusOK, docs.OpenAPI)
	}
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

// body reads and decodes a generic request body into v.
func (c *call) body(v any) bool {
	f, e := requestFormat(c.r)
	if e != nil {
		c.fail(e)
		return false
	}
	buf, e := readBody(c.w, c.r, c.s.cfg.MaxBodyBytes)
	if e != nil {
		c.fail(e)
		return false
	}
	defer releaseBody(buf)
	if e := decodeBody(f, buf.Bytes(), v); e != nil {
		c.fail(e)
		return false
	}
	return true
}

func (c *call) createDisruptor() {
	var req CreateRequest
	if !c.body(&req) {
		return
	}
	cfg := engine.DisruptorConfig{
		Name:           req.Name,
		BufferSize:     req.BufferSize,
		ProducerType:   req.ProducerType,
		WaitStrategy:   req.WaitStrategy,
		MaxEventSize:   req.MaxEventSize,
		PublishTimeout: time.Duration(req.PublishTimeoutMS) * time.Millisecond,
		FirstSequence:  req.FirstSequence,
	}
	var problems []map[string]any
	if req.Overflow != "" {
		p, err := engine.ParseOverflowPolicy(req.Overflow)
		if err != nil {
			problems = append(problems, map[string]any{"field": "overflow", "value": req.Overflow, "reason": `must be "block" or "reject"`})
		}
		cfg.Overflow = p
	}
	if req.PublishTimeoutMS < 0 {
		problems = append(problems, map[string]any{"field": "publish_timeout_ms", "value": fmt.Sprint(req.PublishTimeoutMS), "reason": "must not be negative"})
	}
	if req.Schema != nil {
		b, err := json.Marshal(normalizeSchema(req.Schema))
		if err != nil {
			c.fail(errorf(CodeInvalidSchema, "schema is not a JSON document: %v", err))
			return
		}
		cfg.Schema = b
	}
	if req.Replication != "" && req.Replication != ReplicationNone && req.Replication != ReplicationQuorum {
		problems = append(problems, map[string]any{"field": "replication", "value": req.Replication, "reason": `must be "none" or "quorum"`})
	}
	if len(problems) > 0 {
		c.fail(newError(CodeValidation, "invalid disruptor settings", map[string]any{"errors": problems}))
		return
	}
	var info engine.Info
	if req.Replication == ReplicationQuorum {
		var ok bool
		if info, ok = c.createReplicated(req, cfg, req.Start == nil || *req.Start); !ok {
			return
		}
	} else {
		var err error
		if info, err = c.s.eng.Create(cfg, req.Start == nil || *req.Start); err != nil {
			c.failEngine(err)
			return
		}
	}
	c.s.advertise()
	c.w.Header().Set("Location", "/api/v1/disruptors/"+url.PathEscape(info.Name))
	c.respond(http.StatusCreated, c.s.disruptor(info))
}

// normalizeSchema makes a decoded YAML or MessagePack document JSON
// encodable: maps with interface keys get string keys.
func normalizeSchema(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeSchema(e)
		}
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			ks, ok := k.(string)
			if !ok {
				ks = fmt.Sprint(k)
			}
			m[ks] = normalizeSchema(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = normalizeSchema(e)
		}
		return x
	}
	return v
}

func (c *call) getDisruptor() {
	if !c.readReplicated(c.r.PathValue("name")) {
		return
	}
	info, err := c.s.eng.Info(c.r.PathValue("name"))
	if err != nil {
		c.failEngine(err)
		return
	}
	c.respond(http.StatusOK, c.s.disruptor(info))
}

func (c *call) deleteDisruptor() {
	if rn := c.s.replicated(c.r.PathValue("name")); rn != nil {
		if err := rn.Delete(c.r.Context(), c.r.PathValue("name")); err != nil {
			c.failReplication(err)
			return
		}
	} else if err := c.s.eng.Delete(c.r.Context(), c.r.PathValue("name")); err != nil {
		c.failEngine(err)
		return
	}
	c.s.advertise()
	c.w.Header().Set("Cache-Control", "no-store")
	c.w.WriteHeader(http.StatusNoContent)
}

func (c *call) getState() {
	info, err := c.s.eng.Info(c.r.PathValue("name"))
	if err != nil {
		c.failEngine(err)
		return
	}
	c.respond(http.StatusOK, StateResponse{Disruptor: info.Name, State: info.State.String()})
}

func (c *call) putState() {
	name := c.r.PathValue("name")
	if _, err := c.s.eng.Info(name); err != nil {
		c.failEngine(err)
		return
	}
	var req StateRequest
	if !c.body(&req) {
		return
	}
	st, err := engine.ParseState(req.State)
	if err != nil || st == engine.StateDeleted {
		c.fail(newError(CodeValidation, fmt.Sprintf("state %q is not one of created, running, paused, stopped", req.State),
			map[string]any{"errors": []map[string]any{{"field": "state", "value": req.State, "reason": "must be running, paused or stopped"}}}))
		return
	}
	if rn := c.s.replicated(name); rn != nil {
		info, err := rn.SetState(c.r.Context(), name, st)
		if err != nil {
			c.failReplication(err)
			return
		}
		c.respond(http.StatusOK, c.s.disruptor(info))
		return
	}
	info, err := c.s.eng.SetState(c.r.Context(), name, st)
	if err != nil {
		c.failEngine(err)
		return
	}
	c.respond(http.StatusOK, c.s.disruptor(info))
}

// ---- events ----

// traceMetadata is the W3C trace context to carry on the events of a
// publish: the publish span's when tracing is on, else the client's
// traceparent and tracestate headers when well-formed.
func (c *call) traceMetadata(span trace.Span) []engine.Metadata {
	if span != nil && span.SpanContext().IsValid() {
		carrier := propagation.MapCarrier{}
		propagation.TraceContext{}.Inject(trace.ContextWithSpan(c.r.Context(), span), carrier)
		var md []engine.Metadata
		for _, k := range []string{"traceparent", "tracestate"} {
			if v := carrier.Get(k); v != "" {
				md = append(md, engine.Metadata{Key: k, Value: v})
			}
		}
		return md
	}
	tp := c.r.Header.Get("Traceparent")
	if !validTraceparent(tp) {
		return nil
	}
	md := []engine.Metadata{{Key: "traceparent", Value: tp}}
	if ts := c.r.Header.Get("Tracestate"); ts != "" && len(ts) <= 512 {
		md = append(md, engine.Metadata{Key: "tracestate", Value: ts})
	}
	return md
}

// validTraceparent checks the W3C form 00-<32 hex>-<16 hex>-<2 hex>.
func validTraceparent(s string) bool {
	if len(s) != 55 || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if i == 2 || i == 35 || i == 52 {
			continue
		}
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}

// addTrace puts the trace metadata on every event without it.
func addTrace(events []engine.Event, md []engine.Metadata) {
	if len(md) == 0 {
		return
	}
outer:
	for i := range events {
		ev := &events[i]
		if len(ev.Metadata) == 0 {
			ev.Metadata = md // shared: the engine copies it
			continue
		}
		for _, m := range ev.Metadata {
			if m.Key == "traceparent" {
				continue outer
			}
		}
		ev.Metadata = append(ev.Metadata, md...)
	}
}

// idempotencyKey reads the Idempotency-Key header.
func (c *call) idempotencyKey() (string, *Error) {
	k := c.r.Header.Get("Idempotency-Key")
	if k == "" {
		return "", nil
	}
	if !validKey(k) {
		return "", newError(CodeInvalidParameter, "Idempotency-Key must be 1 to 255 printable ASCII characters",
			map[string]any{"parameter": "Idempotency-Key"})
	}
	return k, nil
}

func validKey(k string) bool {
	if k == "" || len(k) > 255 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// decodeEvents reads and decodes a publish body.
func (c *call) decodeEvents(multi bool) (*eventDecoder, func(), bool) {
	f, e := requestFormat(c.r)
	if e != nil {
		c.fail(e)
		return nil, nil, false
	}
	buf, e := readBody(c.w, c.r, c.s.cfg.MaxBodyBytes)
	if e != nil {
		c.fail(e)
		return nil, nil, false
	}
	cfg := c.s.eng.Config()
	d := getDecoder(cfg.MaxBatchEvents, cfg.MaxMetadata, cfg.MaxEventSize)
	done := func() {
		d.release()
		releaseBody(buf)
	}
	var err error
	if multi {
		err = d.decodeMulti(f, buf.Bytes())
	} else {
		err = d.decodePublish(f, buf.Bytes())
	}
	if err != nil {
		done()
		c.fail(d.apiError(f, err))
		return nil, nil, false
	}
	return d, done, true
}

func (c *call) publish() {
	name := c.r.PathValue("name")
	key, e := c.idempotencyKey()
	if e != nil {
		c.fail(e)
		return
	}
	d, done, ok := c.decodeEvents(false)
	if !ok {
		return
	}
	defer done()
	ctx := c.r.Context()
	var span trace.Span
	if c.s.tracer != nil {
		ctx, span = c.s.tracer.Start(ctx, "publish "+name, trace.WithAttributes(
			attribute.String("badbatch.disruptor", name), attribute.Int("badbatch.events", len(d.events))))
		defer span.End()
	}
	addTrace(d.events, c.traceMetadata(span))
	b := engine.Batch{Events: d.events, IdempotencyKey: key}
	rn := c.s.replicated(name)
	var seqs []int64
	var err error
	if rn != nil {
		seqs, err = rn.Publish(ctx, name, &b)
	} else {
		seqs, err = c.s.eng.Publish(ctx, name, &b)
	}
	if err != nil {
		if span != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		if rn != nil {
			c.failReplication(err)
		} else {
			c.failEngine(err)
		}
		return
	}
	if b.Duplicate {
		c.w.Header().Set("Idempotent-Replayed", "true")
	}
	c.respondPublish(toPublishResult(name, seqs, b.Duplicate))
}

// respondPublish writes a publish result; JSON by hand, as it is on the
// hot path.
func (c *call) respondPublish(r PublishResult) {
	if c.out != formatJSON {
		c.respond(http.StatusOK, r)
		return
	}
	buf := outPool.Get().(*bytes.Buffer)
	b := append(buf.Bytes()[:0], `{"disruptor":`...)
	b = appendString(b, r.Disruptor)
	b = append(b, `,"first_sequence":`...)
	b = appendInt(b, r.FirstSequence)
	b = append(b, `,"last_sequence":`...)
	b = appendInt(b, r.LastSequence)
	b = append(b, `,"count":`...)
	b = appendInt(b, int64(r.Count))
	b = append(b, `,"duplicate":`...)
	b = strconv.AppendBool(b, r.Duplicate)
	b = append(b, "}\n"...)
	c.send(http.StatusOK, b)
	c.recycle(buf, b)
}

func (c *call) publishMulti() {
	key, e := c.idempotencyKey()
	if e != nil {
		c.fail(e)
		return
	}
	d, done, ok := c.decodeEvents(true)
	if !ok {
		return
	}
	defer done()
	for _, bs := range d.batches { // all or nothing: before any publish
		if !c.permits(bs.disruptor) {
			return
		}
	}
	ctx := c.r.Context()
	out := MultiResponse{Results: make([]MultiResult, len(d.batches))}
	for i, bs := range d.batches {
		res := MultiResult{Disruptor: bs.disruptor}
		var span trace.Span
		bctx := ctx
		if c.s.tracer != nil {
			bctx, span = c.s.tracer.Start(ctx, "publish "+bs.disruptor, trace.WithAttributes(
				attribute.String("badbatch.disruptor", bs.disruptor), attribute.Int("badbatch.events", bs.hi-bs.lo)))
		}
		events := d.events[bs.lo:bs.hi]
		addTrace(events, c.traceMetadata(span))
		b := engine.Batch{Events: events, IdempotencyKey: bs.key}
		if b.IdempotencyKey == "" && key != "" {
			b.IdempotencyKey = key
		}
		var err error
		var seqs []int64
		if !validKey(b.IdempotencyKey) && b.IdempotencyKey != "" {
			err = newError(CodeInvalidParameter, "idempotency_key must be 1 to 255 printable ASCII characters", nil)
		} else {
			seqs, err = c.s.publishTo(bctx, bs.disruptor, &b)
		}
		if span != nil {
			if err != nil {
				span.SetStatus(codes.Error, err.Error())
			}
			span.End()
		}
		if err != nil {
			res.Error = fromEngine(err)
			c.s.errors.WithLabelValues(res.Error.Code).Inc()
			out.Failed++
		} else {
			res.Count, res.Duplicate = len(seqs), b.Duplicate
			res.FirstSequence, res.LastSequence = &seqs[0], &seqs[len(seqs)-1]
			out.Succeeded++
		}
		out.Results[i] = res
	}
	status := http.StatusOK
	if out.Failed > 0 {
		status = http.StatusMultiStatus
	}
	c.respond(status, out)
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
	if !c.readReplicated(name) {
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
	switch c.out {
	case formatYAML:
		c.respond(http.StatusOK, page.yaml())
	case formatMsgpack:
		buf := outPool.Get().(*bytes.Buffer)
		b := page.appendMsgpack(buf.Bytes()[:0])
		c.send(http.StatusOK, b)
		c.recycle(buf, b)
	default:
		buf := outPool.Get().(*bytes.Buffer)
		b := page.appendJSON(buf.Bytes()[:0])
		c.send(http.StatusOK, b)
		c.recycle(buf, b)
	}
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
	if !c.readReplicated(c.r.PathValue("name")) {
		return
	}
	rec := getRecords()
	defer putRecords(rec)
	ev, err := c.s.eng.Get(c.r.PathValue("name"), seq, rec)
	if err != nil {
		c.failEngine(err)
		return
	}
	switch c.out {
	case formatYAML:
		c.respond(http.StatusOK, toYAMLEvent(&ev))
	case formatMsgpack:
		c.send(http.StatusOK, appendEventMsgpack(nil, &ev))
	default:
		c.send(http.StatusOK, append(appendEventJSON(nil, &ev), '\n'))
	}
}
