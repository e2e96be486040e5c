"""The in-process disruptor over libbadbatch."""

import struct
import threading
import time

import pytest

import badbatch
from badbatch import errors
from badbatch._lib import lib
from conftest import SHORT

EVENT_SIZE = 32


def payload(p, k):
    """Event k of producer p, 12 to EVENT_SIZE bytes long."""
    n = 12 + k % (EVENT_SIZE - 11)
    head = struct.pack("<IQ", p, k)
    return head + bytes((k + i) & 0xFF for i in range(12, n))


class Checker:
    """Checks that a consumer sees each producer's events once, in order,
    at consecutive sequences."""

    def __init__(self, producers):
        self.next = [0] * producers
        self.seq = 0
        self.count = 0
        self.failure = None

    def batch(self, events, first):
        if self.failure:
            return
        if first != self.seq:
            self.failure = "batch at sequence %d, want %d" % (first, self.seq)
            return
        for ev in events:
            p, k = struct.unpack_from("<IQ", ev)
            if k != self.next[p] or ev != payload(p, k):
                self.failure = "seq %d: producer %d event %d, want %d" % (self.seq, p, k, self.next[p])
                return
            self.next[p] += 1
            self.seq += 1
            self.count += 1


def publish_all(d, p, n):
    """Publishes events 0..n-1 of producer p, through every way there is."""
    k = 0
    while k < n:
        way = k % 4
        if way == 0:
            d.publish(payload(p, k))
            k += 1
        elif way == 1:
            m = min(5, n - k)
            d.publish_many([payload(p, k + j) for j in range(m)])
            k += m
        elif way == 2:
            m = min(3, n - k)
            with d.claim(m) as batch:
                for j in range(m):
                    batch[j] = payload(p, k + j)
            k += m
        else:
            try:
                d.publish(payload(p, k), block=False)
                k += 1
            except badbatch.RingFullError:
                time.sleep(0)


@pytest.mark.parametrize("producer,threads", [("multi", 4), ("single", 1)])
def test_exactly_once_in_order(producer, threads):
    n = 5_000 if SHORT else 50_000
    d = badbatch.Disruptor(size=256, event_size=EVENT_SIZE, producer=producer, wait="blocking")
    handler = Checker(threads)
    d.handle_events(handler.batch)
    poller = d.poller(max_events=100)
    polled = Checker(threads)

    def consume():
        for events in poller.batches():
            polled.batch(events, poller.first)
    consumer = threading.Thread(target=consume)
    consumer.start()
    with d:
        producers = [threading.Thread(target=publish_all, args=(d, p, n)) for p in range(threads)]
        for t in producers:
            t.start()
        for t in producers:
            t.join()
    consumer.join(timeout=60)
    assert not consumer.is_alive()
    for c in (handler, polled):
        assert c.failure is None
        assert c.count == threads * n
        assert c.next == [n] * threads


def test_callback_gets_batches_in_order():
    d = badbatch.Disruptor(size=64, event_size=8)
    got = []
    d.handle_events(lambda events, first: got.append((first, events)))
    with d:
        d.publish_many([b"%d" % i for i in range(50)])
        d.publish(b"x" * 8)
        d.publish_many([b"full%04d" % i for i in range(3)])  # every slot filled: no lengths passed
    events = [e for _, b in got for e in b]
    assert events == [b"%d" % i for i in range(50)] + [b"x" * 8] + [b"full%04d" % i for i in range(3)]
    seq = 0
    for first, batch in got:
        assert first == seq
        seq += len(batch)


def test_iterator_ends_after_shutdown():
    d = badbatch.Disruptor(size=16, event_size=4)
    poller = d.poller()
    got = []
    t = threading.Thread(target=lambda: got.extend(poller))
    t.start()
    with d:
        for i in range(100):  # more than the ring: the iterator must keep up
            d.publish(b"%d" % i)
    t.join(timeout=30)
    assert not t.is_alive()
    assert got == [b"%d" % i for i in range(100)]


