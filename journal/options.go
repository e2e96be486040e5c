package journal

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// SyncMode is when the journal calls fsync, and so what an acknowledged
// append survives. See docs/durability.md for the whole table.
type SyncMode uint8

const (
	// SyncInterval writes each append to the file before it returns (it
	// survives a crash of the process) and fsyncs in the background every
	// [Options.SyncInterval] or [Options.SyncBytes] unsynced bytes,
	// whichever comes first: a power loss may lose the appends of the last
	// interval. The default.
	SyncInterval SyncMode = iota
	// SyncAlways fsyncs before an append returns: an acknowledged append
	// survives a power loss. Appends waiting at the same time share one
	// fsync (group commit).
	SyncAlways
	// SyncNever writes each append to the file before it returns and
	// leaves flushing to the operating system: a power loss may lose
	// anything since the last segment was sealed, the last [Journal.Sync]
	// or the last clean [Journal.Close], which do fsync.
	SyncNever
)

var syncNames = [...]string{SyncInterval: "interval", SyncAlways: "always", SyncNever: "never"}

func (m SyncMode) String() string {
	if int(m) < len(syncNames) {
		return syncNames[m]
	}
	return fmt.Sprintf("SyncMode(%d)", m)
}

// ParseSyncMode maps a config name ("always", "interval", "never"; case
// does not matter) to its SyncMode.
func ParseSyncMode(s string) (SyncMode, error) {
	for m, name := range syncNames {
		if strings.EqualFold(s, name) {
			return SyncMode(m), nil
		}
	}
	return 0, fmt.Errorf("journal: invalid sync mode %q: want one of %v", s, syncNames)
}

// Retention bounds what a journal keeps. Zero fields mean no bound. Whole
// segments are dropped, oldest first, and only when everything in them is
// outside every bound set, so a journal keeps at least the newest
// MaxEvents events and MaxBytes bytes, and may keep up to one segment more
// (as Kafka's retention.bytes does).
type Retention struct {
	// MaxAge drops a segment once its newest batch is older than MaxAge.
	// The active segment is sealed after MaxAge/8 (counted from its first
	// batch), so expired events outlive MaxAge by at most an eighth of it.
	MaxAge time.Duration
	// MaxBytes drops the oldest segments while the others hold MaxBytes
	// or more.
	MaxBytes int64
	// MaxEvents drops the oldest segments while the others hold MaxEvents
	// events or more.
	MaxEvents int64
}

// Options are one stream's settings. Start from [DefaultOptions]; the zero
// value is not valid.
type Options struct {
	// Sync is when the journal fsyncs; SyncInterval by default.
	Sync SyncMode
	// SyncInterval is the longest an append waits for its fsync in
	// SyncInterval mode: 100ms by default.
	SyncInterval time.Duration
	// SyncBytes is how many unsynced bytes trigger an fsync in
	// SyncInterval mode before the interval ends: 1 MiB by default.
	SyncBytes int64
	// SegmentBytes is the size after which the active segment is sealed
	// and a new one started: 64 MiB by default, at most 1 GiB. A segment
	// is the unit of retention.
	SegmentBytes int64
	// IndexInterval is how many bytes of records separate two entries of
	// a segment's sparse index: 4 KiB by default (Kafka's
	// index.interval.bytes). A read seeks to the entry before it, then
	// scans at most this much.
	IndexInterval int
	// MaxRecordBytes bounds one encoded batch: 64 MiB by default, at most
	// 256 MiB.
	MaxRecordBytes int
	// Retention bounds what the journal keeps; nothing is dropped by
	// default.
	Retention Retention
	// RetentionCheck is how often retention runs in the background, besides
	// each time a segment is sealed: 10s by default.
	RetentionCheck time.Duration
	// Verify makes Open check the checksum of every record of every
	// segment, instead of scanning only the active segment and the
	// segments whose index is missing or invalid (sealed segments are
	// checked when they are read).
	Verify bool
	// Repair makes Open truncate a stream at a corrupt record, dropping
	// that record and everything after it, instead of refusing to open it
	// with [ErrCorrupt]. It is the operator's way out of a damaged disk:
	// take a copy of the stream's directory first. What was dropped is
	// logged at error level and reported by [Journal.Recovery].
	Repair bool
}

// DefaultOptions returns the defaults: SyncInterval every 100ms or 1 MiB,
// 64 MiB segments indexed every 4 KiB, no retention bound.
func DefaultOptions() Options {
	return Options{
		Sync:           SyncInterval,
		SyncInterval:   100 * time.Millisecond,
		SyncBytes:      1 << 20,
		SegmentBytes:   64 << 20,
		IndexInterval:  4 << 10,
		MaxRecordBytes: 64 << 20,
		RetentionCheck: 10 * time.Second,
	}
}

const (
	maxSegmentBytes = 1 << 30
	maxRecordLimit  = 256 << 20 // the format's bound on one record, whatever the options say
)

// Validate returns every problem with o at once, joined, each naming its
// setting, or nil.
func (o Options) Validate() error {
	var errs []error
	bad := func(setting string, value any, reason string) {
		errs = append(errs, fmt.Errorf("journal: invalid %s %v: %s", setting, value, reason))
	}
	if int(o.Sync) >= len(syncNames) {
		bad("sync", o.Sync, fmt.Sprintf("want one of %v", syncNames))
	}
	if o.SyncInterval <= 0 {
		bad("sync_interval", o.SyncInterval, "must be positive")
	}
	if o.SyncBytes <= 0 {
		bad("sync_bytes", o.SyncBytes, "must be positive")
	}
	if o.SegmentBytes < 4<<10 || o.SegmentBytes > maxSegmentBytes {
		bad("segment_bytes", o.SegmentBytes, fmt.Sprintf("must be from 4096 to %d", maxSegmentBytes))
	}
	if o.IndexInterval <= 0 {
		bad("index_interval", o.IndexInterval, "must be positive")
	}
	if o.MaxRecordBytes < 1<<10 || o.MaxRecordBytes > maxRecordLimit {
		bad("max_record_bytes", o.MaxRecordBytes, fmt.Sprintf("must be from 1024 to %d", maxRecordLimit))
	}
	if o.Retention.MaxAge < 0 {
		bad("retention.max_age", o.Retention.MaxAge, "must not be negative")
	}
	if o.Retention.MaxBytes < 0 {
		bad("retention.max_bytes", o.Retention.MaxBytes, "must not be negative")
	}
	if o.Retention.MaxEvents < 0 {
		bad("retention.max_events", o.Retention.MaxEvents, "must not be negative")
	}
	if o.RetentionCheck <= 0 {
		bad("retention_check", o.RetentionCheck, "must be positive")
	}
	return errors.Join(errs...)
}

// DirOptions are the settings of a [Dir], shared by its streams.
type DirOptions struct {
	// FS is the file system the journal uses; nil means the operating
	// system's. Tests inject faults through it.
	FS FS
	// Logger receives recovery reports (torn tails truncated, indexes
	// rebuilt, corruption repaired) and background failures. Nil means
	// silent.
	Logger *slog.Logger
	// Now is the clock of retention by age; nil means time.Now.
	Now func() time.Time
	// OnSync, when set, is called after every fsync of a segment (group
	// commits, background syncs and seals) with the stream's name and how
	// long the fsync took: a metrics hook. It may be called with the
	// stream's lock held: it must be quick and must not call the journal.
	OnSync func(stream string, took time.Duration)
}
