"""The disruptor from Python, over libbadbatch with ctypes."""

import array
import atexit
import ctypes
import struct
import sys
import threading
import time
import weakref

from ctypes import addressof, byref, c_char, c_int64, c_size_t, c_void_p, string_at

from . import errors
from ._lib import HANDLER, RingInfo, c_handle, lib, nogil, untyped
from .errors import check

__all__ = ["Disruptor", "Claim", "Poller", "Batch"]

# Called with exact C types only (see _lib.untyped): the handle and counts
# as c_size_t, addresses as c_void_p, data as bytes.
_try_publish_copy = untyped.bb_try_publish_copy
_try_publish_many = untyped.bb_try_publish_many
_sizes = {}  # c_size_t(n) by n: a batch size repeats, and making one costs a third of a call


def _size(n):
    s = _sizes.get(n)
    if s is None:
        if len(_sizes) > 1024:
            _sizes.clear()
        s = _sizes[n] = c_size_t(n)
    return s
_live = weakref.WeakSet()  # disruptors not yet closed, halted at exit
_in_handler = threading.local()  # set while a handler runs on this thread


def _ns(timeout):
    return -1 if timeout is None else max(0, int(timeout * 1e9))


# Splitting a run of fixed-size slots into one bytes object per event,
# from the slots' bytes and their lengths' bytes (native uint32s). When
# every event has the same length (the common case) one struct unpack does
# it in C; otherwise a comprehension slices each.
_unpackers = {}


def _split(data, lens, count, size):
    if not isinstance(lens, bytes):
        lens = bytes(lens)
    first = lens[:4]
    if lens == first * count:
        n = int.from_bytes(first, sys.byteorder)
        key = (n, size, count)
        unpack = _unpackers.get(key)
        if unpack is None:
            if len(_unpackers) > 512:
                _unpackers.clear()
            unpack = struct.Struct(("%ds%dx" % (n, size - n)) * count).unpack
            _unpackers[key] = unpack
        return list(unpack(data))
    if isinstance(data, bytes):
        return [data[o:o + n] for o, n in zip(range(0, count * size, size), array.array("I", lens))]
    return [bytes(data[o:o + n]) for o, n in zip(range(0, count * size, size), array.array("I", lens))]


class Batch:
    """A run of events in one buffer, with no object per event: event k
    (0 <= k < len(batch)) is ``data[k*event_size : k*event_size +
    lengths[k]]``, at sequence ``first + k``.

    A batch from ``handle_events(fn, batch=True)``, :meth:`Poller.poll_batch`
    or :meth:`Poller.raw_batches` is a copy: ``data`` is bytes and
    ``lengths`` an array of uint32, and they stay valid. A *view* batch,
    from ``handle_events(fn, view=True)``, :meth:`Poller.poll_view` or
    :meth:`Poller.views`, is no copy of its own: ``data`` and ``lengths``
    are read-only memoryviews of a buffer the library reuses, valid only
    until the handler returns (or the poller polls again); then they are
    released, and using them raises ValueError. Copy what you keep:
    ``batch[k]`` and :meth:`tolist` give bytes, ``bytes(batch.data)`` the
    whole run; :meth:`view` is event k's memoryview, no copy (and, like a
    slice of ``data``, it would see the buffer's later contents if kept).

    Indexing, iterating and :meth:`tolist` give bytes."""

    __slots__ = ("first", "count", "data", "event_size", "_lens", "_arr")

    def __init__(self, first, count, data, lens, event_size):
        self.first = first
        self.count = count
        self.data = data
        self.event_size = event_size
        self._lens = lens  # the lengths' bytes (or a memoryview of them)
        self._arr = None

    @property
    def lengths(self):
        """The events' lengths: an array('I'), or for a view batch a
        memoryview of format 'I'."""
        if self._arr is None:
            lens = self._lens
            self._arr = array.array("I", lens) if isinstance(lens, bytes) else lens.cast("I")
        return self._arr

    def __len__(self):
        return self.count

    def _offset(self, k):
        if k < 0:
            k += self.count
        if not 0 <= k < self.count:
            raise IndexError("batch index out of range")
        o = k * self.event_size
        return o, o + self.lengths[k]

    def __getitem__(self, k):
        o, e = self._offset(k)
        if isinstance(self.data, bytes):
            return self.data[o:e]
        return bytes(self.data[o:e])

    def view(self, k):
        """Event k as a read-only memoryview of the batch's buffer (no
        copy); for a view batch, valid only while the batch is."""
        o, e = self._offset(k)
        return memoryview(self.data)[o:e]

    def __iter__(self):
        return iter(self.tolist())

    def tolist(self):
        """The events as a list of bytes (copies)."""
        if self.count == 0:
            return []
        return _split(self.data, self._lens, self.count, self.event_size)

    def _release(self):
        # A view batch's memoryviews end with the call (or the next poll):
        # later use raises ValueError instead of reading reused memory.
        for v in (self._arr, self._lens, self.data):
            if isinstance(v, memoryview):
                try:
                    v.release()
                except BufferError:
                    pass  # exported further (by the user): theirs to keep

    def __repr__(self):
        return "Batch(first=%r, count=%r)" % (self.first, self.count)


