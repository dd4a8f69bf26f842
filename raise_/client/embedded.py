"""The embedded connection: the Raise engine in this process, on a local store home."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pyarrow as pa

from raise_.engine import Engine

__all__ = ["EmbeddedConnection"]


class EmbeddedConnection:
    """One engine session for ``user`` on the store at ``home``.

    ``home`` defaults to ``$RAISE_HOME`` or ``./.raise``; ``project`` (``"org/domain/project"``
    or a tuple) is the session's current project. Without a ``user`` the session is the local
    superuser acting for ``organization`` (default: the project's).
    """

    def __init__(self, home: str | Path | None = None, user: str | None = None,
                 project: str | Sequence[str] | None = None, organization: str | None = None) -> None:
        self.engine = Engine(home)
        self.user = user
        self._session = self.engine.session(principal=user, project=project or None, organization=organization)

    def __repr__(self) -> str:
        return f"EmbeddedConnection(home={str(self.engine.home)!r}, user={self.user!r})"

    @property
    def project(self) -> tuple[str, ...] | None:
        return self._session.project

    @property
    def session(self) -> Any:
        """The engine session (what in-process callers read the catalog through)."""
        return self._session

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        return self._session.execute(sql, params)

    def prepare(self, sql: str) -> Any:
        """``sql`` parsed once (``raise_.engine.prepared``); ``execute(params)`` runs it."""
        return self._session.prepare(sql)

    def ingest(self, group: str, data: pa.Table, mode: str = "append") -> int:
        return self._session.ingest(group, data, mode)

    def create_temporary(self, name: str, data: pa.Table) -> int:
        return self._session.create_temporary(name, data)

    def close(self) -> None:
        """Nothing to release: the catalog connection closes with the process."""
