package api

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
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
//
// The grammar is written once, over a tokenReader (tokens.go); each format
// brings its reader and its payload conversion.

// eventDecoder decodes publish bodies into engine events. Payloads point
// into the body where they can, or into the decoder's arena; so the body
// and the decoder must outlive the publish. Decoders are pooled.
type eventDecoder struct {
	limits decodeLimits

	events  []engine.Event
	arena   []byte     // payloads converted or compacted
	refs    []arenaRef // events whose payload is in the arena
	batches []batchSpec

	// The readers, reused from one body to the next.
	json jsonReader
	mp   mpReader
	yaml yamlReader
}

// decodeLimits bound what one body may decode to.
type decodeLimits struct {
	maxEvents  int // events per request
	maxMeta    int // metadata entries per event
	maxBatches int // batches per multi-publish
	// maxPayload is the largest payload an event may have: a payload
	// over it is refused as soon as it is seen or converted (413
	// EVENT_TOO_LARGE), not after.
	maxPayload int
	// maxArena bounds the bytes of the payloads converted or compacted
	// for one request (413 BODY_TOO_LARGE past it), so a body cannot
	// convert to much more than its limit.
	maxArena int
}

type arenaRef struct{ event, off, n int }

// batchSpec is one disruptor's part of a multi-publish: events[lo:hi].
type batchSpec struct {
	disruptor, key string
	lo, hi         int
}

// decodeEvents reads and decodes a publish body (multi: of POST
// /api/v1/events). The decoder and its events are the caller's until it
// calls done; it reports false when it answered an error.
func (c *call) decodeEvents(multi bool) (d *eventDecoder, done func(), ok bool) {
	f, e := requestFormat(c.r)
	if e != nil {
		c.fail(e)
		return nil, nil, false
	}
	limit := c.s.cfg.MaxBodyBytes
	body, e := c.readBody(f, limit)
	if e == nil {
		e = c.reserve(c.reserved + decodeCost(f, int64(len(body)), limit))
	}
	if e != nil {
		c.fail(e)
		return nil, nil, false
	}
	cfg := c.s.eng.Config()
	l := decodeLimits{maxEvents: cfg.MaxBatchEvents, maxMeta: cfg.MaxMetadata, maxPayload: cfg.MaxEventSize, maxArena: int(limit)}
	if !multi {
		if info, err := c.s.eng.Info(c.r.PathValue("name")); err == nil {
			l.maxPayload = info.MaxEventSize
		}
	}
	d = getDecoder(l)
	if err := d.decode(f, body, multi); err != nil {
		d.release()
		c.fail(apiError(f, err))
		return nil, nil, false
	}
	return d, d.release, true
}

// decode decodes the publish body of format f (multi: of POST
// /api/v1/events) into d.
func (d *eventDecoder) decode(f format, body []byte, multi bool) error {
	if h := codecs[f].arenaHint; h > 0 {
		d.arena = slices.Grow(d.arena, min(d.limits.maxArena, int(h)*len(body))+64<<10)
	}
	r, err := codecs[f].reader(d, body)
	switch {
	case err != nil:
		return err
	case multi:
		return d.decodeMulti(r)
	}
	return d.decodePublish(r)
}

// convert appends the JSON form of the next payload to the arena with
// appendJSON, which must stop (errConvertLimit) once the payload would
// pass its budget, and makes it the current event's payload.
func (d *eventDecoder) convert(appendJSON func(dst []byte, limit int) ([]byte, error)) error {
	budget, off := d.convertBudget(), len(d.arena)
	var err error
	d.arena, err = appendJSON(d.arena, off+budget)
	if n := len(d.arena) - off; err == errConvertLimit || n > budget {
		d.arena = d.arena[:off]
		return d.budgetError(n)
	}
	if err != nil {
		d.arena = d.arena[:off]
		return err
	}
	d.arenaPayload(off)
	return nil
}

// errConvertLimit stops a payload's conversion at its budget.
var errConvertLimit = errors.New("the converted payload is over its limit")

var decoderPool = sync.Pool{New: func() any { return new(eventDecoder) }}

func getDecoder(l decodeLimits) *eventDecoder {
	d := decoderPool.Get().(*eventDecoder)
	if l.maxBatches == 0 {
		l.maxBatches = 256
	}
	d.limits = l
	return d
}

func (d *eventDecoder) release() {
	if cap(d.arena) > 4<<20 || cap(d.events) > 1<<16 {
		return // let outsized ones go
	}
	clear(d.events)
	d.events, d.arena, d.refs, d.batches = d.events[:0], d.arena[:0], d.refs[:0], d.batches[:0]
	d.json.reset(nil)
	d.mp.reset(nil)
	d.yaml.reset(nil)
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
func apiError(f format, err error) *Error {
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

// tooLarge refuses the current event's payload of n bytes.
func (d *eventDecoder) tooLarge(n int) error {
	i := len(d.events) - 1
	e := &decodeError{code: CodeEventTooLarge,
		msg:     fmt.Sprintf("event %d: the payload is over the limit of %d bytes", i, d.limits.maxPayload),
		details: map[string]any{"index": i, "limit": d.limits.maxPayload}}
	if n > d.limits.maxPayload { // a conversion stopped at the limit does not know its size
		e.details["size"] = n
	}
	return e
}

// arenaFull refuses a body whose payloads convert to more than maxArena.
func (d *eventDecoder) arenaFull() error {
	return &decodeError{code: CodeBodyTooLarge,
		msg:     fmt.Sprintf("the body's payloads convert to more than %d bytes of JSON", d.limits.maxArena),
		details: map[string]any{"limit": d.limits.maxArena}}
}

// convertBudget is how many bytes the next payload may convert to: up to
// the payload limit, within what is left of the arena's bound. Exceeding
// it is an error of tooLarge or arenaFull, which budgetError tells apart.
func (d *eventDecoder) convertBudget() int {
	return min(d.limits.maxPayload, d.limits.maxArena-len(d.arena))
}

func (d *eventDecoder) budgetError(n int) error {
	if d.limits.maxArena-len(d.arena) < d.limits.maxPayload {
		return d.arenaFull()
	}
	return d.tooLarge(n)
}

// decodePublish decodes a publish body (one event or a batch) through r.
func (d *eventDecoder) decodePublish(r tokenReader) error {
	err := d.document(r, false)
	if err == nil && len(d.events) == 0 {
		err = &decodeError{code: CodeValidation, msg: "the batch has no events"}
	}
	d.finish()
	return err
}

// decodeMulti decodes a multi-disruptor publish body through r.
func (d *eventDecoder) decodeMulti(r tokenReader) error {
	err := d.document(r, true)
	if err == nil && len(d.batches) == 0 {
		err = &decodeError{code: CodeValidation, msg: "no batches"}
	}
	d.finish()
	return err
}

// document reads the top-level map.
func (d *eventDecoder) document(r tokenReader, multi bool) error {
	if r.kind() == kindEnd {
		return malformed("the request body is empty")
	}
	var ev *engine.Event
	have, top := 0, 0
	err := eachKey(r, "the body", func(key []byte) error {
		var err error
		switch {
		case multi && string(key) == "batches":
			if err := fieldSeen(&top, 1, "batches"); err != nil {
				return err
			}
			return d.batchList(r)
		case !multi && string(key) == "events":
			if err := fieldSeen(&top, 1, "events"); err != nil {
				return err
			}
			return d.eventList(r)
		case !multi && isEventField(key):
			if ev == nil {
				if ev, err = d.addEvent(); err != nil {
					return err
				}
			}
			return d.eventField(r, ev, key, &have)
		}
		return malformed("unknown field %q", key)
	})
	if err != nil {
		return err
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

// eventList reads an array of events, or null.
func (d *eventDecoder) eventList(r tokenReader) error {
	if r.null() {
		return nil
	}
	return eachElem(r, "events", func() error { return d.event(r) })
}

func (d *eventDecoder) event(r tokenReader) error {
	if r.kind() != kindMap {
		return malformed("event %d must be a map", len(d.events))
	}
	ev, err := d.addEvent()
	if err != nil {
		return err
	}
	have := 0
	err = eachKey(r, "an event", func(key []byte) error {
		if !isEventField(key) {
			return malformed("unknown field %q in event %d", key, len(d.events)-1)
		}
		return d.eventField(r, ev, key, &have)
	})
	if err != nil {
		return err
	}
	return d.checkEvent(have)
}

// fields of an event seen so far.
const (
	havePayload = 1 << iota
	haveBase64
	haveMeta
	base64Null // payload_base64 was null: as if absent
)

func (d *eventDecoder) eventField(r tokenReader, ev *engine.Event, key []byte, have *int) error {
	switch string(key) {
	case "payload":
		if err := fieldSeen(have, havePayload, "payload"); err != nil {
			return err
		}
		return r.payload(d, ev)
	case "payload_base64":
		if err := fieldSeen(have, haveBase64, "payload_base64"); err != nil {
			return err
		}
		if r.null() {
			*have |= base64Null
			return nil
		}
		if r.kind() != kindString {
			return malformed("payload_base64 must be a string")
		}
		s, err := r.str()
		if err != nil {
			return err
		}
		return d.decodeBase64(s)
	case "metadata":
		if err := fieldSeen(have, haveMeta, "metadata"); err != nil {
			return err
		}
		if r.null() {
			return nil
		}
		return eachKey(r, "metadata", func(k []byte) error {
			key := string(k)
			if r.kind() != kindString {
				return malformed("metadata value of %q must be a string", key)
			}
			v, err := r.str()
			if err != nil {
				return err
			}
			return d.addMeta(ev, key, string(v))
		})
	}
	return nil
}

// batchList reads the batches of a multi-publish.
func (d *eventDecoder) batchList(r tokenReader) error {
	return eachElem(r, "batches", func() error {
		if r.kind() != kindMap {
			return malformed("batch %d must be a map", len(d.batches))
		}
		b, err := d.addBatch()
		if err != nil {
			return err
		}
		have := 0
		err = eachKey(r, "a batch", func(key []byte) error {
			var err error
			switch string(key) {
			case "disruptor":
				if err := fieldSeen(&have, 1, "disruptor"); err != nil {
					return err
				}
				b.disruptor, err = stringField(r, "disruptor")
				return err
			case "idempotency_key":
				if err := fieldSeen(&have, 2, "idempotency_key"); err != nil {
					return err
				}
				if r.null() {
					return nil
				}
				b.key, err = stringField(r, "idempotency_key")
				return err
			case "events":
				if err := fieldSeen(&have, 4, "events"); err != nil {
					return err
				}
				return d.eventList(r)
			}
			return malformed("unknown field %q in batch %d", key, len(d.batches)-1)
		})
		if err != nil {
			return err
		}
		return d.checkBatch(b, have)
	})
}

// stringField reads the string value of the field what.
func stringField(r tokenReader, what string) (string, error) {
	if r.kind() != kindString {
		return "", malformed("%s must be a string", what)
	}
	s, err := r.str()
	return string(s), err
}

func (d *eventDecoder) addEvent() (*engine.Event, error) {
	if len(d.events) >= d.limits.maxEvents {
		return nil, &decodeError{code: CodeBatchTooLarge,
			msg:     fmt.Sprintf("more than %d events in one request", d.limits.maxEvents),
			details: map[string]any{"limit": d.limits.maxEvents}}
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
	if len(ev.Metadata) >= d.limits.maxMeta {
		return invalid(i, "event %d has more than %d metadata entries", i, d.limits.maxMeta)
	}
	for _, m := range ev.Metadata {
		if m.Key == k {
			return invalid(i, "event %d has metadata key %q twice", i, k)
		}
	}
	ev.Metadata = append(ev.Metadata, engine.Metadata{Key: k, Value: v})
	return nil
}

// decodeBase64 makes the current event's payload the bytes src encodes.
func (d *eventDecoder) decodeBase64(src []byte) error {
	if n := base64.StdEncoding.DecodedLen(len(src)); n > d.convertBudget() {
		return d.budgetError(n)
	}
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

func (d *eventDecoder) addBatch() (*batchSpec, error) {
	if len(d.batches) >= d.limits.maxBatches {
		return nil, &decodeError{code: CodeBatchTooLarge, msg: fmt.Sprintf("more than %d batches in one request", d.limits.maxBatches),
			details: map[string]any{"limit": d.limits.maxBatches}}
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
