/*
 * The C binding's test program, built and run by bindings/c's Go tests:
 *
 *     badbatch_test stress <producers> <events> <producer> <wait>
 *     badbatch_test errors
 *
 * stress publishes <events> events from <producers> C threads, cycling
 * through every way of publishing, to a callback consumer and a poller
 * (on a C thread of its own); each checks that it sees every producer's
 * events exactly once, in the producer's order, at consecutive sequences,
 * with their bytes intact. errors checks every error code it can provoke.
 * It prints "ok ..." and exits 0, or prints "FAIL ..." and exits 1.
 */
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "badbatch.h"

#define EVENT_SIZE 32
#define MAX_PRODUCERS 16

static void fail(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	fputs("FAIL ", stdout);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	va_end(ap);
	fflush(stdout);
	exit(1);
}

#define CHECK(call)                                                                 \
	do {                                                                        \
		int rc_ = (call);                                                   \
		if (rc_ != BB_OK)                                                   \
			fail("%s:%d: %s: %s (%s)", __FILE__, __LINE__, #call,       \
			     bb_error_name(rc_), bb_strerror(rc_));                 \
	} while (0)

#define EXPECT(call, want)                                                          \
	do {                                                                        \
		int rc_ = (call);                                                   \
		if (rc_ != (want))                                                  \
			fail("%s:%d: %s: %s, want %s", __FILE__, __LINE__, #call,   \
			     bb_error_name(rc_), bb_error_name(want));              \
	} while (0)

/* Event k of producer p: p, k, then bytes derived from k; 12 to
 * EVENT_SIZE bytes long, varying with k. */
static size_t payload(unsigned char *b, uint32_t p, uint64_t k) {
	size_t n = 12 + k % (EVENT_SIZE - 11);
	memcpy(b, &p, 4);
	memcpy(b + 4, &k, 8);
	for (size_t i = 12; i < n; i++)
		b[i] = (unsigned char)(k + i);
	return n;
}

typedef struct {
	const char *name;
	int producers;
	uint64_t next[MAX_PRODUCERS];
	int64_t seq; /* next sequence expected */
	uint64_t count, batches;
	pthread_t thread;
	int have_thread;
} checker;

static void check_event(checker *c, int64_t seq, const unsigned char *b, uint32_t len) {
	unsigned char want[EVENT_SIZE];
	uint32_t p;
	uint64_t k;
	if (seq != c->seq)
		fail("%s: sequence %lld, want %lld", c->name, (long long)seq, (long long)c->seq);
	c->seq++;
	if (len < 12 || len > EVENT_SIZE)
		fail("%s: seq %lld: length %u", c->name, (long long)seq, len);
	memcpy(&p, b, 4);
	memcpy(&k, b + 4, 8);
	if ((int)p >= c->producers)
		fail("%s: seq %lld: producer %u", c->name, (long long)seq, p);
	if (k != c->next[p])
		fail("%s: seq %lld: producer %u event %llu, want %llu (lost, duplicated or reordered)",
		     c->name, (long long)seq, p, (unsigned long long)k, (unsigned long long)c->next[p]);
	size_t n = payload(want, p, k);
	if (n != len || memcmp(want, b, n) != 0)
		fail("%s: seq %lld: bytes differ", c->name, (long long)seq);
	c->next[p]++;
	c->count++;
}

static int on_batch(void *ctx, int64_t first, size_t count, const void *events,
                    const uint32_t *lengths, size_t event_size) {
	checker *c = ctx;
	pthread_t self = pthread_self();
	if (!c->have_thread) {
		c->thread = self;
		c->have_thread = 1;
	} else if (!pthread_equal(c->thread, self)) {
		fail("%s: callback called on a second thread", c->name);
	}
	if (event_size != EVENT_SIZE)
		fail("%s: event_size %zu", c->name, event_size);
	for (size_t k = 0; k < count; k++)
		check_event(c, first + (int64_t)k, (const unsigned char *)events + k * event_size, lengths[k]);
	c->batches++;
	return 0;
}

typedef struct {
	bb_poller p;
	checker c;
} poll_args;

static void *poll_thread(void *arg) {
	poll_args *a = arg;
	enum { MAX = 256 };
	unsigned char *buf = malloc(MAX * EVENT_SIZE);
	uint32_t lens[MAX];
	for (;;) {
		size_t n;
		int64_t first;
		int rc = bb_poll(a->p, buf, MAX * EVENT_SIZE, lens, MAX, 100 * 1000 * 1000, &n, &first);
		if (rc == BB_ESHUTDOWN)
			break;
		if (rc != BB_OK)
			fail("bb_poll: %s", bb_error_name(rc));
		for (size_t k = 0; k < n; k++)
			check_event(&a->c, first + (int64_t)k, buf + k * EVENT_SIZE, lens[k]);
		if (n > 0)
			a->c.batches++;
	}
	free(buf);
	return NULL;
}

typedef struct {
	bb_disruptor d;
	uint32_t id;
	uint64_t events;
} producer_args;

/* Publishes events 0..events-1 of one producer, cycling through every way
 * of publishing. */
static void *produce(void *arg) {
	producer_args *a = arg;
	bb_disruptor d = a->d;
	unsigned char b[EVENT_SIZE];
	bb_ring_info ring;
	CHECK(bb_ring(d, &ring));
	uint64_t k = 0;
	while (k < a->events) {
		uint64_t left = a->events - k;
		switch (k % 6) {
		case 0: { /* claim one, write in place, set its length, publish */
			int64_t seq;
			void *slot;
			CHECK(bb_next(d, &seq));
			CHECK(bb_get(d, seq, &slot));
			size_t n = payload(slot, a->id, k);
			CHECK(bb_set_length(d, seq, n));
			CHECK(bb_publish(d, seq));
			k++;
			break;
		}
		case 1: { /* copy one */
			size_t n = payload(b, a->id, k);
			CHECK(bb_publish_copy(d, b, n, NULL));
			k++;
			break;
		}
		case 2: { /* claim 7, write them through bb_ring, publish the range */
			size_t m = left < 7 ? left : 7;
			int64_t hi;
			CHECK(bb_next_n(d, m, &hi));
			for (size_t j = 0; j < m; j++) {
				size_t i = (size_t)(hi - (int64_t)(m - 1 - j)) & (ring.slots - 1);
				ring.lengths[i] = (uint32_t)payload((unsigned char *)ring.events + i * ring.event_size, a->id, k + j);
			}
			CHECK(bb_publish_range(d, hi - (int64_t)m + 1, hi));
			k += m;
			break;
		}
		case 3: { /* copy a batch of 5 */
			size_t m = left < 5 ? left : 5;
			unsigned char data[5 * EVENT_SIZE];
			uint32_t lens[5];
			size_t off = 0;
			for (size_t j = 0; j < m; j++) {
				lens[j] = (uint32_t)payload(data + off, a->id, k + j);
				off += lens[j];
			}
			CHECK(bb_publish_many(d, data, lens, m, NULL));
			k += m;
			break;
		}
		case 4: { /* try, yielding while full */
			size_t n = payload(b, a->id, k);
			int rc = bb_try_publish_copy(d, b, n, NULL);
			if (rc == BB_EFULL) {
				sched_yield();
				continue;
			}
			CHECK(rc);
			k++;
			break;
		}
		case 5: { /* try to claim 3, write them with bb_write */
			size_t m = left < 3 ? left : 3;
			int64_t hi;
			int rc = bb_try_next_n(d, m, &hi);
			if (rc == BB_EFULL) {
				sched_yield();
				continue;
			}
			CHECK(rc);
			for (size_t j = 0; j < m; j++) {
				size_t n = payload(b, a->id, k + j);
				CHECK(bb_write(d, hi - (int64_t)(m - 1 - j), b, n));
			}
			CHECK(bb_publish_range(d, hi - (int64_t)m + 1, hi));
			k += m;
			break;
		}
		}
	}
	return NULL;
}

