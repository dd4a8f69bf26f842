"""The audit log: append-only, hash-chained, in its own SQLite file (``<home>/audit.db``).

Every entry records who (actor and the actor's organization) did what (one of the spec's
Audit Actions) to which resource (a path such as ``acme/ml/rec/user-signals/ctr``), when, with
which outcome (ALLOWED, DENIED, ERROR) and metadata details (never feature values). The log
lives apart from the catalog so that a statement that fails and rolls back still leaves its
DENIED or ERROR entry.

Tamper evidence: entries form one chain per organization (the first name of the resource
path; ``""`` for store-wide actions). Each entry's ``hash`` is an HMAC-SHA256, under a key kept
in ``<home>/audit.key``, of its fields and the previous entry's hash; a ``heads`` row per chain
holds the newest sequence number and hash, and the hash of the last entry removed by retention,
signed with the same key.
SQLite triggers refuse UPDATE and any DELETE outside retention, and ``verify()`` recomputes every
chain, so an edited, inserted or deleted entry, a truncated tail or dropped triggers are reported.

Retention (``SET AUDIT CONFIG``) is per organization: entries older than ``retention_days``
are archived to ``export_destination`` (when set) and removed from the start of the chain.
``immutable=True`` is one-way: from then on nothing deletes that organization's entries,
retention included.

Durability and order: the database is in WAL mode with ``synchronous=NORMAL``. An entry is in
the log once ``append`` returns: its commit is in the write-ahead log, which survives the
process crashing (a power loss or OS crash may lose the commits since the last checkpoint,
which syncs the log to disk). Appends hold SQLite's write lock from reading a chain's head
to writing it, so entries are ordered and chained across threads and processes. Appends use
connections from a pool rather than one per thread: Flight handlers run on gRPC's threads,
which come and go, and a connection per thread would be opened again on each new one (and
left open when it ends). SQLite checkpoints the WAL itself (every 1,000 pages, in the append
that crosses the threshold): a checkpoint run from another thread while appends continue
never catches up, and the WAL would grow without bound.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import queue
import secrets
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from grammar.errors import AlreadyExists, ValidationError
from grammar.security_ast import CATEGORIES, AuditFilter
from raise_.engine.catalog import now

GENESIS = "0" * 64
CATEGORY_OF = {action: category for category, actions in CATEGORIES.items() for action in actions}
_HASHED = ("chain", "seq", "timestamp", "actor", "actor_org", "action", "category", "resource", "outcome",
           "details")

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS entries (
        id INTEGER PRIMARY KEY AUTOINCREMENT, chain TEXT NOT NULL, seq INTEGER NOT NULL,
        timestamp TEXT NOT NULL, actor TEXT NOT NULL, actor_org TEXT, action TEXT NOT NULL,
        category TEXT NOT NULL, resource TEXT NOT NULL, outcome TEXT NOT NULL, details TEXT NOT NULL,
        prev_hash TEXT NOT NULL, hash TEXT NOT NULL, UNIQUE (chain, seq))""",
    "CREATE INDEX IF NOT EXISTS entries_time ON entries (timestamp)",
    """CREATE TABLE IF NOT EXISTS heads (chain TEXT PRIMARY KEY, seq INTEGER NOT NULL, hash TEXT NOT NULL,
        base_seq INTEGER NOT NULL DEFAULT 0, base_hash TEXT NOT NULL, signature TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS config (org TEXT PRIMARY KEY, retention_days INTEGER,
        immutable INTEGER NOT NULL DEFAULT 0, export_destination TEXT, updated_by TEXT, updated_at TEXT)""",
    """CREATE TABLE IF NOT EXISTS alerts (name TEXT PRIMARY KEY, owner TEXT NOT NULL, filter TEXT NOT NULL,
        notify TEXT NOT NULL, channels TEXT NOT NULL, created_at TEXT NOT NULL)""",
    "CREATE TABLE IF NOT EXISTS pruning (chain TEXT PRIMARY KEY)",
    """CREATE TRIGGER IF NOT EXISTS entries_append_only BEFORE UPDATE ON entries
        BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS entries_no_delete BEFORE DELETE ON entries
        WHEN NOT EXISTS (SELECT 1 FROM pruning WHERE chain = OLD.chain)
          OR EXISTS (SELECT 1 FROM config WHERE org = OLD.chain AND immutable = 1)
        BEGIN SELECT RAISE(ABORT, 'audit entries can only be removed by retention'); END""",
)
_TRIGGERS = ("entries_append_only", "entries_no_delete")


