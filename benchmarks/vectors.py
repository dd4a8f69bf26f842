"""Vector functions: Raise SQL against NumPy, DuckDB and this machine's read bandwidth.

Builds ``--rows`` x ``--dim`` float32 embeddings (two columns, ``emb`` and ``emb2``) in a Delta
table under a temporary directory, then times in one run:

* ``SELECT COSINE_SIMILARITY(emb, <query vector>)`` and ``COSINE_SIMILARITY(emb, emb2)``
  through Raise SQL, twice: over an in-memory snapshot of the table (what a hot feature
  group costs once it is cached in memory) and straight from the Delta files;
* the same cosine in NumPy on one thread (``einsum``);
* DuckDB's ``array_cosine_similarity`` over the same in-memory Arrow data and over the
  same Parquet files;
* DataFusion's native ``cosine_distance`` (informative);
* streaming read bandwidth: ``numpy.sum`` over the same bytes, one thread.

GB/s counts embedding bytes read (row-against-row reads two columns). The last line is
``name=value`` pairs, ratios first. ``--quick`` runs a small size in well under a minute.

    python benchmarks/vectors.py --quick
    python benchmarks/vectors.py            # 2,000,000 x 512 (~9 GB disk, ~7 GB RAM, ~4 min)
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # the NumPy reference is one thread

import argparse  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import duckdb  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import sqlglot  # noqa: E402
from datafusion import SessionConfig, SessionContext  # noqa: E402
from deltalake import DeltaTable, write_deltalake  # noqa: E402

import udfs  # noqa: E402

BATCH_SIZES = (8192, 32768, 131072)
#: Cold reads are timed this many times each, Raise, DuckDB and PyArrow in turn; best kept.
COLD_ROUNDS = 2


@dataclass(frozen=True, slots=True)
class Sizes:
    """Benchmark dimensions; ``rr_rows`` rows take part in the row-against-row query."""

    rows: int
    dim: int
    rr_rows: int
    chunk_rows: int
    repeats: int


@dataclass(slots=True)
class Data:
    """The in-memory copy of what was written to Delta, and where it was written."""

    path: str
    emb: pa.ChunkedArray
    emb2: pa.ChunkedArray
    query: np.ndarray


def build(path: str, sizes: Sizes, seed: int = 0) -> Data:
    """Write the Delta table chunk by chunk, keeping the in-memory snapshot alongside."""
    rng = np.random.default_rng(seed)
    emb_chunks, emb2_chunks = [], []
    for start in range(0, sizes.rows, sizes.chunk_rows):
        n = min(sizes.chunk_rows, sizes.rows - start)
        emb = _fixed(rng.standard_normal((n, sizes.dim), dtype=np.float32))
        emb2 = _fixed(rng.standard_normal((n, sizes.dim), dtype=np.float32))
        listed = pa.list_(pa.float32())
        batch = pa.table({"id": pa.array(np.arange(start, start + n, dtype=np.int64)),
                          "emb": emb.cast(listed), "emb2": emb2.cast(listed)})
        write_deltalake(path, batch, mode="append")
        emb_chunks.append(emb)
        if start < sizes.rr_rows:
            emb2_chunks.append(emb2.slice(0, min(n, sizes.rr_rows - start)))
    fixed = pa.list_(pa.float32(), sizes.dim)
    return Data(path, pa.chunked_array(emb_chunks, fixed), pa.chunked_array(emb2_chunks, fixed),
                rng.standard_normal(sizes.dim).astype(np.float32))


def _fixed(matrix: np.ndarray) -> pa.FixedSizeListArray:
    return pa.FixedSizeListArray.from_arrays(pa.array(matrix.ravel()), matrix.shape[1])


def best_seconds(run: Callable[[], object], repeats: int) -> float:
    """Fastest of ``repeats`` timed runs after one warm-up run."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def gbps(nbytes: int, seconds: float) -> float:
    """Gigabytes (1e9) per second."""
    return nbytes / seconds / 1e9


# ---- Raise -----------------------------------------------------------------------------------

