package journal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
)

// Event is one event of a [Batch]: opaque payload bytes, a flag saying
// whether they are binary rather than text, and metadata pairs.
type Event struct {
	Payload  []byte
	Binary   bool
	Metadata []Metadata
}

// Metadata is one key/value pair of an [Event].
type Metadata struct {
	Key, Value string
}

// Batch is the unit the journal writes and reads back: events at the
// consecutive sequences First, First+1, ..., written at Time, with an
// optional idempotency key. One batch is one record on disk, kept or lost
// as a whole.
//
// A batch given to [Journal.Append] is copied into the journal's buffer
// before Append returns: the caller keeps its buffers. A batch returned by
// [Reader.Next] points into the reader's buffers and is valid until the
// next call; the metadata strings stay valid for good.
type Batch struct {
	// First is the sequence of Events[0].
	First int64
	// Time is when the batch was published, in Unix nanoseconds: the
	// clock of retention by age and of idempotency windows.
	Time int64
	// Key is the batch's idempotency key, or "" for none: at most
	// MaxKeyBytes bytes.
	Key string
	// Hash fingerprints the batch's content, so that a retry under Key can
	// be told from another batch reusing it. The journal stores it as
	// given; it is meaningful only with a Key.
	Hash uint64
	// Events are the batch's events, at least one.
	Events []Event
}

// Last is the sequence of the batch's last event.
func (b *Batch) Last() int64 { return b.First + int64(len(b.Events)) - 1 }

// MaxKeyBytes bounds a batch's idempotency key.
const MaxKeyBytes = 4 << 10

// The record format, version 1. Integers are little-endian; "uvarint" is
// encoding/binary's. A record is a 12-byte header and a body:
//
//	header: length u32 | crc32c(body) u32 | crc32c(header[0:8]) u32
//	body:   type u8 (1: batch) | flags u8 (bit 0: key) | first i64 | count u32 | time i64
//	        [ key: uvarint len | bytes | hash u64 ]
//	        count × event
//	event:  flags u8 (bit 0: binary, bit 1: metadata) | uvarint len | payload
//	        [ metadata: uvarint n | n × (uvarint len | key | uvarint len | value) ]
//
// The header's own checksum tells a damaged length (corruption) from an
// unwritten one (a torn tail: zeros, or the file ending inside the record).
const (
	recordHeaderSize = 12
	recordTypeBatch  = 1
	batchFixedSize   = 1 + 1 + 8 + 4 + 8 // type, flags, first, count, time

	batchFlagKey = 1 << 0
	eventBinary  = 1 << 0
	eventMeta    = 1 << 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// encodedSize is the size of b's record, header included.
func encodedSize(b *Batch) int {
	n := recordHeaderSize + batchFixedSize
	if b.Key != "" {
		n += uvarintLen(uint64(len(b.Key))) + len(b.Key) + 8
	}
	for i := range b.Events {
		e := &b.Events[i]
		n += 1 + uvarintLen(uint64(len(e.Payload))) + len(e.Payload)
		if len(e.Metadata) > 0 {
			n += uvarintLen(uint64(len(e.Metadata)))
			for _, m := range e.Metadata {
				n += uvarintLen(uint64(len(m.Key))) + len(m.Key) + uvarintLen(uint64(len(m.Value))) + len(m.Value)
			}
		}
	}
	return n
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// appendRecord appends b's record, header included, to dst.
func appendRecord(dst []byte, b *Batch) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, recordHeaderSize)...)
	var flags byte
	if b.Key != "" {
		flags |= batchFlagKey
	}
	dst = append(dst, recordTypeBatch, flags)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(b.First))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(b.Events)))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(b.Time))
	if b.Key != "" {
		dst = binary.AppendUvarint(dst, uint64(len(b.Key)))
		dst = append(dst, b.Key...)
		dst = binary.LittleEndian.AppendUint64(dst, b.Hash)
	}
	for i := range b.Events {
		e := &b.Events[i]
		var ef byte
		if e.Binary {
			ef |= eventBinary
		}
		if len(e.Metadata) > 0 {
			ef |= eventMeta
		}
		dst = append(dst, ef)
		dst = binary.AppendUvarint(dst, uint64(len(e.Payload)))
		dst = append(dst, e.Payload...)
		if len(e.Metadata) > 0 {
			dst = binary.AppendUvarint(dst, uint64(len(e.Metadata)))
			for _, m := range e.Metadata {
				dst = binary.AppendUvarint(dst, uint64(len(m.Key)))
				dst = append(dst, m.Key...)
				dst = binary.AppendUvarint(dst, uint64(len(m.Value)))
				dst = append(dst, m.Value...)
			}
		}
	}
	body := dst[start+recordHeaderSize:]
	hdr := dst[start : start+recordHeaderSize]
	binary.LittleEndian.PutUint32(hdr[0:], uint32(len(body)))
	binary.LittleEndian.PutUint32(hdr[4:], crc(body))
	binary.LittleEndian.PutUint32(hdr[8:], crc(hdr[:8]))
	return dst
}

// recordHeader is a record's header, decoded.
type recordHeader struct {
	length  uint32
	bodyCRC uint32
}

// parseHeader decodes a record header; ok is false when the header's own
// checksum does not match.
func parseHeader(b []byte) (h recordHeader, ok bool) {
	h.length = binary.LittleEndian.Uint32(b[0:])
	h.bodyCRC = binary.LittleEndian.Uint32(b[4:])
	return h, binary.LittleEndian.Uint32(b[8:]) == crc(b[:8])
}

