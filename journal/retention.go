package journal

import (
	"errors"
	"fmt"
	"io/fs"
)

// Retain applies the retention bounds now: it drops the oldest segments
// that [Options.Retention] lets go and moves Oldest past them. The journal
// also does this in the background every [Options.RetentionCheck] and
// whenever it seals a segment.
func (j *Journal) Retain() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return ErrClosed
	}
	return j.retainLocked(j.now().UnixNano())
}

// retainLocked drops what retention lets go, as of now (Unix ns).
func (j *Journal) retainLocked(now int64) error {
	r := j.opts.Retention
	if r == (Retention{}) || len(j.segs) == 0 {
		return nil
	}
	latest := j.next - 1
	total := j.bytes
	drop := 0
	for ; drop < len(j.segs)-1; drop++ { // never the active segment: below
		s := j.segs[drop]
		expired := r.MaxAge > 0 && s.maxTime < now-int64(r.MaxAge)
		tooBig := r.MaxBytes > 0 && total-s.size >= r.MaxBytes
		tooMany := r.MaxEvents > 0 && latest-j.segs[drop+1].base+1 >= r.MaxEvents
		if !expired && !tooBig && !tooMany {
			break
		}
		total -= s.size
	}
	// An idle active segment whose every batch has expired goes too, once
	// nothing older is left: the stream is then empty at j.next.
	a := j.segs[len(j.segs)-1]
	all := drop == len(j.segs)-1 && r.MaxAge > 0 && a.last >= a.base && a.maxTime < now-int64(r.MaxAge)
	if drop > 0 {
		// sealed segments first: the files left are the record of the start
		if err := j.dropSegments(drop); err != nil {
			return err
		}
	}
	if all {
		// the start must be recorded before the last file goes, or a crash
		// would take the numbering back
		if err := writeManifest(j.fs, j.dir, j.next); err != nil {
			return fmt.Errorf("%w: writing the manifest of %s: %w", ErrUnavailable, j.name, err)
		}
		if err := j.seal(); err != nil {
			return err
		}
		return j.dropSegments(1)
	}
	return nil
}

// dropSegments removes the n oldest segments, oldest first, so that a
// crash half way leaves a stream without a gap.
func (j *Journal) dropSegments(n int) error {
	var err error
	dropped := 0
	for _, s := range j.segs[:n] {
		if rerr := j.fs.Remove(s.path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = fmt.Errorf("journal: removing %s: %w", s.path, rerr)
			break
		}
		if rerr := j.fs.Remove(s.indexPath()); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			j.log.Warn("journal: removing an index", "stream", j.name, "file", s.indexPath(), "err", rerr)
		}
		j.bytes -= s.size
		dropped++
	}
	j.segs = append([]*segment(nil), j.segs[dropped:]...)
	if len(j.segs) > 0 {
		j.start = max(j.start, j.segs[0].base)
	} else {
		j.start = max(j.start, j.next)
	}
	j.oldest.Store(min(j.start, j.next))
	return err
}

// Purge drops every event below seq: whole segments are deleted, and the
// events below seq in the segment that holds it are hidden (Oldest
// becomes seq). A seq past [Journal.Next] drops everything and makes the
// next batch start at seq.
//
// The segments entirely below seq (but the last) go first: they free
// room on a full disk, and the files left say where the stream starts.
// Then the new start is recorded durably in the manifest, and only then,
// when everything goes, the last segment, so that a crash never takes the
// numbering back. A crash half way leaves the purge partly done, never a
// hole.
func (j *Journal) Purge(seq int64) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.writable(); err != nil {
		return err
	}
	if seq < 0 {
		return fmt.Errorf("journal: purge below negative sequence %d", seq)
	}
	if seq <= j.start {
		return nil
	}
	n := 0
	for n < len(j.segs)-1 && j.segs[n].last < seq {
		n++
	}
	if err := j.dropSegments(n); err != nil {
		return err
	}
	if err := writeManifest(j.fs, j.dir, seq); err != nil {
		return fmt.Errorf("%w: writing the manifest of %s: %w", ErrUnavailable, j.name, err)
	}
	j.start = seq
	if seq >= j.next && len(j.segs) > 0 {
		if err := j.syncLocked(j.written); err != nil {
			return err
		}
		if err := j.seal(); err != nil {
			return err
		}
		if err := j.dropSegments(len(j.segs)); err != nil {
			return err
		}
	}
	if seq > j.next {
		j.next, j.written, j.synced = seq, seq-1, seq-1
		j.publish(seq - 1)
	}
	j.oldest.Store(min(j.start, j.next))
	return nil
}
