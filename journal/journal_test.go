package journal

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestAppendReadReopen(t *testing.T) {
	for _, mode := range []SyncMode{SyncAlways, SyncInterval, SyncNever} {
		t.Run(mode.String(), func(t *testing.T) {
			e := newEnv(t)
			o := smallOptions()
			o.Sync = mode
			j := e.create("orders", 1000, o)
			if got := j.Next(); got != 1000 {
				t.Fatalf("Next of a new stream = %d, want 1000", got)
			}
			var want []Batch
			seq := int64(1000)
			for i := range 60 {
				b := makeBatch(seq, 1+i%7)
				if err := j.Append(b); err != nil {
					t.Fatal(err)
				}
				want = append(want, b)
				seq += int64(len(b.Events))
			}
			if j.Segments() < 3 {
				t.Fatalf("%d segments, want several (segment_bytes %d)", j.Segments(), o.SegmentBytes)
			}
			if got := j.Latest(); got != seq-1 {
				t.Fatalf("Latest = %d, want %d", got, seq-1)
			}
			if d := diffBatches(want, readAll(t, j, 1000)); d != "" {
				t.Fatalf("read back (-want +got):\n%s", d)
			}
			e.reopen()
			j = e.open("orders", o)
			if got, want := j.Next(), seq; got != want {
				t.Fatalf("after reopen Next = %d, want %d", got, want)
			}
			if got := j.Oldest(); got != 1000 {
				t.Fatalf("after reopen Oldest = %d, want 1000", got)
			}
			if d := diffBatches(want, readAll(t, j, 1000)); d != "" {
				t.Fatalf("read back after reopen (-want +got):\n%s", d)
			}
			if got := string(j.Meta()); got != "meta of orders" {
				t.Fatalf("Meta = %q", got)
			}
			if r := j.Recovery(); len(r.Truncated)+len(r.RebuiltIndexes)+len(r.Removed) != 0 || r.Repaired != nil {
				t.Fatalf("a clean reopen reported %+v", r)
			}
			// a reader from the middle starts with the batch holding it
			mid := want[30]
			got := readAll(t, j, mid.First+1)
			if len(got) == 0 || got[0].First != mid.First {
				t.Fatalf("reader from %d starts with batch %d, want %d", mid.First+1, got[0].First, mid.First)
			}
			// appends continue the numbering
			if err := j.Append(makeBatch(seq, 2)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestAppendChecks(t *testing.T) {
	e := newEnv(t)
	j := e.create("s", 5, DefaultOptions())
	cases := []struct {
		name    string
		batches []Batch
		want    error
	}{
		{"none", nil, ErrInvalidBatch},
		{"wrong first", []Batch{makeBatch(4, 1)}, ErrSequence},
		{"gap between batches", []Batch{makeBatch(5, 2), makeBatch(8, 1)}, ErrSequence},
		{"no events", []Batch{{First: 5}}, ErrInvalidBatch},
		{"key too long", []Batch{{First: 5, Key: strings.Repeat("k", MaxKeyBytes+1), Events: []Event{{}}}}, ErrInvalidBatch},
		{"record too large", []Batch{{First: 5, Events: []Event{{Payload: make([]byte, 64<<20)}}}}, ErrInvalidBatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := j.Append(c.batches...); !errors.Is(err, c.want) {
				t.Fatalf("Append = %v, want %v", err, c.want)
			}
			if j.Next() != 5 || j.Latest() != 4 {
				t.Fatalf("a refused append moved the journal: Next %d Latest %d", j.Next(), j.Latest())
			}
		})
	}
	if err := j.Append(makeBatch(5, 2), makeBatch(7, 3)); err != nil {
		t.Fatal(err)
	}
	if j.Latest() != 9 {
		t.Fatalf("Latest = %d, want 9", j.Latest())
	}
}

func TestGroupCommit(t *testing.T) {
	e := newEnv(t)
	e.fs.realSync = true // group commit needs an fsync that takes time
	o := DefaultOptions()
	o.Sync = SyncAlways
	j := e.create("s", 0, o)
	const writers, each = 8, 50
	var order sync.Mutex // the caller's lock that orders appends
	var wg sync.WaitGroup
	before := e.fs.syncs.Load()
	for range writers {
		wg.Go(func() {
			for range each {
				order.Lock()
				last, err := j.Write(makeBatch(j.Next(), 1))
				order.Unlock()
				if err == nil {
					err = j.WaitDurable(last)
				}
				if err != nil {
					t.Error(err)
					return
				}
				if j.Latest() < last {
					t.Errorf("WaitDurable(%d) returned with Latest %d", last, j.Latest())
				}
			}
		})
	}
	wg.Wait()
	syncs := e.fs.syncs.Load() - before
	if j.Latest() != writers*each-1 {
		t.Fatalf("Latest = %d, want %d", j.Latest(), writers*each-1)
	}
	t.Logf("%d appends, %d fsyncs", writers*each, syncs)
	if syncs >= writers*each {
		t.Fatalf("%d fsyncs for %d concurrent appends: no group commit", syncs, writers*each)
	}
}

func TestSyncModes(t *testing.T) {
	cases := []struct {
		mode        SyncMode
		syncPerCall bool
	}{
		{SyncAlways, true},
		{SyncInterval, false},
		{SyncNever, false},
	}
	for _, c := range cases {
		t.Run(c.mode.String(), func(t *testing.T) {
			e := newEnv(t)
			o := DefaultOptions()
			o.Sync = c.mode
			o.SyncInterval = time.Hour // only SyncBytes triggers
			j := e.create("s", 0, o)
			if err := j.Append(makeBatch(0, 1)); err != nil { // creates the segment
				t.Fatal(err)
			}
			before := e.fs.syncs.Load()
			for i := int64(1); i <= 10; i++ {
				if err := j.Append(makeBatch(i, 1)); err != nil {
					t.Fatal(err)
				}
			}
			if got := e.fs.syncs.Load() - before; (got >= 10) != c.syncPerCall {
				t.Fatalf("%d fsyncs for 10 appends in mode %s", got, c.mode)
			}
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestIntervalSyncsBySize(t *testing.T) {
	e := newEnv(t)
	o := DefaultOptions()
	o.SyncInterval = time.Hour
	o.SyncBytes = 64 << 10
	j := e.create("s", 0, o)
	if err := j.Append(makeBatch(0, 1)); err != nil {
		t.Fatal(err)
	}
	before := e.fs.syncs.Load()
	big := Batch{First: 1, Events: []Event{{Payload: make([]byte, 80<<10)}}}
	if err := j.Append(big); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for e.fs.syncs.Load() == before {
		if time.Now().After(deadline) {
			t.Fatal("no fsync after SyncBytes were written")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestIntervalSyncsByTime(t *testing.T) {
	e := newEnv(t)
	o := DefaultOptions()
	o.SyncInterval = 20 * time.Millisecond
	j := e.create("s", 0, o)
	if err := j.Append(makeBatch(0, 1)); err != nil {
		t.Fatal(err)
	}
	before := e.fs.syncs.Load() // the new segment's header was synced
	deadline := time.Now().Add(10 * time.Second)
	for e.fs.syncs.Load() == before {
		if time.Now().After(deadline) {
			t.Fatal("no fsync within the interval")
		}
		time.Sleep(time.Millisecond)
	}
	// nothing new written: the flusher stays idle
	idle := e.fs.syncs.Load()
	time.Sleep(100 * time.Millisecond)
	if got := e.fs.syncs.Load(); got != idle {
		t.Fatalf("%d fsyncs with nothing written", got-idle)
	}
}

func TestLiveTail(t *testing.T) {
	e := newEnv(t)
	j := e.create("s", 0, smallOptions())
	r, err := j.NewReader(0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("Next on an empty journal = %v, want io.EOF", err)
	}
	const total = 300
	go func() {
		for seq := int64(0); seq < total; {
			b := makeBatch(seq, 1+int(seq%4))
			if err := j.Append(b); err != nil {
				t.Error(err)
				return
			}
			seq += int64(len(b.Events))
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	next := int64(0)
	for next < total {
		b, err := r.Next()
		if err == io.EOF {
			if _, err := j.WaitFor(ctx, next); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if b.First != next {
			t.Fatalf("tail got batch %d, want %d", b.First, next)
		}
		next = b.Last() + 1
	}
	if j.Segments() < 2 {
		t.Fatalf("the tail crossed %d segments, want several", j.Segments())
	}
}

func TestRetention(t *testing.T) {
	fill := func(t *testing.T, e *env, o Options) (*Journal, int64) {
		j := e.create("s", 0, o)
		seq := int64(0)
		for range 200 {
			b := makeBatch(seq, 3)
			b.Time = e.clock().UnixNano()
			if err := j.Append(b); err != nil {
				t.Fatal(err)
			}
			seq += 3
			e.advance(time.Second)
		}
		return j, seq
	}
	t.Run("max_events", func(t *testing.T) {
		e := newEnv(t)
		o := smallOptions()
		o.Retention.MaxEvents = 100
		j, next := fill(t, e, o)
		if err := j.Retain(); err != nil {
			t.Fatal(err)
		}
		kept := next - j.Oldest()
		if kept < 100 {
			t.Fatalf("kept %d events, want at least max_events 100", kept)
		}
		if first := readAll(t, j, j.Oldest()); first[0].First != j.Oldest() {
			t.Fatalf("first batch read %d, Oldest %d", first[0].First, j.Oldest())
		}
		if _, err := j.NewReader(j.Oldest() - 1); !errors.Is(err, ErrEvicted) {
			t.Fatalf("reader below Oldest: %v, want ErrEvicted", err)
		}
		if kept > 100+int64(o.SegmentBytes) {
			t.Fatalf("kept %d events, more than one segment over max_events", kept)
		}
	})
	t.Run("max_bytes", func(t *testing.T) {
		e := newEnv(t)
		o := smallOptions()
		o.Retention.MaxBytes = 10 << 10
		j, _ := fill(t, e, o)
		if err := j.Retain(); err != nil {
			t.Fatal(err)
		}
		if b := j.Bytes(); b < 10<<10 || b > 10<<10+o.SegmentBytes+4<<10 {
			t.Fatalf("%d bytes kept, want max_bytes %d plus less than a segment", b, 10<<10)
		}
	})
	t.Run("max_age", func(t *testing.T) {
		e := newEnv(t)
		o := smallOptions()
		o.Retention.MaxAge = 50 * time.Second
		j, next := fill(t, e, o)
		if err := j.Retain(); err != nil {
			t.Fatal(err)
		}
		got := readAll(t, j, j.Oldest())
		cutoff := e.clock().Add(-o.Retention.MaxAge).UnixNano()
		if got[0].Time >= cutoff {
			// fine only if nothing older was ever written
			t.Logf("oldest batch kept is within max_age")
		}
		// the oldest segment kept holds a batch within max_age
		young := 0
		for _, b := range got {
			if b.Time >= cutoff {
				young++
			}
		}
		if young == 0 || got[len(got)-1].Last() != next-1 {
			t.Fatalf("retention dropped recent events: %d young batches, last %d", young, got[len(got)-1].Last())
		}
		if len(got)-young > 60 {
			t.Fatalf("%d expired batches kept", len(got)-young)
		}
		// an idle stream whose every batch expires ends empty, at its numbering
		e.advance(time.Hour)
		if err := j.Retain(); err != nil {
			t.Fatal(err)
		}
		if j.Oldest() != next || j.Latest() != next-1 || j.Segments() != 0 {
			t.Fatalf("after everything expired: Oldest %d Latest %d segments %d, want %d, %d, 0", j.Oldest(), j.Latest(), j.Segments(), next, next-1)
		}
		e.reopen()
		j = e.open("s", o)
		if j.Next() != next {
			t.Fatalf("after reopen Next = %d, want %d", j.Next(), next)
		}
		if err := j.Append(makeBatch(next, 1)); err != nil {
			t.Fatal(err)
		}
	})
}

func TestPurge(t *testing.T) {
	e := newEnv(t)
	o := smallOptions()
	j := e.create("s", 0, o)
	var want []Batch
	for seq := int64(0); seq < 600; seq += 4 {
		b := makeBatch(seq, 4)
		if err := j.Append(b); err != nil {
			t.Fatal(err)
		}
		want = append(want, b)
	}
	segs := j.Segments()
	if err := j.Purge(301); err != nil {
		t.Fatal(err)
	}
	if j.Oldest() != 301 {
		t.Fatalf("Oldest after purge = %d, want 301", j.Oldest())
	}
	if j.Segments() >= segs {
		t.Fatalf("purge removed no segment (%d before, %d after)", segs, j.Segments())
	}
	if _, err := j.NewReader(300); !errors.Is(err, ErrEvicted) {
		t.Fatalf("reader at 300: %v, want ErrEvicted", err)
	}
	// the reader starts with the batch holding 301, the 76th
	if d := diffBatches(want[75:], readAll(t, j, 301)); d != "" {
		t.Fatalf("read from 301 (-want +got):\n%s", d)
	}
	e.reopen()
	j = e.open("s", o)
	if j.Oldest() != 301 || j.Next() != 600 {
		t.Fatalf("after reopen Oldest %d Next %d, want 301 and 600", j.Oldest(), j.Next())
	}
	// purge past the end: everything goes, the numbering jumps
	if err := j.Purge(1000); err != nil {
		t.Fatal(err)
	}
	if j.Segments() != 0 || j.Next() != 1000 || j.Oldest() != 1000 || j.Latest() != 999 {
		t.Fatalf("after purge past the end: %d segments, Next %d Oldest %d Latest %d", j.Segments(), j.Next(), j.Oldest(), j.Latest())
	}
	if err := j.Append(makeBatch(1000, 2)); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	j = e.open("s", o)
	if j.Oldest() != 1000 || j.Next() != 1002 {
		t.Fatalf("after reopen Oldest %d Next %d, want 1000 and 1002", j.Oldest(), j.Next())
	}
}

func TestSequenceAt(t *testing.T) {
	e := newEnv(t)
	j := e.create("s", 0, smallOptions())
	base := time.Unix(1_800_000_000, 0)
	for i := int64(0); i < 300; i++ {
		b := makeBatch(i, 1)
		b.Time = base.Add(time.Duration(i) * time.Second).UnixNano()
		if err := j.Append(b); err != nil {
			t.Fatal(err)
		}
	}
	for _, at := range []int64{0, 1, 150, 299} {
		seq := j.SequenceAt(base.Add(time.Duration(at) * time.Second))
		if seq > at {
			t.Fatalf("SequenceAt(t+%ds) = %d: batch %d, written at that time, would be missed", at, seq, at)
		}
		if at-seq > 40 {
			t.Fatalf("SequenceAt(t+%ds) = %d: scans %d batches too many", at, seq, at-seq)
		}
	}
	if got := j.SequenceAt(base.Add(time.Hour)); got != 300 {
		t.Fatalf("SequenceAt(later than everything) = %d, want 300", got)
	}
}

func TestDirStreams(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"b", "a", "c.d-e_f"} {
		e.create(n, 0, DefaultOptions())
	}
	if _, err := e.dir.Create("a", 0, nil, DefaultOptions()); !errors.Is(err, ErrBusy) {
		t.Fatalf("Create of an open stream: %v, want ErrBusy", err)
	}
	if _, err := e.dir.Open("a", DefaultOptions()); !errors.Is(err, ErrBusy) {
		t.Fatalf("second Open: %v, want ErrBusy", err)
	}
	for _, bad := range []string{"", ".hidden", "a/b", "..", strings.Repeat("x", 129), "LOCK/"} {
		if _, err := e.dir.Create(bad, 0, nil, DefaultOptions()); err == nil || !strings.Contains(err.Error(), "invalid stream name") {
			t.Fatalf("Create(%q) = %v, want an invalid name error", bad, err)
		}
	}
	e.reopen()
	names, err := e.dir.Streams()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names, ","); got != "a,b,c.d-e_f" {
		t.Fatalf("Streams = %s", got)
	}
	if _, err := e.dir.Create("a", 0, nil, DefaultOptions()); !errors.Is(err, ErrExists) {
		t.Fatalf("Create of an existing stream: %v, want ErrExists", err)
	}
	if meta, err := e.dir.Meta("b"); err != nil || string(meta) != "meta of b" {
		t.Fatalf("Meta(b) = %q, %v", meta, err)
	}
	j := e.open("b", DefaultOptions())
	if err := j.SetMeta([]byte("state: running")); err != nil {
		t.Fatal(err)
	}
	if err := j.Append(makeBatch(0, 3)); err != nil {
		t.Fatal(err)
	}
	if err := e.dir.Delete("b"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e.path, "streams", "b")); !os.IsNotExist(err) {
		t.Fatalf("a deleted stream's directory: %v", err)
	}
	if err := j.Append(makeBatch(3, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append to a deleted stream: %v, want ErrClosed", err)
	}
	if _, err := e.dir.Open("b", DefaultOptions()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open of a deleted stream: %v, want ErrNotFound", err)
	}
	if err := e.dir.Delete("b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Delete of a deleted stream: %v, want ErrNotFound", err)
	}
	e.reopen()
	if meta, err := e.dir.Meta("a"); err != nil || string(meta) != "meta of a" {
		t.Fatalf("Meta(a) = %q, %v", meta, err)
	}
	if _, err := e.dir.Meta("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Meta of a missing stream: %v", err)
	}
}

func TestSetMetaSurvivesReopen(t *testing.T) {
	e := newEnv(t)
	j := e.create("s", 0, DefaultOptions())
	if err := j.SetMeta([]byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	if meta, err := e.dir.Meta("s"); err != nil || string(meta) != "\x01\x02\x03" {
		t.Fatalf("Meta = %v, %v", meta, err)
	}
	// a damaged metadata file is reported, not returned
	path := filepath.Join(e.path, "streams", "s", metaFile)
	b, _ := os.ReadFile(path)
	b[len(b)-1] ^= 0xff
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := e.dir.Meta("s"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Meta of a damaged file: %v, want ErrCorrupt", err)
	}
}

func TestDirLock(t *testing.T) {
	path := t.TempDir()
	d, err := OpenDir(path, DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = OpenDir(path, DirOptions{})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), filepath.Join(path, "LOCK")) {
		t.Fatalf("second OpenDir = %v, want ErrLocked naming the lock file", err)
	}
	if !strings.Contains(err.Error(), "held by process") {
		t.Fatalf("the lock error does not name the holder: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d, err = OpenDir(path, DirOptions{})
	if err != nil {
		t.Fatalf("OpenDir after Close: %v", err)
	}
	d.Close()
}

func TestOptionsValidate(t *testing.T) {
	o := DefaultOptions()
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	o.SyncInterval, o.SegmentBytes, o.Retention.MaxAge = 0, 1, -time.Second
	err := o.Validate()
	for _, key := range []string{"sync_interval", "segment_bytes", "retention.max_age"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Fatalf("Validate = %v, want a problem naming %s", err, key)
		}
	}
	for _, s := range []string{"always", "Interval", "NEVER"} {
		if _, err := ParseSyncMode(s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ParseSyncMode("sometimes"); err == nil || !strings.Contains(err.Error(), "sometimes") {
		t.Fatalf("ParseSyncMode(sometimes) = %v", err)
	}
}
