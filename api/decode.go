package api

import (
	"encoding/base64"
	"errors"
	"fmt"
	"sync"

	"github.com/badbatch/badbatch/engine"
)

// The publish bodies, in every format:
//
//	one event:  {"payload": <any>, "payload_base64": "...", "metadata": {"k": "v"}}
//	a batch:    {"events": [<event>, ...]}
//	several:    {"batches": [{"disruptor": "a", "idempotency_key": "k", "events": [...]}, ...]}
//
// An event has exactly one of payload (a JSON value, kept as compact JSON
// text; in MessagePack any value but bin, and bin makes a binary payload;
// in YAML any value, or a !!binary scalar for a binary payload) and
// payload_base64 (binary bytes, standard base64). Metadata values are
// strings. Unknown fields are errors, and so are duplicate ones.

// eventDecoder decodes publish bodies into engine events. Payloads point
// into the body where they can, or into the decoder's arena; so the body
// and the decoder must outlive the publish. Decoders are pooled.
type eventDecoder struct {
	maxEvents  int // events per request
	maxMeta    int // metadata entries per event
	maxBatches int // batches per multi-publish
	maxPayload int // bytes a converted payload may reach

	events  []engine.Event
	arena   []byte     // payloads converted or compacted
	refs    []arenaRef // events whose payload is in the arena
	batches []batchSpec
	scratch []byte
}

type arenaRef struct{ event, off, n int }

// batchSpec is one disruptor's part of a multi-publish: events[lo:hi].
type batchSpec struct {
	disruptor, key string
	lo, hi         int
}

var decoderPool = sync.Pool{New: func() any { return new(eventDecoder) }}

func getDecoder(maxEvents, maxMeta, maxPayload int) *eventDecoder {
	d := decoderPool.Get().(*eventDecoder)
	d.maxEvents, d.maxMeta, d.maxBatches, d.maxPayload = maxEvents, maxMeta, 256, maxPayload
	return d
}

func (d *eventDecoder) release() {
	if cap(d.arena) > 4<<20 || cap(d.events) > 1<<16 {
		return // let outsized ones go
	}
	clear(d.events)
	d.events, d.arena, d.refs, d.batches = d.events[:0], d.arena[:0], d.refs[:0], d.batches[:0]
	decoderPool.Put(d)
}

// decodeError is a body that does not decode, or decodes to something
// invalid.
type decodeError struct {
	code    string
	msg     string
	details map[string]any
}

func (e *decodeError) Error() string { return e.msg }

func malformed(format string, args ...any) *decodeError {
	return &decodeError{code: CodeMalformedBody, msg: fmt.Sprintf(format, args...)}
}

func invalid(index int, format string, args ...any) *decodeError {
	return &decodeError{code: CodeValidation, msg: fmt.Sprintf(format, args...), details: map[string]any{"index": index}}
}

// apiError turns a decoding failure into the API error.
func (d *eventDecoder) apiError(f format, err error) *Error {
	var de *decodeError
	var se *syntaxError
	switch {
	case errors.As(err, &de):
		e := newError(de.code, de.msg, de.details)
		e.Details["format"] = f.String()
		return e
	case errors.As(err, &se):
		return newError(CodeMalformedBody, fmt.Sprintf("the %s body does not decode: %v", f, err),
			map[string]any{"format": f.String(), "offset": se.offset})
	default:
		return newError(CodeMalformedBody, fmt.Sprintf("the %s body does not decode: %v", f, err),
			map[string]any{"format": f.String()})
	}
}

// fields of an event seen so far.
const (
	havePayload = 1 << iota
	haveBase64
	haveMeta
	base64Null // payload_base64 was null: as if absent
)

func (d *eventDecoder) addEvent() (*engine.Event, error) {
	if len(d.events) >= d.maxEvents {
		return nil, &decodeError{code: CodeBatchTooLarge,
			msg:     fmt.Sprintf("more than %d events in one request", d.maxEvents),
			details: map[string]any{"limit": d.maxEvents}}
	}
	d.events = append(d.events, engine.Event{})
	return &d.events[len(d.events)-1], nil
}

// checkEvent checks the fields an event had.
func (d *eventDecoder) checkEvent(have int) error {
	i := len(d.events) - 1
	if have&base64Null != 0 {
		have &^= haveBase64
	}
	switch have & (havePayload | haveBase64) {
	case 0:
		return invalid(i, "event %d has neither payload nor payload_base64", i)
	case havePayload | haveBase64:
		return invalid(i, "event %d has both payload and payload_base64", i)
	}
	return nil
}

// fieldSeen records a field, refusing duplicates.
func fieldSeen(have *int, bit int, name string) error {
	if *have&bit != 0 {
		return malformed("duplicate field %q", name)
	}
	*have |= bit
	return nil
}

