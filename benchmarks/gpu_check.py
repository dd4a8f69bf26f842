"""GPU check for a machine with a CUDA device: tests, then vector kernel throughput.

Sections (each reports its own failure and the run goes on):

1. ``device``: CuPy, the device and its memory.
2. ``tests``: ``pytest -m gpu`` over the vector test files.
3. ``vectors``: cosine similarity of ``--rows`` x ``--dim`` float32 embeddings against a
   query vector, in GB/s of embedding bytes: (a) from host Arrow buffers (staged through
   pinned memory) whole and in DataFusion-sized batches, (b) from a column kept resident in
   device memory, through the Python API and as the bare kernel, against a CuPy mat-vec
   over the same resident block, plus the Numba CPU kernel on the same data.
4. ``sql``: the same query through DataFusion with the column resident (skipped when
   DataFusion is not installed).

Needs only CuPy, NumPy and PyArrow for sections 1-3. The last line is ``name=value`` pairs,
ratios first; the target is ``resident_kernel_vs_matvec >= 0.5``. More sections (model
inference) plug into ``SECTIONS``.

    python benchmarks/gpu_check.py [--rows 4000000] [--dim 512]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable

import numpy as np
import pyarrow as pa

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

TEST_FILES = ("tests/test_vectors.py", "tests/test_vector_kernels.py")
UDF_BATCH_ROWS = 131072


def timed(run: Callable[[], object], repeats: int = 3, *, sync: bool = True) -> float:
    """Best wall time of ``repeats`` runs after a warm-up, with the device synchronised."""
    import cupy as cp

    run()
    best = float("inf")
    for _ in range(repeats):
        if sync:
            cp.cuda.runtime.deviceSynchronize()
        start = time.perf_counter()
        run()
        if sync:
            cp.cuda.runtime.deviceSynchronize()
        best = min(best, time.perf_counter() - start)
    return best


def device_section(args, figures: dict) -> None:
    """CuPy version, device name and memory."""
    import cupy as cp

    props = cp.cuda.runtime.getDeviceProperties(0)
    free, total = cp.cuda.runtime.memGetInfo()
    print(f"cupy {cp.__version__}, device {props['name'].decode()}, "
          f"{free / 2**30:.1f} of {total / 2**30:.1f} GiB free")
    figures["device_free_gib"] = free / 2**30


def tests_section(args, figures: dict) -> None:
    """The ``gpu``-marked vector tests, in a subprocess with a time limit."""
    # --noconftest: the suite's conftest starts Flight servers that a GPU host need not have.
    command = [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider",
               "--noconftest", *TEST_FILES]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=150,
                          env={**os.environ, "RAISE_DEVICE": "auto"})
    tail = (done.stdout + done.stderr).strip().splitlines()[-15:]
    print("\n".join(tail))
    figures["tests_ok"] = int(done.returncode == 0)


def make_column(rows: int, dim: int) -> tuple[pa.FixedSizeListArray, np.ndarray]:
    """Random embeddings generated on the device and copied to a host Arrow column."""
    import cupy as cp

    host = cp.random.default_rng(0).standard_normal((rows, dim), dtype=cp.float32).get()
    column = pa.FixedSizeListArray.from_arrays(pa.array(host.ravel()), dim)
    query = np.random.default_rng(1).standard_normal(dim).astype(np.float32)
    return column, query


def vectors_section(args, figures: dict) -> None:
    """Host-fed, resident, bare-kernel, mat-vec and CPU throughput on one column."""
    import cupy as cp

    from udfs import kernels_cpu, kernels_gpu, resident, vector

    column, query = make_column(args.rows, args.dim)
    nbytes = args.rows * args.dim * 4
    os.environ["RAISE_DEVICE"] = "gpu"
    figures["hostfed_gbps"] = nbytes / timed(lambda: vector.cosine_similarity(column, query)) / 1e9
    batches = [column.slice(i, UDF_BATCH_ROWS) for i in range(0, len(column), UDF_BATCH_ROWS)]
    figures["hostfed_batches_gbps"] = nbytes / timed(
        lambda: [vector.cosine_similarity(b, query) for b in batches]) / 1e9
    os.environ["RAISE_DEVICE"] = "auto"
    entry = resident.cache().load(resident.ColumnKey("gpu_check", 1, "emb"), column)
    figures["resident_gbps"] = nbytes / timed(lambda: vector.cosine_similarity(column, query)) / 1e9
    block = entry.chunks[0].device
    q_dev = cp.asarray(query)
    valid = cp.ones(args.rows, dtype=cp.uint8)
    figures["resident_kernel_gbps"] = nbytes / timed(lambda: kernels_gpu.launch(
        kernels_cpu.COSINE, block, q_dev, valid, dim=args.dim, b_step=0), 10) / 1e9
    matrix = block.reshape(args.rows, args.dim)
    figures["matvec_gbps"] = nbytes / timed(lambda: matrix @ q_dev, 10) / 1e9
    os.environ["RAISE_DEVICE"] = "cpu"
    figures["cpu_gbps"] = nbytes / timed(lambda: vector.cosine_similarity(column, query),
                                         sync=False) / 1e9
    os.environ["RAISE_DEVICE"] = "auto"
    _check_agreement(column, query)
    resident.cache().invalidate("gpu_check")


def _check_agreement(column: pa.FixedSizeListArray, query: np.ndarray) -> None:
    """The resident GPU result equals the CPU result on the first rows."""
    from udfs import vector

    head = column.slice(0, 100_000)
    os.environ["RAISE_DEVICE"] = "cpu"
    cpu = vector.cosine_similarity(head, query).to_numpy(zero_copy_only=False)
    os.environ["RAISE_DEVICE"] = "auto"
    gpu = vector.cosine_similarity(head, query).to_numpy(zero_copy_only=False)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-9, atol=1e-12)
    print("resident GPU result matches the CPU kernel")


def sql_section(args, figures: dict) -> None:
    """The query through DataFusion over an in-memory table whose column is resident."""
    try:
        from datafusion import SessionConfig, SessionContext
    except ImportError:
        print("datafusion not installed: SQL section skipped")
        return
    import udfs
    from udfs import resident

    column, query = make_column(args.rows, args.dim)
    ctx = SessionContext(SessionConfig().with_batch_size(UDF_BATCH_ROWS))
    udfs.register_all(ctx)
    ctx.register_record_batches(
        "items", [pa.table({"emb": column}).to_batches(max_chunksize=UDF_BATCH_ROWS)])
    sql = "SELECT cosine_similarity_const(emb, vector_constant($1)) AS s FROM items"
    params = {"1": pa.scalar(query, pa.list_(pa.float32()))}
    nbytes = args.rows * args.dim * 4
    os.environ["RAISE_DEVICE"] = "cpu"
    figures["sql_cpu_gbps"] = nbytes / timed(
        lambda: ctx.sql(sql, param_values=params).collect(), sync=False) / 1e9
    os.environ["RAISE_DEVICE"] = "auto"
    resident.cache().load(resident.ColumnKey("gpu_check_sql", 1, "emb"), column)
    figures["sql_resident_gbps"] = nbytes / timed(
        lambda: ctx.sql(sql, param_values=params).collect()) / 1e9
    resident.cache().invalidate("gpu_check_sql")


def engine_section(args, figures: dict) -> None:
    """Through Raise's engine: a Delta-backed group whose decoded table the engine caches and
    mirrors on the GPU; the same query with ``RAISE_DEVICE=cpu`` and ``auto``."""
    import tempfile

    from grammar import ast, render_script
    from raise_.engine import Engine

    rows = min(args.rows, 1_000_000)
    column, query = make_column(rows, args.dim)
    group = ast.GroupRef(name="items")
    with tempfile.TemporaryDirectory() as home:
        session = Engine(home, cache_bytes=32 << 30).session(project=("check", "gpu", "vectors"))
        session.execute(render_script([
            ast.CreateFeatureGroup(group=group, keys=(ast.ColumnDef(name="id", dtype="int64"),)),
            ast.CreateFeature(feature=ast.FeatureRef(group=group, name="emb"), dtype=f"float32[{args.dim}]"),
        ]))
        session.ingest("items", pa.table({"id": np.arange(rows, dtype=np.int64), "emb": column}))
        sql = "SELECT COSINE_SIMILARITY(emb, $1) AS s FROM items ORDER BY id"
        params = [pa.scalar(query, pa.list_(pa.float32()))]
        nbytes = rows * args.dim * 4
        results = {}
        for mode in ("cpu", "auto"):
            os.environ["RAISE_DEVICE"] = mode
            results[mode] = session.execute(sql, params=params).column("s").to_numpy()
            unordered = sql.replace(" ORDER BY id", "")
            figures[f"engine_{mode}_gbps"] = nbytes / timed(
                lambda: session.execute(unordered, params=params), sync=False) / 1e9
        from udfs import resident

        figures["engine_resident_columns"] = len(resident.cache().keys())
        figures["engine_gpu_cpu_max_diff"] = float(np.nanmax(np.abs(results["auto"] - results["cpu"])))
        os.environ["RAISE_DEVICE"] = "auto"


def infer_section(args, figures: dict) -> None:
    """INFER on the GPU against the CPU (``benchmarks/gpu_check_infer.py``)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from gpu_check_infer import run_inference_checks

    figures.update(run_inference_checks())


