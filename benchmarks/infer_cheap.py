"""INFER through SQL with a near-free model: what the SQL path itself costs per row.

The model is built here: a word-level tokenizer over the benchmark's own vocabulary and an
ONNX graph that looks each token up in a 32-wide embedding table and mean-pools under the
attention mask. Running it costs next to nothing, so ``SELECT INFER('cheap', body)`` against
``udfs.infer.pipeline.predict`` on the same rows (the batching pipeline INFER wraps, called
directly) measures the SQL path: planning, Arrow string handling, result building.

    python benchmarks/infer_cheap.py --quick
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from raise_.engine import Engine
from raise_.engine.models import model_lookup
from udfs.infer import load_model
from udfs.infer.pipeline import predict

from sentences import sentences  # noqa: E402

WIDTH = 32
QUERY = "SELECT id, INFER('cheap', body) AS e FROM docs WHERE id >= $1 AND id < $2 ORDER BY id"


def build_model(folder: Path, texts: list[str]) -> Path:
    """``model.onnx`` (token lookup + masked mean) and ``tokenizer.json`` in ``folder``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = sorted({w for t in texts for w in t.split()})
    vocab = {"[PAD]": 0, "[UNK]": 1, **{w: i + 2 for i, w in enumerate(words)}}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    table = np.random.default_rng(0).standard_normal((len(vocab), WIDTH)).astype(np.float32)
    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["tokens"]),
        helper.make_node("Cast", ["attention_mask"], ["mask"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask", "last"], ["mask3"]),
        helper.make_node("Mul", ["tokens", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "seq"], ["summed"], keepdims=0),
        helper.make_node("ReduceSum", ["mask", "last"], ["count"], keepdims=1),
        helper.make_node("Max", ["count", "one"], ["safe"]),
        helper.make_node("Div", ["summed", "safe"], ["embedding"]),
    ]
    graph = helper.make_graph(
        nodes, "cheap",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", WIDTH])],
        initializer=[numpy_helper.from_array(table, "table"),
                     numpy_helper.from_array(np.array([-1], dtype=np.int64), "last"),
                     numpy_helper.from_array(np.array([1], dtype=np.int64), "seq"),
                     numpy_helper.from_array(np.array([1.0], dtype=np.float32), "one")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(folder / "model.onnx"))
    return folder


def setup(home: str, texts: list[str]):
    session = Engine(home).session(project=("bench", "infer", "cheap"))
    session.execute("CREATE ORGANIZATION bench; CREATE DOMAIN bench/infer; CREATE PROJECT bench/infer/cheap; "
                    "USE bench/infer/cheap; CREATE FEATURE GROUP docs KEY (id INT64); "
                    "CREATE FEATURE docs.body STRING")
    session.ingest("docs", pa.table({"id": np.arange(len(texts), dtype=np.int64), "body": texts}))
    folder = build_model(Path(home) / "cheap", texts)
    session.execute(f"CREATE MODEL cheap FROM '{folder.as_uri()}' FRAMEWORK onnx")
    return session


def measure(home: str, texts: list[str], chunks: int = 10, repeats: int = 3) -> dict[str, float]:
    """Seconds of INFER through SQL and of ``predict`` on the same chunks, taking turns; each
    chunk's best of ``repeats`` (a busy machine slows single runs at random)."""
    session = setup(home, texts)
    loaded = load_model(model_lookup(session)("cheap"))
    chunk = max(1, len(texts) // chunks)
    session.execute(QUERY, params=[0, chunk])  # loads the model into the session's cache
    predict(loaded, [pa.array(texts[:chunk])])
    seconds = {"sql": 0.0, "pipeline": 0.0}
    worst = 0.0
    for start in range(0, len(texts), chunk):
        part = pa.array(texts[start:start + chunk])
        best = {"sql": float("inf"), "pipeline": float("inf")}
        for _ in range(repeats):
            began = time.perf_counter()
            table = session.execute(QUERY, params=[start, start + len(part)])
            best["sql"] = min(best["sql"], time.perf_counter() - began)
            began = time.perf_counter()
            direct = predict(loaded, [part]).columns[0]
            best["pipeline"] = min(best["pipeline"], time.perf_counter() - began)
        seconds["sql"] += best["sql"]
        seconds["pipeline"] += best["pipeline"]
        got = np.asarray(table.column("e").combine_chunks().flatten()).reshape(-1, WIDTH)
        worst = max(worst, float(np.abs(got - np.asarray(direct.flatten()).reshape(-1, WIDTH)).max()))
    count = len(texts)
    return {"sql_vs_pipeline_cheap_model": seconds["pipeline"] / seconds["sql"],
            "cheap_sql_samples_per_s": count / seconds["sql"],
            "cheap_pipeline_samples_per_s": count / seconds["pipeline"],
            "cheap_max_abs_diff": worst}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 sentences")
    parser.add_argument("--rows", type=int, default=None)
    args = parser.parse_args()
    texts = sentences(args.rows or (20_000 if args.quick else 200_000))
    os.environ.setdefault("RAISE_DEVICE", "cpu")
    with tempfile.TemporaryDirectory() as home:
        figures = measure(home, texts)
    print(" ".join(f"{k}={v:.3g}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
