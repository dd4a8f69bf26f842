"""Running a query so that no single statement can take the process down or hold it forever.

- **Shape.** Statement text is bounded before any parser sees it (``grammar.limits``: nesting,
  expression depth, tokens); the limits are re-exported here.
- **Stack.** DataFusion plans on the calling thread (datafusion-python's ``SessionContext.sql``
  runs its future with the tokio runtime's ``block_on`` there), and a stack overflow in Rust is
  a SIGSEGV, not an exception. ``planned`` runs planning on a thread with a
  ``PLANNING_STACK_BYTES`` stack instead: an operator chain that overflows the default 8 MiB
  stack at ~10,000 terms plans there (bounded statements never come close). Handing a call to
  that thread and back costs two thread switches, a good part of a small query's cost on a
  loaded machine, so short SQL text (``SHALLOW_CHARS``: at most ~1,000 operators, which plan
  in under 2 MiB) plans on the calling thread when that thread's own stack holds
  ``INLINE_STACK_BYTES``.
- **Deadline.** A statement may run for the engine's ``statement_timeout`` (``raise serve
  --statement-timeout``), or less if the session asks (``SET statement_timeout = '5s'``). Past
  it, the DataFusion call in progress is cancelled: datafusion-python runs a line of Python
  every second while it waits on a query, and that is where a pending
  ``PyThreadState_SetAsyncExc`` exception lands; the failing future is dropped, which stops
  its tasks and frees their memory. Only DataFusion calls are cancellable (``cancellable``):
  catalog and storage writes are never interrupted half way.
"""
from __future__ import annotations

import contextvars
import ctypes
import sys
import heapq
import itertools
import queue
import re
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import pyarrow as pa

from grammar.errors import LimitExceeded, StatementTimeout, ValidationError
from grammar.limits import MAX_DEPTH, MAX_NESTING, MAX_NODES, check

if TYPE_CHECKING:
    from raise_.engine.session import Session

__all__ = ["MAX_DEPTH", "MAX_NESTING", "MAX_NODES", "LimitExceeded", "check", "StatementTimeout",
           "Deadline", "deadline", "planned", "cancellable", "setting", "apply_setting"]

#: Stack of the threads DataFusion plans on (address space only; pages are used as touched).
PLANNING_STACK_BYTES = 256 << 20
#: SQL text at most this long plans on the calling thread (given ``INLINE_STACK_BYTES``):
#: DataFusion 55 plans a 4,000-term chain on an 8 MiB stack; this allows ~1,000 terms.
SHALLOW_CHARS = 2048
#: The smallest stack of a calling thread that plans shallow SQL itself.
INLINE_STACK_BYTES = 6 << 20
#: How long a cancelled call may take to notice (datafusion-python looks once a second).
CANCEL_GRACE_S = 5.0

T = TypeVar("T")


class _Cancelled(StatementTimeout):
    """Raised asynchronously in a thread whose DataFusion call passed its deadline."""

    def __init__(self, message: str = "the statement passed its deadline and was cancelled") -> None:
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Deadline:
    """When a statement must be done: ``timeout_s`` after it started (None: no deadline)."""

    timeout_s: float | None
    start: float = field(default_factory=time.monotonic)

    @property
    def at(self) -> float | None:
        return None if self.timeout_s is None else self.start + self.timeout_s

    def remaining(self) -> float | None:
        return None if self.at is None else self.at - time.monotonic()

    def error(self) -> StatementTimeout:
        return StatementTimeout(
            f"the statement ran longer than its statement_timeout of {_duration(self.timeout_s)} "
            "and was cancelled; raise it with SET statement_timeout (up to the server's limit) or "
            "make the query cheaper", name="statement_timeout")


def timeout_of(session: "Session") -> float | None:
    """The session's effective timeout: its own setting, never above the engine's."""
    limits = [t for t in (session.engine.statement_timeout, session.statement_timeout) if t]
    return min(limits) if limits else None


def deadline(session: "Session") -> Deadline:
    return Deadline(timeout_of(session))


# -- cancellation -------------------------------------------------------------------------

@dataclass(eq=False)
class _Watch:
    thread: int
    at: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    active: bool = True
    fired: bool = False


class _Watchdog:
    """One daemon thread that cancels the calls whose deadline passed."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Watch]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, watch: _Watch) -> None:
        with self._wake:
            heapq.heappush(self._heap, (watch.at, next(self._order), watch))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="raise-watchdog", daemon=True)
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    self._wake.wait(None if not self._heap else self._heap[0][0] - time.monotonic())
                _, _, watch = heapq.heappop(self._heap)
            with watch.lock:
                if watch.active:
                    watch.fired = True
                    _set_async(watch.thread, _Cancelled)


_WATCHDOG = _Watchdog()


def _set_async(thread: int, exception: type[BaseException] | None) -> None:
    """Raise ``exception`` in ``thread`` at its next Python instruction (None: clear it)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread), ctypes.py_object(exception)
                                               if exception is not None else None)


class cancellable:
    """A DataFusion call that is cancelled when ``deadline`` passes (see the module doc).

    >>> with cancellable(Deadline(5.0)):                # doctest: +SKIP
    ...     table = dataframe.to_arrow_table()
    """

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline
        self._watch: _Watch | None = None

    def __enter__(self) -> "cancellable":
        at = self.deadline.at
        if at is not None:
            if at <= time.monotonic():
                raise self.deadline.error()
            self._watch = _Watch(threading.get_ident(), at)
            _WATCHDOG.watch(self._watch)
        return self

    def __exit__(self, kind, error, traceback) -> bool:
        watch = self._watch
        if watch is None:
            return False
        with watch.lock:
            watch.active = False
            if watch.fired:  # delivered or still pending: clear it, report the deadline
                _set_async(watch.thread, None)
        if watch.fired:
            raise self.deadline.error() from None
        return False


