"""The online store: the newest row per key of each materialized feature group, for lookups at
request time.

Embedded, it is one SQLite file under the store home (``online.db``, WAL mode): the standard
library already has it, a lookup by primary key is an index probe answered in microseconds
without a server, and the file survives restarts next to the catalog. Each group gets a table
``g<id>`` keyed by its key columns (``WITHOUT ROWID``: the rows are stored in key order), with
the row's event time and write stamp (to keep only newer rows) and one column per stored
feature, holding primitive values natively and others (embeddings, arrays, structs) as JSON.

``OnlineStore`` is the interface every backend implements; ``open_store`` picks one by URI
(``RAISE_ONLINE_STORE``: ``sqlite`` or a ``sqlite:///path``, the default, or
``redis://host:port/db``, ``raise_.serving.redis_store``). Every process serving one store
home must be given the same URI.
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from grammar.errors import ValidationError

TIME, SEQ = "__time", "__seq"


class OnlineStore(Protocol):
    def write(self, table: str, keys: Sequence[str], columns: Sequence[str], rows: pa.Table, replace: bool) -> int:
        """Keep each row of ``rows`` whose (time, stamp) is newer than the stored one; rows kept."""

    def lookup(self, table: str, key: str | Sequence[str], values: Sequence[Any],
               columns: Sequence[str]) -> list[tuple | None]:
        """The stored ``columns`` for each key value (a tuple per key for several key
        columns; None where the key has no row)."""

    def count(self, table: str) -> int:
        """How many keys the group holds."""

    def drop(self, table: str) -> None:
        """Remove a group's rows."""


def open_store(home: str | Path, uri: str | None = None) -> OnlineStore:
    """The online store of the store at ``home``: ``uri``, else ``$RAISE_ONLINE_STORE``, else
    ``<home>/online.db``."""
    uri = uri or os.environ.get("RAISE_ONLINE_STORE") or "sqlite"
    scheme = uri.partition(":")[0].lower()
    if scheme in ("redis", "rediss", "unix"):
        from raise_.serving.redis_store import RedisOnlineStore

        return RedisOnlineStore(uri, home)
    if scheme == "sqlite":
        path = uri.partition(":///")[2] if ":///" in uri else Path(home) / "online.db"
        return SQLiteOnlineStore(path)
    raise ValidationError(f"online store URI {uri!r} is not sqlite, sqlite:///path or redis://host:port/db",
                          code="RAISE-V184", name=uri)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SQLiteOnlineStore:
    """The embedded online store in ``path`` (one connection per thread)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._local = threading.local()
        self._lookups: dict[tuple, str] = {}

    def __repr__(self) -> str:
        return f"SQLiteOnlineStore({self.path!r})"

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    def write(self, table: str, keys: Sequence[str], columns: Sequence[str], rows: pa.Table, replace: bool) -> int:
        db = self._db()
        every = [*keys, TIME, SEQ, *columns]
        names = ", ".join(_quote(c) for c in every)
        updates = ", ".join(f"{_quote(c)} = excluded.{_quote(c)}" for c in every[len(keys):])
        newer = (f"excluded.{TIME} > {_quote(table)}.{TIME} OR (excluded.{TIME} IS {_quote(table)}.{TIME} "
                 f"AND excluded.{SEQ} > {_quote(table)}.{SEQ}) OR {_quote(table)}.{TIME} IS NULL "
                 f"AND excluded.{TIME} IS NOT NULL")
        before = db.total_changes
        db.execute("BEGIN IMMEDIATE")
        try:
            if replace:
                db.execute(f"DROP TABLE IF EXISTS {_quote(table)}")
            db.execute(f"CREATE TABLE IF NOT EXISTS {_quote(table)} ({names}, PRIMARY KEY "
                       f"({', '.join(_quote(k) for k in keys)})) WITHOUT ROWID")
            db.executemany(
                f"INSERT INTO {_quote(table)} ({names}) VALUES ({', '.join('?' * len(every))}) "
                f"ON CONFLICT DO UPDATE SET {updates} WHERE {newer}", python_rows(rows, every))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._lookups.clear()
        return db.total_changes - before

    def lookup(self, table: str, key: str | Sequence[str], values: Sequence[Any],
               columns: Sequence[str]) -> list[tuple | None]:
        keys = (key,) if isinstance(key, str) else tuple(key)
        statement = self._lookups.get((table, keys, tuple(columns)))
        if statement is None:
            statement = self._lookups[(table, keys, tuple(columns))] = _lookup_sql(table, keys, columns)
        try:
            rows = self._db().execute(statement, (json.dumps(list(values)),))
            found = {row[:len(keys)]: row[len(keys):] for row in rows}
        except sqlite3.OperationalError:  # never materialized
            found = {}
        return [found.get(tuple(v) if len(keys) > 1 else (v,)) for v in values]

    def count(self, table: str) -> int:
        try:
            return self._db().execute(f"SELECT count(*) FROM {_quote(table)}").fetchone()[0]
        except sqlite3.OperationalError:
            return 0

    def drop(self, table: str) -> None:
        self._db().execute(f"DROP TABLE IF EXISTS {_quote(table)}")


def _lookup_sql(table: str, keys: tuple[str, ...], columns: Sequence[str]) -> str:
    """Rows of the keys in a JSON array bound as the one parameter (values, or arrays of
    values for several key columns): an index probe per key."""
    named = ", ".join(_quote(c) for c in (*keys, *columns))
    if len(keys) == 1:
        wanted, source = _quote(keys[0]), "SELECT value FROM json_each(?)"
    else:
        wanted = f"({', '.join(_quote(k) for k in keys)})"
        parts = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(keys)))
        source = f"SELECT {parts} FROM json_each(?)"
    return f"SELECT {named} FROM {_quote(table)} WHERE {wanted} IN ({source})"


def python_rows(rows: pa.Table, names: Sequence[str]):
    """Rows as SQLite values: timestamps as microseconds, nested values as JSON."""
    columns = []
    for name in names:
        values = rows.column(name)
        kind = values.type
        if pa.types.is_timestamp(kind):
            columns.append(values.cast(pa.timestamp("us")).cast(pa.int64()).to_pylist())
        elif pa.types.is_nested(kind):
            columns.append([None if v is None else json.dumps(v) for v in values.to_pylist()])
        else:
            columns.append(values.to_pylist())
    return zip(*columns)


def from_stored(values: list[Any], kind: pa.DataType) -> pa.Array:
    """Values read back from SQLite as an Arrow array of ``kind``."""
    if pa.types.is_timestamp(kind):
        return pa.array(values, pa.int64()).cast(pa.timestamp("us")).cast(kind)
    if pa.types.is_nested(kind):
        return pa.array([None if v is None else json.loads(v) for v in values], kind)
    return pa.array(values, kind)


def latest_rows(table: pa.Table, keys: Sequence[str], time: str | None, sequence: str) -> pa.Table:
    """The newest row of each key in ``table`` (latest time, then latest written)."""
    order = [(c, "ascending", "at_start") for c in (*keys, *([time] if time else []), sequence)]
    ordered = table.take(pc.sort_indices(table, sort_keys=order))
    if ordered.num_rows == 0:
        return ordered
    last = np.zeros(ordered.num_rows, dtype=bool)
    last[-1] = True
    for key in keys:
        column = ordered.column(key).combine_chunks()
        changed = pc.fill_null(pc.not_equal(column.slice(1), column.slice(0, len(column) - 1)), True)
        last[:-1] |= changed.to_numpy(zero_copy_only=False)
    return ordered.filter(pa.array(last))
