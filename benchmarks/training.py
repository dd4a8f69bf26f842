"""A point-in-time training set through Raise (``fs.get_training_data``, an ASOF LEFT JOIN)
next to DuckDB's ``ASOF LEFT JOIN`` on the same data, in the same run, both checked against a
NumPy ``searchsorted`` reference.

    python benchmarks/training.py            # 100k keys x 100 times = 10M feature rows, 1M entity rows
    python benchmarks/training.py --quick    # 10k keys x 20 times, 100k entity rows

Feature rows: 5 float64 features (10% NULL) per (key, time); entity rows: random keys (5%
with no feature rows) at random times (some before a key's first row). Raise runs in a child
process so that its peak RSS is its own; times are the best of the warm runs (the first run
also decodes the Delta table and is reported as ``raise_cold_s``). Last line: ratios first
(``training_vs_duckdb_asof``: Raise time over DuckDB time, lower is better), then figures.
"""
from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FEATURES = [f"f{i}" for i in range(5)]
T0 = np.datetime64("2026-01-01T00:00:00", "us")
STEP_US = 3_600_000_000  # feature rows one hour apart


def make_data(keys: int, times: int, entities: int) -> tuple[pa.Table, pa.Table]:
    rng = np.random.default_rng(17)
    rows = keys * times
    stamps = (np.tile(np.arange(times, dtype=np.int64) * STEP_US, keys)
              + rng.integers(0, STEP_US // 2, rows))  # jitter keeps each key's times increasing
    columns = {"user_id": pa.array(np.repeat(np.arange(keys, dtype=np.int64), times)),
               "event_time": pa.array(T0 + stamps.astype("timedelta64[us]"))}
    for name in FEATURES:
        columns[name] = pa.array(rng.standard_normal(rows), mask=rng.random(rows) < 0.1)
    features = pa.table(columns)
    entity_keys = rng.integers(0, int(keys * 1.05), entities)
    entity_times = rng.integers(-STEP_US, times * STEP_US, entities)
    labels = pa.table({"user_id": pa.array(entity_keys),
                       "event_time": pa.array(T0 + entity_times.astype("timedelta64[us]")),
                       "label": pa.array(rng.integers(0, 2, entities))})
    return features, labels


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def raise_side(folder: str, runs: int, queue) -> None:
    """In a child process: write the feature rows into a store, build the training set."""
    from raise_ import FeatureStore

    fs = FeatureStore("bench/training/asof", home=f"{folder}/store", user="bench@example.com")
    group = fs.create_feature_group("user-signals", key_columns=["user_id"], timestamp_column="event_time")
    group.create_features_from_schema({name: "float64" for name in FEATURES})
    for batch in pq.ParquetFile(f"{folder}/features.parquet").iter_batches(2_000_000):
        fs.connection.ingest("user-signals", pa.Table.from_batches([batch]), "append")
    labels = pq.read_table(f"{folder}/labels.parquet")
    wanted = [f"user-signals.{name}" for name in FEATURES]
    times = []
    for _ in range(runs + 1):
        start = time.perf_counter()
        result = fs.get_training_data(labels, wanted)
        times.append(time.perf_counter() - start)
    pq.write_table(result, f"{folder}/raise.parquet")
    queue.put({"cold": times[0], "warm": min(times[1:]), "rss": peak_rss_gb()})


def duckdb_side(features: pa.Table, labels: pa.Table, runs: int) -> tuple[float, pa.Table]:
    import duckdb

    con = duckdb.connect()
    con.register("signals", features)
    con.register("labels", labels)
    sql = ("SELECT l.*, " + ", ".join(f"s.{n}" for n in FEATURES) + " FROM labels l ASOF LEFT JOIN signals s "
           "ON l.user_id = s.user_id AND l.event_time >= s.event_time")
    best, result = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        result = con.sql(sql).arrow().read_all()
        best = min(best, time.perf_counter() - start)
    return best, result


def reference(features: pa.Table, labels: pa.Table) -> tuple[pa.Table, dict[str, pa.ChunkedArray]]:
    """The expected training set (entity columns, feature columns): NumPy lexsort +
    searchsorted, then take."""
    from udfs.asof import asof_reference

    fk, lk = features.column("user_id").to_numpy(), labels.column("user_id").to_numpy()
    ft = features.column("event_time").cast(pa.int64()).to_numpy()
    lt = labels.column("event_time").cast(pa.int64()).to_numpy()
    match = asof_reference(lk, lt, fk, ft, np.arange(len(fk)), strict=False)
    indices = pa.array(match, mask=match < 0)
    return labels, {n: features.column(n).take(indices) for n in FEATURES}


def mismatches(result: pa.Table, expected_labels: pa.Table, expected: dict[str, pa.ChunkedArray]) -> int:
    """Rows that differ from the reference in any column (NULLs compared as values)."""
    if result.num_rows != expected_labels.num_rows:
        return abs(result.num_rows - expected_labels.num_rows) + expected_labels.num_rows
    bad = np.zeros(result.num_rows, dtype=bool)
    for name in expected_labels.column_names:
        bad |= ~_same(result.column(name), expected_labels.column(name))
    for name, values in expected.items():
        bad |= ~_same(result.column(name), values)
    return int(bad.sum())


def _same(a: pa.ChunkedArray, b: pa.ChunkedArray) -> np.ndarray:
    import pyarrow.compute as pc

    equal = pc.fill_null(pc.equal(a, b), False).to_numpy(zero_copy_only=False)
    both_null = (pc.is_null(a).to_numpy(zero_copy_only=False) & pc.is_null(b).to_numpy(zero_copy_only=False))
    return equal | both_null


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k keys x 20 times, 100k entity rows")
    parser.add_argument("--keys", type=int)
    parser.add_argument("--times", type=int)
    parser.add_argument("--entities", type=int)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    keys = args.keys or (10_000 if args.quick else 100_000)
    times = args.times or (20 if args.quick else 100)
    entities = args.entities or (100_000 if args.quick else 1_000_000)
    features, labels = make_data(keys, times, entities)
    with tempfile.TemporaryDirectory() as folder:
        pq.write_table(features, f"{folder}/features.parquet")
        pq.write_table(labels, f"{folder}/labels.parquet")
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        child = context.Process(target=raise_side, args=(folder, args.runs, queue))
        child.start()
        figures_raise = queue.get()
        child.join()
        result = pq.read_table(f"{folder}/raise.parquet")
    duck_time, duck = duckdb_side(features, labels, args.runs)
    expected_labels, expected = reference(features, labels)
    raise_bad = mismatches(result, expected_labels, expected)
    duck_bad = mismatches(duck, expected_labels, expected)  # DuckDB keeps no row order: compare sorted
    if duck_bad:
        order = [("user_id", "ascending"), ("event_time", "ascending"), ("label", "ascending")]
        keyed = pa.Table.from_pydict({**{n: expected_labels.column(n) for n in expected_labels.column_names},
                                      **expected}).sort_by(order)
        duck_bad = mismatches(duck.sort_by(order), keyed.select(expected_labels.column_names),
                              {n: keyed.column(n) for n in FEATURES})
    print(f"raise mismatches vs numpy searchsorted: {raise_bad}; duckdb mismatches: {duck_bad}; "
          f"NULL feature rows expected: {expected[FEATURES[0]].null_count}")
    out = {
        "training_vs_duckdb_asof": figures_raise["warm"] / duck_time,
        "training_cold_vs_duckdb_asof": figures_raise["cold"] / duck_time,
        "raise_warm_s": figures_raise["warm"], "raise_cold_s": figures_raise["cold"],
        "duckdb_asof_s": duck_time, "raise_peak_rss_gb": figures_raise["rss"],
        "raise_mismatches": raise_bad, "duckdb_mismatches": duck_bad,
        "feature_rows": features.num_rows, "entity_rows": labels.num_rows, "features": len(FEATURES),
    }
    print(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in out.items()))


if __name__ == "__main__":
    main()
