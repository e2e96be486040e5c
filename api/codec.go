package api

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
	"go.yaml.in/yaml/v3"
)

// format is one of the body encodings the API speaks.
type format uint8

const (
	formatJSON format = iota
	formatYAML
	formatMsgpack
)

// The media types of each format; the first is what responses carry.
var mediaTypes = [...][]string{
	formatJSON:    {"application/json"},
	formatYAML:    {"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"},
	formatMsgpack: {"application/msgpack", "application/x-msgpack", "application/vnd.msgpack"},
}

func (f format) contentType() string {
	if f == formatJSON {
		return "application/json"
	}
	return mediaTypes[f][0]
}

func (f format) String() string { return [...]string{"json", "yaml", "msgpack"}[f] }

// formatOf maps a media type (parameters stripped, lower case) to a
// format.
func formatOf(mt string) (format, bool) {
	for f, ts := range mediaTypes {
		for _, t := range ts {
			if t == mt {
				return format(f), true
			}
		}
	}
	if strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json") {
		return formatJSON, true
	}
	return 0, false
}

// requestFormat is the format of the request's body, by Content-Type; an
// absent Content-Type means JSON.
func requestFormat(r *http.Request) (format, *Error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return formatJSON, nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return 0, errorf(CodeUnsupportedMediaType, "Content-Type %q is not a media type", ct)
	}
	f, ok := formatOf(mt)
	if !ok {
		return 0, newError(CodeUnsupportedMediaType, fmt.Sprintf("Content-Type %q is not supported", mt),
			map[string]any{"supported": supportedTypes()})
	}
	return f, nil
}

func supportedTypes() []string {
	var out []string
	for _, ts := range mediaTypes {
		out = append(out, ts...)
	}
	return out
}

// acceptRange is one media range of an Accept header.
type acceptRange struct {
	typ, sub string
	q        float64
}

// negotiate picks the response format from the Accept header: the
// acceptable format with the highest quality, JSON on ties, absence or
// "*/*". It fails when the client accepts none of them.
func negotiate(accept string) (format, bool) {
	if strings.TrimSpace(accept) == "" {
		return formatJSON, true
	}
	best, bestQ := formatJSON, -1.0
	for _, part := range strings.Split(accept, ",") {
		ar, ok := parseRange(part)
		if !ok || ar.q <= 0 {
			continue
		}
		for _, f := range []format{formatJSON, formatYAML, formatMsgpack} {
			if ar.q > bestQ && matches(ar, f) {
				best, bestQ = f, ar.q
			}
		}
	}
	return best, bestQ > 0
}

func parseRange(s string) (acceptRange, bool) {
	mt, params, err := mime.ParseMediaType(strings.TrimSpace(s))
	if err != nil {
		return acceptRange{}, false
	}
	typ, sub, ok := strings.Cut(mt, "/")
	if !ok {
		return acceptRange{}, false
	}
	q := 1.0
	if v, ok := params["q"]; ok {
		if q, err = strconv.ParseFloat(v, 64); err != nil || q < 0 || q > 1 {
			return acceptRange{}, false
		}
	}
	return acceptRange{typ: typ, sub: sub, q: q}, true
}

func matches(ar acceptRange, f format) bool {
	if ar.typ == "*" && ar.sub == "*" {
		return true
	}
	for _, t := range mediaTypes[f] {
		typ, sub, _ := strings.Cut(t, "/")
		if ar.typ == typ && (ar.sub == "*" || ar.sub == sub) {
			return true
		}
	}
	return false
}

// bodyPool recycles request body buffers.
var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

var gzipReaders sync.Pool