class Disruptor:
    """A ring of ``size`` slots (a power of 2) of byte events of at most
    ``event_size`` bytes, published from any thread (``producer="multi"``)
    or one at a time (``"single"``), with consumers waiting by ``wait``:
    busy_spin, yielding, sleeping, blocking, lite_blocking,
    timeout_blocking or phased_backoff.

    Add consumers before starting it: :meth:`handle_events` (a callable
    called with each batch on a thread of its own) and :meth:`poller` (an
    iterator for a thread of yours). ``with d:`` starts it and, at the end
    of the block, shuts it down (every published event handled by every
    handler) and frees it::

        d = Disruptor(size=1024, event_size=64, wait="yielding")
        d.handle_events(lambda events, first: print(first, events))
        with d:
            d.publish(b"hello")
            with d.claim(2) as batch:
                batch[0] = b"one"
                batch[1] = b"two"

    Waiting calls (publishing into a full ring, polling, shutting down)
    release the GIL while they wait.
    """

    def __init__(self, size=1024, event_size=256, producer="multi", wait="blocking", handlers=()):
        h = c_handle()
        errbuf = ctypes.create_string_buffer(1024)
        rc = lib.bb_new(size, event_size, producer.encode(), wait.encode(), byref(h), errbuf, len(errbuf))
        check(rc, errbuf.value.decode() or None)
        self._h = h.value
        self._ch = c_size_t(self._h)  # the handle, typed, for the untyped calls
        self.size = size
        self.event_size = event_size
        self.producer = producer
        self.wait = wait
        self._callbacks = []  # the ctypes callbacks, alive until freed
        self._failures = []  # what handlers raised
        self._pollers = []
        self._started = False
        self._freed = False
        self._lock = threading.Lock()
        self._undrained = set()  # pollers close waits for: not yet at the end, not closed
        self._drained = threading.Condition(self._lock)
        info = RingInfo()
        check(lib.bb_ring(self._h, byref(info)))
        self._events = info.events
        # The ring's memory (lengths, then events) as one memoryview, for
        # the handlers to read their batches in place; never handed out.
        self._base = ctypes.cast(info.lengths, c_void_p).value
        total = size * (4 + event_size)
        self._mem = memoryview((c_char * total).from_address(self._base)).cast("B")
        _live.add(self)
        for fn in handlers:
            self.handle_events(fn)

    # Consumers.

    def handle_events(self, fn, batch=False, view=False):
        """Adds a consumer: ``fn(events, first_sequence)`` is called with
        each batch (a list of bytes, in order) on a thread of the
        library's, one batch at a time. With ``batch=True``, ``fn(b)``
        with a :class:`Batch` instead (one bytes of the batch's slots, no
        object per event); with ``view=True``, ``fn(b)`` with a view
        :class:`Batch`, whose memoryviews are valid only during the call
        (no allocation per batch: the fastest way). If fn raises, this
        consumer stops; the disruptor then raises HaltedError, from fn's
        exception. Call before start."""
        size = self.event_size
        failures = self._failures
        mem, base = self._mem, self._base
        if view:
            # The handler's own buffer: the batch is copied in (one
            # memcpy), so a view kept too long reads stale events, never
            # freed memory.
            vbuf = bytearray(self.size * size)
            lbuf = bytearray(4 * self.size)
            vmv, lmv = memoryview(vbuf).toreadonly(), memoryview(lbuf).toreadonly()

        def trampoline(_ctx, first, count, events, lengths, _size):
            _in_handler.active = True
            try:
                d, n = events - base, count * size
                lo = lengths - base
                if view:
                    vbuf[:n] = mem[d:d + n]
                    lbuf[:4 * count] = mem[lo:lo + 4 * count]
                    b = Batch(first, count, vmv[:n], lmv[:4 * count], size)
                    try:
                        fn(b)
                    finally:
                        b._release()
                elif batch:
                    fn(Batch(first, count, string_at(events, n), string_at(lengths, 4 * count), size))
                else:
                    fn(_split(mem[d:d + n], mem[lo:lo + 4 * count], count, size), first)
                return 0
            except BaseException as e:  # reported by shutdown, never lost
                failures.append(e)
                return 1
            finally:
                _in_handler.active = False

        cb = HANDLER(trampoline)
        check(lib.bb_handle_events(self._h, cb, None))
        self._callbacks.append(cb)
        return fn

    def poller(self, max_events=1024):
        """Adds and returns a :class:`Poller`. Call before start. close
        (and the end of ``with d:``) waits for it to poll every event, or
        to be closed."""
        p = Poller(self, max_events)
        self._pollers.append(p)
        with self._lock:
            self._undrained.add(p)
        return p

    # Lifecycle.

    def start(self):
        """Starts the consumers; publishing may begin."""
        check(lib.bb_start(self._h))
        self._started = True

    def __enter__(self):
        if not self._started:
            self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            try:
                self.close()
            except errors.BadBatchError:
                pass  # the body's exception is the one to see
        return False

    def close(self, timeout=None):
        """Shuts down (see :meth:`shutdown`), waits until every poller has
        polled every event (its iterator ended) or was closed, and frees
        the ring; ``with d:`` ends with it. With a timeout (seconds, for
        each wait) it frees the ring when the time is up and raises
        ShutdownTimeoutError."""
        try:
            self.shutdown(timeout)
            deadline = None if timeout is None else time.monotonic() + timeout
            with self._lock:
                while self._undrained:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        raise errors.ShutdownTimeoutError("%d pollers were not drained" % len(self._undrained))
                    self._drained.wait(left)
        finally:
            self.free()

    def shutdown(self, timeout=None):
        """Stops new publishes (they raise ShutdownError), waits for the
        claims in progress and for every handler to handle every event,
        then stops the handlers. Pollers read on until they have every
        event. Raises HaltedError if a handler had failed and
        ShutdownTimeoutError (halting without draining) when ``timeout``
        seconds pass first."""
        if getattr(_in_handler, "active", False):
            raise RuntimeError("shutdown from inside a handler would wait for the handler itself")
        rc = lib.bb_shutdown(self._h, _ns(timeout))
        if rc == errors.EHALTED and self._failures:
            raise errors.HaltedError(repr(self._failures[0])) from self._failures[0]
        check(rc)

    def halt(self):
        """Stops the handlers now, without draining."""
        check(lib.bb_halt(self._h))

    def free(self):
        """Halts if still running and frees the ring now. A poll in
        progress finishes first; later calls on the disruptor, its claims
        or its pollers raise HandleError."""
        if getattr(_in_handler, "active", False):
            raise RuntimeError("free from inside a handler would wait for the handler itself")
        with self._lock:
            if self._freed:
                return
            self._freed = True
        lib.bb_free(self._h)
        try:
            self._mem.release()
        except BufferError:
            pass
        for p in self._pollers:
            p._freed = True
        _live.discard(self)
        self._callbacks = []

    def __del__(self):
        # A disruptor dropped without close: free its ring (not from a
        # handler's thread, where freeing would wait for the handler).
        if not getattr(self, "_freed", True) and not getattr(_in_handler, "active", False):
            try:
                self.free()
            except Exception:
                pass

    @property
    def failures(self):
        """The exceptions the handlers raised, in order."""
        return list(self._failures)

    # Publishing.

    def publish(self, data, block=True):
        """Publishes one event (bytes-like, at most event_size bytes).
        Waits for room unless block is False (RingFullError then)."""
        if not isinstance(data, bytes):
            data = bytes(data)
        # First without waiting, keeping the GIL; only a full ring waits.
        rc = _try_publish_copy(self._ch, data, _size(len(data)), None)
        if rc == errors.EFULL and block:
            rc = lib.bb_publish_copy(self._h, data, len(data), None)
        if rc:
            self._raise(rc)

    def publish_many(self, events, block=True):
        """Publishes a list of events (bytes-like) in order, in claims of at
        most the ring's size: a batch that fits is one claim, seen whole or
        not at all by the consumers. Nothing of a claim is published unless
        every event in it is valid."""
        n = len(events)
        if n == 0:
            return
        for lo in range(0, n, self.size):
            part = events if n <= self.size else events[lo:lo + self.size]
            data = b"".join(part)
            if len(data) == len(part) * self.event_size and max(map(len, part)) == self.event_size:
                addr = None  # none longer, none shorter: every event fills its slot, no lengths to pass
            else:
                lens = array.array("I", map(len, part))
                addr = lens.buffer_info()[0]
            rc = _try_publish_many(self._ch, data, None if addr is None else c_void_p(addr), _size(len(part)), None)
            if rc == errors.EFULL and block:
                rc = lib.bb_publish_many(self._h, data, addr, len(part), None)
            if rc:
                self._raise(rc)

    def publish_packed(self, data, lengths=None, block=True):
        """Publishes events packed in one bytes-like buffer, in one claim
        and one call, with no object per event: with ``lengths`` None,
        ``data`` holds whole slots (``len(data) // event_size`` events of
        event_size bytes); otherwise event k is the next ``lengths[k]``
        bytes (an array('I') is passed as it is) and data holds exactly
        their sum. At most the ring's size of events (ClaimError)."""
        if not isinstance(data, bytes):
            data = bytes(data)
        if lengths is None:
            n, rem = divmod(len(data), self.event_size)
            if rem:
                raise errors.InvalidArgumentError("%d bytes is not a whole number of %d-byte slots" % (len(data), self.event_size))
            addr = None
        else:
            if not (isinstance(lengths, array.array) and lengths.typecode == "I"):
                lengths = array.array("I", lengths)
            n = len(lengths)
            if sum(lengths) != len(data):
                raise errors.InvalidArgumentError("the lengths add up to %d bytes, the data has %d" % (sum(lengths), len(data)))
            addr = lengths.buffer_info()[0]
        if n == 0:
            return
        rc = _try_publish_many(self._ch, data, None if addr is None else c_void_p(addr), _size(n), None)
        if rc == errors.EFULL and block:
            rc = lib.bb_publish_many(self._h, data, addr, n, None)
        if rc:
            self._raise(rc)

    def claim(self, n=1, block=True):
        """Claims n consecutive slots, to fill in place and publish: use as
        ``with d.claim(n) as batch: batch[i] = b"..."``. The claim is
        published when the block ends, even if it raised (a claim must be
        published or the ring stops); slots not written are published
        empty."""
        return Claim(self, n, block)

    def _raise(self, rc):
        if rc == errors.EHALTED and self._failures:
            raise errors.HaltedError(repr(self._failures[0])) from self._failures[0]
        check(rc)


