"""Small ONNX models and a word-level tokenizer for the inference tests (built, not downloaded).

Each builder writes a model whose outputs are easy to compute by hand, so tests can assert
exact values: a linear map, a two-output classifier, and a text model that reports token
counts and id sums (to check tokenization, padding and masks).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the inference tests build ONNX models with the onnx package")
pytest.importorskip("onnxruntime", reason="the inference tests run models on onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

WORDS = ["hello", "world", "feature", "store", "model"]


@pytest.fixture(autouse=True)
def model_cache(tmp_path, monkeypatch):
    """A private model cache and CPU execution for each test of a module that imports it."""
    monkeypatch.setenv("RAISE_MODEL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("RAISE_DEVICE", "cpu")


def _save(graph, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def linear(path: Path, weights: np.ndarray) -> Path:
    """``y = x @ weights``: input ``x`` float32 (batch, d), output ``y`` float32 (batch, k)."""
    d, k = weights.shape
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])], "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", d])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", k])],
        initializer=[numpy_helper.from_array(weights.astype(np.float32), "W")])
    return _save(graph, path)


def classifier(path: Path, weights: np.ndarray) -> Path:
    """``label = argmax(x @ W)`` (int64) and ``score = max(x @ W)`` (float32), per row."""
    d, k = weights.shape
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["logits"]),
         helper.make_node("ArgMax", ["logits"], ["label"], axis=1, keepdims=0),
         helper.make_node("ReduceMax", ["logits"], ["score"], axes=[1], keepdims=0)],
        "classifier",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", d])],
        [helper.make_tensor_value_info("label", TensorProto.INT64, ["batch"]),
         helper.make_tensor_value_info("score", TensorProto.FLOAT, ["batch"])],
        initializer=[numpy_helper.from_array(weights.astype(np.float32), "W")])
    return _save(graph, path)


def text_model(folder: Path) -> Path:
    """A folder with ``model.onnx`` (outputs ``tokens`` = mask sum and ``id_sum`` = sum of ids
    under the mask, both float32 per row) and a word-level ``tokenizer.json`` that adds
    [CLS] (id 1) and [SEP] (id 2) around words (ids 3...)."""
    nodes = [
        helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["input_ids"], ["ids_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["ids_f", "mask_f"], ["masked"]),
        helper.make_node("ReduceSum", ["mask_f", "axis"], ["tokens"], keepdims=0),
        helper.make_node("ReduceSum", ["masked", "axis"], ["id_sum"], keepdims=0),
    ]
    graph = helper.make_graph(
        nodes, "text",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("tokens", TensorProto.FLOAT, ["batch"]),
         helper.make_tensor_value_info("id_sum", TensorProto.FLOAT, ["batch"])],
        initializer=[numpy_helper.from_array(np.array([1], dtype=np.int64), "axis")])
    _save(graph, folder / "model.onnx")
    _tokenizer(folder / "tokenizer.json")
    (folder / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 6}))
    return folder


def _tokenizer(path: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    vocab = {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, **{w: i + 3 for i, w in enumerate(WORDS)}}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 1), ("[SEP]", 2)])
    tokenizer.save(str(path))


def token_ids(text: str, limit: int = 6) -> list[int]:
    """The ids the test tokenizer gives ``text`` (truncated to ``limit`` with [CLS]/[SEP])."""
    words = [WORDS.index(w) + 3 if w in WORDS else 0 for w in text.split()][:limit - 2]
    return [1, *words, 2]


def text_vectors(folder: Path) -> Path:
    """Like ``text_model``, but one output: ``embedding`` = [token count, id sum] per row, a
    2-d vector (for embedding text queries)."""
    nodes = [
        helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["input_ids"], ["ids_f"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["ids_f", "mask_f"], ["masked"]),
        helper.make_node("ReduceSum", ["mask_f", "axis"], ["tokens"], keepdims=1),
        helper.make_node("ReduceSum", ["masked", "axis"], ["id_sum"], keepdims=1),
        helper.make_node("Concat", ["tokens", "id_sum"], ["embedding"], axis=1),
    ]
    graph = helper.make_graph(
        nodes, "text_vectors",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", 2])],
        initializer=[numpy_helper.from_array(np.array([1], dtype=np.int64), "axis")])
    folder.mkdir(parents=True, exist_ok=True)
    _save(graph, folder / "model.onnx")
    _tokenizer(folder / "tokenizer.json")
    return folder