@dataclass(frozen=True)
class Event:
    """Something to audit, before its outcome is known."""

    action: str
    resource: str
    details: dict[str, Any] = field(default_factory=dict)
    chain: str | None = None  # default: the resource's organization

    def chain_name(self) -> str:
        return self.chain if self.chain is not None else self.resource.split("/", 1)[0]


@dataclass(frozen=True)
class Entry:
    """One stored audit entry."""

    id: int
    chain: str
    seq: int
    timestamp: str
    actor: str
    actor_org: str | None
    action: str
    category: str
    resource: str
    outcome: str
    details: dict[str, Any]
    hash: str

    def as_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["timestamp"] = datetime.fromisoformat(self.timestamp)
        row["details"] = json.dumps(self.details, sort_keys=True)
        return row


@dataclass(frozen=True)
class AuditConfig:
    organization: str
    retention_days: int | None = None
    immutable: bool = False
    export_destination: str | None = None


@dataclass(frozen=True)
class ChainReport:
    """``verify()``'s finding for one chain."""

    chain: str
    entries: int
    valid: bool
    problems: tuple[str, ...] = ()


def resource_matches(pattern: str, path: str) -> bool:
    """Glob match of a resource path; a pattern may be relative to any level of the path.

    ``user-signals/*`` matches ``acme/ml/rec/user-signals/ctr`` and the group itself
    (``acme/ml/rec/user-signals``); ``acme/*`` matches everything in ``acme``.
    """
    parts = path.split("/")
    bare = pattern[:-2] if pattern.endswith("/*") else None
    for i in range(len(parts)):
        candidate = "/".join(parts[i:])
        if fnmatchcase(candidate, pattern) or (bare is not None and fnmatchcase(candidate, bare)):
            return True
    return False


def matches(chosen: AuditFilter, entry: Entry) -> bool:
    """Whether ``entry`` satisfies every clause of ``chosen``."""
    checks = (
        chosen.resource is None or resource_matches(chosen.resource, entry.resource),
        chosen.actions is None or entry.action in chosen.actions,
        chosen.category is None or entry.category == chosen.category,
        chosen.since is None or _instant(entry.timestamp) >= _instant(chosen.since),
        chosen.until is None or _instant(entry.timestamp) <= _instant(chosen.until),
        chosen.actors is None or entry.actor in chosen.actors,
        chosen.actor_orgs is None or entry.actor_org in chosen.actor_orgs,
        chosen.exclude_actor_orgs is None or entry.actor_org not in chosen.exclude_actor_orgs,
        chosen.outcomes is None or entry.outcome in chosen.outcomes,
    )
    return all(checks)


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _stamp(text: str) -> str:
    """ISO text in the fixed-width form entries store, so text order is time order."""
    return _instant(text).astimezone(timezone.utc).isoformat(timespec="microseconds")


def _message(row: dict[str, Any], prev_hash: str) -> bytes:
    fields_ = [row[name] for name in _HASHED]
    return (prev_hash + "\n" + json.dumps(fields_, separators=(",", ":"), ensure_ascii=False)).encode()


