/*
 * The C binding's benchmark program, run by BenchmarkCAPI:
 *
 *     badbatch_bench <events> <batch> <claim|copy> <wait>
 *
 * One C thread publishes <events> 32-byte events in claims of <batch>, to
 * one callback consumer that counts them; the clock runs from the first
 * claim until the consumer has seen the last event. claim writes the slots
 * in place (bb_next or bb_next_n, the ring's memory, bb_publish or
 * bb_publish_range); copy copies them in (bb_publish_copy or
 * bb_publish_many). It prints "ns=<elapsed> batches=<callback calls>".
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "badbatch.h"

#define EVENT_SIZE 32

static uint64_t consumed, batches, sum;

static int count(void *ctx, int64_t first, size_t n, const void *events,
                 const uint32_t *lengths, size_t event_size) {
	(void)ctx, (void)first, (void)lengths;
	uint64_t s = 0;
	for (size_t k = 0; k < n; k++) {
		uint64_t v;
		memcpy(&v, (const char *)events + k * event_size, 8);
		s += v;
	}
	sum += s;
	batches++;
	__atomic_add_fetch(&consumed, n, __ATOMIC_RELEASE);
	return 0;
}

static uint64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#define CHECK(call)                                                       \
	do {                                                              \
		int rc_ = (call);                                         \
		if (rc_ != BB_OK) {                                       \
			fprintf(stderr, "%s: %s\n", #call, bb_strerror(rc_)); \
			exit(1);                                          \
		}                                                         \
	} while (0)

int main(int argc, char **argv) {
	if (argc != 5) {
		fprintf(stderr, "usage: %s <events> <batch> <claim|copy> <wait>\n", argv[0]);
		return 2;
	}
	uint64_t events = strtoull(argv[1], NULL, 10);
	size_t batch = strtoul(argv[2], NULL, 10);
	int claim = strcmp(argv[3], "claim") == 0;
	bb_disruptor d;
	char errbuf[256];
	CHECK(bb_new(1024, EVENT_SIZE, "single", argv[4], &d, errbuf, sizeof errbuf));
	CHECK(bb_handle_events(d, count, NULL));
	CHECK(bb_start(d));
	bb_ring_info ring;
	CHECK(bb_ring(d, &ring));
	unsigned char src[64 * EVENT_SIZE];
	memset(src, 1, sizeof src);
	uint64_t start = now_ns();
	for (uint64_t k = 0; k < events;) {
		size_t n = events - k < batch ? (size_t)(events - k) : batch;
		if (claim) {
			int64_t hi;
			if (n == 1)
				CHECK(bb_next(d, &hi));
			else
				CHECK(bb_next_n(d, n, &hi));
			for (int64_t s = hi - (int64_t)n + 1; s <= hi; s++) {
				size_t i = (size_t)s & (ring.slots - 1);
				uint64_t v = (uint64_t)s;
				memcpy((char *)ring.events + i * EVENT_SIZE, &v, 8);
				ring.lengths[i] = EVENT_SIZE;
			}
			if (n == 1)
				CHECK(bb_publish(d, hi));
			else
				CHECK(bb_publish_range(d, hi - (int64_t)n + 1, hi));
		} else if (n == 1) {
			CHECK(bb_publish_copy(d, src, EVENT_SIZE, NULL));
		} else {
			CHECK(bb_publish_many(d, src, NULL, n, NULL));
		}
		k += n;
	}
	while (__atomic_load_n(&consumed, __ATOMIC_ACQUIRE) < events)
		sched_yield();
	uint64_t elapsed = now_ns() - start;
	CHECK(bb_shutdown(d, -1));
	CHECK(bb_free(d));
	printf("ns=%llu batches=%llu sum=%llu\n", (unsigned long long)elapsed,
	       (unsigned long long)batches, (unsigned long long)sum);
	return 0;
}
