package api

import (
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/badbatch/badbatch/engine"
)

// jsonReader is a small recursive-descent reader over a JSON document in
// memory, for the hot request bodies: it validates exactly what
// encoding/json accepts, hands back values as slices of the input (no
// copy), and allocates nothing on its own.
type jsonReader struct {
	b     []byte
	i     int
	depth int
	// open has an entry per map or array entered with mapStart or
	// arrayStart: whether its first member is still to come.
	open    []bool
	scratch []byte // unescaped strings
}

// maxJSONDepth is encoding/json's nesting limit.
const maxJSONDepth = 10000

type syntaxError struct {
	msg    string
	offset int
}

func (e *syntaxError) Error() string { return fmt.Sprintf("%s at offset %d", e.msg, e.offset) }

func (r *jsonReader) fail(format string, args ...any) error {
	return &syntaxError{msg: fmt.Sprintf(format, args...), offset: r.i}
}

func (r *jsonReader) unexpected(what string) error {
	if r.i >= len(r.b) {
		return r.fail("unexpected end of input, want %s", what)
	}
	return r.fail("invalid character %q, want %s", r.b[r.i], what)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// ws skips whitespace and reports whether there was any.
func (r *jsonReader) ws() bool {
	start := r.i
	for r.i < len(r.b) && isSpace(r.b[r.i]) {
		r.i++
	}
	return r.i > start
}

// peek skips whitespace and returns the next byte, or 0 at the end.
func (r *jsonReader) peek() byte {
	r.ws()
	if r.i < len(r.b) {
		return r.b[r.i]
	}
	return 0
}

// end checks that nothing but whitespace is left.
func (r *jsonReader) end() error {
	r.ws()
	if r.i < len(r.b) {
		return r.fail("invalid character %q after the top-level value", r.b[r.i])
	}
	return nil
}

// reset makes r read b from its start.
func (r *jsonReader) reset(b []byte) {
	r.b, r.i, r.depth, r.open = b, 0, 0, r.open[:0]
}

// The tokenReader methods.

func (r *jsonReader) kind() kind {
	switch r.peek() {
	case 0:
		return kindEnd
	case '{':
		return kindMap
	case '[':
		return kindArray
	case '"':
		return kindString
	case 'n':
		return kindNull
	}
	return kindOther
}

func (r *jsonReader) mapStart() error {
	if r.peek() != '{' {
		return r.unexpected("'{'")
	}
	r.i++
	r.open = append(r.open, true)
	return nil
}

func (r *jsonReader) mapKey() ([]byte, bool, error) {
	top := len(r.open) - 1
	c := r.peek()
	if c == '}' {
		r.i++
		r.open = r.open[:top]
		return nil, false, nil
	}
	if !r.open[top] {
		if c != ',' {
			return nil, false, r.unexpected("',' or '}'")
		}
		r.i++
		r.ws()
	}
	r.open[top] = false
	key, err := r.text()
	if err != nil {
		return nil, false, err
	}
	if r.peek() != ':' {
		return nil, false, r.unexpected("':'")
	}
	r.i++
	return key, true, nil
}

func (r *jsonReader) arrayStart() error {
	if r.peek() != '[' {
		return r.unexpected("'['")
	}
	r.i++
	r.open = append(r.open, true)
	return nil
}

func (r *jsonReader) arrayNext() (bool, error) {
	top := len(r.open) - 1
	c := r.peek()
	if c == ']' {
		r.i++
		r.open = r.open[:top]
		return false, nil
	}
	if !r.open[top] {
		if c != ',' {
			return false, r.unexpected("',' or ']'")
		}
		r.i++
	}
	r.open[top] = false
	return true, nil
}

// null consumes a null if one comes next.
func (r *jsonReader) null() bool {
	if r.peek() == 'n' && len(r.b)-r.i >= 4 && string(r.b[r.i:r.i+4]) == "null" {
		r.i += 4
		return true
	}
	return false
}

func (r *jsonReader) str() ([]byte, error) {
	r.ws()
	return r.text()
}

// text reads a string at r.i, unescaped; one with escapes is decoded
// into r.scratch.
func (r *jsonReader) text() ([]byte, error) {
	start := r.i
	raw, escaped, err := r.rawString()
	if err != nil || !escaped {
		return raw, err
	}
	s, err := unquote(r.b[start:r.i])
	if err != nil {
		return nil, err
	}
	r.scratch = append(r.scratch[:0], s...)
	return r.scratch, nil
}

func (r *jsonReader) skip() error {
	r.ws()
	_, err := r.skipValue()
	return err
}

func (r *jsonReader) payload(d *eventDecoder, ev *engine.Event) error {
	raw, spaced, err := r.value()
	if err != nil {
		return err
	}
	if !spaced {
		if len(raw) > d.limits.maxPayload {
			return d.tooLarge(len(raw))
		}
		ev.Payload = raw
		return nil
	}
	budget, off := d.convertBudget(), len(d.arena)
	d.arena = appendCompact(d.arena, raw)
	if n := len(d.arena) - off; n > budget {
		d.arena = d.arena[:off]
		return d.budgetError(n)
	}
	d.arenaPayload(off)
	return nil
}

// rawString reads a string and returns its content between the quotes,
// and whether it has escapes. It refuses what JSON (RFC 8259) and the API
// refuse: bytes below 0x20, invalid UTF-8 and escaped surrogates that do
// not pair, each with its offset, so that no invalid text is stored.
func (r *jsonReader) rawString() (raw []byte, escaped bool, err error) {
	if r.i >= len(r.b) || r.b[r.i] != '"' {
		return nil, false, r.unexpected("a string")
	}
	r.i++
	start := r.i
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			return r.b[start : r.i-1], escaped, nil
		case c == '\\':
			escaped = true
			r.i++
			if r.i >= len(r.b) {
				return nil, false, r.unexpected("an escape")
			}
			switch r.b[r.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				r.i++
			case 'u':
				if err := r.escapedRune(); err != nil {
					return nil, false, err
				}
			default:
				return nil, false, r.fail("invalid escape %q", r.b[r.i])
			}
		case c < 0x20:
			return nil, false, r.fail("control character %#x in string", c)
		case c < utf8.RuneSelf:
			r.i++
		default:
			rn, size := utf8.DecodeRune(r.b[r.i:])
			if rn == utf8.RuneError && size == 1 {
				return nil, false, r.fail("invalid UTF-8")
			}
			r.i += size
		}
	}
	return nil, false, r.unexpected("'\"'")
}

