package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http/httptest"
	"strconv"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"github.com/badbatch/badbatch/engine"
)

// The request decoders are fuzzed against reference decoders built on
// encoding/json and vmihailenco/msgpack: the fast decoders must accept
// exactly what the references accept and decode it to the same events.
// The seed corpora are in testdata/fuzz.

const fuzzMaxEvents, fuzzMaxMeta = 64, 8

// split says how a fuzzed body reaches the server: whole, a byte per
// read, or half of each read (iotest.OneByteReader, iotest.HalfReader),
// gzipped or not, as nats-server's parser fuzzers split their input.
type split uint8

func (sp split) body(b []byte) (io.Reader, bool) {
	gz := sp&4 != 0
	if gz {
		b = gzipBytes(b)
	}
	var r io.Reader = bytes.NewReader(b)
	switch sp % 4 {
	case 1:
		r = iotest.OneByteReader(r)
	case 2:
		r = iotest.HalfReader(r)
	case 3:
		r = iotest.DataErrReader(r)
	}
	return r, gz
}

// fuzzServer is a server value for readBody: the default limits.
var fuzzServer = &Server{cfg: DefaultConfig(), budget: newBudget(DefaultConfig().inflightBudget())}

// readSplit reads body the way the server reads a request's, delivered
// as sp says.
func readSplit(t *testing.T, f format, body []byte, sp split) ([]byte, func()) {
	rd, gz := sp.body(body)
	req := httptest.NewRequest("POST", "/", rd)
	req.ContentLength = -1
	if gz {
		req.Header.Set("Content-Encoding", "gzip")
	}
	c := &call{s: fuzzServer, w: httptest.NewRecorder(), r: req}
	b, e := c.readBody(f, fuzzServer.cfg.MaxBodyBytes)
	if e != nil {
		c.releaseBody()
		t.Fatalf("reading a %d-byte body split %d: %v", len(body), sp, e)
	}
	if !bytes.Equal(b, body) {
		t.Fatalf("split %d: read %q, sent %q", sp, b, body)
	}
	return b, c.releaseBody
}

// fastDecode runs the server's decoder on body, delivered as sp says.
func fastDecode(t *testing.T, f format, body []byte, multi bool, sp split) ([]engine.Event, []batchSpec, error) {
	body, release := readSplit(t, f, body, sp)
	defer release()
	d := getDecoder(decodeLimits{maxEvents: fuzzMaxEvents, maxMeta: fuzzMaxMeta, maxPayload: 1 << 20, maxArena: 4 << 20})
	defer d.release()
	if err := d.decode(f, body, multi); err != nil {
		var de *decodeError
		var se *syntaxError
		if !errors.As(err, &de) && !errors.As(err, &se) {
			// encoding/json's errors for strings it decodes are fine too.
			var je *json.SyntaxError
			if !errors.As(err, &je) {
				return nil, nil, fmt.Errorf("untyped decode error %T: %w", err, err)
			}
		}
		return nil, nil, err
	}
	evs := make([]engine.Event, len(d.events))
	for i, e := range d.events {
		e.Payload = bytes.Clone(e.Payload)
		evs[i] = e
	}
	return evs, append([]batchSpec(nil), d.batches...), nil
}

// strictText reports whether JSON text is what the server stores: UTF-8
// throughout, and every escaped surrogate paired.
func strictText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	in := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case !in:
			in = c == '"'
		case c == '"':
			in = false
		case c == '\\' && i+1 < len(b) && b[i+1] == 'u' && i+5 < len(b):
			v, _ := strconv.ParseUint(string(b[i+2:i+6]), 16, 16)
			switch {
			case v >= 0xdc00 && v <= 0xdfff:
				return false
			case v >= 0xd800 && v <= 0xdbff:
				if i+11 >= len(b) || b[i+6] != '\\' || b[i+7] != 'u' {
					return false
				}
				lo, _ := strconv.ParseUint(string(b[i+8:i+12]), 16, 16)
				if lo < 0xdc00 || lo > 0xdfff {
					return false
				}
				i += 6
			}
			i += 5
		case c == '\\':
			i++
		}
	}
	return true
}

// refEvent builds an event from its fields the reference way.
type refFields struct {
	payload    []byte // JSON text, or bytes when binary
	binary     bool
	hasPayload bool
	b64        *string
	meta       []engine.Metadata
}

