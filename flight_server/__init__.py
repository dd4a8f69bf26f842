"""Raise's Arrow Flight SQL server: the store for ADBC, JDBC and BI clients.

``RaiseFlightServer`` serves an engine; ``flight_server.cli`` holds ``raise serve`` and
``raise user``. Protocol messages are declared in ``flight_sql.proto`` (compiled to
``flight_sql_pb2``). The names below load on first use, so ``raise`` starts quickly.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "RaiseFlightServer": "flight_server.server",
    "ServerConfig": "flight_server.server",
    "UserStore": "flight_server.users",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'flight_server' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
