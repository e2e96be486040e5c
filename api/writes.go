package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/badbatch/badbatch/engine"
	"github.com/badbatch/badbatch/journal"
	"github.com/badbatch/badbatch/wire"
)

// The write door. Every change of an existing disruptor (publish, state
// change, delete, and each batch of a multi-disruptor publish) goes
// through the engine.Writer that its name resolves to, once per request
// ([call.writer]): the engine's ring for a local disruptor, the
// replication node's proposals for a replicated one. The engine decided
// which when the disruptor was created, under its own lock, and refuses a
// local write into a replicated ring anyway, so no handler chooses
// between two paths. A create has nothing to resolve: the request's
// "replication" picks the engine or the replication node. Errors of both
// kinds go through one mapper ([call.failChange]).

// writer resolves the disruptor name of a change to its Writer, or writes
// the error (404 DISRUPTOR_NOT_FOUND, 503 SHUTTING_DOWN) and returns nil.
func (c *call) writer(name string) engine.Writer {
	w, err := c.s.eng.Writer(name)
	if err != nil {
		c.failChange(err)
		return nil
	}
	return w
}

// replicated reports whether w is a replicated disruptor's writer.
func replicated(w engine.Writer) bool {
	_, local := w.(*engine.Ring)
	return !local
}

// changed finishes a change made through w: for a replicated disruptor
// it stamps the response with the index the node had applied once the
// change was, so that a read with min_index of it, on any node, sees the
// change.
func (c *call) changed(w engine.Writer) {
	if c.s.repl != nil && replicated(w) {
		c.w.Header().Set(HeaderAppliedIndex, strconv.FormatUint(c.s.repl.AppliedIndex(), 10))
	}
}

// failChange writes the error of a change, of the engine or of the
// replication node: NOT_LEADER as a 307 to the same request on the
// leader's API when its address is known (else NO_QUORUM), and every
// other error as the table says.
func (c *call) failChange(err error) {
	e := changeError(err, c.s.leaderURL, c.r.URL)
	if loc, ok := e.Details["leader_api"].(string); ok && e.Code == CodeNotLeader {
		c.w.Header().Set("Location", loc)
	}
	c.fail(e)
}

// changeError maps the error of a change to the API's: a NOT_LEADER
// carries the leader's API address (details.leader_api) when the member
// list knows it, and is NO_QUORUM when it does not (no redirect is
// possible); a full idempotency window says when to retry.
func changeError(err error, leaderURL func(string, *url.URL) string, u *url.URL) *Error {
	e := fromEngine(err)
	if e.Code == CodeNotLeader {
		id, _ := e.Details["leader_id"].(string)
		if api := leaderURL(id, u); api != "" {
			e.Details["leader_api"] = api
		} else {
			e = newError(CodeNoQuorum, "the Raft leader's API address is not known yet", e.Details)
		}
	}
	return e
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
	problems = append(problems, journalSettings(&req, &cfg)...)
	if len(problems) > 0 {
		c.fail(newError(CodeValidation, "invalid disruptor settings", map[string]any{"errors": problems}))
		return
	}
	done, ok := c.admitSpinning(cfg)
	if !ok {
		return
	}
	defer done()
	start := req.Start == nil || *req.Start
	var info engine.Info
	if req.Replication == ReplicationQuorum {
		var ok bool
		if info, ok = c.createReplicated(req, cfg, start); !ok {
			return
		}
		c.w.Header().Set(HeaderAppliedIndex, strconv.FormatUint(c.s.repl.AppliedIndex(), 10))
	} else {
		var err error
		if info, err = c.s.eng.Create(cfg, start); err != nil {
			c.failChange(err)
			return
		}
		c.s.advertise()
	}
	c.w.Header().Set("Location", "/api/v1/disruptors/"+url.PathEscape(info.Name))
	c.respond(http.StatusCreated, c.s.disruptor(info))
}

