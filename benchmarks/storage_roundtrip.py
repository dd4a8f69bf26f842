"""Write N rows x 20 features into a feature group and read them back through Raise SQL,
next to peers doing the same work on the same data, in the same run.

    python benchmarks/storage_roundtrip.py            # 1,000,000 rows
    python benchmarks/storage_roundtrip.py --quick    # 100,000 rows, well under a minute

Three comparisons, each best of ``--runs``:

- write: ``session.ingest`` (overwrite) vs ``deltalake.write_deltalake``;
- cold read: the first query of a new ``Engine`` (its decoded-table cache empty, so the Delta
  table is opened and its Parquet decoded) vs ``DeltaTable(uri).to_pyarrow_table()`` on the
  same group's table (the same files, in the OS page cache), timed in turns;
- warm read: the same query again on that engine (served from the decoded-table cache) vs
  the same SQL over the same data already in memory as Arrow, in DataFusion and in DuckDB.

Every read selects the key and the 20 features by name. Last line: ratios first (Raise rows/s
over the peer's rows/s: above 1 means Raise is faster), then the rows/s figures.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import duckdb
import numpy as np
import pyarrow as pa
import sqlglot
from datafusion import SessionContext
from deltalake import DeltaTable, write_deltalake

from grammar import ast, render
from raise_.engine import Engine, registry

FEATURES = 20
PROJECT = ("bench", "storage", "roundtrip")
GROUP = "wide"


def make_data(rows: int) -> pa.Table:
    rng = np.random.default_rng(7)
    columns = {"id": pa.array(np.arange(rows, dtype=np.int64))}
    for i in range(FEATURES):
        columns[f"f{i:02d}"] = pa.array(rng.standard_normal(rows))
    return pa.table(columns)


def read_query(columns: list[str]) -> str:
    """``SELECT "id", "f00", ... FROM "wide"``: the columns the direct read returns."""
    select = sqlglot.select(*(sqlglot.exp.column(c, quoted=True) for c in columns))
    return select.from_(sqlglot.exp.table_(GROUP, quoted=True)).sql(dialect="postgres")


def best_of(runs: int, fn: Callable[[], Any], before: Callable[[], Any] | None = None) -> tuple[float, Any]:
    """The fastest of ``runs`` calls; ``before`` (untimed) prepares each call's argument."""
    times, result = [], None
    for _ in range(runs):
        argument = before() if before else None
        start = time.perf_counter()
        result = fn(argument) if before else fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def raise_side(home: Path, data: pa.Table, runs: int) -> dict[str, Any]:
    session = Engine(home).session(project=PROJECT)
    group = ast.GroupRef(name=GROUP)
    script = [ast.CreateFeatureGroup(group=group, keys=(ast.ColumnDef(name="id", dtype="int64"),))]
    script += [ast.CreateFeature(feature=ast.FeatureRef(group=group, name=f"f{i:02d}"), dtype="float64")
               for i in range(FEATURES)]
    session.execute(";\n".join(render(s) for s in script))
    write, _ = best_of(1, lambda: session.ingest(GROUP, data, "overwrite"))
    query = read_query(data.column_names)
    warm_session = Engine(home).session(project=PROJECT)
    warm_session.execute(query)
    warm, table = best_of(runs, lambda: warm_session.execute(query))
    check(table, data)
    uri = registry.group(session.catalog, PROJECT, GROUP).uri
    return {"write": write, "warm": warm, "uri": uri}


def cold_reads(home: Path, data: pa.Table, table_uri: str, runs: int) -> dict[str, float]:
    """Best of ``runs`` first reads, Raise and deltalake in turn so that load from elsewhere
    weighs on both alike. Raise: the query on a new engine (nothing decoded yet, the Delta
    table opened by the query); deltalake: ``to_pyarrow_table`` of the same table. The files
    were just written: both find them in the OS page cache."""
    query = read_query(data.column_names)
    times: dict[str, list[float]] = {"raise": [], "deltalake": []}
    for _ in range(runs):
        session = Engine(home).session(project=PROJECT)
        start = time.perf_counter()
        table = session.execute(query)
        times["raise"].append(time.perf_counter() - start)
        check(table, data)
        start = time.perf_counter()
        direct = DeltaTable(table_uri).to_pyarrow_table()
        times["deltalake"].append(time.perf_counter() - start)
        # The stored columns are named by version (``f00@v1``) next to the log's sequence column.
        assert direct.num_rows == data.num_rows and direct.num_columns > data.num_columns, direct.schema
    return {side: min(seconds) for side, seconds in times.items()}


def direct_side(path: Path, data: pa.Table, table_uri: str, runs: int) -> dict[str, float]:
    """``write_deltalake`` into a table of its own; the read decodes the group's table."""
    write, _ = best_of(1, lambda: write_deltalake(str(path), data, mode="overwrite"))
    # Warm: the table opened once and read again (deltalake keeps no decoded data between reads).
    opened = DeltaTable(table_uri)
    opened.to_pyarrow_table()
    warm, _ = best_of(runs, opened.to_pyarrow_table)
    return {"write": write, "warm": warm}


def in_memory_side(data: pa.Table, runs: int) -> dict[str, float]:
    """The warm read's peers: the same query over the same Arrow data held in memory."""
    query = read_query(data.column_names)
    ctx = SessionContext()
    parts = os.cpu_count() or 1
    step = -(-data.num_rows // parts)
    ctx.register_record_batches(GROUP, [data.slice(i, step).to_batches() for i in range(0, data.num_rows, step)])
    ctx.sql(query).to_arrow_table()
    datafusion, table = best_of(runs, lambda: ctx.sql(query).to_arrow_table())
    check(table, data)
    con = duckdb.connect()
    con.register(GROUP, data)
    con.sql(query).to_arrow_table()
    duck, table = best_of(runs, lambda: con.sql(query).to_arrow_table())
    check(table, data)
    return {"datafusion": datafusion, "duckdb": duck}


def check(table: pa.Table, data: pa.Table) -> None:
    assert table.num_rows == data.num_rows and table.column_names == data.column_names, table.schema


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k rows, finishes in seconds")
    parser.add_argument("--rows", type=int)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rows = args.rows or (100_000 if args.quick else 1_000_000)
    data = make_data(rows)
    with tempfile.TemporaryDirectory() as tmp:
        raised = raise_side(Path(tmp) / "raise", data, args.runs)
        direct = direct_side(Path(tmp) / "direct", data, raised["uri"], args.runs)
        cold = cold_reads(Path(tmp) / "raise", data, raised["uri"], args.runs)
    memory = in_memory_side(data, args.runs)
    figures = {
        "write_vs_deltalake": direct["write"] / raised["write"],
        "cold_read_vs_deltalake": cold["deltalake"] / cold["raise"],
        "warm_read_vs_deltalake": direct["warm"] / raised["warm"],
        "warm_read_vs_datafusion_memory": memory["datafusion"] / raised["warm"],
        "warm_read_vs_duckdb_arrow": memory["duckdb"] / raised["warm"],
        "raise_write_rows_s": rows / raised["write"],
        "deltalake_write_rows_s": rows / direct["write"],
        "raise_cold_read_rows_s": rows / cold["raise"],
        "deltalake_read_rows_s": rows / cold["deltalake"],
        "deltalake_warm_read_rows_s": rows / direct["warm"],
        "raise_warm_read_rows_s": rows / raised["warm"],
        "datafusion_memory_read_rows_s": rows / memory["datafusion"],
        "duckdb_arrow_read_rows_s": rows / memory["duckdb"],
        "rows": rows,
        "features": FEATURES,
    }
    print(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
