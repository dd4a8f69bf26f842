"""Write N rows x 20 features into a feature group and read them back through Raise SQL,
next to deltalake/pyarrow doing the same directly on the same data, in the same run.

    python benchmarks/storage_roundtrip.py            # 1,000,000 rows
    python benchmarks/storage_roundtrip.py --quick    # 100,000 rows

Last line: ratios first (Raise rows/s over direct rows/s), then rows/s figures.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from grammar import ast, render
from raise_.engine import Engine

FEATURES = 20


def make_data(rows: int) -> pa.Table:
    rng = np.random.default_rng(7)
    columns = {"id": pa.array(np.arange(rows, dtype=np.int64))}
    for i in range(FEATURES):
        columns[f"f{i:02d}"] = pa.array(rng.standard_normal(rows))
    return pa.table(columns)


def best_of(runs: int, fn):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def raise_side(home: Path, data: pa.Table, runs: int) -> tuple[float, float]:
    session = Engine(home).session(project=("bench", "storage", "roundtrip"))
    group = ast.GroupRef(name="wide")
    script = [ast.CreateFeatureGroup(group=group, keys=(ast.ColumnDef(name="id", dtype="int64"),))]
    script += [ast.CreateFeature(feature=ast.FeatureRef(group=group, name=f"f{i:02d}"), dtype="float64")
               for i in range(FEATURES)]
    session.execute(";\n".join(render(s) for s in script))
    write, _ = best_of(1, lambda: session.ingest("wide", data, "overwrite"))
    read, table = best_of(runs, lambda: session.execute('SELECT * FROM "wide"'))
    assert table.num_rows == data.num_rows, table.num_rows
    return write, read


def direct_side(path: Path, data: pa.Table, runs: int) -> tuple[float, float]:
    write, _ = best_of(1, lambda: write_deltalake(str(path), data, mode="overwrite"))
    read, table = best_of(runs, lambda: DeltaTable(str(path)).to_pyarrow_table())
    assert table.num_rows == data.num_rows
    return write, read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k rows, finishes in seconds")
    parser.add_argument("--rows", type=int)
    args = parser.parse_args()
    rows = args.rows or (100_000 if args.quick else 1_000_000)
    runs = 3
    data = make_data(rows)
    with tempfile.TemporaryDirectory() as tmp:
        direct_write, direct_read = direct_side(Path(tmp) / "direct", data, runs)
        raise_write, raise_read = raise_side(Path(tmp) / "raise", data, runs)
    figures = {
        "write_ratio_vs_deltalake": direct_write / raise_write,
        "read_ratio_vs_deltalake": direct_read / raise_read,
        "raise_write_rows_s": rows / raise_write,
        "deltalake_write_rows_s": rows / direct_write,
        "raise_sql_read_rows_s": rows / raise_read,
        "deltalake_read_rows_s": rows / direct_read,
        "rows": rows,
        "features": FEATURES,
    }
    print(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