def test_poll_timeout():
    d = badbatch.Disruptor(size=4, event_size=1)
    p = d.poller()
    with d:
        start = time.monotonic()
        assert p.poll(timeout=0.05) == []
        assert time.monotonic() - start >= 0.05
        d.publish(b"a")
        assert p.poll(timeout=0) == [b"a"]
        assert p.first == 0
        p.close()  # or the end of the block would wait for it to drain


def test_close_waits_for_pollers_to_drain():
    d = badbatch.Disruptor(size=64, event_size=4)
    p = d.poller()
    d.start()
    d.publish_many([b"%d" % i for i in range(50)])
    got = []

    def late():  # starts polling only after close has begun
        time.sleep(0.1)
        got.extend(p)
    t = threading.Thread(target=late)
    t.start()
    d.close()
    t.join()
    assert got == [b"%d" % i for i in range(50)]
    d2 = badbatch.Disruptor(size=4, event_size=1)
    d2.poller()  # never polled
    d2.start()
    with pytest.raises(badbatch.ShutdownTimeoutError):
        d2.close(timeout=0.05)


def test_shutdown_drains():
    d = badbatch.Disruptor(size=8, event_size=4)
    seen = []

    def slow(events, _first):
        time.sleep(0.001)
        seen.extend(events)
    d.handle_events(slow)
    with d:
        for i in range(200):
            d.publish(b"%d" % i)
        # Leaving the block shuts down: every event is handled first.
    assert seen == [b"%d" % i for i in range(200)]
    with pytest.raises(badbatch.HandleError):
        d.publish(b"late")


def test_shutdown_refuses_later_publishes():
    d = badbatch.Disruptor(size=8, event_size=4)
    d.start()
    d.shutdown()
    with pytest.raises(badbatch.ShutdownError) as e:
        d.publish(b"x")
    assert e.value.code == errors.ESHUTDOWN and e.value.name == "BB_ESHUTDOWN"
    d.free()


def test_claim_in_place():
    d = badbatch.Disruptor(size=8, event_size=4)
    got = []
    d.handle_events(lambda events, first: got.extend(events))
    with d:
        with d.claim(3) as c:
            assert len(c) == 3 and list(c.sequences) == [0, 1, 2]
            v = c.view(0)
            v[:4] = b"abcd"
            v2 = c.view(1)
            v2[:2] = b"xy"
            c.set_length(1, 2)
            # slot 2 is not written: published empty
        with pytest.raises(IndexError):
            c[3] = b"z"
        with pytest.raises(badbatch.InvalidArgumentError):
            c[0] = b"z"  # published already
        try:
            with d.claim(1) as c:
                raise KeyError("the body fails")
        except KeyError:
            pass  # the claim was still published, empty
        d.publish(b"end")
    assert got == [b"abcd", b"xy", b"", b"", b"end"]


def test_errors_are_exceptions_with_codes():
    with pytest.raises(badbatch.ConfigError) as e:
        badbatch.Disruptor(size=1000, event_size=0, producer="many", wait="snooze")
    assert e.value.code == errors.ECONFIG and isinstance(e.value, ValueError)
    for word in ("slots 1000", "event size 0", '"many"', '"snooze"'):
        assert word in str(e.value)

    d = badbatch.Disruptor(size=4, event_size=4, producer="single")
    p = d.poller()  # never polled: the ring fills
    with pytest.raises(badbatch.NotStartedError):
        d.publish(b"x")
    d.start()
    with pytest.raises(badbatch.StartedError):
        d.start()
    with pytest.raises(badbatch.StartedError):
        d.handle_events(lambda e, f: None)
    with pytest.raises(badbatch.TooLargeError) as e:
        d.publish(b"12345")
    assert e.value.code == errors.ETOOLARGE
    with pytest.raises(badbatch.ClaimError):
        d.claim(5)
    for _ in range(4):
        d.publish(b"x")
    with pytest.raises(badbatch.RingFullError) as e:
        d.publish(b"x", block=False)
    assert e.value.code == errors.EFULL
    with pytest.raises(badbatch.RingFullError):
        d.publish_many([b"a"], block=False)
    with pytest.raises(badbatch.RingFullError):
        d.claim(1, block=False)
    assert p.poll(timeout=0) == [b"x"] * 4
    d.free()
    with pytest.raises(badbatch.HandleError):
        p.poll(timeout=0)


