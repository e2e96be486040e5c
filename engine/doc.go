// Package engine hosts named disruptors as a service: it is what the REST
// API serves, between the API and the core library ([disruptor]).
//
// # Events and rings
//
// Every hosted disruptor is a ring of preallocated slots. An [Event] is an
// opaque payload (usually JSON text, or [Event.Binary] bytes) with
// [Metadata]; publishing copies it into a slot whose buffers are reused
// from lap to lap, so a steady stream allocates nothing per event. The ring
// is also the retention window: the last buffer_size events stay readable
// by sequence, and older ones are evicted as the ring wraps.
//
// A ring numbers its events from 0, or from [DisruptorConfig.FirstSequence]
// when that is set (a replicated ring restored from a snapshot resumes its
// numbering so); the sequences before the first count as evicted.
//
// # The publish path
//
// A hosted ring has one publish path: it takes a [Batch] for one
// disruptor and returns the sequence of its first event (the batch takes
// consecutive sequences from there), or an error, publishing all of it or
// none. It validates (sizes, metadata, the optional JSON Schema),
// deduplicates by idempotency key within a window (a key is never
// forgotten early: a full window refuses new keys, [ErrDedupWindowFull]),
// claims slots (waiting up to the publish timeout when the ring is full
// under [OverflowBlock], or not at all under [OverflowReject]), copies the
// events in and publishes them. A "single" producer disruptor serialises
// publishes (the single-writer principle); a "multi" one lets them claim
// concurrently.
//
// # One write door
//
// Every change of a hosted disruptor (publish, state change, delete) goes
// through its [Writer], which [Engine.Writer] resolves from the name: the
// disruptor's [*Ring] for a local one, the owner's Writer for one created
// with [Engine.CreateOwned] (a replicated one, whose owner orders changes
// through its log and applies them through the Ring only it holds). Which
// of the two a name has is fixed when the disruptor is created, under the
// lock of the engine's names; [Engine.Publish], [Engine.SetState] and
// [Engine.Delete] are that door for local disruptors and refuse owned
// ones ([ErrReplicated]). A Writer acts on the disruptor it was resolved
// for, never on one created later under the same name.
//
// # Consumers and readers
//
// Each ring has two built-in consumers on their own goroutines, owned by
// the core library's [disruptor.Disruptor]:
//
//   - the fan-out consumer, which records how far the live subscribers may
//     read and wakes them;
//   - the metrics consumer, which counts events and records their
//     publish-to-consume latency (Prometheus buckets and an HDR histogram
//     for p50/p95/p99).
//
// Readers are not consumers: [Engine.Read] (replay from a sequence) and
// [Subscription] (live tail) copy events out of the ring under per-region
// read locks and check each slot's sequence, so they never hold publishers
// back. A reader that asks for an overwritten sequence gets an
// [*EvictedError] naming the oldest one still there.
//
// # Slow subscribers
//
// A live subscriber that falls more than a ring behind has lost events. By
// default ([LagDisconnect]) its subscription ends with a [*LaggedError]
// naming the last sequence it was given, so it can resume (and learn from
// a 410 whether that is still possible); with [LagSkip] it jumps to the
// oldest event still held and is told the [Gap]. Either way nothing is
// buffered per subscriber and nobody waits for it.
//
// # Durability
//
// A local disruptor is [DurabilityMemory] (the default: its ring is all
// there is) or [DurabilityJournal]: with [Config.Journal] set, each of its
// publishes is written to its own journal ([journal.Journal]) under the
// publish token, at the sequence the ring then gives it, before it is
// copied into the ring and answered; its state changes are recorded in
// the journal's metadata first; [Engine.Recover] brings it back from the
// journal after a restart; reads and subscriptions below the ring are
// served from the journal, and [Ring.Purge] drops what is below a
// sequence. A replicated disruptor is never journaled: its record is its
// owner's log.
//
// # Lifecycle
//
// A disruptor moves created → running ⇄ paused → stopped, and is deleted
// from any state; see [State] for the table. Paused refuses new events
// while the consumers drain; stopped has drained and stopped them, and
// keeps its ring readable until deleted. Transitions wait for the
// publishes in flight.
//
// # Determinism
//
// The lifecycle table ([State.CanTransition]), the idempotency window and
// the rate and latency figures are plain types driven by the caller's
// clock ([Config.Clock]) and tested without goroutines; the goroutines are
// the core library's processors, started and stopped by the lifecycle.
//
// # Errors
//
// Every failure wraps one of the package's sentinel errors (ErrNotFound,
// ErrRingFull, ...), some through a typed error with details. [Code] maps
// them to the stable codes the API reports.
package engine
