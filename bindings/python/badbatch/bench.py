"""Events per second from one Python thread to another, through the
disruptor and through the standard library's queues, at a given batch:

    python3 -m badbatch.bench <variant> <batch> <events>

variants:
  disruptor-callback  publish / publish_many of bytes; a handler counts each batch (a list of bytes)
  disruptor-poller    publish / publish_many of bytes; a thread iterates a poller's batches
  packed-callback     publish_packed of one buffer per batch; a handler counts each Batch
  packed-poller       publish_packed of one buffer per batch; a thread iterates a poller's Batches
  simplequeue         queue.SimpleQueue: put and get every event (it has no batch calls)
  simplequeue-lists   queue.SimpleQueue of lists: one put and get per batch
  deque               collections.deque + threading.Condition: extend by a batch,
                      the consumer takes everything present

The first two disruptor variants and the queues hand the consumer each
event as a bytes object (the disruptor copies the bytes in and out; the
queues pass references); the packed variants pass one buffer per batch
each way, with no object per event (compare them with simplequeue-lists). The
clock runs from the first publish until the consumer has the last event.
It prints "ns=<elapsed> wakeups=<consumer wake-ups>".
"""

import collections
import queue
import sys
import threading
import time

EVENT = b"0123456789abcdef"  # 16 bytes


def _producer_batches(batch, events):
    items = [EVENT] * batch
    full, rest = divmod(events, batch)
    return items, full, [EVENT] * rest


def run_disruptor(batch, events, poller, packed=False):
    from .core import Disruptor
    d = Disruptor(size=4096, event_size=len(EVENT), producer="single", wait="blocking")
    got = [0, 0]  # events, wake-ups
    done = threading.Event()
    if poller:
        p = d.poller(max_events=4096)

        def consume():
            for b in (p.raw_batches() if packed else p.batches()):
                got[0] += len(b)
                got[1] += 1
                if got[0] >= events:
                    done.set()
        t = threading.Thread(target=consume)
        t.start()
    elif packed:
        def handler(b):
            got[0] += len(b)
            got[1] += 1
            if got[0] >= events:
                done.set()
        d.handle_events(handler, batch=True)
    else:
        def handler(b, _first):
            got[0] += len(b)
            got[1] += 1
            if got[0] >= events:
                done.set()
        d.handle_events(handler)
    items, full, rest = _producer_batches(batch, events)
    with d:
        start = time.perf_counter_ns()
        if packed:
            publish_packed = d.publish_packed
            buf = b"".join(items)
            for _ in range(full):
                publish_packed(buf)
            if rest:
                publish_packed(b"".join(rest))
        elif batch == 1:
            publish = d.publish
            for _ in range(events):
                publish(EVENT)
        else:
            publish_many = d.publish_many
            for _ in range(full):
                publish_many(items)
            if rest:
                publish_many(rest)
        done.wait()
        elapsed = time.perf_counter_ns() - start
    if poller:
        t.join()
    return elapsed, got[1]


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
    "packed-callback": lambda b, n: run_disruptor(b, n, poller=False, packed=True),
    "packed-poller": lambda b, n: run_disruptor(b, n, poller=True, packed=True),
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