// escapedRune reads the hex digits of a \u escape (r.i at the u), and
// the low half after a high surrogate.
func (r *jsonReader) escapedRune() error {
	at := r.i - 1
	v, err := r.hex4()
	if err != nil {
		return err
	}
	switch {
	case v >= 0xdc00 && v <= 0xdfff:
		r.i = at
		return r.fail("a low surrogate escape without a high one")
	case v >= 0xd800 && v <= 0xdbff:
		if len(r.b)-r.i < 2 || r.b[r.i] != '\\' || r.b[r.i+1] != 'u' {
			r.i = at
			return r.fail("a high surrogate escape without a low one")
		}
		r.i++
		lo, err := r.hex4()
		if err != nil {
			return err
		}
		if lo < 0xdc00 || lo > 0xdfff {
			r.i = at
			return r.fail("a high surrogate escape without a low one")
		}
	}
	return nil
}

// hex4 reads u and four hex digits.
func (r *jsonReader) hex4() (uint16, error) {
	r.i++ // the u
	var v uint16
	for k := 0; k < 4; k++ {
		if r.i >= len(r.b) || !isHex(r.b[r.i]) {
			return 0, r.unexpected("a hex digit")
		}
		c := r.b[r.i]
		switch {
		case c <= '9':
			c -= '0'
		case c >= 'a':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		v = v<<4 | uint16(c)
		r.i++
	}
	return v, nil
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// unquote decodes a quoted JSON string, checked by rawString, with
// encoding/json, for the rare strings with escapes.
func unquote(quoted []byte) (string, error) {
	var s string
	if err := json.Unmarshal(quoted, &s); err != nil {
		return "", err
	}
	return s, nil
}

// value skips one JSON value, validating it, and returns it as a slice of
// the input, with whether it holds whitespace to compact away.
func (r *jsonReader) value() (raw []byte, spaced bool, err error) {
	r.ws()
	start := r.i
	spaced, err = r.skipValue()
	if err != nil {
		return nil, false, err
	}
	return r.b[start:r.i], spaced, nil
}

// skipValue validates and skips one value (whitespace before it already
// skipped) and reports whether whitespace occurs inside it.
func (r *jsonReader) skipValue() (spaced bool, err error) {
	if r.i >= len(r.b) {
		return false, r.unexpected("a value")
	}
	switch c := r.b[r.i]; {
	case c == '"':
		_, _, err = r.rawString()
		return false, err
	case c == '{' || c == '[':
		if r.depth++; r.depth > maxJSONDepth {
			return false, r.fail("exceeded max depth")
		}
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		r.i++
		spaced = r.ws() || spaced
		if r.i < len(r.b) && r.b[r.i] == closer {
			r.i++
			r.depth--
			return spaced, nil
		}
		for {
			if c == '{' {
				if _, _, err := r.rawString(); err != nil {
					return false, err
				}
				spaced = r.ws() || spaced
				if r.i >= len(r.b) || r.b[r.i] != ':' {
					return false, r.unexpected("':'")
				}
				r.i++
				spaced = r.ws() || spaced
			}
			s, err := r.skipValue()
			if err != nil {
				return false, err
			}
			spaced = r.ws() || s || spaced
			if r.i < len(r.b) && r.b[r.i] == closer {
				r.i++
				break
			}
			if r.i >= len(r.b) || r.b[r.i] != ',' {
				return false, r.unexpected(fmt.Sprintf("',' or '%c'", closer))
			}
			r.i++
			spaced = r.ws() || spaced
		}
		r.depth--
		return spaced, nil
	case c == '-' || '0' <= c && c <= '9':
		return false, r.number()
	case c == 't':
		return false, r.literal("true")
	case c == 'f':
		return false, r.literal("false")
	case c == 'n':
		return false, r.literal("null")
	default:
		return false, r.unexpected("a value")
	}
}

func (r *jsonReader) literal(lit string) error {
	if len(r.b)-r.i < len(lit) || string(r.b[r.i:r.i+len(lit)]) != lit {
		return r.fail("invalid literal, want %s", lit)
	}
	r.i += len(lit)
	return nil
}

// number validates -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (r *jsonReader) number() error {
	digits := func() int {
		n := 0
		for r.i < len(r.b) && '0' <= r.b[r.i] && r.b[r.i] <= '9' {
			r.i++
			n++
		}
		return n
	}
	if r.i < len(r.b) && r.b[r.i] == '-' {
		r.i++
	}
	if r.i < len(r.b) && r.b[r.i] == '0' {
		r.i++
	} else if digits() == 0 {
		return r.unexpected("a digit")
	}
	if r.i < len(r.b) && r.b[r.i] == '.' {
		r.i++
		if digits() == 0 {
			return r.unexpected("a digit")
		}
	}
	if r.i < len(r.b) && (r.b[r.i] == 'e' || r.b[r.i] == 'E') {
		r.i++
		if r.i < len(r.b) && (r.b[r.i] == '+' || r.b[r.i] == '-') {
			r.i++
		}
		if digits() == 0 {
			return r.unexpected("a digit")
		}
	}
	return nil
}

// appendCompact appends valid JSON src without its insignificant
// whitespace.
func appendCompact(dst, src []byte) []byte {
	in, esc := false, false
	for _, c := range src {
		switch {
		case in:
			dst = append(dst, c)
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				in = false
			}
		case isSpace(c):
		default:
			if c == '"' {
				in = true
			}
			dst = append(dst, c)
		}
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaped as encoding/json does
// with HTML escaping off: invalid UTF-8 becomes U+FFFD, and U+2028 and
// U+2029 are escaped.
func appendString[S ~string | ~[]byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		var r rune
		var size int
		switch v := any(s).(type) {
		case string:
			r, size = utf8.DecodeRuneInString(v[i:])
		case []byte:
			r, size = utf8.DecodeRune(v[i:])
		default:
			r, size = utf8.DecodeRuneInString(string(s[i:]))
		}
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendInt appends n in decimal.
func appendInt(dst []byte, n int64) []byte { return strconv.AppendInt(dst, n, 10) }
