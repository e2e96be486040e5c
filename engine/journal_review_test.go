package engine

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/badbatch/badbatch/journal"
)

// fullFS is a file system whose writes fail with ENOSPC while full is
// set: creating a file, WriteAt, Rename of a metadata file. It counts
// the renames of "meta" files (each SetMeta is one).
type fullFS struct {
	journal.FS
	full        atomic.Bool
	metaRenames atomic.Int64
}

func (f *fullFS) OpenFile(name string, flag int, perm fs.FileMode) (journal.File, error) {
	if f.full.Load() && flag&os.O_CREATE != 0 {
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.ENOSPC}
	}
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &fullFile{File: file, fs: f}, nil
}

func (f *fullFS) Rename(oldname, newname string) error {
	if filepath.Base(newname) == "meta" {
		f.metaRenames.Add(1)
	}
	if f.full.Load() {
		return &fs.PathError{Op: "rename", Path: newname, Err: syscall.ENOSPC}
	}
	return f.FS.Rename(oldname, newname)
}

type fullFile struct {
	journal.File
	fs *fullFS
}

func (f *fullFile) WriteAt(p []byte, off int64) (int, error) {
	if f.fs.full.Load() {
		return 0, syscall.ENOSPC
	}
	return f.File.WriteAt(p, off)
}

// journaledEngineFS is journaledEngine on the file system fsys.
func journaledEngineFS(t *testing.T, dir string, fsys journal.FS, mod func(*Config)) (*Engine, func()) {
	t.Helper()
	jd, err := journal.OpenDir(dir, journal.DirOptions{FS: fsys})
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Journal = jd
	if mod != nil {
		mod(&cfg)
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	stop := func() {
		if closed {
			return
		}
		closed = true
		if err := e.Close(context.Background()); err != nil && !strings.Contains(err.Error(), "ENOSPC") {
			t.Error(err)
		}
		if err := jd.Close(); err != nil {
			t.Error(err)
		}
	}
	t.Cleanup(stop)
	return e, stop
}

// TestJournaledRecoverWritesNothing: bringing a disruptor back to the
// state its journal records writes nothing: a paused disruptor is not
// recorded "running" on the way back (a crash there would bring it back
// running), and a full disk at restart does not keep it down.
func TestJournaledRecoverWritesNothing(t *testing.T) {
	dir := t.TempDir()
	fsys := &fullFS{FS: journal.OSFS()}
	e, stop := journaledEngineFS(t, dir, fsys, nil)
	ctx := context.Background()
	for _, name := range []string{"paused", "running", "stopped"} {
		if _, err := e.Create(DisruptorConfig{Name: name, BufferSize: 8, Durability: DurabilityJournal}, true); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Publish(ctx, name, &Batch{Events: jevents(0, 3)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.SetState(ctx, "paused", StatePaused); err != nil {
		t.Fatal(err)
	}
	if _, err := e.SetState(ctx, "stopped", StateStopped); err != nil {
		t.Fatal(err)
	}
	stop()

	e, _ = journaledEngineFS(t, dir, fsys, nil)
	fsys.metaRenames.Store(0)
	fsys.full.Store(true) // the disk filled up while the server was down
	for name, want := range map[string]State{"paused": StatePaused, "running": StateRunning, "stopped": StateStopped} {
		info, err := e.Recover(name, RecoverOptions{})
		if err != nil {
			t.Errorf("Recover(%q) on a full disk: %v", name, err)
			continue
		}
		if info.State != want || info.Latest != 2 {
			t.Errorf("Recover(%q): state %v latest %d, want %v 2", name, info.State, info.Latest, want)
		}
	}
	if n := fsys.metaRenames.Load(); n != 0 {
		t.Errorf("recovery rewrote a disruptor's metadata %d times, want 0", n)
	}
	fsys.full.Store(false)
}

// TestJournaledStateChangeDiskFull: a state change that cannot be
// recorded because the disk is full changes nothing and says so with
// [ErrJournalFull] (507 JOURNAL_FULL), as a publish does.
func TestJournaledStateChangeDiskFull(t *testing.T) {
	fsys := &fullFS{FS: journal.OSFS()}
	e, _ := journaledEngineFS(t, t.TempDir(), fsys, nil)
	if _, err := e.Create(DisruptorConfig{Name: "s", BufferSize: 8, Durability: DurabilityJournal}, true); err != nil {
		t.Fatal(err)
	}
	fsys.full.Store(true)
	defer fsys.full.Store(false)
	_, err := e.SetState(context.Background(), "s", StatePaused)
	if !errors.Is(err, ErrJournalFull) || Code(err) != "JOURNAL_FULL" {
		t.Errorf("pause on a full disk: %v (code %s), want JOURNAL_FULL", err, Code(err))
	}
	if info, _ := e.Info("s"); info.State != StateRunning {
		t.Errorf("state after the refused pause: %v", info.State)
	}
	_, err = e.Publish(context.Background(), "s", &Batch{Events: jevents(0, 1)})
	if !errors.Is(err, ErrJournalFull) {
		t.Errorf("publish on a full disk: %v", err)
	}
}
