"""The catalog: every Raise object in one SQLite database (WAL mode).

Objects are rows of one generic table keyed by ``(kind, key)`` with a JSON ``record``: a new
kind of object (model, job, grant, user …) is a new ``kind`` and a handler, not a new table or
a CRUD family. Relations that are queried both ways (lineage) live in ``edges``.

All changes a statement makes go through one ``transaction()``: they commit together or not
at all. Keys are ``/``-joined namespace paths, e.g. ``acme/ml/rec/user-signals`` for a group
and ``acme/ml/rec/user-signals/ctr@v1`` for a feature version.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

SCHEMA_VERSION = 1
#: Reads ``Catalog.memo`` keeps per generation (a statement makes a handful).
_MEMO_ENTRIES = 4096
#: How long a writer waits for another writer's transaction before it gives up (RAISE-X030).
_LOCK_TIMEOUT_S = 30.0
T = TypeVar("T")

_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE objects (
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            parent TEXT,
            record TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (kind, key))""",
        "CREATE INDEX objects_parent ON objects (kind, parent)",
        """CREATE TABLE edges (
            kind TEXT NOT NULL,
            src TEXT NOT NULL,
            dst TEXT NOT NULL,
            record TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (kind, src, dst))""",
        "CREATE INDEX edges_dst ON edges (kind, dst)",
        "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    ),
}


_BUMP_GENERATION = """INSERT INTO counters (name, value) VALUES ('generation', 1)
                       ON CONFLICT (name) DO UPDATE SET value = value + 1"""


def _busy(path: Path, error: sqlite3.OperationalError) -> Exception:
    """SQLite's "database is locked" after the connection's timeout, as Raise's error."""
    from grammar.errors import ExecutionError

    if "locked" not in str(error) and "busy" not in str(error):
        return error
    return ExecutionError(
        f"the catalog {path} stayed locked by another writer for {_LOCK_TIMEOUT_S:.0f} s; "
        "nothing was changed, retry the statement", code="RAISE-X030", name=str(path))