static int stress(int producers, uint64_t events, const char *producer, const char *wait) {
	if (producers < 1 || producers > MAX_PRODUCERS)
		fail("producers %d", producers);
	bb_disruptor d;
	char errbuf[256];
	CHECK(bb_new(1024, EVENT_SIZE, producer, wait, &d, errbuf, sizeof errbuf));
	checker cb = {.name = "callback", .producers = producers};
	CHECK(bb_handle_events(d, on_batch, &cb));
	poll_args pa = {.c = {.name = "poller", .producers = producers}};
	CHECK(bb_poller_new(d, &pa.p));
	CHECK(bb_start(d));
	pthread_t poller, threads[MAX_PRODUCERS];
	producer_args args[MAX_PRODUCERS];
	if (pthread_create(&poller, NULL, poll_thread, &pa) != 0)
		fail("pthread_create");
	uint64_t per = events / (uint64_t)producers;
	for (int i = 0; i < producers; i++) {
		args[i] = (producer_args){.d = d, .id = (uint32_t)i, .events = per};
		if (pthread_create(&threads[i], NULL, produce, &args[i]) != 0)
			fail("pthread_create");
	}
	for (int i = 0; i < producers; i++)
		pthread_join(threads[i], NULL);
	CHECK(bb_shutdown(d, 60LL * 1000 * 1000 * 1000));
	pthread_join(poller, NULL);
	uint64_t total = per * (uint64_t)producers;
	checker *cs[] = {&cb, &pa.c};
	for (int i = 0; i < 2; i++) {
		if (cs[i]->count != total)
			fail("%s saw %llu events, want %llu", cs[i]->name,
			     (unsigned long long)cs[i]->count, (unsigned long long)total);
	}
	/* After shutdown: claims refused, the poller reports the end. */
	int64_t seq;
	EXPECT(bb_next(d, &seq), BB_ESHUTDOWN);
	CHECK(bb_poller_free(pa.p));
	CHECK(bb_free(d));
	EXPECT(bb_start(d), BB_EHANDLE);
	printf("ok stress producers=%d events=%llu producer=%s wait=%s callback_batches=%llu poll_batches=%llu\n",
	       producers, (unsigned long long)total, producer, wait,
	       (unsigned long long)cb.batches, (unsigned long long)pa.c.batches);
	return 0;
}

static int fail_at_2(void *ctx, int64_t first, size_t count, const void *events,
                     const uint32_t *lengths, size_t event_size) {
	(void)ctx, (void)events, (void)lengths, (void)event_size;
	return first + (int64_t)count > 2 ? 7 : 0;
}

