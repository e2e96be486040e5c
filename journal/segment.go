package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// A stream's records live in segment files named by the sequence of their
// first record, 20 decimal digits so that they sort (Kafka's and
// tidwall/wal's naming): 00000000000000001000.log holds sequences 1000 on.
// Each segment has a sparse index, 00000000000000001000.index, written
// when the segment is sealed; it is only an accelerator, rebuilt from the
// segment when missing or invalid.
const (
	segmentExt = ".log"
	indexExt   = ".index"
	nameDigits = 20

	segmentMagic      = "BBJS"
	indexMagic        = "BBJI"
	formatVersion     = 1
	segmentHeaderSize = 24
	indexHeaderSize   = 24
	indexEntrySize    = 16
)

func segmentName(base int64) string {
	return fmt.Sprintf("%0*d%s", nameDigits, base, segmentExt)
}

func indexName(base int64) string {
	return fmt.Sprintf("%0*d%s", nameDigits, base, indexExt)
}

// parseSegmentName returns the base sequence of a segment file's name.
func parseSegmentName(name string) (int64, bool) {
	digits, ok := strings.CutSuffix(name, segmentExt)
	if !ok || len(digits) != nameDigits {
		return 0, false
	}
	base, err := strconv.ParseInt(digits, 10, 64)
	return base, err == nil && base >= 0
}

// segment header: magic "BBJS" | version u16 | reserved u16 | base i64 |
// reserved u32 | crc32c(header[0:20]) u32.
func appendSegmentHeader(dst []byte, base int64) []byte {
	start := len(dst)
	dst = append(dst, segmentMagic...)
	dst = binary.LittleEndian.AppendUint16(dst, formatVersion)
	dst = binary.LittleEndian.AppendUint16(dst, 0)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(base))
	dst = binary.LittleEndian.AppendUint32(dst, 0)
	return binary.LittleEndian.AppendUint32(dst, crc(dst[start:]))
}

func checkSegmentHeader(b []byte, base int64) error {
	if len(b) < segmentHeaderSize {
		return fmt.Errorf("header of %d bytes, want %d", len(b), segmentHeaderSize)
	}
	if string(b[:4]) != segmentMagic {
		return fmt.Errorf("not a journal segment (magic %q)", b[:4])
	}
	if binary.LittleEndian.Uint32(b[20:]) != crc(b[:20]) {
		return errors.New("header checksum mismatch")
	}
	if v := binary.LittleEndian.Uint16(b[4:]); v != formatVersion {
		return fmt.Errorf("format version %d, this build reads version %d", v, formatVersion)
	}
	if got := int64(binary.LittleEndian.Uint64(b[8:])); got != base {
		return fmt.Errorf("header says first sequence %d, the file name %d", got, base)
	}
	return nil
}

// indexEntry locates one record of a segment: its first sequence relative
// to the segment's base, its offset, and the greatest batch time up to and
// including it (so that a search by time finds a safe place to start even
// if batch times are not monotonic).
type indexEntry struct {
	rel     uint32
	off     uint32
	maxTime int64
}

// segment is one segment file, as the journal knows it. Fields are
// guarded by the journal's mutex; readers copy what they need.
type segment struct {
	base    int64  // first sequence, from the file name
	last    int64  // last sequence of its whole records; base-1 when it has none
	size    int64  // bytes of the header and whole records: where the next record goes
	maxTime int64  // greatest batch time in it; 0 when empty
	path    string // the .log file
	// index holds the sparse index while the segment is active, and once a
	// reader needed it; nil for a sealed segment nobody read yet.
	index []indexEntry
	// lastIndexed is the offset of the last index entry, to place the next.
	lastIndexed int64
}

func (s *segment) indexPath() string { return indexPathOf(s.path, s.base) }

func indexPathOf(path string, base int64) string {
	return filepath.Join(filepath.Dir(path), indexName(base))
}

// addIndex records the record at off (first sequence seq, running max
// time maxTime) in the index if it is the segment's first or lies
// interval bytes or more after the previous entry.
func (s *segment) addIndex(off, seq, maxTime int64, interval int) {
	if len(s.index) > 0 && off-s.lastIndexed < int64(interval) {
		return
	}
	s.index = append(s.index, indexEntry{rel: uint32(seq - s.base), off: uint32(off), maxTime: maxTime})
	s.lastIndexed = off
}

