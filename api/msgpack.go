package api

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/badbatch/badbatch/engine"
)

// This file reads and writes MessagePack for the hot bodies (events), so
// that publishing and replaying allocate nothing per event; the
// vmihailenco/msgpack library handles every other body, and the tests
// check the two agree.

// maxNestingDepth bounds the nesting of MessagePack and YAML payloads.
const maxNestingDepth = 1000

// mpReader reads MessagePack from memory.
type mpReader struct {
	b     []byte
	i     int
	depth int
	// left has an entry per map or array entered with mapStart or
	// arrayStart: how many of its members are still to come.
	left []int
	// limit, when positive, is the length appendJSON's output may reach.
	limit int
}

// reset makes r read b from its start.
func (r *mpReader) reset(b []byte) {
	r.b, r.i, r.depth, r.left, r.limit = b, 0, 0, r.left[:0], 0
}

// The tokenReader methods.

func (r *mpReader) kind() kind {
	c, ok := r.peek()
	switch {
	case !ok:
		return kindEnd
	case c&0xf0 == 0x80 || c == 0xde || c == 0xdf:
		return kindMap
	case c&0xf0 == 0x90 || c == 0xdc || c == 0xdd:
		return kindArray
	case c&0xe0 == 0xa0 || (c >= 0xd9 && c <= 0xdb):
		return kindString
	case c == 0xc0:
		return kindNull
	case c >= 0xc4 && c <= 0xc6:
		return kindBinary
	}
	return kindOther
}

func (r *mpReader) mapStart() error {
	n, err := r.mapLen()
	if err != nil {
		return err
	}
	r.left = append(r.left, n)
	return nil
}

func (r *mpReader) mapKey() ([]byte, bool, error) {
	if !r.more() {
		return nil, false, nil
	}
	k, err := r.str()
	if err != nil {
		return nil, false, r.fail("map keys must be strings")
	}
	return k, true, nil
}

func (r *mpReader) arrayStart() error {
	n, err := r.arrayLen()
	if err != nil {
		return err
	}
	r.left = append(r.left, n)
	return nil
}

func (r *mpReader) arrayNext() (bool, error) { return r.more(), nil }

// more takes the next member of the innermost container, or leaves it.
func (r *mpReader) more() bool {
	top := len(r.left) - 1
	if r.left[top] == 0 {
		r.left = r.left[:top]
		return false
	}
	r.left[top]--
	return true
}

func (r *mpReader) null() bool { return r.isNil() }

func (r *mpReader) skip() error {
	c, err := r.byte()
	if err != nil {
		return err
	}
	var n int
	switch {
	case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		return nil
	case c >= 0xcc && c <= 0xd3: // integers
		_, err = r.need(1 << ((c - 0xcc) & 3))
		return err
	case c == 0xca || c == 0xcb:
		_, err = r.need(4 << (c - 0xca))
		return err
	case c&0xe0 == 0xa0 || (c >= 0xd9 && c <= 0xdb):
		r.i--
		_, err = r.str()
		return err
	case c >= 0xc4 && c <= 0xc6:
		r.i--
		_, _, err = r.bin()
		return err
	case c >= 0xd4 && c <= 0xd8: // fixext 1, 2, 4, 8, 16: a type and the data
		_, err = r.need(1 + 1<<(c-0xd4))
		return err
	case c >= 0xc7 && c <= 0xc9: // ext 8, 16, 32
		if n, err = r.length(1<<(c-0xc7), 1); err == nil {
			_, err = r.need(n + 1)
		}
		return err
	case c&0xf0 == 0x90 || c == 0xdc || c == 0xdd, c&0xf0 == 0x80 || c == 0xde || c == 0xdf:
		r.i--
		isMap := c&0xf0 == 0x80 || c == 0xde || c == 0xdf
		if isMap {
			n, err = r.mapLen()
			n *= 2
		} else {
			n, err = r.arrayLen()
		}
		if err != nil {
			return err
		}
		if r.depth++; r.depth > maxNestingDepth {
			return r.fail("exceeded max depth")
		}
		for k := 0; k < n; k++ {
			if err := r.skip(); err != nil {
				return err
			}
		}
		r.depth--
		return nil
	}
	r.i--
	return r.fail("reserved byte 0xc1")
}

func (r *mpReader) payload(d *eventDecoder, ev *engine.Event) error {
	if p, isBin, err := r.bin(); isBin {
		if err != nil {
			return err
		}
		if len(p) > d.limits.maxPayload {
			return d.tooLarge(len(p))
		}
		ev.Payload, ev.Binary = p, true
		return nil
	}
	return d.convert(func(dst []byte, limit int) ([]byte, error) {
		r.limit = limit
		defer func() { r.limit = 0 }()
		return r.appendJSON(dst)
	})
}

