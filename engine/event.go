package engine

import (
	"encoding/binary"
	"time"

	"github.com/cespare/xxhash/v2"
)

// Event is one event: an opaque payload with metadata.
//
// Given to [Engine.Publish], only Payload, Binary and Metadata count, and
// the engine copies them into the ring: the caller keeps its buffers. Read
// back ([Engine.Read], [Subscription.Poll]), Sequence and Time are set too,
// and Payload points into the [Records] it was read into.
type Event struct {
	// Sequence is the event's position in its disruptor, from 0.
	Sequence int64
	// Time is when the event was published.
	Time time.Time
	// Payload is the event's content: a JSON document unless Binary.
	Payload []byte
	// Binary marks a payload that is opaque bytes rather than JSON text.
	// The API serves it base64-encoded in JSON and YAML, and as bin in
	// MessagePack. A disruptor with a schema refuses binary payloads.
	Binary bool
	// Metadata is a list of string pairs, in the order given. The API
	// carries a client's W3C trace context here, as "traceparent" and
	// "tracestate".
	Metadata []Metadata
}

// Metadata is one metadata entry of an [Event].
type Metadata struct {
	Key, Value string
}

// Size is what counts against a disruptor's maximum event size: the
// payload plus every metadata key and value.
func (e *Event) Size() int {
	n := len(e.Payload)
	for _, m := range e.Metadata {
		n += len(m.Key) + len(m.Value)
	}
	return n
}

// Batch is what [Engine.Publish] takes: events for one disruptor, published
// together at consecutive sequences, or not at all.
type Batch struct {
	// Events are published in this order.
	Events []Event
	// IdempotencyKey, when set, makes a retry safe: a batch published with
	// the same key within the dedup window is not published again, and
	// Publish returns the sequences of the first.
	IdempotencyKey string
	// Time stamps the events and is the time the dedup window counts
	// from; the zero value means now. A replicated publish sets it on the
	// leader, so every replica stores the same times and forgets the same
	// keys.
	Time time.Time
	// Duplicate is set by Publish when the batch was recognised as a retry
	// of one already published under IdempotencyKey: the sequences returned
	// are the original ones and nothing new was published.
	Duplicate bool
}

// Records is a reusable buffer that reads copy events into. The events'
// payloads point into it and stay valid until it is used again. The zero
// value is ready to use; a Records must not be used by two goroutines at
// once.
type Records struct {
	// Events are the events read, in sequence order.
	Events []Event

	arena []byte
	offs  []int // offs[i] is where Events[i]'s payload starts in arena
}

// Reset empties r, keeping its memory.
func (r *Records) Reset() {
	clear(r.Events) // drop the metadata strings
	r.Events = r.Events[:0]
	r.arena = r.arena[:0]
	r.offs = r.offs[:0]
}

// add appends a copy of the slot's event. It must be called with the
// slot's region lock held; finish fixes the payload slices afterwards.
func (r *Records) add(s *slot) {
	r.offs = append(r.offs, len(r.arena))
	r.arena = append(r.arena, s.payload...)
	r.Events = append(r.Events, Event{
		Sequence: s.seq,
		Time:     time.Unix(0, s.time).UTC(),
		Binary:   s.binary,
		Metadata: unpackMetadata(s.meta, int(s.nmeta)),
	})
}

// finish points the payloads added since from into the arena, which may
// have moved while growing.
func (r *Records) finish(from int) {
	for i := from; i < len(r.Events); i++ {
		end := len(r.arena)
		if i+1 < len(r.offs) {
			end = r.offs[i+1]
		}
		r.Events[i].Payload = r.arena[r.offs[i]:end:end]
	}
}

// slot is one preallocated entry of a hosted ring.
//
// The publishing goroutine writes a slot only with the slot's region lock
// held for writing; replay readers and subscribers read it with the region
// lock held for reading and check seq, which tells them whether the event
// they want is still there. The built-in consumers read time without the
// lock: the ring's gating sequences keep the producer off the slot while
// they do.
type slot struct {
	seq     int64  // the sequence stored; -1 before the first lap
	time    int64  // publish time, Unix nanoseconds
	nmeta   int32  // number of metadata entries in meta
	binary  bool   // the payload is opaque bytes, not JSON
	payload []byte // reused from lap to lap
	meta    []byte // packed metadata, reused: (uvarint len, key, uvarint len, value)...
}

// packMetadata appends the packed form of md to dst.
func packMetadata(dst []byte, md []Metadata) []byte {
	for _, m := range md {
		dst = binary.AppendUvarint(dst, uint64(len(m.Key)))
		dst = append(dst, m.Key...)
		dst = binary.AppendUvarint(dst, uint64(len(m.Value)))
		dst = append(dst, m.Value...)
	}
	return dst
}

// unpackMetadata is the inverse of packMetadata.
func unpackMetadata(b []byte, n int) []Metadata {
	if n == 0 {
		return nil
	}
	md := make([]Metadata, 0, n)
	for len(b) > 0 {
		var kv [2]string
		for i := range kv {
			l, w := binary.Uvarint(b)
			b = b[w:]
			kv[i] = string(b[:l])
			b = b[l:]
		}
		md = append(md, Metadata{Key: kv[0], Value: kv[1]})
	}
	return md
}

// BatchHash fingerprints a batch's content (each event's payload, binary
// flag and metadata, with their lengths), so that an idempotency key
// reused with a different batch is told apart from a retry. It is 64-bit
// xxHash (XXH64), computed the same on every node and by every version:
// the replicated state machine stores it in its snapshots, so it must
// never change.
func BatchHash(events []Event) uint64 {
	d := xxhash.New()
	var hdr [binary.MaxVarintLen64*2 + 1]byte
	for i := range events {
		e := &events[i]
		n := binary.PutUvarint(hdr[:], uint64(len(e.Payload)))
		n += binary.PutUvarint(hdr[n:], uint64(len(e.Metadata)))
		hdr[n] = 0
		if e.Binary {
			hdr[n] = 1
		}
		_, _ = d.Write(hdr[:n+1])
		_, _ = d.Write(e.Payload)
		for _, m := range e.Metadata {
			n := binary.PutUvarint(hdr[:], uint64(len(m.Key)))
			_, _ = d.Write(hdr[:n])
			_, _ = d.WriteString(m.Key)
			n = binary.PutUvarint(hdr[:], uint64(len(m.Value)))
			_, _ = d.Write(hdr[:n])
			_, _ = d.WriteString(m.Value)
		}
	}
	return d.Sum64()
}
