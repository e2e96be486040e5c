package journal

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// openJournal opens the stream in dir and recovers it:
//
//  1. Files a crash left behind are removed: temporary files, a last
//     segment without a whole header (created just before the crash), and
//     segments entirely below the manifest's start (an interrupted purge).
//  2. Each sealed segment is checked against its index: header, index
//     checksum, and the records from the last index entry to the end of
//     the file (so its last sequence and newest time are known). A missing
//     or invalid index is rebuilt by reading the whole segment. With
//     Options.Verify every record of every segment is checked.
//  3. The last segment is read whole. A torn tail (the file ends inside a
//     record, or the rest is zeros, or its very last record fails its
//     checksum) is cut off and reported; anything else that fails is
//     corruption.
//  4. Segments must follow one another without a gap.
//
// Corruption stops the open with a *CorruptError naming the file and
// offset, unless Options.Repair, which cuts the stream there.
func openJournal(d *Dir, name, dir string, meta []byte, opts Options) (*Journal, error) {
	j := &Journal{
		name:   name,
		dir:    dir,
		fs:     d.fs,
		opts:   opts,
		log:    d.log,
		now:    d.now,
		owner:  d,
		onSync: d.onSync,
		meta:   meta,
		kick:   make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
	j.cond.L = &j.mu
	m, err := readManifest(j.fs, dir)
	if err != nil {
		return nil, err
	}
	j.start = m.Start
	segs, err := j.listSegments()
	if err != nil {
		return nil, err
	}
	if segs, err = j.recoverSegments(segs); err != nil {
		return nil, err
	}
	j.segs = segs
	j.next = j.start
	if n := len(segs); n > 0 {
		j.next = segs[n-1].last + 1
		j.start = max(j.start, segs[0].base)
		path := segs[n-1].path
		if j.active, err = j.fs.OpenFile(path, os.O_RDWR, 0); err != nil {
			return nil, fmt.Errorf("journal: opening %s: %w", path, err)
		}
		// What a killed process wrote may still be only in the page cache:
		// make it durable before calling it synced.
		if err := j.active.Sync(); err != nil {
			_ = j.active.Close()
			return nil, fmt.Errorf("journal: fsync of %s: %w", path, err)
		}
	}
	if err := j.fs.SyncDir(dir); err != nil {
		if j.active != nil {
			_ = j.active.Close()
		}
		return nil, fmt.Errorf("journal: fsync of %s: %w", dir, err)
	}
	j.start = min(j.start, j.next)
	for _, s := range segs {
		j.bytes += s.size
	}
	j.written, j.synced = j.next-1, j.next-1
	j.latest.Store(j.next - 1)
	j.oldest.Store(j.start)
	if opts.Retention != (Retention{}) {
		j.mu.Lock()
		j.retainLocked(j.now().UnixNano())
		j.mu.Unlock()
	}
	if opts.Sync == SyncInterval || opts.Retention != (Retention{}) {
		j.wg.Add(1)
		go j.flusher()
	}
	return j, nil
}

// listSegments returns the stream's segments by base, removing temporary
// files, segments entirely below the start, and trailing segments too
// short to hold a header.
func (j *Journal) listSegments() ([]*segment, error) {
	entries, err := j.fs.ReadDir(j.dir)
	if err != nil {
		return nil, fmt.Errorf("journal: listing %s: %w", j.dir, err)
	}
	var segs []*segment
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(j.dir, name)
		switch base, ok := parseSegmentName(name); {
		case ok && !e.IsDir():
			segs = append(segs, &segment{base: base, last: base - 1, path: path})
		case strings.HasSuffix(name, tmpSuffix):
			j.remove(path, "a temporary file left by a crash")
		}
	}
	slices.SortFunc(segs, func(a, b *segment) int { return int(min(max(a.base-b.base, -1), 1)) })
	drop := 0
	for drop+1 < len(segs) && segs[drop+1].base <= j.start {
		j.removeSegment(segs[drop], "entirely below the stream's start (an interrupted purge)")
		drop++
	}
	segs = segs[drop:]
	for len(segs) > 0 {
		s := segs[len(segs)-1]
		size, err := fileSize(j.fs, s.path)
		if err != nil {
			return nil, err
		}
		if size >= segmentHeaderSize {
			break
		}
		j.removeSegment(s, fmt.Sprintf("a last segment of %d bytes, created just before a crash", size))
		segs = segs[:len(segs)-1]
	}
	return segs, nil
}

func fileSize(fsys FS, path string) (int64, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return 0, fmt.Errorf("journal: opening %s: %w", path, err)
	}
	defer f.Close()
	return f.Size()
}

