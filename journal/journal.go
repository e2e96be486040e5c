package journal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Journal is the durable log of one stream: its batches in segment files
// under the stream's directory. Make one with [Dir.Create] or [Dir.Open].
//
// All methods are safe for concurrent use. Appends must come in sequence
// order (each batch starting at [Journal.Next]); callers that append from
// several goroutines order them themselves, for example by calling
// [Journal.Write] under their own lock and [Journal.WaitDurable] after it,
// which lets concurrent appends share one fsync.
type Journal struct {
	name  string
	dir   string // the stream's directory
	fs    FS
	opts  Options
	log   *slog.Logger
	now   func() time.Time
	owner *Dir
	// onSync is the Dir's fsync hook (DirOptions.OnSync), or nil.
	onSync func(stream string, took time.Duration)

	// latest is Latest(): the last sequence at the durability point of the
	// sync mode; oldest is Oldest(). Written with mu held, read without.
	latest atomic.Int64
	oldest atomic.Int64

	mu   sync.Mutex
	cond sync.Cond // on mu: broadcast when a sync ends

	segs   []*segment // in sequence order; the last one is the active segment
	active File       // the last segment's file, open for writing; nil without segments
	next   int64      // the sequence the next batch must start at
	start  int64      // the oldest sequence kept (a purge may hide part of segs[0])
	bytes  int64      // bytes of all segment files

	written  int64 // the last sequence written to a file: next-1
	synced   int64 // the last sequence known to be on stable storage
	syncing  bool  // an fsync runs with mu released
	unsynced int64 // bytes written since the last fsync began
	failed   error // why writes are refused until reopen, or nil
	closed   bool

	buf          []byte        // the records being written, reused
	places       []placed      // where each record of buf goes, reused
	pendingClose []File        // sealed segments' files, closed once the running fsync ends
	notify       chan struct{} // closed when latest moves; nil when nobody waits
	activeSince  int64         // time of the active segment's first batch (Unix ns), for age rolls
	meta         []byte        // the stream's metadata, as last written
	recovery     Recovery

	stats Stats // guarded by mu

	kick chan struct{} // asks the flusher for an fsync (SyncBytes reached)
	done chan struct{} // closed by Close: the flusher stops
	wg   sync.WaitGroup
}

// placed is where Write puts one record: its offset, first sequence and
// the running maximum of batch times, for the index.
type placed struct{ off, first, maxTime int64 }

// Recovery is what [Dir.Open] found and fixed when it opened a stream.
type Recovery struct {
	// Truncated lists the torn tails cut off: a record a crash left half
	// written, or bytes of a power loss that were never written.
	Truncated []Truncation
	// RebuiltIndexes lists the index files rebuilt from their segments
	// because they were missing or invalid.
	RebuiltIndexes []string
	// Removed lists files removed: segments a crash left without a header,
	// and segments entirely below the stream's start left by an
	// interrupted purge.
	Removed []string
	// Repaired is the corruption that [Options.Repair] truncated the
	// stream at; nil when there was none.
	Repaired *CorruptError
	// Dropped lists the segments deleted by a repair because they came
	// after the corruption.
	Dropped []string
}

// Truncation is one torn tail cut off a segment.
type Truncation struct {
	File   string
	Offset int64 // where the segment now ends
	Bytes  int64 // how many bytes were cut
	Reason string
}

// Stats counts a journal's work since it was opened, for metrics and
// benchmarks: Events/Writes is how many events share a write, and
// Events/Syncs how many share an fsync.
type Stats struct {
	Writes   int64         // successful writes (calls of Write and Append)
	Batches  int64         // batches written
	Events   int64         // events written
	Bytes    int64         // bytes written, record headers included
	Syncs    int64         // fsyncs of segments, group commits and seals
	SyncTime time.Duration // time spent in those fsyncs
	Failures int64         // writes and fsyncs that failed
	Segments int           // segment files now
}

// Stats returns the journal's counters.
func (j *Journal) Stats() Stats {
	j.mu.Lock()
	defer j.mu.Unlock()
	s := j.stats
	s.Segments = len(j.segs)
	return s
}