func (r *mpReader) end() error {
	if r.i != len(r.b) {
		return r.fail("trailing data after the MessagePack value")
	}
	return nil
}

func (r *mpReader) fail(format string, args ...any) error {
	return &syntaxError{msg: fmt.Sprintf(format, args...), offset: r.i}
}

func (r *mpReader) need(n int) ([]byte, error) {
	if n < 0 || len(r.b)-r.i < n {
		return nil, r.fail("unexpected end of input")
	}
	p := r.b[r.i : r.i+n]
	r.i += n
	return p, nil
}

func (r *mpReader) byte() (byte, error) {
	if r.i >= len(r.b) {
		return 0, r.fail("unexpected end of input")
	}
	c := r.b[r.i]
	r.i++
	return c, nil
}

func (r *mpReader) peek() (byte, bool) {
	if r.i >= len(r.b) {
		return 0, false
	}
	return r.b[r.i], true
}

func (r *mpReader) uintN(n int) (uint64, error) {
	p, err := r.need(n)
	if err != nil {
		return 0, err
	}
	switch n {
	case 1:
		return uint64(p[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(p)), nil
	case 4:
		return uint64(binary.BigEndian.Uint32(p)), nil
	default:
		return binary.BigEndian.Uint64(p), nil
	}
}

// length reads an n-byte length and checks that at least min bytes per
// item remain, so a forged length cannot make us allocate.
func (r *mpReader) length(n, per int) (int, error) {
	v, err := r.uintN(n)
	if err != nil {
		return 0, err
	}
	if v > uint64(len(r.b)-r.i)/uint64(per) {
		return 0, r.fail("length %d is longer than the input", v)
	}
	return int(v), nil
}

// isNil consumes a nil if one comes next.
func (r *mpReader) isNil() bool {
	if c, ok := r.peek(); ok && c == 0xc0 {
		r.i++
		return true
	}
	return false
}

// mapLen reads a map header.
func (r *mpReader) mapLen() (int, error) {
	c, err := r.byte()
	if err != nil {
		return 0, err
	}
	switch {
	case c&0xf0 == 0x80:
		n := int(c & 0x0f)
		if n*2 > len(r.b)-r.i {
			return 0, r.fail("map of %d entries is longer than the input", n)
		}
		return n, nil
	case c == 0xde:
		return r.length(2, 2)
	case c == 0xdf:
		return r.length(4, 2)
	}
	r.i--
	return 0, r.fail("a %s where a map belongs", mpKind(c))
}

// arrayLen reads an array header.
func (r *mpReader) arrayLen() (int, error) {
	c, err := r.byte()
	if err != nil {
		return 0, err
	}
	switch {
	case c&0xf0 == 0x90:
		n := int(c & 0x0f)
		if n > len(r.b)-r.i {
			return 0, r.fail("array of %d elements is longer than the input", n)
		}
		return n, nil
	case c == 0xdc:
		return r.length(2, 1)
	case c == 0xdd:
		return r.length(4, 1)
	}
	r.i--
	return 0, r.fail("a %s where an array belongs", mpKind(c))
}

// str reads a string (str family only) and returns its bytes.
func (r *mpReader) str() ([]byte, error) {
	c, err := r.byte()
	if err != nil {
		return nil, err
	}
	var n int
	switch {
	case c&0xe0 == 0xa0:
		n = int(c & 0x1f)
	case c == 0xd9:
		n, err = r.length(1, 1)
	case c == 0xda:
		n, err = r.length(2, 1)
	case c == 0xdb:
		n, err = r.length(4, 1)
	default:
		r.i--
		return nil, r.fail("a %s where a string belongs", mpKind(c))
	}
	if err != nil {
		return nil, err
	}
	start := r.i
	p, err := r.need(n)
	if err == nil && !utf8.Valid(p) {
		r.i = start + invalidUTF8(p)
		return nil, r.fail("invalid UTF-8")
	}
	return p, err
}

// invalidUTF8 returns the offset of the first byte of p that is not valid
// UTF-8, or len(p).
func invalidUTF8(p []byte) int {
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRune(p[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return len(p)
}

// bin reads a bin value, if one comes next.
func (r *mpReader) bin() ([]byte, bool, error) {
	c, ok := r.peek()
	if !ok || c < 0xc4 || c > 0xc6 {
		return nil, false, nil
	}
	r.i++
	n, err := r.length(1<<(c-0xc4), 1)
	if err != nil {
		return nil, true, err
	}
	p, err := r.need(n)
	return p, true, err
}

// mpKind names the type of a MessagePack value by its first byte.
func mpKind(c byte) string {
	switch {
	case c <= 0x7f || c >= 0xe0 || (c >= 0xcc && c <= 0xd3):
		return "integer"
	case c&0xf0 == 0x80 || c == 0xde || c == 0xdf:
		return "map"
	case c&0xf0 == 0x90 || c == 0xdc || c == 0xdd:
		return "array"
	case c&0xe0 == 0xa0 || (c >= 0xd9 && c <= 0xdb):
		return "string"
	case c == 0xc0:
		return "nil"
	case c == 0xc2 || c == 0xc3:
		return "boolean"
	case c >= 0xc4 && c <= 0xc6:
		return "bin"
	case c == 0xca || c == 0xcb:
		return "float"
	case c == 0xc1:
		return "reserved byte 0xc1"
	}
	return "extension"
}

// appendJSON converts the next value to JSON, appending it to dst. Maps
// must have string keys; extension types, NaN and infinities have no JSON
// form and are refused. A bin value becomes a base64 string, as
// encoding/json spells []byte.
func (r *mpReader) appendJSON(dst []byte) ([]byte, error) {
	if r.limit > 0 && len(dst) > r.limit {
		return dst, errConvertLimit
	}
	c, err := r.byte()
	if err != nil {
		return dst, err
	}
	switch {
	case c <= 0x7f:
		return strconv.AppendInt(dst, int64(c), 10), nil
	case c >= 0xe0:
		return strconv.AppendInt(dst, int64(int8(c)), 10), nil
	case c == 0xc0:
		return append(dst, "null"...), nil
	case c == 0xc2:
		return append(dst, "false"...), nil
	case c == 0xc3:
		return append(dst, "true"...), nil
	case c >= 0xcc && c <= 0xcf:
		v, err := r.uintN(1 << (c - 0xcc))
		return strconv.AppendUint(dst, v, 10), err
	case c >= 0xd0 && c <= 0xd3:
		n := 1 << (c - 0xd0)
		v, err := r.uintN(n)
		var s int64
		switch n {
		case 1:
			s = int64(int8(v))
		case 2:
			s = int64(int16(v))
		case 4:
			s = int64(int32(v))
		default:
			s = int64(v)
		}
		return strconv.AppendInt(dst, s, 10), err
	case c == 0xca:
		v, err := r.uintN(4)
		if err != nil {
			return dst, err
		}
		return appendFloat(dst, float64(math.Float32frombits(uint32(v))), 32, r)
	case c == 0xcb:
		v, err := r.uintN(8)
		if err != nil {
			return dst, err
		}
		return appendFloat(dst, math.Float64frombits(v), 64, r)
	case c&0xe0 == 0xa0 || (c >= 0xd9 && c <= 0xdb):
		r.i--
		s, err := r.str()
		return appendString(dst, s), err
	case c >= 0xc4 && c <= 0xc6:
		r.i--
		p, _, err := r.bin()
		if err != nil {
			return dst, err
		}
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, p)
		return append(dst, '"'), nil
	case c&0xf0 == 0x90 || c == 0xdc || c == 0xdd:
		r.i--
		n, err := r.arrayLen()
		if err != nil {
			return dst, err
		}
		if r.depth++; r.depth > maxNestingDepth {
			return dst, r.fail("exceeded max depth")
		}
		dst = append(dst, '[')
		for k := 0; k < n; k++ {
			if k > 0 {
				dst = append(dst, ',')
			}
			if dst, err = r.appendJSON(dst); err != nil {
				return dst, err
			}
		}
		r.depth--
		return append(dst, ']'), nil
	case c&0xf0 == 0x80 || c == 0xde || c == 0xdf:
		r.i--
		n, err := r.mapLen()
		if err != nil {
			return dst, err
		}
		if r.depth++; r.depth > maxNestingDepth {
			return dst, r.fail("exceeded max depth")
		}
		dst = append(dst, '{')
		for k := 0; k < n; k++ {
			if k > 0 {
				dst = append(dst, ',')
			}
			key, err := r.str()
			if err != nil {
				return dst, r.fail("map keys must be strings to convert to JSON")
			}
			dst = appendString(dst, key)
			dst = append(dst, ':')
			if dst, err = r.appendJSON(dst); err != nil {
				return dst, err
			}
		}
		r.depth--
		return append(dst, '}'), nil
	}
	r.i--
	return dst, r.fail("a MessagePack %s has no JSON form", mpKind(c))
}

// appendFloat appends f as encoding/json formats floats.
func appendFloat(dst []byte, f float64, bits int, r *mpReader) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return dst, r.fail("%v has no JSON form", f)
	}
	fmtc := byte('f')
	if abs := math.Abs(f); abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			fmtc = 'e'
		}
	}
	dst = strconv.AppendFloat(dst, f, fmtc, -1, bits)
	if fmtc == 'e' {
		// clean up e-09 to e-9
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst, nil
}