// recoverSegments loads every segment, applying Options.Repair to
// corruption, and returns the segments kept.
func (j *Journal) recoverSegments(segs []*segment) ([]*segment, error) {
	for i := 0; i < len(segs); i++ {
		s := segs[i]
		tail := i == len(segs)-1
		err := j.loadSegment(s, tail)
		if err == nil && i > 0 && s.base != segs[i-1].last+1 {
			err = &CorruptError{File: s.path, Offset: 0, Reason: fmt.Sprintf(
				"the segment starts at sequence %d but the one before it ends at %d: sequences are missing", s.base, segs[i-1].last)}
		}
		var ce *CorruptError
		if !errors.As(err, &ce) || !j.opts.Repair {
			if err != nil {
				return nil, err
			}
			continue
		}
		// Repair: cut the stream at the corruption.
		j.recovery.Repaired = ce
		for _, later := range segs[i+1:] {
			j.removeSegment(later, "after a corruption, by repair")
			j.recovery.Dropped = append(j.recovery.Dropped, later.path)
		}
		segs = segs[:i+1]
		if ce.Offset <= segmentHeaderSize {
			j.removeSegment(s, "corrupt, by repair")
			j.recovery.Dropped = append(j.recovery.Dropped, s.path)
			segs = segs[:i]
		} else if err := j.cut(s, ce.Offset, "corrupt record, by repair"); err != nil {
			return nil, err
		}
		j.log.Error("journal: repaired a corrupt stream: everything from the corruption on is gone",
			"stream", j.name, "file", ce.File, "offset", ce.Offset, "reason", ce.Reason, "segments_dropped", len(j.recovery.Dropped))
		if n := len(segs); n > 0 && segs[n-1].index == nil && segs[n-1].last >= segs[n-1].base {
			// the new last segment was loaded as sealed: read it whole, as the active one
			if err := j.loadSegment(segs[n-1], true); err != nil {
				return nil, err
			}
		}
		break
	}
	// A purge interrupted after writing the manifest may leave a last
	// segment entirely below the start.
	if n := len(segs); n > 0 && segs[n-1].last < j.start {
		for _, s := range segs {
			j.removeSegment(s, "entirely below the stream's start (an interrupted purge)")
		}
		segs = nil
	}
	return segs, nil
}