func (r refFields) event() (engine.Event, bool) {
	switch {
	case r.hasPayload && r.b64 != nil, !r.hasPayload && r.b64 == nil:
		return engine.Event{}, false
	case r.b64 != nil:
		b, err := base64.StdEncoding.DecodeString(*r.b64)
		if err != nil {
			return engine.Event{}, false
		}
		return engine.Event{Payload: b, Binary: true, Metadata: r.meta}, true
	}
	return engine.Event{Payload: r.payload, Binary: r.binary, Metadata: r.meta}, true
}

// ---- JSON reference: encoding/json tokens ----

type refJSON struct {
	d      *json.Decoder
	events []engine.Event
}

func refDecodeJSON(body []byte, multi bool) ([]engine.Event, []batchSpec, bool) {
	if !json.Valid(body) || !strictText(body) {
		return nil, nil, false
	}
	r := &refJSON{d: json.NewDecoder(bytes.NewReader(body))}
	fields, ok := r.object()
	if !ok {
		return nil, nil, false
	}
	if multi {
		raw, ok := fields["batches"]
		if !ok || len(fields) != 1 {
			return nil, nil, false
		}
		var arr []json.RawMessage
		if json.Unmarshal(raw, &arr) != nil || len(arr) == 0 {
			return nil, nil, false
		}
		var batches []batchSpec
		for _, b := range arr {
			rb := &refJSON{d: json.NewDecoder(bytes.NewReader(b))}
			bf, ok := rb.object()
			if !ok {
				return nil, nil, false
			}
			spec := batchSpec{lo: len(r.events)}
			for k, v := range bf {
				switch k {
				case "disruptor":
					if json.Unmarshal(v, &spec.disruptor) != nil || string(v) == "null" {
						return nil, nil, false
					}
				case "idempotency_key":
					if string(v) != "null" && (json.Unmarshal(v, &spec.key) != nil) {
						return nil, nil, false
					}
				case "events":
					if !r.eventsArray(v) {
						return nil, nil, false
					}
				default:
					return nil, nil, false
				}
			}
			spec.hi = len(r.events)
			if _, ok := bf["disruptor"]; !ok || spec.hi == spec.lo {
				return nil, nil, false
			}
			batches = append(batches, spec)
		}
		return r.events, batches, len(batches) <= 256
	}
	evRaw, hasEvents := fields["events"]
	if hasEvents {
		if len(fields) != 1 || !r.eventsArray(evRaw) {
			return nil, nil, false
		}
	} else if !r.event(fields) {
		return nil, nil, false
	}
	return r.events, nil, len(r.events) > 0
}

// object reads an object's members, refusing duplicates.
func (r *refJSON) object() (map[string]json.RawMessage, bool) {
	tok, err := r.d.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, false
	}
	out := map[string]json.RawMessage{}
	for r.d.More() {
		tok, err := r.d.Token()
		if err != nil {
			return nil, false
		}
		k := tok.(string)
		if _, dup := out[k]; dup {
			return nil, false
		}
		var raw json.RawMessage
		if r.d.Decode(&raw) != nil {
			return nil, false
		}
		out[k] = raw
	}
	_, err = r.d.Token()
	return out, err == nil
}

func (r *refJSON) eventsArray(raw json.RawMessage) bool {
	if string(raw) == "null" {
		return true
	}
	var arr []json.RawMessage
	if json.Unmarshal(raw, &arr) != nil {
		return false
	}
	for _, e := range arr {
		re := &refJSON{d: json.NewDecoder(bytes.NewReader(e))}
		f, ok := re.object()
		if !ok || !r.event(f) {
			return false
		}
	}
	return true
}

func (r *refJSON) event(fields map[string]json.RawMessage) bool {
	if len(r.events) >= fuzzMaxEvents {
		return false
	}
	var rf refFields
	for k, v := range fields {
		switch k {
		case "payload":
			var buf bytes.Buffer
			if json.Compact(&buf, v) != nil {
				return false
			}
			rf.payload, rf.hasPayload = buf.Bytes(), true
		case "payload_base64":
			if string(v) == "null" {
				continue
			}
			var s string
			if json.Unmarshal(v, &s) != nil {
				return false
			}
			rf.b64 = &s
		case "metadata":
			if string(v) == "null" {
				continue
			}
			mr := &refJSON{d: json.NewDecoder(bytes.NewReader(v))}
			m, ok := mr.object()
			if !ok {
				return false
			}
			// object() lost the order; recover it from the text.
			keys := orderedKeys(v)
			for _, k := range keys {
				var s string
				if json.Unmarshal(m[k], &s) != nil || len(rf.meta) >= fuzzMaxMeta {
					return false
				}
				rf.meta = append(rf.meta, engine.Metadata{Key: k, Value: s})
			}
		default:
			return false
		}
	}
	ev, ok := rf.event()
	if ok {
		r.events = append(r.events, ev)
	}
	return ok
}