// Name returns the stream's name.
func (j *Journal) Name() string { return j.name }

// Options returns the options the journal was opened with.
func (j *Journal) Options() Options { return j.opts }

// Latest returns the last sequence that has reached the durability point
// of the sync mode (written to the file, or with SyncAlways fsynced):
// what readers see. It is Oldest()-1 when the journal is empty.
func (j *Journal) Latest() int64 { return j.latest.Load() }

// Oldest returns the oldest sequence the journal keeps: readers may start
// there. It is Latest()+1 when the journal is empty.
func (j *Journal) Oldest() int64 { return j.oldest.Load() }

// Next returns the sequence the next appended batch must start at.
func (j *Journal) Next() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.next
}

// Bytes returns the size of the stream's segment files.
func (j *Journal) Bytes() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.bytes
}

// Segments returns the number of segment files.
func (j *Journal) Segments() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.segs)
}

// Recovery returns what opening the journal found and fixed.
func (j *Journal) Recovery() Recovery { return j.recovery }

// Append writes batches, which must follow one another from [Journal.Next]
// on, with one write, and returns once they have reached the durability
// point of the sync mode: written to the file (SyncInterval, SyncNever),
// or fsynced (SyncAlways, sharing the fsync with the appends waiting at the
// same time). Batches with Time 0 are stamped with the current time.
//
// It returns [ErrSequence], [ErrInvalidBatch] or [ErrUnavailable] with
// nothing written, [ErrSyncFailed] when the outcome is unknown, or
// [ErrClosed].
func (j *Journal) Append(batches ...Batch) error {
	last, err := j.Write(batches...)
	if err != nil {
		return err
	}
	return j.WaitDurable(last)
}

