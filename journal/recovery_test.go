package journal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// written fills a stream with batches across several segments, closes it,
// and returns what was written.
func written(t *testing.T, e *env, o Options, n int) []Batch {
	t.Helper()
	j := e.create("s", 0, o)
	var want []Batch
	seq := int64(0)
	for i := range n {
		b := makeBatch(seq, 1+i%5)
		if err := j.Append(b); err != nil {
			t.Fatal(err)
		}
		want = append(want, b)
		seq += int64(len(b.Events))
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	return want
}

func segmentFiles(t *testing.T, e *env) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(e.path, "streams", "s", "*"+segmentExt))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	return files
}

// recordOffsets returns the offset of every record of a segment file.
func recordOffsets(t *testing.T, path string) []int64 {
	t.Helper()
	f, err := OSFS().OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	size, _ := f.Size()
	sc := newScanner(f, segmentHeaderSize, size, nil)
	var offs []int64
	for {
		_, off, err := sc.next()
		if err != nil {
			return offs
		}
		offs = append(offs, off)
	}
}

func openErr(e *env, o Options) (*Journal, error) { return e.dir.Open("s", o) }

func TestRecoverTruncatedLastRecord(t *testing.T) {
	e := newEnv(t)
	o := smallOptions()
	want := written(t, e, o, 80)
	e.reopen()
	files := segmentFiles(t, e)
	last := files[len(files)-1]
	offs := recordOffsets(t, last)
	cut := offs[len(offs)-1] + 7 // inside the last record
	if err := os.Truncate(last, cut); err != nil {
		t.Fatal(err)
	}
	j := e.open("s", o)
	lost := want[len(want)-1]
	if j.Next() != lost.First {
		t.Fatalf("Next = %d, want %d (the torn batch is gone, the others kept)", j.Next(), lost.First)
	}
	rec := j.Recovery()
	if len(rec.Truncated) != 1 || rec.Truncated[0].File != last || rec.Truncated[0].Offset != offs[len(offs)-1] || rec.Truncated[0].Bytes != 7 {
		t.Fatalf("Recovery.Truncated = %+v, want %s at %d, 7 bytes", rec.Truncated, last, offs[len(offs)-1])
	}
	logged := e.log.String()
	if !strings.Contains(logged, "torn tail") || !strings.Contains(logged, last) || !strings.Contains(logged, fmt.Sprint("offset=", offs[len(offs)-1])) {
		t.Fatalf("the log does not report the torn tail with file and offset:\n%s", logged)
	}
	if d := diffBatches(want[:len(want)-1], readAll(t, j, 0)); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
	// the numbering continues where the whole records end
	if err := j.Append(lost); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	j = e.open("s", o)
	if d := diffBatches(want, readAll(t, j, 0)); d != "" {
		t.Fatalf("after the append and a reopen (-want +got):\n%s", d)
	}
	if len(j.Recovery().Truncated) != 0 {
		t.Fatalf("a clean reopen cut %+v", j.Recovery().Truncated)
	}
}

func TestRecoverPowerLossTails(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, path string, offs []int64)
		keep   int // records of the last segment kept
	}{
		{"zeros after the last record", func(t *testing.T, path string, _ []int64) {
			appendBytes(t, path, make([]byte, 4096))
		}, 0},
		{"half a header", func(t *testing.T, path string, _ []int64) {
			appendBytes(t, path, []byte{9, 0, 0, 0, 1})
		}, 0},
		{"last record's body damaged", func(t *testing.T, path string, offs []int64) {
			flipByte(t, path, offs[len(offs)-1]+recordHeaderSize+3)
		}, -1},
		{"last record zeroed", func(t *testing.T, path string, offs []int64) {
			fi, _ := os.Stat(path)
			zero(t, path, offs[len(offs)-1], fi.Size())
		}, -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			o := smallOptions()
			want := written(t, e, o, 50)
			e.reopen()
			files := segmentFiles(t, e)
			last := files[len(files)-1]
			c.damage(t, last, recordOffsets(t, last))
			j := e.open("s", o)
			if c.keep < 0 {
				want = want[:len(want)+c.keep]
			}
			if d := diffBatches(want, readAll(t, j, 0)); d != "" {
				t.Fatalf("(-want +got):\n%s", d)
			}
			if rec := j.Recovery(); len(rec.Truncated) != 1 || rec.Truncated[0].File != last {
				t.Fatalf("Recovery.Truncated = %+v, want one cut in %s", rec.Truncated, last)
			}
		})
	}
}

