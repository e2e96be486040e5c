"""Events per second from one Python thread to another, through the
disruptor and through the standard library's queues, at a given batch:

    python3 -m badbatch.bench <variant> <batch> <events>

variants:
  disruptor-callback  publish / publish_many of bytes; a handler gets each batch as a list of bytes
  disruptor-poller    publish / publish_many of bytes; a thread iterates a poller's batches (lists)
  packed-callback     publish_packed of one buffer per batch; a handler gets each Batch (a bytes copy)
  packed-poller       publish_packed of one buffer per batch; a thread iterates a poller's Batches
  view-callback       publish_packed; a handler gets each view Batch (memoryviews, no allocation)
  view-poller         publish_packed; a thread iterates a poller's view Batches
  simplequeue         queue.SimpleQueue: put and get every event (it has no batch calls)
  simplequeue-lists   queue.SimpleQueue of lists: one put and get per batch
  deque               collections.deque + threading.Condition: extend by a batch,
                      the consumer takes everything present

Event i is 16 bytes: i as 8 bytes little-endian, then 8 fixed bytes. The
producers' events are made before the clock starts (a list of bytes per
event, or one packed buffer per batch). The disruptor's consumers check
every event: each batch's first sequence is the next expected one, and
its events' bytes and lengths are exactly the events published at those
sequences (a list compared with the published list; a packed or view
batch's buffer compared with the published bytes in one memcmp), so a
lost, repeated, reordered or damaged event fails the run. The queues'
consumers take every item and only count (they are the baseline; checking
would only slow them). The disruptor variants copy each event's bytes in
and out of the ring; the queues pass references. The clock runs from the
first publish until the consumer has the last event. It prints
"ns=<elapsed> wakeups=<consumer wake-ups>".
"""

import array
import collections
import queue
import sys
import threading
import time

SIZE = 16  # bytes per event
TAIL = b"abcdefgh"
RING = 65536  # the disruptor's slots: 1 MiB of events

# The queues' event and batches (as before: one object, put again and again).
EVENT = b"0123456789abcdef"


def _producer_batches(batch, events):
    items = [EVENT] * batch
    full, rest = divmod(events, batch)
    return items, full, [EVENT] * rest


def _packed(events):
    """Events 0..events-1, packed."""
    words = array.array("Q", bytes(16 * events))
    words[0::2] = array.array("Q", range(events))
    words[1::2] = array.array("Q", [int.from_bytes(TAIL, sys.byteorder)]) * events
    if sys.byteorder != "little":
        words.byteswap()
    return words.tobytes()


def _events(blob):
    """The events of blob, one bytes each."""
    mv = memoryview(blob)
    return [bytes(mv[o:o + SIZE]) for o in range(0, len(blob), SIZE)]


def _chunks(seq, batch):
    return [seq[o:o + batch] for o in range(0, len(seq), batch)]


class _Check:
    """The disruptor consumer's checks, and its counts."""

    def __init__(self, blob, items, events):
        self.blob, self.items, self.events = blob, items, events
        self.lens = array.array("I", [SIZE]) * RING  # every event is SIZE long
        self.lens = self.lens.tobytes()
        self.next = 0  # the next sequence expected
        self.wakeups = 0
        self.done = threading.Event()

    def _advance(self, n):
        self.next += n
        self.wakeups += 1
        if self.next >= self.events:
            self.done.set()

    def events_list(self, events, first):
        if first != self.next or events != self.items[first:first + len(events)]:
            raise AssertionError("batch at %d (want %d): not the events published" % (first, self.next))
        self._advance(len(events))

    def batch(self, b):
        if (b.first != self.next or not self.blob.startswith(b.data, b.first * SIZE)
                or len(b.data) != b.count * SIZE or not self.lens.startswith(b.lengths)):
            raise AssertionError("batch at %d (want %d): not the events published" % (b.first, self.next))
        self._advance(b.count)


