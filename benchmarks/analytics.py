"""Analyses through ``group.analyze`` against DuckDB running the same SQL on the same data.

Writes ``--rows`` users x 5 features (two int64 counts, two float64 measures, a 4-value string
tier) into an embedded Raise store, then times in one run, best of ``--repeats`` after a warm-up:

* ``Aggregation`` of revenue (count, sum, avg, min, max, null_rate), ungrouped and
  ``group_by="user_tier"`` (the two timed together);
* ``Distribution`` of revenue (50-bin histogram and p50..p99 percentiles);
* ``Correlation`` (pearson) of click_count, impression_count and revenue;

each through ``analyze`` (catalog look-ups, SQL over the connection, authorization, the
final statistics in Python) and in DuckDB: the query ``analyze`` sends (for a Distribution, the
one-query PERCENTILE_CONT form: see ``_peer``), transpiled by sqlglot to DuckDB's dialect,
over the same rows as an in-memory Arrow table. Ratios are DuckDB's time over Raise's (above 1.0: Raise is faster). ``live_refresh_vs_full`` is the other way round: an
``on_change`` live table's refresh after appending 1% of the rows (merged from the Change Data
Feed) over a full recompute of the same table (below 0.05 is the target). The last line is
``name=value`` pairs, ratios first.

    python benchmarks/analytics.py --quick     # 500,000 rows, well under a minute
    python benchmarks/analytics.py             # 10,000,000 rows (~3 GB RAM)
    python benchmarks/analytics.py --live      # only the live table's refresh
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from typing import Callable

import duckdb
import numpy as np
import pyarrow as pa

from raise_ import Aggregation, Correlation, Distribution, FeatureStore
from raise_.analytics.compile import compile_analysis, sorted_distribution
from raise_.analytics.schema import load_schema

GROUP = "user-signals"
TIERS = ["bronze", "silver", "gold", "platinum"]


def build(rows: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    clicks = rng.poisson(15, rows)
    start = np.datetime64("2026-01-01T00:00:00", "us")
    return pa.table({
        "user_id": np.arange(rows, dtype=np.int64),
        "event_time": start + rng.integers(0, 90 * 86400, rows) * np.timedelta64(1, "s"),
        "click_count": pa.array(clicks, mask=rng.random(rows) < 0.05),
        "impression_count": rng.poisson(150, rows) + 10 * clicks,
        "revenue": pa.array(rng.gamma(4.0, 5.0, rows), mask=rng.random(rows) < 0.02),
        "conversion_rate": rng.normal(0.1, 0.03, rows),
        "user_tier": pa.array(rng.choice(TIERS, rows)),
    })


def best(run: Callable[[], object], repeats: int) -> float:
    run()  # warm: caches, compiled plans, the engine's in-memory snapshot
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500,000 rows, under a minute")
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--live", action="store_true", help="only the live table's refresh")
    args = parser.parse_args()
    rows = 500_000 if args.quick else args.rows
    home = tempfile.mkdtemp(prefix="raise-analytics-")
    try:
        print(summary(run(rows, args.repeats, home, live_only=args.live)))
    finally:
        shutil.rmtree(home, ignore_errors=True)


def run(rows: int, repeats: int, home: str, live_only: bool = False) -> dict[str, float]:
    start = time.perf_counter()
    data = build(rows)
    fs = FeatureStore("acme/ml/rec", home=home, user="bench@acme.com")
    group = fs.create_feature_group(GROUP, key_columns=["user_id"], timestamp_column="event_time")
    group.create_features_from_schema({"click_count": "int64", "impression_count": "int64", "revenue": "float64",
                                       "conversion_rate": "float64", "user_tier": "string"})
    group.write(data)
    print(f"wrote {rows} rows x 5 features in {time.perf_counter() - start:.1f}s")
    if live_only:
        figures = {"rows": rows, **_live_refresh(fs, group, rows, repeats)}
        fs.close()
        return figures
    duck = duckdb.connect()
    duck.register(GROUP, data)
    schema = load_schema(fs._executor, ("acme", "ml", "rec"), GROUP)
    metrics = ["count", "sum", "avg", "min", "max", "null_rate"]
    cases = {
        "agg": [Aggregation(feature="revenue", metrics=metrics),
                Aggregation(feature="revenue", metrics=metrics, group_by="user_tier")],
        "dist": [Distribution(feature="revenue", metrics=["histogram", "percentiles"], bins=50)],
        "corr": [Correlation(features=["click_count", "impression_count", "revenue"], method="pearson")],
    }
    figures: dict[str, float] = {"rows": rows}
    for name, analyses in cases.items():
        peer_sql = [_peer(a, schema).sql(dialect="duckdb") for a in analyses]
        raise_s = best(lambda: [group.analyze(a) for a in analyses], repeats)
        duck_s = best(lambda: [duck.sql(q).to_arrow_table() for q in peer_sql], repeats)
        figures[f"{name}_raise_s"], figures[f"{name}_duckdb_s"] = raise_s, duck_s
        figures[f"{name}_vs_duckdb"] = duck_s / raise_s
        print(f"{name}: raise {raise_s * 1000:.1f} ms, duckdb {duck_s * 1000:.1f} ms")
    _check(group, duck, cases, schema)
    figures.update(_live_refresh(fs, group, rows, repeats))
    fs.close()
    return figures


def _peer(analysis, schema):
    """The SQL DuckDB runs: what ``analyze`` sends, except that a Distribution is the one
    query a peer would write (histogram and QUANTILE_CONT together; Raise reads exact
    percentiles from a second query over only the bins that hold them)."""
    if isinstance(analysis, Distribution):
        return sorted_distribution(analysis, schema)
    return compile_analysis(analysis, schema)


def _live_refresh(fs, group, rows: int, repeats: int) -> dict[str, float]:
    """After each 1% append: the incremental refresh against a full recompute (best of each)."""
    live = group.create_live_table("tier_revenue", Aggregation(
        feature="revenue", metrics=["count", "sum", "min", "max"], window="1d", group_by="user_tier"))
    timings: dict[str, list[float]] = {"incremental": [], "full": []}
    for attempt in range(2 * repeats):
        added = build(rows // 100, seed=attempt + 1)
        group.write(added.set_column(0, "user_id", pa.array(np.arange(rows // 100) + rows * (attempt + 1))))
        mode = "full" if attempt % 2 else "incremental"
        statement = "REFRESH LIVE TABLE tier_revenue" + (" IF STALE" if mode == "incremental" else "")
        start = time.perf_counter()
        event = fs.sql(statement).to_pylist()[0]
        timings[mode].append(time.perf_counter() - start)
        assert event["mode"] == mode, event
    incremental, full = min(timings["incremental"]), min(timings["full"])
    print(f"live refresh after a 1% append: incremental {incremental * 1000:.1f} ms, full {full * 1000:.1f} ms")
    return {"live_refresh_vs_full": incremental / full, "live_incremental_s": incremental, "live_full_s": full}


def _check(group, duck, cases, schema) -> None:
    """The two engines agree (so the comparison is of the same work)."""
    ours = group.analyze(cases["agg"][0]).metrics
    theirs = duck.execute(compile_analysis(cases["agg"][0], schema).sql(dialect="duckdb")).fetchone()
    assert np.allclose([ours[m] for m in ("sum", "avg", "null_rate")], [theirs[1], theirs[2], theirs[5]])


def summary(figures: dict[str, float]) -> str:
    ratios = [k for k in figures if k.endswith(("_vs_duckdb", "_vs_full"))]
    rest = [k for k in figures if k not in ratios]
    return " ".join(f"{k}={figures[k]:.3g}" for k in ratios + rest)


if __name__ == "__main__":
    main()
