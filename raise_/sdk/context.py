"""The SDK's channel to a store: render statements, send the text, remember what was sent.

Every SDK call goes through an ``Executor``: it renders ``grammar.ast`` statements with
``grammar.render``, sends the SQL through the connection's ``execute``, turns the warnings a
statement returns into ``RaiseWarning``s, and keeps each text it sent in ``history`` (the
snapshot tests compare that to golden files).
"""
from __future__ import annotations

import sys
import threading
import warnings
from typing import Any, Iterable, Sequence

import pyarrow as pa

from grammar import ast, render
from raise_.client import Connection
from raise_.errors import RaiseWarning

__all__ = ["Executor", "as_path", "warn"]

_LEVELS = ("organization", "domain", "project")
#: Prepared statements an executor keeps open (the texts it sends most recently).
_PREPARED = 64


def as_path(project: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """``"acme/ml/rec"`` or a sequence of names as a tuple (None stays None)."""
    if project is None:
        return None
    parts = tuple(project.split("/")) if isinstance(project, str) else tuple(project)
    return parts or None


class Executor:
    """Sends Raise SQL through ``connection`` and keeps the texts in ``history``."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.history: list[str] = []
        self._current = as_path(connection.project)
        self._ensured: set[tuple[str, ...]] = set()
        self._named: set[tuple[str, ...]] = set()
        self._prepared: dict[str, Any] = {}
        # async analyses share the connection with the caller's thread: one call at a time
        self.lock = threading.RLock()

    def __repr__(self) -> str:
        return f"Executor({self.connection!r})"

    def run(self, statement: ast.Statement) -> pa.Table:
        """Render and execute one statement."""
        return self.send(render(statement))

    def run_script(self, statements: Iterable[ast.Statement], *, warn: bool = True) -> pa.Table:
        """Render statements into one script and execute it; the last statement's result.

        ``warn=False``: the caller reports warnings itself (a script returns only the last
        statement's).
        """
        return self.send(";\n".join(render(s) for s in statements), warn=warn)

    def send(self, sql: str, params: Sequence[Any] | None = None, *, warn: bool = True) -> pa.Table:
        """Execute SQL text as it is, recording it in ``history``."""
        with self.lock:
            self.history.append(sql)
            result = self.connection.execute(sql, params)
        if warn:
            _warn(result)
        return result

    def send_prepared(self, sql: str, params: Sequence[Any]) -> pa.Table:
        """Execute SQL text prepared once per connection and text (a lookup made per request),
        recording it in ``history`` like ``send``."""
        with self.lock:
            return self._prepare(sql).execute(params)

    def send_prepared_rows(self, sql: str, rows: Sequence[Sequence[Any]]) -> pa.Table:
        """Like ``send_prepared``, bound to a batch of parameter rows: the rows' results in
        order (a lookup of many keys binds one row per key)."""
        with self.lock:
            return self._prepare(sql).execute_rows(rows)

    def _prepare(self, sql: str) -> Any:
        self.history.append(sql)
        prepared = self._prepared.pop(sql, None) or self.connection.prepare(sql)
        self._prepared[sql] = prepared  # most recently used last
        while len(self._prepared) > _PREPARED:
            oldest = self._prepared.pop(next(iter(self._prepared)))
            getattr(oldest, "close", lambda: None)()
        return prepared

    def query(self, project: tuple[str, ...], sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        """Run ``sql`` (a SELECT or any text) with ``project`` as the current project."""
        with self.lock:
            self.use(project)
            return self.send(sql, params)

    def use(self, project: tuple[str, ...]) -> None:
        """Make ``project`` current, sending ``USE`` only when it is not already."""
        if self._current != project:
            self.run(ast.Use(path=project))
            self._current = project

    def forget_current(self) -> None:
        """After user SQL (which may say ``USE``), the current project is no longer known."""
        self._current = None

    def ensure_namespaces(self, path: tuple[str, ...]) -> None:
        """Create the organization, domain and project of ``path`` that do not exist yet.

        The statements (``CREATE ... IF NOT EXISTS``) are sent once per path and connection;
        the principal becomes the owner of what they create.
        """
        missing = [path[:depth] for depth in range(1, len(path) + 1) if path[:depth] not in self._ensured]
        if not missing:
            return
        self.run_script(
            ast.CreateNamespace(kind=_LEVELS[len(prefix) - 1], path=prefix, if_not_exists=True)
            for prefix in missing
        )
        self._ensured.update(missing)

    def name_context(self, context: tuple[str, ...]) -> None:
        """Note a context a store on this connection was opened with or switched to."""
        self._named.add(context)

    def is_named(self, path: tuple[str, ...]) -> bool:
        """Whether ``path`` is, or is above, a context named on this connection: such
        namespaces exist from first use, for navigation as for creation."""
        return any(context[:len(path)] == path for context in self._named)

    def created(self, path: tuple[str, ...]) -> None:
        """Note that the namespace at ``path`` exists (so ``ensure_namespaces`` skips it)."""
        self._ensured.update(path[:depth] for depth in range(1, len(path) + 1))

    def ingest(self, group: str, data: pa.Table, mode: str) -> int:
        with self.lock:
            return self.connection.ingest(group, data, mode)


def _warn(result: pa.Table) -> None:
    """Raise DDL returns ``CODE: message`` warnings; show them as Python warnings."""
    if "warnings" not in result.column_names or "statement" not in result.column_names:
        return
    for texts in result.column("warnings").to_pylist():
        for text in texts or ():
            code, _, message = text.partition(": ")
            warn(code if message else "RAISE-W000", message or text)


def warn(code: str, message: str) -> None:
    """Issue a ``RaiseWarning`` attributed to the user's code (the first frame outside Raise)."""
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_globals.get("__name__", "").startswith(("raise_", "grammar")):
        frame, level = frame.f_back, level + 1
    warnings.warn(RaiseWarning(message, code), stacklevel=level)
