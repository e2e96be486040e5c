package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/badbatch/badbatch/engine"
	"github.com/badbatch/badbatch/wire"
)

// The live tail, GET /api/v1/disruptors/{name}/events/stream, in two
// framings:
//
// Server-Sent Events (Accept: text/event-stream, or format=sse; the
// default): each event is a message whose id is its sequence and whose
// data is the event's JSON, so a browser's EventSource resumes after the
// last one it saw by sending Last-Event-ID. Control messages carry an
// event name: "gap" (sequences skipped under on_lag=skip; its id is the
// last skipped, so a resume goes on after it), "lagged" (the final message
// when a slow subscriber is disconnected: it names the last sequence
// delivered) and "end" (the disruptor stopped or was deleted, or the
// server is shutting down). Idle streams get a ": keepalive" comment.
//
// NDJSON (Accept: application/x-ndjson, or format=ndjson): one JSON
// object per line: events as in replay, and control lines with a "type"
// ("gap", "lagged", "end", "heartbeat") that events never have.
//
// A stream starts at from=SEQ (or after Last-Event-ID, which wins), or
// with the next event published when neither is given; a start already
// evicted is answered 410 before the stream begins.

type streamMode uint8

const (
	modeSSE streamMode = iota
	modeNDJSON
)

// streamModeOf picks the framing from format= or Accept.
func streamModeOf(accept, format string) (streamMode, *Error) {
	switch strings.ToLower(format) {
	case "sse":
		return modeSSE, nil
	case "ndjson", "jsonl":
		return modeNDJSON, nil
	case "":
	default:
		return 0, newError(CodeInvalidParameter, fmt.Sprintf("format=%q must be sse or ndjson", format),
			map[string]any{"parameter": "format", "value": format})
	}
	if strings.TrimSpace(accept) == "" {
		return modeSSE, nil
	}
	best, bestQ := modeSSE, -1.0
	for _, part := range strings.Split(accept, ",") {
		ar, ok := parseRange(part)
		if !ok || ar.q <= 0 {
			continue
		}
		mt := ar.typ + "/" + ar.sub
		var m streamMode
		switch mt {
		case "*/*", "text/*", "text/event-stream":
			m = modeSSE
		case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/json", "application/*":
			m = modeNDJSON
		default:
			continue
		}
		if ar.q > bestQ {
			best, bestQ = m, ar.q
		}
	}
	if bestQ < 0 {
		return 0, newError(CodeNotAcceptable, "streams are served as text/event-stream or application/x-ndjson",
			map[string]any{"supported": []string{"text/event-stream", "application/x-ndjson"}})
	}
	return best, nil
}

func (c *call) stream() {
	c.out = formatJSON // errors before the stream starts
	name := c.r.PathValue("name")
	q := c.r.URL.Query()
	mode, e := streamModeOf(c.r.Header.Get("Accept"), q.Get("format"))
	if e != nil {
		c.fail(e)
		return
	}
	opts := engine.SubscribeOptions{From: -1}
	switch v := q.Get("on_lag"); v {
	case "", "disconnect":
	case "skip":
		opts.OnLag = engine.LagSkip
	default:
		c.fail(newError(CodeInvalidParameter, fmt.Sprintf("on_lag=%q must be disconnect or skip", v),
			map[string]any{"parameter": "on_lag", "value": v}))
		return
	}
	if id := c.r.Header.Get("Last-Event-ID"); id != "" {
		seq, e := seqParam("Last-Event-ID", id)
		if e != nil {
			c.fail(e)
			return
		}
		opts.From = seq + 1
	} else if v := q.Get("from"); v != "" {
		if opts.From, e = seqParam("from", v); e != nil {
			c.fail(e)
			return
		}
	}
	if c.s.closed.Load() {
		c.fail(errorf(CodeShuttingDown, "the server is shutting down"))
		return
	}
	bucket := c.bucket()
	if !c.s.streamq.acquire(bucket) {
		c.deny(newError(CodeTooManySubscribers, fmt.Sprintf("this client has its maximum of %d live streams open", c.s.cfg.MaxStreamsPerKey),
			map[string]any{"limit": c.s.cfg.MaxStreamsPerKey, "scope": "client"}), "stream_limit")
		return
	}
	defer c.s.streamq.release(bucket)
	sub, err := c.s.eng.Subscribe(name, opts)
	if err != nil {
		c.failEngine(err)
		return
	}
	defer sub.Close()
	c.s.streams.Inc()
	defer c.s.streams.Dec()

	h := c.w.Header()
	if mode == modeSSE {
		h.Set("Content-Type", "text/event-stream")
	} else {
		h.Set("Content-Type", "application/x-ndjson")
	}
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	rc := http.NewResponseController(c.w)
	// The server's read timeout would end a long stream: its expiry
	// cancels the request. The stream has nothing more to read.
	_ = rc.SetReadDeadline(time.Time{})
	st := &streamer{c: c, rc: rc, mode: mode}
	c.w.WriteHeader(http.StatusOK)
	if c.r.Method == http.MethodHead {
		return
	}
	if mode == modeSSE {
		st.buf = append(st.buf, "retry: 2000\n: stream of "...)
		st.buf = append(st.buf, name...)
		st.buf = append(st.buf, " from "...)
		st.buf = appendInt(st.buf, sub.Next())
		st.buf = append(st.buf, "\n\n"...)
	}
	if !st.flush() {
		return
	}

	rec := getRecords()
	defer putRecords(rec)
	heartbeat := time.NewTicker(c.s.cfg.StreamHeartbeat)
	defer heartbeat.Stop()
	ctx := c.r.Context()
	for {
		gap, err := sub.Poll(rec, c.s.cfg.StreamBatch)
		if gap.Count > 0 {
			st.gap(gap)
		}
		for i := range rec.Events {
			st.event(&rec.Events[i])
		}
		if err != nil {
			st.final(err)
			st.flush()
			return
		}
		if len(st.buf) > 0 {
			if !st.flush() {
				return
			}
			continue
		}
		select {
		case <-sub.Wait():
		case <-heartbeat.C:
			st.heartbeat()
			if !st.flush() {
				return
			}
		case <-c.s.closing:
			st.end(engine.EndShutdown, sub.Next()-1)
			st.flush()
			return
		case <-ctx.Done():
			return
		}
	}
}

// streamer frames and writes one stream.
type streamer struct {
	c    *call
	rc   *http.ResponseController
	mode streamMode
	buf  []byte
}

// flush writes what is framed, within the write timeout, and reports
// whether the client is still there.
func (s *streamer) flush() bool {
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.c.s.cfg.StreamWriteTimeout))
	if len(s.buf) > 0 {
		if _, err := s.c.w.Write(s.buf); err != nil {
			return false
		}
		s.buf = s.buf[:0]
	}
	if err := s.rc.Flush(); err != nil {
		return false
	}
	return true
}

func (s *streamer) event(ev *engine.Event) {
	if s.mode == modeSSE {
		s.buf = append(s.buf, "id: "...)
		s.buf = appendInt(s.buf, ev.Sequence)
		s.buf = append(s.buf, "\ndata: "...)
		s.buf = appendEventJSON(s.buf, ev)
		s.buf = append(s.buf, "\n\n"...)
		return
	}
	s.buf = appendEventJSON(s.buf, ev)
	s.buf = append(s.buf, '\n')
}

// control frames a control message: JSON object body (without braces)
// under an SSE event name, or an NDJSON line.
func (s *streamer) control(event string, id int64, body []byte) {
	if s.mode == modeSSE {
		if id >= 0 {
			s.buf = append(s.buf, "id: "...)
			s.buf = appendInt(s.buf, id)
			s.buf = append(s.buf, '\n')
		}
		s.buf = append(s.buf, "event: "...)
		s.buf = append(s.buf, event...)
		s.buf = append(s.buf, "\ndata: "...)
	}
	s.buf = append(s.buf, `{"type":"`...)
	s.buf = append(s.buf, event...)
	s.buf = append(s.buf, '"')
	if len(body) > 0 {
		s.buf = append(s.buf, ',')
		s.buf = append(s.buf, body...)
	}
	s.buf = append(s.buf, '}', '\n')
	if s.mode == modeSSE {
		s.buf = append(s.buf, '\n')
	}
}

func (s *streamer) gap(g engine.Gap) {
	b := append([]byte(`"from":`), appendInt(nil, g.From)...)
	b = append(b, `,"to":`...)
	b = appendInt(b, g.To)
	b = append(b, `,"count":`...)
	b = appendInt(b, g.Count)
	s.control("gap", g.To, b)
}

func (s *streamer) end(reason engine.EndReason, last int64) {
	b := append([]byte(`"reason":`), appendString(nil, string(reason))...)
	b = append(b, `,"last_sequence":`...)
	b = appendInt(b, last)
	s.control("end", -1, b)
}

func (s *streamer) heartbeat() {
	if s.mode == modeSSE {
		s.buf = append(s.buf, ": keepalive\n\n"...)
		return
	}
	b := append([]byte(`"time":"`), time.Now().UTC().AppendFormat(nil, time.RFC3339Nano)...)
	s.control("heartbeat", -1, append(b, '"'))
}

// final frames the message that ends a stream.
func (s *streamer) final(err error) {
	var le *engine.LaggedError
	var ee *engine.EndError
	switch {
	case errors.As(err, &le):
		b := append([]byte(`"code":"`+wire.CodeSubscriberLagged+`","last_sequence":`), appendInt(nil, le.LastDelivered)...)
		b = append(b, `,"oldest_sequence":`...)
		b = appendInt(b, le.Oldest)
		b = append(b, `,"message":`...)
		b = appendString(b, "the subscriber fell more than a ring behind; resume after last_sequence")
		s.control("lagged", -1, b)
	case errors.As(err, &ee):
		s.end(ee.Reason, ee.LastDelivered)
	default:
		s.end(engine.EndShutdown, -1)
	}
}