// seek returns the offset of the last indexed record starting at or
// before seq.
func seekIndex(index []indexEntry, base, seq int64) int64 {
	lo, hi := 0, len(index) // find the first entry past seq
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if base+int64(index[m].rel) <= seq {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		return segmentHeaderSize
	}
	return int64(index[lo-1].off)
}

// seekTimeSeq returns the first sequence of the last indexed record
// before which every batch is older than t (Unix ns).
func seekTimeSeq(index []indexEntry, base, t int64) int64 {
	lo, hi := 0, len(index) // the first entry whose running max reaches t
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if index[m].maxTime < t {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		return base
	}
	return base + int64(index[lo-1].rel)
}

// encodeIndex is the index file's content: magic "BBJI" | version u16 |
// reserved u16 | base i64 | count u32 | crc32c(entries) u32 | entries of
// rel u32 | off u32 | maxTime i64.
func encodeIndex(base int64, index []indexEntry) []byte {
	b := make([]byte, indexHeaderSize, indexHeaderSize+len(index)*indexEntrySize)
	copy(b, indexMagic)
	binary.LittleEndian.PutUint16(b[4:], formatVersion)
	binary.LittleEndian.PutUint64(b[8:], uint64(base))
	binary.LittleEndian.PutUint32(b[16:], uint32(len(index)))
	for _, e := range index {
		b = binary.LittleEndian.AppendUint32(b, e.rel)
		b = binary.LittleEndian.AppendUint32(b, e.off)
		b = binary.LittleEndian.AppendUint64(b, uint64(e.maxTime))
	}
	binary.LittleEndian.PutUint32(b[20:], crc(b[indexHeaderSize:]))
	return b
}

// decodeIndex parses and checks an index file of the segment at base whose
// file is size bytes long.
func decodeIndex(b []byte, base, size int64) ([]indexEntry, error) {
	if len(b) < indexHeaderSize || string(b[:4]) != indexMagic {
		return nil, errors.New("not an index file")
	}
	if v := binary.LittleEndian.Uint16(b[4:]); v != formatVersion {
		return nil, fmt.Errorf("format version %d", v)
	}
	if int64(binary.LittleEndian.Uint64(b[8:])) != base {
		return nil, errors.New("index of another segment")
	}
	n := int(binary.LittleEndian.Uint32(b[16:]))
	if len(b) != indexHeaderSize+n*indexEntrySize || n == 0 {
		return nil, fmt.Errorf("%d bytes for %d entries", len(b), n)
	}
	if binary.LittleEndian.Uint32(b[20:]) != crc(b[indexHeaderSize:]) {
		return nil, errors.New("checksum mismatch")
	}
	index := make([]indexEntry, n)
	for i := range index {
		p := b[indexHeaderSize+i*indexEntrySize:]
		e := indexEntry{rel: binary.LittleEndian.Uint32(p), off: binary.LittleEndian.Uint32(p[4:]), maxTime: int64(binary.LittleEndian.Uint64(p[8:]))}
		switch {
		case i == 0 && (e.rel != 0 || e.off != segmentHeaderSize):
			return nil, errors.New("first entry is not the segment's first record")
		case i > 0 && (e.rel <= index[i-1].rel || e.off <= index[i-1].off || e.maxTime < index[i-1].maxTime):
			return nil, fmt.Errorf("entry %d out of order", i)
		case int64(e.off) >= size:
			return nil, fmt.Errorf("entry %d points past the end of the segment", i)
		}
		index[i] = e
	}
	return index, nil
}

// readFile reads a whole small file through fsys.
func readFile(fsys FS, path string) ([]byte, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil && !(errors.Is(err, io.EOF) && size == 0) {
		return nil, err
	}
	return b, nil
}

// scanner reads the records of one segment file in order, from a given
// offset up to a limit, through a buffer it refills with ReadAt.
type scanner struct {
	f     File
	limit int64  // read no further than this offset
	off   int64  // file offset of buf[0]
	buf   []byte // buf[pos:] is unread
	pos   int
}

