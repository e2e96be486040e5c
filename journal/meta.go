package journal

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// A stream's directory holds, besides its segments:
//
//	stream.json  the manifest: the format version and the stream's start
//	             (the oldest sequence kept, moved by purges)
//	meta         the caller's metadata: opaque bytes (the engine's
//	             disruptor config and lifecycle state), checksummed
//
// Both are replaced atomically: written to a temporary file, fsynced,
// renamed over the old one, and the directory fsynced.
const (
	manifestFile = "stream.json"
	metaFile     = "meta"
	tmpSuffix    = ".tmp"

	metaMagic      = "BBJM"
	metaHeaderSize = 12 // magic | version u16 | reserved u16 | crc32c(data) u32
)

// manifest is the content of stream.json.
type manifest struct {
	Format int   `json:"format"`
	Start  int64 `json:"start"`
}

func writeManifest(fsys FS, dir string, start int64) error {
	b, err := json.Marshal(manifest{Format: formatVersion, Start: start})
	if err != nil {
		return err
	}
	return writeFileAtomic(fsys, filepath.Join(dir, manifestFile), append(b, '\n'), true)
}

func readManifest(fsys FS, dir string) (manifest, error) {
	path := filepath.Join(dir, manifestFile)
	b, err := readFile(fsys, path)
	if err != nil {
		return manifest{}, err
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return manifest{}, fmt.Errorf("journal: %s: %w", path, err)
	}
	if m.Format != formatVersion {
		return manifest{}, fmt.Errorf("journal: %s: format %d, this build reads format %d", path, m.Format, formatVersion)
	}
	if m.Start < 0 {
		return manifest{}, fmt.Errorf("journal: %s: negative start %d", path, m.Start)
	}
	return m, nil
}

func encodeMeta(data []byte) []byte {
	b := make([]byte, metaHeaderSize, metaHeaderSize+len(data))
	copy(b, metaMagic)
	binary.LittleEndian.PutUint16(b[4:], formatVersion)
	binary.LittleEndian.PutUint32(b[8:], crc(data))
	return append(b, data...)
}

func readMeta(fsys FS, dir string) ([]byte, error) {
	path := filepath.Join(dir, metaFile)
	b, err := readFile(fsys, path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	if len(b) < metaHeaderSize || string(b[:4]) != metaMagic {
		return nil, fmt.Errorf("%w: %s is not a journal metadata file", ErrCorrupt, path)
	}
	if v := binary.LittleEndian.Uint16(b[4:]); v != formatVersion {
		return nil, fmt.Errorf("journal: %s: format %d, this build reads format %d", path, v, formatVersion)
	}
	data := b[metaHeaderSize:]
	if binary.LittleEndian.Uint32(b[8:]) != crc(data) {
		return nil, fmt.Errorf("%w: %s: checksum mismatch", ErrCorrupt, path)
	}
	return data, nil
}

// writeFileAtomic replaces path with data: a temporary file, fsync (when
// durable), rename, fsync of the directory (when durable). A reader sees
// the old content or the new, never a mix.
func writeFileAtomic(fsys FS, path string, data []byte, durable bool) error {
	tmp := path + tmpSuffix
	f, err := fsys.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(data, 0)
	if err == nil && durable {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fsys.Rename(tmp, path)
	}
	if err != nil {
		_ = fsys.Remove(tmp)
		return err
	}
	if durable {
		return fsys.SyncDir(filepath.Dir(path))
	}
	return nil
}

// Meta returns the stream's metadata, as last given to SetMeta or Create.
// The slice must not be modified.
func (j *Journal) Meta() []byte {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.meta
}

// SetMeta replaces the stream's metadata atomically and durably: after a
// crash the stream has the old metadata or the new, whole. The journal
// keeps its own copy of data.
func (j *Journal) SetMeta(data []byte) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return ErrClosed
	}
	if err := writeFileAtomic(j.fs, filepath.Join(j.dir, metaFile), encodeMeta(data), true); err != nil {
		return fmt.Errorf("%w: writing the metadata of %s: %w", ErrUnavailable, j.name, err)
	}
	j.meta = append([]byte(nil), data...)
	return nil
}