class RaiseSQL:
    """Raise SQL over the benchmark tables: the one place that knows how queries reach Raise.

    Until the engine can hold an in-memory snapshot, this is a DataFusion session set up as
    the engine sets one up: ``udfs.register_all``, the Delta table behind a view that
    exposes embeddings as ``FixedSizeList``, and client SQL passed through
    ``udfs.prefer_constant_vectors``.
    """

    def __init__(self, data: Data, *, batch_size: int, rewrite: bool = True) -> None:
        self.ctx = SessionContext(SessionConfig().with_batch_size(batch_size))
        udfs.register_all(self.ctx)
        self.rewrite = rewrite
        dim = data.emb.type.list_size
        self.ctx.register_table("items_delta", DeltaTable(data.path))
        fixed = f"FixedSizeList({dim}, Float32)"
        self.ctx.sql(f"CREATE VIEW items_stored AS SELECT id, arrow_cast(emb, '{fixed}') AS emb, "
                     f"arrow_cast(emb2, '{fixed}') AS emb2 FROM items_delta").collect()
        self._register_memory("items", {"emb": data.emb}, batch_size)
        self._register_memory("pairs", {"emb": data.emb.slice(0, len(data.emb2)),
                                        "emb2": data.emb2}, batch_size)

    def _register_memory(self, name: str, columns: dict, batch_size: int) -> None:
        batches = pa.table(columns).to_batches(max_chunksize=batch_size)
        partitions = [batches[i::2] for i in range(2)] if len(batches) > 1 else [batches]
        self.ctx.register_record_batches(name, partitions)

    def query(self, sql: str, params: dict | None = None) -> int:
        """Run ``sql`` as a client would send it; return the number of result rows."""
        if self.rewrite:
            sql = udfs.prefer_constant_vectors(sqlglot.parse_one(sql, read="duckdb")).sql("duckdb")
        return sum(b.num_rows for b in self.ctx.sql(sql, param_values=params).collect())


def vector_literal(query: np.ndarray) -> str:
    """The query vector as a SQL array literal."""
    return "[" + ", ".join(f"{x:.9g}" for x in query.tolist()) + "]"


def time_raise(data: Data, sizes: Sizes) -> dict[str, float]:
    """Raise figures: in-memory at each batch size, from Delta, and without the rewrite."""
    literal = vector_literal(data.query)
    emb_bytes = len(data.emb) * sizes.dim * 4
    pair_bytes = 2 * len(data.emb2) * sizes.dim * 4
    results: dict[str, float] = {}
    for batch_size in BATCH_SIZES:
        raise_sql = RaiseSQL(data, batch_size=batch_size)
        seconds = best_seconds(lambda: raise_sql.query(
            f"SELECT cosine_similarity(emb, {literal}) AS s FROM items"), sizes.repeats)
        results[f"raise_gbps_batch{batch_size}"] = gbps(emb_bytes, seconds)
    best = max(BATCH_SIZES, key=lambda b: results[f"raise_gbps_batch{b}"])
    raise_sql = RaiseSQL(data, batch_size=best)
    results["best_batch_size"] = best
    results["raise_gbps"] = results[f"raise_gbps_batch{best}"]
    results["raise_rr_gbps"] = gbps(pair_bytes, best_seconds(
        lambda: raise_sql.query("SELECT cosine_similarity(emb, emb2) AS s FROM pairs"),
        sizes.repeats))
    plain = RaiseSQL(data, batch_size=best, rewrite=False)
    results["raise_param_gbps"] = gbps(emb_bytes, best_seconds(
        lambda: raise_sql.query("SELECT cosine_similarity(emb, $1) AS s FROM items",
                                params={"1": pa.scalar(data.query, pa.list_(pa.float32()))}),
        sizes.repeats))
    results["raise_broadcast_gbps"] = gbps(emb_bytes, best_seconds(
        lambda: plain.query(f"SELECT cosine_similarity(emb, {literal}) AS s FROM items"),
        sizes.repeats))
    stored = f"SELECT cosine_similarity(emb, {literal}) AS s FROM items_stored"
    results["raise_delta_gbps"] = gbps(emb_bytes, best_seconds(lambda: raise_sql.query(stored), 1))
    small = RaiseSQL(data, batch_size=BATCH_SIZES[0])
    results[f"raise_delta_gbps_batch{BATCH_SIZES[0]}"] = gbps(
        emb_bytes, best_seconds(lambda: small.query(stored), 1))
    results["raise_delta_rr_gbps"] = gbps(2 * emb_bytes, best_seconds(
        lambda: raise_sql.query("SELECT cosine_similarity(emb, emb2) AS s FROM items_stored"), 1))
    results["datafusion_native_gbps"] = _native(raise_sql, literal, emb_bytes, sizes.repeats)
    return results