def test_handler_failure_halts_with_cause():
    d = badbatch.Disruptor(size=4, event_size=1)

    def fails(events, first):
        if first + len(events) > 2:
            raise KeyError("boom")
    d.handle_events(fails)
    d.start()
    with pytest.raises(badbatch.HaltedError) as e:
        for _ in range(100):
            d.publish(b"x")
    assert isinstance(e.value.__cause__, KeyError)
    with pytest.raises(badbatch.HaltedError) as e:
        d.shutdown()
    assert isinstance(e.value.__cause__, KeyError)
    assert len(d.failures) == 1
    d.free()


def test_shutdown_times_out_on_unpublished_claim():
    d = badbatch.Disruptor(size=4, event_size=1)
    d.start()
    c = d.claim(1)
    with pytest.raises(badbatch.ShutdownTimeoutError) as e:
        d.shutdown(timeout=0.05)
    assert e.value.code == errors.ETIMEOUT
    c.publish()
    d.free()


def test_shutdown_from_a_handler_is_refused():
    d = badbatch.Disruptor(size=4, event_size=1)
    raised = []

    def handler(events, first):
        try:
            d.shutdown()
        except RuntimeError as e:
            raised.append(e)
    d.handle_events(handler)
    with d:
        d.publish(b"x")
    assert raised


def test_waiting_releases_the_gil():
    d = badbatch.Disruptor(size=2, event_size=1)
    p = d.poller()
    with d:
        d.publish_many([b"a", b"b"])
        blocked = threading.Thread(target=d.publish, args=(b"c",))
        blocked.start()  # waits for room, in the library
        spins = 0
        deadline = time.monotonic() + 0.2
        while time.monotonic() < deadline:
            spins += 1
        assert blocked.is_alive()  # still waiting...
        assert spins > 1000  # ...and this thread ran meanwhile
        assert p.poll(timeout=1) == [b"a", b"b"]
        blocked.join(timeout=10)
        assert not blocked.is_alive()
        assert p.poll(timeout=1) == [b"c"]
        p.close()


def test_codes_match_the_library():
    for code, cls in errors._classes.items():
        assert lib.bb_error_name(code).decode() == cls.name
        assert issubclass(cls, badbatch.BadBatchError)
        assert str(cls()) == lib.bb_strerror(code).decode()
    assert lib.bb_error_name(errors.EINTERNAL + 1) is None


def test_dropped_disruptor_is_freed():
    import gc
    seen = []
    d = badbatch.Disruptor(size=8, event_size=1)
    d.handle_events(lambda events, first: seen.extend(events))
    d.start()
    d.publish(b"x")
    h = d._h
    del d
    gc.collect()
    assert lib.bb_start(h) == errors.EHANDLE  # the handle is gone: freed


def test_packed_batches():
    d = badbatch.Disruptor(size=16, event_size=4)
    got = []
    d.handle_events(lambda b: got.append(b), batch=True)
    p = d.poller()
    with d:
        d.publish_packed(b"aaaabbbbcccc")  # three whole slots
        d.publish_packed(b"xyz", [1, 2])  # "x", "yz"
        with pytest.raises(badbatch.InvalidArgumentError):
            d.publish_packed(b"abcde")  # not whole slots
        with pytest.raises(badbatch.InvalidArgumentError):
            d.publish_packed(b"ab", [1, 2])  # lengths disagree with the data
        with pytest.raises(badbatch.TooLargeError):
            d.publish_packed(b"abcde", [5])
        with pytest.raises(badbatch.ClaimError):
            d.publish_packed(b"a" * 4 * 17)  # more than the ring
        polled = []
        while len(polled) < 5:
            b = p.poll_batch(timeout=5)
            assert isinstance(b, badbatch.Batch)
            polled.extend(b)
        assert p.poll_batch(timeout=0).count == 0
        p.close()
    want = [b"aaaa", b"bbbb", b"cccc", b"x", b"yz"]
    assert polled == want
    assert [e for b in got for e in b] == want
    first = got[0]
    assert first.first == 0 and first[0] == b"aaaa" and first[-1] == first.tolist()[-1]
    assert list(first.lengths)[:1] == [4] and len(first.data) == 4 * len(first)
    with pytest.raises(IndexError):
        first[len(first)]