// The MessagePack writers append a value's encoding to dst.

func mpNil(dst []byte) []byte { return append(dst, 0xc0) }

func mpBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, 0xc3)
	}
	return append(dst, 0xc2)
}

func mpInt(dst []byte, v int64) []byte {
	switch {
	case v >= 0:
		return mpUint(dst, uint64(v))
	case v >= -32:
		return append(dst, byte(v))
	case v >= math.MinInt8:
		return append(dst, 0xd0, byte(v))
	case v >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(dst, 0xd1), uint16(v))
	case v >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(dst, 0xd2), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(dst, 0xd3), uint64(v))
}

func mpUint(dst []byte, v uint64) []byte {
	switch {
	case v <= 0x7f:
		return append(dst, byte(v))
	case v <= math.MaxUint8:
		return append(dst, 0xcc, byte(v))
	case v <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, 0xcd), uint16(v))
	case v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(dst, 0xce), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(dst, 0xcf), v)
}

func mpFloat(dst []byte, v float64) []byte {
	return binary.BigEndian.AppendUint64(append(dst, 0xcb), math.Float64bits(v))
}

func mpStr[S ~string | ~[]byte](dst []byte, s S) []byte {
	n := len(s)
	switch {
	case n <= 31:
		dst = append(dst, 0xa0|byte(n))
	case n <= math.MaxUint8:
		dst = append(dst, 0xd9, byte(n))
	case n <= math.MaxUint16:
		dst = binary.BigEndian.AppendUint16(append(dst, 0xda), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, 0xdb), uint32(n))
	}
	return append(dst, s...)
}