def _native(raise_sql: RaiseSQL, literal: str, nbytes: int, repeats: int) -> float:
    """DataFusion's built-in ``cosine_distance`` on the in-memory snapshot (NaN if it fails)."""
    sql = f"SELECT 1 - cosine_distance(emb, {literal}) AS s FROM items"
    try:
        return gbps(nbytes, best_seconds(lambda: raise_sql.ctx.sql(sql).collect(), repeats))
    except Exception as error:  # noqa: BLE001 - a peer that cannot run is reported, not fatal
        print(f"datafusion cosine_distance failed: {error}")
        return float("nan")


def time_engine(data: Data, sizes: Sizes) -> dict[str, float]:
    """Through Raise's engine: a feature group with ``emb``/``emb2`` features written by
    ``Session.ingest`` into Delta, queried with ``Session.execute``. The first query of a new
    engine decodes the Delta files (``cold``; DuckDB reads the same files for its peer
    figure, alternating with Raise); later ones read the engine's decoded-table cache. The
    files were just written, so every cold read finds them in the OS page cache: the figures
    compare decoding, not disks. ``fixed_query_ms`` is the same
    query over a one-row group: what a statement costs before any data moves."""
    from raise_.engine import Engine

    home = os.path.join(os.path.dirname(data.path), "raise-home")
    engine = Engine(home, cache_bytes=64 << 30)
    session = engine.session(project=("bench", "vectors", "items"))
    _create_group(session, "items", sizes.dim)
    _create_group(session, "one", sizes.dim)
    session.ingest("one", pa.table({"id": pa.array([0], pa.int64()), "emb": data.emb.slice(0, 1),
                                    "emb2": data.emb.slice(0, 1)}))
    offset = 0
    for chunk in data.emb.chunks:
        n = len(chunk)
        paired = data.emb2.slice(offset, max(0, min(n, sizes.rr_rows - offset))).combine_chunks()
        emb2 = pa.concat_arrays([paired, pa.nulls(n - len(paired), chunk.type)])
        ids = pa.array(np.arange(offset, offset + n, dtype=np.int64))
        session.ingest("items", pa.table({"id": ids, "emb": chunk, "emb2": emb2}))
        offset += n
    literal = vector_literal(data.query)
    emb_bytes = len(data.emb) * sizes.dim * 4
    constant = f"SELECT COSINE_SIMILARITY(emb, {literal}) AS s FROM items"
    fixed = f"SELECT COSINE_SIMILARITY(emb, {literal}) AS s FROM one"
    cold: dict[str, list[float]] = {"raise": [], "duckdb": [], "pyarrow": []}
    for _ in range(COLD_ROUNDS):  # alternated, so load from elsewhere weighs on all three alike
        # a new engine: its cache is empty; the one-row query loads what any first statement does
        session = Engine(home, cache_bytes=64 << 30).session(project=("bench", "vectors", "items"))
        session.execute(fixed)
        start = time.perf_counter()
        session.execute(constant)
        cold["raise"].append(time.perf_counter() - start)
        cold["duckdb"].append(_duckdb_cold(session, data, sizes))
        cold["pyarrow"].append(_pyarrow_cold(session, data, sizes))
    param = pa.scalar(data.query, pa.list_(pa.float32()))
    return {
        "fixed_query_ms": 1000 * best_seconds(lambda: session.execute(fixed), max(20, sizes.repeats)),
        "raise_engine_gbps": gbps(emb_bytes, best_seconds(lambda: session.execute(constant), sizes.repeats)),
        "raise_engine_param_gbps": gbps(emb_bytes, best_seconds(lambda: session.execute(
            "SELECT COSINE_SIMILARITY(emb, $1) AS s FROM items", params=[param]), sizes.repeats)),
        # emb2 is NULL past rr_rows (its result is NULL there): count the bytes both sides hold
        "raise_engine_rr_gbps": gbps(emb_bytes + len(data.emb2) * sizes.dim * 4, best_seconds(
            lambda: session.execute("SELECT COSINE_SIMILARITY(emb, emb2) AS s FROM items"),
            sizes.repeats)),
        "raise_engine_cold_gbps": gbps(emb_bytes, min(cold["raise"])),
        "duckdb_engine_parquet_gbps": gbps(emb_bytes, min(cold["duckdb"])),
        "pyarrow_engine_parquet_gbps": gbps(emb_bytes, min(cold["pyarrow"])),
    }


