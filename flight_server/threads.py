"""Keeping a gRPC thread's Python state between calls, so per-thread caches last.

pyarrow runs each Flight handler on one of gRPC's own (non-Python) threads, entering Python
with ``PyGILState_Ensure`` and leaving with ``PyGILState_Release``. For a thread Python did
not start, that release deletes the thread's Python state, and with it every
``threading.local``: each call would open new SQLite connections to the catalog, the audit
log and the online store and prepare their statements again (a few hundred microseconds per
call, most of an online lookup). ``keep_thread_state`` takes one more hold on the current
thread's state the first time it runs on a thread, so the state, and its thread-locals, live
as long as the thread does. The hold is never released; a thread gRPC ends leaves its small
state behind until the process exits.
"""
from __future__ import annotations

import ctypes
import threading

_kept = threading.local()
_ensure = ctypes.pythonapi.PyGILState_Ensure
_ensure.restype = ctypes.c_int
_ensure.argtypes = []


def keep_thread_state() -> None:
    """Make the calling thread's Python state (and its ``threading.local`` values) outlive the
    current call; a no-op after the first call on a thread."""
    if getattr(_kept, "held", False):
        return
    _ensure()  # the GIL is held: this only counts one more hold on the thread's state
    _kept.held = True
