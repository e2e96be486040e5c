// Package journal is BadBatch's durable record of events: an append-only,
// segmented log of batches per stream (one stream per disruptor), and the
// LMAX journaller, a disruptor event handler that writes every event of a
// ring to it before the business logic sees it.
//
// # The pieces
//
//   - [Dir]: a data directory, locked against a second process
//     ([ErrLocked] names the lock file), holding one sub-directory per
//     stream. [OpenDir], [Dir.Create], [Dir.Open], [Dir.Delete],
//     [Dir.Streams], [Dir.Meta].
//   - [Journal]: one stream. [Journal.Append] writes [Batch]es (events at
//     consecutive sequences, a time, an optional idempotency key and its
//     64-bit hash) and returns once they reached the durability point of
//     the [SyncMode]. [Journal.Write] and [Journal.WaitDurable] split it
//     for callers that order appends under their own lock, so that
//     concurrent appends share an fsync (group commit).
//   - [Reader]: replay from any sequence kept, across segments, while the
//     journal goes on appending; [Journal.WaitFor] waits for more (a live
//     tail's catch-up). [Journal.SequenceAt] finds where the batches of
//     the last window of time start (idempotency keys on recovery).
//   - Retention ([Retention]: max age, bytes, events; whole segments
//     dropped, [Journal.Oldest] reported) and [Journal.Purge].
//   - [Journal.SetMeta]: the stream's small metadata (the engine's
//     disruptor config and lifecycle state), replaced atomically.
//   - [Journaller]: d.HandleEventsWith(journaller).Then(logic), with
//     [Journaller.WaitFor] for a producer that acknowledges only durable
//     events.
//   - [FS]: the few file operations used, so tests inject faults.
//
// # On disk
//
// A stream's directory holds segment files named by their first sequence
// (00000000000000001000.log), each a 24-byte header and records; a sparse
// index per sealed segment (.index: sequence → offset every 4 KiB,
// rebuilt when missing or invalid); stream.json (the oldest sequence
// kept) and meta (the caller's bytes). A record is a 12-byte header
// (length, CRC-32C of the body, CRC-32C of the header) and a body with the
// batch's first sequence, count, time, key and hash, then the events:
// payload, binary flag, metadata pairs. The format is versioned in every
// file's header. docs/durability.md has the byte layout.
//
// CRC-32C (Castagnoli) rather than xxhash: it is what Kafka, ext4, iSCSI
// and LevelDB use to check stored records, it detects every burst error
// up to 32 bits (a hash promises nothing of the kind), Go's hash/crc32
// computes it with the CPU's CRC32 instruction (several GB/s, far above
// what the disk takes), and it is in the standard library.
//
// # Durability and recovery
//
// SyncAlways fsyncs before Append returns; SyncInterval (the default)
// writes before it returns and fsyncs every 100ms or 1 MiB; SyncNever
// leaves flushing to the OS. A crash of the process loses nothing
// acknowledged in any mode; a power loss loses what the mode allows, and
// always a suffix, never a hole: segments are fsynced when sealed.
//
// Opening a stream recovers it: a torn tail (a record a crash cut short,
// or zeros) is truncated at the last whole record and reported (logged
// with file and offset, and in [Journal.Recovery]); a corrupt record in
// the middle stops the open with a [*CorruptError] naming file and offset,
// unless the operator asks for [Options.Repair]; missing indexes are
// rebuilt; a zero-length segment left by a crash is removed. A write that
// fails (a full disk) returns [ErrUnavailable] with nothing kept and the
// file cut back, so the next append leaves no hole; a failed fsync
// returns [ErrSyncFailed] (the outcome is unknown) and the journal refuses
// writes until reopened.
//
// # Why not a library
//
// We compared github.com/tidwall/wal, go.etcd.io/etcd/server/v3/storage/wal,
// github.com/hashicorp/raft-wal and github.com/cockroachdb/pebble's
// record and wal packages (docs/durability.md has the table). None offers
// together what a disruptor's journal needs: a CRC per record with torn
// tails truncated and corruption in the middle refused, group commit for
// concurrent appenders, sequence-addressed reads of batches numbered from
// an arbitrary first sequence, and retention by age, bytes and count.
// BenchmarkCompare runs ours beside tidwall/wal and raft-wal on the same
// events; docs/durability.md has the figures.
package journal