// readBody reads the request body, gunzipping it when Content-Encoding
// says so, up to max bytes after decompression. The returned buffer goes
// back to bodyPool with releaseBody once nothing refers to its bytes.
func readBody(w http.ResponseWriter, r *http.Request, max int64) (*bytes.Buffer, *Error) {
	var src io.Reader = http.MaxBytesReader(w, r.Body, max)
	var zr *gzip.Reader
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		if v := gzipReaders.Get(); v != nil {
			zr = v.(*gzip.Reader)
			if err := zr.Reset(src); err != nil {
				gzipReaders.Put(zr)
				return nil, gzipError(err)
			}
		} else {
			var err error
			if zr, err = gzip.NewReader(src); err != nil {
				return nil, gzipError(err)
			}
		}
		defer gzipReaders.Put(zr)
		src = zr
	default:
		return nil, newError(CodeUnsupportedContentEncoding, fmt.Sprintf("Content-Encoding %q is not supported", enc),
			map[string]any{"supported": []string{"gzip", "identity"}})
	}
	buf := bodyPool.Get().(*bytes.Buffer)
	buf.Reset()
	if r.ContentLength > 0 && r.ContentLength <= max && zr == nil {
		buf.Grow(int(r.ContentLength))
	}
	n, err := buf.ReadFrom(io.LimitReader(src, max+1))
	if err == nil && n > max {
		err = &http.MaxBytesError{Limit: max}
	}
	if err != nil {
		releaseBody(buf)
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return nil, newError(CodeBodyTooLarge, fmt.Sprintf("the request body is over the limit of %d bytes", max),
				map[string]any{"limit": max})
		case isTimeout(err):
			return nil, errorf(CodeRequestTimeout, "the request body did not arrive within the server's read timeout")
		case zr != nil && !isNetError(err):
			return nil, gzipError(err)
		default:
			// The error would name the connection's addresses.
			return nil, errorf(CodeMalformedBody, "the request body could not be read to its end")
		}
	}
	return buf, nil
}

// isTimeout reports whether err is a read deadline that passed.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}

// isNetError reports whether err came from the connection.
func isNetError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne)
}

func gzipError(err error) *Error {
	return errorf(CodeInvalidEncoding, "the gzip request body is corrupt: %v", err)
}

func releaseBody(b *bytes.Buffer) {
	if b != nil && b.Cap() <= 4<<20 {
		bodyPool.Put(b)
	}
}

// decodeBody decodes a request body of format f into v strictly: unknown
// fields, trailing data and wrong types are errors.
func decodeBody(f format, body []byte, v any) *Error {
	if len(bytes.TrimSpace(body)) == 0 {
		return errorf(CodeMalformedBody, "the request body is empty")
	}
	var err error
	switch f {
	case formatJSON:
		d := json.NewDecoder(bytes.NewReader(body))
		d.DisallowUnknownFields()
		d.UseNumber()
		if err = d.Decode(v); err == nil {
			if _, terr := d.Token(); terr != io.EOF {
				err = errors.New("trailing data after the JSON value")
			}
		}
	case formatYAML:
		d := yaml.NewDecoder(bytes.NewReader(body))
		d.KnownFields(true)
		if err = d.Decode(v); err == nil {
			var extra yaml.Node
			if d.Decode(&extra) != io.EOF {
				err = errors.New("more than one YAML document")
			}
		}
	case formatMsgpack:
		d := msgpack.NewDecoder(bytes.NewReader(body))
		d.SetCustomStructTag("json")
		d.DisallowUnknownFields(true)
		if err = d.Decode(v); err == nil {
			if _, perr := d.PeekCode(); perr != io.EOF {
				err = errors.New("trailing data after the MessagePack value")
			}
		}
	}
	if err != nil {
		return newError(CodeMalformedBody, fmt.Sprintf("the %s body does not decode: %v", f, err),
			map[string]any{"format": f.String()})
	}
	return nil
}

// encodeBody appends v in format f to buf.
func encodeBody(buf *bytes.Buffer, f format, v any) error {
	switch f {
	case formatYAML:
		e := yaml.NewEncoder(buf)
		e.SetIndent(2)
		if err := e.Encode(v); err != nil {
			return err
		}
		return e.Close()
	case formatMsgpack:
		e := msgpack.GetEncoder()
		defer msgpack.PutEncoder(e)
		e.Reset(buf)
		e.SetCustomStructTag("json")
		e.SetOmitEmpty(false)
		return e.Encode(v)
	default:
		e := json.NewEncoder(buf)
		e.SetEscapeHTML(false)
		return e.Encode(v)
	}
}
