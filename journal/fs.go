package journal

import (
	"io"
	"io/fs"
	"os"
)

// FS is the handful of file operations the journal uses, so that tests
// can inject faults (a full disk, a failing fsync, a crash that drops what
// was not synced). Paths are operating-system paths. Implementations must
// be safe for concurrent use; the journal calls them from the appending
// goroutine, its background flusher and readers at once.
type FS interface {
	// OpenFile opens a file as os.OpenFile does.
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	// ReadDir lists a directory as os.ReadDir does.
	ReadDir(name string) ([]fs.DirEntry, error)
	// MkdirAll creates a directory and its parents as os.MkdirAll does.
	MkdirAll(name string, perm fs.FileMode) error
	// Rename renames a file or directory atomically, as os.Rename does.
	Rename(oldname, newname string) error
	// Remove removes a file or an empty directory.
	Remove(name string) error
	// RemoveAll removes a directory and everything in it.
	RemoveAll(name string) error
	// SyncDir makes the entries of a directory (created, renamed and
	// removed files) durable: fsync of the directory.
	SyncDir(name string) error
}

// File is an open file of an [FS]. The journal writes only with WriteAt
// at the end of the data it knows of, and reads with ReadAt, so one File
// may be read and written from different goroutines.
type File interface {
	io.ReaderAt
	io.WriterAt
	io.Closer
	// Sync flushes the file's data to stable storage (fsync).
	Sync() error
	// Truncate changes the file's size.
	Truncate(size int64) error
	// Size returns the file's current size.
	Size() (int64, error)
	// Fd returns the file descriptor, for the data directory's lock; an
	// FS that has none returns ^uintptr(0).
	Fd() uintptr
}

// OSFS returns the operating system's file system.
func OSFS() FS { return osFS{} }

type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) ReadDir(name string) ([]fs.DirEntry, error)   { return os.ReadDir(name) }
func (osFS) MkdirAll(name string, perm fs.FileMode) error { return os.MkdirAll(name, perm) }
func (osFS) Rename(oldname, newname string) error         { return os.Rename(oldname, newname) }
func (osFS) Remove(name string) error                     { return os.Remove(name) }
func (osFS) RemoveAll(name string) error                  { return os.RemoveAll(name) }

func (osFS) SyncDir(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

type osFile struct{ *os.File }

func (f osFile) Size() (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}
