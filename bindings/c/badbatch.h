/*
 * badbatch.h: the BadBatch disruptor from C.
 *
 * A disruptor here is a ring of `slots` events of `event_size` bytes each,
 * with a length beside every event (at most event_size). Producers claim
 * slots, fill them and publish them; consumers are C callbacks, called with
 * each batch on a thread of their own, or pollers that copy events out.
 *
 *     bb_disruptor d;
 *     bb_new(1024, 64, "multi", "blocking", &d, NULL, 0);
 *     bb_handle_events(d, on_batch, my_ctx);      // before bb_start
 *     bb_start(d);
 *     bb_publish_copy(d, "hello", 5, NULL);        // any thread
 *     bb_shutdown(d, -1);                          // drain, stop consumers
 *     bb_free(d);
 *
 * Build: go build -buildmode=c-shared -o libbadbatch.so ./bindings/c
 *   (or -buildmode=c-archive -o libbadbatch.a, linked with -lpthread).
 *
 * ERRORS
 *   Every call returns BB_OK (0) or a BB_E* code below; bb_strerror and
 *   bb_error_name describe one. Out-parameters are written only on BB_OK.
 *   Codes are stable: never renumbered, new ones added at the end.
 *
 * OWNERSHIP
 *   - Handles (bb_disruptor, bb_poller) are opaque numbers, not pointers.
 *     A freed handle, or a handle of the other kind, gets BB_EHANDLE; 0 is
 *     never a valid handle.
 *   - The library keeps no pointer the caller passes in beyond the call,
 *     except a callback's ctx, which it passes back and never reads.
 *   - The ring's memory (bb_ring, bb_get, the pointers a callback gets) is
 *     the library's, allocated with malloc and freed by bb_free. A producer
 *     may write the slots it has claimed until it publishes them; a
 *     callback may read its batch until it returns. Nobody may keep such a
 *     pointer beyond that.
 *   - Strings from bb_strerror and bb_error_name are static: never free
 *     them.
 *
 * THREADS
 *   - Any thread may call any function, following these rules:
 *   - "single" producer: one thread at a time claims and publishes, and
 *     successive producer threads synchronise with each other (a mutex, a
 *     join). "multi": any number of threads at once.
 *   - bb_handle_events and bb_poller_new are called before bb_start; they
 *     and bb_start are not called concurrently with each other.
 *   - Each callback consumer runs on one thread of its own, created by the
 *     library, for its whole life: calls of one callback never overlap and
 *     are always on the same thread; different consumers run concurrently.
 *     A callback must not call bb_shutdown, bb_halt or bb_free of its own
 *     disruptor (they wait for it), and should not claim from it (a full
 *     ring would wait for the callback itself).
 *   - One thread at a time polls a given poller.
 *   - bb_free is the last call on a disruptor: no other thread may be
 *     inside a call on it, or use its memory, or poll its pollers.
 *
 * SHUTDOWN
 *   bb_shutdown stops new claims (BB_ESHUTDOWN), waits for the claims in
 *   progress to be published and for every callback consumer to handle
 *   every published event, then stops the consumers. A producer waiting for
 *   room gives up with BB_ESHUTDOWN. Pollers read on until they have every
 *   published event, then get BB_ESHUTDOWN. Publishing a claimed slot is
 *   mandatory: bb_shutdown from the thread that holds an unpublished claim
 *   waits until its timeout (BB_ETIMEOUT).
 */
#ifndef BADBATCH_H
#define BADBATCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes (bindings/internal/bytering keeps the one table). */
enum {
	BB_OK = 0,          /* success */
	BB_EINVAL = 1,      /* an argument is out of range or NULL */
	BB_EHANDLE = 2,     /* not a live handle of this kind */
	BB_ECONFIG = 3,     /* a setting of bb_new is invalid (errbuf says which) */
	BB_ENOMEM = 4,      /* the ring's memory could not be allocated */
	BB_EFULL = 5,       /* no room in the ring now (bb_try_* calls) */
	BB_ECLAIM = 6,      /* a claim of fewer than 1 or more slots than the ring has */
	BB_ETOOLARGE = 7,   /* a payload longer than event_size */
	BB_ENOTSTARTED = 8, /* publishing before bb_start */
	BB_ESTARTED = 9,    /* bb_handle_events, bb_poller_new or bb_start after bb_start */
	BB_ESHUTDOWN = 10,  /* the disruptor is shut down or shutting down */
	BB_EHALTED = 11,    /* a consumer stopped: its callback returned non-zero */
	BB_ETIMEOUT = 12,   /* bb_shutdown gave up: consumers halted without draining */
	BB_EINTERNAL = 13   /* a bug in the library */
};

/* Opaque handles. */
typedef uintptr_t bb_disruptor;
typedef uintptr_t bb_poller;

/*
 * A callback consumer: called with each run of consecutive published
 * events, count of them from sequence first. Event k (0 <= k < count) is the
 * lengths[k] bytes at (const char *)events + k * event_size. The memory is
 * the ring's, readable until the callback returns. Return 0 to go on; any
 * other value stops this consumer for good (the disruptor then reports
 * BB_EHALTED).
 */
typedef int (*bb_handler)(void *ctx, int64_t first, size_t count,
                          const void *events, const uint32_t *lengths,
                          size_t event_size);

/* The ring's memory, for producers that write claimed slots in place:
 * event seq lives at index i = seq & (slots - 1), its bytes at
 * events + i * event_size and its length in lengths[i]. */
typedef struct {
	void *events;
	uint32_t *lengths;
	size_t slots;
	size_t event_size;
} bb_ring_info;