// journalSettings copies the durability, sync and retention of req into
// cfg, and returns their problems: a quorum disruptor is never journaled
// (its record is the Raft log), so "journal", a sync mode or a retention
// with "quorum" is refused rather than ignored.
func journalSettings(req *CreateRequest, cfg *engine.DisruptorConfig) []map[string]any {
	var problems []map[string]any
	bad := func(field string, value any, reason string) {
		problems = append(problems, map[string]any{"field": field, "value": fmt.Sprint(value), "reason": reason})
	}
	if req.Durability != "" {
		d, err := engine.ParseDurability(req.Durability)
		if err != nil {
			bad("durability", req.Durability, `must be "memory" or "journal"`)
		}
		cfg.Durability = d
	}
	cfg.Sync = req.Sync
	if r := req.Retention; r != nil {
		cfg.Retention.MaxAge = time.Duration(r.MaxAgeMS) * time.Millisecond
		cfg.Retention.MaxBytes, cfg.Retention.MaxEvents = r.MaxBytes, r.MaxEvents
		if r.MaxAgeMS < 0 || r.MaxAgeMS > int64(time.Duration(1<<62)/time.Millisecond) {
			bad("retention.max_age_ms", r.MaxAgeMS, "must not be negative (0: no bound)")
		}
		if r.MaxBytes < 0 {
			bad("retention.max_bytes", r.MaxBytes, "must not be negative (0: no bound)")
		}
		if r.MaxEvents < 0 {
			bad("retention.max_events", r.MaxEvents, "must not be negative (0: no bound)")
		}
	}
	if req.Replication == ReplicationQuorum {
		if req.Durability == wire.DurabilityJournal {
			bad("durability", req.Durability, "a quorum disruptor is not journaled: its record is the Raft log (leave durability out)")
		}
		if req.Sync != "" {
			bad("sync", req.Sync, "a quorum disruptor has no journal (leave sync out)")
		}
		if req.Retention != nil {
			bad("retention", "{...}", "a quorum disruptor has no journal (leave retention out)")
		}
		cfg.Durability, cfg.Sync, cfg.Retention = engine.DurabilityMemory, "", journal.Retention{}
	} else if req.Durability == wire.DurabilityMemory {
		if req.Sync != "" {
			bad("sync", req.Sync, `needs durability "journal"`)
		}
		if req.Retention != nil {
			bad("retention", "{...}", `needs durability "journal"`)
		}
	}
	return problems
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

func (c *call) deleteDisruptor() {
	w := c.writer(c.r.PathValue("name"))
	if w == nil {
		return
	}
	if err := w.Delete(c.r.Context()); err != nil {
		c.failChange(err)
		return
	}
	c.changed(w)
	if !replicated(w) {
		c.s.advertise()
	}
	c.w.Header().Set("Cache-Control", "no-store")
	c.w.WriteHeader(http.StatusNoContent)
}

func (c *call) putState() {
	w := c.writer(c.r.PathValue("name")) // a 404 before the body is read
	if w == nil {
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
	info, err := w.SetState(c.r.Context(), st)
	if err != nil {
		c.failChange(err)
		return
	}
	c.changed(w)
	c.respond(http.StatusOK, c.s.disruptor(info))
}

// purge drops a journaled disruptor's events below a sequence, through
// the Writer its name resolves to: only a local one has a journal.
func (c *call) purge() {
	w := c.writer(c.r.PathValue("name"))
	if w == nil {
		return
	}
	var req PurgeRequest
	if !c.body(&req) {
		return
	}
	if req.Before == nil {
		c.fail(newError(CodeValidation, "before is required: the sequence below which events are dropped",
			map[string]any{"errors": []map[string]any{{"field": "before", "value": "", "reason": "is required"}}}))
		return
	}
	r, local := w.(*engine.Ring)
	if !local {
		c.fail(errorf(CodeNotJournaled, "%s is a quorum disruptor: its record is the Raft log, which has no purge", c.r.PathValue("name")))
		return
	}
	info, err := r.Purge(*req.Before)
	if err != nil {
		c.failChange(err)
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

func (c *call) publish() {
	name := c.r.PathValue("name")
	key, e := c.idempotencyKey()
	if e != nil {
		c.fail(e)
		return
	}
	w := c.writer(name)
	if w == nil {
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
	first, err := w.Publish(ctx, &b)
	if err != nil {
		if span != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		c.failChange(err)
		return
	}
	c.changed(w)
	if b.Duplicate {
		c.w.Header().Set("Idempotent-Replayed", "true")
	}
	c.respondPublish(toPublishResult(name, first, len(b.Events), b.Duplicate))
}

// respondPublish writes a publish result (by hand in JSON and
// MessagePack: it is on the hot path).
func (c *call) respondPublish(r PublishResult) {
	c.sendEncoded(func(dst []byte) ([]byte, error) { return codecs[c.out].result(dst, &r) })
}

// publishMulti publishes each batch of POST /api/v1/events through its
// disruptor's writer, one after the other, and reports each batch's
// outcome. A replicated disruptor's batch on a follower gets NOT_LEADER
// (with details.leader_api) in its result, without a redirect: the other
// batches of the request were answered here.
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
	stamp, settled := false, false
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
		var first int64
		if !validKey(b.IdempotencyKey) && b.IdempotencyKey != "" {
			err = newError(CodeInvalidParameter, "idempotency_key must be 1 to 255 printable ASCII characters", nil)
		} else {
			var w engine.Writer
			if w, err = c.s.resolve(bctx, bs.disruptor, &settled); err == nil {
				if first, err = w.Publish(bctx, &b); err == nil && replicated(w) {
					stamp = true
				}
			}
		}
		if span != nil {
			if err != nil {
				span.SetStatus(codes.Error, err.Error())
			}
			span.End()
		}
		if err != nil {
			res.Error = changeError(err, c.s.leaderURL, &url.URL{Path: "/api/v1/disruptors/" + url.PathEscape(bs.disruptor) + "/events"})
			c.s.errors.WithLabelValues(res.Error.Code).Inc()
			out.Failed++
		} else {
			last := first + int64(len(b.Events)) - 1
			res.Count, res.Duplicate = len(b.Events), b.Duplicate
			res.FirstSequence, res.LastSequence = &first, &last
			out.Succeeded++
		}
		out.Results[i] = res
	}
	if stamp {
		c.w.Header().Set(HeaderAppliedIndex, strconv.FormatUint(c.s.repl.AppliedIndex(), 10))
	}
	status := http.StatusOK
	if out.Failed > 0 {
		status = http.StatusMultiStatus
	}
	c.respond(status, out)
}

// resolve resolves the disruptor name to its writer, as call.writer does,
// for a request that names several disruptors: a name this replicating
// node does not know waits for the node to settle first (see call.known),
// once per request (*settled says it did), and is CATCHING_UP while the
// node has not caught up.
func (s *Server) resolve(ctx context.Context, name string, settled *bool) (engine.Writer, error) {
	w, err := s.eng.Writer(name)
	if err == nil || s.repl == nil || !errors.Is(err, engine.ErrNotFound) {
		return w, err
	}
	wait := !*settled
	*settled = true
	if e := s.settle(ctx, name, wait); e != nil {
		return nil, e
	}
	return s.eng.Writer(name)
}
