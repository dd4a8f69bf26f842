"""Vector search: Raise's exact and indexed top-k against DuckDB, read bandwidth and usearch.

Builds ``--rows`` x ``--dim`` float32 embeddings (normalised, clustered like sentence
embeddings) in a feature group of a fresh store, then times in one run, on the same data:

* exact top-10 through SQL (``SET vector_search = 'exact'``; ``SELECT item_id,
  cosine_similarity(emb, $1) AS s FROM items ORDER BY s DESC LIMIT 10``) against DuckDB's
  ``array_cosine_similarity ... ORDER BY s DESC LIMIT 10`` over the same Arrow data in memory,
  and against streaming read bandwidth (``numpy.sum`` over the same bytes, one thread);
* the HNSW index: ``CREATE VECTOR INDEX`` (build time, bytes of its files) against usearch
  called directly with the same parameters (build time, ``memory_usage``); then top-10
  queries through the SDK (``group.search``) against ``Index.search`` one query at a time,
  the two taking turns: queries/s, p99 latency and recall@10 against the exact answer (NumPy).

The last line is ``name=value`` pairs, ratios first.

    python benchmarks/search.py --quick     # 5,000 x 384, 10 exact and 300 indexed queries
    python benchmarks/search.py             # 1,000,000 x 384, 1,000 queries (~1.5 GB of embeddings)
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

M, EF_CONSTRUCTION, EF_SEARCH = 16, 200, 256


@dataclass(frozen=True, slots=True)
class Sizes:
    rows: int
    dim: int
    exact_queries: int
    ann_queries: int
    ef_construction: int


def embeddings(sizes: Sizes, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(rows, queries): unit vectors around 1,000 centres, queries near random rows."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((1000, sizes.dim), dtype=np.float32)
    data = np.empty((sizes.rows, sizes.dim), np.float32)
    for start in range(0, sizes.rows, 100_000):
        n = min(100_000, sizes.rows - start)
        block = centres[rng.integers(0, 1000, n)] + 0.6 * rng.standard_normal((n, sizes.dim), dtype=np.float32)
        data[start:start + n] = block / np.linalg.norm(block, axis=1, keepdims=True)
    picks = data[rng.integers(0, sizes.rows, sizes.ann_queries)]
    queries = picks + 0.1 * rng.standard_normal(picks.shape, dtype=np.float32)
    return data, (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)


def arrow_table(data: np.ndarray) -> pa.Table:
    vectors = pa.FixedSizeListArray.from_arrays(pa.array(data.ravel()), data.shape[1])
    return pa.table({"item_id": pa.array(np.arange(len(data), dtype=np.int64)), "emb": vectors})


def exact_answer(data: np.ndarray, queries: np.ndarray, k: int = 10) -> np.ndarray:
    out = np.empty((len(queries), k), np.int64)
    for i in range(0, len(queries), 64):
        scores = queries[i:i + 64] @ data.T
        top = np.argpartition(-scores, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
        out[i:i + 64] = np.take_along_axis(top, order, axis=1)
    return out


def recall(found: list[list[int]], truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth)]))


def per_query(run, queries: np.ndarray) -> tuple[list, np.ndarray]:
    answers, seconds = [], []
    for q in queries:
        start = time.perf_counter()
        answers.append(run(q))
        seconds.append(time.perf_counter() - start)
    return answers, np.asarray(seconds)


def time_exact(session, table: pa.Table, queries: np.ndarray, dim: int) -> dict[str, float]:
    sql = "SELECT item_id, cosine_similarity(emb, $1) AS s FROM items ORDER BY s DESC LIMIT 10"
    session.execute("SET vector_search = 'exact'")
    session.execute(sql, [queries[0].tolist()])  # decoded into the table cache
    raise_answers, raise_s = per_query(lambda q: session.execute(sql, [q.tolist()]).column(0).to_pylist(), queries)
    session.execute("RESET vector_search")
    con = duckdb.connect()
    con.register("t", table)
    duck = (f"SELECT item_id, array_cosine_similarity(emb, ?::FLOAT[{dim}]) AS s FROM t "
            "ORDER BY s DESC LIMIT 10")
    con.execute(duck, [queries[0].tolist()]).fetchall()
    duck_answers, duck_s = per_query(lambda q: [r[0] for r in con.execute(duck, [q.tolist()]).fetchall()], queries)
    matrix = table.column("emb").combine_chunks().flatten().to_numpy()
    read = min(_seconds(lambda: matrix.sum()) for _ in range(3))
    nbytes = matrix.nbytes
    same = float(np.mean([a == b for a, b in zip(raise_answers, duck_answers)]))
    return {"exact_gbps": nbytes / np.median(raise_s) / 1e9, "duckdb_gbps": nbytes / np.median(duck_s) / 1e9,
            "bandwidth_gbps": nbytes / read / 1e9, "exact_same_as_duckdb": same}


def _seconds(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def build_library(data: np.ndarray, sizes: Sizes):
    """usearch called directly with the index's parameters: (index, figures)."""
    from usearch.index import Index

    index = Index(ndim=sizes.dim, metric="cos", dtype="f32", connectivity=M,
                  expansion_add=sizes.ef_construction, expansion_search=EF_SEARCH)
    build = _seconds(lambda: index.add(np.arange(len(data), dtype=np.uint64), data, threads=os.cpu_count() or 1))
    return index, {"library_build_s": build, "library_index_mb": index.memory_usage / 2 ** 20}


