package journal

import (
	"errors"
	"fmt"
)

// Sentinel errors. Each is documented with the calls that return it; match
// them with errors.Is, since they usually arrive wrapped with the file,
// offset or sequence concerned.
var (
	// ErrUnavailable is returned by [Journal.Append] and [Journal.Write]
	// when the journal cannot take the batch now: the disk is full, a
	// write failed, or an earlier failure left the journal refusing writes
	// until it is reopened. Nothing of the batch is kept and the journal
	// stays consistent: a later append at the same sequence leaves no hole
	// and no half record. The server answers it with 507/503
	// JOURNAL_UNAVAILABLE.
	ErrUnavailable = errors.New("journal: unavailable")

	// ErrSyncFailed is returned by [Journal.Append], [Journal.Sync] and
	// [Journal.Close] when fsync failed. The batch was written but may not
	// be on stable storage: the outcome is unknown (the server answers
	// OUTCOME_UNKNOWN). After it the journal refuses writes with
	// [ErrUnavailable] until it is closed and reopened; what the reopened
	// journal holds is the truth. errors.Is(err, ErrUnavailable) is true
	// for it as well.
	ErrSyncFailed = fmt.Errorf("%w: fsync failed, the outcome of the append is unknown", ErrUnavailable)

	// ErrCorrupt is returned by [Dir.Open] and [Reader.Next] when a record
	// in the middle of a segment fails its checksum or does not decode.
	// The error is a [*CorruptError] naming the file and offset. Recovery
	// of the stream stops there; see [Options.Repair] for the way out.
	ErrCorrupt = errors.New("journal: corrupt record")

	// ErrSequence is returned by [Journal.Append] and [Journal.Write] for a
	// batch that does not start at [Journal.Next], or batches that do not
	// follow one another. Nothing is written.
	ErrSequence = errors.New("journal: batch out of sequence")

	// ErrEvicted is returned by [Journal.NewReader] and [Reader.Next] for
	// a sequence below [Journal.Oldest]: retention or a purge dropped it.
	ErrEvicted = errors.New("journal: sequence evicted")

	// ErrInvalidBatch is returned by [Journal.Append] and [Journal.Write]
	// for a batch without events, one whose encoded record would exceed
	// [Options.MaxRecordBytes], or one whose key is too long. Nothing is
	// written.
	ErrInvalidBatch = errors.New("journal: invalid batch")

	// ErrClosed is returned by every call on a closed [Journal], [Reader]
	// or [Dir].
	ErrClosed = errors.New("journal: closed")

	// ErrLocked is returned by [OpenDir] when another process (or another
	// Dir in this one) holds the data directory's lock; the message names
	// the lock file.
	ErrLocked = errors.New("journal: data directory locked")

	// ErrNotFound is returned by [Dir.Open], [Dir.Meta] and [Dir.Delete]
	// for a stream that does not exist.
	ErrNotFound = errors.New("journal: stream not found")

	// ErrExists is returned by [Dir.Create] for a stream that exists.
	ErrExists = errors.New("journal: stream exists")

	// ErrBusy is returned by [Dir.Open] and [Dir.Create] for a stream this
	// Dir has open already.
	ErrBusy = errors.New("journal: stream already open")
)

// CorruptError is the [ErrCorrupt] of a record that failed its checksum or
// did not decode, in the middle of a segment where a crash cannot have
// left it.
type CorruptError struct {
	// File is the segment file's path.
	File string
	// Offset is the byte offset of the bad record in File.
	Offset int64
	// Reason says what was wrong.
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("journal: corrupt record in %s at offset %d: %s", e.File, e.Offset, e.Reason)
}

// Is reports whether target is [ErrCorrupt].
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }
