package api

import (
	"bufio"
	"compress/gzip"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// observe wraps the handler with what every request gets: a request id
// (X-Request-Id, the client's if it sent a sane one), security headers,
// CORS when configured, panic recovery, gzip response compression for
// clients that accept it, a log line, an audit line when the request was
// denied or was an operator's or admin's action, and metrics.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rid := r.Header.Get("X-Request-Id")
		if !validRequestID(rid) {
			rid = newRequestID()
		}
		w.Header().Set("X-Request-Id", rid)
		securityHeaders(w.Header(), r.TLS != nil)
		rw := &responseWriter{ResponseWriter: w}
		if s.cors.apply(rw, r) {
			s.log.LogAttrs(r.Context(), slog.LevelDebug, "preflight", slog.String("request_id", rid),
				slog.String("path", r.URL.Path), slog.String("origin", r.Header.Get("Origin")))
			return
		}
		var out http.ResponseWriter = rw
		var gz *gzipWriter
		if acceptsGzip(r.Header.Get("Accept-Encoding")) && r.Method != http.MethodHead {
			gz = newGzipWriter(rw, s.cfg.GzipMinBytes)
			out = gz
		}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("panic serving request", "request_id", rid, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if !rw.wrote {
					c := &call{s: s, w: out, r: r}
					c.fail(newError(CodeInternal, "internal error", map[string]any{"request_id": rid}))
				}
			}
			if gz != nil {
				gz.Close()
			}
			d := time.Since(start)
			pattern := r.Pattern
			if pattern == "" {
				pattern = "unmatched"
			}
			status := rw.status
			if status == 0 {
				status = http.StatusOK
			}
			s.requests.WithLabelValues(pattern, methodLabel(r.Method), strconv.Itoa(status)).Inc()
			s.duration.WithLabelValues(pattern).Observe(d.Seconds())
			level := slog.LevelInfo
			if status >= 500 {
				level = slog.LevelError
			}
			attrs := []slog.Attr{
				slog.String("request_id", rid),
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.String("route", pattern),
				slog.Int("status", status),
				slog.Int64("bytes", rw.bytes),
				slog.Duration("duration", d),
				slog.String("remote", r.RemoteAddr),
			}
			if rw.code != "" {
				attrs = append(attrs, slog.String("error_code", rw.code))
			}
			if rw.principal != "" {
				attrs = append(attrs, slog.String("principal", rw.principal))
			}
			s.log.LogAttrs(r.Context(), level, "request", attrs...)
			if rw.audit {
				s.logAudit(r, rw, rid, pattern, status)
			}
		}()
		next.ServeHTTP(out, r)
	})
}

// methodLabel is the method label of the request metrics: a method from
// a closed set, so that invented methods cannot create series.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// requestIDs makes request ids: a random per-process prefix and a
// counter, unique without a system call per request.
var requestIDs = func() struct {
	prefix [8]byte
	n      *atomic.Uint64
} {
	var p [8]byte
	_, _ = rand.Read(p[:])
	return struct {
		prefix [8]byte
		n      *atomic.Uint64
	}{p, new(atomic.Uint64)}
}()

// newRequestID returns 24 hex digits: 16 of prefix, 8 of counter.
func newRequestID() string {
	var b [24]byte
	hex.Encode(b[:16], requestIDs.prefix[:])
	n := requestIDs.n.Add(1)
	for i := 23; i >= 16; i-- {
		b[i] = hexDigits[n&0xf]
		n >>= 4
	}
	return string(b[:])
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip.
func acceptsGzip(ae string) bool {
	for _, part := range strings.Split(ae, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		if q, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if v, err := strconv.ParseFloat(q, 64); err == nil && v == 0 {
				return false
			}
		}
		return true
	}
	return false
}

// responseWriter records the status, size and error code of a response,
// and who made the request, for the log lines.
type responseWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
	code   string // the error code, when the response is an error

	principal string // the key's name, "cert:CN" or "anonymous"; "" before admission
	role      Role
	audit     bool   // write an audit line
	denied    string // why the request was refused, for the audit line
}

func (w *responseWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

func (w *responseWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if h, ok := w.ResponseWriter.(http.Hijacker); ok {
		return h.Hijack()
	}
	return nil, nil, errors.New("api: hijacking not supported")
}

var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return w
}}

// gzipWriter compresses a response once it reaches min bytes or is
// flushed (a stream); smaller responses go out as they are.
type gzipWriter struct {
	w       *responseWriter
	min     int
	status  int
	buf     []byte
	decided bool
	zw      *gzip.Writer // set once compressing
}

func newGzipWriter(w *responseWriter, min int) *gzipWriter {
	return &gzipWriter{w: w, min: min}
}

func (g *gzipWriter) Header() http.Header { return g.w.Header() }

func (g *gzipWriter) WriteHeader(code int) {
	if g.status == 0 {
		g.status = code
	}
	if code < 200 || code == http.StatusNoContent || code == http.StatusNotModified {
		g.decide(false)
	}
}

// decide fixes whether to compress, and sends the header.
func (g *gzipWriter) decide(compress bool) {
	if g.decided {
		return
	}
	g.decided = true
	h := g.w.Header()
	if compress && h.Get("Content-Encoding") == "" {
		h.Set("Content-Encoding", "gzip")
		h.Del("Content-Length")
		h.Add("Vary", "Accept-Encoding")
		g.zw = gzipWriters.Get().(*gzip.Writer)
		g.zw.Reset(g.w)
	} else {
		h.Add("Vary", "Accept-Encoding")
	}
	if g.status == 0 {
		g.status = http.StatusOK
	}
	g.w.WriteHeader(g.status)
	if len(g.buf) > 0 {
		g.write(g.buf)
		g.buf = nil
	}
}

func (g *gzipWriter) write(p []byte) (int, error) {
	if g.zw != nil {
		return g.zw.Write(p)
	}
	return g.w.Write(p)
}

func (g *gzipWriter) Write(p []byte) (int, error) {
	if !g.decided {
		if len(g.buf)+len(p) < g.min {
			g.buf = append(g.buf, p...)
			return len(p), nil
		}
		g.decide(true)
	}
	return g.write(p)
}

// Flush sends what is buffered: a handler that flushes is streaming, so
// from then on the response is compressed.
func (g *gzipWriter) Flush() {
	g.decide(true)
	if g.zw != nil {
		_ = g.zw.Flush()
	}
	g.w.Flush()
}

// Close ends the response: a small one goes out uncompressed.
func (g *gzipWriter) Close() {
	g.decide(false)
	if g.zw != nil {
		_ = g.zw.Close()
		g.zw.Reset(nil)
		gzipWriters.Put(g.zw)
		g.zw = nil
	}
}

func (g *gzipWriter) Unwrap() http.ResponseWriter { return g.w }