func orderedKeys(obj json.RawMessage) []string {
	d := json.NewDecoder(bytes.NewReader(obj))
	_, _ = d.Token()
	var keys []string
	for d.More() {
		tok, _ := d.Token()
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		_ = d.Decode(&skip)
	}
	return keys
}

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"payload":{"a":1}}`,
		`{"payload": [1, 2.5e3, "x", true, null], "metadata": {"k": "v"}}`,
		`{"events":[{"payload":1},{"payload_base64":"AAEC"},{"payload":"\u00e9\ud83d\ude00"}]}`,
		`{"payload_base64":null,"payload":{}}`,
		`{"batches":[{"disruptor":"a","idempotency_key":"k","events":[{"payload":1}]}]}`,
		`{"payload":1,"payload":2}`,
		`{"pay\u006coad":"escaped key"}`,
		`{"payload":"\xff"}`,
		`{"payload":"\ud800"}`,
		`{"payload":{"k\udc00":1}}`,
		`{"payload":1,"metadata":{"k":"\ud83d\ude00"}}`,
	} {
		f.Add([]byte(s), false, uint8(0))
		f.Add([]byte(s), true, uint8(5))
	}
	f.Fuzz(func(t *testing.T, body []byte, multi bool, sp uint8) {
		got, gotB, err := fastDecode(t, formatJSON, body, multi, split(sp))
		if err != nil && err.Error() == "" {
			t.Fatal("empty error")
		}
		if err != nil && bytes.HasPrefix([]byte(err.Error()), []byte("untyped")) {
			t.Fatal(err)
		}
		want, wantB, ok := refDecodeJSON(body, multi)
		if ok != (err == nil) {
			t.Fatalf("fast err %v, reference ok %v, body %q", err, ok, body)
		}
		if !ok {
			return
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("events (-reference +fast):\n%s\nbody %q", diff, body)
		}
		if diff := cmp.Diff(wantB, gotB, cmp.AllowUnexported(batchSpec{})); diff != "" {
			t.Fatalf("batches (-reference +fast):\n%s", diff)
		}
	})
}

// ---- MessagePack reference: vmihailenco/msgpack ----

type orderedMap []struct {
	k string
	v any
}

var errRef = errors.New("reference refuses")

func refDecoder(b []byte) *msgpack.Decoder {
	d := msgpack.NewDecoder(bytes.NewReader(b))
	d.SetMapDecoder(func(d *msgpack.Decoder) (any, error) {
		n, err := d.DecodeMapLen()
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, nil
		}
		var m orderedMap
		for range n {
			k, err := refString(d)
			if err != nil {
				return nil, err
			}
			v, err := d.DecodeInterface()
			if err != nil {
				return nil, err
			}
			m = append(m, struct {
				k string
				v any
			}{k, v})
		}
		return m, nil
	})
	return d
}

func refString(d *msgpack.Decoder) (string, error) {
	c, err := d.PeekCode()
	if err != nil {
		return "", err
	}
	if !msgpcode.IsString(c) {
		return "", errRef
	}
	return d.DecodeString()
}

// refSane refuses what would make the library allocate without bound: an
// array or map header longer than the rest of the input.
func refSane(body []byte) bool {
	br := bytes.NewReader(body)
	d := msgpack.NewDecoder(br)
	var walk func() error
	walk = func() error {
		c, err := d.PeekCode()
		if err != nil {
			return err
		}
		per := 0
		var n int
		switch {
		case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
			per = 1
			n, err = d.DecodeArrayLen()
		case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
			per = 2
			n, err = d.DecodeMapLen()
		default:
			return d.Skip()
		}
		if err != nil {
			return err
		}
		if n*per > br.Len() {
			return errRef
		}
		for range n * per {
			if err := walk(); err != nil {
				return err
			}
		}
		return nil
	}
	return walk() == nil
}

// refToJSON renders a decoded value as JSON, as the server must.
func refToJSON(v any) ([]byte, error) { return refToJSONDepth(v, 0) }

func refToJSONDepth(v any, depth int) ([]byte, error) {
	switch v.(type) {
	case orderedMap, []any:
		if depth++; depth > maxNestingDepth {
			return nil, errRef
		}
	}
	switch x := v.(type) {
	case orderedMap:
		b := []byte{'{'}
		for i, kv := range x {
			if i > 0 {
				b = append(b, ',')
			}
			k, _ := refToJSONDepth(kv.k, depth) // as strings: no HTML escaping
			b = append(b, k...)
			b = append(b, ':')
			e, err := refToJSONDepth(kv.v, depth)
			if err != nil {
				return nil, err
			}
			b = append(b, e...)
		}
		return append(b, '}'), nil
	case []any:
		b := []byte{'['}
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			eb, err := refToJSONDepth(e, depth)
			if err != nil {
				return nil, err
			}
			b = append(b, eb...)
		}
		return append(b, ']'), nil
	case time.Time:
		return nil, errRef // extensions have no JSON form
	case string:
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(x)
		return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
	}
	return json.Marshal(v)
}

func refDecodeMsgpack(body []byte, multi bool) (evs []engine.Event, batches []batchSpec, ok bool) {
	if !refSane(body) {
		return nil, nil, false
	}
	d := refDecoder(body)
	top, err := d.DecodeInterface()
	if err != nil || !refUTF8(top) {
		return nil, nil, false
	}
	if _, err := d.PeekCode(); err != io.EOF {
		return nil, nil, false
	}
	fields, isMap := top.(orderedMap)
	if !isMap {
		return nil, nil, false
	}
	if dup(fields) {
		return nil, nil, false
	}
	event := func(fs orderedMap) bool {
		if len(evs) >= fuzzMaxEvents || dup(fs) {
			return false
		}
		var rf refFields
		for _, kv := range fs {
			switch kv.k {
			case "payload":
				rf.hasPayload = true
				if b, isBin := kv.v.([]byte); isBin {
					rf.payload, rf.binary = b, true
					continue
				}
				j, err := refToJSON(kv.v)
				if err != nil {
					return false
				}
				rf.payload = j
			case "payload_base64":
				if kv.v == nil {
					continue
				}
				s, isStr := kv.v.(string)
				if !isStr {
					return false
				}
				rf.b64 = &s
			case "metadata":
				if kv.v == nil {
					continue
				}
				m, isMap := kv.v.(orderedMap)
				if !isMap || dup(m) {
					return false
				}
				for _, e := range m {
					s, isStr := e.v.(string)
					if !isStr || len(rf.meta) >= fuzzMaxMeta {
						return false
					}
					rf.meta = append(rf.meta, engine.Metadata{Key: e.k, Value: s})
				}
			default:
				return false
			}
		}
		ev, ok := rf.event()
		if ok {
			evs = append(evs, ev)
		}
		return ok
	}
	eventList := func(v any) bool {
		if v == nil {
			return true
		}
		arr, isArr := v.([]any)
		if !isArr {
			return false
		}
		for _, e := range arr {
			m, isMap := e.(orderedMap)
			if !isMap || !event(m) {
				return false
			}
		}
		return true
	}
	if multi {
		if len(fields) != 1 || fields[0].k != "batches" {
			return nil, nil, false
		}
		arr, isArr := fields[0].v.([]any)
		if !isArr || len(arr) == 0 || len(arr) > 256 {
			return nil, nil, false
		}
		for _, b := range arr {
			m, isMap := b.(orderedMap)
			if !isMap || dup(m) {
				return nil, nil, false
			}
			spec := batchSpec{lo: len(evs)}
			named := false
			for _, kv := range m {
				switch kv.k {
				case "disruptor":
					s, isStr := kv.v.(string)
					if !isStr {
						return nil, nil, false
					}
					spec.disruptor, named = s, true
				case "idempotency_key":
					if kv.v == nil {
						continue
					}
					s, isStr := kv.v.(string)
					if !isStr {
						return nil, nil, false
					}
					spec.key = s
				case "events":
					if !eventList(kv.v) {
						return nil, nil, false
					}
				default:
					return nil, nil, false
				}
			}
			spec.hi = len(evs)
			if !named || spec.hi == spec.lo {
				return nil, nil, false
			}
			batches = append(batches, spec)
		}
		return evs, batches, true
	}
	if len(fields) == 1 && fields[0].k == "events" {
		if !eventList(fields[0].v) {
			return nil, nil, false
		}
	} else if !event(fields) {
		return nil, nil, false
	}
	return evs, nil, len(evs) > 0
}

// refUTF8 reports whether every string in v, keys included, is UTF-8.
func refUTF8(v any) bool {
	switch x := v.(type) {
	case string:
		return utf8.ValidString(x)
	case orderedMap:
		for _, kv := range x {
			if !utf8.ValidString(kv.k) || !refUTF8(kv.v) {
				return false
			}
		}
	case []any:
		for _, e := range x {
			if !refUTF8(e) {
				return false
			}
		}
	}
	return true
}

func dup(m orderedMap) bool {
	seen := map[string]bool{}
	for _, kv := range m {
		if seen[kv.k] {
			return true
		}
		seen[kv.k] = true
	}
	return false
}

func FuzzDecodeMsgpack(f *testing.F) {
	for _, v := range []any{
		map[string]any{"payload": map[string]any{"a": 1}},
		map[string]any{"payload": []byte{1, 2, 3}, "metadata": map[string]any{"k": "v"}},
		map[string]any{"events": []any{map[string]any{"payload": 1.5}, map[string]any{"payload_base64": "AAEC"}}},
		map[string]any{"batches": []any{map[string]any{"disruptor": "a", "events": []any{map[string]any{"payload": "x"}}}}},
		map[string]any{"payload": []any{int8(-5), uint64(math.MaxUint64), float32(0.1), nil, true, "é"}},
		map[string]any{"payload": time.Unix(1, 0)},
	} {
		b, _ := msgpack.Marshal(v)
		f.Add(b, false, uint8(0))
		f.Add(b, true, uint8(6))
	}
	f.Add([]byte{0x81, 0xa7, 'p', 'a', 'y', 'l', 'o', 'a', 'd', 0xa1, 0xff}, false, uint8(1)) // invalid UTF-8
	f.Fuzz(func(t *testing.T, body []byte, multi bool, sp uint8) {
		got, gotB, err := fastDecode(t, formatMsgpack, body, multi, split(sp))
		if err != nil && bytes.HasPrefix([]byte(err.Error()), []byte("untyped")) {
			t.Fatal(err)
		}
		want, wantB, ok := refDecodeMsgpack(body, multi)
		if ok != (err == nil) {
			t.Fatalf("fast err %v, reference ok %v, body %x", err, ok, body)
		}
		if !ok {
			return
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("events (-reference +fast):\n%s\nbody %x", diff, body)
		}
		if diff := cmp.Diff(wantB, gotB, cmp.AllowUnexported(batchSpec{})); diff != "" {
			t.Fatalf("batches (-reference +fast):\n%s", diff)
		}
	})
}

// FuzzDecodeYAML has no second YAML decoder to compare with; it checks
// that nothing panics or hangs, that failures are typed, and that what
// decodes is sound: payloads are JSON, limits hold.
func FuzzDecodeYAML(f *testing.F) {
	for _, s := range []string{
		"payload: {a: 1}\n",
		"payload: [1, 2.5, x, true, ~]\nmetadata: {k: v, n: 1}\n",
		"events:\n  - payload: 1\n  - payload_base64: AAEC\n  - payload: !!binary AAEC\n",
		"batches:\n  - disruptor: a\n    events: [{payload: 1}]\n",
		"a: &a [1, 2]\npayload: {x: *a, y: *a}\n",
		"payload: 2001-12-14t21:59:43.10-05:00\n",
		"payload: .inf\n",
		"payload: {? [1]: 2}\n",
	} {
		f.Add([]byte(s), false, uint8(0))
		f.Add([]byte(s), true, uint8(5))
	}
	f.Add([]byte("payload: \xff\n"), false, uint8(1))
	f.Fuzz(func(t *testing.T, body []byte, multi bool, sp uint8) {
		evs, _, err := fastDecode(t, formatYAML, body, multi, split(sp))
		if err != nil {
			if bytes.HasPrefix([]byte(err.Error()), []byte("untyped")) {
				t.Fatal(err)
			}
			return
		}
		if !utf8.Valid(body) {
			t.Fatalf("accepted invalid UTF-8 %q", body)
		}
		if len(evs) == 0 || len(evs) > fuzzMaxEvents {
			t.Fatalf("%d events", len(evs))
		}
		for _, ev := range evs {
			if !ev.Binary && (!json.Valid(ev.Payload) || !strictText(ev.Payload)) {
				t.Fatalf("payload %q is not strict JSON", ev.Payload)
			}
			for _, m := range ev.Metadata {
				if !utf8.ValidString(m.Key) || !utf8.ValidString(m.Value) {
					t.Fatalf("metadata %q is not UTF-8", m)
				}
			}
			if len(ev.Metadata) > fuzzMaxMeta {
				t.Fatalf("%d metadata entries", len(ev.Metadata))
			}
		}
	})
}

// FuzzDecodeBody checks the strict decoder of the bodies that are not
// publishes, in every format: it never panics, fails only with
// MALFORMED_BODY or VALIDATION_FAILED, accepts only UTF-8 and, in JSON,
// only what encoding/json decodes to the same request.
func FuzzDecodeBody(f *testing.F) {
	f.Add([]byte(`{"name":"a","buffer_size":8,"schema":{"type":"object"}}`), uint8(0))
	f.Add([]byte("name: a\nbuffer_size: 8\nstart: false\n"), uint8(1))
	b, _ := msgpack.Marshal(map[string]any{"name": "a", "buffer_size": 8})
	f.Add(b, uint8(2))
	f.Add([]byte(`{"name":"a","name":"b"}`), uint8(0))
	f.Add([]byte(`{"NAME":"a"}`), uint8(0))
	f.Add([]byte(`{"name":"a","buffer_size":0}`), uint8(3))
	f.Add([]byte(`{"name":"\xff"}`), uint8(0))
	f.Fuzz(func(t *testing.T, body []byte, which uint8) {
		var req CreateRequest
		fm := format(which % 3)
		e := decodeDocument(fm, body, &req)
		if e != nil && e.Code != CodeMalformedBody && e.Code != CodeValidation {
			t.Fatalf("code %s", e.Code)
		}
		if e != nil {
			return
		}
		if !utf8.Valid(body) && fm != formatMsgpack {
			t.Fatalf("accepted invalid UTF-8: %q", body)
		}
		if fm == formatJSON {
			var want CreateRequest
			d := json.NewDecoder(bytes.NewReader(body))
			d.DisallowUnknownFields()
			d.UseNumber()
			if err := d.Decode(&want); err != nil || !cmp.Equal(want, req) {
				t.Fatalf("%q: encoding/json says %v, %+v; we decoded %+v", body, err, want, req)
			}
		}
	})
}

// FuzzJSONConversions checks the hand-written encoders: strings encode
// as encoding/json does, and JSON survives the trips to MessagePack and
// YAML.
func FuzzJSONConversions(f *testing.F) {
	for _, s := range []string{`{"a":[1,-2,3.5e-7,1e21,"x\u2028y",true,null,{}]}`, `"\ud800"`, `18446744073709551616`, `[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(string(in))
		if got, want := string(appendString(nil, in)), string(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))); got != want {
			t.Fatalf("appendString(%q) = %s, want %s", in, got, want)
		}
		if !utf8.Valid(appendString(nil, in)) {
			t.Fatalf("appendString(%q) is not UTF-8", in)
		}
		if !json.Valid(in) || !strictText(in) {
			if _, err := jsonToMsgpack(nil, in); err == nil {
				t.Fatalf("jsonToMsgpack accepted %q", in)
			}
			return
		}
		var want any
		_ = json.Unmarshal(in, &want)
		mp, err := jsonToMsgpack(nil, in)
		if err != nil {
			t.Fatalf("jsonToMsgpack(%q): %v", in, err)
		}
		var viaLib any
		if err := msgpack.Unmarshal(mp, &viaLib); err != nil {
			t.Fatalf("library cannot read %x: %v", mp, err)
		}
		r := &mpReader{b: mp}
		back, err := r.appendJSON(nil)
		if err != nil {
			// Only numbers beyond float64 range (now infinities) may fail.
			if bytes.ContainsAny(in, "eE") || len(in) > 300 {
				return
			}
			t.Fatalf("back to JSON from %x: %v", mp, err)
		}
		var got any
		if err := json.Unmarshal(back, &got); err != nil {
			t.Fatalf("round trip %q -> %q: %v", in, back, err)
		}
		if !cmp.Equal(want, got) {
			t.Fatalf("round trip %q -> %q", in, back)
		}
		if _, err := jsonToYAML(in); err != nil {
			t.Fatalf("jsonToYAML(%q): %v", in, err)
		}
	})
}
