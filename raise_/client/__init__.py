"""Connections to a Raise store: in-process (embedded) or a Flight SQL server.

Both speak Raise SQL text and Arrow; the SDK builds statements, renders them and sends the
text through ``execute``. Bulk data goes through ``ingest`` as Arrow, never as SQL literals.

>>> conn = connect(home="/tmp/store", user="alice@acme.com")          # doctest: +SKIP
>>> conn.execute("SHOW ORGANIZATIONS").num_rows                       # doctest: +SKIP
0
"""
from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

import pyarrow as pa

from raise_.client.embedded import EmbeddedConnection

__all__ = ["Connection", "EmbeddedConnection", "connect"]


@runtime_checkable
class Connection(Protocol):
    """What the SDK needs from a store connection."""

    @property
    def project(self) -> tuple[str, ...] | None:
        """The connection's current project (``USE`` changes it), or None."""

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        """Run a Raise SQL script; the last statement's result as an Arrow table."""

    def prepare(self, sql: str) -> Any:
        """``sql`` prepared once; the result's ``execute(params)`` runs it per request, and
        ``execute_rows(rows)`` once per parameter row (one batch), results concatenated."""

    def ingest(self, group: str, data: pa.Table, mode: str) -> int:
        """Write ``data`` into ``group`` (``org/domain/project/group`` or a name in the
        current project) with mode append, upsert or overwrite; rows written."""

    def create_temporary(self, name: str, data: pa.Table) -> int:
        """Hold ``data`` as the session's temporary table ``name`` (entity rows of a training
        set), replacing one of that name; rows held."""

    def close(self) -> None:
        """Release the connection."""


def connect(
    url: str | None = None,
    home: str | None = None,
    user: str | None = None,
    password: str | None = None,
    project: str | Sequence[str] | None = None,
    organization: str | None = None,
) -> Connection:
    """Open a connection: a Flight SQL server when ``url`` is given, else the embedded store
    at ``home`` (default ``$RAISE_HOME`` or ``./.raise``), where ``organization`` is the one
    a store opened without a user acts for (a server knows its users' organizations)."""
    if url is not None:
        from raise_.client.flight import FlightConnection

        return FlightConnection(url, user, password, project=project)
    return EmbeddedConnection(home, user, project, organization)