#ifndef BADBATCH_NO_PROTOTYPES

/* Creation and lifecycle. */

/* Makes a disruptor of slots events (a power of 2, up to 2^30) of
 * event_size bytes (1 to 1 MiB). producer: "single" or "multi" (NULL:
 * "multi"). wait: busy_spin, yielding, sleeping, blocking, lite_blocking,
 * timeout_blocking or phased_backoff (NULL: "blocking"). On BB_ECONFIG a
 * message naming every bad setting is written to errbuf (NUL-terminated,
 * truncated to errbuf_len) unless errbuf is NULL. */
int bb_new(size_t slots, size_t event_size, const char *producer,
           const char *wait, bb_disruptor *out, char *errbuf,
           size_t errbuf_len);

/* Adds a callback consumer (before bb_start). Every consumer sees every
 * event. ctx is passed back to fn as is. */
int bb_handle_events(bb_disruptor d, bb_handler fn, void *ctx);

/* Adds a poller (before bb_start); free it with bb_poller_free. */
int bb_poller_new(bb_disruptor d, bb_poller *out);

/* Starts the consumers: publishing may begin. */
int bb_start(bb_disruptor d);

/* Drains and stops (see SHUTDOWN above). timeout_ns < 0 waits for ever.
 * BB_OK when drained; BB_EHALTED when a consumer had stopped; BB_ETIMEOUT
 * when the timeout passed first. A second call returns the first's
 * result. */
int bb_shutdown(bb_disruptor d, int64_t timeout_ns);

/* Stops the consumers now, without draining. */
int bb_halt(bb_disruptor d);

/* Halts if still running, frees the ring's memory and the handle and the
 * handles of its pollers. The last call on d. */
int bb_free(bb_disruptor d);

/* Claiming and publishing. */

/* Claims one slot, waiting while the ring is full: *seq is its sequence.
 * Gives up with BB_ESHUTDOWN or BB_EHALTED. Every claim must be published. */
int bb_next(bb_disruptor d, int64_t *seq);
/* Claims n consecutive slots (1 to slots); *hi is the highest, the claim
 * is *hi-n+1 .. *hi. */
int bb_next_n(bb_disruptor d, size_t n, int64_t *hi);
/* As bb_next and bb_next_n, without waiting: BB_EFULL when there is no
 * room now (nothing is claimed then). */
int bb_try_next(bb_disruptor d, int64_t *seq);
int bb_try_next_n(bb_disruptor d, size_t n, int64_t *hi);

/* The ring's memory (see bb_ring_info): fixed for the disruptor's life. */
int bb_ring(bb_disruptor d, bb_ring_info *out);
/* The slot of a claimed seq, event_size bytes; sets its length to
 * event_size. */
int bb_get(bb_disruptor d, int64_t seq, void **event);
/* Sets the length of a claimed seq (<= event_size). */
int bb_set_length(bb_disruptor d, int64_t seq, size_t len);
/* Copies len bytes (<= event_size) into a claimed seq and sets its
 * length. */
int bb_write(bb_disruptor d, int64_t seq, const void *src, size_t len);

/* Publishes a claimed seq, or the claimed lo..hi. */
int bb_publish(bb_disruptor d, int64_t seq);
int bb_publish_range(bb_disruptor d, int64_t lo, int64_t hi);

/* Claims one slot, copies len bytes into it and publishes it: one call.
 * *seq (if seq is not NULL) is its sequence. The try variant does not
 * wait (BB_EFULL). */
int bb_publish_copy(bb_disruptor d, const void *src, size_t len, int64_t *seq);
int bb_try_publish_copy(bb_disruptor d, const void *src, size_t len, int64_t *seq);

/* Publishes n events (1 to slots) in one claim: event k is the next
 * lengths[k] bytes of src, which holds exactly their sum. With lengths
 * NULL, every event is event_size bytes (src holds n * event_size). *hi
 * (if hi is not NULL) is the highest sequence. Nothing is claimed unless
 * the whole batch is valid. The try variant does not wait (BB_EFULL). */
int bb_publish_many(bb_disruptor d, const void *src, const uint32_t *lengths,
                    size_t n, int64_t *hi);
int bb_try_publish_many(bb_disruptor d, const void *src,
                        const uint32_t *lengths, size_t n, int64_t *hi);

/* Polling. */

/* Copies up to max events out, in order: event k's bytes to
 * (char *)buf + k * event_size (the rest of its stride holds whatever the
 * slot held: the whole slot is copied),
 * its length to lengths[k]. buf holds buf_len >= max * event_size bytes.
 * *n is how many were copied and *first (if not NULL) the first's
 * sequence. With none to copy it waits up to timeout_ns (< 0: for ever, 0:
 * not at all) and returns BB_OK with *n = 0 when none came. BB_ESHUTDOWN
 * once the disruptor is shut down and this poller has every event. */
int bb_poll(bb_poller p, void *buf, size_t buf_len, uint32_t *lengths,
            size_t max, int64_t timeout_ns, size_t *n, int64_t *first);

/* Stops the poller gating producers and frees its handle. */
int bb_poller_free(bb_poller p);

/* Errors. */

/* A description of code, or "unknown error code". Static. */
const char *bb_strerror(int code);
/* The code's name, such as "BB_EFULL", or NULL for an unknown code.
 * Static. */
const char *bb_error_name(int code);

#endif /* BADBATCH_NO_PROTOTYPES */

#ifdef __cplusplus
}
#endif

#endif /* BADBATCH_H */
