package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/vmihailenco/msgpack/v5"
	"go.yaml.in/yaml/v3"

	"github.com/badbatch/badbatch/engine"
)

// format is one of the body encodings the API speaks: an index into
// codecs.
type format uint8

const (
	formatJSON format = iota
	formatYAML
	formatMsgpack
)

// codec is what the API does differently for one body format. Every
// request body is read, and every response body written, through this
// table: no switch on the format elsewhere.
type codec struct {
	name string
	// mediaTypes are the format's Content-Types; the first is what
	// responses carry.
	mediaTypes []string
	// reader returns d's tokenReader over body, for the publish grammar
	// and the strict check of the other bodies.
	reader func(d *eventDecoder, body []byte) (tokenReader, error)
	// decode fills v from body, which reader has checked, with the
	// format's library.
	decode func(d *eventDecoder, body []byte, v any) error
	// encode appends v to buf, with the format's library.
	encode func(buf *bytes.Buffer, v any) error
	// event and page write an event and a replay page (hand-written in
	// JSON and MessagePack: they are hot).
	event func(dst []byte, ev *engine.Event) ([]byte, error)
	page  func(dst []byte, p *replayPage) ([]byte, error)
	// result writes a publish result.
	result func(dst []byte, r *PublishResult) ([]byte, error)
	// document writes a JSON document (the OpenAPI description).
	document func(dst, json []byte) ([]byte, error)
	// maxBody makes the format's body limit 1/maxBody of the limit.
	maxBody int64
	// treeCost and expansion are what decoding a body byte may cost, for
	// the in-flight memory budget: treeCost bytes of parse tree (yaml.v3
	// builds some 120 bytes of nodes per byte), and expansion bytes of
	// converted payload, within the body limit (a MessagePack value
	// converts to at most 6 bytes of JSON per byte; YAML aliases may
	// expand to the limit).
	treeCost, expansion int64
	// arenaHint sizes the decoder's arena before a publish is decoded, at
	// arenaHint times the body (within the limit), for the formats whose
	// payloads are converted: growing it by appends would hold the old
	// arena and the new one at once.
	arenaHint int64
}

// decodeCost is what decoding n bytes of f may cost beyond the body.
func decodeCost(f format, n, limit int64) int64 {
	c := codecs[f]
	return c.treeCost*n + min(c.expansion*n, limit)
}

var codecs = [...]codec{
	formatJSON: {
		name:       "json",
		mediaTypes: []string{"application/json"},
		reader: func(d *eventDecoder, body []byte) (tokenReader, error) {
			d.json.reset(body)
			return &d.json, nil
		},
		decode: func(_ *eventDecoder, body []byte, v any) error {
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			dec.UseNumber()
			return dec.Decode(v)
		},
		encode: func(buf *bytes.Buffer, v any) error {
			e := json.NewEncoder(buf)
			e.SetEscapeHTML(false)
			return e.Encode(v)
		},
		event: func(dst []byte, ev *engine.Event) ([]byte, error) {
			return append(appendEventJSON(dst, ev), '\n'), nil
		},
		page:      func(dst []byte, p *replayPage) ([]byte, error) { return p.appendJSON(dst), nil },
		result:    func(dst []byte, r *PublishResult) ([]byte, error) { return appendResultJSON(dst, r), nil },
		document:  func(dst, doc []byte) ([]byte, error) { return append(dst, doc...), nil },
		maxBody:   1,
		expansion: 1, // compacting payloads
	},
	formatYAML: {
		name:       "yaml",
		mediaTypes: []string{"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"},
		reader: func(d *eventDecoder, body []byte) (tokenReader, error) {
			root, err := yamlDocument(body)
			if err != nil {
				return nil, err
			}
			d.yaml.reset(root)
			return &d.yaml, nil
		},
		decode: func(d *eventDecoder, _ []byte, v any) error { return d.yaml.root.Decode(v) },
		encode: encodeYAML,
		event: func(dst []byte, ev *engine.Event) ([]byte, error) {
			return appendYAML(dst, toYAMLEvent(ev))
		},
		page:   func(dst []byte, p *replayPage) ([]byte, error) { return appendYAML(dst, p.yaml()) },
		result: func(dst []byte, r *PublishResult) ([]byte, error) { return appendYAML(dst, r) },
		document: func(dst, doc []byte) ([]byte, error) {
			n, err := jsonToYAML(doc)
			if err != nil {
				return dst, err
			}
			return appendYAML(dst, n)
		},
		maxBody:   64,
		treeCost:  128,
		expansion: 32,
		arenaHint: 2,
	},
	formatMsgpack: {
		name:       "msgpack",
		mediaTypes: []string{"application/msgpack", "application/x-msgpack", "application/vnd.msgpack"},
		reader: func(d *eventDecoder, body []byte) (tokenReader, error) {
			d.mp.reset(body)
			return &d.mp, nil
		},
		decode: func(_ *eventDecoder, body []byte, v any) error {
			dec := msgpack.NewDecoder(bytes.NewReader(body))
			dec.SetCustomStructTag("json")
			dec.DisallowUnknownFields(true)
			return dec.Decode(v)
		},
		encode: func(buf *bytes.Buffer, v any) error {
			e := msgpack.GetEncoder()
			defer msgpack.PutEncoder(e)
			e.Reset(buf)
			e.SetCustomStructTag("json")
			e.SetOmitEmpty(false)
			return e.Encode(v)
		},
		event:  func(dst []byte, ev *engine.Event) ([]byte, error) { return appendEventMsgpack(dst, ev), nil },
		page:   func(dst []byte, p *replayPage) ([]byte, error) { return p.appendMsgpack(dst), nil },
		result: func(dst []byte, r *PublishResult) ([]byte, error) { return appendResultMsgpack(dst, r), nil },
		document: func(dst, doc []byte) ([]byte, error) {
			return jsonToMsgpack(dst, doc)
		},
		maxBody:   1,
		expansion: 6,
		arenaHint: 2,
	},
}

// encodeYAML appends v to buf as a YAML document.
func encodeYAML(buf *bytes.Buffer, v any) error {
	e := yaml.NewEncoder(buf)
	e.SetIndent(2)
	if err := e.Encode(v); err != nil {
		return err
	}
	return e.Close()
}

func appendYAML(dst []byte, v any) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	err := encodeYAML(buf, v)
	return buf.Bytes(), err
}

// encodeBody appends v in format f to buf.
func encodeBody(buf *bytes.Buffer, f format, v any) error { return codecs[f].encode(buf, v) }

func (f format) contentType() string { return codecs[f].mediaTypes[0] }

func (f format) String() string { return codecs[f].name }

// formatOf maps a media type (parameters stripped, lower case) to a
// format.
func formatOf(mt string) (format, bool) {
	for f, c := range codecs {
		if slices.Contains(c.mediaTypes, mt) {
			return format(f), true
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
	for _, c := range codecs {
		out = append(out, c.mediaTypes...)
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
		for f := range codecs {
			if ar.q > bestQ && matches(ar, format(f)) {
				best, bestQ = format(f), ar.q
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
	for _, t := range codecs[f].mediaTypes {
		typ, sub, _ := strings.Cut(t, "/")
		if ar.typ == typ && (ar.sub == "*" || ar.sub == sub) {
			return true
		}
	}
	return false
}
