"""The Redis online store: what ``SQLiteOnlineStore`` keeps, in a Redis server shared by every
process that serves the store (``RAISE_ONLINE_STORE=redis://host:6379/0``).

Layout, under a prefix (the URI's ``?prefix=``, else one derived from the store home, so
stores sharing a database do not meet): each group table ``g<id>`` is a set ``<prefix>:g<id>``
of its encoded keys and one hash ``<prefix>:g<id>:<key>`` per key, with fields ``__time``
(microseconds, empty when the group has no event time), ``__seq`` (the write stamp) and one per
stored feature. A row replaces the held one only if it is newer (later time, then later
write), decided in the server by a Lua script, so concurrent materializations cannot
reorder a key. Values are encoded as the SQLite store holds them (JSON text of that value;
bytes raw behind a ``0xff`` byte, which UTF-8 text never has), so one decoder serves both.

Writes go in pipelined batches of script calls; a lookup of n keys is one pipelined round trip
of n ``HMGET``s.
"""
from __future__ import annotations

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
_BINARY = b"\xff"

# KEYS: the row's hash, the table's key set. ARGV: time ('' = none), seq, encoded key, then
# field/value pairs. Seqs are non-negative decimal stamps (beyond a double's precision):
# compared by length, then as text.
_KEEP_NEWER = """
local old = redis.call('HMGET', KEYS[1], '__time', '__seq')
if old[2] then
  local ot, nt = tonumber(old[1]), tonumber(ARGV[1])
  local os, ns = old[2], ARGV[2]
  local later = #ns > #os or (#ns == #os and ns > os)
  local newer
  if ot and nt then newer = nt > ot or (nt == ot and later)
  elseif not ot and not nt then newer = later
  else newer = nt ~= nil end
  if not newer then return 0 end
end
redis.call('HSET', KEYS[1], '__time', ARGV[1], '__seq', ARGV[2], unpack(ARGV, 4))
redis.call('SADD', KEYS[2], ARGV[3])
return 1
"""


def encode(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return _BINARY + bytes(value)
    return json.dumps(value, separators=(",", ":")).encode()


def decode(raw: bytes | None) -> Any:
    if raw is None:
        return None
    return raw[1:] if raw[:1] == _BINARY else json.loads(raw)


def key_of(values: Sequence[Any]) -> str:
    """A key's member name in the table's set (its hash's name after the table's)."""
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
        self._keep_newer = self.client.register_script(_KEEP_NEWER)
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
            for batch in _batches(python_rows(rows, every), _BATCH):
                kept += self._write_batch(table, len(keys), columns, batch)
        return kept

    def _write_batch(self, table: str, keys: int, columns: Sequence[str], batch: list[tuple]) -> int:
        pipe = self.client.pipeline(transaction=False)
        for row in batch:
            member = key_of(row[:keys])
            time, seq = row[keys], row[keys + 1]
            fields = [x for name, value in zip(columns, row[keys + 2:]) for x in (name, encode(value))]
            self._keep_newer(keys=[f"{self._set(table)}:{member}", self._set(table)],
                             args=["" if time is None else str(time), str(seq), member, *fields], client=pipe)
        return sum(pipe.execute())

    def lookup(self, table: str, key: str | Sequence[str], values: Sequence[Any],
               columns: Sequence[str]) -> list[tuple | None]:
        """``values``: one key value per row (one key column) or a tuple per row (several)."""
        single = isinstance(key, str)
        names = [f"{self._set(table)}:{key_of([v] if single else v)}" for v in values]
        fields = ["__seq", *columns]
        with self._reached():
            if len(names) == 1:
                found = [self.client.hmget(names[0], fields)]
            else:
                pipe = self.client.pipeline(transaction=False)
                for name in names:
                    pipe.hmget(name, fields)
                found = pipe.execute()
        return [None if row[0] is None else tuple(decode(v) for v in row[1:]) for row in found]

    def count(self, table: str) -> int:
        with self._reached():
            return int(self.client.scard(self._set(table)))

    def drop(self, table: str) -> None:
        with self._reached():
            for batch in _batches(self.client.sscan_iter(self._set(table), count=_BATCH), _BATCH):
                self.client.delete(*(f"{self._set(table)}:{m.decode()}" for m in batch))
            self.client.delete(self._set(table))


def _batches(items: Iterable[Any], size: int) -> Iterable[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
