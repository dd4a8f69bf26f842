"""The Redis online store: what ``SQLiteOnlineStore`` keeps, in a Redis server shared by every
process that serves the store (``RAISE_ONLINE_STORE=redis://host:6379/0``).

Layout, under a prefix (the URI's ``?prefix=``, else one derived from the store home, so
stores sharing a database do not meet): each group table ``g<id>`` has a set ``<prefix>:g<id>``
of its encoded keys, a string ``<prefix>:g<id>:layout`` (the JSON list of its stored columns)
and one string per key, ``<prefix>:g<id>:<key>``, holding the row as ``time,seq,`` (event time
in microseconds, empty without one; the write stamp) then a JSON array of the column values as
the SQLite store holds them (bytes as ``{"__raise_bytes__": base64}``), so one decoder serves
both stores. A lookup of n keys is one ``MGET`` (the layout and the n rows): one round trip,
one reply, one JSON decode per key.

A re-materialization of the whole table replaces the rows with pipelined ``MSET``s; an
incremental one keeps a row only if it is newer than the held one (later time, then later
write), decided in the server by a Lua script per batch, so concurrent materializations cannot
reorder a key.
"""
from __future__ import annotations

import base64
import hashlib
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pyarrow as pa

from grammar.errors import ExecutionError, ValidationError
from raise_.serving.online import TIME, SEQ, python_rows

_BATCH = 2000
_BYTES = "__raise_bytes__"

# KEYS: the table's key set, then one row key per row. ARGV: per row its member name and
# value. Write stamps are non-negative decimals beyond a double's precision: compared by
# length, then as text.
_KEEP_NEWER = """
local kept = 0
for j = 1, #KEYS - 1 do
  local key, value = KEYS[j + 1], ARGV[2 * j]
  local old = redis.call('GET', key)
  local newer = true
  if old then
    local ot, os = string.match(old, '^(-?%d*),(%d+),')
    local nt, ns = string.match(value, '^(-?%d*),(%d+),')
    local later = #ns > #os or (#ns == #os and ns > os)
    ot, nt = tonumber(ot), tonumber(nt)
    if ot and nt then newer = nt > ot or (nt == ot and later)
    elseif not ot and not nt then newer = later
    else newer = nt ~= nil end
  end
  if newer then
    redis.call('SET', key, value)
    redis.call('SADD', KEYS[1], ARGV[2 * j - 1])
    kept = kept + 1
  end
end
return kept
"""


def _default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return {_BYTES: base64.b64encode(value).decode()}
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _hook(value: dict) -> Any:
    return base64.b64decode(value[_BYTES]) if len(value) == 1 and _BYTES in value else value


def encode_row(time: int | None, seq: int, values: Sequence[Any]) -> bytes:
    body = json.dumps(list(values), separators=(",", ":"), default=_default)
    return f"{'' if time is None else time},{seq},{body}".encode()


_DECODER = json.JSONDecoder(object_hook=_hook)


def decode_row(raw: bytes) -> list[Any]:
    return _DECODER.decode(raw.split(b",", 2)[2].decode())


def key_of(values: Sequence[Any]) -> str:
    """A key's member name in the table's set (its row's name after the table's): its JSON."""
    if len(values) == 1 and type(values[0]) is int:  # what json.dumps writes for an int, faster
        return str(values[0])
    return json.dumps(values[0] if len(values) == 1 else list(values), separators=(",", ":"))


