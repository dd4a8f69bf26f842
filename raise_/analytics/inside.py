"""Analyses the engine runs itself: live table refreshes and alert checks.

The engine runs them exactly as the SDK does (``runner.analyze`` through an ``Executor``), over
a connection that is a fresh engine session of the same principal: its DESCRIBE and SELECT
statements are authorized and audited like any other, so a refresh or a check reads only what
its principal may read. Inside a statement the session's statements join its catalog
transaction.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Sequence

import pandas as pd
import pyarrow as pa

from grammar.errors import RaiseError, ValidationError
from raise_.analytics.freshness import Freshness
from raise_.analytics.results import AnalysisResult
from raise_.analytics.runner import analyze
from raise_.analytics.schema import GroupSchema, load_schema
from raise_.analytics.spec import Analysis

if TYPE_CHECKING:
    from raise_.engine.session import Session

__all__ = ["SessionConnection", "analysis_of", "run", "schema_of", "as_table", "features_read"]


class SessionConnection:
    """The embedded connection's interface over a new session of ``principal`` in ``project``."""

    def __init__(self, session: "Session", project: tuple[str, ...], principal: str | None,
                 changed_rows: dict[int, pa.Table] | None = None) -> None:
        from raise_.engine.session import Session

        self._session = Session(session.engine, principal, project, session.organization)
        if changed_rows:
            # group id -> the only rows its queries read (see ``QueryContext._table``)
            self._session.changed_rows = changed_rows

    @property
    def project(self) -> tuple[str, ...] | None:
        return self._session.project

    @property
    def session(self) -> "Session":
        return self._session

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        return self._session.execute(sql, params)


def analysis_of(text: str) -> Analysis:
    """The analysis a statement carries as JSON (RAISE-V413 when it is not one)."""
    try:
        return Analysis.from_dict(json.loads(text))
    except RaiseError:
        raise
    except (ValueError, TypeError, KeyError) as error:
        raise ValidationError(f"ANALYZE takes an analysis as JSON: {error}", code="RAISE-V413",
                              name=text[:40]) from None


def _executor(session: "Session", project: tuple[str, ...], principal: str | None,
              changed_rows: dict[int, pa.Table] | None = None):
    from raise_.sdk.context import Executor

    return Executor(SessionConnection(session, project, principal, changed_rows))


def schema_of(session: "Session", project: tuple[str, ...], group: str,
              principal: str | None) -> GroupSchema:
    return load_schema(_executor(session, project, principal), project, group)


def run(session: "Session", project: tuple[str, ...], group: str, analysis: Analysis,
        principal: str | None, changed_rows: dict[int, pa.Table] | None = None) -> AnalysisResult:
    """``analysis`` over ``project/group`` as ``principal`` would run it, computed now
    (``changed_rows``: over only those rows of the groups they are given for)."""
    executor = _executor(session, project, principal, changed_rows)
    return analyze(executor, project, group, analysis, Freshness.REAL_TIME)


def features_read(analysis: Analysis, schema: GroupSchema) -> list[str]:
    """The group's features ``analysis`` reads (what reading its results needs ``read`` on)."""
    return sorted({c.partition("@")[0] for c in analysis.columns()} & set(schema.features))


def as_table(result: AnalysisResult) -> pa.Table:
    """A result as the rows a live table holds (a matrix keeps its row labels as a column)."""
    frame = result.to_dataframe()
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.rename_axis("feature").reset_index()
    return pa.Table.from_pandas(frame, preserve_index=False)