func TestRecoverFlippedByteMidSegment(t *testing.T) {
	t.Run("active segment", func(t *testing.T) {
		e := newEnv(t)
		o := smallOptions()
		want := written(t, e, o, 50)
		e.reopen()
		files := segmentFiles(t, e)
		last := files[len(files)-1]
		offs := recordOffsets(t, last)
		if len(offs) < 3 {
			t.Fatalf("the active segment has %d records; the test needs 3", len(offs))
		}
		flipByte(t, last, offs[1]+recordHeaderSize+5)
		_, err := openErr(e, o)
		var ce *CorruptError
		if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) || ce.File != last || ce.Offset != offs[1] {
			t.Fatalf("Open = %v, want a CorruptError for %s at offset %d", err, last, offs[1])
		}
		if !strings.Contains(err.Error(), last) || !strings.Contains(err.Error(), fmt.Sprint(offs[1])) {
			t.Fatalf("the error does not name the file and offset: %v", err)
		}
		// nothing was cut: the operator can still copy the files away
		if fi, _ := os.Stat(last); fi.Size() <= offs[len(offs)-1] {
			t.Fatalf("a refused open changed %s", last)
		}
		// the way out: Repair cuts the stream at the corruption
		o.Repair = true
		j := e.open("s", o)
		rec := j.Recovery()
		if rec.Repaired == nil || rec.Repaired.Offset != offs[1] {
			t.Fatalf("Recovery.Repaired = %+v", rec.Repaired)
		}
		got := readAll(t, j, 0)
		if d := diffBatches(want[:len(got)], got); d != "" {
			t.Fatalf("kept batches differ (-want +got):\n%s", d)
		}
		if j.Next() != got[len(got)-1].Last()+1 || len(got) >= len(want) {
			t.Fatalf("Next %d after %d of %d batches", j.Next(), len(got), len(want))
		}
		if !strings.Contains(e.log.String(), "repaired") {
			t.Fatalf("the repair is not logged:\n%s", e.log.String())
		}
	})
	t.Run("sealed segment", func(t *testing.T) {
		e := newEnv(t)
		o := smallOptions()
		want := written(t, e, o, 50)
		e.reopen()
		files := segmentFiles(t, e)
		first := files[0]
		offs := recordOffsets(t, first)
		flipByte(t, first, offs[1]+recordHeaderSize+5)

		// without Verify, Open trusts the index and a read finds the damage
		j := e.open("s", o)
		r, err := j.NewReader(0)
		if err != nil {
			t.Fatal(err)
		}
		var ce *CorruptError
		for err == nil {
			_, err = r.Next()
		}
		r.Close()
		if !errors.As(err, &ce) || ce.File != first || ce.Offset != offs[1] {
			t.Fatalf("reading = %v, want a CorruptError for %s at %d", err, first, offs[1])
		}
		// reads past it still work
		if d := diffBatches(want[len(want)-3:], readAll(t, j, want[len(want)-3].First)); d != "" {
			t.Fatalf("(-want +got):\n%s", d)
		}
		e.reopen()

		o.Verify = true
		if _, err := openErr(e, o); !errors.As(err, &ce) || ce.File != first || ce.Offset != offs[1] {
			t.Fatalf("Open with Verify = %v, want a CorruptError for %s at %d", err, first, offs[1])
		}
		o.Repair = true
		j = e.open("s", o)
		rec := j.Recovery()
		if len(rec.Dropped) != len(files)-1 {
			t.Fatalf("repair dropped %v, want the %d segments after the damaged one", rec.Dropped, len(files)-1)
		}
		if got := readAll(t, j, 0); len(got) != 1 || j.Next() != want[1].First {
			t.Fatalf("after repair: %d batches, Next %d; want 1 and %d", len(got), j.Next(), want[1].First)
		}
		if err := j.Append(want[1]); err != nil {
			t.Fatalf("append after repair: %v", err)
		}
	})
}

func TestRecoverMissingIndex(t *testing.T) {
	for _, damage := range []string{"removed", "garbage", "stale"} {
		t.Run(damage, func(t *testing.T) {
			e := newEnv(t)
			o := smallOptions()
			want := written(t, e, o, 60)
			e.reopen()
			idx, _ := filepath.Glob(filepath.Join(e.path, "streams", "s", "*"+indexExt))
			if len(idx) < 3 {
				t.Fatalf("%d index files", len(idx))
			}
			target := idx[1]
			switch damage {
			case "removed":
				os.Remove(target)
			case "garbage":
				os.WriteFile(target, []byte("not an index"), 0o644)
			case "stale": // a well-formed index of the segment before it
				b, _ := os.ReadFile(idx[0])
				base, _ := parseSegmentName(strings.TrimSuffix(filepath.Base(target), indexExt) + segmentExt)
				entries, _ := decodeIndex(b, 0, 1<<30)
				for i := range entries {
					entries[i].off += 3
				}
				entries[0].off = segmentHeaderSize
				os.WriteFile(target, encodeIndex(base, entries), 0o644)
			}
			j := e.open("s", o)
			if damage != "stale" && !slices.Contains(j.Recovery().RebuiltIndexes, target) {
				t.Fatalf("RebuiltIndexes = %v, want %s", j.Recovery().RebuiltIndexes, target)
			}
			for _, w := range want[10:] {
				got := readAll(t, j, w.First)
				if got[0].First != w.First {
					t.Fatalf("reader at %d starts at %d", w.First, got[0].First)
				}
			}
			if d := diffBatches(want, readAll(t, j, 0)); d != "" {
				t.Fatalf("(-want +got):\n%s", d)
			}
			if _, err := os.Stat(target); err != nil {
				t.Fatalf("index not rewritten: %v", err)
			}
		})
	}
}

