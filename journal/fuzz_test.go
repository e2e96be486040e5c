package journal

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzDecodeRecord feeds record bodies to the decoder: it must never
// panic, and what it accepts must survive a round trip through the
// encoder unchanged.
func FuzzDecodeRecord(f *testing.F) {
	for _, b := range []Batch{makeBatch(0, 1), makeBatch(3, 4), makeBatch(10, 2), {First: 1 << 40, Time: -1, Events: []Event{{}}}} {
		rec := appendRecord(nil, &b)
		f.Add(rec[recordHeaderSize:])
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var d batchDecoder
		var b Batch
		if err := d.decode(body, &b); err != nil {
			return
		}
		if _, err := peekBatch(body); err != nil {
			t.Fatalf("decode accepted what peek refuses: %v", err)
		}
		got := cloneBatch(&b)
		rec := appendRecord(nil, &got)
		var d2 batchDecoder
		var b2 Batch
		if err := d2.decode(rec[recordHeaderSize:], &b2); err != nil {
			t.Fatalf("re-encoded batch does not decode: %v", err)
		}
		if diff := diffBatches([]Batch{got}, []Batch{cloneBatch(&b2)}); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

// memFile is a segment held in memory, for the scanner fuzzer.
type memFile struct{ b []byte }

func (m *memFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(m.b)) {
		return 0, io.EOF
	}
	n := copy(p, m.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
func (m *memFile) WriteAt(p []byte, off int64) (int, error) { return 0, errors.ErrUnsupported }
func (m *memFile) Close() error                             { return nil }
func (m *memFile) Sync() error                              { return nil }
func (m *memFile) Truncate(int64) error                     { return errors.ErrUnsupported }
func (m *memFile) Size() (int64, error)                     { return int64(len(m.b)), nil }
func (m *memFile) Fd() uintptr                              { return ^uintptr(0) }

// FuzzScanSegment feeds whole segment files to the scanner that recovery
// and readers use: it must never panic or loop, and must move forward.
func FuzzScanSegment(f *testing.F) {
	seg := appendSegmentHeader(nil, 0)
	for seq := int64(0); seq < 20; seq += 4 {
		b := makeBatch(seq, 4)
		seg = appendRecord(seg, &b)
	}
	f.Add(seg)
	f.Add(seg[:len(seg)-5])
	f.Add(append(bytes.Clone(seg), make([]byte, 40)...))
	f.Fuzz(func(t *testing.T, file []byte) {
		m := &memFile{b: file}
		if len(file) < segmentHeaderSize {
			return
		}
		sc := newScanner(m, segmentHeaderSize, int64(len(file)), nil)
		var d batchDecoder
		var b Batch
		last := int64(-1)
		for range len(file) {
			body, off, err := sc.next()
			if err != nil {
				return
			}
			if off <= last || sc.at() <= off {
				t.Fatalf("scanner went from %d to %d, next %d", last, off, sc.at())
			}
			last = off
			_ = d.decode(body, &b)
		}
		t.Fatal("more records than bytes")
	})
}