// batchInfo is what recovery needs of a record without decoding its
// events: its sequences and time.
type batchInfo struct {
	first int64
	count int64
	time  int64
}

// peekBatch decodes the fixed part of a record body.
func peekBatch(body []byte) (batchInfo, error) {
	if len(body) < batchFixedSize {
		return batchInfo{}, fmt.Errorf("body of %d bytes is shorter than a batch header", len(body))
	}
	if body[0] != recordTypeBatch {
		return batchInfo{}, fmt.Errorf("unknown record type %d", body[0])
	}
	if body[1]&^batchFlagKey != 0 {
		return batchInfo{}, fmt.Errorf("unknown batch flags %#x", body[1])
	}
	first := int64(binary.LittleEndian.Uint64(body[2:]))
	count := int64(binary.LittleEndian.Uint32(body[10:]))
	if first < 0 {
		return batchInfo{}, fmt.Errorf("negative first sequence %d", first)
	}
	if count == 0 {
		return batchInfo{}, fmt.Errorf("batch without events")
	}
	if first > math.MaxInt64-count {
		return batchInfo{}, fmt.Errorf("sequences %d+%d overflow", first, count)
	}
	// Every event takes at least two bytes (flags and length).
	if count > int64(len(body)-batchFixedSize)/2 {
		return batchInfo{}, fmt.Errorf("%d events cannot fit in %d bytes", count, len(body))
	}
	return batchInfo{first: first, count: count, time: int64(binary.LittleEndian.Uint64(body[14:]))}, nil
}

// batchDecoder decodes record bodies into a Batch, reusing its event and
// metadata slices from call to call.
type batchDecoder struct {
	events []Event
	meta   []Metadata
	strs   []byte // the metadata strings of one batch, before they become one string
	spans  []int  // where each key and value starts in strs
	refs   []metaRef
}

// metaRef is where an event's metadata pairs start in batchDecoder.spans,
// and how many there are.
type metaRef struct{ at, n int }

// decode decodes body into b. b's payloads point into body; its metadata
// strings are substrings of one string allocated per batch. b's Events
// and Metadata slices belong to d and are reused by the next call.
func (d *batchDecoder) decode(body []byte, b *Batch) error {
	info, err := peekBatch(body)
	if err != nil {
		return err
	}
	flags := body[1]
	p := body[batchFixedSize:]
	*b = Batch{First: info.first, Time: info.time}
	if flags&batchFlagKey != 0 {
		n, w := binary.Uvarint(p)
		if w <= 0 || n > MaxKeyBytes || n == 0 || uint64(len(p)-w) < n+8 {
			return fmt.Errorf("bad idempotency key length")
		}
		p = p[w:]
		b.Key = string(p[:n])
		b.Hash = binary.LittleEndian.Uint64(p[n:])
		p = p[n+8:]
	}
	d.events = d.events[:0]
	d.meta = d.meta[:0]
	d.strs = d.strs[:0]
	d.spans = d.spans[:0]
	d.refs = d.refs[:0]
	for i := int64(0); i < info.count; i++ {
		if len(p) < 2 {
			return fmt.Errorf("event %d: truncated", i)
		}
		ef := p[0]
		if ef&^(eventBinary|eventMeta) != 0 {
			return fmt.Errorf("event %d: unknown flags %#x", i, ef)
		}
		n, w := binary.Uvarint(p[1:])
		if w <= 0 || uint64(len(p)-1-w) < n {
			return fmt.Errorf("event %d: bad payload length", i)
		}
		p = p[1+w:]
		d.events = append(d.events, Event{Payload: p[:n:n], Binary: ef&eventBinary != 0})
		p = p[n:]
		ref := metaRef{at: len(d.spans)}
		if ef&eventMeta != 0 {
			m, w := binary.Uvarint(p)
			// each pair takes at least two bytes
			if w <= 0 || m == 0 || m > uint64(len(p)-w)/2 {
				return fmt.Errorf("event %d: bad metadata count", i)
			}
			p = p[w:]
			for j := uint64(0); j < 2*m; j++ {
				l, w := binary.Uvarint(p)
				if w <= 0 || uint64(len(p)-w) < l {
					return fmt.Errorf("event %d: bad metadata length", i)
				}
				d.spans = append(d.spans, len(d.strs))
				d.strs = append(d.strs, p[w:w+int(l)]...)
				p = p[w+int(l):]
			}
			ref.n = int(m)
		}
		d.refs = append(d.refs, ref)
	}
	if len(p) != 0 {
		return fmt.Errorf("%d bytes after the last event", len(p))
	}
	if len(d.spans) > 0 {
		all := string(d.strs) // one allocation for every key and value of the batch
		end := func(k int) int {
			if k+1 < len(d.spans) {
				return d.spans[k+1]
			}
			return len(all)
		}
		for i, ref := range d.refs {
			if ref.n == 0 {
				continue
			}
			at := len(d.meta)
			for k := ref.at; k < ref.at+2*ref.n; k += 2 {
				d.meta = append(d.meta, Metadata{Key: all[d.spans[k]:end(k)], Value: all[d.spans[k+1]:end(k+1)]})
			}
			d.events[i].Metadata = d.meta[at:len(d.meta):len(d.meta)]
		}
	}
	b.Events = d.events
	return nil
}