def build_index(home: Path, sizes: Sizes):
    """``CREATE VECTOR INDEX`` through the SDK: (the group, figures)."""
    from raise_ import FeatureStore

    fs = FeatureStore("acme/bench/search", home=str(home), user="bench@acme.com")
    group = fs.feature_group("items")
    start = time.perf_counter()
    group.feature("emb").create_index(metric="cosine", method="hnsw", m=M, ef_construction=sizes.ef_construction,
                                      ef_search=EF_SEARCH)
    build = time.perf_counter() - start
    files = sum(p.stat().st_size for p in home.rglob("*.vectors/*/*") if p.is_file())
    return group, {"raise_build_s": build, "raise_index_mb": files / 2 ** 20}


def time_searches(library, group, queries: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Each query through the SDK (``group.search``) and through ``Index.search`` in turn, so
    that a busy machine slows both alike."""
    def raise_search(q):
        return group.search(feature="emb", query=q, top_k=10, metric="cosine").keys

    def library_search(q):
        return library.search(q, 10).keys.tolist()

    raise_search(queries[0]), library_search(queries[0])  # the index loaded, both warm
    found: dict[str, list] = {"raise": [], "library": []}
    seconds: dict[str, list] = {"raise": [], "library": []}
    for q in queries:
        for name, run in (("library", library_search), ("raise", raise_search)):
            start = time.perf_counter()
            found[name].append(run(q))
            seconds[name].append(time.perf_counter() - start)
    out = {}
    for name in ("library", "raise"):
        s = np.asarray(seconds[name])
        out |= {f"{name}_qps": len(queries) / s.sum(), f"{name}_p99_ms": float(np.percentile(s, 99) * 1e3),
                f"{name}_recall": recall(found[name], truth)}
    return out


def summary(f: dict[str, float]) -> str:
    ratios = {}
    if "exact_gbps" in f:
        ratios |= {"exact_vs_duckdb": f["exact_gbps"] / f["duckdb_gbps"],
                   "exact_vs_bandwidth": f["exact_gbps"] / f["bandwidth_gbps"]}
    if "raise_qps" in f:
        ratios |= {"ann_vs_library": f["raise_qps"] / f["library_qps"],
                   "build_vs_library": f["raise_build_s"] / f["library_build_s"]}
    return " ".join(f"{k}={v:.3f}" for k, v in {**ratios, **f}.items())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 rows, under a minute")
    parser.add_argument("--rows", type=int)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--only", choices=("exact", "ann"), help="time one part only (the full sizes of the two "
                                                                 "parts fit different time budgets)")
    args = parser.parse_args(argv)
    sizes = Sizes(5_000, args.dim, 10, 300, 64) if args.quick else Sizes(1_000_000, args.dim, 100, 1000, EF_CONSTRUCTION)
    if args.rows:
        sizes = Sizes(args.rows, sizes.dim, sizes.exact_queries, sizes.ann_queries, sizes.ef_construction)
    data, queries = embeddings(sizes)
    # the exact figures are of warm scans: the decoded table must fit the engine's table cache
    os.environ.setdefault("RAISE_CACHE_BYTES", str(max(1 << 30, 2 * data.nbytes)))
    from raise_.engine import Engine

    truth = exact_answer(data, queries) if args.only != "exact" else None
    table = arrow_table(data)
    with tempfile.TemporaryDirectory(prefix="raise-search-") as scratch:
        home = Path(scratch) / "store"
        session = Engine(home).session("bench@acme.com", "acme/bench/search")
        session.execute(f"CREATE FEATURE GROUP items KEY (item_id INT64); CREATE FEATURE items.emb FLOAT32[{sizes.dim}]")
        for batch in table.to_batches(max_chunksize=100_000):
            session.ingest("items", batch)
        figures: dict[str, float] = {}
        if args.only != "ann":
            figures |= time_exact(session, table, queries[:sizes.exact_queries], sizes.dim)
        if args.only != "exact":
            library, built = build_library(data, sizes)
            group, made = build_index(home, sizes)
            figures |= built | made | time_searches(library, group, queries, truth)
    print(f"rows={sizes.rows} dim={sizes.dim} m={M} ef_construction={sizes.ef_construction} ef_search={EF_SEARCH} "
          f"cache_bytes={os.environ['RAISE_CACHE_BYTES']}")
    print(summary(figures))


if __name__ == "__main__":
    main()
