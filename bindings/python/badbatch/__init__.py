"""BadBatch from Python.

- :class:`Disruptor`: the disruptor of the core library, in process, over
  libbadbatch (the C binding, bindings/c) with ctypes: byte events
  published from any thread and consumed by callables or by iterators.
- :class:`Client`: a small client of the REST API of ``badbatch server``
  (publish, replay, and a live tail that resumes by Last-Event-ID), on the
  standard library alone.

Errors are exceptions: :class:`BadBatchError` (``code``, the library's
BB_* number, and ``name``) with a subclass per code, and :class:`APIError`
(``status``, ``code`` such as ``RING_FULL``, ``details``) from the client.
See docs/bindings.md.
"""

from .errors import (APIError, BadBatchError, ClaimError, ConfigError,
                     HaltedError, HandleError, InternalError,
                     InvalidArgumentError, NoMemoryError, NotStartedError,
                     RingFullError, ShutdownError, ShutdownTimeoutError,
                     StartedError, SubscriberLaggedError, TooLargeError)
from .client import Client, Event, Gap


def __getattr__(name):
    # The in-process disruptor loads libbadbatch on first use, so that the
    # REST client works without it.
    if name in ("Disruptor", "Claim", "Poller", "Batch"):
        from . import core
        return getattr(core, name)
    raise AttributeError("module 'badbatch' has no attribute %r" % name)


__all__ = [
    "Disruptor", "Claim", "Poller", "Batch", "Client", "Event", "Gap",
    "BadBatchError", "InvalidArgumentError", "HandleError", "ConfigError",
    "NoMemoryError", "RingFullError", "ClaimError", "TooLargeError",
    "NotStartedError", "StartedError", "ShutdownError", "HaltedError",
    "ShutdownTimeoutError", "InternalError", "APIError",
    "SubscriberLaggedError",
]