const scanChunk = 1 << 20

func newScanner(f File, from, limit int64, buf []byte) *scanner {
	return &scanner{f: f, limit: limit, off: from, buf: buf[:0]}
}

// rewind makes the record at off, just returned by next, the next again.
func (s *scanner) rewind(off int64) { s.pos = int(off - s.off) }

// at is the file offset of the next record.
func (s *scanner) at() int64 { return s.off + int64(s.pos) }

// fill makes n unread bytes available, or returns io.ErrUnexpectedEOF
// when the limit comes first.
func (s *scanner) fill(n int) error {
	if len(s.buf)-s.pos >= n {
		return nil
	}
	if s.at()+int64(n) > s.limit {
		return io.ErrUnexpectedEOF
	}
	// keep the unread bytes, then read as much as fits, at least n
	s.off += int64(s.pos)
	s.buf = s.buf[:copy(s.buf, s.buf[s.pos:])]
	s.pos = 0
	want := max(n, scanChunk)
	if int64(want) > s.limit-s.off {
		want = int(s.limit - s.off)
	}
	if cap(s.buf) < want {
		nb := make([]byte, len(s.buf), want)
		copy(nb, s.buf)
		s.buf = nb
	}
	have := len(s.buf)
	m, err := s.f.ReadAt(s.buf[have:want], s.off+int64(have))
	s.buf = s.buf[:have+m]
	if len(s.buf) < n {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	return nil
}

// recordError is why next could not return a record at off.
type recordError struct {
	off  int64 // where the record starts
	end  int64 // where it ends, by its header (recBadBody)
	kind recordErrorKind
	msg  string
}

type recordErrorKind uint8

const (
	recShort     recordErrorKind = iota // the data ends inside the record
	recBadHeader                        // the header's checksum does not match
	recBadBody                          // the body's checksum does not match
	recInvalid                          // the checksum matches but the record makes no sense here
)

func (e *recordError) Error() string { return e.msg }

// next returns the next record's body (valid until the next call) and its
// offset; io.EOF exactly at the limit; a *recordError for a record that
// cannot be read; another error when reading the file failed.
func (s *scanner) next() (body []byte, off int64, err error) {
	off = s.at()
	if off == s.limit {
		return nil, off, io.EOF
	}
	if err := s.fill(recordHeaderSize); err != nil {
		return nil, off, s.fillError(err, off, "the file ends inside a record header")
	}
	h, ok := parseHeader(s.buf[s.pos:])
	if !ok {
		return nil, off, &recordError{off: off, kind: recBadHeader, msg: "record header checksum mismatch"}
	}
	if h.length > maxRecordLimit {
		return nil, off, &recordError{off: off, kind: recBadHeader, msg: fmt.Sprintf("record length %d exceeds the format's limit", h.length)}
	}
	total := recordHeaderSize + int(h.length)
	if err := s.fill(total); err != nil {
		return nil, off, s.fillError(err, off, fmt.Sprintf("the file ends inside a record of %d bytes", total))
	}
	body = s.buf[s.pos+recordHeaderSize : s.pos+total]
	if crc(body) != h.bodyCRC {
		return nil, off, &recordError{off: off, end: off + int64(total), kind: recBadBody, msg: "record checksum mismatch"}
	}
	s.pos += total
	return body, off, nil
}

func (s *scanner) fillError(err error, off int64, msg string) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return &recordError{off: off, kind: recShort, msg: msg}
	}
	return fmt.Errorf("journal: reading at offset %d: %w", off, err)
}

// allZero reports whether the bytes of f from off to end are all zero, as
// a file extended but never written (a power loss) leaves them.
func allZero(f File, off, end int64) (bool, error) {
	buf := make([]byte, 64<<10)
	for off < end {
		n := int(min(int64(len(buf)), end-off))
		m, err := f.ReadAt(buf[:n], off)
		for _, c := range buf[:m] {
			if c != 0 {
				return false, nil
			}
		}
		if m < n {
			if err == nil || errors.Is(err, io.EOF) {
				return true, nil
			}
			return false, err
		}
		off += int64(m)
	}
	return true, nil
}