class RedisOnlineStore:
    """The online store in the Redis database at ``uri`` for the store at ``home``."""

    def __init__(self, uri: str, home: str | Path) -> None:
        try:
            import redis
        except ImportError:
            raise ValidationError("the Redis online store needs the redis package: pip install "
                                  "'raise-featurestore[redis]'", code="RAISE-V183", name=uri) from None
        parts = urlsplit(uri)
        query = parse_qs(parts.query)
        default = "raise:" + hashlib.blake2b(str(Path(home).resolve()).encode(), digest_size=6).hexdigest()
        self.prefix = query.pop("prefix", [default])[0]
        rest = "&".join(f"{k}={v}" for k, values in query.items() for v in values)
        self.client = redis.Redis.from_url(urlunsplit(parts._replace(query=rest)))
        self._script = self.client.register_script(_KEEP_NEWER)
        self._positions: dict[bytes, dict[str, int]] = {}
        self._failures = (redis.RedisError,)
        netloc = parts.hostname or "" if parts.port is None else f"{parts.hostname}:{parts.port}"
        self._where = urlunsplit(parts._replace(netloc=netloc, query=""))  # without a password

    @contextmanager
    def _reached(self) -> Iterator[None]:
        """Redis failures as a coded error naming the server (never the client's traceback)."""
        try:
            yield
        except self._failures as error:
            raise ExecutionError(f"the Redis online store at {self._where} failed: {error}",
                                 code="RAISE-X183", name=self._where) from None

    def __repr__(self) -> str:
        return f"RedisOnlineStore({self._where!r}, prefix={self.prefix!r})"

    def _set(self, table: str) -> str:
        return f"{self.prefix}:{table}"

    def write(self, table: str, keys: Sequence[str], columns: Sequence[str], rows: pa.Table, replace: bool) -> int:
        if replace:
            self.drop(table)
        every = [*keys, TIME, SEQ, *columns]
        kept = 0
        with self._reached():
            self.client.set(f"{self._set(table)}:layout", json.dumps(list(columns)))
            for batch in _batches(python_rows(rows, every), _BATCH):
                named = {f"{self._set(table)}:{key_of(r[:len(keys)])}": encode_row(r[len(keys)], r[len(keys) + 1],
                                                                                   r[len(keys) + 2:]) for r in batch}
                kept += self._replace(table, named) if replace else self._keep_newer(table, named)
        return kept

    def _replace(self, table: str, named: dict[str, bytes]) -> int:
        """Rows of a table just emptied: written as they are."""
        start = len(self._set(table)) + 1
        pipe = self.client.pipeline(transaction=False)
        pipe.mset(named)
        pipe.sadd(self._set(table), *(name[start:] for name in named))
        pipe.execute()
        return len(named)

    def _keep_newer(self, table: str, named: dict[str, bytes]) -> int:
        start = len(self._set(table)) + 1
        args = [x for name, value in named.items() for x in (name[start:], value)]
        return int(self._script(keys=[self._set(table), *named], args=args))

    def lookup(self, table: str, key: str | Sequence[str], values: Sequence[Any],
               columns: Sequence[str]) -> list[tuple | None]:
        """``values``: one key value per row (one key column) or a tuple per row (several)."""
        single = isinstance(key, str)
        names = [f"{self._set(table)}:{key_of([v] if single else v)}" for v in values]
        with self._reached():
            layout, *found = self.client.mget([f"{self._set(table)}:layout", *names])
        if layout is None:  # never materialized
            return [None] * len(values)
        positions = self._positions.get(layout)
        if positions is None:
            positions = self._positions[layout] = {c: i for i, c in enumerate(json.loads(layout))}
        picks = [positions.get(c) for c in columns]
        rows = [None if raw is None else decode_row(raw) for raw in found]
        return [None if row is None else tuple(None if i is None else row[i] for i in picks) for row in rows]

    def count(self, table: str) -> int:
        with self._reached():
            return int(self.client.scard(self._set(table)))

    def drop(self, table: str) -> None:
        with self._reached():
            for batch in _batches(self.client.sscan_iter(self._set(table), count=_BATCH), _BATCH):
                self.client.delete(*(f"{self._set(table)}:{m.decode()}" for m in batch))
            self.client.delete(self._set(table), f"{self._set(table)}:layout")


def _batches(items: Iterable[Any], size: int) -> Iterable[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
