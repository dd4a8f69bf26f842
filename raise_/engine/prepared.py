"""Prepared statements: SQL text parsed once and executed many times with bound parameters.

A statement whose family declares a ``prepared`` runner (LOOKUP ONLINE) runs through it on
every execution, without being parsed again; so does a query a family prepares
(``Family.query_preparers``: a vector top-k search). Any other text runs as
``Session.execute`` and ``Session.stream`` run it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import pyarrow as pa

from grammar import ast, parse
from grammar.errors import RaiseError
from raise_.engine import families, names
from raise_.engine.query import ResultStream

if TYPE_CHECKING:
    from raise_.engine.session import Session


class Prepared:
    """``sql`` prepared in ``session``; ``execute(params)`` and ``stream(params)`` run it."""

    def __init__(self, session: "Session", sql: str) -> None:
        self.session = session
        self.sql = sql
        self._statement: Any = None
        self._run = None
        self._run_rows = None
        self._query = None
        try:  # text that does not parse is reported when it runs, as unprepared text is
            statements = parse(sql)
            if len(statements) == 1 and isinstance(statements[0], ast.Passthrough):
                self._query = families.prepare_query(session, statements[0].sql)
                return
            if len(statements) != 1:
                return
            names.check_statement(statements[0])
            entry = families.statement(type(statements[0]))
        except RaiseError:
            return
        if entry.prepared is not None:
            self._statement, self._run = statements[0], entry.prepared
            self._run_rows = entry.prepared_rows

    def __repr__(self) -> str:
        return f"Prepared({self.sql!r})"

    @property
    def direct(self) -> bool:
        """Whether executions run through the family's prepared runner (a lookup computed at
        once, without parsing or planning), rather than as text."""
        return self._run is not None

    def execute(self, params: Sequence[Any] | None = None) -> pa.Table:
        if self._query is not None and (result := self._query(self.session, tuple(params or ()))) is not None:
            return result
        if self._run is None:
            return self.session.execute(self.sql, params)
        return self._run(self.session, self._statement, tuple(params or ()))

    def execute_rows(self, rows: Sequence[Sequence[Any]]) -> pa.Table:
        """Run once per bound row, the results concatenated in row order; in one call where
        the statement's family runs many rows at once (a lookup of every row's keys)."""
        if self._run_rows is not None and rows:
            return self._run_rows(self.session, self._statement, [tuple(row) for row in rows])
        results = [self.execute(row) for row in rows]
        return pa.concat_tables(results, promote_options="permissive") if len(results) > 1 else results[0]

    def stream(self, params: Sequence[Any] | None = None) -> ResultStream:
        if self._run is None and self._query is None:
            return self.session.stream(self.sql, params)
        return ResultStream.of(self.execute(params))
