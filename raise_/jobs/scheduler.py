"""Scheduled jobs: run every active job whose schedule says it is due.

``raise serve`` runs a ``JobScheduler`` (every ``--jobs-interval`` seconds, 30 by default);
``raise jobs run-due`` runs one pass from an external cron. A pass is one ``RUN DUE JOBS``
statement, run as the local superuser unless a principal is named; each job still runs with its
owner's rights. Jobs deployed to another scheduler (Airflow) are left to it. Each pass then
re-validates the blob registries whose PERIODIC integrity policy says they are due
(``raise_.blobs.periodic``; ``raise blobs validate-due`` is its cron form).
"""
from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

import pyarrow as pa

from grammar import render
from grammar.errors import RaiseError
from grammar.jobs import RunDueJobs

if TYPE_CHECKING:
    from raise_.engine import Engine
    from raise_.engine.session import Session

__all__ = ["run_due", "JobScheduler"]

log = logging.getLogger(__name__)


def run_due(session: "Session", within: tuple[str, ...] | None = None) -> pa.Table:
    """``RUN DUE JOBS [IN within]``: one row per run made."""
    return session.execute(render(RunDueJobs(within=within)))


class JobScheduler:
    """A daemon thread that runs the due jobs every ``interval`` seconds until ``stop()``."""

    def __init__(self, engine: "Engine", interval: float = 30.0) -> None:
        self.engine, self.interval = engine, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="raise-jobs", daemon=True)
        self.blob_validations: pa.Table | None = None

    def start(self) -> "JobScheduler":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def tick(self) -> pa.Table:
        """One pass: the due jobs' runs (returned), then the due PERIODIC blob registries
        (their counts kept in ``blob_validations``)."""
        from raise_.blobs.periodic import validate_due  # here: raise_.blobs imports the SDK

        session = self.engine.session(principal=None)
        runs = run_due(session)
        self.blob_validations = validate_due(session)
        return runs

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                for run in self.tick().to_pylist():
                    log.info("job %s run %s: %s", run["job"], run["id"], run["status"])
                for row in self.blob_validations.to_pylist():
                    log.info("blob registry %s validated: %s", row["registry"], row)
            except RaiseError as error:  # a pass never takes the server down
                log.warning("scheduled jobs pass failed: %s", error)
