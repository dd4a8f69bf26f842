"""Online lookups and materialization: ``fs.get_online_features`` in-process and over Flight
SQL on loopback, on the SQLite online store and on Redis (a redis-server started here, when the
binary is installed), next to the bare reads of the same rows in the same run: a SQLite
primary-key SELECT of the online file, and a redis-py GET (MGET for 100 keys) of the same
rows. The bare reads are the floor: what a lookup costs without Raise's
parsing, authorization and audit.

    python benchmarks/online.py            # 100k keys x 5 features, 2,000 lookups per case
    python benchmarks/online.py --quick    # 5k keys, 300 lookups per case

Also times ``fs.materialize`` of the group (first run: the whole table; second run: the change
feed of a 1% update; then the whole table into Redis). Last line: ratios first
(``inprocess_1key_p50_vs_sqlite``: Raise's p50 over the bare read's, lower is better), then
p50/p99 in milliseconds and materialize seconds. The Flight lookups are also compared with
the floor under them (``benchmarks/flight_floor.py``: a bare pyarrow.flight server answering
the same ADBC calls with a constant row, measured in the same run):
``flight_1key_p50_vs_floor``.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import flight_floor  # noqa: E402
from flight_floor import percentiles  # noqa: E402

FEATURES = [f"f{i}" for i in range(5)]
USER, PASSWORD = "bench", "bench-password"
CONTEXT = "bench/online/lookups"
READY = re.compile(r"Serving Raise Flight SQL at (\S+)")


def load(home: Path, keys: int) -> dict[str, float]:
    from flight_server.users import UserStore
    from raise_ import FeatureStore
    from raise_.engine import Engine

    UserStore(Engine(home).catalog).add(USER, PASSWORD)
    fs = FeatureStore(CONTEXT, home=str(home), user=USER)
    group = fs.create_feature_group("users", key_columns=["user_id"], timestamp_column="event_time")
    group.create_features_from_schema({name: "float64" for name in FEATURES})
    rng = np.random.default_rng(3)
    stamp = np.datetime64("2026-01-01T00:00:00", "us")
    table = {"user_id": np.arange(keys, dtype=np.int64), "event_time": np.full(keys, stamp)}
    group.write(pa.table({**table, **{n: rng.standard_normal(keys) for n in FEATURES}}))
    start = time.perf_counter()
    fs.materialize("users")
    first = time.perf_counter() - start
    changed = rng.choice(keys, keys // 100, replace=False)
    group.write(pa.table({"user_id": changed, "event_time": np.full(len(changed), stamp + 1),
                          **{n: rng.standard_normal(len(changed)) for n in FEATURES}}))
    start = time.perf_counter()
    fs.materialize("users")
    return {"materialize_s": first, "materialize_1pct_s": time.perf_counter() - start}


def lookups(fs, keys: int, calls: int, prefix: str) -> dict[str, float]:
    rng = np.random.default_rng(5)
    wanted = [f"users.{n}" for n in FEATURES]
    out = {}
    for size in (1, 100):
        rows = [[{"user_id": int(k)} for k in rng.integers(0, keys, size)] for _ in range(64)]
        counter = iter(range(10**9))
        p50, p99 = percentiles(lambda: fs.get_online_features(wanted, rows[next(counter) % 64]), calls)
        out[f"{prefix}_{size}key_p50_ms"], out[f"{prefix}_{size}key_p99_ms"] = p50, p99
    return out


def bare_sqlite(path: Path, keys: int, calls: int) -> dict[str, float]:
    """The same rows read by primary key with sqlite3 directly."""
    db = sqlite3.connect(str(path))
    table = _table(path)
    rng = np.random.default_rng(5)
    columns = ", ".join(f'"{n}@v1"' for n in FEATURES)
    out = {}
    for size in (1, 100):
        sql = f'SELECT user_id, {columns} FROM "{table}" WHERE user_id IN ({", ".join("?" * size)})'
        batches = [tuple(int(k) for k in rng.integers(0, keys, size)) for _ in range(64)]
        counter = iter(range(10**9))
        p50, p99 = percentiles(lambda: db.execute(sql, batches[next(counter) % 64]).fetchall(), calls)
        out[f"sqlite_{size}key_p50_ms"], out[f"sqlite_{size}key_p99_ms"] = p50, p99
    return out


def _table(path: Path) -> str:
    with sqlite3.connect(str(path)) as db:
        return db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchone()[0]


def bare_redis(url: str, home: Path, table: str, keys: int, calls: int) -> dict[str, float]:
    """The same rows read with redis-py directly: a GET of one key, an MGET of 100."""
    import redis

    from raise_.serving.redis_store import RedisOnlineStore

    client, prefix = redis.Redis.from_url(url), RedisOnlineStore(url, home).prefix
    rng = np.random.default_rng(5)
    batches = [[f"{prefix}:{table}:{int(k)}" for k in rng.integers(0, keys, 100)] for _ in range(64)]
    counter = iter(range(10**9))
    out = {}
    out["redispy_1key_p50_ms"], out["redispy_1key_p99_ms"] = percentiles(
        lambda: client.get(batches[next(counter) % 64][0]), calls)
    out["redispy_100key_p50_ms"], out["redispy_100key_p99_ms"] = percentiles(
        lambda: client.mget(batches[next(counter) % 64]), calls)
    return out


def start_redis(folder: Path):
    """A redis-server on a free loopback port (None without the binary or the client)."""
    try:
        import redis
    except ImportError:
        return None
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", str(folder)], stdout=subprocess.DEVNULL)
    url, deadline = f"redis://127.0.0.1:{port}/0", time.monotonic() + 20
    while True:
        try:
            redis.Redis.from_url(url).ping()
            return process, url
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def flight_lookups(home: Path, keys: int, calls: int, prefix: str = "flight") -> dict[str, float]:
    from raise_ import FeatureStore

    command = [sys.executable, "-m", "flight_server", "serve", "--home", str(home), "--port", "0"]
    with open(home / "server.log", "wb") as log:
        server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        url = next(m.group(1) for line in server.stdout if (m := READY.search(line)))
        fs = FeatureStore(CONTEXT, url=url, user=USER, password=PASSWORD)
        try:
            return lookups(fs, keys, calls, prefix)
        finally:
            fs.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


def redis_lookups(home: Path, url: str, keys: int, calls: int) -> dict[str, float]:
    """The same lookups with the online store on Redis (materialized there afresh)."""
    from raise_ import FeatureStore

    os.environ["RAISE_ONLINE_STORE"] = url  # the Flight server started below inherits it
    try:
        fs = FeatureStore(CONTEXT, home=str(home), user=USER)
        start = time.perf_counter()
        fs.materialize("users")
        figures = {"materialize_redis_s": time.perf_counter() - start}
        figures.update(lookups(fs, keys, calls, "redis_inprocess"))
        figures.update(bare_redis(url, home, _table(home / "online.db"), keys, calls))
        figures.update(flight_lookups(home, keys, calls, "redis_flight"))
        return figures
    finally:
        del os.environ["RAISE_ONLINE_STORE"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5k keys, 300 lookups per case")
    args = parser.parse_args()
    keys, calls = (5_000, 300) if args.quick else (100_000, 2_000)
    from raise_ import FeatureStore

    os.environ.pop("RAISE_ONLINE_STORE", None)
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder) / "store"
        figures = load(home, keys)
        fs = FeatureStore(CONTEXT, home=str(home), user=USER)
        figures.update(lookups(fs, keys, calls, "inprocess"))
        figures.update(bare_sqlite(home / "online.db", keys, calls))
        figures.update(flight_lookups(home, keys, calls))
        figures.update(flight_floor.measure(calls))
        redis = start_redis(Path(folder))
        if redis is not None:
            try:
                figures.update(redis_lookups(home, redis[1], keys, calls))
            finally:
                redis[0].terminate()
                redis[0].wait(timeout=30)
    ratios = {}
    for peer, prefixes in (("sqlite", ("inprocess", "flight")), ("redispy", ("redis_inprocess", "redis_flight"))):
        for prefix in prefixes:
            for n in (1, 100):
                if f"{prefix}_{n}key_p50_ms" in figures:
                    ratios[f"{prefix}_{n}key_p50_vs_{peer}"] = (figures[f"{prefix}_{n}key_p50_ms"]
                                                                / figures[f"{peer}_{n}key_p50_ms"])
    for n in (1, 100):
        ratios[f"flight_{n}key_p50_vs_floor"] = figures[f"flight_{n}key_p50_ms"] / figures[f"floor_{n}key_p50_ms"]
    out = {**ratios, **figures, "keys": keys, "calls": calls, "features": len(FEATURES)}
    print(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in out.items()))


if __name__ == "__main__":
    main()