def test_view_batches():
    d = badbatch.Disruptor(size=8, event_size=4)
    got, kept = [], []

    def handler(b):
        assert isinstance(b.data, memoryview) and b.data.readonly
        got.append((b.first, b.tolist(), list(b.lengths), bytes(b.data)))
        assert b[0] == b.tolist()[0] and bytes(b.view(-1)) == b.tolist()[-1]
        kept.append(b)
    d.handle_events(handler, view=True)
    p = d.poller(max_events=3)
    polled, firsts = [], []
    with d:
        d.publish_packed(b"aaaabbbb")
        d.publish_many([b"c", b"dd", b"eee"])
        k = 0
        while len(polled) < 11:  # around the ring's end: 11 events in 8 slots
            if k < 6:
                d.publish_packed(b"%04d" % k)
                k += 1
            b = p.poll_view(timeout=5)
            firsts.append((b.first, len(b)))
            assert len(b.data) == 4 * len(b) and len(b.lengths) == len(b)
            polled.extend(b)
        last = b
        assert p.poll_view(timeout=0).count == 0  # and releases the last one
        with pytest.raises(ValueError):
            bytes(last.data)  # released: its buffer was reused
        p.close()
    want = [b"aaaa", b"bbbb", b"c", b"dd", b"eee"] + [b"%04d" % k for k in range(6)]
    assert polled == want
    assert [e for _, evs, _, _ in got for e in evs] == want
    assert [n for _, evs, lens, _ in got for n in lens] == [len(e) for e in want]
    seq = 0
    for first, n in firsts:  # consecutive, at most max_events each
        assert first == seq and 1 <= n <= 3
        seq += n
    seq = 0
    for first, evs, _, data in got:
        assert first == seq and len(data) == 4 * len(evs)
        seq += len(evs)
    with pytest.raises(ValueError):
        kept[0].data[0]  # a view batch kept past its call is released
    with pytest.raises(IndexError):
        kept[0][len(kept[0])]


def test_views_iterator_ends_at_shutdown():
    n = 2_000 if SHORT else 20_000
    d = badbatch.Disruptor(size=64, event_size=8, producer="single", wait="blocking")
    p = d.poller(max_events=50)
    seen = []

    def consume():
        for b in p.views():
            seen.append((b.first, bytes(b.data)))
    t = threading.Thread(target=consume)
    t.start()
    with d:
        for k in range(0, n, 10):
            d.publish_packed(b"".join(struct.pack("<Q", k + j) for j in range(10)))
    t.join(timeout=30)
    assert not t.is_alive()
    seq, data = 0, bytearray()
    for first, b in seen:
        assert first == seq
        seq += len(b) // 8
        data += b
    assert seq == n and list(struct.unpack("<%dQ" % n, data)) == list(range(n))


def test_view_handler_failure_halts():
    d = badbatch.Disruptor(size=8, event_size=4)

    def handler(b):
        raise ValueError("no")
    d.handle_events(handler, view=True)
    with pytest.raises(badbatch.HaltedError) as e:
        with d:
            d.publish(b"x")
            time.sleep(0.2)
            for _ in range(20):
                d.publish(b"y")
    assert isinstance(e.value.__cause__, ValueError)