def _create_group(session, name: str, dim: int) -> None:
    from grammar import ast, render_script

    group, dtype = ast.GroupRef(name=name), f"float32[{dim}]"
    session.execute(render_script([
        ast.CreateFeatureGroup(group=group, keys=(ast.ColumnDef(name="id", dtype="int64"),)),
        ast.CreateFeature(feature=ast.FeatureRef(group=group, name="emb"), dtype=dtype),
        ast.CreateFeature(feature=ast.FeatureRef(group=group, name="emb2"), dtype=dtype),
    ]))


def _duckdb_cold(session, data: Data, sizes: Sizes) -> float:
    """Seconds of DuckDB's first read of the engine's own ``items`` files (the same cosine query)."""
    from raise_.engine import registry

    group = registry.group(session.catalog, session.project, "items")
    column = next(r.column for r in registry.versions(session.catalog, group.key) if r.name == "emb")
    files = DeltaTable(group.uri).file_uris()
    con = duckdb.connect()
    vector_type = f"FLOAT[{sizes.dim}]"
    sql = (f'SELECT array_cosine_similarity("{column}"::{vector_type}, $1::{vector_type}) '
           "FROM read_parquet($2)")
    start = time.perf_counter()
    con.execute(sql, [data.query.tolist(), files]).fetchnumpy()
    return time.perf_counter() - start


def _pyarrow_cold(session, data: Data, sizes: Sizes) -> float:
    """Seconds of PyArrow's read of the same ``emb`` column of the engine's ``items`` files through the
    table's own ``to_pyarrow_dataset`` (multi-threaded C++ decode), cast to ``FixedSizeList``
    as the view casts it: the decode alone, without DataFusion's scan, for comparison with
    ``raise_engine_cold_gbps`` (informative)."""
    from raise_.engine import registry

    group = registry.group(session.catalog, session.project, "items")
    column = next(r.column for r in registry.versions(session.catalog, group.key) if r.name == "emb")
    start = time.perf_counter()
    values = DeltaTable(group.uri).to_pyarrow_dataset().to_table(columns=[column]).column(0)
    values.cast(pa.list_(pa.float32(), sizes.dim))
    return time.perf_counter() - start


# ---- Peers -----------------------------------------------------------------------------------

def _matrices(column: pa.ChunkedArray, dim: int):
    for chunk in column.chunks:
        start = chunk.offset * dim
        flat = chunk.values.to_numpy(zero_copy_only=True)[start:start + len(chunk) * dim]
        yield flat.reshape(-1, dim)


def time_numpy(data: Data, sizes: Sizes) -> dict[str, float]:
    """One-thread NumPy: the cosine reference and ``sum`` over the same bytes."""
    emb_bytes = len(data.emb) * sizes.dim * 4
    q = data.query.astype(np.float32)
    q_norm = np.float32(np.linalg.norm(q))

    def cosine():
        for block in _matrices(data.emb, sizes.dim):
            dots = np.einsum("ij,j->i", block, q)
            norms = np.sqrt(np.einsum("ij,ij->i", block, block))
            dots / (norms * q_norm)

    def read():
        for block in _matrices(data.emb, sizes.dim):
            block.sum()

    return {"numpy_gbps": gbps(emb_bytes, best_seconds(cosine, sizes.repeats)),
            "bandwidth_gbps": gbps(emb_bytes, best_seconds(read, sizes.repeats))}


