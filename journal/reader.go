package journal

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"
)

// Reader reads a journal's batches in sequence order from a starting
// sequence, through the segment files, while the journal goes on
// appending: replay beyond the ring, and a live tail's catch-up. It sees
// what [Journal.Latest] covers. A Reader is for one goroutine at a time.
type Reader struct {
	j    *Journal
	next int64 // the next sequence wanted

	f      File // the segment being read, or nil
	path   string
	base   int64
	sealed bool
	sc     *scanner
	buf    []byte
	dec    batchDecoder
	batch  Batch
	closed bool
}

// NewReader returns a reader whose first batch holds sequence from. It
// returns [ErrEvicted] for a sequence below [Journal.Oldest], and
// [ErrSequence] for one past [Journal.Next].
func (j *Journal) NewReader(from int64) (*Reader, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil, ErrClosed
	}
	if from < j.oldest.Load() {
		return nil, fmt.Errorf("%w: %d is below the oldest sequence kept, %d", ErrEvicted, from, j.oldest.Load())
	}
	if from > j.next {
		return nil, fmt.Errorf("%w: %d is past the next sequence, %d", ErrSequence, from, j.next)
	}
	return &Reader{j: j, next: from}, nil
}

// Next returns the next batch. The first one may begin before the
// reader's starting sequence (a batch is read whole): skip the events
// below it. The batch and its slices are valid until the next call.
//
// At the end of what the journal holds, Next returns io.EOF; call it
// again after [Journal.WaitFor] to follow the journal. It returns
// [ErrEvicted] when retention or a purge dropped the next sequence,
// a [*CorruptError] for a damaged record, or [ErrClosed].
func (r *Reader) Next() (*Batch, error) {
	if r.closed {
		return nil, ErrClosed
	}
	for {
		latest := r.j.latest.Load()
		if r.next > latest {
			if r.j.isClosed() {
				return nil, ErrClosed
			}
			return nil, io.EOF
		}
		if oldest := r.j.oldest.Load(); r.next < oldest {
			r.drop()
			return nil, fmt.Errorf("%w: %d is below the oldest sequence kept, %d", ErrEvicted, r.next, oldest)
		}
		if r.sc == nil {
			if err := r.open(); err != nil {
				return nil, err
			}
			continue
		}
		body, off, err := r.sc.next()
		if errors.Is(err, io.EOF) {
			if r.sealed {
				r.drop() // go on with the next segment
				continue
			}
			before := r.sc.limit
			if err := r.refresh(); err != nil {
				return nil, err
			}
			if r.sc != nil && r.sc.limit == before && !r.sealed {
				return nil, io.EOF
			}
			continue
		}
		if err != nil {
			var re *recordError
			if errors.As(err, &re) {
				return nil, &CorruptError{File: r.path, Offset: off, Reason: re.msg}
			}
			return nil, err
		}
		if err := r.dec.decode(body, &r.batch); err != nil {
			return nil, &CorruptError{File: r.path, Offset: off, Reason: "record does not decode: " + err.Error()}
		}
		if r.batch.First > latest { // written, not yet durable (SyncAlways)
			r.sc.rewind(off)
			return nil, io.EOF
		}
		if r.batch.Last() < r.next {
			continue
		}
		if r.batch.First > r.next {
			return nil, &CorruptError{File: r.path, Offset: off, Reason: fmt.Sprintf("record starts at sequence %d, want %d", r.batch.First, r.next)}
		}
		r.next = r.batch.Last() + 1
		return &r.batch, nil
	}
}

// Close releases the reader's file.
func (r *Reader) Close() error {
	r.closed = true
	return r.drop()
}

func (r *Reader) drop() error {
	var err error
	if r.f != nil {
		err = r.f.Close()
	}
	if r.sc != nil {
		r.buf = r.sc.buf
	}
	r.f, r.sc = nil, nil
	return err
}

// open opens the segment holding r.next at the index entry before it.
func (r *Reader) open() error {
	j := r.j
	j.mu.Lock()
	i := j.segmentOf(r.next)
	if i < 0 {
		j.mu.Unlock()
		return fmt.Errorf("%w: %d is below the oldest sequence kept, %d", ErrEvicted, r.next, j.oldest.Load())
	}
	s := j.segs[i]
	path, base, size, index := s.path, s.base, s.size, s.index
	sealed := i < len(j.segs)-1
	j.mu.Unlock()

	if index == nil {
		if b, err := readFile(j.fs, indexPathOf(path, base)); err == nil {
			if index, err = decodeIndex(b, base, size); err == nil {
				j.mu.Lock()
				if k := j.segmentOf(r.next); k >= 0 && j.segs[k].base == base && j.segs[k].index == nil && k < len(j.segs)-1 {
					j.segs[k].index = index
				}
				j.mu.Unlock()
			}
		}
		// without an index the segment is read from its start
	}
	f, err := j.fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: %d is below the oldest sequence kept, %d", ErrEvicted, r.next, j.oldest.Load())
		}
		return fmt.Errorf("journal: opening %s: %w", path, err)
	}
	r.f, r.path, r.base, r.sealed = f, path, base, sealed
	r.sc = newScanner(f, seekIndex(index, base, r.next), size, r.buf)
	return nil
}

// refresh takes the current size of the segment being read, which was
// active when it was opened.
func (r *Reader) refresh() error {
	j := r.j
	j.mu.Lock()
	defer j.mu.Unlock()
	i := j.segmentOf(r.base)
	if i < 0 || j.segs[i].base != r.base {
		return r.drop() // gone: the next call reports the eviction
	}
	r.sc.limit = j.segs[i].size
	r.sealed = i < len(j.segs)-1
	return nil
}

// segmentOf returns the index in j.segs of the segment that holds seq (or
// would: the last one for seq past the end), or -1 below the first.
func (j *Journal) segmentOf(seq int64) int {
	lo, hi := 0, len(j.segs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if j.segs[m].base <= seq {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo - 1
}

func (j *Journal) isClosed() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.closed
}

// SequenceAt returns a sequence from which a reader sees every batch
// written at t or later: the start of the indexed record before the first
// one whose time (or an earlier record's) reaches t. Batches before it are
// all older than t. It is where recovery starts reading to rebuild an
// idempotency window. It returns Latest()+1 when no batch is that recent.
func (j *Journal) SequenceAt(t time.Time) int64 {
	ts := t.UnixNano()
	j.mu.Lock()
	i := 0
	for i < len(j.segs) && j.segs[i].maxTime < ts {
		i++
	}
	if i == len(j.segs) {
		j.mu.Unlock()
		return j.latest.Load() + 1
	}
	s := j.segs[i]
	path, base, size, index := s.path, s.base, s.size, s.index
	oldest := j.oldest.Load()
	j.mu.Unlock()
	if index == nil {
		if b, err := readFile(j.fs, indexPathOf(path, base)); err == nil {
			index, _ = decodeIndex(b, base, size)
		}
	}
	return max(seekTimeSeq(index, base, ts), oldest)
}