// loadSegment reads s's header and records and sets its last sequence,
// size and newest time. A tail segment is read whole, its index rebuilt
// in memory, and a torn tail cut off; a sealed one is checked from its
// last index entry, or read whole when the index is missing or invalid
// (and the index file rewritten) or Options.Verify is set.
func (j *Journal) loadSegment(s *segment, tail bool) error {
	flag := os.O_RDONLY
	if tail {
		flag = os.O_RDWR
	}
	f, err := j.fs.OpenFile(s.path, flag, 0)
	if err != nil {
		return fmt.Errorf("journal: opening %s: %w", s.path, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return fmt.Errorf("journal: %s: %w", s.path, err)
	}
	hdr := make([]byte, segmentHeaderSize)
	if size < segmentHeaderSize {
		return &CorruptError{File: s.path, Offset: 0, Reason: fmt.Sprintf("a segment of %d bytes in the middle of the stream: sequences from %d are missing", size, s.base)}
	}
	if _, err := f.ReadAt(hdr, 0); err != nil {
		return fmt.Errorf("journal: reading %s: %w", s.path, err)
	}
	if err := checkSegmentHeader(hdr, s.base); err != nil {
		return &CorruptError{File: s.path, Offset: 0, Reason: "segment header: " + err.Error()}
	}

	if !tail && !j.opts.Verify {
		b, err := readFile(j.fs, s.indexPath())
		var index []indexEntry
		if err == nil {
			index, err = decodeIndex(b, s.base, size)
		}
		if err == nil {
			e := index[len(index)-1]
			st, serr := j.scan(f, s, int64(e.off), size, s.base+int64(e.rel), e.maxTime, false, false)
			if serr == nil {
				s.last, s.size, s.maxTime = st.next-1, st.end, st.maxTime
				return nil
			}
			j.log.Warn("journal: a segment does not match its index; reading it whole", "stream", j.name, "file", s.path, "err", serr)
		} else if !errors.Is(err, fs.ErrNotExist) {
			j.log.Warn("journal: invalid segment index; rebuilding it", "stream", j.name, "file", s.indexPath(), "err", err)
		}
	}

	s.index, s.lastIndexed = nil, 0
	st, err := j.scan(f, s, segmentHeaderSize, size, s.base, 0, true, j.opts.Verify)
	s.last, s.size, s.maxTime = st.next-1, st.end, st.maxTime
	if tail {
		j.activeSince = st.firstTime
	}
	var re *recordError
	if errors.As(err, &re) {
		torn := tail && re.kind != recInvalid
		switch {
		case !torn:
		case re.kind == recBadHeader:
			torn, err = allZero(f, re.off, size)
			if err != nil {
				return fmt.Errorf("journal: reading %s: %w", s.path, err)
			}
		case re.kind == recBadBody:
			torn = re.end >= size
			if !torn {
				if torn, err = allZero(f, re.end, size); err != nil {
					return fmt.Errorf("journal: reading %s: %w", s.path, err)
				}
			}
		}
		if !torn {
			return &CorruptError{File: s.path, Offset: re.off, Reason: re.msg}
		}
		if err := f.Truncate(re.off); err != nil {
			return fmt.Errorf("journal: cutting the torn tail of %s at offset %d: %w", s.path, re.off, err)
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("journal: cutting the torn tail of %s at offset %d: %w", s.path, re.off, err)
		}
		t := Truncation{File: s.path, Offset: re.off, Bytes: size - re.off, Reason: re.msg}
		j.recovery.Truncated = append(j.recovery.Truncated, t)
		j.log.Warn("journal: cut a torn tail left by a crash", "stream", j.name, "file", t.File, "offset", t.Offset, "bytes", t.Bytes, "reason", t.Reason)
		return nil
	}
	if err != nil {
		return err
	}
	if !tail {
		if werr := writeFileAtomic(j.fs, s.indexPath(), encodeIndex(s.base, s.index), false); werr != nil {
			j.log.Warn("journal: writing a rebuilt index", "stream", j.name, "file", s.indexPath(), "err", werr)
		} else {
			j.recovery.RebuiltIndexes = append(j.recovery.RebuiltIndexes, s.indexPath())
		}
		s.index = nil
	}
	return nil
}

// scanState is how far a scan got: the end of the last whole record, the
// sequence after it, and the newest batch time.
type scanState struct {
	end       int64
	next      int64
	maxTime   int64
	firstTime int64 // time of the first record scanned
}

// scan reads s's records from offset from (whose first sequence is next)
// to size. With index it rebuilds s's index; with decode it decodes every
// event, not only the checksum and the batch header.
func (j *Journal) scan(f File, s *segment, from, size, next, maxTime int64, index, decode bool) (scanState, error) {
	st := scanState{end: from, next: next, maxTime: maxTime}
	sc := newScanner(f, from, size, nil)
	var dec batchDecoder
	var b Batch
	for {
		body, off, err := sc.next()
		if errors.Is(err, io.EOF) {
			return st, nil
		}
		if err != nil {
			return st, err
		}
		info, err := peekBatch(body)
		if err == nil && decode {
			err = dec.decode(body, &b)
		}
		if err != nil {
			return st, &recordError{off: off, kind: recInvalid, msg: "record does not decode: " + err.Error()}
		}
		if info.first != st.next {
			return st, &recordError{off: off, kind: recInvalid, msg: fmt.Sprintf("record starts at sequence %d, want %d", info.first, st.next)}
		}
		if st.end == segmentHeaderSize {
			st.firstTime = info.time
		}
		st.maxTime = max(st.maxTime, info.time)
		if index {
			s.addIndex(off, info.first, st.maxTime, j.opts.IndexInterval)
		}
		st.next = info.first + info.count
		st.end = sc.at()
	}
}

// cut truncates s at off, whose records before it were scanned.
func (j *Journal) cut(s *segment, off int64, why string) error {
	f, err := j.fs.OpenFile(s.path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("journal: opening %s: %w", s.path, err)
	}
	defer f.Close()
	if err := f.Truncate(off); err != nil {
		return fmt.Errorf("journal: truncating %s at offset %d (%s): %w", s.path, off, why, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("journal: truncating %s at offset %d (%s): %w", s.path, off, why, err)
	}
	s.size = off
	return nil
}

// removeSegment removes a segment's file and its index, reporting it.
func (j *Journal) removeSegment(s *segment, why string) {
	j.remove(s.path, why)
	if err := j.fs.Remove(s.indexPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		j.log.Warn("journal: removing an index", "stream", j.name, "file", s.indexPath(), "err", err)
	}
}

func (j *Journal) remove(path, why string) {
	if err := j.fs.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		j.log.Warn("journal: removing a file", "stream", j.name, "file", path, "why", why, "err", err)
		return
	}
	j.recovery.Removed = append(j.recovery.Removed, path)
	j.log.Info("journal: removed a file", "stream", j.name, "file", path, "why", why)
}