class Claim:
    """Slots claimed with :meth:`Disruptor.claim`: ``sequences`` is their
    range; ``batch[k] = data`` copies event k in, ``batch.view(k)`` is a
    writable memoryview of its slot (set its length with
    ``set_length``). Use it from the claiming thread, and not after it is
    published."""

    def __init__(self, d, n, block):
        hi = c_int64()
        rc = nogil.bb_try_next_n(d._h, n, byref(hi))
        if rc == errors.EFULL and block:
            rc = lib.bb_next_n(d._h, n, byref(hi))
        if rc:
            d._raise(rc)
        self._d = d
        self.lo = hi.value - n + 1
        self.hi = hi.value
        self._written = bytearray(n)
        self._published = False

    @property
    def sequences(self):
        return range(self.lo, self.hi + 1)

    def __len__(self):
        return self.hi - self.lo + 1

    def _seq(self, k):
        if not 0 <= k < len(self):
            raise IndexError("claim index %d out of range 0..%d" % (k, len(self) - 1))
        if self._published:
            raise errors.InvalidArgumentError("the claim is published already")
        return self.lo + k

    def __setitem__(self, k, data):
        seq = self._seq(k)
        if not isinstance(data, bytes):
            data = bytes(data)
        check(lib.bb_write(self._d._h, seq, data, len(data)))
        self._written[k] = 1

    def view(self, k):
        """The slot of event k as a writable memoryview of event_size
        bytes, its length set to event_size."""
        seq = self._seq(k)
        p = c_void_p()
        check(lib.bb_get(self._d._h, seq, byref(p)))
        self._written[k] = 1
        return memoryview((ctypes.c_char * self._d.event_size).from_address(p.value)).cast("B")

    def set_length(self, k, n):
        check(lib.bb_set_length(self._d._h, self._seq(k), n))

    def publish(self):
        """Publishes the claim (the end of the with block does it)."""
        if self._published:
            return
        for k, w in enumerate(self._written):
            if not w:
                lib.bb_set_length(self._d._h, self.lo + k, 0)
        self._published = True
        check(lib.bb_publish_range(self._d._h, self.lo, self.hi))

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.publish()
        return False