def time_duckdb(data: Data, sizes: Sizes) -> dict[str, float]:
    """DuckDB's ``array_cosine_similarity`` over the Arrow snapshot and the Parquet files."""
    con = duckdb.connect()
    con.register("items", pa.table({"emb": data.emb}))
    con.register("pairs", pa.table({"emb": data.emb.slice(0, len(data.emb2)), "emb2": data.emb2}))
    query = data.query.tolist()
    vector_type = f"FLOAT[{sizes.dim}]"
    emb_bytes = len(data.emb) * sizes.dim * 4

    def run(sql: str, *params) -> None:
        con.execute(sql, list(params)).fetchnumpy()

    files = DeltaTable(data.path).file_uris()
    stored = (f"(SELECT emb::{vector_type} AS emb, emb2::{vector_type} AS emb2 "
              "FROM read_parquet($2))")
    return {
        "duckdb_gbps": gbps(emb_bytes, best_seconds(lambda: run(
            f"SELECT array_cosine_similarity(emb, $1::{vector_type}) FROM items", query),
            sizes.repeats)),
        "duckdb_rr_gbps": gbps(2 * len(data.emb2) * sizes.dim * 4, best_seconds(lambda: run(
            "SELECT array_cosine_similarity(emb, emb2) FROM pairs"), sizes.repeats)),
        "duckdb_parquet_gbps": gbps(emb_bytes, best_seconds(lambda: run(
            f"SELECT array_cosine_similarity(emb, $1::{vector_type}) FROM {stored}", query, files),
            1)),
    }


def summary(figures: dict[str, float]) -> str:
    """The final ``name=value`` line, ratios first."""
    ratios = {
        "raise_cold_vs_duckdb_parquet":
            figures["raise_engine_cold_gbps"] / figures["duckdb_engine_parquet_gbps"],
        "raise_engine_vs_bandwidth": figures["raise_engine_gbps"] / figures["bandwidth_gbps"],
        "raise_engine_vs_duckdb": figures["raise_engine_gbps"] / figures["duckdb_gbps"],
        "raise_engine_rr_vs_duckdb_rr": figures["raise_engine_rr_gbps"] / figures["duckdb_rr_gbps"],
        "raise_vs_bandwidth": figures["raise_gbps"] / figures["bandwidth_gbps"],
        "raise_vs_duckdb": figures["raise_gbps"] / figures["duckdb_gbps"],
        "raise_rr_vs_duckdb_rr": figures["raise_rr_gbps"] / figures["duckdb_rr_gbps"],
        "raise_vs_numpy": figures["raise_gbps"] / figures["numpy_gbps"],
        "raise_delta_vs_duckdb_parquet":
            figures["raise_delta_gbps"] / figures["duckdb_parquet_gbps"],
    }
    pairs = {**ratios, **figures}
    return " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in pairs.items())


def parse_sizes(argv: list[str] | None = None) -> tuple[Sizes, str | None]:
    """Command line to :class:`Sizes` (and an optional directory to keep the table in)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, under a minute")
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--rr-rows", type=int, help="rows in the row-against-row query "
                        "(default: half of --rows)")
    parser.add_argument("--dir", help="where to write the Delta table (default: a temp dir)")
    args = parser.parse_args(argv)
    rows = 250_000 if args.quick else args.rows
    rr_rows = args.rr_rows or rows // 2
    return Sizes(rows=rows, dim=args.dim, rr_rows=min(rr_rows, rows),
                 chunk_rows=min(100_000, rows), repeats=3 if args.quick else 2), args.dir


def main(argv: list[str] | None = None) -> None:
    """Build the data, time everything, print the figures and the summary line."""
    sizes, directory = parse_sizes(argv)
    root = tempfile.mkdtemp(prefix="raise-vectors-", dir=directory)
    try:
        start = time.perf_counter()
        data = build(os.path.join(root, "items"), sizes)
        print(f"built {sizes.rows} x {sizes.dim} float32 in {time.perf_counter() - start:.1f}s")
        figures: dict[str, float] = {}
        for section in (time_numpy, time_duckdb, time_engine, time_raise):
            figures.update(section(data, sizes))
            print(section.__name__, {k: round(v, 3) for k, v in figures.items()})
        print(summary(figures))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
