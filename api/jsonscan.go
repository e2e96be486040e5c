package api

import (
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// jsonReader is a small recursive-descent reader over a JSON document in
// memory, for the hot request bodies: it validates exactly what
// encoding/json accepts, hands back values as slices of the input (no
// copy), and allocates nothing on its own.
type jsonReader struct {
	b     []byte
	i     int
	depth int
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

// objStart consumes '{'.
func (r *jsonReader) objStart() error {
	if r.peek() != '{' {
		return r.unexpected("'{'")
	}
	r.i++
	return nil
}

// objNext moves to the next key of an object: it returns the key
// (decoded as encoding/json does) and true, or false at the closing brace.
// A key that needed decoding lives in scratch, valid until its next use.
func (r *jsonReader) objNext(first bool, scratch *[]byte) (key []byte, more bool, err error) {
	c := r.peek()
	if c == '}' {
		r.i++
		return nil, false, nil
	}
	if !first {
		if c != ',' {
			return nil, false, r.unexpected("',' or '}'")
		}
		r.i++
		r.ws()
	}
	raw, escaped, err := r.rawString()
	if err != nil {
		return nil, false, err
	}
	key = raw
	if escaped || !utf8.Valid(raw) {
		s, err := unquote(r.b[r.i-len(raw)-2 : r.i])
		if err != nil {
			return nil, false, err
		}
		*scratch = append((*scratch)[:0], s...)
		key = *scratch
	}
	if r.peek() != ':' {
		return nil, false, r.unexpected("':'")
	}
	r.i++
	return key, true, nil
}

// arrStart consumes '['.
func (r *jsonReader) arrStart() error {
	if r.peek() != '[' {
		return r.unexpected("'['")
	}
	r.i++
	return nil
}

// arrNext moves to the next element: true if there is one.
func (r *jsonReader) arrNext(first bool) (bool, error) {
	c := r.peek()
	if c == ']' {
		r.i++
		return false, nil
	}
	if !first {
		if c != ',' {
			return false, r.unexpected("',' or ']'")
		}
		r.i++
	}
	return true, nil
}

// isNull consumes a null if one comes next.
func (r *jsonReader) isNull() bool {
	if r.peek() == 'n' && len(r.b)-r.i >= 4 && string(r.b[r.i:r.i+4]) == "null" {
		r.i += 4
		return true
	}
	return false
}

// rawString reads a string and returns its content between the quotes,
// and whether it has escapes. Bytes below 0x20 are refused, as JSON says.
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
				r.i++
				for k := 0; k < 4; k++ {
					if r.i >= len(r.b) || !isHex(r.b[r.i]) {
						return nil, false, r.unexpected("a hex digit")
					}
					r.i++
				}
			default:
				return nil, false, r.fail("invalid escape %q", r.b[r.i])
			}
		case c < 0x20:
			return nil, false, r.fail("control character %#x in string", c)
		default:
			r.i++
		}
	}
	return nil, false, r.unexpected("'\"'")
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// str reads a string value and decodes it as encoding/json does (invalid
// UTF-8 and lone surrogates become U+FFFD).
func (r *jsonReader) str() (string, error) {
	r.ws()
	start := r.i
	raw, escaped, err := r.rawString()
	if err != nil {
		return "", err
	}
	if !escaped && utf8.Valid(raw) {
		return string(raw), nil
	}
	return unquote(r.b[start:r.i])
}

// unquote decodes a quoted JSON string with encoding/json, for the rare
// strings with escapes or invalid UTF-8.
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
	spaced, err = r.skip()
	if err != nil {
		return nil, false, err
	}
	return r.b[start:r.i], spaced, nil
}

// skip validates and skips one value (whitespace before it already
// skipped) and reports whether whitespace occurs inside it.
func (r *jsonReader) skip() (spaced bool, err error) {
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
			s, err := r.skip()
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