// arenaPayload makes the last event's payload the arena bytes from off on.
func (d *eventDecoder) arenaPayload(off int) {
	d.refs = append(d.refs, arenaRef{event: len(d.events) - 1, off: off, n: len(d.arena) - off})
}

// finish points the arena payloads into the arena, which may have moved.
func (d *eventDecoder) finish() {
	for _, r := range d.refs {
		d.events[r.event].Payload = d.arena[r.off : r.off+r.n : r.off+r.n]
	}
}

func (d *eventDecoder) addMeta(ev *engine.Event, k, v string) error {
	i := len(d.events) - 1
	if len(ev.Metadata) >= d.maxMeta {
		return invalid(i, "event %d has more than %d metadata entries", i, d.maxMeta)
	}
	for _, m := range ev.Metadata {
		if m.Key == k {
			return invalid(i, "event %d has metadata key %q twice", i, k)
		}
	}
	ev.Metadata = append(ev.Metadata, engine.Metadata{Key: k, Value: v})
	return nil
}

func (d *eventDecoder) decodeBase64(src []byte) error {
	off := len(d.arena)
	var err error
	if d.arena, err = base64.StdEncoding.AppendDecode(d.arena, src); err != nil {
		d.arena = d.arena[:off]
		i := len(d.events) - 1
		return invalid(i, "event %d: payload_base64 is not standard base64: %v", i, err)
	}
	d.events[len(d.events)-1].Binary = true
	d.arenaPayload(off)
	return nil
}

// decodePublish decodes a publish body (one event or a batch).
func (d *eventDecoder) decodePublish(f format, body []byte) error {
	var err error
	switch f {
	case formatMsgpack:
		err = d.msgpackPublish(body, false)
	case formatYAML:
		err = d.yamlPublish(body, false)
	default:
		err = d.jsonPublish(body, false)
	}
	if err == nil && len(d.events) == 0 {
		err = &decodeError{code: CodeValidation, msg: "the batch has no events"}
	}
	d.finish()
	return err
}

// decodeMulti decodes a multi-disruptor publish body.
func (d *eventDecoder) decodeMulti(f format, body []byte) error {
	var err error
	switch f {
	case formatMsgpack:
		err = d.msgpackPublish(body, true)
	case formatYAML:
		err = d.yamlPublish(body, true)
	default:
		err = d.jsonPublish(body, true)
	}
	if err == nil && len(d.batches) == 0 {
		err = &decodeError{code: CodeValidation, msg: "no batches"}
	}
	d.finish()
	return err
}

func (d *eventDecoder) addBatch() (*batchSpec, error) {
	if len(d.batches) >= d.maxBatches {
		return nil, &decodeError{code: CodeBatchTooLarge, msg: fmt.Sprintf("more than %d batches in one request", d.maxBatches),
			details: map[string]any{"limit": d.maxBatches}}
	}
	d.batches = append(d.batches, batchSpec{lo: len(d.events)})
	return &d.batches[len(d.batches)-1], nil
}

func (d *eventDecoder) checkBatch(b *batchSpec, have int) error {
	i := len(d.batches) - 1
	b.hi = len(d.events)
	if have&1 == 0 {
		return &decodeError{code: CodeValidation, msg: fmt.Sprintf("batch %d names no disruptor", i), details: map[string]any{"batch": i}}
	}
	if b.hi == b.lo {
		return &decodeError{code: CodeValidation, msg: fmt.Sprintf("batch %d has no events", i), details: map[string]any{"batch": i}}
	}
	return nil
}

// ---- JSON ----

func (d *eventDecoder) jsonPublish(body []byte, multi bool) error {
	r := &jsonReader{b: body}
	if r.peek() == 0 {
		return malformed("the request body is empty")
	}
	if err := r.objStart(); err != nil {
		return err
	}
	var ev *engine.Event
	have, top := 0, 0
	for first := true; ; first = false {
		key, more, err := r.objNext(first, &d.scratch)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		switch {
		case multi && string(key) == "batches":
			if err := fieldSeen(&top, 1, "batches"); err != nil {
				return err
			}
			if err := d.jsonBatches(r); err != nil {
				return err
			}
		case !multi && string(key) == "events":
			if err := fieldSeen(&top, 1, "events"); err != nil {
				return err
			}
			if err := d.jsonEvents(r); err != nil {
				return err
			}
		case !multi && isEventField(key):
			if ev == nil {
				if ev, err = d.addEvent(); err != nil {
					return err
				}
			}
			if err := d.jsonEventField(r, ev, key, &have); err != nil {
				return err
			}
		default:
			return malformed("unknown field %q", key)
		}
	}
	if err := r.end(); err != nil {
		return err
	}
	if ev != nil {
		if top != 0 {
			return &decodeError{code: CodeValidation, msg: "give either events or one event's fields, not both"}
		}
		return d.checkEvent(have)
	}
	return nil
}