func TestRecoverZeroLengthSegment(t *testing.T) {
	t.Run("last, created just before a crash", func(t *testing.T) {
		e := newEnv(t)
		o := smallOptions()
		want := written(t, e, o, 40)
		e.reopen()
		next := want[len(want)-1].Last() + 1
		empty := filepath.Join(e.path, "streams", "s", segmentName(next))
		if err := os.WriteFile(empty, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		j := e.open("s", o)
		if !slices.Contains(j.Recovery().Removed, empty) {
			t.Fatalf("Recovery.Removed = %v, want %s", j.Recovery().Removed, empty)
		}
		if j.Next() != next {
			t.Fatalf("Next = %d, want %d", j.Next(), next)
		}
		if err := j.Append(makeBatch(next, 2)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("header only", func(t *testing.T) {
		e := newEnv(t)
		o := smallOptions()
		want := written(t, e, o, 40)
		e.reopen()
		next := want[len(want)-1].Last() + 1
		path := filepath.Join(e.path, "streams", "s", segmentName(next))
		if err := os.WriteFile(path, appendSegmentHeader(nil, next), 0o644); err != nil {
			t.Fatal(err)
		}
		j := e.open("s", o)
		if j.Next() != next {
			t.Fatalf("Next = %d, want %d", j.Next(), next)
		}
		if err := j.Append(makeBatch(next, 2)); err != nil {
			t.Fatal(err)
		}
		e.reopen()
		j = e.open("s", o)
		if j.Next() != next+2 {
			t.Fatalf("Next = %d, want %d", j.Next(), next+2)
		}
	})
	t.Run("in the middle", func(t *testing.T) {
		e := newEnv(t)
		o := smallOptions()
		written(t, e, o, 40)
		e.reopen()
		files := segmentFiles(t, e)
		base, _ := parseSegmentName(filepath.Base(files[1]))
		empty := filepath.Join(e.path, "streams", "s", segmentName(base+1))
		if err := os.WriteFile(empty, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := openErr(e, o)
		var ce *CorruptError
		if !errors.As(err, &ce) || (ce.File != empty && ce.File != files[2]) {
			t.Fatalf("Open = %v, want a CorruptError about the gap at %s", err, empty)
		}
	})
}

func TestDiskFull(t *testing.T) {
	for _, where := range []string{"within a segment", "starting a segment"} {
		t.Run(where, func(t *testing.T) {
			e := newEnv(t)
			o := smallOptions()
			o.Sync = SyncAlways
			j := e.create("s", 0, o)
			var want []Batch
			seq := int64(0)
			for range 30 {
				b := makeBatch(seq, 2)
				if err := j.Append(b); err != nil {
					t.Fatal(err)
				}
				want = append(want, b)
				seq += 2
			}
			if where == "starting a segment" {
				for activeSize(j) < o.SegmentBytes { // the next append must start a segment
					b := makeBatch(seq, 2)
					if err := j.Append(b); err != nil {
						t.Fatal(err)
					}
					want = append(want, b)
					seq += 2
				}
				e.fs.setLimit(10) // not even a segment header fits
			} else {
				e.fs.setLimit(100) // part of the next record fits
			}
			segsBefore, bytesBefore := j.Segments(), j.Bytes()
			big := makeBatch(seq, 3)
			err := j.Append(big)
			if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrSyncFailed) {
				t.Fatalf("Append on a full disk = %v, want ErrUnavailable", err)
			}
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("the error does not carry ENOSPC (the server answers 507 for it): %v", err)
			}
			if j.Next() != seq || j.Latest() != seq-1 || j.Bytes() != bytesBefore {
				t.Fatalf("a refused append moved the journal: Next %d Latest %d bytes %d (was %d)", j.Next(), j.Latest(), j.Bytes(), bytesBefore)
			}
			files := segmentFiles(t, e)
			if j.Segments() != segsBefore || len(files) != segsBefore {
				t.Fatalf("%d segments (%d files) after a refused append, was %d", j.Segments(), len(files), segsBefore)
			}
			fi, _ := os.Stat(files[len(files)-1])
			if where == "within a segment" && fi.Size() != j.segs[len(j.segs)-1].size {
				t.Fatalf("half a record left in the file: size %d, want %d", fi.Size(), j.segs[len(j.segs)-1].size)
			}
			// space comes back: the same append goes through, without a hole
			e.fs.setLimit(1 << 30)
			if err := j.Append(big); err != nil {
				t.Fatal(err)
			}
			want = append(want, big)
			if d := diffBatches(want, readAll(t, j, 0)); d != "" {
				t.Fatalf("(-want +got):\n%s", d)
			}
			e.reopen()
			j = e.open("s", o)
			if d := diffBatches(want, readAll(t, j, 0)); d != "" {
				t.Fatalf("after reopen (-want +got):\n%s", d)
			}
			if rec := j.Recovery(); len(rec.Truncated) != 0 {
				t.Fatalf("reopen had to cut %+v: the failed append left bytes behind", rec.Truncated)
			}
		})
	}
}

func TestWriteError(t *testing.T) {
	e := newEnv(t)
	o := smallOptions()
	j := e.create("s", 0, o)
	if err := j.Append(makeBatch(0, 3)); err != nil {
		t.Fatal(err)
	}
	e.fs.setFailWrites(syscall.EIO)
	if err := j.Append(makeBatch(3, 3)); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "offset") {
		t.Fatalf("Append with a failing disk = %v, want ErrUnavailable naming the offset", err)
	}
	e.fs.setFailWrites(nil)
	if err := j.Append(makeBatch(3, 3)); err != nil {
		t.Fatalf("Append after the disk recovered: %v", err)
	}
	e.reopen()
	j = e.open("s", o)
	if j.Next() != 6 || len(j.Recovery().Truncated) != 0 {
		t.Fatalf("Next %d, cut %+v", j.Next(), j.Recovery().Truncated)
	}
}

func TestSyncFailure(t *testing.T) {
	e := newEnv(t)
	o := smallOptions()
	o.Sync = SyncAlways
	j := e.create("s", 0, o)
	if err := j.Append(makeBatch(0, 3)); err != nil {
		t.Fatal(err)
	}
	e.fs.setFailSyncs(syscall.EIO)
	err := j.Append(makeBatch(3, 3))
	if !errors.Is(err, ErrSyncFailed) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Append with a failing fsync = %v, want ErrSyncFailed", err)
	}
	if j.Latest() != 2 {
		t.Fatalf("Latest = %d after a failed fsync, want 2: the batch is not acknowledged", j.Latest())
	}
	e.fs.setFailSyncs(nil)
	err = j.Append(makeBatch(6, 1))
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrSyncFailed) {
		t.Fatalf("Append after a failed fsync = %v, want ErrUnavailable (nothing written)", err)
	}
	if !strings.Contains(err.Error(), "reopen") {
		t.Fatalf("the error does not say how to go on: %v", err)
	}
	j.Close()
	j = e.open("s", o)
	// the batch of unknown outcome reached the file before the fsync failed
	if j.Next() != 6 {
		t.Fatalf("after reopen Next = %d, want 6", j.Next())
	}
	if err := j.Append(makeBatch(6, 1)); err != nil {
		t.Fatal(err)
	}
}