def run_disruptor(batch, events, poller, kind="list"):
    from .core import Disruptor
    blob = _packed(events)
    items = _events(blob)
    check = _Check(blob, items, events)
    d = Disruptor(size=RING, event_size=SIZE, producer="single", wait="blocking")
    failed = []
    if poller:
        p = d.poller(max_events=RING)
        it = {"list": p.batches, "packed": p.raw_batches, "view": p.views}[kind]

        def consume():
            try:
                for b in it():
                    if kind == "list":
                        check.events_list(b, p.first)
                    else:
                        check.batch(b)
            except BaseException as e:
                failed.append(e)
                check.done.set()
        t = threading.Thread(target=consume)
        t.start()
    elif kind == "list":
        d.handle_events(check.events_list)
    else:
        d.handle_events(check.batch, batch=kind == "packed", view=kind == "view")
    if kind == "list":
        work = items if batch == 1 else _chunks(items, batch)
    else:
        work = _chunks(blob, batch * SIZE)
    with d:
        start = time.perf_counter_ns()
        if kind != "list":
            publish_packed = d.publish_packed
            for buf in work:
                publish_packed(buf)
        elif batch == 1:
            publish = d.publish
            for e in work:
                publish(e)
        else:
            publish_many = d.publish_many
            for part in work:
                publish_many(part)
        while not check.done.wait(1):
            if d.failures:
                break
        elapsed = time.perf_counter_ns() - start
    if poller:
        t.join()
    if failed or d.failures or check.next != events:
        raise SystemExit("consumer failed at %d of %d events: %r" % (check.next, events, (failed or d.failures or [None])[0]))
    return elapsed, check.wakeups


def run_simplequeue(batch, events, lists):
    q = queue.SimpleQueue()
    got = [0, 0]

    def consume():
        n = 0
        get = q.get
        if lists:
            while n < events:
                n += len(get())
                got[1] += 1
        else:
            while n < events:
                get()
                n += 1
            got[1] = n
        got[0] = n
    t = threading.Thread(target=consume)
    items, full, rest = _producer_batches(batch, events)
    t.start()
    start = time.perf_counter_ns()
    put = q.put
    if lists:
        for _ in range(full):
            put(list(items))
        if rest:
            put(rest)
    else:
        for _ in range(events):
            put(EVENT)
    t.join()
    return time.perf_counter_ns() - start, got[1]


def run_deque(batch, events):
    dq = collections.deque()
    cond = threading.Condition()
    got = [0, 0]

    def consume():
        n = 0
        while n < events:
            with cond:
                while not dq:
                    cond.wait()
                taken = list(dq)
                dq.clear()
            n += len(taken)
            got[1] += 1
        got[0] = n
    t = threading.Thread(target=consume)
    items, full, rest = _producer_batches(batch, events)
    t.start()
    start = time.perf_counter_ns()
    if batch == 1:
        for _ in range(events):
            with cond:
                dq.append(EVENT)
                cond.notify()
    else:
        for _ in range(full):
            with cond:
                dq.extend(items)
                cond.notify()
        if rest:
            with cond:
                dq.extend(rest)
                cond.notify()
    t.join()
    return time.perf_counter_ns() - start, got[1]


VARIANTS = {
    "disruptor-callback": lambda b, n: run_disruptor(b, n, poller=False),
    "disruptor-poller": lambda b, n: run_disruptor(b, n, poller=True),
    "packed-callback": lambda b, n: run_disruptor(b, n, poller=False, kind="packed"),
    "packed-poller": lambda b, n: run_disruptor(b, n, poller=True, kind="packed"),
    "view-callback": lambda b, n: run_disruptor(b, n, poller=False, kind="view"),
    "view-poller": lambda b, n: run_disruptor(b, n, poller=True, kind="view"),
    "simplequeue": lambda b, n: run_simplequeue(b, n, lists=False),
    "simplequeue-lists": lambda b, n: run_simplequeue(b, n, lists=True),
    "deque": run_deque,
}


def main(argv):
    if len(argv) != 3 or argv[0] not in VARIANTS:
        print(__doc__, file=sys.stderr)
        return 2
    batch, events = int(argv[1]), int(argv[2])
    if batch < 1 or events < 1:
        print("batch and events must be at least 1", file=sys.stderr)
        return 2
    elapsed, wakeups = VARIANTS[argv[0]](batch, events)
    print("ns=%d wakeups=%d" % (elapsed, wakeups))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
