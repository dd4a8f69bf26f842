"""Keeping a gRPC thread's Python state between calls, so per-thread caches last.

pyarrow runs each Flight handler on one of gRPC's own (non-Python) threads, entering Python
with ``PyGILState_Ensure`` and leaving with ``PyGILState_Release``. For a thread Python did
not start, that release deletes the thread's Python state, and with it every
``threading.local``: each call would open new SQLite connections to the catalog, the audit
log and the online store and prepare their statements again (a few hundred microseconds per
call, most of an online lookup). ``keep_thread_state`` takes one more hold on the current
thread's state the first time it runs on a thread, so the state, and its thread-locals, live
as long as the thread does.

gRPC's server ends threads and starts new ones as it goes (one new thread every ten or so
calls under a steady stream of lookups), and an ended thread's kept state would stay, with
the SQLite connections in its thread-locals (two file descriptors each), until the process
exits: a server would run out of file descriptors. So each time a new thread is kept, the
states of kept threads that have ended are cleared and deleted (``PyThreadState_Clear`` and
``PyThreadState_Delete``, as Python does for its own threads when they end), which closes
their connections. A thread has ended when its id is gone from ``/proc/self/task``; where
that cannot be read, no state is kept.
"""
from __future__ import annotations

import ctypes
import os
import threading

_TASKS = "/proc/self/task"
_kept = threading.local()
#: The kept states (addresses of ``PyThreadState``) and the native id of each one's thread.
_states: dict[int, int] = {}
_lock = threading.Lock()

_ensure = ctypes.pythonapi.PyGILState_Ensure
_ensure.restype = ctypes.c_int
_ensure.argtypes = []
_current = ctypes.pythonapi.PyThreadState_Get
_current.restype = ctypes.c_void_p
_current.argtypes = []
_clear = ctypes.pythonapi.PyThreadState_Clear
_clear.restype = None
_clear.argtypes = [ctypes.c_void_p]
_delete = ctypes.pythonapi.PyThreadState_Delete
_delete.restype = None
_delete.argtypes = [ctypes.c_void_p]


def keep_thread_state() -> None:
    """Make the calling thread's Python state (and its ``threading.local`` values) outlive the
    current call; a no-op after the first call on a thread."""
    if getattr(_kept, "held", False):
        return
    try:
        alive = {int(name) for name in os.listdir(_TASKS)}
    except OSError:  # no way to tell when a thread ends: keep nothing rather than leak
        return
    release_ended(alive)
    _ensure()  # the GIL is held: this only counts one more hold on the thread's state
    _kept.held = True
    with _lock:
        _states[_current()] = threading.get_native_id()


def release_ended(alive: set[int]) -> int:
    """Clear and delete the kept states of threads not in ``alive`` (native ids); how many."""
    with _lock:
        ended = [state for state, thread in _states.items() if thread not in alive]
        for state in ended:
            del _states[state]
    for state in ended:  # the GIL is held; the states are no thread's current state
        _clear(state)
        _delete(state)
    return len(ended)


def kept() -> int:
    """How many thread states are kept now."""
    return len(_states)