// Write is the first half of [Journal.Append]: it writes batches to the
// file and returns the last sequence written, without waiting for
// SyncAlways's fsync; [Journal.WaitDurable] waits for it. A caller that
// orders its appends under its own lock calls Write under the lock and
// WaitDurable after releasing it, so that concurrent appends share an
// fsync.
func (j *Journal) Write(batches ...Batch) (last int64, err error) {
	if len(batches) == 0 {
		return 0, fmt.Errorf("%w: no batch", ErrInvalidBatch)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.writable(); err != nil {
		return 0, err
	}
	seq := j.next
	for i := range batches {
		b := &batches[i]
		switch {
		case b.First != seq:
			return 0, fmt.Errorf("%w: batch %d starts at %d, want %d", ErrSequence, i, b.First, seq)
		case len(b.Events) == 0:
			return 0, fmt.Errorf("%w: batch %d has no events", ErrInvalidBatch, i)
		case len(b.Key) > MaxKeyBytes:
			return 0, fmt.Errorf("%w: batch %d: idempotency key of %d bytes, at most %d", ErrInvalidBatch, i, len(b.Key), MaxKeyBytes)
		case int64(len(b.Events)) > math.MaxUint32 || b.First > math.MaxInt64-int64(len(b.Events)):
			return 0, fmt.Errorf("%w: batch %d: too many events", ErrInvalidBatch, i)
		}
		if n := encodedSize(b); n > j.opts.MaxRecordBytes {
			return 0, fmt.Errorf("%w: batch %d encodes to %d bytes, more than max_record_bytes %d", ErrInvalidBatch, i, n, j.opts.MaxRecordBytes)
		}
		seq += int64(len(b.Events))
	}
	now := j.now().UnixNano()
	if err := j.maybeRoll(now); err != nil {
		return 0, err
	}
	seg := j.segs[len(j.segs)-1]

	// encode every record, and the index entries they will need
	buf := j.buf[:0]
	maxTime := seg.maxTime
	at := j.places[:0]
	for i := range batches {
		b := batches[i]
		if b.Time == 0 {
			b.Time = now
		}
		start := len(buf)
		buf = appendRecord(buf, &b)
		maxTime = max(maxTime, b.Time)
		at = append(at, placed{off: seg.size + int64(start), first: b.First, maxTime: maxTime})
	}
	j.buf, j.places = buf, at
	if seg.size+int64(len(buf)) > math.MaxUint32 {
		return 0, fmt.Errorf("%w: a write of %d bytes does not fit in one segment", ErrInvalidBatch, len(buf))
	}

	if _, err := j.active.WriteAt(buf, seg.size); err != nil {
		j.stats.Failures++
		// Nothing is acknowledged: cut whatever part of it reached the
		// file, so that the next append lands where this one would have.
		werr := fmt.Errorf("%w: writing %d bytes to %s at offset %d: %w", ErrUnavailable, len(buf), seg.path, seg.size, err)
		if terr := j.active.Truncate(seg.size); terr != nil {
			j.failed = fmt.Errorf("%s could not be cut back to offset %d after a failed write: %v", seg.path, seg.size, terr)
			j.log.Error("journal: refusing writes until reopened", "stream", j.name, "err", j.failed)
		}
		return 0, werr
	}
	for _, p := range at {
		seg.addIndex(p.off, p.first, p.maxTime, j.opts.IndexInterval)
	}
	if seg.last < seg.base {
		j.activeSince = batches[0].Time
		if j.activeSince == 0 {
			j.activeSince = now
		}
	}
	seg.size += int64(len(buf))
	seg.last = seq - 1
	seg.maxTime = maxTime
	j.bytes += int64(len(buf))
	j.stats.Writes++
	j.stats.Batches += int64(len(batches))
	j.stats.Events += seq - batches[0].First
	j.stats.Bytes += int64(len(buf))
	j.next = seq
	j.written = seq - 1
	j.unsynced += int64(len(buf))
	if cap(buf) > 16<<20 { // don't keep a huge buffer for good
		j.buf = nil
	}
	switch j.opts.Sync {
	case SyncInterval:
		if j.unsynced >= j.opts.SyncBytes {
			select {
			case j.kick <- struct{}{}:
			default:
			}
		}
		j.publish(j.written)
	case SyncNever:
		j.publish(j.written)
	}
	return seq - 1, nil
}

// writable returns why the journal takes no writes, or nil.
func (j *Journal) writable() error {
	if j.closed {
		return ErrClosed
	}
	if j.failed != nil {
		return fmt.Errorf("%w: refusing writes since an earlier failure (%v); close and reopen the journal", ErrUnavailable, j.failed)
	}
	return nil
}

// WaitDurable returns once every sequence up to seq has reached the
// durability point of the sync mode. With SyncAlways it fsyncs, or waits
// for the fsync in progress and then joins the next one, so that
// concurrent callers share fsyncs; otherwise Write already reached the
// point. It returns [ErrSyncFailed] when the fsync failed.
func (j *Journal) WaitDurable(seq int64) error {
	if j.opts.Sync != SyncAlways {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.syncLocked(seq)
}

// Sync fsyncs everything written so far, in any sync mode.
func (j *Journal) Sync() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return ErrClosed
	}
	return j.syncLocked(j.written)
}

// syncLocked makes every sequence up to seq durable. It is called with mu
// held and releases it while fsync runs, so that writers go on and the
// next fsync covers all of them: group commit.
func (j *Journal) syncLocked(seq int64) error {
	for j.synced < seq {
		if j.failed != nil {
			return fmt.Errorf("%w: %w", ErrSyncFailed, j.failed)
		}
		if j.syncing {
			j.cond.Wait()
			continue
		}
		if j.active == nil {
			j.markSynced(j.written) // everything is in sealed, synced segments
			break
		}
		f, target, path := j.active, j.written, j.segs[len(j.segs)-1].path
		j.syncing = true
		j.unsynced = 0
		j.mu.Unlock()
		began := time.Now()
		err := f.Sync()
		took := time.Since(began)
		if j.onSync != nil {
			j.onSync(j.name, took)
		}
		j.mu.Lock()
		j.stats.Syncs++
		j.stats.SyncTime += took
		j.syncing = false
		j.closePending()
		if err != nil {
			j.stats.Failures++
			j.failed = fmt.Errorf("fsync of %s: %w", path, err)
			j.log.Error("journal: fsync failed; refusing writes until reopened", "stream", j.name, "file", path, "err", err)
			j.cond.Broadcast()
			return fmt.Errorf("%w: %w", ErrSyncFailed, j.failed)
		}
		j.markSynced(target)
		j.cond.Broadcast()
	}
	return nil
}