class Poller:
    """A consumer you poll from a thread of yours (one at a time): every
    event published after start, in order. ``for event in poller`` yields
    events (bytes) until the disruptor is shut down and the poller has them
    all; :meth:`batches` yields lists; :meth:`poll` returns one list.
    Producers wait for a poller that falls a ring behind."""

    def __init__(self, d, max_events=1024):
        h = c_handle()
        check(lib.bb_poller_new(d._h, byref(h)))
        self._p = h.value
        self._d = d
        self._freed = False
        self.max_events = max_events
        self._buf = ctypes.create_string_buffer(max_events * d.event_size)
        self._addr = addressof(self._buf)
        self._lens = ctypes.create_string_buffer(4 * max_events)  # uint32s
        self._lens_addr = addressof(self._lens)
        self._mv = memoryview(self._buf).cast("B").toreadonly()
        self._lmv = memoryview(self._lens).cast("B").toreadonly()
        self._view = None  # the view batch of the last poll, released by the next
        self._n = c_size_t()
        self._first = c_int64()
        self.first = None  # the sequence of the first event of the last poll

    def _poll(self, timeout):
        if self._view is not None:
            self._view._release()  # its buffer is about to be overwritten
            self._view = None
        # First without waiting, keeping the GIL; then waiting without it.
        rc = nogil.bb_poll(self._p, self._addr, len(self._buf), self._lens_addr, self.max_events,
                           0, byref(self._n), byref(self._first))
        if rc == 0 and self._n.value == 0 and timeout != 0:
            rc = lib.bb_poll(self._p, self._addr, len(self._buf), self._lens_addr, self.max_events,
                             _ns(timeout), byref(self._n), byref(self._first))
        if rc:
            if rc == errors.ESHUTDOWN:
                self._done()
            check(rc)
        n = self._n.value
        if n:
            self.first = self._first.value
        return n

    def poll(self, timeout=None):
        """Returns the events available, up to max_events, waiting up to
        timeout seconds (None: for ever) when there are none: [] when none
        came. Raises ShutdownError once the disruptor is shut down and
        every event is polled."""
        n = self._poll(timeout)
        if n == 0:
            return []
        size = self._d.event_size
        return _split(self._mv[:n * size], self._lmv[:4 * n], n, size)

    def poll_batch(self, timeout=None):
        """:meth:`poll`, returning a :class:`Batch` (empty when none came)
        rather than a list: no object per event."""
        n = self._poll(timeout)
        size = self._d.event_size
        return Batch(self.first, n, string_at(self._addr, n * size), string_at(self._lens_addr, 4 * n), size)

    def poll_view(self, timeout=None):
        """:meth:`poll_batch` without copying: a view :class:`Batch` of
        the poller's own buffer, valid until the next poll (which
        releases it). The fastest way to poll."""
        n = self._poll(timeout)
        size = self._d.event_size
        b = Batch(self.first, n, self._mv[:n * size], self._lmv[:4 * n], size)
        self._view = b
        return b

    def views(self, timeout=None):
        """:meth:`batches`, of view :class:`Batch` objects: each is valid
        until the generator is resumed."""
        while True:
            try:
                yield self.poll_view(timeout)
            except errors.ShutdownError:
                return

    def raw_batches(self, timeout=None):
        """:meth:`batches`, of :class:`Batch` objects."""
        while True:
            try:
                yield self.poll_batch(timeout)
            except errors.ShutdownError:
                return

    def batches(self, timeout=None):
        """Yields each poll's events until the end; with a timeout, also
        an empty list each time it passes with none. Disruptor.close (and
        the end of ``with d:``) waits for it to end."""
        while True:
            try:
                yield self.poll(timeout)
            except errors.ShutdownError:
                return

    def __iter__(self):
        for batch in self.batches():
            yield from batch

    def _done(self):
        d = self._d
        with d._lock:
            d._undrained.discard(self)
            d._drained.notify_all()

    def close(self):
        """Stops this poller gating the producers (and Disruptor.close
        waiting for it)."""
        self._done()
        if not self._freed:
            self._freed = True
            check(lib.bb_poller_free(self._p))


@atexit.register
def _halt_all():
    # A library thread must not call into an interpreter that is gone.
    for d in list(_live):
        try:
            d.free()
        except Exception:
            pass
