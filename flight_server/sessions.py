"""Server-side state of client connections: engine session, prepared statements, results.

A connection is identified by its bearer token (one per ADBC connection: the driver logs in
once per connection), or by the gRPC peer address when the server runs without
authentication. It owns one engine ``Session`` (so ``USE`` and the session options
``catalog``/``schema`` persist across statements), its prepared statements and the results of
statements whose tickets it has not fetched yet. Statements of one connection run one at a
time; different connections run in parallel.
"""
from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import pyarrow as pa

from flight_server.errors import UnknownHandle
from flight_server.protocol import rewrite_placeholders

if TYPE_CHECKING:
    from raise_.engine import Engine, ResultStream, Session
    from raise_.engine.prepared import Prepared

#: Unfetched results and open prepared statements a connection may hold; the oldest goes first
#: (a client that never fetches or closes cannot grow the server without bound).
MAX_PENDING_RESULTS = 32
MAX_PREPARED = 256


@dataclass(slots=True)
class PreparedStatement:
    """A statement prepared once and executed repeatedly with bound parameters."""

    handle: bytes
    sql: str
    parameter_count: int
    dataset_schema: pa.Schema | None
    parameters: pa.Table | None = None
    #: The engine's prepared form (parsed once; see ``raise_.engine.prepared``).
    prepared: "Prepared | None" = None


@dataclass(slots=True)
class Connection:
    """One client connection's state."""

    key: str
    session: "Session"
    lock: threading.RLock = field(default_factory=threading.RLock)
    pending_catalog: str | None = None
    prepared: dict[bytes, PreparedStatement] = field(default_factory=dict)
    #: Results computed up front (a prepared lookup) are held as tables.
    results: dict[bytes, "ResultStream | pa.Table"] = field(default_factory=dict)
    used: float = 0.0

    def prepare(self, query: str) -> PreparedStatement:
        """Register ``query`` (``?`` placeholders become ``$n``) and plan its result schema."""
        sql, count = rewrite_placeholders(query)
        with self.lock:
            schema = self._result_schema(sql)
            statement = PreparedStatement(secrets.token_bytes(16), sql, count, schema,
                                          prepared=self.session.prepare(sql))
            self.prepared[statement.handle] = statement
            _evict_oldest(self.prepared, MAX_PREPARED)
        return statement

    def _result_schema(self, sql: str) -> pa.Schema | None:
        """The planned schema, or None when it needs parameters or execution to be known.

        Planning here is advisory: whatever stops it (unbound parameters, a statement that
        only execution can describe) is reported when the statement runs.
        """
        try:
            return self.session.schema(sql)
        except Exception:  # noqa: BLE001 - see docstring
            return None

    def statement(self, handle: bytes) -> PreparedStatement:
        statement = self.prepared.get(handle)
        if statement is None:
            raise UnknownHandle("unknown prepared statement handle: it was closed, expired, or "
                                "belongs to another connection")
        return statement

    def close_statement(self, handle: bytes) -> None:
        with self.lock:
            self.statement(handle)
            del self.prepared[handle]

    def keep_result(self, result: "ResultStream | pa.Table") -> bytes:
        """Hold ``result`` until its ticket is fetched; returns the result id."""
        result_id = secrets.token_bytes(16)
        with self.lock:
            self.results[result_id] = result
            _evict_oldest(self.results, MAX_PENDING_RESULTS)
        return result_id

    def take_result(self, result_id: bytes) -> "ResultStream | pa.Table":
        """The result for a ticket, once: tickets are single use."""
        with self.lock:
            result = self.results.pop(result_id, None)
        if result is None:
            raise UnknownHandle("unknown or already fetched ticket: run the statement again")
        return result


def _evict_oldest(entries: dict, limit: int) -> None:
    while len(entries) > limit:
        del entries[next(iter(entries))]


class Connections:
    """Every live connection, created on first use and dropped after ``idle_s`` unused."""

    def __init__(self, engine: "Engine", idle_s: float, clock: Callable[[], float] = time.monotonic):
        self.engine = engine
        self.idle_s = idle_s
        self.clock = clock
        self._by_key: dict[str, Connection] = {}
        self._lock = threading.Lock()

    def get(self, key: str, principal: str | None) -> Connection:
        now = self.clock()
        with self._lock:
            self._sweep(now)
            connection = self._by_key.get(key)
            if connection is None:
                connection = Connection(key, self.engine.session(principal=principal))
                self._by_key[key] = connection
            connection.used = now
            return connection

    def close(self, key: str) -> bool:
        with self._lock:
            return self._by_key.pop(key, None) is not None

    def __len__(self) -> int:
        return len(self._by_key)

    def _sweep(self, now: float) -> None:
        for key in [k for k, c in self._by_key.items() if now - c.used > self.idle_s]:
            del self._by_key[key]
