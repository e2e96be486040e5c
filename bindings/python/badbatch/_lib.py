"""Loading libbadbatch and declaring its functions (see bindings/c/badbatch.h).

The library is loaded twice over (and a third time, ``untyped``, below): ``lib`` (ctypes.CDLL) releases the GIL
for the length of each call, so a producer waiting for room, a poller
waiting for events and a shutdown waiting for the consumers let the other
Python threads run; ``nogil`` (ctypes.PyDLL) keeps it, for the calls that
never wait (the try forms, a poll without a timeout), for which releasing
and taking back the GIL would cost more than the call and hand the GIL
to another thread at every publish.
"""

import ctypes
import ctypes.util
import os

from ctypes import (CFUNCTYPE, POINTER, Structure, c_char_p, c_int, c_int64,
                    c_size_t, c_uint32, c_void_p)

c_handle = ctypes.c_size_t  # uintptr_t

# The lengths come as an address (c_void_p): reading them with one
# string_at is much cheaper than slicing a POINTER(c_uint32).
HANDLER = CFUNCTYPE(c_int, c_void_p, c_int64, c_size_t, c_void_p,
                    c_void_p, c_size_t)


class RingInfo(Structure):
    _fields_ = [("events", c_void_p), ("lengths", POINTER(c_uint32)),
                ("slots", c_size_t), ("event_size", c_size_t)]


def _find():
    path = os.environ.get("BADBATCH_LIBRARY")
    if path:
        return path
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "libbadbatch.so")
    if os.path.exists(here):
        return here
    found = ctypes.util.find_library("badbatch")
    if found:
        return found
    raise ImportError(
        "libbadbatch not found: build it with "
        "`go build -buildmode=c-shared -o libbadbatch.so ./bindings/c` "
        "and set BADBATCH_LIBRARY to its path (or put it beside this package)")


_path = _find()
lib = ctypes.CDLL(_path)
nogil = ctypes.PyDLL(_path)

_P_I64 = POINTER(c_int64)
_P_SIZE = POINTER(c_size_t)
_P_U32 = POINTER(c_uint32)

_PROTOTYPES = {
    "bb_new": [c_size_t, c_size_t, c_char_p, c_char_p, POINTER(c_handle), c_char_p, c_size_t],
    "bb_handle_events": [c_handle, HANDLER, c_void_p],
    "bb_poller_new": [c_handle, POINTER(c_handle)],
    "bb_start": [c_handle],
    "bb_shutdown": [c_handle, c_int64],
    "bb_halt": [c_handle],
    "bb_free": [c_handle],
    "bb_next": [c_handle, _P_I64],
    "bb_next_n": [c_handle, c_size_t, _P_I64],
    "bb_try_next": [c_handle, _P_I64],
    "bb_try_next_n": [c_handle, c_size_t, _P_I64],
    "bb_ring": [c_handle, POINTER(RingInfo)],
    "bb_get": [c_handle, c_int64, POINTER(c_void_p)],
    "bb_set_length": [c_handle, c_int64, c_size_t],
    "bb_write": [c_handle, c_int64, c_void_p, c_size_t],
    "bb_publish": [c_handle, c_int64],
    "bb_publish_range": [c_handle, c_int64, c_int64],
    "bb_publish_copy": [c_handle, c_void_p, c_size_t, _P_I64],
    "bb_try_publish_copy": [c_handle, c_void_p, c_size_t, _P_I64],
    "bb_publish_many": [c_handle, c_void_p, c_void_p, c_size_t, _P_I64],
    "bb_try_publish_many": [c_handle, c_void_p, c_void_p, c_size_t, _P_I64],
    "bb_poll": [c_handle, c_void_p, c_size_t, c_void_p, c_size_t, c_int64, _P_SIZE, _P_I64],
    "bb_poller_free": [c_handle],
}

for _dll in (lib, nogil):
    for _name, _args in _PROTOTYPES.items():
        _f = getattr(_dll, _name)
        _f.argtypes = _args
        _f.restype = c_int

# The publishing calls that never wait, a third time, without argtypes:
# converting five arguments through argtypes costs more than the call into
# the library (about 350 ns against 250 ns). They must be called with
# arguments of the exact C types: ctypes objects (c_size_t, c_void_p,
# byref), bytes or None, never a bare int (which ctypes would pass as a C
# int). core.py does so.
untyped = ctypes.PyDLL(_path)
for _name in ("bb_try_publish_copy", "bb_try_publish_many"):
    getattr(untyped, _name).restype = c_int

lib.bb_strerror.argtypes = [c_int]
lib.bb_strerror.restype = c_char_p
lib.bb_error_name.argtypes = [c_int]
lib.bb_error_name.restype = c_char_p