SECTIONS: list[Callable[[argparse.Namespace, dict], None]] = [
    device_section, tests_section, vectors_section, sql_section, engine_section, infer_section,
]


def summary(figures: dict) -> str:
    """The final ``name=value`` line, ratios first."""
    ratios = {}
    if "matvec_gbps" in figures:
        for name in ("resident_kernel", "resident", "hostfed"):
            if f"{name}_gbps" in figures:
                ratios[f"{name}_vs_matvec"] = figures[f"{name}_gbps"] / figures["matvec_gbps"]
    if "cpu_gbps" in figures and "resident_gbps" in figures:
        ratios["resident_vs_cpu"] = figures["resident_gbps"] / figures["cpu_gbps"]
    pairs = {**ratios, **figures}
    return " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in pairs.items())


def main(argv: list[str] | None = None) -> None:
    """Run every section, reporting failures, then print the summary line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4_000_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--only", help="comma-separated section names, e.g. device,infer")
    args = parser.parse_args(argv)
    figures: dict = {}
    wanted = set(args.only.split(",")) if args.only else None
    for section in SECTIONS:
        if wanted is not None and section.__name__.removesuffix("_section") not in wanted:
            continue
        start = time.perf_counter()
        print(f"== {section.__name__}")
        try:
            section(args, figures)
        except Exception:  # noqa: BLE001 - one broken section must not hide the others
            print(f"{section.__name__} FAILED:\n{traceback.format_exc()}")
            figures[f"{section.__name__}_failed"] = 1
        print(f"   ({time.perf_counter() - start:.1f}s)")
    print(summary(figures))


if __name__ == "__main__":
    main()
