package api

import (
	"bytes"
	"net/http"
	"sync"
)

// The answers: a body in the negotiated format, or the error envelope.

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
