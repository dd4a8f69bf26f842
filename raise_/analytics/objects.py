"""Live tables and alerts as the SDK hands them out; every call is one Raise SQL statement.

``group.create_live_table(...)`` sends ``CREATE LIVE TABLE``; a ``LiveTable`` reads its state
with ``DESCRIBE LIVE TABLE`` each time (``status``, ``refresh_policy``, ``last_refresh``), and
``query()`` first sends ``REFRESH LIVE TABLE ... IF STALE`` so that an ``on_change`` or
scheduled table is brought up to date before it is read. ``fs.create_alert(...)`` sends
``CREATE ALERT``; ``fs.list_alerts()`` ``SHOW ALERTS``; ``fs.check_alerts()`` ``CHECK ALERTS``.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import pandas as pd

from grammar import analytics as g
from grammar.ast import GroupRef
from grammar.errors import ValidationError
from raise_.analytics.policy import Condition, RefreshPolicy, as_policy
from raise_.analytics.spec import Analysis
from raise_.sdk import compile as sql

if TYPE_CHECKING:
    from raise_.sdk.context import Executor

__all__ = ["LiveTable", "RefreshEvent", "Alert", "create_live_table", "create_alert", "list_alerts",
           "check_alerts"]


def _analysis(analysis: Any) -> str:
    if not isinstance(analysis, Analysis):
        raise ValidationError(f"analysis= takes an analysis (Aggregation, Distribution, ...), got {analysis!r}",
                              code="RAISE-V400", name=repr(analysis))
    return json.dumps(analysis.to_dict(), sort_keys=True)


@dataclass(frozen=True)
class RefreshEvent:
    """One refresh of a live table: ``status`` is ``completed``, ``failed`` or ``up_to_date``
    (nothing was due); ``trigger`` is ``create``, ``manual``, ``on_change`` or ``schedule``;
    ``mode`` says whether it merged the appended rows (``incremental``) or recomputed (``full``)."""

    live_table: str
    id: int | None
    status: str
    trigger: str
    mode: str | None  # "incremental" (merged from the appended rows) or "full"
    started_at: dt.datetime
    finished_at: dt.datetime
    rows: int | None
    source_version: int | None
    error: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "RefreshEvent":
        return cls(**row)


class LiveTable:
    """A live table of a project: ``status``, ``refresh_policy``, ``last_refresh``, ``query()``,
    ``refresh()``, ``refresh_history()``."""

    def __init__(self, executor: "Executor", project: tuple[str, ...], name: str) -> None:
        self._executor, self._project, self.name = executor, project, name
        self._ref = g.ObjectRef(name=name, project=project)

    def __repr__(self) -> str:
        return f"LiveTable({'/'.join((*self._project, self.name))!r})"

    def describe(self) -> dict[str, Any]:
        """The catalog record (``DESCRIBE LIVE TABLE``)."""
        return self._executor.run(g.DescribeLiveTable(table=self._ref)).to_pylist()[0]

    @property
    def status(self) -> str:
        """``active`` (the last refresh completed) or ``failed``."""
        return self.describe()["status"]

    @property
    def refresh_policy(self) -> RefreshPolicy:
        record = self.describe()
        return RefreshPolicy(record["refresh"], record["cron"] if record["refresh"] == "cron" else None)

    @property
    def last_refresh(self) -> dt.datetime | None:
        return self.describe()["last_refresh"]

    @property
    def description(self) -> str | None:
        return self.describe()["description"]

    def query(self, filter: str | None = None) -> pd.DataFrame:
        """The table's rows (``filter``: a SQL predicate), refreshed first when its policy says
        it is due."""
        self._executor.run(g.RefreshLiveTable(table=self._ref, if_stale=True))
        return self._executor.query(self._project, sql.select(self.name, None, filter=filter)).to_pandas()

    def refresh(self) -> RefreshEvent:
        """Recompute now (``REFRESH LIVE TABLE``)."""
        return RefreshEvent.from_row(self._executor.run(g.RefreshLiveTable(table=self._ref)).to_pylist()[0])

    def refresh_history(self, limit: int | None = None) -> list[RefreshEvent]:
        """The table's refreshes, newest first."""
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise ValidationError(f"limit must be a non-negative integer, got {limit!r}", name=repr(limit))
        rows = self._executor.run(g.ShowRefreshes(table=self._ref, limit=limit)).to_pylist()
        return [RefreshEvent.from_row(r) for r in rows]

    def delete(self) -> None:
        self._executor.run(g.DropLiveTable(table=self._ref))


