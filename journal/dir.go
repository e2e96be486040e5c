package journal

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Dir is a data directory of journals: one sub-directory per stream, and
// a lock that keeps a second process out.
//
//	<dir>/LOCK                  flock'ed while the Dir is open; holds the owner's pid
//	<dir>/streams/<name>/       one stream: stream.json, meta, its segments and indexes
//	<dir>/.trash/               streams being deleted
//
// A Dir is safe for concurrent use. Each stream is open at most once at a
// time ([ErrBusy]).
type Dir struct {
	root string
	fs   FS
	log  *slog.Logger
	now  func() time.Time
	// onSync is DirOptions.OnSync; nil for none.
	onSync func(stream string, took time.Duration)
	lock   File

	mu     sync.Mutex
	open   map[string]*Journal
	closed bool
	seq    int // makes temporary names unique
}

const (
	lockFileName = "LOCK"
	streamsDir   = "streams"
	trashDir     = ".trash"
)

// nameRE is the engine's rule for disruptor names, which are the streams'
// names: 1 to 128 letters, digits, '.', '_' or '-', starting with a letter
// or a digit, so they are safe as file names.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// ValidName reports whether name may name a stream.
func ValidName(name string) bool { return nameRE.MatchString(name) }

// OpenDir opens (creating it if needed) the data directory at path and
// locks it. It returns [ErrLocked], naming the lock file, when another
// process has it open.
func OpenDir(path string, o DirOptions) (*Dir, error) {
	d := &Dir{root: path, fs: o.FS, log: o.Logger, now: o.Now, onSync: o.OnSync, open: make(map[string]*Journal)}
	if d.fs == nil {
		d.fs = OSFS()
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.now == nil {
		d.now = time.Now
	}
	if err := d.fs.MkdirAll(filepath.Join(path, streamsDir), 0o755); err != nil {
		return nil, fmt.Errorf("journal: creating the data directory %s: %w", path, err)
	}
	lockPath := filepath.Join(path, lockFileName)
	lock, err := d.fs.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("journal: opening the lock file %s: %w", lockPath, err)
	}
	if err := lockFile(lock, lockPath); err != nil {
		_ = lock.Close()
		return nil, err
	}
	d.lock = lock
	if err := d.fs.RemoveAll(filepath.Join(path, trashDir)); err != nil {
		d.log.Warn("journal: emptying the trash of deleted streams", "dir", path, "err", err)
	}
	return d, nil
}

// Path returns the data directory's path.
func (d *Dir) Path() string { return d.root }

func (d *Dir) streamPath(name string) string { return filepath.Join(d.root, streamsDir, name) }