func isEventField(k []byte) bool {
	s := string(k)
	return s == "payload" || s == "payload_base64" || s == "metadata"
}

func (d *eventDecoder) jsonEvents(r *jsonReader) error {
	if r.isNull() {
		return nil
	}
	if err := r.arrStart(); err != nil {
		return err
	}
	for first := true; ; first = false {
		more, err := r.arrNext(first)
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
		if err := d.jsonEvent(r); err != nil {
			return err
		}
	}
}

func (d *eventDecoder) jsonEvent(r *jsonReader) error {
	if err := r.objStart(); err != nil {
		return err
	}
	ev, err := d.addEvent()
	if err != nil {
		return err
	}
	have := 0
	for first := true; ; first = false {
		key, more, err := r.objNext(first, &d.scratch)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		if !isEventField(key) {
			return malformed("unknown field %q in event %d", key, len(d.events)-1)
		}
		if err := d.jsonEventField(r, ev, key, &have); err != nil {
			return err
		}
	}
	return d.checkEvent(have)
}

func (d *eventDecoder) jsonEventField(r *jsonReader, ev *engine.Event, key []byte, have *int) error {
	switch string(key) {
	case "payload":
		if err := fieldSeen(have, havePayload, "payload"); err != nil {
			return err
		}
		raw, spaced, err := r.value()
		if err != nil {
			return err
		}
		if !spaced {
			ev.Payload = raw
			return nil
		}
		off := len(d.arena)
		d.arena = appendCompact(d.arena, raw)
		d.arenaPayload(off)
	case "payload_base64":
		if err := fieldSeen(have, haveBase64, "payload_base64"); err != nil {
			return err
		}
		if r.isNull() {
			*have |= base64Null
			return nil
		}
		if r.peek() != '"' {
			return malformed("payload_base64 must be a string")
		}
		start := r.i
		raw, escaped, err := r.rawString()
		if err != nil {
			return err
		}
		if escaped {
			s, err := unquote(r.b[start:r.i])
			if err != nil {
				return err
			}
			raw = []byte(s)
		}
		return d.decodeBase64(raw)
	case "metadata":
		if err := fieldSeen(have, haveMeta, "metadata"); err != nil {
			return err
		}
		if r.isNull() {
			return nil
		}
		if err := r.objStart(); err != nil {
			return err
		}
		for first := true; ; first = false {
			k, more, err := r.objNext(first, &d.scratch)
			if err != nil {
				return err
			}
			if !more {
				return nil
			}
			key := string(k)
			if r.peek() != '"' {
				return malformed("metadata value of %q must be a string", key)
			}
			v, err := r.str()
			if err != nil {
				return err
			}
			if err := d.addMeta(ev, key, v); err != nil {
				return err
			}
		}
	}
	return nil
}

func (d *eventDecoder) jsonBatches(r *jsonReader) error {
	if err := r.arrStart(); err != nil {
		return err
	}
	for first := true; ; first = false {
		more, err := r.arrNext(first)
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
		if err := r.objStart(); err != nil {
			return err
		}
		b, err := d.addBatch()
		if err != nil {
			return err
		}
		have := 0
		for first := true; ; first = false {
			key, more, err := r.objNext(first, &d.scratch)
			if err != nil {
				return err
			}
			if !more {
				break
			}
			switch string(key) {
			case "disruptor":
				if err := fieldSeen(&have, 1, "disruptor"); err != nil {
					return err
				}
				if r.peek() != '"' {
					return malformed("disruptor must be a string")
				}
				if b.disruptor, err = r.str(); err != nil {
					return err
				}
			case "idempotency_key":
				if err := fieldSeen(&have, 2, "idempotency_key"); err != nil {
					return err
				}
				if r.isNull() {
					continue
				}
				if r.peek() != '"' {
					return malformed("idempotency_key must be a string")
				}
				if b.key, err = r.str(); err != nil {
					return err
				}
			case "events":
				if err := fieldSeen(&have, 4, "events"); err != nil {
					return err
				}
				if err := d.jsonEvents(r); err != nil {
					return err
				}
			default:
				return malformed("unknown field %q in batch %d", key, len(d.batches)-1)
			}
		}
		if err := d.checkBatch(b, have); err != nil {
			return err
		}
	}
}

// ---- MessagePack ----