def create_live_table(executor: "Executor", project: tuple[str, ...], group: str, name: str, analysis: Analysis,
                      refresh: RefreshPolicy | str = "on_change", description: str | None = None) -> LiveTable:
    policy = as_policy(refresh)
    executor.run(g.CreateLiveTable(name=name, group=GroupRef(name=group, project=project),
                                   analysis=_analysis(analysis), refresh=policy.type, cron=policy.expression,
                                   description=description))
    return LiveTable(executor, project, name)


@dataclass(frozen=True)
class Alert:
    """An analytics alert as ``SHOW ALERTS`` lists it (``status``: ``pending`` before its first
    check, then ``ok``, ``firing`` or ``error``)."""

    name: str
    project: str
    group: str
    condition: Condition
    notify: tuple[str, ...]
    channels: tuple[str, ...]
    check_interval: str
    status: str
    last_checked: dt.datetime | None
    last_value: float | None
    last_error: str | None
    _executor: Any = field(default=None, repr=False, compare=False)

    @classmethod
    def from_row(cls, executor: "Executor", row: dict[str, Any]) -> "Alert":
        return cls(row["name"], row["project"], row["group"], Condition(row["condition"], tuple(row["values"])),
                   tuple(row["notify"]), tuple(row["channels"]), row["check_interval"], row["status"],
                   row["last_checked"], row["last_value"], row["last_error"], executor)

    def history(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The checks that fired or failed, newest first (``SHOW FIRINGS OF ALERT``)."""
        ref = g.ObjectRef(name=self.name, project=tuple(self.project.split("/")))
        return self._executor.run(g.ShowFirings(alert=ref, limit=limit)).to_pylist()

    def delete(self) -> None:
        ref = g.ObjectRef(name=self.name, project=tuple(self.project.split("/")))
        self._executor.run(g.DropAlert(alert=ref))


def create_alert(executor: "Executor", project: tuple[str, ...], group: str, name: str, analysis: Analysis,
                 condition: Condition, notify: Sequence[str], channels: Sequence[str],
                 check_interval: str) -> Alert:
    if not isinstance(condition, Condition):
        raise ValidationError(f"condition= takes a Condition (e.g. Condition.GREATER_THAN(0.05)), got "
                              f"{condition!r}", code="RAISE-V411", name=repr(condition))
    notify = (notify,) if isinstance(notify, str) else tuple(notify)
    channels = (channels,) if isinstance(channels, str) else tuple(channels)
    g.check_interval(check_interval)
    executor.run(g.CreateAlert(name=name, group=GroupRef(name=group, project=project), analysis=_analysis(analysis),
                               condition=condition.name, values=condition.values, notify=notify,
                               channels=channels, check_interval=check_interval))
    return next(a for a in list_alerts(executor, project) if a.name == name)


def list_alerts(executor: "Executor", project: tuple[str, ...]) -> list[Alert]:
    return [Alert.from_row(executor, r) for r in executor.run(g.ShowAlerts(within=project)).to_pylist()]


def check_alerts(executor: "Executor", project: tuple[str, ...] | None, force: bool = False) -> list[dict[str, Any]]:
    return executor.run(g.CheckAlerts(within=project, force=force)).to_pylist()