func checkName(name string) error {
	if !ValidName(name) {
		return fmt.Errorf("journal: invalid stream name %q: must be 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// Streams returns the names of the streams in the directory, sorted:
// what recovery reopens at start.
func (d *Dir) Streams() ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, ErrClosed
	}
	entries, err := d.fs.ReadDir(filepath.Join(d.root, streamsDir))
	if err != nil {
		return nil, fmt.Errorf("journal: listing %s: %w", d.root, err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && ValidName(e.Name()) {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

// Create creates the stream name, whose first batch will start at first,
// with metadata meta, and opens it. The stream appears whole or not at
// all: it is prepared in a temporary directory and renamed into place. It
// returns [ErrExists] if the stream exists.
func (d *Dir) Create(name string, first int64, meta []byte, o Options) (*Journal, error) {
	if first < 0 {
		return nil, fmt.Errorf("journal: invalid first sequence %d: must not be negative", first)
	}
	if err := d.lockFor(name, o); err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	path := d.streamPath(name)
	if _, err := d.fs.ReadDir(path); err == nil {
		return nil, fmt.Errorf("%w: %s", ErrExists, name)
	}
	tmp := filepath.Join(d.root, trashDir, "create-"+d.uniqueName(name))
	if err := d.fs.MkdirAll(tmp, 0o755); err != nil {
		return nil, fmt.Errorf("journal: creating %s: %w", name, err)
	}
	err := writeManifest(d.fs, tmp, first)
	if err == nil {
		err = writeFileAtomic(d.fs, filepath.Join(tmp, metaFile), encodeMeta(meta), true)
	}
	if err == nil {
		err = d.fs.Rename(tmp, path)
	}
	if err == nil {
		err = d.fs.SyncDir(filepath.Dir(path))
	}
	if err != nil {
		_ = d.fs.RemoveAll(tmp)
		return nil, fmt.Errorf("journal: creating %s: %w", name, err)
	}
	j, err := openJournal(d, name, path, append([]byte(nil), meta...), o)
	if err != nil {
		return nil, err
	}
	d.open[name] = j
	return j, nil
}

// Open opens the existing stream name and recovers it (see
// docs/durability.md): a torn tail is cut off and reported, missing
// indexes are rebuilt, and corruption is returned as a [*CorruptError]
// unless o.Repair. It returns [ErrNotFound] if the stream does not
// exist, and [ErrBusy] if it is open already.
func (d *Dir) Open(name string, o Options) (*Journal, error) {
	if err := d.lockFor(name, o); err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	path := d.streamPath(name)
	meta, err := readMeta(d.fs, path)
	if err != nil {
		return nil, d.notFound(name, err)
	}
	j, err := openJournal(d, name, path, meta, o)
	if err != nil {
		return nil, d.notFound(name, err)
	}
	d.open[name] = j
	return j, nil
}

// lockFor checks name and o, and takes d.mu for opening the stream name:
// on success d.mu is held, the Dir is open and the stream is not.
func (d *Dir) lockFor(name string, o Options) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := o.Validate(); err != nil {
		return err
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return ErrClosed
	}
	if _, ok := d.open[name]; ok {
		d.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrBusy, name)
	}
	return nil
}

func (d *Dir) notFound(name string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		if _, derr := d.fs.ReadDir(d.streamPath(name)); derr != nil {
			return fmt.Errorf("%w: %s", ErrNotFound, name)
		}
	}
	return err
}

// Meta returns the metadata of the stream name without opening it: the
// engine reads a disruptor's config from it to choose the options to open
// the stream with.
func (d *Dir) Meta(name string) ([]byte, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, ErrClosed
	}
	if j, ok := d.open[name]; ok {
		return j.Meta(), nil
	}
	if _, err := d.fs.ReadDir(d.streamPath(name)); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return readMeta(d.fs, d.streamPath(name))
}

// Delete removes the stream name and its files, closing it first if it
// is open. The stream's directory is renamed away atomically, then
// removed, so a crash half way never leaves half a stream.
func (d *Dir) Delete(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	d.mu.Lock()
	j := d.open[name]
	d.mu.Unlock()
	var errs []error
	if j != nil {
		if err := j.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	path := d.streamPath(name)
	if _, err := d.fs.ReadDir(path); err != nil {
		return fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	trash := filepath.Join(d.root, trashDir)
	if err := d.fs.MkdirAll(trash, 0o755); err != nil {
		return fmt.Errorf("journal: deleting %s: %w", name, err)
	}
	if _, ok := d.open[name]; ok {
		return fmt.Errorf("%w: %s was opened again while being deleted", ErrBusy, name)
	}
	gone := filepath.Join(trash, d.uniqueName(name))
	if err := d.fs.Rename(path, gone); err != nil {
		return fmt.Errorf("journal: deleting %s: %w", name, err)
	}
	if err := d.fs.SyncDir(filepath.Dir(path)); err != nil {
		errs = append(errs, fmt.Errorf("journal: deleting %s: %w", name, err))
	}
	if err := d.fs.RemoveAll(gone); err != nil {
		errs = append(errs, fmt.Errorf("journal: deleting %s: %w", name, err))
	}
	return errors.Join(errs...)
}

// uniqueName returns name with a suffix no other call of this process
// returns; called with d.mu held.
func (d *Dir) uniqueName(name string) string {
	d.seq++
	return name + "-" + strconv.Itoa(os.Getpid()) + "-" + strconv.Itoa(d.seq)
}

// forget drops a closed journal from the open set.
func (d *Dir) forget(j *Journal) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.open[j.name] == j {
		delete(d.open, j.name)
	}
}

// Close closes every stream still open and releases the lock.
func (d *Dir) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	open := make([]*Journal, 0, len(d.open))
	for _, j := range d.open {
		open = append(open, j)
	}
	d.mu.Unlock()
	var errs []error
	for _, j := range open {
		if err := j.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := d.lock.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