static int errors(void) {
	bb_disruptor d;
	bb_poller p;
	char errbuf[256] = "";
	int64_t seq;

	/* Codes and their descriptions. */
	for (int c = BB_OK; c <= BB_EINTERNAL; c++) {
		if (bb_error_name(c) == NULL || bb_strerror(c) == NULL)
			fail("code %d has no name or text", c);
		for (int o = BB_OK; o < c; o++)
			if (strcmp(bb_strerror(o), bb_strerror(c)) == 0)
				fail("codes %d and %d share their text", o, c);
	}
	if (strcmp(bb_error_name(BB_EFULL), "BB_EFULL") != 0 || bb_error_name(99) != NULL ||
	    strcmp(bb_strerror(-1), "unknown error code") != 0)
		fail("bb_error_name / bb_strerror");

	/* Bad settings, each named. */
	EXPECT(bb_new(1000, 0, "many", "snooze", &d, errbuf, sizeof errbuf), BB_ECONFIG);
	const char *words[] = {"slots 1000", "event size 0", "\"many\"", "\"snooze\""};
	for (int i = 0; i < 4; i++)
		if (strstr(errbuf, words[i]) == NULL)
			fail("config error %s does not name %s", errbuf, words[i]);
	char small[8];
	EXPECT(bb_new(1000, 8, NULL, NULL, &d, small, sizeof small), BB_ECONFIG);
	if (strlen(small) != sizeof small - 1)
		fail("errbuf not truncated and terminated: %zu", strlen(small));
	EXPECT(bb_new(8, 8, NULL, NULL, NULL, NULL, 0), BB_EINVAL);

	/* Handles. */
	EXPECT(bb_start(0), BB_EHANDLE);
	EXPECT(bb_start(12345), BB_EHANDLE);
	CHECK(bb_new(8, 4, "single", "blocking", &d, NULL, 0));
	CHECK(bb_poller_new(d, &p));
	EXPECT(bb_start(p), BB_EHANDLE);
	EXPECT(bb_poll(d, errbuf, 4, (uint32_t *)small, 1, 0, (size_t *)&seq, NULL), BB_EHANDLE);

	/* Lifecycle order. */
	EXPECT(bb_next(d, &seq), BB_ENOTSTARTED);
	CHECK(bb_start(d));
	EXPECT(bb_start(d), BB_ESTARTED);
	EXPECT(bb_handle_events(d, fail_at_2, NULL), BB_ESTARTED);
	EXPECT(bb_poller_new(d, &p), BB_ESTARTED);

	/* Arguments. */
	EXPECT(bb_next(d, NULL), BB_EINVAL);
	EXPECT(bb_next_n(d, 0, &seq), BB_ECLAIM);
	EXPECT(bb_try_next_n(d, 9, &seq), BB_ECLAIM);
	EXPECT(bb_publish_copy(d, "12345", 5, NULL), BB_ETOOLARGE);
	EXPECT(bb_publish_copy(d, NULL, 1, NULL), BB_EINVAL);
	uint32_t lens[2] = {2, 5};
	EXPECT(bb_publish_many(d, "1234567", lens, 2, NULL), BB_ETOOLARGE);
	EXPECT(bb_publish_many(d, "12", NULL, 0, NULL), BB_ECLAIM);
	EXPECT(bb_publish_range(d, 5, 4), BB_EINVAL);
	EXPECT(bb_publish_range(d, 0, 8), BB_EINVAL);
	EXPECT(bb_handle_events(d, NULL, NULL), BB_EINVAL);
	unsigned char buf[16 * 4];
	uint32_t plens[16];
	size_t n;
	EXPECT(bb_poll(p, buf, 3, plens, 1, 0, &n, NULL), BB_EINVAL);
	EXPECT(bb_poll(p, buf, sizeof buf, plens, 0, 0, &n, NULL), BB_EINVAL);

	/* The poller is never polled: the ring fills, and tries are full. */
	CHECK(bb_publish_many(d, "abcdefghijklmnopqrstuvwxyz012345", NULL, 8, &seq));
	if (seq != 7)
		fail("8 events: hi %lld", (long long)seq);
	EXPECT(bb_try_next(d, &seq), BB_EFULL);
	EXPECT(bb_try_publish_copy(d, "x", 1, NULL), BB_EFULL);
	EXPECT(bb_try_publish_many(d, "x", (uint32_t[]){1}, 1, NULL), BB_EFULL);
	/* Polling with no wait returns the 8 events, then none. */
	int64_t first;
	CHECK(bb_poll(p, buf, sizeof buf, plens, 16, 0, &n, &first));
	if (n != 8 || first != 0 || memcmp(buf + 4, "efgh", 4) != 0 || plens[7] != 4)
		fail("poll: n %zu first %lld", n, (long long)first);
	CHECK(bb_poll(p, buf, sizeof buf, plens, 16, 1000 * 1000, &n, &first));
	if (n != 0)
		fail("poll of an empty ring: %zu", n);
	CHECK(bb_shutdown(d, -1));
	EXPECT(bb_poll(p, buf, sizeof buf, plens, 16, -1, &n, &first), BB_ESHUTDOWN);
	EXPECT(bb_publish_copy(d, "x", 1, NULL), BB_ESHUTDOWN);
	CHECK(bb_shutdown(d, -1)); /* the first's result again */
	CHECK(bb_free(d));
	EXPECT(bb_poll(p, buf, sizeof buf, plens, 16, 0, &n, &first), BB_EHANDLE);
	EXPECT(bb_poller_free(p), BB_EHANDLE);
	EXPECT(bb_free(d), BB_EHANDLE);

	/* A failing callback halts its consumer: a waiting producer gives up. */
	CHECK(bb_new(4, 1, "multi", "blocking", &d, NULL, 0));
	CHECK(bb_handle_events(d, fail_at_2, NULL));
	CHECK(bb_start(d));
	int rc = BB_OK;
	for (int i = 0; i < 64 && rc == BB_OK; i++)
		rc = bb_publish_copy(d, "x", 1, NULL);
	EXPECT(rc, BB_EHALTED);
	EXPECT(bb_shutdown(d, -1), BB_EHALTED);
	CHECK(bb_free(d));

	/* A claim never published: shutdown times out. */
	CHECK(bb_new(4, 1, "multi", "blocking", &d, NULL, 0));
	CHECK(bb_start(d));
	CHECK(bb_next(d, &seq));
	EXPECT(bb_shutdown(d, 50 * 1000 * 1000), BB_ETIMEOUT);
	CHECK(bb_free(d));

	/* Free without shutdown halts. */
	CHECK(bb_new(4, 1, NULL, NULL, &d, NULL, 0));
	CHECK(bb_handle_events(d, fail_at_2, NULL));
	CHECK(bb_start(d));
	CHECK(bb_free(d));

	printf("ok errors\n");
	return 0;
}

int main(int argc, char **argv) {
	if (argc == 6 && strcmp(argv[1], "stress") == 0)
		return stress(atoi(argv[2]), strtoull(argv[3], NULL, 10), argv[4], argv[5]);
	if (argc == 2 && strcmp(argv[1], "errors") == 0)
		return errors();
	fprintf(stderr, "usage: %s stress <producers> <events> <single|multi> <wait> | errors\n", argv[0]);
	return 2;
}