func (d *eventDecoder) msgpackPublish(body []byte, multi bool) error {
	r := &mpReader{b: body}
	if len(body) == 0 {
		return malformed("the request body is empty")
	}
	n, err := r.mapLen()
	if err != nil {
		return err
	}
	var ev *engine.Event
	have, top := 0, 0
	for k := 0; k < n; k++ {
		key, err := r.str()
		if err != nil {
			return err
		}
		switch {
		case multi && string(key) == "batches":
			if err := fieldSeen(&top, 1, "batches"); err != nil {
				return err
			}
			if err := d.msgpackBatches(r); err != nil {
				return err
			}
		case !multi && string(key) == "events":
			if err := fieldSeen(&top, 1, "events"); err != nil {
				return err
			}
			if err := d.msgpackEvents(r); err != nil {
				return err
			}
		case !multi && isEventField(key):
			if ev == nil {
				if ev, err = d.addEvent(); err != nil {
					return err
				}
			}
			if err := d.msgpackEventField(r, ev, key, &have); err != nil {
				return err
			}
		default:
			return malformed("unknown field %q", key)
		}
	}
	if r.i != len(r.b) {
		return r.fail("trailing data after the MessagePack value")
	}
	if ev != nil {
		if top != 0 {
			return &decodeError{code: CodeValidation, msg: "give either events or one event's fields, not both"}
		}
		return d.checkEvent(have)
	}
	return nil
}

func (d *eventDecoder) msgpackEvents(r *mpReader) error {
	if r.isNil() {
		return nil
	}
	n, err := r.arrayLen()
	if err != nil {
		return err
	}
	for k := 0; k < n; k++ {
		if err := d.msgpackEvent(r); err != nil {
			return err
		}
	}
	return nil
}

func (d *eventDecoder) msgpackEvent(r *mpReader) error {
	n, err := r.mapLen()
	if err != nil {
		return err
	}
	ev, err := d.addEvent()
	if err != nil {
		return err
	}
	have := 0
	for k := 0; k < n; k++ {
		key, err := r.str()
		if err != nil {
			return err
		}
		if !isEventField(key) {
			return malformed("unknown field %q in event %d", key, len(d.events)-1)
		}
		if err := d.msgpackEventField(r, ev, key, &have); err != nil {
			return err
		}
	}
	return d.checkEvent(have)
}

func (d *eventDecoder) msgpackEventField(r *mpReader, ev *engine.Event, key []byte, have *int) error {
	switch string(key) {
	case "payload":
		if err := fieldSeen(have, havePayload, "payload"); err != nil {
			return err
		}
		p, isBin, err := r.bin()
		if err != nil {
			return err
		}
		if isBin {
			ev.Payload, ev.Binary = p, true
			return nil
		}
		off := len(d.arena)
		if d.arena, err = r.appendJSON(d.arena); err != nil {
			d.arena = d.arena[:off]
			return err
		}
		d.arenaPayload(off)
	case "payload_base64":
		if err := fieldSeen(have, haveBase64, "payload_base64"); err != nil {
			return err
		}
		if r.isNil() {
			*have |= base64Null
			return nil
		}
		s, err := r.str()
		if err != nil {
			return malformed("payload_base64 must be a string")
		}
		return d.decodeBase64(s)
	case "metadata":
		if err := fieldSeen(have, haveMeta, "metadata"); err != nil {
			return err
		}
		if r.isNil() {
			return nil
		}
		n, err := r.mapLen()
		if err != nil {
			return err
		}
		for k := 0; k < n; k++ {
			key, err := r.str()
			if err != nil {
				return malformed("metadata keys must be strings")
			}
			v, err := r.str()
			if err != nil {
				return malformed("metadata value of %q must be a string", key)
			}
			if err := d.addMeta(ev, string(key), string(v)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (d *eventDecoder) msgpackBatches(r *mpReader) error {
	n, err := r.arrayLen()
	if err != nil {
		return err
	}
	for k := 0; k < n; k++ {
		m, err := r.mapLen()
		if err != nil {
			return err
		}
		b, err := d.addBatch()
		if err != nil {
			return err
		}
		have := 0
		for j := 0; j < m; j++ {
			key, err := r.str()
			if err != nil {
				return err
			}
			switch string(key) {
			case "disruptor":
				if err := fieldSeen(&have, 1, "disruptor"); err != nil {
					return err
				}
				s, err := r.str()
				if err != nil {
					return malformed("disruptor must be a string")
				}
				b.disruptor = string(s)
			case "idempotency_key":
				if err := fieldSeen(&have, 2, "idempotency_key"); err != nil {
					return err
				}
				if r.isNil() {
					continue
				}
				s, err := r.str()
				if err != nil {
					return malformed("idempotency_key must be a string")
				}
				b.key = string(s)
			case "events":
				if err := fieldSeen(&have, 4, "events"); err != nil {
					return err
				}
				if err := d.msgpackEvents(r); err != nil {
					return err
				}
			default:
				return malformed("unknown field %q in batch %d", key, len(d.batches)-1)
			}
		}
		if err := d.checkBatch(b, have); err != nil {
			return err
		}
	}
	return nil
}