# -- planning on a large stack ------------------------------------------------------------

_STACK_LOCK = threading.Lock()
_PLANNER = "raise-planner"


class _Planner:
    """A thread with a ``PLANNING_STACK_BYTES`` stack that runs the calls handed to it, one
    at a time, and offers itself again when one is done. Starting such a thread costs more
    than planning a small statement, so threads are kept; one still busy with a call whose
    caller gave up (past its deadline) simply is not offered until it finishes."""

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        with _STACK_LOCK:  # the size applies to threads started while it is set
            previous = threading.stack_size(PLANNING_STACK_BYTES)
            try:
                threading.Thread(target=self._serve, name=_PLANNER, daemon=True).start()
            finally:
                threading.stack_size(previous)

    def _serve(self) -> None:
        while True:
            self.jobs.get()()
            _IDLE.put(self)


_IDLE: queue.SimpleQueue[_Planner] = queue.SimpleQueue()


def _planner() -> _Planner:
    try:
        return _IDLE.get_nowait()
    except queue.Empty:
        return _Planner()


_THREAD = threading.local()


def _own_stack_bytes() -> int:
    """The calling thread's stack size (0 where it cannot be known: not glibc/Linux)."""
    known = getattr(_THREAD, "stack", None)
    if known is None:
        known = _THREAD.stack = _stack_size()
    return known


def _stack_size() -> int:
    if not sys.platform.startswith("linux"):
        return 0
    try:
        libc = ctypes.CDLL(None)
        libc.pthread_self.restype = ctypes.c_ulong
        attr = ctypes.create_string_buffer(256)  # pthread_attr_t is 56 bytes on x86-64 glibc
        if libc.pthread_getattr_np(ctypes.c_ulong(libc.pthread_self()), attr) != 0:
            return 0
        try:
            address, size = ctypes.c_void_p(), ctypes.c_size_t()
            if libc.pthread_attr_getstack(attr, ctypes.byref(address), ctypes.byref(size)) != 0:
                return 0
            return size.value
        finally:
            libc.pthread_attr_destroy(attr)
    except (OSError, AttributeError):  # no pthread_getattr_np (musl, other libcs)
        return 0


def inline(sql: str | None) -> bool:
    """Whether planning ``sql`` may run on the calling thread (see the module doc)."""
    return (sql is not None and len(sql) <= SHALLOW_CHARS
            and (threading.current_thread().name == _PLANNER or _own_stack_bytes() >= INLINE_STACK_BYTES))


def planned(call: Callable[..., T], *args: Any, deadline: Deadline, sql: str | None = None, **kwargs: Any) -> T:
    """``call(*args, **kwargs)`` (DataFusion planning) on a thread with a large stack,
    cancelled at ``deadline``; its result or exception comes back to the caller. ``sql``: the
    text the call plans; when it is short (``inline``) the call runs where it is made."""
    if threading.current_thread().name == _PLANNER or inline(sql):
        with cancellable(deadline):
            return call(*args, **kwargs)
    box: dict[str, Any] = {}
    done = threading.Event()
    context = contextvars.copy_context()

    def work() -> None:
        try:
            with cancellable(deadline):
                box["value"] = context.run(call, *args, **kwargs)
        except BaseException as error:  # noqa: BLE001 - handed to the waiting caller
            box["error"] = error
        finally:
            done.set()

    _planner().jobs.put(work)
    remaining = deadline.remaining()
    if not done.wait(None if remaining is None else max(remaining, 0) + CANCEL_GRACE_S):
        raise deadline.error()  # not cancellable in time: it finishes on its own, unseen
    if "error" in box:
        raise box["error"]
    return box["value"]


# -- SET / RESET / SHOW statement_timeout ---------------------------------------------------

_SETTING = re.compile(
    r"^\s*(?:(?P<set>SET)\s+(?:SESSION\s+)?statement_timeout\s*(?:=|\bTO\b)\s*(?P<value>'[^']*'|\S+)"
    r"|(?P<reset>RESET)\s+statement_timeout|(?P<show>SHOW)\s+statement_timeout)\s*$",
    re.IGNORECASE,
)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?\s*$", re.IGNORECASE)
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def setting(sql: str) -> re.Match | None:
    """The ``SET|RESET|SHOW statement_timeout`` statement ``sql`` is, else None."""
    return _SETTING.match(sql)


def apply_setting(session: "Session", statement: re.Match) -> pa.Table:
    """Run a matched statement_timeout statement; a one-row result like SHOW's."""
    if statement.group("set"):
        session.statement_timeout = parse_timeout(statement.group("value"))
    elif statement.group("reset"):
        session.statement_timeout = None
    value = timeout_of(session)
    return pa.table({"statement_timeout": [_duration(value) if value else "0"]})


def parse_timeout(text: str) -> float | None:
    """``'5s'``, ``'250ms'``, ``'2min'``, ``5000`` (milliseconds, as in PostgreSQL); ``0`` and
    ``DEFAULT`` mean no timeout of the session's own. Seconds, or None."""
    value = text[1:-1] if text.startswith("'") else text
    if value.upper() == "DEFAULT":
        return None
    match = _DURATION.match(value)
    if match is None:
        raise ValidationError(
            f"invalid statement_timeout {text}: give a duration such as '5s', '250ms', '2min' or "
            "a number of milliseconds; 0 or DEFAULT for the server's", code="RAISE-V093", name=text)
    seconds = float(match.group(1)) * _UNITS[(match.group(2) or "ms").lower()]
    return seconds or None


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "0"
    return f"{seconds * 1000:g}ms" if seconds < 1 else f"{seconds:g}s"
