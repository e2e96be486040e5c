"""The library's errors as Python exceptions.

Every failure of the library is a BadBatchError whose ``code`` is the C
code (``BB_EFULL`` is 5) and ``name`` its C name; each code has its own
subclass, so ``except badbatch.RingFullError`` catches exactly it. The REST
client raises APIError, with the server's stable code (``RING_FULL``).
"""

# The codes of bindings/c/badbatch.h; a test checks them against the library.
OK = 0
EINVAL = 1
EHANDLE = 2
ECONFIG = 3
ENOMEM = 4
EFULL = 5
ECLAIM = 6
ETOOLARGE = 7
ENOTSTARTED = 8
ESTARTED = 9
ESHUTDOWN = 10
EHALTED = 11
ETIMEOUT = 12
EINTERNAL = 13


class BadBatchError(Exception):
    """A call into the library failed. ``code`` is its BB_* number, ``name``
    the code's C name."""

    code = None
    name = None

    def __init__(self, message=None, code=None):
        if code is not None:
            self.code = code
            self.name = _names.get(code, "BB_E%d" % code)
        text = _text(self.code)
        super().__init__("%s: %s" % (text, message) if message else text)


class InvalidArgumentError(BadBatchError, ValueError):
    code, name = EINVAL, "BB_EINVAL"


class HandleError(BadBatchError):
    """The disruptor or poller was freed already."""
    code, name = EHANDLE, "BB_EHANDLE"


class ConfigError(BadBatchError, ValueError):
    code, name = ECONFIG, "BB_ECONFIG"


class NoMemoryError(BadBatchError, MemoryError):
    code, name = ENOMEM, "BB_ENOMEM"


class RingFullError(BadBatchError):
    """No room now, from a call with ``block=False``."""
    code, name = EFULL, "BB_EFULL"


class ClaimError(BadBatchError, ValueError):
    code, name = ECLAIM, "BB_ECLAIM"


class TooLargeError(BadBatchError, ValueError):
    code, name = ETOOLARGE, "BB_ETOOLARGE"


class NotStartedError(BadBatchError):
    code, name = ENOTSTARTED, "BB_ENOTSTARTED"


class StartedError(BadBatchError):
    code, name = ESTARTED, "BB_ESTARTED"


class ShutdownError(BadBatchError):
    code, name = ESHUTDOWN, "BB_ESHUTDOWN"


class HaltedError(BadBatchError):
    """A consumer stopped because its handler raised; the handler's
    exception is the ``__cause__``."""
    code, name = EHALTED, "BB_EHALTED"


class ShutdownTimeoutError(BadBatchError):
    code, name = ETIMEOUT, "BB_ETIMEOUT"


class InternalError(BadBatchError):
    code, name = EINTERNAL, "BB_EINTERNAL"


_classes = {c.code: c for c in (
    InvalidArgumentError, HandleError, ConfigError, NoMemoryError,
    RingFullError, ClaimError, TooLargeError, NotStartedError, StartedError,
    ShutdownError, HaltedError, ShutdownTimeoutError, InternalError)}
_names = {c: cls.name for c, cls in _classes.items()}
_names[OK] = "BB_OK"


def _text(code):
    from ._lib import lib
    return lib.bb_strerror(code if code is not None else -1).decode()


def error(code, message=None):
    """The exception for a code returned by the library."""
    cls = _classes.get(code)
    if cls is None:
        return BadBatchError(message, code=code)
    return cls(message)


def check(code, message=None):
    """Raises the exception of a code other than BB_OK."""
    if code != OK:
        raise error(code, message)


class APIError(Exception):
    """An error answer of the REST API: ``status`` (HTTP), ``code`` (the
    stable code, such as ``RING_FULL``), ``details`` (a dict)."""

    def __init__(self, status, code, message, details=None, retry_after=None):
        super().__init__("%d %s: %s" % (status, code, message))
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.retry_after = retry_after


class SubscriberLaggedError(APIError):
    """A live tail fell more than a ring behind and the server ended it
    (code ``SUBSCRIBER_LAGGED``); ``details`` has ``last_sequence`` and
    ``oldest_sequence``."""