func TestPowerLossKeepsSynced(t *testing.T) {
	for _, mode := range []SyncMode{SyncAlways, SyncInterval, SyncNever} {
		t.Run(mode.String(), func(t *testing.T) {
			e := newEnv(t)
			o := smallOptions()
			o.Sync = mode
			o.SyncInterval = 1 << 62 // no background fsync: what survives is decided by the mode alone
			j := e.create("s", 0, o)
			var want []Batch
			for seq := int64(0); seq < 400; seq += 4 {
				b := makeBatch(seq, 4)
				if err := j.Append(b); err != nil {
					t.Fatal(err)
				}
				want = append(want, b)
			}
			j.abandon()
			if err := e.fs.crash(nil); err != nil {
				t.Fatal(err)
			}
			e.reopen()
			j = e.open("s", o)
			got := readAll(t, j, j.Oldest())
			if d := diffBatches(want[:len(got)], got); d != "" {
				t.Fatalf("not a prefix of what was written (-want +got):\n%s", d)
			}
			switch mode {
			case SyncAlways:
				if len(got) != len(want) {
					t.Fatalf("%d of %d acknowledged batches survived a power loss", len(got), len(want))
				}
			default: // sealed segments were synced; the active one's tail is lost
				if len(got) == len(want) || len(got) == 0 {
					t.Fatalf("%d of %d batches survived: want the sealed segments and not the unsynced tail", len(got), len(want))
				}
			}
		})
	}
}

func activeSize(j *Journal) int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.segs[len(j.segs)-1].size
}

func appendBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := []byte{0}
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x20
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func zero(t *testing.T, path string, from, to int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(make([]byte, to-from), from); err != nil {
		t.Fatal(err)
	}
}