// markSynced records that every sequence up to seq is durable.
func (j *Journal) markSynced(seq int64) {
	if seq > j.synced {
		j.synced = seq
		if j.opts.Sync == SyncAlways {
			j.publish(seq)
		}
	}
}

// publish moves Latest to seq and wakes whoever waits for it.
func (j *Journal) publish(seq int64) {
	if seq <= j.latest.Load() {
		return
	}
	j.latest.Store(seq)
	if j.notify != nil {
		close(j.notify)
		j.notify = nil
	}
}

// WaitFor blocks until Latest() ≥ seq and returns Latest(), or returns
// early with ctx's error or [ErrClosed]. It is how a live tail waits for
// the next batch.
func (j *Journal) WaitFor(ctx context.Context, seq int64) (int64, error) {
	for {
		if l := j.latest.Load(); l >= seq {
			return l, nil
		}
		j.mu.Lock()
		if j.closed {
			j.mu.Unlock()
			return j.latest.Load(), ErrClosed
		}
		if l := j.latest.Load(); l >= seq {
			j.mu.Unlock()
			return l, nil
		}
		if j.notify == nil {
			j.notify = make(chan struct{})
		}
		ch := j.notify
		j.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return j.latest.Load(), ctx.Err()
		}
	}
}

func (j *Journal) closePending() {
	if j.syncing {
		return
	}
	for _, f := range j.pendingClose {
		if err := f.Close(); err != nil {
			j.log.Warn("journal: closing a sealed segment", "stream", j.name, "err", err)
		}
	}
	j.pendingClose = j.pendingClose[:0]
}

// maybeRoll seals the active segment when it is full or old enough, and
// starts a segment at j.next when there is none.
func (j *Journal) maybeRoll(now int64) error {
	if n := len(j.segs); n > 0 {
		a := j.segs[n-1]
		switch {
		case j.active != nil:
			full := a.size >= j.opts.SegmentBytes
			old := j.opts.Retention.MaxAge > 0 && now-j.activeSince >= int64(j.opts.Retention.MaxAge/8)
			if a.last < a.base || !full && !old {
				return nil
			}
			if err := j.seal(); err != nil {
				return err
			}
		case a.last < a.base:
			// a sealed segment without records: its file is made anew below
			j.segs = j.segs[:n-1]
			j.bytes -= a.size
		}
	}
	if err := j.newSegment(j.next); err != nil {
		return err
	}
	if len(j.segs) > 1 {
		j.retainLocked(now)
	}
	return nil
}

// seal makes the active segment durable, writes its index and closes its
// file; the journal then has no active file until newSegment.
func (j *Journal) seal() error {
	a := j.segs[len(j.segs)-1]
	if j.active == nil {
		return nil
	}
	began := time.Now()
	err := j.active.Sync()
	took := time.Since(began)
	j.stats.Syncs++
	j.stats.SyncTime += took
	if j.onSync != nil {
		j.onSync(j.name, took)
	}
	if err != nil {
		j.stats.Failures++
		j.failed = fmt.Errorf("fsync of %s while sealing it: %w", a.path, err)
		j.log.Error("journal: fsync failed; refusing writes until reopened", "stream", j.name, "file", a.path, "err", err)
		return fmt.Errorf("%w: %w", ErrUnavailable, j.failed)
	}
	j.markSynced(a.last)
	if a.last >= a.base {
		if err := writeFileAtomic(j.fs, a.indexPath(), encodeIndex(a.base, a.index), false); err != nil {
			j.log.Warn("journal: writing a segment index (it will be rebuilt on open)", "stream", j.name, "file", a.indexPath(), "err", err)
		}
	}
	a.index = nil // sealed: reloaded from the file when a reader needs it
	j.pendingClose = append(j.pendingClose, j.active)
	j.active = nil
	j.closePending()
	return nil
}

