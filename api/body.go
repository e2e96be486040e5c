package api

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
)

// Request bodies are read whole into memory, under three bounds that hold
// before anything is allocated for them:
//
//   - the body limit after decompression: Config.MaxBodyBytes for
//     publishes (YAML bodies get 1/64 of it: yaml.v3's node tree costs some
//     120 bytes per byte), and at most documentLimit for the other bodies;
//   - the compression ratio: a gzip body may not decompress to more than
//     Config.MaxCompressionRatio times what was read of it (plus a MiB),
//     so a small bomb is refused after a little work;
//   - the server-wide budget of memory for bodies in flight
//     (Config.MaxInflightBodyBytes), which every request draws on as its
//     buffer grows and before it decodes (by the format's expansion): a
//     request that finds it spent waits up to inflightWait and is then
//     refused with 503 OVERLOADED, so parallel bombs cannot add up.

// documentLimit bounds the bodies that are not publishes (create, state,
// join): a disruptor's settings and schema need no more.
const documentLimit = 1 << 20

// ratioSlack is what a gzip body may decompress to whatever its ratio.
const ratioSlack = 1 << 20

// inflightWait is how long a request waits for the body budget.
const inflightWait = time.Second

// budget is the server-wide memory budget of request bodies in flight.
// A nil *budget is no budget.
type budget struct {
	sem   *semaphore.Weighted
	total int64
}

func newBudget(total int64) *budget {
	if total <= 0 {
		return nil
	}
	return &budget{sem: semaphore.NewWeighted(total), total: total}
}

// reserve grows the call's share of the budget to n bytes, waiting up to
// inflightWait (within the request's context), or answers 503 OVERLOADED.
func (c *call) reserve(n int64) *Error {
	b := c.s.budget
	if b == nil || n <= c.reserved {
		return nil
	}
	more := n - c.reserved
	if more > b.total {
		return c.overloaded(n)
	}
	if !b.sem.TryAcquire(more) {
		ctx, cancel := context.WithTimeout(c.r.Context(), inflightWait)
		err := b.sem.Acquire(ctx, more)
		cancel()
		if err != nil {
			return c.overloaded(n)
		}
	}
	c.reserved = n
	return nil
}

func (c *call) overloaded(n int64) *Error {
	return newError(CodeOverloaded, "the server holds as many request bodies as its memory budget allows; retry shortly",
		map[string]any{"budget_bytes": c.s.budget.total, "wanted_bytes": n})
}

// releaseBody gives back what the call's body took: its buffer and its
// share of the budget. endpoint calls it once the handler has returned.
func (c *call) releaseBody() {
	if c.buf != nil {
		putBuf(c.buf)
		c.buf = nil
	}
	if c.reserved > 0 {
		c.s.budget.sem.Release(c.reserved)
		c.reserved = 0
	}
}

// bufPool recycles body buffers of up to 4 MiB.
var bufPool sync.Pool

func getBuf() []byte {
	if p, ok := bufPool.Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return nil
}

func putBuf(b []byte) {
	if cap(b) > 0 && cap(b) <= 4<<20 {
		bufPool.Put(&b)
	}
}

var gzipReaders sync.Pool

// readBody reads the request body of format f, gunzipping it when
// Content-Encoding says so, under the limits above; limit is the body
// limit before the format's share. The bytes are the call's until the
// handler returns.
func (c *call) readBody(f format, limit int64) ([]byte, *Error) {
	limit /= codecs[f].maxBody
	// raw counts down what is read of the body (MaxBytesReader stops it at
	// the limit first), for the compression ratio.
	raw := &io.LimitedReader{R: http.MaxBytesReader(c.w, c.r.Body, limit), N: limit + 1}
	var src io.Reader = raw
	var zr *gzip.Reader
	switch enc := strings.ToLower(strings.TrimSpace(c.r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		if v := gzipReaders.Get(); v != nil {
			zr = v.(*gzip.Reader)
			if err := zr.Reset(raw); err != nil {
				gzipReaders.Put(zr)
				return nil, c.readError(err, true, limit)
			}
		} else {
			var err error
			if zr, err = gzip.NewReader(raw); err != nil {
				return nil, c.readError(err, true, limit)
			}
		}
		defer gzipReaders.Put(zr)
		src = zr
	default:
		return nil, newError(CodeUnsupportedContentEncoding, fmt.Sprintf("Content-Encoding %q is not supported", enc),
			map[string]any{"supported": []string{"gzip", "identity"}})
	}
	ratio := c.s.cfg.MaxCompressionRatio
	b := getBuf()
	c.buf = b
	size := int64(4096)
	if n := c.r.ContentLength; n > 0 && zr == nil {
		size = n + 1 // + 1 to see the end without growing
	}
	// b[:end] is what the call reserved: it grows by doubling, up to the
	// limit and a byte.
	end := 0
	for {
		if len(b) == end {
			if int64(end) > limit {
				return nil, tooLargeBody(limit)
			}
			size = min(max(size, 2*int64(end)), limit+1)
			if e := c.reserve(size); e != nil {
				return nil, e
			}
			b = slices.Grow(b, int(size)-len(b))
			c.buf, end = b, int(size)
		}
		n, err := src.Read(b[len(b):end])
		b = b[:len(b)+n]
		c.buf = b
		if int64(len(b)) > limit {
			return nil, tooLargeBody(limit)
		}
		if zr != nil && ratio > 0 && int64(len(b)) > ratio*(limit+1-raw.N)+ratioSlack {
			return nil, newError(CodeBodyTooLarge, fmt.Sprintf("the gzip body decompresses to more than %d times its size", ratio),
				map[string]any{"limit": limit, "max_ratio": ratio})
		}
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, c.readError(err, zr != nil, limit)
		}
	}
}

func tooLargeBody(limit int64) *Error {
	return newError(CodeBodyTooLarge, fmt.Sprintf("the request body is over the limit of %d bytes", limit),
		map[string]any{"limit": limit})
}

// readError maps a failure to read the body.
func (c *call) readError(err error, gzipped bool, limit int64) *Error {
	var mbe *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &mbe):
		return tooLargeBody(limit)
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, os.ErrDeadlineExceeded):
		return newError(CodeRequestTimeout, fmt.Sprintf("the request body did not arrive within the read timeout (%v)", c.s.cfg.ReadTimeout), nil)
	case gzipped && !errors.As(err, &ne):
		return errorf(CodeInvalidEncoding, "the gzip request body is corrupt: %v", err)
	default:
		// The error would name the connection's addresses.
		return errorf(CodeMalformedBody, "the request body could not be read to its end")
	}
}
