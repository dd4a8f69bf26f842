"""Scheduled analytics: refresh the live tables that are due and check the alerts that are due.

``raise serve`` runs a ``Scheduler`` (every ``--analytics-interval`` seconds, 60 by default);
``raise live refresh`` and ``raise alerts check`` run one pass from cron or CI. A pass is
Raise SQL like any other (``REFRESH LIVE TABLE ... IF STALE``, ``CHECK ALERTS``), run as the
local superuser unless a principal is named; each alert still reads with its owner's rights.
"""
from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

import pyarrow as pa

from grammar import analytics, render
from grammar.errors import RaiseError
from raise_.analytics.live import REFRESH_SCHEMA

if TYPE_CHECKING:
    from raise_.engine import Engine
    from raise_.engine.session import Session

__all__ = ["refresh_due", "check_due", "Scheduler"]

log = logging.getLogger(__name__)


def refresh_due(session: "Session", within: tuple[str, ...] | None = None) -> pa.Table:
    """``REFRESH LIVE TABLE ... IF STALE`` for every live table ``session`` may see; a table
    that cannot be refreshed is logged and the others still are."""
    tables = session.execute(render(analytics.ShowLiveTables(within=within))).to_pylist()
    done = []
    for table in tables:
        ref = analytics.ObjectRef(name=table["name"], project=tuple(table["project"].split("/")))
        try:
            done.append(session.execute(render(analytics.RefreshLiveTable(table=ref, if_stale=True))))
        except RaiseError as error:
            log.warning("live table %s was not refreshed: %s", table["path"], error)
    return pa.concat_tables(done) if done else REFRESH_SCHEMA.empty_table()


def check_due(session: "Session", within: tuple[str, ...] | None = None, force: bool = False) -> pa.Table:
    """``CHECK ALERTS``: the due alerts, evaluated; one row per alert checked."""
    return session.execute(render(analytics.CheckAlerts(within=within, force=force)))


class Scheduler:
    """A daemon thread that runs both passes every ``interval`` seconds until ``stop()``."""

    def __init__(self, engine: "Engine", interval: float = 60.0) -> None:
        self.engine, self.interval = engine, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="raise-analytics", daemon=True)

    def start(self) -> "Scheduler":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def tick(self) -> tuple[pa.Table, pa.Table]:
        """One pass: (refreshes, checks)."""
        session = self.engine.session(principal=None)
        return refresh_due(session), check_due(session)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except RaiseError as error:  # a pass never takes the server down
                log.warning("scheduled analytics pass failed: %s", error)
