"""Jobs: a SQL job against DuckDB running the same SQL, and an incremental run against a full one.

Writes ``--rows`` events x 10 columns as Parquet files, then measures in one run:

* ``sql_job_vs_duckdb``: a Raise SQL job (``RUN JOB``: the files read by DataFusion, grouped
  by user into a feature group, type-checked, written in one Delta commit with its checkpoint)
  against DuckDB running the same SQL over the same files (``read_parquet``) plus
  ``write_deltalake`` of its result into a Delta table; both overwrite their table, best of
  :data:`REPEATS` runs. The ratio is DuckDB's time over
  Raise's (above 1.0: Raise is faster; 0.8 is the target). Each side runs in its own process
  so that its peak RSS (``raise_rss_mb``, ``duckdb_rss_mb``) is its own.
* ``incremental_vs_full``: a row-wise job (each event enriched into a group keyed by event):
  after appending 1% new rows, its incremental run (``INCREMENTAL APPEND ON event_time``:
  reads and appends the new rows only) over a full recompute of the same SQL (``FULL
  REFRESH``, overwrite), both warm. Below 0.05 is the target.

The last line is ``name=value`` pairs, ratios first.

    python benchmarks/jobs.py --quick     # 1,000,000 rows, well under a minute
    python benchmarks/jobs.py             # 10,000,000 rows
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

USERS = 100_000
SQL = ("SELECT user_id, COUNT(*) AS clicks, SUM(revenue) AS revenue, AVG(dwell) AS dwell FROM source "
       "WHERE event_time >= '{{checkpoint}}' GROUP BY user_id")
ENRICH = ("SELECT event_id, event_time, user_id, revenue * 1.19 AS gross, dwell / 60 AS minutes FROM source "
          "WHERE event_time >= '{{checkpoint}}'")
FILES = 8
#: Runs per side; the best counts (the first pays for building parsers and plans once).
REPEATS = 2


def events(rows: int, start: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    base = np.datetime64("2026-01-01T00:00:00", "us")
    return pa.table({
        "event_id": np.arange(start, start + rows, dtype=np.int64),
        "user_id": rng.integers(0, USERS, rows),
        "event_time": base + (np.arange(start, start + rows) * 10) * np.timedelta64(1, "ms"),
        "revenue": np.round(rng.gamma(2.0, 3.0, rows), 2),
        "dwell": rng.random(rows) * 60,
        "page": rng.integers(0, 500, rows).astype(np.int32),
        "country": rng.choice(["de", "fr", "us", "jp"], rows),
        "device": rng.choice(["ios", "android", "web"], rows),
        "clicks": rng.poisson(2, rows),
        "score": rng.normal(0, 1, rows),
    })


def write_files(folder: Path, rows: int) -> None:
    folder.mkdir(parents=True)
    per = rows // FILES
    for i in range(FILES):
        pq.write_table(events(per, i * per, i), folder / f"part-{i}.parquet")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _store(home: Path, name: str, files: Path, mode: str):
    from raise_.engine import Engine

    session = Engine(home).session(None, "acme/ml/bench")
    session.execute(f"""CREATE FEATURE GROUP "{name}" KEY (user_id INT64);
        CREATE FEATURE "{name}".clicks INT64; CREATE FEATURE "{name}".revenue FLOAT64;
        CREATE FEATURE "{name}".dwell FLOAT64;
        CREATE JOB "{name}" FROM filesystem (path = '{files}', glob_pattern = '*.parquet')
            TRANSFORM agg AS SQL '{SQL.replace("'", "''")}' INTO "{name}" {mode}""")
    return session


def side_raise(work: Path) -> dict:
    session = _store(work / "store", "clicks", work / "events", "MODE overwrite FULL REFRESH")
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        run = session.execute('RUN JOB "clicks"').to_pylist()[0]
        times.append(time.perf_counter() - start)
        assert run["status"] == "completed", run["error"]
    return {"seconds": min(times), "rows": run["rows_written"], "rss_mb": _rss_mb()}


def side_duckdb(work: Path) -> dict:
    import duckdb
    from deltalake import write_deltalake

    query = SQL.replace("source", f"read_parquet('{work / 'events'}/*.parquet')").replace(
        "'{{checkpoint}}'", "TIMESTAMP '1970-01-01 00:00:00'")
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = duckdb.sql(query).fetch_arrow_table()
        write_deltalake(str(work / "duck-delta"), result, mode="overwrite")
        times.append(time.perf_counter() - start)
    return {"seconds": min(times), "rows": result.num_rows, "rss_mb": _rss_mb()}


def side(name: str, work: Path) -> dict:
    done = subprocess.run([sys.executable, __file__, "--side", name, "--work", str(work)], capture_output=True,
                          text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _enrich_job(home: Path, name: str, files: Path, mode: str):
    from raise_.engine import Engine

    session = Engine(home).session(None, "acme/ml/bench")
    session.execute(f"""CREATE FEATURE GROUP "{name}" KEY (event_id INT64) TIMESTAMP event_time;
        CREATE FEATURE "{name}".user_id INT64; CREATE FEATURE "{name}".gross FLOAT64;
        CREATE FEATURE "{name}".minutes FLOAT64;
        CREATE JOB "{name}" FROM filesystem (path = '{files}', glob_pattern = '*.parquet')
            TRANSFORM enrich AS SQL '{ENRICH.replace("'", "''")}' INTO "{name}" {mode}""")
    return session


def incremental_vs_full(work: Path, rows: int) -> tuple[float, float]:
    full = _enrich_job(work / "store2", "full", work / "events", "MODE overwrite FULL REFRESH")
    incremental = _enrich_job(work / "store2", "incremental", work / "events", "MODE append INCREMENTAL APPEND ON event_time")
    incremental.execute('RUN JOB "incremental"')
    full.execute('RUN JOB "full"')
    pq.write_table(events(rows // 100, rows, 99), work / "events" / "part-new.parquet")
    start = time.perf_counter()
    run = incremental.execute('RUN JOB "incremental"').to_pylist()[0]
    incremental_s = time.perf_counter() - start
    assert run["status"] == "completed" and run["rows_read"] == rows // 100, run
    start = time.perf_counter()
    assert full.execute('RUN JOB "full"').to_pylist()[0]["status"] == "completed"
    return incremental_s, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000,000 rows, under a minute")
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--side", choices=["raise", "duckdb"], help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        print(json.dumps((side_raise if args.side == "raise" else side_duckdb)(Path(args.work))))
        return
    rows = 1_000_000 if args.quick else args.rows
    work = Path(tempfile.mkdtemp(prefix="raise-bench-jobs-"))
    try:
        write_files(work / "events", rows)
        ours, duck = side("raise", work), side("duckdb", work)
        assert ours["rows"] == duck["rows"], (ours, duck)
        print(f"sql job over {rows} rows: raise {ours['seconds']:.2f}s ({ours['rss_mb']:.0f} MB peak), "
              f"duckdb + write_deltalake {duck['seconds']:.2f}s ({duck['rss_mb']:.0f} MB peak)")
        incremental, full = incremental_vs_full(work, rows)
        print(f"after a 1% append: incremental run {incremental:.2f}s, full run {full:.2f}s")
        print(f"sql_job_vs_duckdb={duck['seconds'] / ours['seconds']:.2f} incremental_vs_full={incremental / full:.3f} "
              f"raise_s={ours['seconds']:.3f} duckdb_s={duck['seconds']:.3f} raise_rss_mb={ours['rss_mb']:.0f} "
              f"duckdb_rss_mb={duck['rss_mb']:.0f} incremental_s={incremental:.3f} full_s={full:.3f} rows={rows}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