func mpBin(dst, p []byte) []byte {
	n := len(p)
	switch {
	case n <= math.MaxUint8:
		dst = append(dst, 0xc4, byte(n))
	case n <= math.MaxUint16:
		dst = binary.BigEndian.AppendUint16(append(dst, 0xc5), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, 0xc6), uint32(n))
	}
	return append(dst, p...)
}

func mpMapLen(dst []byte, n int) []byte {
	switch {
	case n <= 15:
		return append(dst, 0x80|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, 0xde), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(dst, 0xdf), uint32(n))
}

func mpArrayLen(dst []byte, n int) []byte {
	switch {
	case n <= 15:
		return append(dst, 0x90|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, 0xdc), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(dst, 0xdd), uint32(n))
}

// jsonToMsgpack appends the MessagePack form of the valid JSON value src:
// objects become maps (in order), numbers become integers when they are
// whole and fit, floats otherwise.
func jsonToMsgpack(dst, src []byte) ([]byte, error) {
	r := jsonReader{b: src}
	dst, err := r.toMsgpack(dst)
	if err == nil {
		err = r.end()
	}
	return dst, err
}

func (r *jsonReader) toMsgpack(dst []byte) ([]byte, error) {
	switch c := r.peek(); {
	case c == '{' || c == '[':
		r.i++
		if r.depth++; r.depth > maxJSONDepth {
			return dst, r.fail("exceeded max depth")
		}
		// Write a 5-byte header, then shrink it once the count is known.
		hdr := len(dst)
		dst = append(dst, 0, 0, 0, 0, 0)
		n := 0
		closer := byte(']')
		if c == '{' {
			closer = '}'
		}
		for first := true; ; first = false {
			if r.peek() == closer {
				r.i++
				break
			}
			if !first {
				if r.peek() != ',' {
					return dst, r.unexpected("','")
				}
				r.i++
			}
			if c == '{' {
				key, err := r.str()
				if err != nil {
					return dst, err
				}
				dst = mpStr(dst, key)
				if r.peek() != ':' {
					return dst, r.unexpected("':'")
				}
				r.i++
			}
			var err error
			if dst, err = r.toMsgpack(dst); err != nil {
				return dst, err
			}
			n++
		}
		r.depth--
		var hb [5]byte
		var h []byte
		if c == '{' {
			h = mpMapLen(hb[:0], n)
		} else {
			h = mpArrayLen(hb[:0], n)
		}
		copy(dst[hdr:], h)
		if len(h) < 5 {
			copy(dst[hdr+len(h):], dst[hdr+5:])
			dst = dst[:len(dst)-(5-len(h))]
		}
		return dst, nil
	case c == '"':
		s, err := r.str()
		return mpStr(dst, s), err
	case c == 't':
		return mpBool(dst, true), r.literal("true")
	case c == 'f':
		return mpBool(dst, false), r.literal("false")
	case c == 'n':
		return mpNil(dst), r.literal("null")
	default:
		start := r.i
		if err := r.number(); err != nil {
			return dst, err
		}
		num := string(r.b[start:r.i])
		if v, err := strconv.ParseInt(num, 10, 64); err == nil {
			return mpInt(dst, v), nil
		}
		if v, err := strconv.ParseUint(num, 10, 64); err == nil {
			return mpUint(dst, v), nil
		}
		v, _ := strconv.ParseFloat(num, 64) // ±Inf on overflow: MessagePack has them
		return mpFloat(dst, v), nil
	}
}
