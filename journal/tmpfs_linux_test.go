package journal

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"
)

// TestDiskFullTmpfs fills a real, small tmpfs: the kernel's ENOSPC, with
// its partial writes, instead of the fault layer's. It needs root (to
// mount) and skips without it.
func TestDiskFullTmpfs(t *testing.T) {
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := OSFS().MkdirAll(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=256k"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v): the fault layer's test covers a full disk", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Errorf("unmounting the tmpfs: %v", err)
		}
	})
	d, err := OpenDir(mnt, DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	o := DefaultOptions()
	o.Sync = SyncAlways
	o.SegmentBytes = 32 << 10
	j, err := d.Create("s", 0, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	var want []Batch
	seq := int64(0)
	var full error
	for range 10_000 {
		b := makeBatch(seq, 5)
		if full = j.Append(b); full != nil {
			break
		}
		want = append(want, b)
		seq += 5
	}
	if !errors.Is(full, ErrUnavailable) || !errors.Is(full, syscall.ENOSPC) {
		t.Fatalf("filling the tmpfs: %v, want ErrUnavailable wrapping ENOSPC", full)
	}
	if j.Next() != seq || j.Latest() != seq-1 {
		t.Fatalf("a refused append moved the journal: Next %d Latest %d, want %d", j.Next(), j.Latest(), seq)
	}
	// make room: purge the older half, then the same append goes through
	if err := j.Purge(want[len(want)/2].First); err != nil {
		t.Fatal(err)
	}
	retry := makeBatch(seq, 5)
	if err := j.Append(retry); err != nil {
		t.Fatalf("append after the purge made room: %v", err)
	}
	want = append(want, retry)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d2, err := OpenDir(mnt, DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	j, err = d2.Open("s", o)
	if err != nil {
		t.Fatal(err)
	}
	if rec := j.Recovery(); len(rec.Truncated) != 0 {
		t.Fatalf("reopen cut %+v: a refused append left half a record", rec.Truncated)
	}
	got := readAll(t, j, j.Oldest())
	if d := diffBatches(want[len(want)-len(got):], got); d != "" || got[len(got)-1].First != retry.First {
		t.Fatalf("after reopen (-want +got):\n%s", d)
	}
}