class AuditLog:
    """The audit store of one Raise home. Thread-safe: one SQLite connection per thread."""

    def __init__(self, home: str | Path) -> None:
        self.home = Path(home)
        self.path = self.home / "audit.db"
        self._key = _load_key(self.home / "audit.key")
        self._local = threading.local()
        self._writers: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        with self._writer() as conn:
            for statement in _SCHEMA:
                conn.execute(statement)

    def __repr__(self) -> str:
        return f"AuditLog({str(self.path)!r})"

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection, for reads and configuration."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._open()
        return conn

    @contextmanager
    def _writer(self) -> Iterator[sqlite3.Connection]:
        """A pooled connection for appends, used by one thread at a time."""
        try:
            conn = self._writers.get_nowait()
        except queue.Empty:
            conn = self._open()
        try:
            yield conn
        finally:
            self._writers.put(conn)

    def checkpoint(self, mode: str = "PASSIVE") -> None:
        """Copy the write-ahead log into the database (``TRUNCATE``: and empty it)."""
        if mode not in ("PASSIVE", "FULL", "RESTART", "TRUNCATE"):
            raise ValueError(f"unknown checkpoint mode {mode!r}")
        with self._writer() as conn:
            conn.execute(f"PRAGMA wal_checkpoint({mode})")

    def close(self) -> None:
        """Checkpoint and close the pooled connections (later appends open new ones)."""
        self.checkpoint("TRUNCATE")
        while True:
            try:
                self._writers.get_nowait().close()
            except queue.Empty:
                break

    def _sign(self, row: dict[str, Any], prev_hash: str) -> str:
        return hmac.new(self._key, _message(row, prev_hash), hashlib.sha256).hexdigest()

    # -- writing ---------------------------------------------------------------------------

    def append(self, actor: str, actor_org: str | None, events: Iterable[Event], outcome: str) -> list[Entry]:
        """Store ``events`` with ``outcome``, chained; the entries written (durable as the
        module says once this returns)."""
        stamp = _stamp(now())
        written: list[Entry] = []
        heads: dict[str, tuple[int, str, int, str]] = {}
        with self._writer() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for event in events:
                    written.append(self._append_one(conn, heads, stamp, actor, actor_org, event, outcome))
                for chain, head in heads.items():
                    self._set_head(conn, chain, *head)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        return written

    def _append_one(self, conn: sqlite3.Connection, heads: dict[str, tuple[int, str, int, str]], stamp: str,
                    actor: str, actor_org: str | None, event: Event, outcome: str) -> Entry:
        """Insert one entry after its chain's head; ``heads`` holds the heads this append has
        moved (chain -> seq, hash, base_seq, base_hash), written once per chain at its end."""
        chain = event.chain_name()
        if chain not in heads:
            row = conn.execute("SELECT * FROM heads WHERE chain = ?", (chain,)).fetchone()
            heads[chain] = (row["seq"], row["hash"], row["base_seq"], row["base_hash"]) if row else \
                (0, GENESIS, 0, GENESIS)
        seq, prev, *base = heads[chain]
        seq += 1
        row = {"chain": chain, "seq": seq, "timestamp": stamp, "actor": actor, "actor_org": actor_org,
               "action": event.action, "category": CATEGORY_OF[event.action], "resource": event.resource,
               "outcome": outcome, "details": json.dumps(event.details, sort_keys=True, default=str)}
        digest = self._sign(row, prev)
        cursor = conn.execute(
            """INSERT INTO entries (chain, seq, timestamp, actor, actor_org, action, category, resource,
               outcome, details, prev_hash, hash) VALUES (:chain, :seq, :timestamp, :actor, :actor_org,
               :action, :category, :resource, :outcome, :details, :prev, :hash)""",
            {**row, "prev": prev, "hash": digest})
        heads[chain] = (seq, digest, *base)
        return _entry({**row, "id": cursor.lastrowid, "hash": digest})

    def _head_signature(self, chain: str, seq: int, digest: str, base_seq: int, base_hash: str) -> str:
        message = f"head\n{chain}\n{seq}\n{digest}\n{base_seq}\n{base_hash}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def _set_head(self, conn: sqlite3.Connection, chain: str, seq: int, digest: str, base_seq: int,
                  base_hash: str) -> None:
        """The chain's newest entry and retention anchor, signed so that a truncated log cannot
        be passed off as complete without the key."""
        conn.execute("INSERT OR REPLACE INTO heads (chain, seq, hash, base_seq, base_hash, signature) "
                     "VALUES (?, ?, ?, ?, ?, ?)",
                     (chain, seq, digest, base_seq, base_hash,
                      self._head_signature(chain, seq, digest, base_seq, base_hash)))

    # -- reading ---------------------------------------------------------------------------

    def entries(self, chosen: AuditFilter | None = None, *, after: int | None = None, limit: int | None = None,
                visible: Callable[[Entry], bool] | None = None) -> list[Entry]:
        """Entries in id order that match ``chosen`` and ``visible``, after id ``after``."""
        found: list[Entry] = []
        for entry in self._scan(chosen or AuditFilter(), after):
            if matches(chosen or AuditFilter(), entry) and (visible is None or visible(entry)):
                found.append(entry)
                if limit is not None and len(found) >= limit:
                    break
        return found

    def _scan(self, chosen: AuditFilter, after: int | None) -> Iterator[Entry]:
        """Entries in id order, narrowed in SQL by the clauses SQLite can check."""
        clauses, args = ["id > ?"], [after or 0]
        for column, values in (("action", chosen.actions), ("actor", chosen.actors), ("outcome", chosen.outcomes)):
            if values is not None:
                clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
                args.extend(values)
        if chosen.category is not None:
            clauses.append("category = ?")
            args.append(chosen.category)
        if chosen.since is not None:
            clauses.append("timestamp >= ?")
            args.append(_stamp(chosen.since))
        if chosen.until is not None:
            clauses.append("timestamp <= ?")
            args.append(_stamp(chosen.until))
        cursor = self._connection().execute(
            f"SELECT * FROM entries WHERE {' AND '.join(clauses)} ORDER BY id", args)
        for row in cursor:
            yield _entry(dict(row))

    # -- configuration ---------------------------------------------------------------------

    def config(self, org: str) -> AuditConfig:
        row = self._connection().execute("SELECT * FROM config WHERE org = ?", (org,)).fetchone()
        if row is None:
            return AuditConfig(org)
        return AuditConfig(org, row["retention_days"], bool(row["immutable"]), row["export_destination"])

    def configs(self) -> list[AuditConfig]:
        rows = self._connection().execute("SELECT org FROM config ORDER BY org").fetchall()
        return [self.config(row["org"]) for row in rows]

    def set_config(self, org: str, *, retention_days: int | None = None, immutable: bool | None = None,
                   export_destination: str | None = None, by: str) -> AuditConfig:
        """Change the given settings of ``org``'s audit configuration (the others stay)."""
        current = self.config(org)
        if current.immutable and immutable is False:
            raise ValidationError(f"the audit log of {org!r} is immutable; that cannot be undone",
                                  code="RAISE-V080", name=org)
        if retention_days is not None and retention_days < 1:
            raise ValidationError("retention_days must be at least 1", code="RAISE-V081", name=str(retention_days))
        updated = AuditConfig(
            org,
            retention_days if retention_days is not None else current.retention_days,
            current.immutable or bool(immutable),
            export_destination if export_destination is not None else current.export_destination,
        )
        self._connection().execute(
            """INSERT OR REPLACE INTO config (org, retention_days, immutable, export_destination, updated_by,
               updated_at) VALUES (?, ?, ?, ?, ?, ?)""",
            (org, updated.retention_days, int(updated.immutable), updated.export_destination, by, now()))
        return updated

    def expired(self, org: str, at: str | None = None) -> list[Entry]:
        """Entries of ``org``'s chain older than its retention (none while immutable)."""
        config = self.config(org)
        if config.retention_days is None or config.immutable:
            return []
        cutoff = _instant(at or now()) - timedelta(days=config.retention_days)
        rows = self._connection().execute(
            "SELECT * FROM entries WHERE chain = ? AND timestamp < ? ORDER BY seq",
            (org, _stamp(cutoff.isoformat()))).fetchall()
        return [_entry(dict(r)) for r in rows]

    def prune(self, org: str, entries: list[Entry]) -> int:
        """Remove ``entries`` (a prefix of ``org``'s chain, from ``expired``) and move the anchor."""
        if not entries:
            return 0
        if self.config(org).immutable:
            raise ValidationError(f"the audit log of {org!r} is immutable: nothing may delete its entries",
                                  code="RAISE-V082", name=org)
        last = entries[-1]
        with self._writer() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("INSERT OR REPLACE INTO pruning (chain) VALUES (?)", (org,))
                conn.execute("DELETE FROM entries WHERE chain = ? AND seq <= ?", (org, last.seq))
                head = conn.execute("SELECT seq, hash FROM heads WHERE chain = ?", (org,)).fetchone()
                self._set_head(conn, org, head["seq"], head["hash"], last.seq, last.hash)
                conn.execute("DELETE FROM pruning WHERE chain = ?", (org,))
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        return len(entries)

    # -- alerts ----------------------------------------------------------------------------

    def save_alert(self, name: str, owner: str, chosen: AuditFilter, notify: tuple[str, ...],
                   channels: tuple[str, ...]) -> None:
        try:
            self._connection().execute(
                "INSERT INTO alerts (name, owner, filter, notify, channels, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (name, owner, json.dumps(asdict(chosen)), json.dumps(list(notify)), json.dumps(list(channels)), now()))
        except sqlite3.IntegrityError:
            raise AlreadyExists(f"audit alert {name!r} already exists", name=name) from None

    def alerts(self) -> list[dict[str, Any]]:
        rows = self._connection().execute("SELECT * FROM alerts ORDER BY name").fetchall()
        return [_alert(dict(r)) for r in rows]

    def drop_alert(self, name: str) -> bool:
        return self._connection().execute("DELETE FROM alerts WHERE name = ?", (name,)).rowcount > 0

    # -- verification ----------------------------------------------------------------------

    def verify(self, chain: str | None = None) -> list[ChainReport]:
        """Recompute every chain (or one); report edits, insertions, deletions and missing triggers."""
        conn = self._connection()
        heads = {r["chain"]: dict(r) for r in conn.execute("SELECT * FROM heads")}
        chains = set(heads) | {r["chain"] for r in conn.execute("SELECT DISTINCT chain FROM entries")}
        if chain is not None:
            chains = {chain} & chains or {chain}
        present = {r["name"] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        missing = [f"the append-only trigger {t!r} was removed" for t in _TRIGGERS if t not in present]
        return [self._verify_chain(name, heads.get(name), missing) for name in sorted(chains)]

    def _verify_chain(self, chain: str, head: dict | None, problems: list[str]) -> ChainReport:
        problems = list(problems)
        rows = [dict(r) for r in self._connection().execute(
            "SELECT * FROM entries WHERE chain = ? ORDER BY seq", (chain,))]
        expected, prev = (head["base_seq"] + 1, head["base_hash"]) if head else (1, GENESIS)
        if head is None and rows:
            problems.append("the chain's head record is missing")
        if head is not None and not hmac.compare_digest(head["signature"], self._head_signature(
                chain, head["seq"], head["hash"], head["base_seq"], head["base_hash"])):
            problems.append("the chain's head record was altered")
        for row in rows:
            if row["seq"] != expected:
                problems.append(f"entries {expected}..{row['seq'] - 1} are missing" if row["seq"] > expected
                                else f"entry {row['seq']} is out of order")
            if row["prev_hash"] != prev:
                problems.append(f"entry {row['seq']} does not link to the entry before it")
            if not hmac.compare_digest(self._sign(row, row["prev_hash"]), row["hash"]):
                problems.append(f"entry {row['seq']} (id {row['id']}) was altered")
            expected, prev = row["seq"] + 1, row["hash"]
        if head is not None and (expected - 1 != head["seq"] or prev != head["hash"]):
            problems.append(f"the newest entries were removed: the head records entry {head['seq']}, "
                            f"the log ends at {expected - 1}")
        return ChainReport(chain, len(rows), not problems, tuple(problems))


def _entry(row: dict[str, Any]) -> Entry:
    details = row["details"]
    return Entry(row["id"], row["chain"], row["seq"], row["timestamp"], row["actor"], row["actor_org"],
                 row["action"], row["category"], row["resource"], row["outcome"],
                 json.loads(details) if isinstance(details, str) else details, row["hash"])


def _alert(row: dict[str, Any]) -> dict[str, Any]:
    row["filter"] = AuditFilter(**{k: tuple(v) if isinstance(v, list) else v
                                   for k, v in json.loads(row["filter"]).items()})
    row["notify"] = tuple(json.loads(row["notify"]))
    row["channels"] = tuple(json.loads(row["channels"]))
    return row


def _load_key(path: Path) -> bytes:
    """The chain's HMAC key, created (owner-only) on first use."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Written aside and linked into place: a concurrent opener sees no key or a whole one.
        staged = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_bytes(32).hex())
        try:
            os.link(staged, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(staged)
    return bytes.fromhex(path.read_text().strip())


_LOGS: dict[Path, AuditLog] = {}
_LOCK = threading.Lock()


#: ``log_for`` by an absolute home as given, so a statement's audit skips resolving the path.
_BY_HOME: dict[str, AuditLog] = {}


def _forget_connections() -> None:
    """In a forked child: SQLite connections must not cross a fork, so open new ones."""
    for log in _LOGS.values():
        log._writers, log._local = queue.SimpleQueue(), threading.local()


os.register_at_fork(after_in_child=_forget_connections)


def log_for(home: str | Path) -> AuditLog:
    """The audit log of the Raise home ``home`` (one instance per home in this process)."""
    given = str(home)
    found = _BY_HOME.get(given)
    if found is not None:
        return found
    path = Path(home).resolve()
    with _LOCK:
        if path not in _LOGS:
            _LOGS[path] = AuditLog(path)
        if os.path.isabs(given):
            _BY_HOME[given] = _LOGS[path]
        return _LOGS[path]
