"""Analyses run in a worker thread so a notebook stays responsive.

``fs.analyze_async(analysis)`` returns an ``AnalysisJob`` at once; its analysis runs on the
store's worker (one per connection, one analysis at a time, sharing the connection's lock
with the caller's own calls). ``status`` moves from ``pending`` to ``running`` to
``completed`` or ``failed``; a failed job keeps its error, which ``result()`` raises.
"""
from __future__ import annotations

import datetime as dt
import threading
import uuid
import weakref
from concurrent.futures import Future, ThreadPoolExecutor, TimeoutError as FutureTimeout
from typing import TYPE_CHECKING, Callable

from grammar.errors import ExecutionError, RaiseError
from raise_.analytics.results import AnalysisResult
from raise_.analytics.spec import Analysis

if TYPE_CHECKING:
    from raise_.sdk.context import Executor

__all__ = ["AnalysisJob", "submit", "JOB_STATUSES"]

JOB_STATUSES = ("pending", "running", "completed", "failed")
_WORKERS: "weakref.WeakKeyDictionary[Executor, ThreadPoolExecutor]" = weakref.WeakKeyDictionary()
_WORKERS_LOCK = threading.Lock()


class AnalysisJob:
    """An analysis running in the background: ``id``, ``status``, ``wait()``, ``result()``."""

    def __init__(self, analysis: Analysis, future: Future, started: threading.Event) -> None:
        self.id = uuid.uuid4().hex
        self.analysis = analysis
        self.submitted_at = dt.datetime.now(dt.timezone.utc)
        self._future = future
        self._started = started
        self._status = "pending"
        self.error: BaseException | None = None
        self.refresh()

    @property
    def status(self) -> str:
        """``pending``, ``running``, ``completed`` or ``failed`` (as of the last ``refresh()``
        or ``wait()``; a finished job reports its end at once)."""
        if self._future.done():
            self.refresh()
        return self._status

    def refresh(self) -> "AnalysisJob":
        """Read the job's current status."""
        if self._future.done():
            self.error = self._future.exception()
            self._status = "failed" if self.error is not None else "completed"
        elif self._started.is_set():
            self._status = "running"
        return self

    def wait(self, timeout: float | None = None) -> AnalysisResult:
        """The result, waiting at most ``timeout`` seconds (RAISE-X400 if it is not done by then;
        the job's own error if it failed)."""
        try:
            self._future.result(timeout=timeout)
        except FutureTimeout:
            raise ExecutionError(f"analysis job {self.id} did not finish within {timeout} s "
                                 f"(status {self.refresh()._status})", code="RAISE-X400", name=self.id) from None
        except BaseException:
            pass
        return self.result()

    def result(self) -> AnalysisResult:
        """The finished job's result; raises its error if it failed, RAISE-X401 if still running."""
        self.refresh()
        if self._status == "failed":
            raise self.error if isinstance(self.error, RaiseError) else ExecutionError(
                f"analysis job {self.id} failed: {self.error}", code="RAISE-X401", name=self.id)
        if self._status != "completed":
            raise ExecutionError(f"analysis job {self.id} is {self._status}; wait() for it",
                                 code="RAISE-X401", name=self.id)
        return self._future.result()

    def __repr__(self) -> str:
        return f"AnalysisJob({self.id}, {self.analysis.kind}, status={self.status!r})"


def submit(executor: "Executor", analysis: Analysis, run: Callable[[], AnalysisResult]) -> AnalysisJob:
    """Queue ``run`` on ``executor``'s worker and return its job."""
    with _WORKERS_LOCK:
        worker = _WORKERS.get(executor)
        if worker is None:
            worker = _WORKERS[executor] = ThreadPoolExecutor(max_workers=1, thread_name_prefix="raise-analysis")
    started = threading.Event()

    def task() -> AnalysisResult:
        started.set()
        return run()

    return AnalysisJob(analysis, worker.submit(task), started)