// newSegment creates the segment file for sequences from base on and
// makes it active.
func (j *Journal) newSegment(base int64) error {
	path := filepath.Join(j.dir, segmentName(base))
	f, err := j.fs.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("%w: creating %s: %w", ErrUnavailable, path, err)
	}
	fail := func(what string, err error) error {
		_ = f.Close()
		_ = j.fs.Remove(path)
		return fmt.Errorf("%w: %s %s: %w", ErrUnavailable, what, path, err)
	}
	hdr := appendSegmentHeader(nil, base)
	if _, err := f.WriteAt(hdr, 0); err != nil {
		return fail("writing the header of", err)
	}
	// The header is what carries the numbering on once retention has
	// dropped the segments before this one: it must survive a power loss.
	if err := f.Sync(); err != nil {
		return fail("syncing the header of", err)
	}
	if err := j.fs.SyncDir(j.dir); err != nil {
		return fail("syncing the directory of", err)
	}
	j.segs = append(j.segs, &segment{base: base, last: base - 1, size: segmentHeaderSize, path: path})
	j.active = f
	j.bytes += segmentHeaderSize
	return nil
}

// Close fsyncs what was written (in every sync mode), writes the active
// segment's index, closes the files and stops the background flusher.
// Readers still open return [ErrClosed]. Close returns [ErrSyncFailed] if
// the last fsync failed; later calls return nil.
func (j *Journal) Close() error { return j.stop(true) }

// abandon stops the journal as a crash would: no fsync, no index, files
// left as they are. Tests use it to simulate a crash of the process.
func (j *Journal) abandon() { _ = j.stop(false) }

// stop closes the journal; clean is Close, else abandon.
func (j *Journal) stop(clean bool) error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return nil
	}
	var err error
	if clean && j.failed == nil {
		err = j.syncLocked(j.written)
	}
	for j.syncing {
		j.cond.Wait()
	}
	j.closed = true
	if j.notify != nil {
		close(j.notify)
		j.notify = nil
	}
	close(j.done)
	if n := len(j.segs); clean && n > 0 && j.active != nil && j.failed == nil {
		if a := j.segs[n-1]; a.last >= a.base {
			if werr := writeFileAtomic(j.fs, a.indexPath(), encodeIndex(a.base, a.index), false); werr != nil {
				j.log.Warn("journal: writing a segment index (it will be rebuilt on open)", "stream", j.name, "file", a.indexPath(), "err", werr)
			}
		}
	}
	if j.active != nil {
		j.pendingClose = append(j.pendingClose, j.active)
		j.active = nil
	}
	j.closePending()
	j.cond.Broadcast()
	j.mu.Unlock()
	j.wg.Wait()
	if j.owner != nil {
		j.owner.forget(j)
	}
	return err
}

// flusher fsyncs in the background (SyncInterval) and applies retention.
func (j *Journal) flusher() {
	defer j.wg.Done()
	var tick <-chan time.Time
	if j.opts.Sync == SyncInterval {
		t := time.NewTicker(j.opts.SyncInterval)
		defer t.Stop()
		tick = t.C
	}
	var retain <-chan time.Time
	if j.opts.Retention != (Retention{}) {
		t := time.NewTicker(j.opts.RetentionCheck)
		defer t.Stop()
		retain = t.C
	}
	for {
		select {
		case <-j.done:
			return
		case <-tick:
			j.backgroundSync()
		case <-j.kick:
			j.backgroundSync()
		case <-retain:
			if err := j.Retain(); err != nil && !errors.Is(err, ErrClosed) {
				j.log.Warn("journal: retention", "stream", j.name, "err", err)
			}
		}
	}
}

func (j *Journal) backgroundSync() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed || j.failed != nil || j.synced >= j.written {
		return
	}
	_ = j.syncLocked(j.written) // a failure is logged and refuses later writes
}
