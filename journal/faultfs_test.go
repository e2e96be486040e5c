package journal

import (
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
)

// faultFS wraps the operating system's file system to inject the faults
// a journal must survive: a disk that fills up, writes and fsyncs that
// fail, and a power loss that drops whatever was not fsynced.
//
// It tracks, for each file written through it, the size that is durable
// (its size at the last Sync, or less after a truncate); crash cuts every
// file back to that, plus a random part of what was not synced, as a
// power loss does.
type faultFS struct {
	inner FS

	mu    sync.Mutex
	files map[string]*fileState
	limit int64 // bytes the files written through it may grow by in all; < 0: no limit
	used  int64

	realSync   bool  // call fsync for real; else only record what it would make durable
	failWrites error // every WriteAt fails with it (after writing half of its bytes)
	failSyncs  error // every Sync fails with it
	syncs      atomic.Int64
	writes     atomic.Int64
}

type fileState struct {
	size    int64 // as far as this FS knows
	durable int64 // survives a power loss
}

func newFaultFS() *faultFS {
	return &faultFS{inner: OSFS(), files: make(map[string]*fileState), limit: -1}
}

var errNoSpace = syscall.ENOSPC

func (f *faultFS) setLimit(n int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.limit = f.used + n
}

func (f *faultFS) setFailWrites(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failWrites = err
}

func (f *faultFS) setFailSyncs(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failSyncs = err
}

func (f *faultFS) state(name string, size int64) *fileState {
	st, ok := f.files[name]
	if !ok {
		st = &fileState{size: size, durable: size}
		f.files[name] = st
	}
	return st
}

func (f *faultFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	inner, err := f.inner.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	size, err := inner.Size()
	if err != nil {
		inner.Close()
		return nil, err
	}
	f.mu.Lock()
	st, known := f.files[name]
	switch {
	case !known && flag&os.O_CREATE != 0 && size == 0: // a new file: nothing durable yet
		f.files[name] = &fileState{}
	case !known:
		f.state(name, size)
	default:
		if size < st.size {
			f.used -= st.size - size
		}
		st.size = size
		st.durable = min(st.durable, size)
	}
	f.mu.Unlock()
	return &faultFile{File: inner, fs: f, name: name}, nil
}

func (f *faultFS) ReadDir(name string) ([]fs.DirEntry, error)   { return f.inner.ReadDir(name) }
func (f *faultFS) MkdirAll(name string, perm fs.FileMode) error { return f.inner.MkdirAll(name, perm) }
func (f *faultFS) SyncDir(name string) error {
	if !f.realSync {
		return nil
	}
	return f.inner.SyncDir(name)
}

func (f *faultFS) Rename(oldname, newname string) error {
	if err := f.inner.Rename(oldname, newname); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for path, st := range f.files { // a file, or the files of a renamed directory
		if rel, err := filepath.Rel(oldname, path); err == nil && (rel == "." || filepath.IsLocal(rel)) {
			delete(f.files, path)
			if old, ok := f.files[filepath.Join(newname, rel)]; ok {
				f.used -= old.size
			}
			f.files[filepath.Join(newname, rel)] = st
		}
	}
	return nil
}

func (f *faultFS) Remove(name string) error {
	if err := f.inner.Remove(name); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if st, ok := f.files[name]; ok {
		f.used -= st.size
		delete(f.files, name)
	}
	return nil
}

func (f *faultFS) RemoveAll(name string) error {
	if err := f.inner.RemoveAll(name); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for path, st := range f.files {
		if rel, err := filepath.Rel(name, path); err == nil && (rel == "." || filepath.IsLocal(rel)) {
			f.used -= st.size
			delete(f.files, path)
		}
	}
	return nil
}

// crash simulates a power loss: every file written through f loses what
// was not fsynced, except a random prefix of it (a write that reached the
// disk by chance). Files must be closed (the journal abandoned) first.
func (f *faultFS) crash(rng *rand.Rand) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for path, st := range f.files {
		keep := st.durable
		if extra := st.size - st.durable; extra > 0 && rng != nil {
			keep += rng.Int64N(extra + 1)
		}
		if keep == st.size {
			continue
		}
		file, err := f.inner.OpenFile(path, os.O_RDWR, 0)
		if errors.Is(err, fs.ErrNotExist) {
			delete(f.files, path)
			continue
		}
		if err != nil {
			return err
		}
		err = file.Truncate(keep)
		file.Close()
		if err != nil {
			return err
		}
		f.used -= st.size - keep
		st.size, st.durable = keep, keep
	}
	return nil
}

type faultFile struct {
	File
	fs   *faultFS
	name string
}

func (w *faultFile) WriteAt(p []byte, off int64) (int, error) {
	f := w.fs
	f.writes.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.state(w.name, 0)
	want, failure := len(p), error(nil)
	if f.failWrites != nil {
		want, failure = len(p)/2, f.failWrites
	}
	if f.limit >= 0 {
		room := max(st.size-off, 0) + f.limit - f.used
		if int64(want) > room {
			want, failure = int(max(room, 0)), errNoSpace
		}
	}
	n, err := w.File.WriteAt(p[:want], off)
	if end := off + int64(n); end > st.size {
		f.used += end - st.size
		st.size = end
	}
	if err == nil {
		err = failure
	}
	return n, err
}

func (w *faultFile) Truncate(size int64) error {
	if err := w.File.Truncate(size); err != nil {
		return err
	}
	f := w.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.state(w.name, size)
	f.used += size - st.size
	st.size = size
	st.durable = min(st.durable, size)
	return nil
}

func (w *faultFile) Sync() error {
	f := w.fs
	f.syncs.Add(1)
	f.mu.Lock()
	failure := f.failSyncs
	f.mu.Unlock()
	if failure != nil {
		return failure
	}
	if f.realSync {
		if err := w.File.Sync(); err != nil {
			return err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.state(w.name, 0)
	st.durable = st.size
	return nil
}

// Fd hides the descriptor: files of a faultFS are not locked.
func (w *faultFile) Fd() uintptr { return ^uintptr(0) }