def now() -> str:
    """Current UTC time as ISO-8601 text (how the catalog stores times)."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


class Catalog:
    """SQLite-backed object store. Thread-safe: one connection per thread."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._memo: dict[tuple, Any] = {}
        self._memo_generation: int | None = None
        self._memo_lock = threading.Lock()
        self._migrate()

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=_LOCK_TIMEOUT_S)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
            self._local.depth = 0
        return conn

    def _migrate(self) -> None:
        with self.transaction() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
            current = row[0] or 0
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[version]:
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit of catalog changes; nested calls join the outer transaction."""
        conn = self._connection()
        if self._local.depth:
            self._local.depth += 1
            try:
                yield conn
            finally:
                self._local.depth -= 1
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:
            raise _busy(self.path, error) from None
        self._local.depth = 1
        changes = self._local.changes = conn.total_changes
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            if conn.total_changes != changes:
                conn.execute(_BUMP_GENERATION)
            conn.execute("COMMIT")
        finally:
            self._local.depth = 0

    def generation(self) -> int | None:
        """A number that changes whenever any connection, in any process, commits a change;
        None inside a transaction once it has changed something, as its state is not committed
        (so must not be cached). Before its first change the transaction, which holds the
        write lock, sees the committed state."""
        conn = self._connection()
        if self._local.depth and conn.total_changes != self._local.changes:
            return None
        row = conn.execute("SELECT value FROM counters WHERE name = 'generation'").fetchone()
        return row[0] if row else 0

    def memo(self, key: tuple, compute: Callable[[], T]) -> T:
        """``compute()`` (a read of the catalog), remembered until the next committed change
        by any connection in any process: the generation is read from the database on every
        call. Inside a transaction nothing is remembered. ``compute`` must return a value its
        callers do not modify."""
        generation = self.generation()
        if generation is None:
            return compute()
        with self._memo_lock:
            if self._memo_generation != generation:
                self._memo, self._memo_generation = {}, generation
            if key in self._memo:
                return self._memo[key]
        value = compute()
        with self._memo_lock:
            if self._memo_generation == generation and len(self._memo) < _MEMO_ENTRIES:
                self._memo[key] = value
        return value

    # -- objects ---------------------------------------------------------------------------

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        row = self._connection().execute(
            "SELECT record, created_at, updated_at FROM objects WHERE kind = ? AND key = ?",
            (kind, key),
        ).fetchone()
        return _decode(key, row) if row else None

    def put(self, kind: str, key: str, record: dict[str, Any], parent: str | None = None) -> None:
        """Insert or replace an object; ``created_at`` survives replacement."""
        stamp = now()
        with self.transaction() as conn:
            conn.execute(
                """INSERT INTO objects (kind, key, parent, record, created_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT (kind, key) DO UPDATE SET
                     record = excluded.record, parent = excluded.parent,
                     updated_at = excluded.updated_at""",
                (kind, key, parent, json.dumps(record, default=str), stamp, stamp),
            )

    def delete(self, kind: str, key: str) -> bool:
        with self.transaction() as conn:
            cursor = conn.execute("DELETE FROM objects WHERE kind = ? AND key = ?", (kind, key))
            return cursor.rowcount > 0

    def list(self, kind: str, parent: str | None = None, prefix: str | None = None) -> list[dict[str, Any]]:
        """Objects of ``kind``, optionally under ``parent`` or with keys starting ``prefix``."""
        sql = "SELECT key, record, created_at, updated_at FROM objects WHERE kind = ?"
        args: list[Any] = [kind]
        if parent is not None:
            sql += " AND parent = ?"
            args.append(parent)
        if prefix is not None:
            sql += " AND substr(key, 1, ?) = ?"
            args.extend([len(prefix), prefix])
        rows = self._connection().execute(sql + " ORDER BY key", args).fetchall()
        return [_decode(key, rest) for key, *rest in rows]

    # -- edges -----------------------------------------------------------------------------

    def set_edges(self, kind: str, src: str, dsts: list[tuple[str, dict[str, Any]]]) -> None:
        """Replace every ``kind`` edge leaving ``src``."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM edges WHERE kind = ? AND src = ?", (kind, src))
            conn.executemany(
                "INSERT OR REPLACE INTO edges (kind, src, dst, record) VALUES (?, ?, ?, ?)",
                [(kind, src, dst, json.dumps(rec)) for dst, rec in dsts],
            )

    def edges_from(self, kind: str, src: str) -> list[tuple[str, dict[str, Any]]]:
        rows = self._connection().execute(
            "SELECT dst, record FROM edges WHERE kind = ? AND src = ? ORDER BY rowid", (kind, src)
        ).fetchall()
        return [(dst, json.loads(rec)) for dst, rec in rows]

    def edges_to(self, kind: str, dst: str) -> list[tuple[str, dict[str, Any]]]:
        rows = self._connection().execute(
            "SELECT src, record FROM edges WHERE kind = ? AND dst = ? ORDER BY src", (kind, dst)
        ).fetchall()
        return [(src, json.loads(rec)) for src, rec in rows]

    def delete_edges(self, kind: str, src: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM edges WHERE kind = ? AND src = ?", (kind, src))

    def next_id(self, name: str) -> int:
        """A counter that never repeats a value (ids for tables and physical columns)."""
        with self.transaction() as conn:
            conn.execute(
                """INSERT INTO counters (name, value) VALUES (?, 1)
                   ON CONFLICT (name) DO UPDATE SET value = value + 1""",
                (name,),
            )
            return conn.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()[0]


def _decode(key: str, row: tuple[str, str, str]) -> dict[str, Any]:
    record, created_at, updated_at = row
    value = json.loads(record)
    value.setdefault("key", key)
    value["created_at"] = created_at
    value["updated_at"] = updated_at
    return value
